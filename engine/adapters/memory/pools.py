"""The in-memory store's pools and bookkeeping: per-tenant state, reads, timers and the
decision outbox. Routing and lifecycle live in ``engine.adapters.memory.store``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.core import model as m
from engine.core.model import Agent, Decision, Request
from engine.escaping import parse_timer_member
from engine.ports import (
    OUTBOX_GRACE_MS,
    AgentView,
    DuePool,
    TicketRecord,
    Timer,
    Version,
    WaitingEntry,
)


@dataclass
class _Ticket:
    req: Request
    ticket: Mapping[str, Any]
    state: str
    agent: str | None = None
    seq: int = 0
    last_agent: str | None = None
    version: Version | None = None  # of its last lifecycle change (release, reopen)
    latest: Decision | None = None  # its latest stamped decision


@dataclass
class _Pool:
    agents: dict[str, Agent] = field(default_factory=dict)
    open: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # agent -> ch -> ids
    misses: dict[str, int] = field(default_factory=dict)
    tickets: dict[str, _Ticket] = field(default_factory=dict)
    waiting: dict[str, dict[str, float]] = field(default_factory=dict)  # queue -> id -> score
    rr_last: dict[str, str] = field(default_factory=dict)
    paused: set[str] = field(default_factory=set)
    timers: dict[str, int] = field(default_factory=dict)  # "kind|ticket|agent" -> due_ms
    leases: dict[str, str] = field(default_factory=dict)  # claimed timer -> its claim's lease
    lease_seq: int = 0  # claims so far (makes each claim's lease unique)
    outbox: dict[str, tuple[Decision, int]] = field(default_factory=dict)  # id -> (d, due)
    agent_versions: dict[str, Version] = field(default_factory=dict)
    queue_versions: dict[str, Version] = field(default_factory=dict)
    # (queue, agent) -> ticket -> when it was given (queues with a fairness limit only)
    fair: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)

    def recent(self, req: Request, agent_id: str, now_ms: int) -> int:
        """New tickets of ``req``'s queue given to the agent in its fairness window."""
        given = self.fair.get((req.queue, agent_id)) if req.fair_max else None
        if not given:
            return 0
        since = now_ms - req.fair_window_ms
        return sum(1 for at in given.values() if at > since)

    def fair_free_at(self, req: Request, agent_id: str, now_ms: int) -> int:
        """When the agent's count of new tickets of ``req``'s queue in its window drops below
        the limit (its count is at the limit now)."""
        since = now_ms - req.fair_window_ms
        times = sorted(at for at in self.fair.get((req.queue, agent_id), {}).values() if at > since)
        return times[len(times) - req.fair_max] + req.fair_window_ms

    def count_given(self, req: Request, agent_id: str, now_ms: int) -> None:
        """Record a ticket given in a queue with a fairness limit (older entries dropped)."""
        given = self.fair.setdefault((req.queue, agent_id), {})
        given[req.ticket_id] = now_ms
        since = now_ms - req.fair_window_ms
        for tid in [tid for tid, at in given.items() if at <= since]:
            del given[tid]

    def next_due(self) -> int | None:
        """The earliest timer or outbox entry (claimed ones count at their lease end)."""
        dues = [*self.timers.values(), *(due for _, due in self.outbox.values())]
        return min(dues) if dues else None

    # Timers are only written through these two: any re-schedule or removal ends the current
    # claim's lease, so ``timer_done`` of that claim leaves the timer alone.
    def set_timer(self, key: str, due_ms: int) -> None:
        self.timers[key] = due_ms
        self.leases.pop(key, None)

    def drop_timer(self, key: str) -> None:
        self.timers.pop(key, None)
        self.leases.pop(key, None)


class PoolStore:
    """Pools by tenant under one lock, with the read, timer and outbox halves of the
    AgentStore contract; :class:`~engine.adapters.memory.store.MemoryAgentStore` adds
    routing and the ticket lifecycle."""

    def __init__(self) -> None:
        self._pools: dict[str, _Pool] = {}
        self._lock = threading.RLock()

    def _pool(self, tenant: str) -> _Pool:
        """The tenant's pool, created: only for onboarding (a ticket, an agent login)."""
        p = self._pools.get(tenant)
        if p is None:
            p = self._pools[tenant] = _Pool()
        return p

    def _peek(self, tenant: str) -> _Pool:
        """The tenant's pool, or an empty one that is not kept (reads and stray events)."""
        return self._pools.get(tenant) or _Pool()

    # ---- reads ---------------------------------------------------------------------------
    def ticket(self, tenant: str, ticket_id: str) -> TicketRecord | None:
        with self._lock:
            t = self._peek(tenant).tickets.get(ticket_id)
            if t is None:
                return None
            r = t.req
            return TicketRecord(
                ticket_id,
                tenant,
                t.state,
                r.queue,
                r.channel,
                t.agent,
                dict(t.ticket),
                r.cooloff,
                r.step,
                r.priority,
                t.last_agent,
                t.latest,
            )

    def agents(self, tenant: str) -> list[AgentView]:
        with self._lock:
            p = self._peek(tenant)
            return [
                AgentView(
                    a,
                    {ch: tuple(sorted(ids)) for ch, ids in p.open.get(a.id, {}).items() if ids},
                    p.misses.get(a.id, 0),
                )
                for a in sorted(p.agents.values(), key=lambda a: a.id)
            ]

    def waiting(self, tenant: str, queue: str | None = None) -> list[WaitingEntry]:
        with self._lock:
            p = self._peek(tenant)
            out = [
                WaitingEntry(
                    tid, q, score, p.tickets[tid].req.priority, p.tickets[tid].req.ticket_ts
                )
                for q, entries in p.waiting.items()
                if queue is None or q == queue
                for tid, score in entries.items()
            ]
            return sorted(out, key=lambda e: (e.score, e.ticket_id))

    def tenants(self) -> list[str]:
        with self._lock:
            return sorted(self._pools)

    # ---- due index ---------------------------------------------------------------------------
    def due_pools(self, now_ms: int, limit: int) -> list[DuePool]:
        with self._lock:
            due = []
            for tenant, p in self._pools.items():
                nxt = p.next_due()
                if nxt is not None and nxt <= now_ms:
                    due.append((nxt, tenant))
            return [DuePool(tenant) for _, tenant in sorted(due)[:limit]]

    def reschedule(self, pools: Sequence[DuePool]) -> None:
        """Nothing to index: :meth:`due_pools` looks at every pool's entries directly."""

    def sweep_due(self) -> int:
        with self._lock:
            return sum(1 for p in self._pools.values() if p.next_due() is not None)

    def claim_timers(self, tenant: str, now_ms: int, lease_ms: int, limit: int) -> list[Timer]:
        with self._lock:
            p = self._peek(tenant)
            due = sorted((d, k) for k, d in p.timers.items() if d <= now_ms)[:limit]
            out = []
            for d, key in due:
                kind, tid, agent = parse_timer_member(key)
                # The lease: "<lease end>/<claim number>", unique per claim (as timers.lua).
                p.lease_seq += 1
                lease = f"{now_ms + lease_ms}/{p.lease_seq}"
                p.timers[key] = now_ms + lease_ms
                p.leases[key] = lease
                out.append(Timer(tenant, kind, tid, d, f"{key}@{lease}", agent))
            return out

    def timer_done(self, timer: Timer) -> None:
        with self._lock:
            p = self._peek(timer.tenant)
            key, _, lease = timer.token.rpartition("@")
            if p.leases.get(key) == lease:
                p.drop_timer(key)

    def _stamp(self, decisions: list[Decision], now_ms: int) -> list[Decision]:
        """Version each decision about a known ticket and keep the latest in the outbox."""
        out = []
        for d in decisions:
            p = self._pools.get(d.tenant)
            t = p.tickets.get(d.ticket_id) if p is not None else None
            if p is None or t is None or d.kind in UNSTAMPED:
                out.append(d)
                continue
            if d.duplicate:  # the current version, in decision order
                object.__setattr__(d, "seq", t.seq)
                out.append(d)
                continue
            t.seq += 1
            # Fresh, not yet shared: set in place (dataclasses.replace costs ~4 us here).
            object.__setattr__(d, "seq", t.seq)
            p.outbox[d.ticket_id] = (d, now_ms + OUTBOX_GRACE_MS)
            t.latest = d
            out.append(d)
        return out

    # ---- outbox ----------------------------------------------------------------------------
    def outbox_ack(self, tenant: str, published: Sequence[tuple[str, int, bool]]) -> list[Decision]:
        with self._lock:
            p = self._pools.get(tenant)
            if p is None:
                return []
            newer: dict[str, Decision] = {}
            for tid, seq, duplicate in published:
                t = p.tickets.get(tid)
                if t is not None and t.seq > seq and t.latest is not None:
                    newer[tid] = t.latest
                    continue
                entry = p.outbox.get(tid)
                if not duplicate and entry is not None and entry[0].seq == seq:
                    del p.outbox[tid]
            return list(newer.values())

    def outbox_claim(self, tenant: str, now_ms: int, lease_ms: int, limit: int) -> list[Decision]:
        with self._lock:
            p = self._pools.get(tenant)
            if p is None or limit <= 0:
                return []
            due = sorted((due, tid) for tid, (_, due) in p.outbox.items() if due <= now_ms)
            out = []
            for _, tid in due[:limit]:
                d, _ = p.outbox[tid]
                p.outbox[tid] = (d, now_ms + lease_ms)
                out.append(d)
            return out


# Decisions that are not a ticket's version: refused commands, and queue decisions (their id
# is a queue's name, which a ticket may share).
UNSTAMPED = frozenset((m.REJECTED, m.PAUSED, m.RESUMED))


def _by_score(kv: tuple[str, float]) -> tuple[float, str]:
    return (kv[1], kv[0])


def _decision(kind: str, req: Request, now_ms: int, agent: str | None, **extra: Any) -> Decision:
    extra.setdefault("step", req.step)
    return Decision(
        kind=kind,
        ticket_id=req.ticket_id,
        tenant=req.tenant,
        ts=now_ms,
        queue=req.queue,
        agent=agent,
        strategy=req.strategy,
        channel=req.channel,
        priority=req.priority,
        ticket_ts=req.ticket_ts,
        policy=req.policy,
        **extra,
    )
