"""One valid example per event type, for tests that need well-formed events.

Use :func:`example` to get a fresh copy (optionally with fields replaced or removed) so tests
cannot leak mutations into each other. ``EXAMPLES`` itself must not be mutated.
"""

from __future__ import annotations

import copy
from typing import Any

TS_MS = 1_700_000_000_000
DROP: Any = object()  # sentinel for example(): remove the field


def _event(event_type: str, ident: str, /, **fields: Any) -> dict[str, Any]:
    return {"v": 1, "type": event_type, "id": ident, "tenant": "acme", "ts": TS_MS, **fields}


def _lifecycle(event_type: str, **fields: Any) -> dict[str, Any]:
    return _event(event_type, "T-1001", agent="A-7", **fields)


def _command(event_type: str, event_id: str = "T-1001", **fields: Any) -> dict[str, Any]:
    return _event(event_type, event_id, supervisor="sup-1", reason="customer escalation", **fields)


def _decision(event_type: str, agent: str | None, **fields: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "agent": agent,
        "queue": "billing-de",
        "strategy": "skill_weighted",
        "channel": "chat",
        "priority": 2,
        "ticket_ts": TS_MS - 5_000,
        "candidates": 12,
        "filtered": {"no_skill": 4, "at_capacity": 3, "wrong_region": 1},
        "step": "home_region",
        "supervisor": None,
        "forced": False,
    }
    return _event(event_type, "T-1001", **{**defaults, **fields})


def _sla(event_type: str, target: str) -> dict[str, Any]:
    return _event(
        event_type,
        "T-1001",
        target=target,
        policy="p2-vip",
        deadline_ms=TS_MS + 300_000,
        event_id=f"T-1001:{target}:{event_type}",
    )


AGENT_PROFILE: dict[str, Any] = {
    "capacity": {"phone": 1, "chat": 3, "email": 5},
    "skills": {"billing": 4, "german": 5},
    "regions": ["eu-west", "eu-central"],
    "team": "billing-1",
    "status": "available",
    "performance": 0.87,
}

EXAMPLES: dict[str, dict[str, Any]] = {
    # A typical ticket.created, about 250 bytes packed; also used for throughput measurements.
    "ticket.created": _event(
        "ticket.created",
        "T-1001",
        channel="chat",
        priority=2,
        tier="vip",
        skills={"billing": 3, "german": 4},
        language="de",
        region="eu-west",
        customer_id="C-55012",
        queue="billing-de",
        preferred_agent="A-7",
        attributes={"crm_case": "CASE-88123", "source": "web-widget", "vip_since": 2019},
    ),
    "agent.login": _event("agent.login", "A-7", **AGENT_PROFILE),
    "agent.update": _event("agent.update", "A-7", capacity={"chat": 4}, skills={"billing": 5}),
    "agent.status": _event("agent.status", "A-7", status="away"),
    "agent.logout": _event("agent.logout", "A-7"),
    "ticket.accepted": _lifecycle("ticket.accepted"),
    "ticket.rejected": _lifecycle("ticket.rejected", reason="wrong language"),
    "ticket.first_response": _lifecycle("ticket.first_response"),
    "ticket.resolved": _lifecycle("ticket.resolved", reason="refund issued"),
    "ticket.reopened": _lifecycle("ticket.reopened", reason="customer replied"),
    "ticket.closed": _lifecycle("ticket.closed"),
    "ticket.cancelled": _event("ticket.cancelled", "T-1001", reason="duplicate"),
    "ticket.rated": _lifecycle("ticket.rated", rating=5),
    "ticket.replied": _lifecycle("ticket.replied", by="agent"),
    "ticket.waiting": _lifecycle("ticket.waiting", waiting=True, reason="asked for invoice"),
    "command.reassign": _command("command.reassign", to_agent="A-9"),
    "command.force_assign": _command("command.force_assign", to_agent="A-9"),
    "command.pause_queue": _command("command.pause_queue", "billing-de"),
    "command.resume_queue": _command("command.resume_queue", "billing-de"),
    "command.claim": _event("command.claim", "A-7"),
    "command.raise_priority": _command("command.raise_priority", priority=1),
    "command.move_queue": _command("command.move_queue", queue="escalations"),
    "command.notify": _event(
        "command.notify",
        "T-1001",
        supervisor="sla-tracker",
        notify=["team:billing-leads", "mail:ops@example.com"],
        reason="first response breached",
        target="first_response",
        kind="breached",
        policy="p2-vip",
        event_id="T-1001:first_response:sla.breached",
    ),
    "decision.assigned": _decision("decision.assigned", "A-7"),
    "decision.offered": _decision("decision.offered", "A-7", reason="offer_accept_required"),
    "decision.queued": _decision("decision.queued", None, reason="no_capacity"),
    "decision.escalated": _decision("decision.escalated", None, step="neighbour_regions"),
    "decision.reassigned": _decision(
        "decision.reassigned", "A-9", supervisor="sup-1", reason="customer escalation"
    ),
    "decision.released": _decision("decision.released", "A-7", reason="offer_timeout"),
    "decision.unassignable": _decision("decision.unassignable", None, reason="no_skilled_agent"),
    "decision.rejected": _decision(
        "decision.rejected", None, supervisor="sup-1", reason="agent_unknown", forced=True
    ),
    "decision.handed_over": _decision(
        "decision.handed_over", "A-7", reason="logout", policy="3f2a9c01b7de"
    ),
    "decision.paused": _event(
        "decision.paused",
        "billing-de",
        agent=None,
        queue="billing-de",
        supervisor="sup-1",
        why="system outage",
        policy="3f2a9c01b7de",
        seq=0,
    ),
    "decision.resumed": _event(
        "decision.resumed", "billing-de", queue="billing-de", supervisor="sup-1", seq=0
    ),
    "sla.warning": _sla("sla.warning", "first_response"),
    "sla.breached": _sla("sla.breached", "resolution"),
    "sla.met": _sla("sla.met", "next_response"),
    "notification.sent": _event(
        "notification.sent",
        "T-1001",
        notify=["team:billing-leads", "mail:ops@example.com"],
        queue="billing-de",
        state="assigned",
        agent="A-7",
        supervisor="sla-tracker",
        reason="first response breached",
        target="first_response",
        kind="breached",
        policy="p2-vip",
        event_id="T-1001:first_response:sla.breached",
        priority=2,
    ),
}
EXAMPLES["decision.assigned"]["explain"] = {
    "scores": {"A-7": 4.0, "A-3": 3.5},
    "filtered_agents": {"A-2": "no_skill"},
}


def example(event_type: str, **changes: Any) -> dict[str, Any]:
    """A deep copy of the example for ``event_type`` with ``changes`` applied.

    Pass ``DROP`` as a value to remove a field: ``example("ticket.created", priority=DROP)``.
    """
    event = copy.deepcopy(EXAMPLES[event_type])
    for key, value in changes.items():
        if value is DROP:
            event.pop(key, None)
        else:
            event[key] = value
    return event
