#!/usr/bin/env bash
# Compiles what the notebook kernel needs (helpers-dylib and every dependency) into the first
# kept build slot, exactly as evcxr will ask for it — the same generated crate, profile,
# RUSTFLAGS, --target and lock file — so the first notebook cell finds it built. setup.sh runs
# this beside `cargo install evcxr_jupyter`; by hand it is `scripts/build-kernel.sh`.
#
# If evcxr's generated Cargo.toml changes (a new evcxr version), cargo simply rebuilds what no
# longer matches on the first cell: this script saves time, it is never needed for correctness.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
mkdir -p "$KERNEL_SLOT/src"
# One kernel (or build) per slot at a time: wait for a running kernel to let go (bounded).
exec 9>"$M8_CACHE/evcxr-build.lock"
flock -w 3600 9 || die "the kernel build slot $KERNEL_SLOT stayed busy for an hour"
# The crate evcxr 0.22 writes for a kernel whose only dependency is the notebooks' `:dep` line
# (evcxr/src/module.rs, get_cargo_toml_contents; paths made absolute as evcxr does).
cat > "$KERNEL_SLOT/Cargo.toml" <<TOML

[package]
name = "ctx"
version = "1.0.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]
path = "src/lib.rs"

[profile.dev]
opt-level = 2
debug = false
strip = "debuginfo"
rpath = true
lto = false
debug-assertions = true
codegen-units = 16
panic = 'unwind'
incremental = true
overflow-checks = true

[dependencies]
helpers = { path = "$(cd "$ROOT/helpers-dylib" && pwd -P)", package = "helpers-dylib" }

TOML
: > "$KERNEL_SLOT/src/lib.rs"
prepare_kernel_slot "$KERNEL_SLOT"
say "compiling the notebook kernel's dependencies into $KERNEL_SLOT (once per machine; 12–22 min on 2 cores)"
started=$(date +%s)
(cd "$KERNEL_SLOT" && CARGO_TARGET_DIR=target CARGO_BUILD_BUILD_DIR=target RUSTFLAGS="$KERNEL_RUSTFLAGS" \
  cargo build --offline --quiet --timings --target "$HOST_TRIPLE")
say "notebook kernel dependencies ready in $(( $(date +%s) - started )) s"
