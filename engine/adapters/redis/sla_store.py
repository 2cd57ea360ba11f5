"""The SLA tracker's state on Redis (:class:`engine.sla.state.SlaStore`).

Keys, per tenant under the pool's hash tag (``B`` = ``prefix:{tenant}:``, so a script's keys
share one slot on Redis Cluster; tenant, ticket and agent escaped as in ``keys``)::

  B sla:t:<ticket>   hash   the ticket's facts and bookkeeping (engine/sla/state.py);
                            expires ``retention_s`` after its last new fact
  B sla:due          zset   ticket id -> event time (ms) it must be looked at again
  B sla:lease        hash   ticket id -> wall time (ms) until which a replica holds it
  B sla:ag:<agent>   hash   csat, ht (moving averages), pub (performance last published)

Outside any pool: ``prefix:sla:tenants`` (set) and ``prefix:sla:wm`` (hash: partition ->
event-time watermark, ms). One script (``lua/sla.lua``), one operation per call; batches go in
one pipeline round trip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.adapters.redis.errors import translated
from engine.adapters.redis.keys import DEFAULT_PREFIX, pool_base
from engine.adapters.redis.scripts import lua_file
from engine.core.sla_track import Feedback
from engine.escaping import escape
from engine.ports import AgentStats, Key, Settle, Settled

RETENTION_S = 30 * 24 * 3600  # ratings and reopens can come weeks after creation


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _f(v: Any) -> float | None:
    return None if v is None else float(v)


class RedisSlaStore:
    def __init__(
        self, client: Any, prefix: str = DEFAULT_PREFIX, retention_s: int = RETENTION_S
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.retention_s = retention_s
        self._script = client.register_script(lua_file("sla.lua"))
        self._tenants_key = f"{prefix}:sla:tenants"
        self._wm_key = f"{prefix}:sla:wm"
        self._known_tenants: set[str] = set()

    def _key(self, tenant: str, name: str) -> str:
        return pool_base(self.prefix, tenant) + name

    def _ticket(self, key: Key) -> str:
        return self._key(key[0], f"sla:t:{escape(key[1])}")

    def apply(self, facts: Mapping[Key, Mapping[str, bytes]]) -> dict[Key, dict[str, bytes]]:
        keys = list(facts)
        with translated("apply sla facts"):
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                args: list[Any] = ["apply", self.retention_s]
                for name, value in facts[key].items():
                    args += [name, value]
                self._script(keys=[self._ticket(key)], args=args, client=pipe)
            replies = pipe.execute()
        return {k: _pairs(r) for k, r in zip(keys, replies, strict=True)}

    def load(self, keys: Sequence[Key]) -> dict[Key, dict[str, bytes]]:
        with translated("load sla state"):
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.hgetall(self._ticket(key))
            replies = pipe.execute()
        return {
            k: {_s(n): bytes(v) for n, v in r.items()} for k, r in zip(keys, replies, strict=True)
        }

    def settle(self, items: Sequence[Settle]) -> list[Settled]:
        if not items:
            return []
        # A tenant is registered (its deadlines claimed at every tick) once one of its tickets
        # has something scheduled: facts of tickets nobody created never register one.
        scheduled = {it.key[0] for it in items if it.due_ms is not None or it.reserve}
        new_tenants = scheduled - self._known_tenants
        with translated("settle sla state"):
            pipe = self.client.pipeline(transaction=False)
            if new_tenants:
                pipe.sadd(self._tenants_key, *sorted(new_tenants))
            for it in items:
                tenant, tid = it.key
                args: list[Any] = [
                    "settle",
                    tid,
                    "" if it.due_ms is None else it.due_ms,
                    it.recheck_ms,
                    len(it.marks),
                    *it.marks,
                ]
                for eid, final, payload in it.reserve:
                    args += [eid, final or "", payload]
                keys = [self._ticket(it.key), self._key(tenant, "sla:due")]
                self._script(keys=[*keys, self._key(tenant, "sla:lease")], args=args, client=pipe)
            replies = pipe.execute()
        self._known_tenants |= new_tenants
        out = []
        for new, unsent in replies[1:] if new_tenants else replies:
            pairs = [(_s(unsent[i]), bytes(unsent[i + 1])) for i in range(0, len(unsent), 2)]
            out.append(Settled([_s(m) for m in new], pairs))
        return out

    def mark_sent(self, sent: Mapping[Key, Sequence[str]]) -> list[tuple[Key, str]]:
        keys = [k for k, eids in sent.items() if eids]
        if not keys:
            return []
        with translated("mark sla events sent"):
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                self._script(keys=[self._ticket(key)], args=["sent", *sent[key]], client=pipe)
            replies = pipe.execute()
        return [(k, _s(e)) for k, r in zip(keys, replies, strict=True) for e in r]

    def _tenants(self) -> list[str]:
        with translated("read sla tenants"):
            return sorted(_s(t) for t in self.client.smembers(self._tenants_key))

    def claim_due(self, wm_ms: int, now_ms: int, lease_ms: int, limit: int) -> list[Key]:
        tenants = self._tenants()
        if not tenants:
            return []
        with translated("claim sla deadlines"):
            pipe = self.client.pipeline(transaction=False)
            for t in tenants:
                keys = [self._key(t, "sla:due"), self._key(t, "sla:lease")]
                self._script(keys=keys, args=["claim", wm_ms, now_ms, lease_ms, limit], client=pipe)
            replies = pipe.execute()
        return [(t, _s(m)) for t, r in zip(tenants, replies, strict=True) for m in r][:limit]

    def deadlines(self) -> int:
        tenants = self._tenants()
        with translated("count sla deadlines"):
            pipe = self.client.pipeline(transaction=False)
            for t in tenants:
                pipe.zcard(self._key(t, "sla:due"))
            return sum(int(n) for n in pipe.execute()) if tenants else 0

    def advance_watermarks(self, marks: Mapping[str, int]) -> None:
        if not marks:
            return
        args: list[Any] = ["wm"]
        for name, value in sorted(marks.items()):
            args += [name, value]
        with translated("advance sla watermarks"):
            self._script(keys=[self._wm_key], args=args)

    def watermarks(self) -> dict[str, int]:
        with translated("read sla watermarks"):
            return {_s(k): int(float(v)) for k, v in self.client.hgetall(self._wm_key).items()}

    def agent_feedback(self, items: Sequence[Feedback], alpha: float) -> list[AgentStats]:
        if not items:
            return []
        with translated("agent feedback"):
            pipe = self.client.pipeline(transaction=False)
            for f in items:
                args = [
                    "agent",
                    "" if f.rating is None else f.rating,
                    "" if f.handle_s is None else f"{f.handle_s:.3f}",
                    alpha,
                    self.retention_s,
                ]
                key = self._key(f.tenant, f"sla:ag:{escape(f.agent)}")
                self._script(keys=[key], args=args, client=pipe)
            replies = pipe.execute()
        return [AgentStats(_f(csat), _f(ht), _f(pub)) for csat, ht, pub in replies]

    def set_published(self, performance: Mapping[tuple[str, str], float]) -> None:
        if not performance:
            return
        with translated("agent performance"):
            pipe = self.client.pipeline(transaction=False)
            for (tenant, agent), perf in performance.items():
                pipe.hset(self._key(tenant, f"sla:ag:{escape(agent)}"), "pub", f"{perf:.4f}")
            pipe.execute()


def _pairs(flat: Sequence[Any]) -> dict[str, bytes]:
    return {_s(flat[i]): bytes(flat[i + 1]) for i in range(0, len(flat), 2)}
