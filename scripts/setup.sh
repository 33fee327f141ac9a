#!/usr/bin/env bash
# Installs what running the notebooks needs, once; reuses what is there.
#  - a Python venv (.venv) with JupyterLab, nbclient, nbconvert (scripts/requirements.txt)
#  - evcxr_jupyter $EVCXR_VERSION via `cargo install --locked` (~20 min on 2 cores, once)
#  - the `rust` Jupyter kernel, registered in the venv
#  - mold, the fast linker evcxr picks up by itself (apt, when we may install packages)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

say "Python tools in $VENV"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
if ! "$VENV/bin/python" -c "import nbclient, nbconvert, jupyterlab, secantus" 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/scripts/requirements.txt"
fi

if cargo install --list 2>/dev/null | grep -q "^evcxr_jupyter v$EVCXR_VERSION:"; then
  say "evcxr_jupyter $EVCXR_VERSION is installed"
else
  say "installing evcxr_jupyter $EVCXR_VERSION (cargo install --locked; about 20 minutes on 2 cores, once)"
  cargo install --locked --quiet evcxr_jupyter --version "$EVCXR_VERSION"
fi

# Register the project's `rust` kernel in the venv: evcxr_jupyter behind scripts/evcxr-kernel.sh,
# which keeps compiled dependencies between kernels. Our scripts put the venv first on
# JUPYTER_PATH, so this spec wins over a user-wide `rust` kernel.
KERNEL_DIR="$VENV/share/jupyter/kernels/rust"
mkdir -p "$KERNEL_DIR"
cat > "$KERNEL_DIR/kernel.json" <<JSON
{
  "argv": ["bash", "$ROOT/scripts/evcxr-kernel.sh", "--control_file", "{connection_file}"],
  "display_name": "Rust",
  "language": "rust",
  "interrupt_mode": "message"
}
JSON

if ! command -v mold >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing mold (evcxr links every cell; mold makes that faster)"
    (apt-get install -y -qq mold >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq mold >/dev/null 2>&1; }) \
      || warn "could not install mold; cells will link with the system linker (slower)"
  else
    warn "mold is not installed (sudo apt-get install mold): cells will link more slowly"
  fi
fi
say "setup done"
