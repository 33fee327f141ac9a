#!/usr/bin/env python3
"""The project's `rust` Jupyter kernel (registered by scripts/setup.sh): evcxr_jupyter, started
on a clone of the shared build, with the settings scripts/kernel/README.md explains.

Jupyter runs `python3 -S scripts/kernel/start.py --control_file <connection file>`. This
  1. removes the directories of kernels that ended (builds.sweep) and makes this kernel's own,
     cloned from the current published build (builds.clone_current: hard links, ~1 s);
  2. writes evcxr's init.evcxr (`:offline 1`) and prelude.rs (one `?`);
  3. sets the environment evcxr and its rust-analyzer run with (loader path, the kernel's cargo
     and rustup, rust-analyzer's CARGO_HOME, the trimmed standard library, no huge pages);
  4. runs evcxr_jupyter, passing on the signals it gets, and removes the kernel's directory
     when it ends.
With EVCXR_TMPDIR set, evcxr builds there and nothing is cloned (the runner's way to measure a
kernel without the shared build).
"""
import os
import signal
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import builds  # noqa: E402

HERE = builds.HERE


def main():
    p = builds.paths()
    env = os.environ
    cargo_home = env.get("CARGO_HOME") or os.path.join(os.path.expanduser("~"), ".cargo")
    env["PATH"] = os.path.join(cargo_home, "bin") + os.pathsep + env.get("PATH", "")

    config = os.path.join(p["cache"], "evcxr-config")
    os.makedirs(config, exist_ok=True)
    # `:offline 1`: cargo resolves the notebooks' dependencies from what scripts/setup.sh fetched
    # (the workspace's lock file) instead of the newest releases on crates.io, which would
    # recompile the graph whenever one of them moves. `:offline 0` before a `:dep` of your own.
    write_if_changed(os.path.join(config, "init.evcxr"), ":offline 1\n")
    # One statement with `?`: evcxr learns that cells may use `?` here, on a crate with no
    # dependencies (~0.3 s), instead of by a failed build of the first cell (~1.5 s).
    write_if_changed(os.path.join(config, "prelude.rs"), "Ok::<(), String>(())?;\n")
    env["EVCXR_CONFIG_DIR"] = config

    root, triple = builds.toolchain()
    # evcxr links each cell against libstd with a *relative* rpath that misses when the build
    # directory shares a prefix with the toolchain ("dlopen failed"): the loader gets the path.
    loader = [os.path.join(root, "lib", "rustlib", triple, "lib")]

    own = None
    if not env.get("EVCXR_TMPDIR"):
        builds.migrate(p)
        builds.sweep(p)
        own, lock_fd = builds.new_kernel_dir(p)
        os.set_inheritable(lock_fd, True)  # evcxr_jupyter holds it: the directory lives with it
        env["M8_KERNEL_LOCK_FD"] = str(lock_fd)
        builds.clone_current(own, p)  # nothing published yet: the first cell waits for the build (cargo.py)
        env["EVCXR_TMPDIR"] = own
    builds.prepare(env["EVCXR_TMPDIR"], p)
    # The cells link against helpers-dylib where cargo builds it in this kernel's directory.
    loader.insert(0, os.path.join(env["EVCXR_TMPDIR"], "target", triple, "debug", "deps"))
    env["LD_LIBRARY_PATH"] = os.pathsep.join(loader + [x for x in [env.get("LD_LIBRARY_PATH")] if x])

    # evcxr asks `rustup which cargo` for its cargo: bin/rustup answers with bin/cargo (cargo.py),
    # which replays a cell's rustc command while nothing the graph depends on changed.
    # The real cargo is the toolchain's own (what `rustup which cargo` answers).
    real_rustup = shutil.which("rustup") or ""
    toolchain_cargo = os.path.join(root, "bin", "cargo")
    env["M8_REAL_RUSTUP"] = real_rustup
    env["M8_REAL_CARGO"] = toolchain_cargo if os.path.isfile(toolchain_cargo) else shutil.which("cargo") or "cargo"
    env["M8_PYTHON"] = sys.executable
    # evcxr's rust-analyzer runs `$CARGO_HOME/bin/cargo metadata` and loads every package of the
    # answer (~500): home/bin/cargo gives it the graph cut to what cells bind. Off: no cut.
    if env.get("M8_KERNEL_ANALYSIS") != "off":
        env["M8_REAL_CARGO_HOME"] = env.get("CARGO_HOME", "")
        env["M8_KERNEL_CARGO_HOME"] = os.path.join(HERE, "home")
        env["CARGO_HOME"] = env["M8_KERNEL_CARGO_HOME"]
    env["PATH"] = os.path.join(HERE, "bin") + os.pathsep + env["PATH"]
    # mimalloc's transparent huge pages: zeroing 2 MiB pages was ~11 % of a kernel's start.
    env.setdefault("MIMALLOC_ALLOW_THP", "0")
    # The standard library's sources for rust-analyzer, with the SIMD intrinsics and
    # compiler-builtins empty (~1.5 s of a first result). A user's RUST_SRC_PATH wins.
    if not env.get("RUST_SRC_PATH") and env.get("M8_KERNEL_RUST_SRC", "trimmed") != "full":
        lib = builds.trimmed_rust_src(root, p)
        if lib:
            env["RUST_SRC_PATH"] = lib
    # evcxr_jupyter rewrites the kernel spec it finds through JUPYTER_PATH at start-up.
    env.pop("JUPYTER_PATH", None)

    evcxr = shutil.which("evcxr_jupyter")
    if not evcxr:
        sys.exit("evcxr_jupyter is not installed: run scripts/setup.sh")
    if own is None:
        os.execv(evcxr, [evcxr] + sys.argv[1:])
    child = subprocess.Popen([evcxr] + sys.argv[1:], close_fds=False)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, lambda s, _f: child.send_signal(s))
    rc = child.wait()
    # This kernel's directory goes with it: renamed at once (Jupyter waits for this process to
    # end), removed by a process of its own, outside the kernel's process group. Killed with the
    # whole group instead, it is left to the next kernel's sweep.
    builds.discard(own)
    sys.exit(rc if rc >= 0 else 128 - rc)


def write_if_changed(path, text):
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except OSError:
        pass
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
