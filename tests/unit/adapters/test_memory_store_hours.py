"""DispatchService on MemoryAgentStore: agent schedules (shifts), stop-before-end per channel,
wrap-up after a resolve, and the decline reason; the dispatcher's side of agent hours."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.adapters.store_helpers import T0, TENANT, Desk, S, kinds

pytestmark = pytest.mark.unit

HOUR = 3600
# T0 is Tue 2023-11-14 22:13:20 UTC: after the 09:00-17:00 day shift.
NEXT_9AM = int(datetime(2023, 11, 15, 9, tzinfo=UTC).timestamp() * 1000)

POLICY: dict[str, Any] = {
    "version": 1,
    "calendars": {
        "day": {
            "timezone": "UTC",
            "weekly": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        },
        "late": {"timezone": "UTC", "weekly": {"tue": [["20:00", "23:00"]]}},
    },
    "shifts": {"stop_before_end": {"email": 1800}},
    "queues": [
        {"name": "email", "match": {"channel": "email"}, "strategy": "round_robin"},
        {"name": "chat", "strategy": "round_robin", "wrap_up_s": 60},
    ],
}


def desk() -> Desk:
    return Desk(POLICY)


def agent_view(d: Desk, agent: str) -> Any:
    return next(v.agent for v in d.store.agents(TENANT) if v.agent.id == agent)


def test_login_with_a_schedule_stores_the_next_shift_and_no_work_before_it() -> None:
    d = desk()
    d.login("ann", schedule="day")
    a = agent_view(d, "ann")
    assert (a.schedule, a.shift_start_ms, a.shift_end_ms) == (
        "day",
        NEXT_9AM,
        NEXT_9AM + 8 * HOUR * S,
    )
    [q] = d.create("t1")
    assert (q.kind, q.filtered) == ("queued", {"shift": 1})


def test_the_agent_pulls_waiting_work_when_her_shift_starts() -> None:
    d = desk()
    d.login("ann", schedule="day")
    d.create("t1")
    # When the clock reaches 09:00 and the dispatcher ticks
    out = d.later((NEXT_9AM - T0) / S)
    # Then her timer fired: the shift is recomputed (same one) and she takes the ticket
    assert kinds(out) == [("assigned", "t1", "ann")]
    a = agent_view(d, "ann")
    assert (a.shift_start_ms, a.shift_end_ms) == (NEXT_9AM, NEXT_9AM + 8 * HOUR * S)


def test_at_the_end_of_the_shift_the_next_one_is_computed() -> None:
    d = desk()
    d.login("ann", schedule="late")  # Tue 20:00-23:00, on shift at T0 (22:13)
    a = agent_view(d, "ann")
    assert (a.shift_start_ms, a.shift_end_ms) == (T0, T0 + (46 * 60 + 40) * S)
    d.later(47 * 60)  # past 23:00: next Tuesday's shift
    a = agent_view(d, "ann")
    week = 7 * 24 * HOUR * S
    assert a.shift_end_ms - a.shift_start_ms == 3 * HOUR * S
    assert a.shift_end_ms == T0 + (46 * 60 + 40) * S + week
    [q] = d.create("t1")
    assert q.kind == "queued"


def test_e_mail_stops_30_minutes_before_the_end_of_the_shift() -> None:
    d = desk()
    d.login("ann", schedule="late", capacity={"chat": 2, "email": 2})  # ends 23:00, 46 min left
    [e1] = d.create("e1", channel="email")
    assert e1.agent == "ann"
    d.later(17 * 60)  # 29 min 40 s left
    [e2] = d.create("e2", channel="email")
    [c1] = d.create("c1")
    assert (e2.kind, e2.filtered, c1.agent) == ("queued", {"shift": 1}, "ann")


def test_an_unknown_calendar_means_no_hours() -> None:
    d = desk()
    d.login("ann", schedule="nights")
    a = agent_view(d, "ann")
    assert (a.schedule, a.shift_start_ms, a.shift_end_ms) == ("nights", 0, 0)
    assert d.create("t1")[0].agent == "ann"


def test_a_null_schedule_clears_the_hours() -> None:
    d = desk()
    d.login("ann", schedule="day")
    d.send("agent.update", "ann", schedule=None)
    assert agent_view(d, "ann").shift_end_ms == 0
    assert d.create("t1")[0].agent == "ann"


def test_wrap_up_after_a_resolve_then_the_agent_pulls() -> None:
    d = desk()
    d.login("ann")
    d.create("t1")
    d.create("t2")
    # When ann resolves t1 she wraps up for the queue's 60 s instead of taking t2
    out = d.send("ticket.resolved", "t1")
    assert kinds(out) == [("released", "t1", "ann")]
    assert d.later(59) == []
    assert kinds(d.later(1)) == [("assigned", "t2", "ann")]


def test_agent_status_available_ends_the_wrap_up_early() -> None:
    d = desk()
    d.login("ann")
    d.create("t1")
    d.create("t2")
    d.send("ticket.resolved", "t1")
    out = d.send("agent.status", "ann", status="available")
    assert kinds(out) == [("assigned", "t2", "ann")]
    assert d.later(60) == []


def test_a_cancelled_ticket_does_not_start_a_wrap_up() -> None:
    d = desk()
    d.login("ann")
    d.create("t1")
    d.create("t2")
    out = d.send("ticket.cancelled", "t1")
    assert kinds(out) == [("released", "t1", "ann"), ("assigned", "t2", "ann")]


def test_reconcile_keeps_the_schedule_and_repair_computes_the_shift() -> None:
    # Given agent events setting then clearing a schedule
    from engine.core.policy import parse_policy
    from engine.dispatch.reconcile import agent_fields
    from engine.dispatch.service import agent_hours

    evs = [
        {"type": "agent.login", "id": "ann", "tenant": TENANT, "schedule": "day"},
        {"type": "agent.login", "id": "bob", "tenant": TENANT, "schedule": "day"},
        {"type": "agent.update", "id": "bob", "tenant": TENANT, "schedule": None},
    ]
    fields = agent_fields(evs)
    # When folded / Then each agent's last schedule is kept, and its hours computed from it
    assert fields[(TENANT, "ann")]["schedule"] == "day"
    assert fields[(TENANT, "bob")]["schedule"] is None
    policy = parse_policy(POLICY)
    assert agent_hours(policy, "day", T0) == {
        "schedule": "day",
        "shift_start_ms": NEXT_9AM,
        "shift_end_ms": NEXT_9AM + 8 * HOUR * S,
    }
    assert agent_hours(policy, "", T0) == {"schedule": "", "shift_start_ms": 0, "shift_end_ms": 0}
