#!/usr/bin/env bash
# The test command: the services script's and the kernel's self-tests, services up, tools
# installed, unit + integration tests against the real services, the notebook runner's
# self-test, every notebook executed headless into out/ and a second time in another order
# (cells tagged `stable` must print the same counts and words both times), then the real-browser test
# (JupyterLab in Chromium: several notebooks open, an interrupt, restarts; out/lab-report.json),
# and notebook 06 in a browser session of its own (out/lab-06/lab-report.json).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
load_env
started=$(date +%s)
# Test builds live outside the checkout too, so a fresh clone on this machine reuses them: in
# the directory where the notebook kernel's graph is compiled, with its RUSTFLAGS and --target,
# so that every dependency is compiled once for both (see common.sh). Open notebooks never wait
# for it: their kernels run on clones of the published build (scripts/kernel/README.md).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$KERNEL_BUILD/target}"
say "services.sh self-test (the install path on a fake fresh machine; never touches this one's servers)"
"$ROOT/scripts/services-selftest.sh"
"$ROOT/scripts/services.sh" up
"$ROOT/scripts/setup.sh"
# After setup: its crates (serde_json and the rest) come from cargo's registry cache, offline.
say "kernel self-test (scripts/kernel: a cell replays rustc only when nothing else changed; clones, publishing, waits)"
"$ROOT/scripts/kernel/selftest.sh"

say "cargo test (unit, integration and doc tests; real services)"
RUSTFLAGS="$KERNEL_RUSTFLAGS" cargo test --workspace --locked --exclude helpers-dylib --target "$HOST_TRIPLE"
kernel_py builds.py prune >/dev/null   # the incremental caches of other checkouts' tests

say "notebook runner self-test (it must fail notebooks that panic, print errors or miss outputs)"
"$VENV/bin/python" "$ROOT/scripts/run_notebooks.py" --self-test --out "$OUT_DIR"

say "executing every notebook headless into $OUT_DIR, then again in another order (stable outputs must match)"
"$VENV/bin/python" "$ROOT/scripts/run_notebooks.py" --out "$OUT_DIR" --second-pass 05,03,04,01,02,00

say "real-browser test: JupyterLab (scripts/lab.sh) in Chromium, five notebooks open, an interrupt, 20 restarts"
"$ROOT/scripts/services.sh" browser
"$VENV/bin/python" "$ROOT/scripts/browser_test.py" --out "$OUT_DIR" --restarts 20
# Notebook 06 in JupyterLab too, in a session of its own (three notebooks, no restarts): its cells
# up to its first table and figure start the project's PostgreSQL pair, which a browser session
# has no clean-up cell to stop, so it is stopped here by pid, passed or not.
say "real-browser test of notebook 06 (with 00 and 01 open), then its PostgreSQL pair stopped"
status=0
"$VENV/bin/python" "$ROOT/scripts/browser_test.py" --out "$OUT_DIR/lab-06" --notebooks 06,00,01 --restarts 0 --interrupt '' || status=$?
"$ROOT/scripts/beyond.sh" pg down
[ "$status" = 0 ] || die "the real-browser test of notebook 06 failed (exit $status)"
say "all tests passed in $(( $(date +%s) - started )) s"
