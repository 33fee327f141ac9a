#!/usr/bin/env bash
# Jupyter starts this as the project's `rust` kernel (registered by scripts/setup.sh): it is
# evcxr_jupyter with a kept build directory, so compiled dependencies survive the kernel.
#
# evcxr builds every kernel's crate in EVCXR_TMPDIR; by default that is a fresh temp dir and
# each new kernel recompiles polars, sqlx, … (minutes). A kept directory makes the next kernel
# start in seconds, but only one kernel may use it at a time, so we keep a few "slots" and
# hold a lock on the one in use for the kernel's lifetime. A slot used for the first time
# starts from a copy of a built one (seconds, instead of compiling everything again). With
# every slot busy, the kernel gets a temp dir of its own and compiles from scratch.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"   # ROOT, M8_CACHE, HOST_TRIPLE, PATH
cache="$M8_CACHE"
mkdir -p "$cache/evcxr-config"

# evcxr runs init.evcxr (in EVCXR_CONFIG_DIR) when the kernel starts. `:offline 1`: cargo resolves
# the notebooks' dependencies from what is already downloaded (scripts/setup.sh fetches the
# workspace's locked crates) instead of the newest versions on crates.io. Online, every new
# kernel re-resolves, and one new patch release upstream recompiles everything that depends on
# it. A notebook that wants a crate nobody downloaded yet says `:offline 0` before its `:dep`.
printf ':offline 1\n' > "$cache/evcxr-config/init.evcxr"
# prelude.rs runs after it: one statement with `?`. evcxr compiles a cell's code in a closure
# that returns `()` until a `?` fails to compile there, and then for good in one that returns a
# Result; every lesson's first cell has a `?`. Learned here, on a crate with no dependencies
# (~0.3 s), instead of by a failed build of the first cell against the whole graph (~1.5 s).
printf 'Ok::<(), String>(())?;\n' > "$cache/evcxr-config/prelude.rs"
export EVCXR_CONFIG_DIR="$cache/evcxr-config"

# evcxr links each cell against libstd dynamically with a *relative* rpath computed from
# target/<triple>/debug/deps, then loads a copy one folder up; when the build dir shares a
# prefix with the toolchain (both under /root, say) the rpath misses and the kernel dies with
# "dlopen failed". Pointing the loader at the toolchain's libraries fixes it for any path.
sysroot="$(rustc --print sysroot)"
export LD_LIBRARY_PATH="$sysroot/lib/rustlib/$HOST_TRIPLE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

if [ -z "${EVCXR_TMPDIR:-}" ]; then
  for slot in evcxr-build evcxr-build-2 evcxr-build-3; do
    exec 9>"$cache/$slot.lock"
    if flock -n 9; then
      export EVCXR_TMPDIR="$cache/$slot"   # fd 9 stays open in evcxr_jupyter: the lock lives with it
      if [ ! -d "$EVCXR_TMPDIR/target" ]; then
        # A new slot: start from a built one. Cargo checks every fingerprint, so a copy taken
        # while that slot's kernel was compiling only costs a rebuild of what was unfinished.
        for built in "$cache"/evcxr-build*/; do
          [ -d "$built/target" ] && [ "${built%/}" != "$EVCXR_TMPDIR" ] || continue
          mkdir -p "$EVCXR_TMPDIR" && cp -a "$built/target" "$EVCXR_TMPDIR/target.partial" \
            && mv "$EVCXR_TMPDIR/target.partial" "$EVCXR_TMPDIR/target" || rm -rf "$EVCXR_TMPDIR/target.partial"
          break
        done
      fi
      mkdir -p "$EVCXR_TMPDIR"
      break
    fi
    exec 9>&-
  done
fi
# Every slot busy: a build directory of this kernel's own (compiled from scratch).
[ -n "${EVCXR_TMPDIR:-}" ] || export EVCXR_TMPDIR="$(mktemp -d "${TMPDIR:-/tmp}/module8-evcxr.XXXXXX")"
# Cargo settings, the workspace's lock file, this checkout's helpers-dylib (common.sh).
prepare_kernel_slot "$EVCXR_TMPDIR"
# The cells link against helpers-dylib (one shared library holding helpers, polars, sqlx, …):
# the loader finds it where cargo builds it in this kernel's build directory.
export LD_LIBRARY_PATH="$EVCXR_TMPDIR/target/$HOST_TRIPLE/debug/deps:$LD_LIBRARY_PATH"
# Each cell's `cargo build` skips cargo's check of the whole dependency graph when nothing in it
# can have changed (scripts/kernel-cargo.py replays the cell crate's rustc command; ~0.4 s a
# cell): evcxr asks `rustup which cargo` for its cargo, and scripts/kernel-bin answers.
# M8_FAST_CELLS=0 turns it off.
M8_REAL_RUSTUP="$(command -v rustup || true)"
M8_REAL_CARGO="$( { [ -n "$M8_REAL_RUSTUP" ] && rustup which cargo 2>/dev/null; } || command -v cargo)"
# The interpreter that runs it, resolved once: `python3` may be a shim (pyenv) costing ~0.3 s a call.
M8_PYTHON="$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || command -v python3)"
export M8_REAL_RUSTUP M8_REAL_CARGO M8_PYTHON
# evcxr's rust-analyzer (which types each cell's `let`s) runs `$CARGO_HOME/bin/cargo metadata` and
# loads every package of the answer: ~500 packages, ~25 s of a kernel's first result. With
# CARGO_HOME at scripts/kernel-home, that cargo is scripts/kernel-cargo.py, which gives it the
# graph cut down to helpers and the crates whose values cells bind (M8_KERNEL_ANALYSIS, `*` for
# all); every cargo it runs gets the real CARGO_HOME back. M8_KERNEL_ANALYSIS=off: no cut.
if [ "${M8_KERNEL_ANALYSIS:-}" != off ]; then
  export M8_REAL_CARGO_HOME="${CARGO_HOME:-}" M8_KERNEL_CARGO_HOME="$ROOT/scripts/kernel-home"
  export CARGO_HOME="$M8_KERNEL_CARGO_HOME"
fi
export PATH="$ROOT/scripts/kernel-bin:$PATH"
# evcxr_jupyter allocates with mimalloc, which by default lets the OS back its memory with
# transparent huge pages: each first touch of a 2 MiB page zeroes all of it (~11% of a kernel's
# CPU until its first result, in a perf profile). Off unless the user says otherwise; measured
# in docs/notebook-performance.md.
export MIMALLOC_ALLOW_THP="${MIMALLOC_ALLOW_THP:-0}"
# evcxr's rust-analyzer parses the standard library's sources (the rust-src component) before it
# can type a cell: a third of them are SIMD intrinsics (core::arch, core::simd) and
# compiler-builtins, which no cell's value comes from. It reads RUST_SRC_PATH when that is set,
# so the kernel points it at a copy of the library with those files empty (hard links to the
# toolchain's files otherwise; made once per toolchain, in a folder whose path ends like a
# sysroot's, lib/rustlib/src/rust/library, as kernel-home/bin/cargo expects): ~1.5 s less to a
# kernel's first result and ~110 MB less memory (docs/notebook-performance.md, round six). A
# user's RUST_SRC_PATH wins; M8_KERNEL_RUST_SRC=full gives it the toolchain's sources.
if [ -z "${RUST_SRC_PATH:-}" ] && [ "${M8_KERNEL_RUST_SRC:-trimmed}" != full ]; then
  trimmed="$(trimmed_rust_src "$sysroot")" && export RUST_SRC_PATH="$trimmed"
fi
# evcxr_jupyter "updates" the kernel spec it finds through JUPYTER_PATH at start-up, which
# would overwrite ours with a plain one: it needs no JUPYTER_PATH of its own.
unset JUPYTER_PATH
exec evcxr_jupyter "$@"
