"""A stream with known timings, for the report tests: two agents of tenant ``acme`` and
four tickets (an offer rejected then accepted elsewhere; a ticket transferred by a
supervisor, resolved, reopened and resolved again; one abandoned; one whose offer timed
out and that escalated), plus tenant ``globex`` reusing the same ids. Every figure the
tests expect is computed by hand below from these times.

Events go through the archive's own ingestion (``engine.archive.ingest``), each one
validated by the codec first, like the archiver does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine

from engine import codec
from engine.archive import ingest
from engine.core.model import Decision

T0 = 1_796_083_200_000  # 2026-12-01T00:00:00Z
MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
NOW = T0 + 10 * HOUR  # "now" for spans still open
TENANT, OTHER = "acme", "globex"


def ticket(tid: str, at: int, channel: str, tenant: str = TENANT, **extra: Any) -> dict[str, Any]:
    return {
        "v": 1,
        "type": "ticket.created",
        "id": tid,
        "tenant": tenant,
        "ts": at,
        "channel": channel,
        "priority": 3,
        **extra,
    }


def life(kind: str, tid: str, at: int, tenant: str = TENANT, **extra: Any) -> dict[str, Any]:
    return {"v": 1, "type": f"ticket.{kind}", "id": tid, "tenant": tenant, "ts": at, **extra}


def decision(
    kind: str,
    tid: str,
    at: int,
    seq: int,
    queue: str,
    agent: str | None = None,
    tenant: str = TENANT,
    **extra: Any,
) -> dict[str, Any]:
    d = Decision(
        kind, tid, tenant, at, queue, agent=agent, seq=seq, strategy="least_loaded", **extra
    )
    return {"v": 1, **d.to_event()}


def agent(kind: str, aid: str, at: int, tenant: str = TENANT, **extra: Any) -> dict[str, Any]:
    return {"v": 1, "type": f"agent.{kind}", "id": aid, "tenant": tenant, "ts": at, **extra}


def sla(kind: str, tid: str, at: int, target: str, tenant: str = TENANT) -> dict[str, Any]:
    return {
        "v": 1,
        "type": f"sla.{kind}",
        "id": tid,
        "tenant": tenant,
        "ts": at,
        "target": target,
        "policy": "standard",
        "deadline_ms": at,
        "event_id": f"sla:{tid}:{target}:0:{kind}",
        "cycle": 0,
    }


def command(kind: str, tid: str, at: int, tenant: str = TENANT, **extra: Any) -> dict[str, Any]:
    return {"v": 1, "type": f"command.{kind}", "id": tid, "tenant": tenant, "ts": at, **extra}


def acme() -> list[dict[str, Any]]:
    m = MIN
    return [
        # agents: alice available 0-2h, busy 2-3h, available 3-8h, offline from 8h;
        # bob available from 1h on (no later event: open until NOW)
        agent("login", "alice", T0, capacity={"chat": 2, "email": 2}),
        agent("status", "alice", T0 + 2 * HOUR, status="busy"),
        agent("status", "alice", T0 + 3 * HOUR, status="available"),
        agent("logout", "alice", T0 + 8 * HOUR),
        agent("login", "bob", T0 + HOUR, capacity={"chat": 2, "email": 2}),
        # t1 (chat): offered to alice, rejected, offered to bob, accepted, resolved by bob
        ticket("t1", T0 + 10 * m, "chat"),
        decision("offered", "t1", T0 + 10 * m + 1000, 1, "chat", "alice"),
        decision(
            "released", "t1", T0 + 12 * m, 2, "chat", "alice", reason="offer rejected", why="busy"
        ),
        decision("queued", "t1", T0 + 12 * m, 3, "chat"),
        decision("offered", "t1", T0 + 13 * m, 4, "chat", "bob"),
        decision("assigned", "t1", T0 + 14 * m, 5, "chat", "bob", step="accepted"),
        life("first_response", "t1", T0 + 20 * m, agent="bob"),
        sla("met", "t1", T0 + 20 * m, "first_response"),
        life("resolved", "t1", T0 + 40 * m, agent="bob"),
        decision("released", "t1", T0 + 40 * m, 6, "chat", "bob", reason="resolved"),
        sla("met", "t1", T0 + 40 * m, "resolution"),
        life("rated", "t1", T0 + 50 * m, agent="bob", rating=5),
        # t2 (email): assigned to alice, first response by alice, SLA breached, reassigned
        # by sue to bob, resolved, reopened, assigned to bob again, resolved, rated 2
        ticket("t2", T0 + 20 * m, "email"),
        decision("assigned", "t2", T0 + 20 * m, 1, "email", "alice"),
        sla("breached", "t2", T0 + 40 * m, "first_response"),
        life("first_response", "t2", T0 + 50 * m, agent="alice"),
        command(
            "reassign",
            "t2",
            T0 + 60 * m,
            supervisor="supervisor:sue",
            to_agent="bob",
            reason="shift ends",
        ),
        decision(
            "reassigned",
            "t2",
            T0 + 60 * m,
            2,
            "email",
            "bob",
            reason="from alice",
            supervisor="supervisor:sue",
            why="shift ends",
        ),
        life("resolved", "t2", T0 + 90 * m),
        decision("released", "t2", T0 + 90 * m, 3, "email", "bob", reason="resolved"),
        life("reopened", "t2", T0 + 120 * m, reason="not fixed"),
        decision("queued", "t2", T0 + 120 * m, 4, "email"),
        decision("assigned", "t2", T0 + 121 * m, 5, "email", "bob"),
        life("resolved", "t2", T0 + 150 * m),
        decision("released", "t2", T0 + 150 * m, 6, "email", "bob", reason="resolved"),
        life("rated", "t2", T0 + 160 * m, rating=2),
        # t3 (phone): waits in general, cancelled by the customer: abandoned
        ticket("t3", T0 + 30 * m, "phone"),
        decision("queued", "t3", T0 + 30 * m, 1, "general"),
        life("cancelled", "t3", T0 + 45 * m),
        decision("released", "t3", T0 + 45 * m, 2, "general", reason="cancelled"),
        # t4 (chat): offered to alice, timed out, queued, escalated; still waiting
        ticket("t4", T0 + 100 * m, "chat"),
        decision("offered", "t4", T0 + 100 * m, 1, "chat", "alice"),
        decision("released", "t4", T0 + 105 * m, 2, "chat", "alice", reason="offer timed out"),
        decision("queued", "t4", T0 + 105 * m, 3, "chat"),
        decision("escalated", "t4", T0 + 110 * m, 4, "chat", step="after_5m"),
        # a duplicate answer (repeats t4's state): never counted
        {**decision("queued", "t4", T0 + 111 * m, 4, "chat"), "duplicate": True},
        # outside the period (the next day): never counted in [T0, T0 + 1 day)
        ticket("t5", T0 + DAY + m, "chat"),
        decision("assigned", "t5", T0 + DAY + m, 1, "chat", "bob"),
    ]


def globex() -> list[dict[str, Any]]:
    """The same ids in another tenant: nothing of it may reach acme's reports."""
    m = MIN
    return [
        agent("login", "bob", T0, tenant=OTHER, capacity={"chat": 9}),
        ticket("t1", T0 + 10 * m, "chat", tenant=OTHER),
        decision("assigned", "t1", T0 + 11 * m, 1, "chat", "bob", tenant=OTHER),
        life("first_response", "t1", T0 + 11 * m, tenant=OTHER, agent="bob"),
        life("resolved", "t1", T0 + 12 * m, tenant=OTHER, agent="bob"),
        decision("released", "t1", T0 + 12 * m, 2, "chat", "bob", tenant=OTHER, reason="resolved"),
        life("rated", "t1", T0 + 13 * m, tenant=OTHER, agent="bob", rating=1),
        sla("breached", "t1", T0 + 13 * m, "resolution", tenant=OTHER),
    ]


def load(engine: Engine, events: Iterable[dict[str, Any]]) -> None:
    """Validate each event as the codec does, map it and write it, in one transaction."""
    facts = []
    for ev in events:
        codec.validate(ev)
        mapped = ingest.map_event(ev)
        if mapped.fact is not None:
            facts.append(mapped.fact)
    with engine.begin() as conn:
        ingest.write_batch(conn, facts)
