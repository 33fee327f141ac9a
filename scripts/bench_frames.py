#!/usr/bin/env python3
"""SQL → DataFrame side by side: ours against polars + connectorx and pandas.read_sql.

    .venv/bin/python scripts/bench_frames.py [--rows 100000,1000000] [--runs 3]

One command, one machine, the same PostgreSQL and the same data:

1. `bench frames` (release build) times `query_frame` — binary COPY decoded into Polars
   columns — and the row-by-row path before it, beside psql's binary `\\copy` to /dev/null
   (the server's floor), on a table of `bigint, text, float8, timestamp` it creates and drops;
2. this script creates the same table (same rows, same types) and times, best of `--runs`:
   polars.read_database_uri(engine="connectorx"), pandas.read_sql over SQLAlchemy + psycopg2,
   and psycopg2's `fetchall` alone;
3. it prints one table: seconds per tool and each one's time over ours.

The peers (polars, connectorx, pandas, SQLAlchemy, psycopg2-binary) are installed into the
project's venv on first use. The PostgreSQL is the tests' (`TEST_POSTGRES_URL`, see
scripts/common.sh `test_postgres_url`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = ["polars", "connectorx", "pandas", "sqlalchemy", "psycopg2-binary"]
TABLE = "module8_bench.frames_peers"


def test_postgres_url() -> str:
    out = subprocess.run(["bash", "-c", "source scripts/common.sh; load_env >/dev/null 2>&1; test_postgres_url"], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def ensure_peers() -> None:
    try:
        import connectorx, pandas, polars, psycopg2, sqlalchemy  # noqa: F401
    except ImportError:
        print("==> installing the peers into the venv:", " ".join(PEERS), file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *PEERS], check=True)


def best_of(runs: int, f) -> tuple[float, int]:
    best, n = float("inf"), 0
    for _ in range(runs):
        started = time.perf_counter()
        n = f()
        best = min(best, time.perf_counter() - started)
    return best, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="100000,1000000", help="comma-separated row counts")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.rows.split(",")]
    url = test_postgres_url()

    # 1. ours, with the floor (its own table, created and dropped by the bench).
    env = dict(os.environ, M8_BENCH_FRAME_ROWS=",".join(map(str, sizes)))
    subprocess.run(["cargo", "run", "--release", "--locked", "-q", "-p", "helpers", "--bin", "bench", "--", "frames"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    report = json.loads((ROOT / "out" / "bench.json").read_text())
    ours = {}
    for row in report["rows"]:
        if row["module"] == "frames" and "query_frame" in row["case"]:
            n = int(row["case"].split(": ")[1].split(" rows")[0].replace(",", ""))
            ours[n] = (row["value"], row.get("floor"))
        elif row["module"] == "frames" and "row by row" in row["case"]:
            n = int(row["case"].split("the same ")[1].split(" rows")[0].replace(",", ""))
            ours[(n, "rows")] = row["value"]

    # 2. the peers, on the same rows.
    ensure_peers()
    import connectorx  # noqa: F401
    import pandas as pd
    import polars as pl
    import psycopg2
    import sqlalchemy

    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE SCHEMA IF NOT EXISTS module8_bench")
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cur.execute(f"CREATE UNLOGGED TABLE {TABLE} (id bigint, name text, score float8, at timestamp)")
        cur.execute(f"INSERT INTO {TABLE} SELECT g, 'user-' || g, g * 0.001, TIMESTAMP '2025-01-01' + g * INTERVAL '1 second' FROM generate_series(1, %s) g", (max(sizes),))
        cur.execute(f"VACUUM ANALYZE {TABLE}")
    engine = sqlalchemy.create_engine(url.replace("postgres://", "postgresql+psycopg2://", 1))
    rows = []
    try:
        for n in sizes:
            sql = f"SELECT id, name, score, at FROM {TABLE} WHERE id <= {n}"
            cx, got = best_of(args.runs, lambda: pl.read_database_uri(sql, url, engine="connectorx").height)
            assert got == n, (got, n)
            pdt, _ = best_of(args.runs, lambda: len(pd.read_sql(sql, engine)))

            def fetchall() -> int:
                with conn.cursor() as cur:
                    cur.execute(sql)
                    return len(cur.fetchall())

            fa, _ = best_of(args.runs, fetchall)
            mine, floor = ours[n]
            rows.append((n, mine, ours.get((n, "rows")), floor, cx, pdt, fa))
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.close()

    print(f"| rows | ours: query_frame (binary COPY) | ours before: row by row | psql binary \\copy (floor) | polars + connectorx | pandas.read_sql | psycopg2 fetchall | ours ÷ floor | ours ÷ connectorx |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, mine, before, floor, cx, pdt, fa in rows:
        s = lambda v: "—" if v is None else f"{v:.3f} s"
        ratio = lambda a, b: "—" if not a or not b else f"{a / b:.2f}×"
        print(f"| {n:,} | {s(mine)} | {s(before)} | {s(floor)} | {s(cx)} | {s(pdt)} | {s(fa)} | {ratio(mine, floor)} | {ratio(mine, cx)} |")
    print(f"\nbest of {args.runs} each; one table of (bigint, text, float8, timestamp); {os.cpu_count()} cores", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
