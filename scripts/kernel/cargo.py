#!/usr/bin/env python3
"""`cargo` as the notebook kernel sees it (through scripts/kernel/bin/cargo): cargo, minus its check of the whole graph per cell.

evcxr compiles every cell with `cargo build`: cargo first checks the fingerprints of the ~580
units of the dependency graph (0.35–0.8 s on 2 cores, with nothing to build), then runs rustc
once for the cell's crate (`ctx`). The graph cannot change between two cells unless a file that
describes it changes. So this wrapper:

  * runs the real cargo for anything that is not evcxr's `build` of `ctx`, and for that build
    whenever the *key* below changed, recording (through RUSTC_WRAPPER) the exact rustc command
    and environment cargo used for `ctx`, and the artifact message it printed;
  * otherwise replays that rustc command directly, turning rustc's JSON diagnostics into the
    messages cargo would print, so evcxr sees what it always sees.

The key: the cell crate's Cargo.toml, its lock file and every .cargo/config.toml cargo reads
from there; RUSTFLAGS, RUSTC and the arguments; every file of each path dependency, followed
through their Cargo.toml files (the helpers' sources: edit one and the next cell runs cargo);
and the size and mtime of every library the recorded command links (another build that replaced
one makes the next cell run cargo). Anything unexpected runs the real cargo. M8_FAST_CELLS=0
turns the shortcut off. docs/evcxr.md explains it; scripts/kernel/selftest.sh tests it.
"""
import fnmatch
import hashlib
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import builds  # noqa: E402

try:
    import tomllib
except ImportError:  # Python < 3.11: no shortcut, plain cargo
    tomllib = None

CRATE = "ctx"
VALIDATE_DEP = "evcxr_dummy_validate_dep"  # the package evcxr writes to check a `:dep`
ROOT_LINES = {f'name = "{name}"'.encode() for name in (CRATE, VALIDATE_DEP)}
STATE = "m8-fast-cells.json"
ANALYSIS_FILE = "m8-analysis-metadata.json"
RECORD_ENV = "M8_FAST_CELLS_RECORD"


def real_cargo():
    path = os.environ.get("M8_REAL_CARGO")
    if not path:
        sys.exit("scripts/kernel/bin/cargo: M8_REAL_CARGO is not set (scripts/kernel/start.py sets it)")
    return path


BUILDS = ("build", "check", "test", "bench", "run", "rustc", "doc", "clean", "fix", "install")


def run_real(args):
    # In a kernel's clone, a cargo that may build runs under the build lock (kernel_build).
    if any(a in BUILDS for a in args[:3]) and kernel_dir():
        sys.exit(kernel_build(lambda: cargo_streamed([real_cargo()] + args, dict(os.environ))[:2]))
    os.execv(real_cargo(), [real_cargo()] + args)


def cargo_streamed(cmd, env):
    """Runs cargo, passing its stdout on as it comes; returns its exit status, whether it compiled
    anything but the cell crate, and the cell crate's artifact message (from cargo's JSON
    messages, when it prints them)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE)
    compiled, artifact = False, None
    for line in proc.stdout:
        sys.stdout.buffer.write(line)
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact":
            if msg.get("target", {}).get("name") == CRATE:
                artifact = msg
            elif not msg.get("fresh", True):
                compiled = True
    sys.stdout.flush()
    return proc.wait(), compiled, artifact


# --- recorder: cargo runs `$RUSTC_WRAPPER $RUSTC <args>` for each unit it compiles -------------
def record_and_run(rustc_args):
    args = rustc_args[1:]
    if option(args, "--crate-name") == CRATE:
        env = {k: v for k, v in os.environ.items()
               if k.startswith("CARGO") or k in ("OUT_DIR", "RUSTC_BOOTSTRAP")}
        with open(os.environ[RECORD_ENV], "w") as f:
            json.dump({"argv": rustc_args, "env": env, "cwd": os.getcwd()}, f)
    os.execv(rustc_args[0], rustc_args)


def option(args, name):
    """The value of `name value` or `name=value` in args."""
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


# --- the key -------------------------------------------------------------------------------------
def config_files(start):
    found, d = [], os.path.abspath(start)
    while True:
        for name in ("config.toml", "config"):
            p = os.path.join(d, ".cargo", name)
            if os.path.isfile(p):
                found.append(p)
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    for name in ("config.toml", "config"):
        p = os.path.join(home, name)
        if os.path.isfile(p):
            found.append(p)
    return found


def dependency_tables(manifest):
    tables = []
    for key in ("dependencies", "build-dependencies"):
        tables.append(manifest.get(key, {}))
    for target in manifest.get("target", {}).values():
        for key in ("dependencies", "build-dependencies"):
            tables.append(target.get(key, {}))
    return tables


def workspace_root(pkg_dir):
    d = os.path.dirname(pkg_dir)
    while True:
        p = os.path.join(d, "Cargo.toml")
        if os.path.isfile(p):
            with open(p, "rb") as f:
                m = tomllib.load(f)
            if "workspace" in m:
                return d, m
        parent = os.path.dirname(d)
        if parent == d:
            return None, None
        d = parent


def path_packages(manifest_dir):
    """Directories of every path dependency reachable from the crate in manifest_dir (directly,
    or inherited from a workspace's [workspace.dependencies]), and the workspace manifests."""
    seen, workspaces, todo = set(), set(), [(os.path.abspath(manifest_dir), True)]
    while todo:
        d, is_cell = todo.pop()
        with open(os.path.join(d, "Cargo.toml"), "rb") as f:
            m = tomllib.load(f)
        ws_dir, ws = (None, None) if is_cell else workspace_root(d)
        if ws_dir:
            workspaces.add(os.path.join(ws_dir, "Cargo.toml"))
        inherited = (ws or {}).get("workspace", {}).get("dependencies", {})
        for table in dependency_tables(m):
            for name, spec in table.items():
                if not isinstance(spec, dict):
                    continue
                base = d
                if spec.get("workspace"):
                    spec, base = inherited.get(name), ws_dir
                    if not isinstance(spec, dict):
                        continue
                if "path" in spec:
                    p = os.path.normpath(os.path.join(base, spec["path"]))
                    if p not in seen:
                        seen.add(p)
                        todo.append((p, False))
    return sorted(seen), sorted(workspaces)


def tree_stamp(h, top):
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(n for n in dirnames if n not in ("target", ".git") and not n.startswith("."))
        for name in sorted(filenames):
            p = os.path.join(dirpath, name)
            try:
                st = os.stat(p)
            except FileNotFoundError:
                continue
            h.update(f"{named(p)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())


# The build directory this cargo runs for (evcxr's crate directory): keys and records write it as
# builds.SLOT, so what one kernel's directory kept serves every clone of it (builds.py).
SLOT_ROOT = os.getcwd()


def named(p):
    return builds.portable(p, SLOT_ROOT)


def content_stamp(h, p):
    try:
        with open(p, "rb") as f:
            h.update(named(p).encode() + b"\0" + hashlib.sha256(f.read()).digest())
    except FileNotFoundError:
        h.update(named(p).encode() + b"\0missing")


def file_stamp(h, p):
    try:
        st = os.stat(p)
        h.update(f"{named(p)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    except FileNotFoundError:
        h.update(f"{named(p)}\0missing\n".encode())


def lock_digest(path):
    """The lock file without its root package. evcxr writes three crates in turn into the same
    directory: its start-up crate (no dependencies), a `evcxr_dummy_validate_dep` package for each
    `:dep` (`cargo metadata` there), then `ctx` with the dependency; cargo rewrites Cargo.lock for
    each. What they resolve to is the same, so the root's entry does not count. Read as text
    (cargo writes one `[[package]]` block per package, `name` first): every cell pays for this."""
    try:
        with open(path, "rb") as f:
            blocks = f.read().split(b"\n[[package]]\n")
    except FileNotFoundError:
        return "missing"
    kept = [b for b in blocks if not (b.split(b"\n", 1)[0] in ROOT_LINES and b"\nsource = " not in b)]
    return hashlib.sha256(b"\n[[package]]\n".join(kept)).hexdigest()


def keys(args):
    """The key of a cell build, and the same without the lock file (which cargo may rewrite)."""
    h = hashlib.sha256()
    h.update(json.dumps(args).encode())
    for var in ("RUSTFLAGS", "RUSTC", "CARGO_TARGET_DIR", "CARGO_BUILD_BUILD_DIR", "CARGO_ENCODED_RUSTFLAGS"):
        h.update(f"{var}={named(str(os.environ.get(var)))}\n".encode())
    for var in sorted(os.environ):
        if var.startswith("CARGO_PROFILE_") or var.startswith("CARGO_BUILD_"):
            h.update(f"{var}={named(os.environ[var])}\n".encode())
    for p in ["Cargo.toml"] + config_files("."):
        content_stamp(h, p)
    packages, workspaces = path_packages(".")
    for p in workspaces:
        file_stamp(h, p)
    for d in packages:
        tree_stamp(h, d)
    unlocked = h.hexdigest()
    h.update(b"Cargo.lock\0" + lock_digest("Cargo.lock").encode())
    return h.hexdigest(), unlocked


def linked_files(argv):
    files = []
    for i, a in enumerate(argv[:-1]):
        if a == "--extern" and "=" in argv[i + 1]:
            files.append(argv[i + 1].split("=", 1)[1])
    return sorted(files)


def link_stamp(argv):
    h = hashlib.sha256()
    for p in linked_files(argv):
        file_stamp(h, p)
    return h.hexdigest()


# --- evcxr's build of ctx ------------------------------------------------------------------------
def is_cell_build(args):
    rest = [a for a in args if a != "--offline"]
    return (len(rest) == 4 and rest[0] == "build" and rest[1] == "--target"
            and rest[3] == "--message-format=json" and os.path.isfile("Cargo.toml")
            and os.path.isfile(os.path.join("src", "lib.rs")))


def state_path():
    return os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), STATE)


KEPT_RECORDS = 4


def load_records():
    try:
        with open(state_path()) as f:
            records = json.loads(builds.local(f.read(), SLOT_ROOT))
    except (FileNotFoundError, ValueError):
        return {}
    return records if isinstance(records, dict) and "key" not in records else {}


def save_records(records):
    tmp = state_path() + ".tmp"
    with open(tmp, "w") as f:
        f.write(named(json.dumps(records)))
    os.replace(tmp, state_path())


def kernel_dir():
    """True when this build is a kernel's own directory under $M8_CACHE/kernels (start.py)."""
    kernels = builds.paths()["kernels"]
    return os.path.dirname(os.path.realpath(SLOT_ROOT)) == os.path.realpath(kernels)


def has_dependencies():
    """False for evcxr's start-up crate (no `[dependencies]`), which it builds before the kernel
    answers Jupyter at all: that build must never wait for anyone."""
    try:
        with open("Cargo.toml", "rb") as f:
            return bool(tomllib.load(f).get("dependencies"))
    except (OSError, ValueError):
        return True


def progress(text):
    """A line for the learner while a cell waits. evcxr shows nothing of cargo's output while it
    builds (module.rs, run_cargo: cargo's `Compiling` lines go to the server's log); the one thing
    it passes on to the cell as it comes is the stderr of its runtime process, the sibling of this
    cargo that runs the cells (child_process.rs). So the line goes there, shaped like cargo's
    progress (which the headless runner accepts), and to cargo's stderr for the server's log."""
    line = f"   Compiling helpers ({text})\n"
    sys.stderr.write(line)
    sys.stderr.flush()
    runtime = runtime_process()
    if runtime:
        try:
            with open(f"/proc/{runtime}/fd/2", "a") as f:
                f.write(line)
        except OSError:
            pass


def runtime_process():
    """The pid of evcxr's runtime process (EVCXR_IS_RUNTIME=1) beside this cargo, or None."""
    parent = str(os.getppid())
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[1] != parent:
                    continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                if b"EVCXR_IS_RUNTIME=1\0" in f.read():
                    return pid
        except (OSError, IndexError):
            continue
    return None


def full_build(args, k, unlocked, started):
    """The real cargo, recording the cell crate's rustc command. In a kernel's own directory it
    runs under the build lock (builds.py): a kernel that finds another kernel or scripts/setup.sh
    compiling the graph waits for it and says so in the cell, takes the newer build once it is
    published, and publishes what it compiled itself (an edited helpers crate) for the others."""
    if not kernel_dir():
        sys.exit(cargo_and_record(args, k, unlocked, started)[0])
    if not has_dependencies():
        builds.private_copies(SLOT_ROOT)
        rc = cargo_and_record(args, k, unlocked, started)[0]
    else:
        rc = kernel_build(lambda: cargo_and_record(args, k, unlocked, started))
    builds.donate(SLOT_ROOT, STATE)
    sys.exit(rc)


def kernel_build(run):
    """`run()` (a cargo that may build; returns its exit status and whether it compiled a
    dependency) in a kernel's own directory, under the build lock (builds.py): a kernel that finds
    scripts/setup.sh or another kernel compiling the graph waits for it and says so in the cell,
    takes the newer build once it is published, makes the files cargo writes into its own, and
    publishes what it compiled itself (an edited helpers crate, a `cargo check` of the graph) for
    the kernels after it. Returns the exit status."""
    waited = []

    def waiting(who, seconds):
        if not waited:
            progress(f"waiting for {who} to finish compiling the notebooks' dependencies; "
                     "this cell goes on by itself when it is done")
        else:
            progress(f"still waiting: {seconds / 60:.1f} min")
        waited.append(seconds)

    with builds.build_lock(f"the notebook kernel in {SLOT_ROOT}", on_wait=waiting, every=30):
        if builds.refresh(SLOT_ROOT):
            progress("took the build published meanwhile")
        builds.private_copies(SLOT_ROOT)
        rc, compiled = run()
        if rc == 0 and compiled:
            builds.publish(SLOT_ROOT, f"the notebook kernel in {SLOT_ROOT}", skip=evcxr_own_files())
    return rc


def evcxr_own_files():
    """evcxr's copies of the cells it loaded (code_<n>.so) stay with their kernel."""
    deps = os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), option(sys.argv[1:], "--target") or "", "debug", "deps")
    try:
        return {os.path.relpath(os.path.join(deps, n), "target") for n in os.listdir(deps)
                if n.startswith("libcode_") or n.startswith("code_")}
    except OSError:
        return set()


def cargo_and_record(args, k, unlocked, started):
    """Runs the real cargo as evcxr asked, recording the cell crate's rustc command; returns its
    exit status and whether it compiled anything but the cell crate."""
    record = os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "m8-fast-cells.record")
    try:
        os.remove(record)
    except FileNotFoundError:
        pass
    env = dict(os.environ)
    env["RUSTC_WRAPPER"] = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "cargo")
    env[RECORD_ENV] = os.path.abspath(record)
    rc, compiled, artifact = cargo_streamed([real_cargo()] + args, env)
    records = {key: r for key, r in load_records().items() if key != k}
    # Stored only when the build's inputs did not move while it ran (an edit during the build):
    # then the next cell builds with cargo once more. Cargo.lock alone may move: cargo rewrote it
    # for this crate (evcxr's start-up crate has no dependencies, and the kernel's lock file holds
    # the helpers' graph), and this command is what the same inputs build again.
    try:
        after, after_unlocked = keys(args)
        stable = after == k or after_unlocked == unlocked
    except Exception:
        after, stable = None, False
    if rc == 0 and artifact and stable and os.path.isfile(record):
        with open(record) as f:
            rec = json.load(f)
        rec.update(artifact=artifact, links=link_stamp(rec["argv"]))
        for each in {k, after}:
            records.pop(each, None)
            records[each] = dict(rec, key=each)
    elif stable and after != k and after in records:
        # a failed build (evcxr's first try of a cell) that only rewrote the lock file: what these
        # inputs build is what was kept for the rewritten ones
        records[k] = dict(records[after], key=k)
    # one record per crate evcxr builds here: its start-up crate, then each set of `:dep`s
    save_records(dict(list(records.items())[-KEPT_RECORDS:]))
    note("cargo" + ("" if rc == 0 else "-failed") + ("" if stable else "-moved"), started)
    return rc, compiled


def replay(rec, started):
    env = dict(os.environ)
    env.update(rec["env"])
    env.pop("RUSTC_WRAPPER", None)
    proc = subprocess.Popen(rec["argv"], cwd=rec["cwd"], env=env, stderr=subprocess.PIPE)
    art = rec["artifact"]
    head = {"package_id": art.get("package_id"), "manifest_path": art.get("manifest_path"),
            "target": art.get("target")}
    out = sys.stdout
    errors = 0
    for raw in proc.stderr:
        line = raw.decode("utf-8", "replace")
        try:
            msg = json.loads(line)
        except ValueError:
            sys.stderr.write(line)
            continue
        kind = msg.get("$message_type")
        if kind == "artifact" or kind == "future_incompat" or kind == "section_timing":
            continue
        if kind == "diagnostic" or "rendered" in msg:
            if msg.get("level") == "error":
                errors += 1
            out.write(json.dumps(dict(head, reason="compiler-message", message=msg)) + "\n")
        else:
            sys.stderr.write(line)
    rc = proc.wait()
    if rc == 0:
        # cargo "uplifts" the library from deps/ to its profile folder; do the same
        deps = option(rec["argv"], "--out-dir")
        for name in art.get("filenames", []):
            if deps and os.path.dirname(os.path.abspath(name)) != os.path.abspath(deps):
                src = os.path.join(deps, os.path.basename(name))
                if os.path.isfile(src):
                    tmp = name + ".m8tmp"
                    try:
                        os.remove(tmp)
                    except FileNotFoundError:
                        pass
                    os.link(src, tmp)
                    os.replace(tmp, name)
        out.write(json.dumps(dict(art, fresh=False)) + "\n")
    else:
        sys.stderr.write(f"error: could not compile `{CRATE}` (lib) due to {errors} previous error(s)\n")
    out.write(json.dumps({"reason": "build-finished", "success": rc == 0}) + "\n")
    out.flush()
    note("replayed" if rc == 0 else "replayed-failed", started)
    sys.exit(rc)


def note(what, started):
    """With M8_FAST_CELLS_LOG=<file>: one line per cell build — replayed or cargo, and seconds."""
    path = os.environ.get("M8_FAST_CELLS_LOG")
    if path:
        with open(path, "a") as f:
            f.write(f"{what} {time.time() - started:.3f}\n")


# --- what the kernel's rust-analyzer loads --------------------------------------------------------
# evcxr types every cell's top-level `let`s with its built-in rust-analyzer, which loads the cell
# crate's whole dependency graph from `cargo metadata` (~500 packages, ~150 MB of source here)
# and resolves names through every crate that `helpers` imports from: ~35 s before a kernel's
# first result. rust-analyzer runs `$CARGO_HOME/bin/cargo`; scripts/kernel/start.py points that
# at this wrapper, which answers rust-analyzer's `cargo metadata` for the cell crate with the
# graph cut down to the path crates (helpers) and the crates whose types a cell binds (shell
# patterns in M8_KERNEL_ANALYSIS; their own dependencies are not added). The build is untouched:
# cargo still compiles and links everything. A value whose type comes from a crate left out
# needs its type written on the `let`.
ANALYSIS_ENV = "M8_KERNEL_ANALYSIS"
# Of polars, the crates a user's frames, expressions, lazy queries and readers come from; its
# engines (polars-stream, -expr, -mem-engine, -compute), parquet and SQL layers are left out:
# ~7 of its ~21 MB of source, ~1 s of a kernel's first result (docs/notebook-performance.md).
# The MongoDB driver is left out too: the helpers' documents are `bson`'s (round six).
ANALYSIS_DEFAULT = ",".join([
    "polars", "polars-core", "polars-lazy", "polars-plan", "polars-ops", "polars-io", "polars-time",
    "polars-arrow", "polars-utils", "polars-error", "polars-schema", "polars-dtype",
    "chrono", "serde_json", "bson", "ndarray",
])


def restore_cargo_home():
    """The kernel's CARGO_HOME exists only to route rust-analyzer here; cargo gets the real one."""
    if "M8_KERNEL_CARGO_HOME" not in os.environ:
        return
    real = os.environ.pop("M8_REAL_CARGO_HOME", "")
    os.environ.pop("M8_KERNEL_CARGO_HOME")
    if real:
        os.environ["CARGO_HOME"] = real
    else:
        os.environ.pop("CARGO_HOME", None)


def is_analysis_metadata(args):
    """rust-analyzer's `cargo metadata --manifest-path <cell crate>` (evcxr's own calls name no manifest)."""
    if not args or args[0] != "metadata" or "--no-deps" in args or tomllib is None:
        return False
    manifest = option(args, "--manifest-path")
    if not manifest:
        return False
    try:
        with open(manifest, "rb") as f:
            return tomllib.load(f).get("package", {}).get("name") == CRATE
    except (OSError, ValueError):
        return False


def prune_metadata(meta, patterns):
    """Keep the workspace and path packages and the packages whose names match one of patterns
    (shell-style: `polars*`); drop every other package and every edge to one. A kept crate's
    imports from a dropped one stay unresolved, which only leaves those names untyped."""
    keep = {p["id"] for p in meta["packages"]
            if p.get("source") is None or any(fnmatch.fnmatchcase(p["name"], pat) for pat in patterns)}
    meta["packages"] = [p for p in meta["packages"] if p["id"] in keep]
    if meta.get("resolve"):
        meta["resolve"]["nodes"] = [n for n in meta["resolve"]["nodes"] if n["id"] in keep]
        for n in meta["resolve"]["nodes"]:
            n["deps"] = [d for d in n.get("deps", []) if d["pkg"] in keep]
            n["dependencies"] = [d for d in n.get("dependencies", []) if d in keep]
    return meta


def analysis_key(args, manifest, patterns):
    """What the answer depends on: the arguments, the manifests of the cell crate and of every
    path crate it reaches, the lock file and cargo's configuration."""
    h = hashlib.sha256()
    h.update(named(json.dumps([args, sorted(patterns)])).encode())
    d = os.path.dirname(os.path.abspath(manifest))
    h.update(b"Cargo.lock\0" + lock_digest(os.path.join(d, "Cargo.lock")).encode())
    packages, workspaces = path_packages(d)
    files = [os.path.join(d, "Cargo.toml")] + config_files(d) + workspaces
    files += [os.path.join(p, "Cargo.toml") for p in packages]
    for p in files:
        content_stamp(h, p)
    return h.hexdigest()


def analysis_metadata(args):
    """rust-analyzer's `cargo metadata` for the cell crate: the cut graph."""
    patterns = [n.strip() for n in os.environ.get(ANALYSIS_ENV, ANALYSIS_DEFAULT).split(",") if n.strip()]
    kept_metadata(args, option(args, "--manifest-path"), None if "*" in patterns else patterns, "analysis-graph")


def is_validate_dep(args):
    """evcxr's check of a `:dep`: `cargo metadata` on a package it names evcxr_dummy_validate_dep,
    written over the cell crate's Cargo.toml (cargo_metadata.rs, validate_dep)."""
    rest = [a for a in args if a != "--offline"]
    if rest != ["metadata", "--format-version=1"] or tomllib is None:
        return False
    try:
        with open("Cargo.toml", "rb") as f:
            return tomllib.load(f).get("package", {}).get("name") == VALIDATE_DEP
    except (OSError, ValueError):
        return False


def kept_metadata(args, manifest, patterns, label):
    """Run `cargo metadata` (its graph cut to patterns, unless None) and keep the answer beside the
    cell crate's build; give it again while nothing it depends on changed (analysis_key). Kept
    with the crate's directory written as builds.SLOT, so a clone of the build gives it too."""
    global SLOT_ROOT
    SLOT_ROOT = os.path.dirname(os.path.abspath(manifest))
    cache = os.path.join(SLOT_ROOT, "target", ANALYSIS_FILE)
    try:
        k = analysis_key(args, manifest, ["*"] if patterns is None else patterns)
    except Exception:
        k = None
    kept = {}
    try:
        with open(cache) as f:
            kept = json.loads(builds.local(f.read(), SLOT_ROOT))  # {key: [stdout, stderr]}: asked at start, for `:dep` and after it
    except (OSError, ValueError):
        pass
    kept = {key: v for key, v in (kept.items() if isinstance(kept, dict) else [])
            if isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)}
    if k and k in kept:
        sys.stdout.write(kept[k][0])
        sys.stdout.flush()
        sys.stderr.write(kept[k][1])
        note(f"{label} kept", STARTED)
        sys.exit(0)
    proc = subprocess.run([real_cargo()] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode == 0:
        try:
            if patterns is not None:
                meta = json.loads(out)
                before = len(meta["packages"])
                out = json.dumps(prune_metadata(meta, patterns)) + "\n"
                note(f"{label} {before}->{len(meta['packages'])}", STARTED)
            else:
                note(label, STARTED)
            if k and os.path.isdir(os.path.dirname(cache)):
                kept = dict(list(kept.items())[-5:] + [(k, [out, err])])
                with open(cache + ".tmp", "w") as f:
                    f.write(named(json.dumps(kept)))
                os.replace(cache + ".tmp", cache)
                if kernel_dir():
                    builds.donate(SLOT_ROOT, ANALYSIS_FILE)
        except (ValueError, KeyError, TypeError, OSError):
            pass  # an answer we do not understand goes to rust-analyzer unchanged
    sys.stdout.write(out)
    sys.stdout.flush()
    sys.stderr.write(err)
    sys.exit(proc.returncode)


# --- rust-analyzer's other questions --------------------------------------------------------------
# rust-analyzer runs `$CARGO_HOME/bin/cargo` (home/bin/cargo, which runs this with --analyzer):
#  - its `cargo metadata` for the cell crate: the cut graph above;
#  - its questions about the toolchain and the manifests (`--version`, `locate-project`,
#    `config get`, `metadata --no-deps`, the standard library's `metadata`, `rustc --print`;
#    ~7 cargo runs, ~1 s of a kernel's first result) are answered from what the real cargo said
#    before, while everything the answer depends on is unchanged (query_key). Kept in
#    $M8_CACHE/kernel-queries (only answers with exit status 0); M8_KERNEL_QUERIES=0 asks cargo
#    every time;
#  - everything else goes to the real cargo, with the real CARGO_HOME.
def is_query(args):
    """A question whose answer query_key covers: a whole graph's `metadata` depends on every path
    dependency's manifest, which it does not cover, except the standard library's (under the
    toolchain, keyed by its binaries); `cargo rustc` is a question only with `--print`."""
    first = args[0] if args else ""
    manifest = option(args, "--manifest-path") or ""
    if first == "metadata":
        return "--no-deps" in args or "/lib/rustlib/src/" in manifest
    if first == "rustc":
        return "--print" in args
    if first == "-Z":
        return " config get " in " " + " ".join(args) + " "
    return first in ("--version", "locate-project")


def query_key(args):
    cwd = os.getcwd()
    global SLOT_ROOT
    SLOT_ROOT = cwd
    h = hashlib.sha256()
    h.update(named(json.dumps(args)).encode())
    h.update(f"pwd={named(cwd)}\0real={real_cargo()}\0home={os.environ.get('M8_REAL_CARGO_HOME', '')}\0"
             f"rustflags={os.environ.get('RUSTFLAGS', '')}\0".encode())
    for var in sorted(os.environ):
        if (var.startswith("CARGO_") or var.startswith("RUSTC") or var == "RUSTUP_TOOLCHAIN") \
                and var not in ("CARGO_HOME", "CARGO_RESOLVER_LOCKFILE_PATH"):
            h.update(f"{var}={named(os.environ[var])}\0".encode())
    # rust-analyzer hands cargo a copy of the lock file in a temporary directory of its own: what
    # counts is the copy's content, not where it is.
    lockfile = os.environ.get("CARGO_RESOLVER_LOCKFILE_PATH")
    if lockfile:
        try:
            with open(lockfile, "rb") as f:
                h.update(b"lockfile\0" + hashlib.sha256(f.read()).digest())
        except OSError:
            h.update(b"lockfile\0missing")
    for tool in (real_cargo(), os.path.join(os.path.dirname(real_cargo()), "rustc")):
        file_stamp(h, tool)
    manifest = option(args, "--manifest-path") or os.path.join(cwd, "Cargo.toml")
    for p in [manifest, os.path.join(os.path.dirname(manifest), "Cargo.lock")] + config_files(cwd):
        content_stamp(h, p)
    return h.hexdigest()


def answer_query(args):
    folder = os.path.join(builds.cache_dir(), "kernel-queries")
    key = query_key(args)
    out_path, err_path = os.path.join(folder, key + ".out"), os.path.join(folder, key + ".err")
    try:
        with open(out_path) as fo, open(err_path) as fe:
            out, err = fo.read(), fe.read()
        sys.stdout.write(builds.local(out, SLOT_ROOT))
        sys.stderr.write(builds.local(err, SLOT_ROOT))
        sys.exit(0)
    except OSError:
        pass
    proc = subprocess.run([real_cargo()] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
    sys.stdout.write(out)
    sys.stderr.write(err)
    if proc.returncode == 0:
        os.makedirs(folder, exist_ok=True)
        for path, text in ((err_path, err), (out_path, out)):
            with open(f"{path}.{os.getpid()}", "w") as f:
                f.write(named(text))
            os.replace(f"{path}.{os.getpid()}", path)
    sys.exit(proc.returncode)


def analyzer_main(args):
    """rust-analyzer's cargo (home/bin/cargo): every cargo it runs gets the real CARGO_HOME."""
    os.environ.setdefault("M8_KERNEL_CARGO_HOME", os.environ.get("CARGO_HOME", ""))
    restore_cargo_home()
    if is_analysis_metadata(args):
        analysis_metadata(args)
    if is_query(args) and os.environ.get("M8_KERNEL_QUERIES", "1") != "0":
        answer_query(args)
    run_real(args)


def main():
    if sys.argv[1:2] == ["--analyzer"]:
        analyzer_main(sys.argv[2:])
    restore_cargo_home()
    if os.environ.get(RECORD_ENV) and len(sys.argv) > 1 and not sys.argv[1].startswith("-") \
            and os.path.basename(sys.argv[1]).startswith("rustc"):
        record_and_run(sys.argv[1:])
    args = sys.argv[1:]
    if (tomllib is None or os.environ.get("M8_FAST_CELLS") == "0" or os.environ.get("RUSTC_WRAPPER")
            or not is_cell_build(args)):
        if is_analysis_metadata(args):
            analysis_metadata(args)
        if is_validate_dep(args) and os.environ.get("M8_FAST_CELLS") != "0":
            kept_metadata(args, "Cargo.toml", None, "validate-dep")
        run_real(args)
    try:
        k, unlocked = keys(args)
    except Exception:  # a manifest we cannot read: let cargo say what is wrong
        run_real(args)
    rec = load_records().get(k)
    if isinstance(rec, dict) and rec.get("links") == link_stamp(rec["argv"]) \
            and os.path.isfile(os.path.join(rec["cwd"], "src", "lib.rs")):
        replay(rec, STARTED)
    full_build(args, k, unlocked, STARTED)


STARTED = time.time()

if __name__ == "__main__":
    main()
