"""Start SecantusDB (a MongoDB wire-compatible server from PyPI) with its TTL monitor on a short period.

mongod removes expired documents in a background pass every `ttlMonitorSleepSecs` (60 s by
default); notebook 02 shows a session expiring, which takes one pass. SecantusDB 0.7.0b3 has the
same monitor (`ttl_sweep_seconds`, default 60 s) and reads `[storage] ttl_sweep_seconds` from its
config file, but its launcher (`secantus/cli.py`, `main`) builds the server without passing that
value on. This starts SecantusDB's own launcher with the value handed to the server class, the
equivalent of `mongod --setParameter ttlMonitorSleepSecs=N` (docker-compose.yml passes that).

It also keeps SecantusDB as fast after an afternoon of notebooks as when it started: see the
retryable-write records below (M8_SECANTUS_RETRYABLE_PATCH=0 turns that off).

    python scripts/secantusd.py [secantus's own arguments]      period from M8_MONGO_TTL_SECONDS (1)
"""
import collections
import functools
import os
import sys

import secantus.cli as cli
import secantus.transactions as transactions

period = float(os.environ.get("M8_MONGO_TTL_SECONDS", "1"))
if not period > 0:
    sys.exit(f"M8_MONGO_TTL_SECONDS={period}: the TTL monitor's period must be a positive number of seconds")
cli.SecantusDBServer = functools.partial(cli.SecantusDBServer, ttl_sweep_seconds=period)

# SecantusDB 0.7.0b3 keeps a reply for every retryable write (insert/update/delete/findAndModify
# with a txnNumber, which drivers send by default) for 30 min, at most 10,000
# (secantus/transactions.py:61-65, 402-423), and prunes them on every retryable write by scanning
# all of them, then sorting all of them once over the cap (transactions.py:425-442, called twice
# per write from commands.py:10935 and :11116). A server that took 10,000 retryable writes in the
# last 30 minutes spends ~5-30 ms of CPU per write on that alone. The records go in in time order,
# so the expired ones and the surplus are a prefix: keep them in an OrderedDict and pop from the
# front (same records kept, same limits, O(1) amortised).
if os.environ.get("M8_SECANTUS_RETRYABLE_PATCH", "1") != "0":
    _Registry = transactions.TransactionRegistry
    _init, _record = _Registry.__init__, _Registry.record_retryable

    def _patched_init(self, *args, **kwargs):
        _init(self, *args, **kwargs)
        self._retryable = collections.OrderedDict(self._retryable)

    def _prune_retryable_locked(self):
        records = self._retryable
        cutoff = self._time() - transactions._RETRYABLE_RECORD_LIFETIME_SECONDS
        excess = len(records) - transactions._RETRYABLE_RECORD_MAX
        while records:
            _key, (_reply, stored_at, _identity) = next(iter(records.items()))
            if excess <= 0 and stored_at >= cutoff:
                break
            records.popitem(last=False)
            excess -= 1

    def _record_retryable(self, lsid_bytes, txn_number, identity, reply):
        _record(self, lsid_bytes, txn_number, identity, reply)
        with self._lock:  # a re-recorded key gets the newest time: keep it at the end
            if (lsid_bytes, txn_number) in self._retryable:
                self._retryable.move_to_end((lsid_bytes, txn_number))

    _Registry.__init__ = _patched_init
    _Registry._prune_retryable_locked = _prune_retryable_locked
    _Registry.record_retryable = _record_retryable

sys.exit(cli.main())
