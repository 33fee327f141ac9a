#!/usr/bin/env bash
# Tests scripts/kernel-bin/cargo (the kernel's cargo, which replays the cell crate's rustc command
# instead of checking the whole graph when nothing in it changed) on a small crate shaped like
# evcxr's: a `ctx` cdylib with a path dependency inherited from a workspace. ~10 s.
# Checks that: the first build runs cargo and records; an edited cell is compiled by the replay
# (cargo not run) and the new code is in the library; a compile error comes back as cargo's JSON
# message with the error; an edited dependency, a changed Cargo.toml, and a replaced linked
# library each run cargo again; M8_FAST_CELLS=0 always runs cargo; other commands pass through.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ -n "$HOST_TRIPLE" ] || die "fast-cells self-test: no Rust toolchain"
work="$(mktemp -d "${TMPDIR:-/tmp}/m8-fast-cells.XXXXXX")"

real="$(rustup which cargo 2>/dev/null || command -v cargo)"
export RUSTC="$(rustup which rustc 2>/dev/null || command -v rustc)"
# The real cargo behind a logger: each call leaves a line, so a test can tell replay from build.
cat > "$work/real-cargo" <<EOF
#!/bin/sh
echo "\$*" >> "$work/cargo-calls"
exec "$real" "\$@"
EOF
chmod +x "$work/real-cargo"
export M8_REAL_CARGO="$work/real-cargo"
wrapper="$ROOT/scripts/kernel-bin/cargo"

mkdir -p "$work/ws/dep/src" "$work/ws/lib/src" "$work/slot/src"
cat > "$work/ws/Cargo.toml" <<'EOF'
[workspace]
members = ["dep", "lib"]
resolver = "2"
[workspace.dependencies]
dep = { path = "dep" }
EOF
printf '[package]\nname = "dep"\nversion = "0.1.0"\nedition = "2021"\n' > "$work/ws/dep/Cargo.toml"
echo 'pub fn base() -> u32 { 40 }' > "$work/ws/dep/src/lib.rs"
printf '[package]\nname = "lib"\nversion = "0.1.0"\nedition = "2021"\n[dependencies]\ndep = { workspace = true }\n' > "$work/ws/lib/Cargo.toml"
echo 'pub fn answer() -> u32 { dep::base() + 2 }' > "$work/ws/lib/src/lib.rs"
cat > "$work/slot/Cargo.toml" <<EOF
[package]
name = "ctx"
version = "1.0.0"
edition = "2024"
[lib]
crate-type = ["cdylib"]
path = "src/lib.rs"
[dependencies]
lib = { path = "$work/ws/lib" }
EOF

# evcxr's slot holds a lock file before the first cell (scripts/evcxr-kernel.sh copies one in)
(cd "$work/slot" && "$real" generate-lockfile --offline --quiet)
fails=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi; }
calls() { wc -l < "$work/cargo-calls" 2>/dev/null || echo 0; }
cell() {  # cell <source> → runs the wrapper as evcxr does; stdout in $work/out, status in $work/rc
  printf '%s\n' "$1" > "$work/slot/src/lib.rs"
  local rc=0
  (cd "$work/slot" && CARGO_TARGET_DIR=target RUSTFLAGS=-Cprefer-dynamic \
    "$wrapper" --offline build --target "$HOST_TRIPLE" --message-format=json) > "$work/out" 2> "$work/err" || rc=$?
  echo "$rc" > "$work/rc"
}
so="$work/slot/target/$HOST_TRIPLE/debug/libctx.so"
artifact_so() { python3 - "$work/out" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "ctx":
        print(next(f for f in m["filenames"] if f.endswith(".so")))
PY
}

cell '#[unsafe(no_mangle)] pub extern "C" fn cell_one() -> u32 { lib::answer() }'
check "first build runs cargo and succeeds" '[ "$(cat $work/rc)" = 0 ] && [ "$(calls)" = 1 ]'
check "first build records the cell's rustc command" '[ -s "$work/slot/target/m8-fast-cells.json" ]'
check "cargo's artifact message names the library" '[ "$(artifact_so)" = "$so" ] && [ -f "$so" ]'

cell '#[unsafe(no_mangle)] pub extern "C" fn cell_two() -> u32 { lib::answer() + 1 }'
check "an edited cell is compiled without running cargo" '[ "$(cat $work/rc)" = 0 ] && [ "$(calls)" = 1 ]'
check "the replay reports the library as cargo does" '[ "$(artifact_so)" = "$so" ] && grep -q "\"build-finished\", \"success\": true" "$work/out"'
check "the library holds the edited cell's code" 'nm -D "$so" | grep -q cell_two && ! nm -D "$so" | grep -q cell_one'

cell 'pub fn broken() -> u32 { "not a number" }'
check "a compile error fails the build" '[ "$(cat $work/rc)" != 0 ] && [ "$(calls)" = 1 ]'
check "the error comes back as a cargo JSON message" 'grep -q "\"reason\": \"compiler-message\"" "$work/out" && grep -q "mismatched types" "$work/out"'

echo 'pub fn base() -> u32 { 50 }' > "$work/ws/dep/src/lib.rs"
cell '#[unsafe(no_mangle)] pub extern "C" fn cell_three() -> u32 { lib::answer() }'
check "an edited dependency (inherited from a workspace) runs cargo" '[ "$(cat $work/rc)" = 0 ] && [ "$(calls)" = 2 ]'
cell '#[unsafe(no_mangle)] pub extern "C" fn cell_four() -> u32 { lib::answer() }'
check "after that build, cells replay again" '[ "$(cat $work/rc)" = 0 ] && [ "$(calls)" = 2 ]'

printf '\n[profile.dev]\nopt-level = 0\n' >> "$work/slot/Cargo.toml"
cell '#[unsafe(no_mangle)] pub extern "C" fn cell_five() -> u32 { lib::answer() }'
check "a changed Cargo.toml runs cargo" '[ "$(cat $work/rc)" = 0 ] && [ "$(calls)" = 3 ]'

for f in "$work/slot/target/$HOST_TRIPLE/debug/deps/"liblib-*.rlib; do touch -d '+1 second' "$f"; done
cell '#[unsafe(no_mangle)] pub extern "C" fn cell_six() -> u32 { lib::answer() }'
check "a replaced linked library runs cargo" '[ "$(cat $work/rc)" = 0 ] && [ "$(calls)" = 4 ]'

M8_FAST_CELLS=0 cell '#[unsafe(no_mangle)] pub extern "C" fn cell_seven() -> u32 { lib::answer() }'
check "M8_FAST_CELLS=0 runs cargo" '[ "$(cat $work/rc)" = 0 ] && [ "$(calls)" = 5 ]'

(cd "$work/slot" && "$wrapper" metadata --format-version 1 --offline > "$work/out" 2>/dev/null)
check "other commands go to cargo" '[ "$(calls)" = 6 ] && grep -q "\"workspace_members\"" "$work/out"'

[ "$fails" = 0 ] && rm -rf "$work" || die "fast-cells self-test: $fails check(s) failed (work dir kept: $work)"
say "fast-cells self-test: all checks passed"
