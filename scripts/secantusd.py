"""Start SecantusDB (a MongoDB wire-compatible server from PyPI) with its TTL monitor on a short period.

mongod removes expired documents in a background pass every `ttlMonitorSleepSecs` (60 s by
default); notebook 02 shows a session expiring, which takes one pass. SecantusDB 0.7.0b3 has the
same monitor (`ttl_sweep_seconds`, default 60 s) and reads `[storage] ttl_sweep_seconds` from its
config file, but its launcher (`secantus/cli.py`, `main`) builds the server without passing that
value on. This starts SecantusDB's own launcher with the value handed to the server class, the
equivalent of `mongod --setParameter ttlMonitorSleepSecs=N` (docker-compose.yml passes that).

    python scripts/secantusd.py [secantus's own arguments]      period from M8_MONGO_TTL_SECONDS (1)
"""
import functools
import os
import sys

import secantus.cli as cli

period = float(os.environ.get("M8_MONGO_TTL_SECONDS", "1"))
if not period > 0:
    sys.exit(f"M8_MONGO_TTL_SECONDS={period}: the TTL monitor's period must be a positive number of seconds")
cli.SecantusDBServer = functools.partial(cli.SecantusDBServer, ttl_sweep_seconds=period)
sys.exit(cli.main())
