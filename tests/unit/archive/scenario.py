"""A stream with known timings for the archive tests, and the rows it must yield.

``stream(tenant)`` is a list of ``(logical topic, event)`` in the order a producer would send
them; every event is valid (``engine.codec``). Decisions appear once here: the integration
tests publish them on both decision topics, as the dispatcher does.
"""

from __future__ import annotations

from typing import Any

T0 = 1_700_000_000_000


def _ev(typ: str, ident: str, tenant: str, at: int, **fields: Any) -> dict[str, Any]:
    return {"v": 1, "type": typ, "id": ident, "tenant": tenant, "ts": T0 + at, **fields}


def decision(
    kind: str,
    ticket: str,
    tenant: str,
    at: int,
    seq: int,
    agent: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    base: dict[str, Any] = {
        "queue": "billing",
        "agent": agent,
        "strategy": "round_robin",
        "channel": "chat",
        "priority": 2,
        "ticket_ts": T0 + 1000,
        "candidates": 2,
        "filtered": {},
        "step": "initial",
        "supervisor": None,
        "forced": False,
        "seq": seq,
    }
    if agent is not None and kind in ("assigned", "offered", "reassigned"):
        base.update(load=1, capacity=3)
    base.update(fields)
    return _ev(f"decision.{kind}", ticket, tenant, at, **base)


def stream(tenant: str = "acme") -> list[tuple[str, dict[str, Any]]]:
    t = tenant
    life, dec, sla = "tickets.lifecycle", "dispatch.assignments", "sla.events"
    return [
        ("agents.events", _ev("agent.login", "A1", t, 0, capacity={"chat": 3}, team="billing-1")),
        ("agents.events", _ev("agent.login", "A2", t, 0, capacity={"chat": 3})),
        ("tickets.events", _ev("ticket.created", "T1", t, 1000, channel="chat", priority=2,
                               queue="billing", customer_id="C-1")),
        (dec, decision("offered", "T1", t, 2000, 1, "A1")),
        ("tickets.events", _ev("ticket.created", "T2", t, 3000, channel="email", priority=3)),
        (dec, decision("queued", "T2", t, 3100, 1, channel="email", priority=3,
                       reason="no eligible agent")),
        (life, _ev("ticket.rejected", "T1", t, 5000, agent="A1", reason="busy")),
        (dec, decision("released", "T1", t, 5100, 2, "A1", reason="offer rejected")),
        (dec, decision("offered", "T1", t, 5200, 3, "A2")),
        (life, _ev("ticket.accepted", "T1", t, 8000, agent="A2")),
        (dec, decision("assigned", "T1", t, 8100, 4, "A2", step="accepted")),
        (life, _ev("ticket.first_response", "T1", t, 20000, agent="A2")),
        (sla, _ev("sla.met", "T1", t, 20000, target="first_response", policy="std",
                  deadline_ms=T0 + 61000, event_id="sla:T1:first_response:0:met", cycle=0,
                  priority=2)),
        ("agents.events", _ev("agent.status", "A2", t, 30000, status="busy")),
        ("dispatch.commands", _ev("command.reassign", "T1", t, 40000, supervisor="sup-1",
                                  to_agent="A1", reason="escalation")),
        (dec, decision("reassigned", "T1", t, 40100, 5, "A1", reason="from A2",
                       supervisor="sup-1", why="escalation")),
        (sla, _ev("sla.breached", "T2", t, 50000, target="first_response", policy="std",
                  deadline_ms=T0 + 50000, event_id="sla:T2:first_response:0:breached",
                  cycle=0, priority=3)),
        (life, _ev("ticket.cancelled", "T2", t, 60000, reason="customer left")),
        (dec, decision("released", "T2", t, 60100, 2, channel="email", priority=3,
                       reason="cancelled")),
        (life, _ev("ticket.resolved", "T1", t, 100000, agent="A1")),
        (dec, decision("released", "T1", t, 100100, 6, "A1", reason="resolved")),
        (life, _ev("ticket.rated", "T1", t, 200000, rating=4, agent="A1")),
        # a refused command (no version) and a duplicate answer (not a fact)
        (dec, decision("rejected", "T9", t, 210000, 0, queue="", strategy="", channel="",
                       priority=0, ticket_ts=0, reason="ticket is not open",
                       supervisor="sup-1")),
        (dec, decision("queued", "T2", t, 220000, 2, channel="email", duplicate=True,
                       reason="duplicate")),
        ("agents.events", _ev("agent.update", "A1", t, 250000, skills={"billing": 3})),
        ("agents.events", _ev("agent.logout", "A1", t, 300000)),
    ]  # fmt: skip


# What the stream yields: rows per table, and the tickets projection.
EXPECTED_COUNTS = {
    "decisions": 9,  # 10 decision events, one of them a duplicate answer
    "lifecycle": 8,  # 2 created + rejected, accepted, first_response, cancelled, resolved, rated
    "commands": 1,
    "sla_events": 2,
    "agent_status_spans": 4,  # login x2, status, logout (the update has no status)
    "tickets": 2,  # T1, T2 (T9's refused command changes no ticket: no projection row)
}


def expected_tickets(tenant: str = "acme") -> dict[str, dict[str, Any]]:
    """The ``tickets`` columns the stream must produce (others are checked elsewhere)."""
    return {
        "T1": {
            "tenant": tenant,
            "created_ms": T0 + 1000,
            "channel": "chat",
            "priority": 2,
            "tier": "standard",
            "customer_id": "C-1",
            "requested_queue": "billing",
            "last_seq": 6,
            "queue": "billing",
            "state": "released",
            "agent": "A1",
            "first_queue": "billing",
            "first_offered_ms": T0 + 2000,
            "first_assigned_ms": T0 + 8100,
            "first_agent": "A2",
            "first_response_ms": T0 + 20000,
            "first_resolved_ms": T0 + 100000,
            "resolved_ms": T0 + 100000,
            "resolved_agent": "A1",
            "closed_ms": None,
            "cancelled_ms": None,
            "abandoned_ms": None,
            "offer_count": 2,
            "assign_count": 1,
            "transfer_count": 1,
            "reopen_count": 0,
            "sla_breach_count": 0,
            "csat": 4,
            "csat_ms": T0 + 200000,
        },
        "T2": {
            "tenant": tenant,
            "created_ms": T0 + 3000,
            "channel": "email",
            "priority": 3,
            "last_seq": 2,
            "state": "released",
            "agent": None,
            "first_queue": "billing",
            "first_offered_ms": None,
            "first_assigned_ms": None,
            "cancelled_ms": T0 + 60000,
            "abandoned_ms": T0 + 60000,
            "sla_breach_count": 1,
            "offer_count": 0,
            "csat": None,
        },
    }


EXPECTED_SPANS = [  # (agent, status, start, end)
    ("A1", "available", T0, T0 + 300000),
    ("A1", "offline", T0 + 300000, None),
    ("A2", "available", T0, T0 + 30000),
    ("A2", "busy", T0 + 30000, None),
]
