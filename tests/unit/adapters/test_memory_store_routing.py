"""DispatchService on MemoryAgentStore: assignment, queueing, pulling waiting work and claims."""

from __future__ import annotations

from typing import Any

import pytest

from engine.ports import ASSIGNED, WAITING
from tests.unit.adapters.store_helpers import T0, TENANT, Desk, S, kinds

pytestmark = pytest.mark.unit

# ---- assignment and queueing ---------------------------------------------------------------


def test_new_ticket_is_assigned_to_an_available_agent_and_counts_as_load() -> None:
    # Given one available agent
    desk = Desk()
    desk.login("ann", capacity={"chat": 2})
    # When a ticket arrives
    [d] = desk.create("t1")
    # Then it is assigned to her, the decision explains it, and her load is 1
    assert (d.kind, d.agent, d.queue, d.strategy, d.candidates) == (
        "assigned",
        "ann",
        "general",
        "round_robin",
        1,
    )
    assert (d.ticket_ts, d.priority, d.channel, d.step) == (T0, 3, "chat", "initial")
    assert desk.state("t1") == (ASSIGNED, "ann")
    assert desk.load("ann") == 1


def test_ticket_waits_when_no_agent_is_eligible_and_decision_counts_filters() -> None:
    # Given agents that are away, full, or lack the channel
    desk = Desk()
    desk.login("ann")
    desk.create("t0")  # fills ann
    desk.login("bob", status="away")
    desk.login("cat", capacity={"phone": 1})
    # When a chat ticket arrives
    [d] = desk.create("t1")
    # Then it is queued, with the first failing rule of each examined agent counted
    assert (d.kind, d.agent, d.reason) == ("queued", None, "no eligible agent")
    assert d.filtered == {"capacity": 1, "no_channel": 1}
    assert d.candidates == 0
    assert desk.state("t1") == (WAITING, None)
    assert desk.waiting_ids() == ["t1"]


def test_capacity_is_never_exceeded_by_routing() -> None:
    # Given an agent with capacity 2 on chat
    desk = Desk()
    desk.login("ann", capacity={"chat": 2})
    # When three chats arrive
    out = [d for t in ("t1", "t2", "t3") for d in desk.create(t)]
    # Then two are assigned and the third waits
    assert kinds(out) == [
        ("assigned", "t1", "ann"),
        ("assigned", "t2", "ann"),
        ("queued", "t3", None),
    ]
    assert desk.load("ann") == 2


def test_capacity_is_per_channel() -> None:
    # Given an agent full on phone but free on chat
    desk = Desk()
    desk.login("ann", capacity={"phone": 1, "chat": 1})
    desk.create("p1", channel="phone")
    # When a chat arrives / Then she still takes it
    [d] = desk.create("c1", channel="chat")
    assert (d.kind, d.agent) == ("assigned", "ann")
    assert (desk.load("ann", "phone"), desk.load("ann", "chat")) == (1, 1)


def test_round_robin_rotates_over_agents() -> None:
    # Given three agents with room for several chats
    desk = Desk()
    for a in ("ann", "bob", "cat"):
        desk.login(a, capacity={"chat": 5})
    # When five chats arrive / Then they go round in id order
    agents = [desk.create(f"t{i}")[0].agent for i in range(5)]
    assert agents == ["ann", "bob", "cat", "ann", "bob"]


def test_ticket_matching_no_queue_is_unassignable_and_not_stored() -> None:
    # Given a policy whose queues all need a known tier
    desk = Desk()
    desk.login("ann")
    # When a ticket of another tier arrives
    [d] = desk.create("t1", tier="bronze")
    # Then it is explicitly unassignable and nobody's load changes
    assert (d.kind, d.reason) == ("unassignable", "no queue matches")
    assert desk.store.ticket(TENANT, "t1") is None
    assert desk.load("ann") == 0


# ---- pulling waiting work --------------------------------------------------------------------


def test_freed_agent_pulls_waiting_tickets_by_priority_then_age() -> None:
    # Given a busy agent and tickets waiting with several priorities and ages
    desk = Desk()
    desk.login("ann")
    desk.create("busy")
    desk.create("p3-old", priority=3, ts=T0 - 50 * S)
    desk.create("p3-new", priority=3, ts=T0 - 10 * S)
    desk.create("p1-new", priority=1, ts=T0 - 1 * S)
    desk.create("p5-oldest", priority=5, ts=T0 - 500 * S)
    assert desk.waiting_ids() == ["p1-new", "p3-old", "p3-new", "p5-oldest"]
    # When she resolves each ticket in turn
    pulled = []
    current = "busy"
    for _ in range(4):
        out = desk.send("ticket.resolved", current, agent="ann")
        assert out[0].kind == "released"
        [nxt] = out[1:]
        assert (nxt.kind, nxt.agent) == ("assigned", "ann") and nxt.step.endswith("|pull")
        current = nxt.ticket_id
        pulled.append(current)
    # Then she pulls the most urgent first, oldest first within a priority
    assert pulled == ["p1-new", "p3-old", "p3-new", "p5-oldest"]


def test_freed_agent_skips_waiting_tickets_she_may_not_take() -> None:
    # Given a busy agent without the skill an older ticket needs
    desk = Desk()
    desk.login("ann", skills={"billing": 1})
    desk.create("busy")
    desk.create("needs-skill", skills={"billing": 3}, ts=T0 - 100 * S)
    desk.create("plain", ts=T0 - 5 * S)
    # When she is freed
    out = desk.send("ticket.resolved", "busy")
    # Then she takes the ticket she can handle and the other keeps waiting
    assert kinds(out[1:]) == [("assigned", "plain", "ann")]
    assert desk.waiting_ids() == ["needs-skill"]


@pytest.mark.parametrize(
    ("before", "event", "fields"),
    [
        (None, "agent.login", {"capacity": {"chat": 2}}),
        ({"status": "away", "capacity": {"chat": 2}}, "agent.status", {"status": "available"}),
        ({"capacity": {"chat": 0}}, "agent.update", {"capacity": {"chat": 2}}),
    ],
    ids=["login", "back from a break", "capacity raised"],
)
def test_agent_becoming_able_to_take_work_pulls_waiting_tickets(
    before: dict[str, Any] | None, event: str, fields: dict[str, Any]
) -> None:
    # Given two tickets waiting and an agent who cannot take them yet
    desk = Desk()
    desk.create("t1", ts=T0 - 2 * S)
    desk.create("t2", ts=T0 - 1 * S)
    if before is not None:
        assert desk.login("ann", **before) == []
    # When the event gives her room for two
    out = desk.send(event, "ann", **fields)
    # Then she pulls both at once, oldest first
    assert kinds(out) == [("assigned", "t1", "ann"), ("assigned", "t2", "ann")]
    assert desk.waiting_ids() == []


def test_logout_stops_new_work_but_keeps_the_agents_open_tickets_with_on_logout_keep() -> None:
    # Given an agent with an open ticket of a queue with the default on_logout: keep
    desk = Desk()
    desk.login("ann", capacity={"chat": 2})
    desk.create("t1")
    # When she logs out and a new ticket arrives
    desk.send("agent.logout", "ann")
    [d] = desk.create("t2")
    # Then she gets nothing new, and her open ticket stays hers
    assert d.kind == "queued" and d.filtered == {}
    assert desk.status("ann") == "offline"
    assert desk.state("t1") == (ASSIGNED, "ann")


# ---- agent pull (claim) ----------------------------------------------------------------------


def test_claim_takes_nothing_when_nothing_waits_that_the_agent_may_take() -> None:
    # Given a free agent and a waiting ticket she lacks the skill for
    desk = Desk()
    desk.login("ann")
    desk.create("t1", skills={"tech": 3})
    # When she claims / Then no decision, and the ticket still waits
    assert desk.send("command.claim", "ann") == []
    assert desk.waiting_ids() == ["t1"]


@pytest.mark.parametrize("status", ["away", "busy", "offline"])
def test_claim_by_an_unavailable_agent_takes_nothing(status: str) -> None:
    # Given a waiting ticket and an agent who is not available
    desk = Desk()
    desk.create("t1")
    desk.login("ann", status=status)
    # When she claims / Then she gets nothing
    assert desk.send("command.claim", "ann") == []
    assert desk.waiting_ids() == ["t1"]


def test_claim_by_an_agent_at_capacity_takes_nothing() -> None:
    # Given a full agent and a waiting ticket
    desk = Desk()
    desk.login("ann")
    desk.create("t1")
    desk.create("t2")
    # When she claims / Then she gets nothing
    assert desk.send("command.claim", "ann") == []
    assert desk.load("ann") == 1
