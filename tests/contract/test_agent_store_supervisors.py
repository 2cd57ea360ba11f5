"""The AgentStore contract: supervisor moves and overrides, on both stores (fixture ``store``)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.core.policy import parse_policy
from engine.dispatch.service import DispatchService
from engine.ports import AgentStore
from tests.contract.agent_store_helpers import NOW, T, assign, login, req, view

pytestmark = pytest.mark.contract


# ---- supervisor moves -------------------------------------------------------------------------
def test_reassign_needs_spare_capacity_unless_forced(store: AgentStore) -> None:
    login(store, "a", capacity={"chat": 1})
    login(store, "b", capacity={"chat": 1})
    assign(store, req("X", preferred_agent="a"), req("Y", preferred_agent="b"))
    assign(store, req("W", preferred_agent="a"))  # waits for a
    [no] = store.reassign(T, "X", "b", "sue", False, NOW + 1)
    assert (no.kind, no.agent, no.forced, no.supervisor) == ("rejected", "b", False, "sue")
    assert no.reason == "target agent has no spare capacity (use force)"
    moved, pulled = store.reassign(T, "X", "b", "sue", True, NOW + 2)
    assert (moved.kind, moved.agent, moved.reason, moved.forced) == (
        "reassigned",
        "b",
        "from a",
        True,
    )
    assert (pulled.kind, pulled.ticket_id, pulled.agent) == ("assigned", "W", "a")
    assert view(store, "b").load("chat") == 2  # over capacity, only by force


@pytest.mark.parametrize(
    ("ticket_id", "target", "reason"),
    [
        ("X", "zz", "unknown agent 'zz'"),
        ("X", "a", "already with that agent"),
        ("C", "a", "ticket is not open"),
        ("nope", "a", "ticket is not open"),
    ],
)
def test_reassign_refusals(store: AgentStore, ticket_id: str, target: str, reason: str) -> None:
    login(store, "a")
    assign(store, req("X"), req("C"))
    store.release(T, "C", "resolved", NOW)
    [d] = store.reassign(T, ticket_id, target, "sue", False, NOW + 1)
    assert (d.kind, d.ticket_id, d.agent, d.reason) == ("rejected", ticket_id, target, reason)


# ---- supervisor overrides ---------------------------------------------------------------------
def test_reroute_stores_the_moved_ticket_event_for_later_routes(store: AgentStore) -> None:
    # Given a waiting ticket (nobody logged in)
    assign(store, req("X"))
    moved = {"id": "X", "tenant": T, "ts": NOW, "queue": "vip", "priority": 1}
    # When a queue move / priority raise reroutes it with the updated ticket event
    [d] = store.reroute([req("X", queue="vip", priority=1)], NOW + 1, [moved])
    # Then the request and the event are both stored
    assert (d.kind, d.queue, d.priority) == ("escalated", "vip", 1)
    rec = store.ticket(T, "X")
    assert rec is not None and (rec.queue, rec.priority, rec.ticket) == ("vip", 1, moved)
    # And a redelivery changes nothing; a reroute without an event keeps the stored one
    assert store.reroute([req("X", queue="vip", priority=1)], NOW + 1, [moved]) == []
    store.reroute([req("X", queue="vip", priority=1, step="later")], NOW + 2)
    store.reroute([req("X", queue="vip", priority=1, step="x")], NOW + 3, [None])
    rec = store.ticket(T, "X")
    assert rec is not None and (rec.step, rec.ticket) == ("x", moved)
    # And once it is no longer waiting, neither its request nor its event changes
    login(store, "a")
    assert store.reroute([req("X")], NOW + 4, [{"id": "X", "queue": "q2"}]) == []
    rec = store.ticket(T, "X")
    assert rec is not None and (rec.state, rec.queue, rec.ticket) == ("assigned", "vip", moved)


OVERRIDES = parse_policy(
    {
        "version": 1,
        "regions": {"eu": {"neighbors": ["uk"]}, "uk": {"neighbors": ["eu"]}},
        "queues": [
            {
                "name": "regional",
                "match": {"tier": "regional"},
                "strategy": "round_robin",
                "region_ladder": [{"after_s": 30, "widen": "neighbors"}],
            },
            {
                "name": "experts",
                "match": {"tier": "expert"},
                "strategy": "skill_weighted",
                "skills": {"billing": 4},
                "overflow": {"after_s": 60, "to": "general"},
            },
            {"name": "general", "strategy": "round_robin"},
        ],
    }
)


@pytest.mark.parametrize(
    ("command", "fields", "expect"),
    [
        ("command.move_queue", {"queue": "regional"}, ("regional", 3)),
        ("command.raise_priority", {"priority": 1}, ("general", 1)),
        ("command.move_queue", {"queue": "nope"}, ("general", 3)),  # unknown queue: ignored
    ],
    ids=["move_queue", "raise_priority", "unknown_queue"],
)
def test_escalation_steps_keep_a_supervisors_move_and_raise(
    store: AgentStore, command: str, fields: dict[str, Any], expect: tuple[str, int]
) -> None:
    # Given an expert ticket waiting (nobody logged in), and a supervisor's command on it
    service = DispatchService(store, OVERRIDES)
    base = {"v": 1, "id": "X", "tenant": T, "ts": NOW}
    created = {**base, "type": "ticket.created", "channel": "chat", "priority": 3}
    service.handle([{**created, "tier": "expert", "region": "eu"}], NOW)
    service.handle([{**base, "type": command, "supervisor": "sup", **fields}], NOW + 1)
    # When the escalation timers fire (the regional ladder at 30 s, the overflow at 60 s)
    for at in (NOW + 30_000, NOW + 60_000, NOW + 90_000):
        service.tick(at)
    # Then the command still holds
    rec = store.ticket(T, "X")
    assert rec is not None and (rec.state, rec.queue, rec.priority) == ("waiting", *expect)
