#!/usr/bin/env python3
"""The notebook kernel's compiled builds: one shared build, any number of kernels.

evcxr compiles every kernel's cells in a directory of its own (EVCXR_TMPDIR) with the target
directory inside it; a kernel needs the whole dependency graph compiled there (~3.5 GB here),
and only one kernel may use a directory at a time. So:

    $M8_CACHE/                     (~/.cache/module8)
      build/                       where the graph is compiled (`builds.py build`, the tests)
      build.lock, build.lock.json  held by whoever compiles the kernel's graph; who and since when
      published/<n>/target         a finished build, never written again; `current` names the newest
      kernels/<id>/, <id>.lock     one directory per running kernel; the lock lives with the kernel

A kernel starts from a *clone* of the current published build: every compiled artifact
(rlib, rmeta, .so, executables, rustc's incremental files) is a hard link to the published
file, and only the small files cargo and build scripts rewrite in place (fingerprints, dep-info,
build-script output) are copied. rustc, the linkers and ar replace a file rather than write
into it, so a kernel that rebuilds something gets a file of its own and the published one stays
as it was. A clone costs about a second and a few MB; its directory goes when its kernel ends
(or, if the kernel was killed, when the next kernel starts).

Cargo relocates a target directory by itself (fingerprints and build-script output are kept
relative, or rewritten from `root-output`). What the kernel's cargo (cargo.py) keeps beside
the build — the recorded rustc command of a cell, rust-analyzer's answers — holds the build
directory's path; it is stored with that path replaced by SLOT, so every clone can replay it.

Whoever compiles the graph holds build.lock and publishes when done: `builds.py build`
(scripts/setup.sh), and a kernel whose first cell finds the graph out of date (an edited
helpers crate). A kernel that must wait for it says so in its cell (cargo.py).

    builds.py build            compile the kernel's graph into build/ and publish it
    builds.py prune            keep build/'s incremental caches to the newest one per crate
    builds.py status           what is kept, and how much disk it takes
    builds.py rust-src SYSROOT the trimmed standard library sources for rust-analyzer (a path)
"""
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SLOT = "@M8_SLOT@"  # a build directory's own path, in what is kept beside its build


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.environ.get("M8_CACHE") or os.path.join(base, "module8")


def toolchain():
    """(sysroot, host triple) of the `rustc` on PATH, from one run of it."""
    out = subprocess.run(["rustc", "--print", "sysroot", "--print", "host-tuple"], stdout=subprocess.PIPE, text=True, check=True).stdout.split()
    return out[0], out[1]


def host_triple():
    return toolchain()[1]


KERNEL_RUSTFLAGS = "-Cprefer-dynamic"  # what evcxr passes; the tests build with it too


def paths(cache=None):
    c = cache or cache_dir()
    return {
        "cache": c,
        "build": os.path.join(c, "build"),
        "lock": os.path.join(c, "build.lock"),
        "published": os.path.join(c, "published"),
        "kernels": os.path.join(c, "kernels"),
    }


def log(msg):
    sys.stderr.write(f"\033[1m==> {msg}\033[0m\n")


# --- relocation ----------------------------------------------------------------------------------
def portable(text, root):
    """`text` with the build directory `root` written as SLOT."""
    return text.replace(root.rstrip("/"), SLOT)


def local(text, root):
    """`text` with SLOT written as the build directory `root`."""
    return text.replace(SLOT, root.rstrip("/"))


# --- the clone -----------------------------------------------------------------------------------
# Files that cargo or a build script may write *into* (truncate and rewrite), rather than
# replace, and that cargo reads again to decide what is fresh: a clone gets copies of these, so
# no write in one directory reaches another. (rustc's dep-info `.d` files are rewritten in place
# too, but cargo reads them only right after the compile that wrote them: links.)
COPIED_NAMES = {"output", "stderr", "root-output", "invoked.timestamp", ".cargo-lock", "CACHEDIR.TAG"}
COPIED_SUFFIXES = (".json", ".lock", ".timestamp", ".tmp")
# rustc's incremental caches: a kernel's cells need none to start (its own grow as it goes), and
# they are most of a clone's files and half its bytes.
NOT_CLONED = ("incremental",)
# and the cells a kernel compiled (evcxr's crate is `ctx`, its loaded copies `libcode_<n>.so`)
# stay with it.
KERNEL_OWN = ("libctx.", "ctx-", "libcode_")


def copied(rel):
    parts = rel.split(os.sep)
    name = parts[-1]
    if ".fingerprint" in parts or name in COPIED_NAMES or name.endswith(COPIED_SUFFIXES):
        return True
    # a build script's OUT_DIR: its files are written by the script itself, in any way it likes
    return "build" in parts and "out" in parts[parts.index("build"):]


def clone_tree(src, dst, skip=(), link_all=False):
    """Makes dst a clone of src: artifacts hard-linked, files written in place copied (mtimes
    kept, as cargo's freshness checks compare them) — or, with link_all, every file linked, to be
    made private by private_copies before anything may write into them. Files already in dst
    are replaced. Returns (linked, copied, bytes copied)."""
    linked = n_copied = copied_bytes = 0
    for dirpath, dirnames, filenames in os.walk(src):
        rel_dir = os.path.relpath(dirpath, src)
        dirnames[:] = [d for d in dirnames if d not in NOT_CLONED and os.path.normpath(os.path.join(rel_dir, d)) not in skip]
        target_dir = os.path.normpath(os.path.join(dst, rel_dir))
        os.makedirs(target_dir, exist_ok=True)
        for name in filenames:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel in skip or name.startswith(KERNEL_OWN):
                continue
            s, d = os.path.join(dirpath, name), os.path.join(target_dir, name)
            tmp = d + ".m8clone"
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
            if os.path.islink(s):
                os.symlink(os.readlink(s), tmp)
            elif copied(rel) and not link_all:
                shutil.copy2(s, tmp)
                n_copied += 1
                copied_bytes += os.path.getsize(tmp)
            else:
                try:
                    os.link(s, tmp)
                    linked += 1
                except OSError as e:
                    if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                        raise
                    shutil.copy2(s, tmp)  # another file system: a copy, slower but right
                    n_copied += 1
                    copied_bytes += os.path.getsize(tmp)
            os.replace(tmp, d)
    return linked, n_copied, copied_bytes


# --- locks ---------------------------------------------------------------------------------------
def private_copies(d):
    """Replaces each file of d/target that cargo or a build script may write into (`copied`) and
    that d still shares with another directory by a copy of its own (mtimes kept). A kernel's
    clone shares all of them at first (a second to make, instead of several: creating a file
    costs ~1 ms of CPU here, and there are ~3,000 of them); its cargo calls this before the real
    cargo may build (cargo.py), which most kernels never need: their cells replay. Returns how
    many files it copied."""
    marker = os.path.join(d, "target", ".m8-private")
    if os.path.exists(marker):
        return 0
    n = 0
    top = os.path.join(d, "target")
    for dirpath, dirnames, filenames in os.walk(top):
        rel_dir = os.path.relpath(dirpath, top)
        for name in filenames:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            p = os.path.join(dirpath, name)
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                continue
            if st.st_nlink > 1 and copied(rel) and not os.path.islink(p):
                tmp = p + ".m8private"
                shutil.copy2(p, tmp)
                os.replace(tmp, p)
                n += 1
    open(marker, "w").close()
    return n


def holder(p):
    try:
        with open(p["lock"] + ".json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def describe_holder(h):
    if not h:
        return "another build"
    since = time.time() - h.get("started", time.time())
    return f"{h.get('what', 'a build')} (pid {h.get('pid', '?')}, for {since / 60:.1f} min so far)"


@contextlib.contextmanager
def build_lock(what, p=None, timeout=3600, on_wait=None, every=20):
    """Holds build.lock while compiling the kernel's graph. If someone else holds it, waits (at
    most `timeout` s), calling on_wait(holder description, seconds waited) at once and then every
    `every` s; raises TimeoutError past the timeout."""
    p = p or paths()
    os.makedirs(p["cache"], exist_ok=True)
    fd = os.open(p["lock"], os.O_RDWR | os.O_CREAT, 0o644)
    try:
        started = time.time()
        next_note = started
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.time()
                if now - started > timeout:
                    raise TimeoutError(f"{describe_holder(holder(p))} held the kernel's build for {timeout} s")
                if on_wait and now >= next_note:
                    on_wait(describe_holder(holder(p)), now - started)
                    next_note = now + every
                time.sleep(0.5)
        info = {"what": what, "pid": os.getpid(), "started": time.time()}
        with open(p["lock"] + ".json.tmp", "w") as f:
            json.dump(info, f)
        os.replace(p["lock"] + ".json.tmp", p["lock"] + ".json")
        yield
    finally:
        os.close(fd)  # releases the lock


def try_lock(path, shared=False):
    """An open fd holding a lock on `path`, or None when someone else holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        os.close(fd)
        return None


# --- published builds ----------------------------------------------------------------------------
def current(p=None):
    """The newest published build's directory, or None."""
    p = p or paths()
    link = os.path.join(p["published"], "current")
    try:
        name = os.readlink(link)
    except OSError:
        return None
    d = os.path.join(p["published"], name)
    return d if os.path.isfile(os.path.join(d, "published.json")) else None


def publish(src, what, p=None, skip=()):
    """Publishes the build in `src` (a directory holding target/): a clone of it becomes the
    current build. The caller holds build.lock. Older published builds go, unless a kernel is
    cloning one at this moment."""
    p = p or paths()
    os.makedirs(p["published"], exist_ok=True)
    numbers = [int(n) for n in os.listdir(p["published"]) if n.isdigit()]
    n = str(max(numbers, default=0) + 1)
    tmp = os.path.join(p["published"], f".{n}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    started = time.time()
    linked, n_copied, nbytes = clone_tree(os.path.join(src, "target"), os.path.join(tmp, "target"), skip)
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(tmp, "target", ".m8-private"))
    for kept in ("m8-fast-cells.json", "m8-analysis-metadata.json"):
        relocate_file(os.path.join(tmp, "target", kept), src)
    with open(os.path.join(tmp, "published.json"), "w") as f:
        json.dump({"what": what, "from": src, "at": time.time(), "linked": linked, "copied": n_copied,
                   "copied_bytes": nbytes, "seconds": round(time.time() - started, 2)}, f)
    os.rename(tmp, os.path.join(p["published"], n))
    link_tmp = os.path.join(p["published"], ".current.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.remove(link_tmp)
    os.symlink(n, link_tmp)
    os.replace(link_tmp, os.path.join(p["published"], "current"))
    collect(p)
    return os.path.join(p["published"], n)


def relocate_file(path, root):
    """Rewrites what cargo.py kept at `path` with `root` as SLOT (older versions kept real paths)."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return
    new = portable(text, root)
    if new != text:
        with open(path + ".tmp", "w") as f:
            f.write(new)
        os.replace(path + ".tmp", path)


def collect(p):
    """Removes published builds other than the current one that nobody is cloning."""
    cur = current(p)
    for name in os.listdir(p["published"]):
        d = os.path.join(p["published"], name)
        if not name.isdigit() or (cur and os.path.samefile(d, cur)):
            continue
        fd = try_lock(d + ".lock")
        if fd is None:
            continue
        try:
            shutil.rmtree(d, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                os.remove(d + ".lock")
        finally:
            os.close(fd)


def clone_current(dst, p=None):
    """Clones the current published build's target/ into dst; returns the published directory
    cloned (None when nothing is published yet)."""
    p = p or paths()
    for _ in range(5):
        src = current(p)
        if src is None:
            return None
        fd = try_lock(src + ".lock", shared=True)
        if fd is None:  # being removed this instant: a newer one is current
            time.sleep(0.1)
            continue
        try:
            if not os.path.isfile(os.path.join(src, "published.json")):
                continue
            clone_tree(os.path.join(src, "target"), os.path.join(dst, "target"), link_all=True)
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(dst, "target", ".m8-private"))  # shared again
            with open(os.path.join(dst, "cloned-from"), "w") as f:
                f.write(os.path.basename(src))
            return src
        finally:
            os.close(fd)
    return None


def cloned_from(d):
    try:
        with open(os.path.join(d, "cloned-from")) as f:
            return f.read().strip()
    except OSError:
        return None


def refresh(d, p=None):
    """When a newer build was published than the one directory d was cloned from, clones it
    over d's target/ (files d made itself stay). True when it did."""
    p = p or paths()
    cur = current(p)
    if cur is None or cloned_from(d) == os.path.basename(cur):
        return False
    return clone_current(d, p) is not None


def donate(d, name, p=None):
    """Adds what the kernel in d kept in target/<name> (cargo.py's records, portable) to the
    published build d was cloned from, so the next kernel starts with it. Best effort."""
    p = p or paths()
    cur = current(p)
    if cur is None or cloned_from(d) != os.path.basename(cur):
        return
    with contextlib.suppress(OSError, ValueError):
        with open(os.path.join(d, "target", name)) as f:
            mine = json.load(f)
        dest = os.path.join(cur, "target", name)
        try:
            with open(dest) as f:
                theirs = json.load(f)
        except (OSError, ValueError):
            theirs = {}
        if not isinstance(theirs, dict) or not isinstance(mine, dict):
            return
        merged = dict(list(theirs.items()) + list(mine.items()))
        if merged == theirs:
            return
        tmp = f"{dest}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(dict(list(merged.items())[-8:]), f)
        os.replace(tmp, dest)


# --- kernel directories ----------------------------------------------------------------------------
def sweep(p=None):
    """Removes the directories of kernels that ended (their lock is free), and the build slots
    of the project's earlier kernels (evcxr-build-2, -3) when nothing holds them."""
    p = p or paths()
    removed = 0
    if os.path.isdir(p["kernels"]):
        for name in os.listdir(p["kernels"]):
            if not name.endswith(".lock"):
                continue
            lock = os.path.join(p["kernels"], name)
            fd = try_lock(lock)
            if fd is None:
                continue
            try:
                shutil.rmtree(lock[: -len(".lock")], ignore_errors=True)
                os.remove(lock)
                removed += 1
            finally:
                os.close(fd)
        # a directory without its lock file was left half-made or half-removed
        for name in os.listdir(p["kernels"]):
            d = os.path.join(p["kernels"], name)
            if os.path.isdir(d) and not os.path.exists(d + ".lock"):
                shutil.rmtree(d, ignore_errors=True)
    for old in ("evcxr-build-2", "evcxr-build-3"):
        d = os.path.join(p["cache"], old)
        if os.path.isdir(d):
            fd = try_lock(d + ".lock")
            if fd is not None:
                shutil.rmtree(d, ignore_errors=True)
                os.remove(d + ".lock")
                os.close(fd)
    return removed


def discard(d):
    """Removes kernel directory d (and its lock file) without waiting: renamed out of the way,
    then deleted by a process in a session of its own (thousands of files take seconds here)."""
    gone = f"{d}.gone"
    try:
        os.rename(d, gone)
    except OSError:
        gone = d
    with contextlib.suppress(OSError):
        os.remove(d + ".lock")
    with contextlib.suppress(OSError):
        subprocess.Popen(["rm", "-rf", gone], start_new_session=True, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def migrate(p=None):
    """The build slot of earlier versions (evcxr-build) becomes the build directory."""
    p = p or paths()
    old = os.path.join(p["cache"], "evcxr-build")
    if os.path.isdir(old) and not os.path.exists(p["build"]):
        fd = try_lock(old + ".lock")
        if fd is not None:
            try:
                os.rename(old, p["build"])
            finally:
                os.close(fd)
                with contextlib.suppress(FileNotFoundError):
                    os.remove(old + ".lock")


def new_kernel_dir(p=None):
    """A directory for a new kernel and the fd that holds its lock (keep it open for the
    kernel's lifetime)."""
    p = p or paths()
    os.makedirs(p["kernels"], exist_ok=True)
    kid = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    d = os.path.join(p["kernels"], kid)
    fd = try_lock(d + ".lock")
    os.makedirs(d, exist_ok=True)
    return d, fd


# --- the cargo settings and lock file every build directory takes -------------------------------
def prepare(d, p=None):
    """Readies build directory d for this checkout:
     - the kernel's cargo settings (cargo-config.toml) above every build directory, where cargo
       finds them; copied only when changed, so the build stays fresh;
     - the workspace's lock file, when it changed since d last took it: the kernel compiles the
       very versions the tests ran against (cargo rewrites d's copy for evcxr's crates, which is
       the same resolution; cargo.py's records are keyed on it);
     - the build claimed for this checkout. The shared library the cells link against is named
       libhelpers_dylib.so with no hash, so two checkouts (a clone in CI, your working copy)
       building into one directory overwrite each other's file while cargo's records of each
       still look fresh: a kernel could link the other checkout's code. The build remembers
       which checkout made it (target/.m8-checkout, cloned with it); for another one the
       library is removed, and cargo links it again (~1-3 min) on the first cell."""
    p = p or paths()
    me = os.path.realpath(ROOT)
    target = os.path.join(d, "target")
    marker = os.path.join(target, ".m8-checkout")
    try:
        with open(marker) as f:
            made_by = f.read().strip()
    except OSError:
        try:
            with open(os.path.join(d, ".checkout")) as f:  # the build slot of earlier versions
                made_by = f.read().strip()
        except OSError:
            made_by = None if os.path.isdir(target) else me
    if made_by != me:
        for sub in ("deps", ""):
            for lib in glob_dylib(target, sub):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(lib)
    if made_by != me or not os.path.exists(marker):
        os.makedirs(target, exist_ok=True)
        with open(marker + ".tmp", "w") as f:
            f.write(me + "\n")
        os.replace(marker + ".tmp", marker)
    cfg_dir = os.path.join(p["cache"], ".cargo")
    os.makedirs(cfg_dir, exist_ok=True)
    copy_if_changed(os.path.join(HERE, "cargo-config.toml"), os.path.join(cfg_dir, "config.toml"))
    os.makedirs(d, exist_ok=True)
    lock = os.path.join(ROOT, "Cargo.lock")
    if not same_content(lock, os.path.join(d, "Cargo.lock.workspace")) or not os.path.exists(os.path.join(d, "Cargo.lock")):
        shutil.copyfile(lock, os.path.join(d, "Cargo.lock"))
        shutil.copyfile(lock, os.path.join(d, "Cargo.lock.workspace"))


def glob_dylib(target, sub):
    """target/<triple>/debug/<sub>/libhelpers_dylib.so, for any triple."""
    found = []
    with contextlib.suppress(OSError):
        for triple in os.listdir(target):
            lib = os.path.join(target, triple, "debug", sub, "libhelpers_dylib.so")
            if os.path.lexists(lib):
                found.append(lib)
    return found


def same_content(a, b):
    try:
        with open(a, "rb") as fa, open(b, "rb") as fb:
            return fa.read() == fb.read()
    except OSError:
        return False


def copy_if_changed(src, dst):
    if not same_content(src, dst):
        shutil.copyfile(src, dst + ".tmp")
        os.replace(dst + ".tmp", dst)


# The crate evcxr 0.22 writes for a kernel whose only dependency is the notebooks' `:dep` line
# (evcxr/src/module.rs, get_cargo_toml_contents; paths made absolute as evcxr does).
def cell_manifest():
    dylib = os.path.realpath(os.path.join(ROOT, "helpers-dylib"))
    return f"""
[package]
name = "ctx"
version = "1.0.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]
path = "src/lib.rs"

[profile.dev]
opt-level = 2
debug = false
strip = "debuginfo"
rpath = true
lto = false
debug-assertions = true
codegen-units = 16
panic = 'unwind'
incremental = true
overflow-checks = true

[dependencies]
helpers = {{ path = "{dylib}", package = "helpers-dylib" }}

"""


def build(p=None):
    """Compiles what a kernel needs (helpers-dylib and every dependency) into build/, exactly as
    evcxr will ask for it — the same generated crate, profile, RUSTFLAGS, --target and lock file —
    and publishes it. Waits for another build of it first."""
    p = p or paths()
    migrate(p)
    d = p["build"]
    with build_lock("scripts/kernel/builds.py build", p,
                    on_wait=lambda who, s: log(f"waiting for {who} to finish compiling the notebook kernel's graph")):
        os.makedirs(os.path.join(d, "src"), exist_ok=True)
        with open(os.path.join(d, "Cargo.toml"), "w") as f:
            f.write(cell_manifest())
        open(os.path.join(d, "src", "lib.rs"), "w").close()
        prepare(d, p)
        triple = host_triple()
        log(f"compiling the notebook kernel's dependencies into {d} (once per machine; 10–22 min on 2 cores)")
        started = time.time()
        env = dict(os.environ, CARGO_TARGET_DIR="target", CARGO_BUILD_BUILD_DIR="target", RUSTFLAGS=KERNEL_RUSTFLAGS)
        subprocess.run(["cargo", "build", "--offline", "--quiet", "--timings", "--target", triple],
                       cwd=d, env=env, check=True)
        log(f"notebook kernel dependencies ready in {time.time() - started:.0f} s")
        freed = prune(d)
        if freed:
            log(f"removed {freed / 2**30:.1f} GiB of rustc's incremental caches of other checkouts")
        cur = current(p)
        if cur is None or not up_to_date(cur, d):
            published = publish(d, "scripts/kernel/builds.py build", p)
            log(f"published for the kernels: {published}")


def prune(d):
    """Keeps d's rustc incremental caches to the newest one per crate: each checkout path (a
    clone in CI, a working copy) compiles helpers and its tests as units of their own, and their
    caches (up to ~800 MB each) would otherwise pile up in the build directory for good. Returns
    the bytes freed."""
    freed = 0
    for inc in (os.path.join(d, "target", t, "debug", "incremental") for t in os.listdir(os.path.join(d, "target"))
                if os.path.isdir(os.path.join(d, "target", t, "debug", "incremental"))):
        newest = {}
        for name in os.listdir(inc):
            crate = name.rsplit("-", 1)[0]
            path = os.path.join(inc, name)
            mtime = os.stat(path).st_mtime
            if crate in newest:
                old = min((newest[crate], (mtime, path)))
                newest[crate] = max((newest[crate], (mtime, path)))
                freed += disk_usage(old[1])
                shutil.rmtree(old[1], ignore_errors=True)
            else:
                newest[crate] = (mtime, path)
    return freed


def up_to_date(published, d):
    """True when the published build holds what d's build made: the same shared library."""
    name = os.path.join("target", host_triple(), "debug", "deps", "libhelpers_dylib.so")
    try:
        a, b = os.stat(os.path.join(published, name)), os.stat(os.path.join(d, name))
    except OSError:
        return False
    return (a.st_ino, a.st_dev) == (b.st_ino, b.st_dev)


# --- the standard library's sources for the kernel's rust-analyzer -------------------------------
def trimmed_rust_src(sysroot, p=None):
    """A copy of the toolchain's rust-src `library` folder in which the files no cell's value
    comes from are empty — core::arch's per-architecture intrinsics (stdarch), core::simd
    (portable-simd) and compiler-builtins, ~25 MB of the ~52 MB. Hard links to the toolchain's
    files (a copy where that fails); emptied files are replaced, never written through a link.
    Made once per toolchain under $M8_CACHE/rust-src/<key>/ (an older key is removed), in a path
    that ends like a sysroot's (lib/rustlib/src/rust/library). None without rust-src."""
    p = p or paths()
    src = os.path.join(sysroot, "lib", "rustlib", "src", "rust", "library")
    if not os.path.isfile(os.path.join(src, "core", "src", "lib.rs")):
        return None
    h = hashlib.sha256(sysroot.encode())
    with contextlib.suppress(OSError):
        with open(os.path.join(src, "Cargo.lock"), "rb") as f:
            h.update(f.read())
    for lib in ("core", "std"):
        st = os.stat(os.path.join(src, lib, "src", "lib.rs"))
        h.update(f"{lib} {st.st_size} {int(st.st_mtime)}".encode())
    key = h.hexdigest()[:16]
    base = os.path.join(p["cache"], "rust-src")
    lib = os.path.join(base, key, "lib", "rustlib", "src", "rust", "library")
    if not os.path.isfile(os.path.join(lib, "core", "src", "lib.rs")):
        os.makedirs(base, exist_ok=True)
        tmp = os.path.join(base, f".{key}.{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        dst = os.path.join(tmp, "lib", "rustlib", "src", "rust", "library")
        for dirpath, _, filenames in os.walk(src):
            rel = os.path.relpath(dirpath, src)
            os.makedirs(os.path.join(dst, rel), exist_ok=True)
            for name in filenames:
                s, d = os.path.join(dirpath, name), os.path.join(dst, rel, name)
                if emptied(rel, name):
                    open(d, "w").close()
                    continue
                try:
                    os.link(s, d)
                except OSError:
                    shutil.copy2(s, d)
        try:
            os.rename(tmp, os.path.join(base, key))  # another kernel may have made it meanwhile
            for other in os.listdir(base):
                if other != key:
                    shutil.rmtree(os.path.join(base, other), ignore_errors=True)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    return lib if os.path.isfile(os.path.join(lib, "core", "src", "lib.rs")) else None


EMPTIED = (  # (folder, keep the modules' own mod.rs / lib.rs too)
    ("stdarch/crates/core_arch/src", False),
    ("portable-simd/crates/core_simd/src", True),
    ("compiler-builtins/compiler-builtins/src", True),
    ("compiler-builtins/libm/src", True),
)


def emptied(rel, name):
    if not name.endswith(".rs") or name == "mod.rs":
        return False
    for folder, keep_lib in EMPTIED:
        if rel == folder or rel.startswith(folder + os.sep):
            if keep_lib:
                return name != "lib.rs"
            return rel != folder  # core_arch: the files one folder down
    return False


# --- status ----------------------------------------------------------------------------------------
def disk_usage(top):
    """Bytes under top, each inode counted once (as `du` does)."""
    seen, total = set(), 0
    for dirpath, _, filenames in os.walk(top):
        for name in filenames:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(dirpath, name))
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
    return total


def status():
    p = paths()
    cur = current(p)
    kernels = sorted(n[:-5] for n in os.listdir(p["kernels"]) if n.endswith(".lock")) if os.path.isdir(p["kernels"]) else []
    print(f"cache:      {p['cache']}  ({disk_usage(p['cache']) / 2**30:.2f} GiB, hard links counted once)")
    print(f"published:  {cur or '(nothing yet: scripts/setup.sh builds it)'}")
    h = holder(p)
    fd = try_lock(p["lock"])
    if fd is None:
        print(f"building:   {describe_holder(h)}")
    else:
        os.close(fd)
    for k in kernels:
        d = os.path.join(p["kernels"], k)
        fd = try_lock(d + ".lock")
        state = "running" if fd is None else "ended (removed by the next kernel)"
        if fd is not None:
            os.close(fd)
        own = own_bytes(d)
        print(f"kernel:     {k}  {state}, {own / 2**20:.0f} MiB of its own, cloned from {cloned_from(d) or '-'}")


def own_bytes(d):
    """Bytes of d's files that no other directory shares (link count 1)."""
    total = 0
    for dirpath, _, filenames in os.walk(d):
        for name in filenames:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(dirpath, name))
                if st.st_nlink == 1:
                    total += st.st_blocks * 512
    return total


def main(argv):
    if argv[:1] == ["build"]:
        build()
    elif argv[:1] == ["status"]:
        status()
    elif argv[:1] == ["prune"]:
        print(f"freed {prune(paths()['build']) / 2**30:.2f} GiB")
    elif argv[:1] == ["rust-src"] and len(argv) == 2:
        lib = trimmed_rust_src(argv[1])
        if lib is None:
            return 1
        print(lib)
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
