#!/usr/bin/env bash
# Installs what running the notebooks needs, once; reuses what is there.
#  - a Python venv (.venv) with JupyterLab, nbclient, nbconvert (scripts/requirements.txt)
#  - evcxr_jupyter $EVCXR_VERSION with the project's fixes (scripts/kernel/evcxr_install.py;
#    `cargo install --locked`, 15–30 min on 2 cores, once)
#  - the `rust` Jupyter kernel, registered in the venv
#  - the kernel's dependencies, compiled and published (scripts/kernel/builds.py build), beside
#    evcxr's install
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
setup_started=$(date +%s)

# Waits for a background job of this script; if it failed, shows the end of its log and stops.
wait_for() {
  local job="$1" log="$2" what="$3"
  if ! wait "$job"; then
    tail -n 30 "$log" >&2
    die "$what failed (log: $log)"
  fi
}

mkdir -p "$RUN_DIR"
# The Python tools install in the background, beside the fetch and the two compiles below (on a
# fresh machine pip takes 1-3 minutes, mostly waiting on downloads); the kernel's registration at
# the end waits for them.
say "Python tools in $VENV (in the background; log: $RUN_DIR/python-tools.log)"
(
  ensure_venv
  if ! "$VENV/bin/python" -c "import nbclient, nbconvert, jupyterlab, secantus, playwright" 2>/dev/null; then
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/scripts/requirements.txt"
  fi
) > "$RUN_DIR/python-tools.log" 2>&1 &
python_tools=$!

# The notebook kernel resolves its dependencies offline (scripts/kernel/start.py): download the
# workspace's locked crates once, so it finds them.
say "fetching the locked crates (for the offline notebook kernel)"
(cd "$ROOT" && cargo fetch --locked --quiet)

# evcxr's rust-analyzer reads the standard library's sources; evcxr installs them on the first
# kernel otherwise, in the first notebook's first result.
if command -v rustup >/dev/null && ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
  say "adding the rust-src component (the notebook kernel's rust-analyzer reads it)"
  rustup component add rust-src >/dev/null
fi
# ...and a trimmed copy of them, which the kernel gives it instead (scripts/kernel/builds.py,
# trimmed_rust_src); the first kernel would otherwise make it.
kernel_py builds.py rust-src "$(rustc --print sysroot)" >/dev/null || warn "no rust-src to trim: the kernel's rust-analyzer reads the toolchain's sources"

# The kernel's dependencies compile beside evcxr_jupyter's own install (both take minutes; each
# leaves part of the 2 cores idle at times). Reuses what is built: seconds when nothing changed.
kernel_py builds.py build > "$RUN_DIR/build-kernel.log" 2>&1 &
kernel_build=$!

# evcxr_jupyter with the project's two fixes (scripts/kernel/evcxr_install.py: a restart that no
# longer hangs, an interrupt that says what it lost), at a lower priority than the dependency
# build beside it: that one ends later (its polars crates compile one after another), so it gets
# the cores first and evcxr takes what the chain leaves idle (docs/notebook-performance.md,
# round seven).
if kernel_py evcxr_install.py --check; then
  say "evcxr_jupyter $EVCXR_VERSION (with the project's fixes) is installed"
else
  kernel_py evcxr_install.py
  say "evcxr_jupyter installed after $(( $(date +%s) - setup_started )) s"
fi

wait_for "$python_tools" "$RUN_DIR/python-tools.log" "installing the Python tools into $VENV"

# Register the project's `rust` kernel in the venv: evcxr_jupyter behind scripts/kernel/start.py,
# which starts every kernel from the shared build (scripts/kernel/README.md). Our scripts put the venv first on
# JUPYTER_PATH, so this spec wins over a user-wide `rust` kernel.
KERNEL_DIR="$VENV/share/jupyter/kernels/rust"
mkdir -p "$KERNEL_DIR"
# evcxr's own files first (logo, version.txt: evcxr_jupyter rewrites a spec whose version.txt
# differs from its own), then our kernel.json on top.
evcxr_spec="$(mktemp -d)"
JUPYTER_PATH="$evcxr_spec" evcxr_jupyter --install >/dev/null
cp "$evcxr_spec/kernels/rust/"* "$KERNEL_DIR/"
rm -rf "$evcxr_spec"
cat > "$KERNEL_DIR/kernel.json" <<JSON
{
  "argv": ["$(python3 -c 'import sys; print(sys.executable)')", "-S", "$ROOT/scripts/kernel/start.py", "--control_file", "{connection_file}"],
  "display_name": "Rust",
  "language": "rust",
  "interrupt_mode": "message"
}
JSON

wait_for "$kernel_build" "$RUN_DIR/build-kernel.log" "compiling the notebook kernel's dependencies"
grep -h "ready in" "$RUN_DIR/build-kernel.log" >&2 || true
say "setup done in $(( $(date +%s) - setup_started )) s"
