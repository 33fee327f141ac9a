#!/usr/bin/env bash
# Says whether every notebook feature set of `helpers` resolves the shared dependencies (polars,
# plotters, tokio, …) with the same features. Where they differ, cargo (and so evcxr) compiles
# polars again for that feature set: minutes per notebook on a fresh machine. Exits 1 and names
# the crates and features to pin in helpers/Cargo.toml when something differs. Needs no build.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
# The feature sets the notebooks load (first cell of each) and any given as arguments (e.g.
# `analytics,sql`), plus the empty one as the base.
sets=("" $(python3 - <<'PY'
import json, glob, re
for nb in sorted(glob.glob("notebooks/*.ipynb")):
    src = "".join(next(c for c in json.load(open(nb))["cells"] if c["cell_type"] == "code")["source"])
    m = re.search(r'features\s*=\s*\[([^\]]*)\]', src)
    print(",".join(sorted(x.strip().strip('"') for x in m.group(1).split(","))) if m else "")
PY
) "$@")
for fs in "${sets[@]}"; do
  cargo tree -p helpers --locked -e normal,build --no-default-features ${fs:+--features "$fs"} \
    -f '{p} [{f}]' > "$tmp/set_${fs:-base}"
done
python3 - "$tmp" <<'PY'
import sys, os, re, collections
tmp = sys.argv[1]
def load(name):
    """(package, side) -> feature set; side is `target`, or `host` below a proc-macro or a
    build-dependencies section (cargo compiles those separately)."""
    d = {}
    stack = []  # (depth, host)
    for raw in open(os.path.join(tmp, name)):
        line = raw.rstrip("\n")
        body = re.sub(r"^[│├└─ ]*", "", line)
        depth = (len(line) - len(body)) // 4
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent_host = stack[-1][1] if stack else False
        if body.startswith("[build-dependencies]"):
            stack.append((depth, True))
            continue
        if body.startswith("["):
            stack.append((depth, parent_host))
            continue
        m = re.match(r"^(\S+ v\S+)( \(proc-macro\))?(?: \([^)]*\))? \[(.*)\]( \(\*\))?$", body)
        if not m or m.group(1).startswith("helpers "):
            stack.append((depth, parent_host))
            continue
        host = parent_host or bool(m.group(2))
        d[(m.group(1), "host" if host else "target")] = m.group(3)
        stack.append((depth, host))
    return d
base = load("set_base")
bad = 0
for name in sorted(os.listdir(tmp)):
    if name == "set_base": continue
    d = load(name)
    # A crate the base builds (polars and everything under it) built with other features on
    # the same side is a second build of it and of everything above it.
    diffs = {k: (base[k], d[k]) for k in base if k in d and d[k] != base[k]}
    print(f"{name[4:]}: {'shares every compiled dependency with the base' if not diffs else str(len(diffs)) + ' shared crates compiled differently'}")
    for (pkg, side), (b, v) in sorted(diffs.items()):
        bad = 1
        extra = sorted(set(v.split(",")) - set(b.split(",")) - {""})
        print(f"    {pkg} ({side}): base [{b}], this set [{v}] -> pin {extra} on the {side} side")
sys.exit(bad)
PY
