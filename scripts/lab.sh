#!/usr/bin/env bash
# JupyterLab on the notebooks, with everything they need:
#
#   scripts/lab.sh                 services up, setup if anything is missing, JupyterLab on notebooks/
#   scripts/lab.sh --port 8899     … any option of `jupyter lab` is passed on (--ip 0.0.0.0 in a container)
#   scripts/lab.sh stop            shuts down every kernel of this checkout's JupyterLab, then the server
#   scripts/lab.sh status          the running servers and kernels, and the shared build they use
#
# As root (containers, VMs) it adds --allow-root. The URL with its token is printed when the
# server is up. Kernels stay alive while their tab is closed (JupyterLab reopens old tabs with
# their kernels): each holds 1-2 GB, so kernels that no tab uses are shut down after 30 idle
# minutes (M8_LAB_CULL_SECONDS; 0 keeps them). Kernel → Shut Down All Kernels stops them at once.
# M8_LAB_SETUP=0 skips the services and setup steps (the browser test, which did them).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
load_env

jupyter="$VENV/bin/jupyter"
# The servers this checkout started: `jupyter server list` filtered on our notebooks folder.
servers() {
  [ -x "$jupyter" ] || return 0
  "$jupyter" server list --json 2>/dev/null | python3 -c '
import json, os, sys
root = os.path.realpath(sys.argv[1])
for line in sys.stdin:
    try:
        s = json.loads(line)
    except ValueError:
        continue
    if os.path.realpath(s.get("root_dir") or s.get("notebook_dir") or "") == root:
        print(s["url"], s.get("port", ""), s.get("token", ""), s.get("pid", ""))
' "$ROOT/notebooks"
}

case "${1:-}" in
  stop)
    found=0
    while read -r url port token pid; do
      [ -n "$url" ] || continue
      found=1
      say "shutting down the kernels of $url (pid $pid)"
      # every kernel first, through the server's API (each one's directory is then removed), then the server
      python3 - "$url" "$token" <<'PY' || warn "could not list the kernels of $url"
import json, sys, urllib.request
url, token = sys.argv[1].rstrip("/"), sys.argv[2]
headers = {"Authorization": f"token {token}"} if token else {}
with urllib.request.urlopen(urllib.request.Request(f"{url}/api/kernels", headers=headers), timeout=10) as r:
    kernels = json.load(r)
for k in kernels:
    urllib.request.urlopen(urllib.request.Request(f"{url}/api/kernels/{k['id']}", method="DELETE", headers=headers), timeout=30)
print(f"{len(kernels)} kernel(s) shut down")
PY
      timeout 30 "$jupyter" server stop "$port" >/dev/null 2>&1 || { [ -n "$pid" ] && kill "$pid" 2>/dev/null; } || true
    done < <(servers)
    [ "$found" = 1 ] || say "no JupyterLab of this checkout is running"
    exit 0 ;;
  status)
    servers | while read -r url port token pid; do echo "server:     $url (pid $pid)"; done
    kernel_py builds.py status
    exit 0 ;;
esac

if [ "${M8_LAB_SETUP:-1}" != 0 ]; then
  "$ROOT/scripts/services.sh" up
  "$ROOT/scripts/setup.sh"
fi
[ -x "$jupyter" ] || die "JupyterLab is not installed in $VENV: run scripts/setup.sh"

args=(lab --ServerApp.root_dir="$ROOT/notebooks" --no-browser)
[ "$(id -u)" = 0 ] && args+=(--allow-root)
cull="${M8_LAB_CULL_SECONDS:-1800}"
if [ "$cull" != 0 ]; then
  args+=(--MappingKernelManager.cull_idle_timeout="$cull" --MappingKernelManager.cull_interval=300
         --MappingKernelManager.cull_connected=False)
fi
say "JupyterLab on $ROOT/notebooks — open the URL with the token printed below (Ctrl+C stops it; scripts/lab.sh stop from another shell)"
# The venv's kernels first: the project's `rust` kernel wins over a user-wide one of that name.
export JUPYTER_PATH="$VENV/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
exec "$jupyter" "${args[@]}" "$@"
