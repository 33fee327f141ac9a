#!/usr/bin/env bash
# Says whether every notebook feature set of `helpers` resolves the shared dependencies (polars,
# plotters, tokio, …) with the same features. Where they differ, cargo (and so evcxr) compiles
# polars again for that feature set: minutes per notebook on a fresh machine. Exits 1 and names
# the crates and features to pin in helpers/Cargo.toml when something differs. Needs no build.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
# The feature sets the notebooks load (first cell of each), plus the empty one as the base.
sets=("" $(python3 - <<'PY'
import json, glob, re
for nb in sorted(glob.glob("notebooks/*.ipynb")):
    src = "".join(next(c for c in json.load(open(nb))["cells"] if c["cell_type"] == "code")["source"])
    m = re.search(r'features\s*=\s*\[([^\]]*)\]', src)
    print(",".join(sorted(x.strip().strip('"') for x in m.group(1).split(","))) if m else "")
PY
))
for fs in "${sets[@]}"; do
  cargo tree -p helpers --locked -e normal,build --no-default-features ${fs:+--features "$fs"} \
    -f '{p} [{f}]' --prefix none | sed 's/ (\*)$//; s/ (proc-macro)//; s| (/[^)]*)||' | sort -u > "$tmp/set_${fs:-base}"
done
python3 - "$tmp" <<'PY'
import sys, os, re, collections
tmp = sys.argv[1]
def load(name):
    d = collections.defaultdict(set)
    for line in open(os.path.join(tmp, name)):
        m = re.match(r"^(\S+ v\S+) \[(.*)\]$", line.strip())
        if m and not m.group(1).startswith("helpers "):
            d[m.group(1)].add(m.group(2))
    return d
base = load("set_base")
bad = 0
for name in sorted(os.listdir(tmp)):
    if name == "set_base": continue
    d = load(name)
    # A base instance (crate + features) that is missing here was compiled differently: it and
    # everything above it (polars) is rebuilt. Extra instances are new crates' own, and harmless.
    diffs = {k: (sorted(base[k] - d.get(k, set())), sorted(d.get(k, set()))) for k in base if base[k] - d.get(k, set())}
    print(f"{name[4:]}: {'shares every compiled dependency with the base' if not diffs else str(len(diffs)) + ' shared crates compiled differently'}")
    for k, (missing, now) in sorted(diffs.items()):
        bad = 1
        print(f"    {k}: base builds [{'] ['.join(missing)}], this set only [{'] ['.join(now)}]")
sys.exit(bad)
PY
