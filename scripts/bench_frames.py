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
3. MongoDB the same way: `bench frames` times `find_typed` (named fields into typed columns)
   beside the driver's raw cursor; this script loads the same documents into a collection of its
   own and times pymongo + `pandas.DataFrame(list(cursor))` and pymongoarrow's
   `find_arrow_all` with a schema (PyMongoArrow, the habit `find_typed` follows);
4. it prints one table per database: seconds per tool and each one's time over ours.

The peers (polars, connectorx, pandas, SQLAlchemy, psycopg2-binary, pymongo, pymongoarrow) are installed into the
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
PEERS = ["polars", "connectorx", "pandas", "sqlalchemy", "psycopg2-binary", "pymongo", "pymongoarrow"]
TABLE = "module8_bench.frames_peers"


def test_postgres_url() -> str:
    out = subprocess.run(["bash", "-c", "source scripts/common.sh; load_env >/dev/null 2>&1; test_postgres_url"], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def ensure_peers() -> None:
    try:
        import connectorx, pandas, polars, psycopg2, pymongo, pymongoarrow, sqlalchemy  # noqa: F401
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
    ours, mongo_ours = {}, None
    for row in report["rows"]:
        if row["module"] == "frames" and "query_frame" in row["case"]:
            n = int(row["case"].split(": ")[1].split(" rows")[0].replace(",", ""))
            ours[n] = (row["value"], row.get("floor"))
        elif row["module"] == "frames" and "find_typed" in row["case"]:
            mongo_ours = (int(row["case"].split(": ")[1].split(" documents")[0].replace(",", "")), row["value"], row.get("floor"))
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
    if mongo_ours:
        mongo_peers(args.runs, *mongo_ours)
    return 0


def mongo_peers(runs: int, n: int, ours: float, floor: float | None) -> None:
    """The same documents as `bench frames`' MongoDB row, read by pymongo + pandas and pymongoarrow."""
    import datetime

    import pandas as pd
    import pymongo
    from pymongoarrow.api import Schema, find_arrow_all
    import pyarrow as pa

    uri = subprocess.run(["bash", "-c", "source scripts/common.sh; load_env >/dev/null 2>&1; echo ${MONGODB_URI:-mongodb://127.0.0.1:27017}"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    coll = client["module8_bench"]["frames_peers"]
    coll.drop()
    t0 = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    for start in range(0, n, 10_000):
        coll.insert_many([{"user_id": i, "name": f"user-{i}", "score": i * 0.001, "at": t0 + datetime.timedelta(seconds=i)} for i in range(start, min(n, start + 10_000))])
    projection = {"_id": 0, "user_id": 1, "name": 1, "score": 1, "at": 1}
    schema = Schema({"user_id": pa.int64(), "name": pa.string(), "score": pa.float64(), "at": pa.timestamp("ms")})
    try:
        pdt, got = best_of(runs, lambda: len(pd.DataFrame(list(coll.find({}, projection, batch_size=10_000)))))
        assert got == n, (got, n)
        arrow, got = best_of(runs, lambda: find_arrow_all(coll, {}, schema=schema, projection=projection).num_rows)
        assert got == n, (got, n)
    finally:
        coll.drop()
        client.close()
    s = lambda v: "—" if v is None else f"{v:.3f} s"
    print(f"\n| documents | ours: find_typed | the driver's raw cursor, counting only (floor) | pymongo + pandas.DataFrame | pymongoarrow find_arrow_all | ours ÷ floor | ours ÷ pymongoarrow |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {n:,} | {s(ours)} | {s(floor)} | {s(pdt)} | {s(arrow)} | {ours / floor:.2f}× | {ours / arrow:.2f}× |" if floor else f"| {n:,} | {s(ours)} | — | {s(pdt)} | {s(arrow)} | — | {ours / arrow:.2f}× |")


if __name__ == "__main__":
    sys.exit(main())
