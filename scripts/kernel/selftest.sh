#!/usr/bin/env bash
# Tests scripts/kernel/bin/cargo (cargo.py: the kernel's cargo, which replays the cell crate's rustc command
# instead of checking the whole graph when nothing in it changed) on a small crate shaped like
# evcxr's: a `ctx` cdylib with a path dependency inherited from a workspace. ~10 s.
# Checks that: the first build runs cargo and records; an edited cell is compiled by the replay
# (cargo not run) and the new code is in the library; a compile error comes back as cargo's JSON
# message with the error; an edited dependency, a changed Cargo.toml, and a replaced linked
# library each run cargo again; M8_FAST_CELLS=0 always runs cargo; other commands pass through.
# And the cargo the kernel's rust-analyzer runs (scripts/kernel/home): its `cargo metadata` for the
# cell crate comes back cut to the path crates and the crates M8_KERNEL_ANALYSIS names, is kept
# while the manifests do not change, and every real cargo it runs gets the real CARGO_HOME; its
# other questions are asked of cargo once while what they depend on is unchanged. And the kernel's
# cargo settings agree with the workspace's profile for dependencies, key by key.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
[ -n "$HOST_TRIPLE" ] || die "fast-cells self-test: no Rust toolchain"
work="$(mktemp -d "${TMPDIR:-/tmp}/m8-fast-cells.XXXXXX")"

real="$(rustup which cargo 2>/dev/null || command -v cargo)"
export RUSTC="$(rustup which rustc 2>/dev/null || command -v rustc)"
# The real cargo behind a logger: each call leaves a line, so a test can tell replay from build.
cat > "$work/real-cargo" <<EOF
#!/bin/sh
echo "\$*" >> "$work/cargo-calls"
echo "\${CARGO_HOME:-unset}" >> "$work/cargo-homes"
exec "$real" "\$@"
EOF
chmod +x "$work/real-cargo"
export M8_REAL_CARGO="$work/real-cargo"
wrapper="$ROOT/scripts/kernel/bin/cargo"

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

# evcxr's slot holds a lock file before the first cell (builds.prepare copies one in)
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

# A kernel builds its start-up crate, then the crate with its `:dep`s: each keeps its record.
cp "$work/slot/Cargo.toml" "$work/ctx.toml"
printf '\n[features]\nother = []\n' >> "$work/slot/Cargo.toml"
before="$(calls)"
cell '#[unsafe(no_mangle)] pub extern "C" fn cell_eight() -> u32 { lib::answer() }'
check "another crate in the same directory runs cargo" '[ "$(cat $work/rc)" = 0 ] && [ "$(calls)" = $((before + 1)) ]'
cp "$work/ctx.toml" "$work/slot/Cargo.toml"
cell '#[unsafe(no_mangle)] pub extern "C" fn cell_nine() -> u32 { lib::answer() }'
check "the crate before it replays again" '[ "$(cat $work/rc)" = 0 ] && [ "$(calls)" = $((before + 1)) ] && nm -D "$so" | grep -q cell_nine'
# evcxr checks a `:dep` by `cargo metadata` on a package of another name in the same directory,
# which rewrites Cargo.lock with that root: the same resolution, so cells still replay.
sed 's/^name = "ctx"/name = "evcxr_dummy_validate_dep"/' "$work/ctx.toml" > "$work/slot/Cargo.toml"
(cd "$work/slot" && "$real" metadata --offline --format-version 1 > /dev/null 2>&1)
check "(the lock file now names the other root)" 'grep -q evcxr_dummy_validate_dep "$work/slot/Cargo.lock"'
cp "$work/ctx.toml" "$work/slot/Cargo.toml"
cell '#[unsafe(no_mangle)] pub extern "C" fn cell_ten() -> u32 { lib::answer() }'
check "a lock file rewritten for another root still replays" '[ "$(cat $work/rc)" = 0 ] && [ "$(calls)" = $((before + 1)) ] && nm -D "$so" | grep -q cell_ten'

# --- the kernel's rust-analyzer: `cargo metadata` through scripts/kernel/home --------------------
# lib depends on serde_json (and so on serde, itoa, memchr, ryu …): only what is named stays.
printf '[package]\nname = "lib"\nversion = "0.1.0"\nedition = "2021"\n[dependencies]\ndep = { workspace = true }\nserde_json = "1"\n' > "$work/ws/lib/Cargo.toml"
(cd "$work/slot" && "$real" generate-lockfile --offline --quiet)
analysis() {  # analysis <M8_KERNEL_ANALYSIS> <args…> → rust-analyzer's call; answer in $work/out
  local patterns="$1"; shift
  (cd "$work/slot" && CARGO_HOME="$ROOT/scripts/kernel/home" M8_KERNEL_CARGO_HOME="$ROOT/scripts/kernel/home" \
    M8_REAL_CARGO_HOME="$work/real-home" M8_KERNEL_ANALYSIS="$patterns" M8_CACHE="$work/cache" \
    "$ROOT/scripts/kernel/home/bin/cargo" metadata --format-version 1 "$@") > "$work/out" 2>/dev/null
}
names() { python3 -c 'import json,sys; print(",".join(sorted(p["name"] for p in json.load(open(sys.argv[1]))["packages"])))' "$work/out"; }
mkdir -p "$work/real-home" && ln -s "${CARGO_HOME:-$HOME/.cargo}/registry" "$work/real-home/registry"
before="$(calls)"
analysis 'itoa,mem*' --offline --manifest-path "$work/slot/Cargo.toml"
check "rust-analyzer's metadata keeps the path crates and the named ones" '[ "$(names)" = "ctx,dep,itoa,lib,memchr" ]'
check "… from one run of the real cargo, with the real CARGO_HOME" '[ "$(calls)" = $((before + 1)) ] && [ "$(tail -1 "$work/cargo-homes")" = "$work/real-home" ]'
check "… and edges to dropped crates are gone" 'python3 -c "import json,sys; m=json.load(open(sys.argv[1])); ids={p[\"id\"] for p in m[\"packages\"]}; sys.exit(any(d[\"pkg\"] not in ids for n in m[\"resolve\"][\"nodes\"] for d in n[\"deps\"]))" "$work/out"'
analysis 'itoa,mem*' --offline --manifest-path "$work/slot/Cargo.toml"
check "the same question again is answered without cargo" '[ "$(names)" = "ctx,dep,itoa,lib,memchr" ] && [ "$(calls)" = $((before + 1)) ]'
printf '\n[features]\nextra = []\n' >> "$work/ws/lib/Cargo.toml"
analysis 'itoa,mem*' --offline --manifest-path "$work/slot/Cargo.toml"
check "a changed manifest of a path crate asks cargo again" '[ "$(names)" = "ctx,dep,itoa,lib,memchr" ] && [ "$(calls)" = $((before + 2)) ]'
analysis '*' --offline --manifest-path "$work/slot/Cargo.toml"
check "M8_KERNEL_ANALYSIS='*' keeps every package" 'names | grep -q "serde_json" && [ "$(names | tr , "\\n" | wc -l)" -gt 5 ]'
analysis 'itoa' --offline --no-deps --manifest-path "$work/slot/Cargo.toml"
check "--no-deps and other commands go to cargo unchanged" '[ "$(names)" = "ctx" ] && [ "$(tail -1 "$work/cargo-homes")" = "$work/real-home" ]'

# rust-analyzer's other questions (the manifest with --no-deps, the toolchain, the config): kept
# while what they depend on is unchanged; a copy of the lock file counts by its content.
before="$(calls)"
analysis 'itoa' --offline --no-deps --manifest-path "$work/slot/Cargo.toml"
check "the same --no-deps question again is answered without cargo" '[ "$(names)" = "ctx" ] && [ "$(calls)" = "$before" ]'
cp "$work/slot/Cargo.lock" "$work/lock-a"; cp "$work/slot/Cargo.lock" "$work/lock-b"
CARGO_RESOLVER_LOCKFILE_PATH="$work/lock-a" analysis 'itoa' --offline --no-deps --manifest-path "$work/slot/Cargo.toml"
CARGO_RESOLVER_LOCKFILE_PATH="$work/lock-b" analysis 'itoa' --offline --no-deps --manifest-path "$work/slot/Cargo.toml"
check "a copy of the lock file in another place is the same question" '[ "$(names)" = "ctx" ] && [ "$(calls)" = $((before + 1)) ]'
echo '# edited' >> "$work/slot/Cargo.toml"
analysis 'itoa' --offline --no-deps --manifest-path "$work/slot/Cargo.toml"
check "an edited manifest asks cargo again" '[ "$(names)" = "ctx" ] && [ "$(calls)" = $((before + 2)) ]'
cp "$work/ctx.toml" "$work/slot/Cargo.toml"
query() {
  local rc=0
  (cd "$work/slot" && CARGO_HOME="$ROOT/scripts/kernel/home" M8_REAL_CARGO_HOME="$work/real-home" M8_CACHE="$work/cache" \
    "$ROOT/scripts/kernel/home/bin/cargo" "$@") > "$work/out" 2>/dev/null || rc=$?
  echo "$rc" > "$work/rc"
}
before="$(calls)"
query --version; query --version
check "cargo --version is asked once" '[ "$(calls)" = $((before + 1)) ] && grep -q "^cargo " "$work/out"'
M8_KERNEL_QUERIES=0 query --version
check "M8_KERNEL_QUERIES=0 asks cargo every time" '[ "$(calls)" = $((before + 2)) ] && grep -q "^cargo " "$work/out"'
query locate-project --no-such-flag; query locate-project --no-such-flag
check "a failed answer is not kept (and its status comes back)" '[ "$(calls)" = $((before + 4)) ] && [ "$(cat "$work/rc")" != 0 ]'
before="$(calls)"
query metadata --offline --format-version 1; query metadata --offline --format-version 1
check "a whole graph's metadata without the toolchain's manifest is never kept" '[ "$(calls)" = $((before + 2)) ] && names | grep -q "^ctx,"'
query rustc --offline --lib; query rustc --offline --lib
check "cargo rustc without --print (a build) is never kept" '[ "$(calls)" = $((before + 4)) ] && [ "$(cat "$work/rc")" = 0 ]'

# evcxr's check of a `:dep` (`cargo metadata` on its dummy package in the slot): kept too
sed 's/^name = "ctx"/name = "evcxr_dummy_validate_dep"/' "$work/ctx.toml" > "$work/slot/Cargo.toml"
validate() { (cd "$work/slot" && "$wrapper" --offline metadata --format-version=1) > "$work/out" 2>/dev/null; }
before="$(calls)"
validate; validate
check "evcxr's check of a :dep runs cargo once, then is answered from what was kept" '[ "$(calls)" = $((before + 1)) ] && grep -q "\"evcxr_dummy_validate_dep\"" "$work/out"'
cp "$work/ctx.toml" "$work/slot/Cargo.toml"

# --- one shared build, many kernels (builds.py) ---------------------------------------------------
# The slot above is published; a kernel's directory is a clone of it under a cache of our own.
cache="$work/cache2"
b() { M8_CACHE="$cache" python3 -S - "$@" <<PY
import sys; sys.path.insert(0, "$ROOT/scripts/kernel"); import builds
$(cat)
PY
}
in_dir() {  # in_dir <dir> <source> → the kernel's cargo in <dir>, as `cell` does in the slot
  printf '%s\n' "$2" > "$1/src/lib.rs"
  local rc=0
  (cd "$1" && M8_CACHE="$cache" CARGO_TARGET_DIR=target RUSTFLAGS=-Cprefer-dynamic \
    "$wrapper" --offline build --target "$HOST_TRIPLE" --message-format=json) > "$work/out" 2> "$work/err" || rc=$?
  echo "$rc" > "$work/rc"
}
new_kernel() {  # new_kernel <name> → $cache/kernels/<name>, cloned from the published build, with evcxr's files
  local d="$cache/kernels/$1"
  mkdir -p "$d/src" && : > "$d.lock"
  echo "builds.clone_current('$d')" | b
  cp "$work/slot/Cargo.toml" "$work/slot/Cargo.lock" "$d/"
  echo "$d"
}
cell '#[unsafe(no_mangle)] pub extern "C" fn cell_published() -> u32 { lib::answer() }'   # records the graph as it is now
echo "builds.publish('$work/slot', 'selftest')" | b
check "a build is published as the current one" '[ "$(readlink "$cache/published/current")" = 1 ] && [ -f "$cache/published/1/published.json" ]'
one="$(new_kernel one)"
rlib="$(cd "$work/slot/target/$HOST_TRIPLE/debug/deps" && ls liblib-*.rlib | head -1)"
fp="$(cd "$work/slot/target/$HOST_TRIPLE/debug/.fingerprint" && ls -d lib-* | head -1)"
same_inode() { [ "$(stat -c %i "$1")" = "$(stat -c %i "$2")" ]; }
check "a kernel's clone links the compiled libraries" "same_inode '$cache/published/1/target/$HOST_TRIPLE/debug/deps/$rlib' '$one/target/$HOST_TRIPLE/debug/deps/$rlib'"
fpfile="$HOST_TRIPLE/debug/.fingerprint/$fp/lib-lib"
check "… and at first the files cargo writes in place too (fingerprints: a clone costs links only)" "same_inode '$cache/published/1/target/$fpfile' '$one/target/$fpfile'"
echo "print(builds.private_copies('$one'))" | b > "$work/private"
check "… which become its own copies before cargo may build there" "[ \"\$(cat $work/private)\" -gt 0 ] && ! same_inode '$cache/published/1/target/$fpfile' '$one/target/$fpfile' && cmp -s '$cache/published/1/target/$fpfile' '$one/target/$fpfile' && same_inode '$cache/published/1/target/$HOST_TRIPLE/debug/deps/$rlib' '$one/target/$HOST_TRIPLE/debug/deps/$rlib'"
check "what the kernel's cargo kept is stored without the directory's path" '! grep -q "$work/slot" "$cache/published/1/target/m8-fast-cells.json" && grep -q "@M8_SLOT@" "$cache/published/1/target/m8-fast-cells.json"'
before="$(calls)"
in_dir "$one" '#[unsafe(no_mangle)] pub extern "C" fn cell_clone() -> u32 { lib::answer() }'
check "a clone's first cell replays the published build's record (no cargo)" '[ "$(cat $work/rc)" = 0 ] && [ "$(calls)" = "$before" ] && nm -D "$one/target/$HOST_TRIPLE/debug/libctx.so" | grep -q cell_clone'
check "… in its own directory: the published build and the slot keep their cell" '! nm -D "$work/slot/target/$HOST_TRIPLE/debug/libctx.so" | grep -q cell_clone && grep -q "\"$one/target" "$work/out"'
echo 'pub fn base() -> u32 { 60 }' > "$work/ws/dep/src/lib.rs"
in_dir "$one" '#[unsafe(no_mangle)] pub extern "C" fn cell_edited() -> u32 { lib::answer() }'
check "an edited dependency: the kernel runs cargo and publishes what it compiled" '[ "$(cat $work/rc)" = 0 ] && [ "$(calls)" = $((before + 1)) ] && [ "$(readlink "$cache/published/current")" = 2 ]'
check "… the older published build is gone, the slot untouched" '[ ! -d "$cache/published/1" ] && ! nm -D "$work/slot/target/$HOST_TRIPLE/debug/libctx.so" | grep -q cell_edited'
two="$(new_kernel two)"
before="$(calls)"
in_dir "$two" '#[unsafe(no_mangle)] pub extern "C" fn cell_two_first() -> u32 { lib::answer() }'
check "the next kernel starts from it: its first cell replays" '[ "$(cat $work/rc)" = 0 ] && [ "$(calls)" = "$before" ] && nm -D "$two/target/$HOST_TRIPLE/debug/libctx.so" | grep -q cell_two_first'
# A kernel whose graph must be built while another build holds the lock waits, and says so.
flock "$cache/build.lock" sleep 4 &
holder=$!
echo '{"what": "a test build", "pid": 1, "started": 0}' > "$cache/build.lock.json"
sleep 0.5
echo 'pub fn base() -> u32 { 70 }' > "$work/ws/dep/src/lib.rs"
start=$(date +%s%N)
in_dir "$two" '#[unsafe(no_mangle)] pub extern "C" fn cell_two_waits() -> u32 { lib::answer() }'
waited=$(( ($(date +%s%N) - start) / 1000000 ))
wait "$holder"
check "a kernel that must build waits for the build lock ($waited ms) and says for whom, as cargo progress" '[ "$(cat $work/rc)" = 0 ] && [ "$waited" -ge 3000 ] && grep -Eq "^ +Compiling helpers \(waiting for a test build" "$work/err"'
# Kernels that ended leave their directory to the next one's sweep; running ones keep theirs.
flock "$two.lock" sleep 3 &
holder=$!
sleep 0.3
echo "print(builds.sweep())" | b > "$work/swept"
check "the sweep removes an ended kernel's directory and keeps a running one's" '[ "$(cat "$work/swept")" = 1 ] && [ ! -d "$one" ] && [ ! -e "$one.lock" ] && [ -d "$two" ]'
wait "$holder"
check "… and the build lock's holder is released (the lock is free again)" 'flock -n "$cache/build.lock" true'

# The standard library's sources for the kernel's rust-analyzer (builds.py, trimmed_rust_src), on
# a toolchain of our own
fake="$work/toolchain" lib="$work/toolchain/lib/rustlib/src/rust/library"
mkdir -p "$lib/core/src" "$lib/std/src" "$lib/stdarch/crates/core_arch/src/x86" "$lib/portable-simd/crates/core_simd/src"
echo 'pub mod arch;' > "$lib/core/src/lib.rs"; echo 'pub use core::*;' > "$lib/std/src/lib.rs"; echo 'version = 4' > "$lib/Cargo.lock"
echo 'mod x86;' > "$lib/stdarch/crates/core_arch/src/mod.rs"; echo 'mod avx;' > "$lib/stdarch/crates/core_arch/src/x86/mod.rs"
echo 'pub fn _mm256_add_ps() {}' > "$lib/stdarch/crates/core_arch/src/x86/avx.rs"
echo 'mod vector;' > "$lib/portable-simd/crates/core_simd/src/mod.rs"; echo 'pub struct Simd;' > "$lib/portable-simd/crates/core_simd/src/vector.rs"
trimmed="$(M8_CACHE="$work/cache" kernel_py builds.py rust-src "$fake")"
check "the trimmed sources are a copy under the cache, in a sysroot-like path" '[[ "$trimmed" == "$work/cache/rust-src/"*"/lib/rustlib/src/rust/library" ]] && [ -s "$trimmed/core/src/lib.rs" ] && [ -s "$trimmed/std/src/lib.rs" ]'
check "the intrinsics and core::simd are empty there, their modules kept" '[ ! -s "$trimmed/stdarch/crates/core_arch/src/x86/avx.rs" ] && [ -f "$trimmed/stdarch/crates/core_arch/src/x86/avx.rs" ] && [ -s "$trimmed/stdarch/crates/core_arch/src/x86/mod.rs" ] && [ ! -s "$trimmed/portable-simd/crates/core_simd/src/vector.rs" ]'
check "the toolchain's own files are untouched" 'grep -q _mm256_add_ps "$lib/stdarch/crates/core_arch/src/x86/avx.rs" && grep -q "pub struct Simd" "$lib/portable-simd/crates/core_simd/src/vector.rs"'
again="$(M8_CACHE="$work/cache" kernel_py builds.py rust-src "$fake")"
check "the copy is made once" '[ "$again" = "$trimmed" ]'
echo 'version = 5' > "$lib/Cargo.lock"
updated="$(M8_CACHE="$work/cache" kernel_py builds.py rust-src "$fake")"
check "an updated toolchain gets a new copy, and the old one goes" '[ "$updated" != "$trimmed" ] && [ -s "$updated/core/src/lib.rs" ] && [ ! -d "$trimmed" ]'
rm "$lib/core/src/lib.rs"
check "without rust-src there is nothing to trim" '! M8_CACHE="$work/cache" kernel_py builds.py rust-src "$fake" >/dev/null'

# The kernel's cargo settings (scripts/kernel/cargo-config.toml) and the workspace's profile for
# dependencies (Cargo.toml) are one setting written twice: `cargo test` in the kernel's build slot
# reuses the kernel's dependencies only while every key agrees (docs/evcxr.md).
profiles_agree() { python3 - "$ROOT/scripts/kernel/cargo-config.toml" "$ROOT/Cargo.toml" <<'PY'
import sys, tomllib
kernel, workspace = (tomllib.load(open(path, "rb"))["profile"]["dev"] for path in sys.argv[1:])
differ = [f"[profile.dev] {key}" for key, value in kernel.items()
          if key not in ("package", "build-override") and workspace.get(key) != value]
if kernel.get("build-override") != workspace.get("build-override"):
    differ.append("[profile.dev.build-override]")
# ctx is the kernel's cell crate, helpers the workspace's own: each profile has its own.
packages = lambda profile, own: {name: keys for name, keys in profile.get("package", {}).items() if name != own}
k, w = packages(kernel, "ctx"), packages(workspace, "helpers")
differ += [f"[profile.dev.package.{name}]" for name in sorted(k.keys() | w.keys()) if k.get(name) != w.get(name)]
for d in differ: print(f"     differs: {d}", file=sys.stderr)
sys.exit(1 if differ else 0)
PY
}
check "the workspace's profile for dependencies is the kernel's" profiles_agree

[ "$fails" = 0 ] && rm -rf "$work" || die "fast-cells self-test: $fails check(s) failed (work dir kept: $work)"
say "fast-cells self-test: all checks passed"
