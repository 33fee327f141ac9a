#!/usr/bin/env python3
"""Does the MongoDB stand-in slow down with age? A bench that prints a table.

    scripts/bench_secantus_aging.py [--blocks 4] [--writes 2500]

SecantusDB keeps a record of every retryable write (what drivers send by default) for 30
minutes, at most 10,000, and in its release pruned them by scanning — and, over the cap,
sorting — all of them on every write: after an afternoon of notebooks a server answered ~40
upserts/s instead of ~500. scripts/secantusd.py keeps them in order and prunes from the front.
This starts two servers of its own (scripts/secantusd.py on free ports, in memory, stopped by
pid), with the fix and without it (M8_SECANTUS_RETRYABLE_PATCH=0), and on each runs `--blocks`
blocks of `--writes` retryable upserts (pymongo, as the notebooks' driver does with its default
retryWrites=true), printing each block's rate: a server that ages gets slower block by block.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pymongo import ASCENDING, MongoClient

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(patched: bool) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = dict(os.environ, M8_SECANTUS_RETRYABLE_PATCH="1" if patched else "0")
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "secantusd.py"), "--host", "127.0.0.1", "--port", str(port),
                             "--storage-path", ":memory:"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("SecantusDB did not start within 60 s")


def blocks(port: int, n_blocks: int, writes: int) -> list[float]:
    rates = []
    with MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=30_000,
                     socketTimeoutMS=600_000) as client:
        coll = client.bench.aging
        coll.create_index([("k", ASCENDING)], unique=True)
        for b in range(n_blocks):
            started = time.perf_counter()
            for i in range(writes):
                coll.update_one({"k": i % 5000}, {"$set": {"v": b * writes + i}}, upsert=True)
            rates.append(writes / (time.perf_counter() - started))
    return rates


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--writes", type=int, default=2500)
    args = ap.parse_args()
    results = {}
    for patched in (True, False):
        proc, port = start(patched)
        try:
            results[patched] = blocks(port, args.blocks, args.writes)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
    print(f"\n| retryable writes so far | with the fix, upserts/s | without it (the release), upserts/s |")
    print("|---:|---:|---:|")
    for b in range(args.blocks):
        print(f"| {(b + 1) * args.writes:,} | {results[True][b]:,.0f} | {results[False][b]:,.0f} |")
    first, last = results[True][0], results[True][-1]
    print(f"\nwith the fix the last block ran at {last / first:.2f}x the first; without it at "
          f"{results[False][-1] / results[False][0]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
