#!/usr/bin/env bash
# The main job: services up, tools installed, every notebook executed headless into out/.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
load_env
"$ROOT/scripts/services.sh" up
"$ROOT/scripts/setup.sh"
say "executing the notebooks into $OUT_DIR"
"$VENV/bin/python" "$ROOT/scripts/run_notebooks.py" --out "$OUT_DIR" "$@"
