# Shared by the scripts: paths and small helpers. Source it, don't run it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${M8_VENV:-$ROOT/.venv}"
RUN_DIR="${M8_RUN_DIR:-$ROOT/.run}"   # pid files and logs of what our scripts started
OUT_DIR="${M8_OUT_DIR:-$ROOT/out}"
EVCXR_VERSION="0.22.0"
# Compiled notebook dependencies are kept here, outside the checkout, so a fresh clone
# (and every later run) reuses them. One kernel at a time may use it: the runner is sequential.
M8_CACHE="${M8_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/module8}"
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
# TEST_POSTGRES_URL, else DATABASE_URL when that is PostgreSQL, else the compose file's database
# with M8_SERVICES=docker, else the local server's `test` database.
test_postgres_url() {
  if [ -n "${TEST_POSTGRES_URL:-}" ]; then echo "$TEST_POSTGRES_URL"; return; fi
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

# The notebook kernel's build (scripts/evcxr-kernel.sh, scripts/build-kernel.sh) and the test
# build share one target directory: the first kept build slot's. evcxr builds with these
# RUSTFLAGS and an explicit --target; the workspace's profile for dependencies matches evcxr's
# (Cargo.toml), so cargo compiles every dependency once for both.
HOST_TRIPLE="$(rustc -vV 2>/dev/null | sed -n 's/^host: //p' || true)"   # empty without Rust (services.sh needs none)
KERNEL_SLOT="$M8_CACHE/evcxr-build"
KERNEL_RUSTFLAGS="-Cprefer-dynamic"

# Readies a kernel build slot for this checkout (scripts/evcxr-kernel.sh, build-kernel.sh):
#  - the kernel's cargo settings (scripts/evcxr-cargo-config.toml: opt-levels, dependencies 1,
#    each cell 0), above every slot where cargo finds them; copied only when changed, so the
#    build stays fresh;
#  - the workspace's lock file: the kernel compiles the very versions the tests ran against
#    (and shares their build); evcxr adds its own crate to it;
#  - the slot claimed for this checkout. The shared library the cells link against is named
#    libhelpers_dylib.so with no hash, so two checkouts (a clone in CI, your working copy)
#    building into one slot overwrite each other's file while cargo's records of each still
#    look fresh: a kernel could link the other checkout's code. The slot remembers which
#    checkout built it last; for another one, the library is removed and cargo builds it
#    again (~3 min).
prepare_kernel_slot() {
  local slot="$1" marker="$1/.checkout" me
  mkdir -p "$slot" "$M8_CACHE/.cargo"
  cmp -s "$ROOT/scripts/evcxr-cargo-config.toml" "$M8_CACHE/.cargo/config.toml" || cp "$ROOT/scripts/evcxr-cargo-config.toml" "$M8_CACHE/.cargo/config.toml"
  # The workspace's lock file, when it changed since this slot last took it: cargo rewrites the
  # slot's copy for evcxr's crates (its root and dev-dependencies differ), which is the same
  # resolution, and the kernel's kept builds (scripts/kernel-cargo.py) are keyed on it.
  if ! cmp -s "$ROOT/Cargo.lock" "$slot/Cargo.lock.workspace" || [ ! -f "$slot/Cargo.lock" ]; then
    cp "$ROOT/Cargo.lock" "$slot/Cargo.lock" && cp "$ROOT/Cargo.lock" "$slot/Cargo.lock.workspace"
  fi
  me="$(cd "$ROOT" && pwd -P)"
  if [ "$(cat "$marker" 2>/dev/null || true)" != "$me" ]; then
    rm -f "$slot/target/$HOST_TRIPLE/debug/deps/libhelpers_dylib.so" "$slot/target/$HOST_TRIPLE/debug/libhelpers_dylib.so"
    printf '%s\n' "$me" > "$marker"
  fi
}

# The standard library's sources as the notebook kernel's rust-analyzer reads them
# (scripts/evcxr-kernel.sh): a copy of the toolchain's rust-src `library` folder in which the
# files no cell's value comes from are empty — core::arch's per-architecture intrinsics
# (stdarch), core::simd (portable-simd) and compiler-builtins, ~25 MB of the ~52 MB. Hard links
# to the toolchain's files (a plain copy where that fails); emptied files are replaced, never
# written through a link. Made once per toolchain under $M8_CACHE/rust-src/<key>/ (the key is
# the sysroot, its sources' lock file and stamps; an older key is removed), in a path that ends like a
# sysroot's (lib/rustlib/src/rust/library). Prints the folder; fails, printing nothing, when
# the toolchain has no rust-src.
trimmed_rust_src() {
  local sysroot="$1" src key base lib tmp f
  src="$sysroot/lib/rustlib/src/rust/library"
  [ -f "$src/core/src/lib.rs" ] || return 1
  key="$( { printf '%s\n' "$sysroot"; cat "$src/Cargo.lock"; stat -L -c '%n %s %Y' "$src/core/src/lib.rs" "$src/std/src/lib.rs"; } 2>/dev/null | sha256sum | cut -c1-16)"
  base="$M8_CACHE/rust-src"
  lib="$base/$key/lib/rustlib/src/rust/library"
  if [ ! -f "$lib/core/src/lib.rs" ]; then
    mkdir -p "$base" || return 1
    tmp="$(mktemp -d "$base/.$key.XXXXXX")" || return 1
    mkdir -p "$tmp/lib/rustlib/src/rust/library"
    if ! { cp -al "$src/." "$tmp/lib/rustlib/src/rust/library/" 2>/dev/null || cp -a "$src/." "$tmp/lib/rustlib/src/rust/library/"; }; then
      rm -rf "$tmp"; return 1
    fi
    (
      cd "$tmp/lib/rustlib/src/rust/library" || exit 1
      find stdarch/crates/core_arch/src -mindepth 2 -name '*.rs' ! -name mod.rs
      find portable-simd/crates/core_simd/src compiler-builtins/compiler-builtins/src compiler-builtins/libm/src \
        -name '*.rs' ! -name mod.rs ! -name lib.rs
    ) 2>/dev/null | while IFS= read -r f; do
      f="$tmp/lib/rustlib/src/rust/library/$f"
      rm -f "$f" && : > "$f"
    done
    # Another kernel may have made it meanwhile: keep the first one.
    if mv -T "$tmp" "$base/$key" 2>/dev/null; then
      for f in "$base"/*/; do [ "${f%/}" = "$base/$key" ] || rm -rf "${f%/}"; done
    else
      rm -rf "$tmp"
    fi
  fi
  [ -f "$lib/core/src/lib.rs" ] && printf '%s\n' "$lib"
}
