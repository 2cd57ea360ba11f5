"""The due index of the Redis store: which pools have a timer or an outbox entry due.

Without it, every replica's tick would call two scripts per pool ever seen (a flood of
made-up tenants made a valid ticket wait seconds). With it, a tick reads one sorted set and
fires only the pools that are due. Keys (``keys.due_keys``, one hash tag, so one slot):

* ``{prefix:due}:pools`` -- zset, tenant -> the earliest timer or outbox entry of its pool.
* ``{prefix:due}:ver`` -- hash, tenant -> how often the pool was indexed after a change.

Protocol (every step idempotent; an index entry too early costs one empty check, never a
missed timer):

1. A store call that may schedule something *touches* its pool (in memory, no round trip).
2. At each tick, before reading the index, the touched pools are indexed: their earliest
   entries are read, then ``ZADD LT`` (only ever lowers) and ``HINCRBY ver`` -- after the
   changes, so a concurrent re-index (3) cannot hide them.
3. After firing a due pool, its next due time is read and written by ``lua/due.lua`` only if
   ``ver`` did not change since step 2 of that tick handed the pool out.
4. Every ``SWEEP_INTERVAL_MS`` a replica indexes every pool (``sweep``): pools a replica
   touched and then died before indexing are found within that interval.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from engine.adapters.redis import keys
from engine.adapters.redis.errors import translated
from engine.adapters.redis.scripts import lua_file
from engine.ports import DuePool

SWEEP_INTERVAL_MS = 30_000
CHUNK = 500


def _tenant(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class DueIndex:
    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._pools_key, self._ver_key = keys.due_keys(prefix)
        self._cas = client.register_script(lua_file("due.lua"))
        self._touched: set[str] = set()

    def touch(self, tenant: str) -> None:
        self._touched.add(tenant)

    def _earliest(self, tenants: Sequence[str]) -> list[int | None]:
        """Each pool's earliest timer or outbox entry (one pipelined round trip)."""
        pipe = self._client.pipeline(transaction=False)
        for t in tenants:
            pipe.zrange(keys.pool_key(self._prefix, t, "timers"), 0, 0, withscores=True)
            pipe.zrange(keys.pool_key(self._prefix, t, "outbox"), 0, 0, withscores=True)
        replies = pipe.execute()
        out: list[int | None] = []
        for i in range(0, len(replies), 2):
            scores = [int(s) for pair in (replies[i], replies[i + 1]) for _m, s in pair]
            out.append(min(scores) if scores else None)
        return out

    def _lower(self, tenants: Sequence[str], bump: bool) -> int:
        """Index each pool's earliest entry (only lowering); ``bump`` counts a change."""
        pending = 0
        for i in range(0, len(tenants), CHUNK):
            chunk = tenants[i : i + CHUNK]
            dues = self._earliest(chunk)
            pipe = self._client.pipeline(transaction=False)
            for t, due in zip(chunk, dues, strict=True):
                if due is not None:
                    pipe.zadd(self._pools_key, {t: due}, lt=True)
                    pending += 1
                if bump:
                    pipe.hincrby(self._ver_key, t, 1)
            pipe.execute()
        return pending

    def pools(self, now_ms: int, limit: int) -> list[DuePool]:
        with translated("due index"):
            if self._touched:
                touched = sorted(self._touched)
                self._lower(touched, bump=True)
                self._touched.difference_update(touched)
            names = [
                _tenant(t)
                for t in self._client.zrangebyscore(self._pools_key, "-inf", now_ms, 0, limit)
            ]
            if not names:
                return []
            vers = self._client.hmget(self._ver_key, names)
        tokens = [_tenant(v) if v is not None else "0" for v in vers]
        return [DuePool(t, token) for t, token in zip(names, tokens, strict=True)]

    def reschedule(self, pools: Iterable[DuePool]) -> None:
        pools = list(pools)
        if not pools:
            return
        with translated("due index"):
            for i in range(0, len(pools), CHUNK):
                chunk = pools[i : i + CHUNK]
                dues = self._earliest([p.tenant for p in chunk])
                args: list[Any] = []
                for p, due in zip(chunk, dues, strict=True):
                    args += [p.tenant, p.token, "" if due is None else due]
                self._cas(keys=[self._pools_key, self._ver_key], args=args)

    def sweep(self, tenants: Sequence[str]) -> int:
        with translated("due index sweep"):
            return self._lower(list(tenants), bump=False)
