# Shared by the scripts: paths and small helpers. Source it, don't run it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${M8_VENV:-$ROOT/.venv}"
RUN_DIR="${M8_RUN_DIR:-$ROOT/.run}"   # pid files and logs of what our scripts started
OUT_DIR="${M8_OUT_DIR:-$ROOT/out}"
EVCXR_VERSION="0.22.0"
# Compiled notebook dependencies are kept here, outside the checkout, so a fresh clone (and
# every later run) reuses them; any number of kernels share them (scripts/kernel/README.md).
export M8_CACHE="${M8_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/module8}"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
warn() { printf '\033[33mwarning:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# Load .env (if any) without overriding what the caller exported.
load_env() {
  [ -f "$ROOT/.env" ] && while IFS='=' read -r key value; do
    case "$key" in ''|\#*) continue ;; esac
    key="$(echo "$key" | xargs)"
    [ -n "${!key:-}" ] || export "$key=$value"
  done < "$ROOT/.env"
  TEST_POSTGRES_URL="$(test_postgres_url)"; export TEST_POSTGRES_URL
}

# The PostgreSQL that the tests, the bench and the runner's `postgres` variant use:
# TEST_POSTGRES_URL (unless blank), else DATABASE_URL when that is PostgreSQL, else the compose
# file's database with M8_SERVICES=docker, else the local server's `test` database. The crate's
# `config::test_postgres_url` is the same rule; tests/services.rs checks that both agree.
test_postgres_url() {
  case "${TEST_POSTGRES_URL:-}" in *[![:space:]]*) echo "$TEST_POSTGRES_URL"; return ;; esac
  case "${DATABASE_URL:-}" in postgres://*|postgresql://*) echo "$DATABASE_URL"; return ;; esac
  if [ "${M8_SERVICES:-local}" = docker ]; then echo "postgres://app:app@127.0.0.1:5432/module8"
  else echo "postgres://postgres@127.0.0.1:5432/test"; fi
}

# host and port of a URL (first host; default port as $2)
url_host() { python3 - "$1" "$2" <<'PY'
import sys, re
url, default = sys.argv[1], sys.argv[2]
rest = url.split("://", 1)[1] if "://" in url else ""
# the user-info ends at the last '@' (a password may hold '/', '?', '#' or '@'), as in mask_url
after = rest.rsplit("@", 1)[-1]
host = re.split(r"[/?#]", after, maxsplit=1)[0].split(",")[0]
if host.startswith("["):
    h, _, p = host[1:].partition("]")
    p = p.lstrip(":")
else:
    h, _, p = host.rpartition(":") if ":" in host else (host, "", "")
print(h or "127.0.0.1", p or default)
PY
}

# user, password and database of a PostgreSQL URL, percent-decoded, each followed by a NUL
pg_url_parts() { python3 - "$1" <<'PY'
import sys
from urllib.parse import unquote
url = sys.argv[1]
rest = url.split("://", 1)[1] if "://" in url else url
userinfo, _, after = rest.rpartition("@")
user, _, password = userinfo.partition(":")
path = after.split("/", 1)[1] if "/" in after else ""
db = path.split("?", 1)[0].split("#", 1)[0]
user = unquote(user) or "postgres"
for part in (user, unquote(password), unquote(db) or user):
    sys.stdout.write(part + "\0")
PY
}

# The project's Python venv ($VENV), created when missing; the notebook tools (setup.sh) and
# SecantusDB (services.sh) are installed into it.
ensure_venv() {
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" \
    || die "python3 -m venv failed: install python3-venv (sudo apt-get install -y python3-venv)"
}

# true when something accepts TCP connections on host port (bounded: 2 s)
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# masked URL for messages: user:***@host
mask() { python3 -c 'import sys,re; print(re.sub(r"(://[^:/@]*):.*@", r"\1:***@", sys.argv[1]))' "$1"; }

# The notebook kernel's compiled builds live under $M8_CACHE (scripts/kernel/README.md): the
# graph is compiled in $KERNEL_BUILD (scripts/kernel/builds.py build, and the tests), published,
# and every kernel starts from a hard-linked clone of the published build. The tests build with
# evcxr's RUSTFLAGS and an explicit --target in the same directory, and the workspace's profile
# for dependencies matches the kernel's (Cargo.toml), so cargo compiles every dependency once.
HOST_TRIPLE="$(rustc -vV 2>/dev/null | sed -n 's/^host: //p' || true)"   # empty without Rust (services.sh needs none)
KERNEL_BUILD="$M8_CACHE/build"
KERNEL_RUSTFLAGS="-Cprefer-dynamic"

# The kernel's Python pieces (scripts/kernel/*.py) with the interpreter the kernel runs them with.
kernel_py() { python3 -S "$ROOT/scripts/kernel/$1" "${@:2}"; }
