"""Shared by the test_agent_store_*.py contract files: requests, logins and views on a store."""

from __future__ import annotations

from typing import Any

from engine.core.model import Decision, Request
from engine.core.routing import waiting_score
from engine.ports import AgentStore, AgentView

T = "acme"
NOW = 1_800_000_000_000
LEASE_MS = 1_000


def req(
    tid: str,
    *,
    queue: str = "support",
    strategy: str = "least_loaded",
    priority: int = 3,
    ts: int = NOW,
    channel: str = "chat",
    **extra: Any,
) -> Request:
    score = waiting_score(priority, ts, None)
    return Request(tid, T, queue, strategy, channel, priority, ts, score, **extra)


def login(store: AgentStore, agent_id: str, *, now: int = NOW, **fields: Any) -> list[Decision]:
    base: dict[str, Any] = {"status": "available", "regions": ["eu"], "capacity": {"chat": 2}}
    return store.update_agent(T, agent_id, {**base, **fields}, now)


def assign(store: AgentStore, *reqs: Request, now: int = NOW) -> list[Decision]:
    events = [{"id": r.ticket_id, "tenant": r.tenant, "ts": r.ticket_ts} for r in reqs]
    return store.assign(list(zip(reqs, events, strict=True)), now)


def outcome(ds: list[Decision]) -> list[tuple[str, str, str | None]]:
    return [(d.kind, d.ticket_id, d.agent) for d in ds]


def view(store: AgentStore, agent_id: str) -> AgentView:
    return {v.agent.id: v for v in store.agents(T)}[agent_id]


def waiting_ids(store: AgentStore, queue: str | None = None) -> list[str]:
    return [e.ticket_id for e in store.waiting(T, queue)]


def offer_req(tid: str) -> Request:
    return req(tid, offer_timeout_ms=20_000, offer_max_misses=2)
