"""DispatchService on MemoryAgentStore: supervisor reassignments, queue pauses and commands."""

from __future__ import annotations

from typing import Any

import pytest

from engine.ports import ASSIGNED, WAIT_SCAN_LIMIT
from tests.unit.adapters.store_helpers import T0, TENANT, Desk, S, kinds

pytestmark = pytest.mark.unit

# ---- supervisors -----------------------------------------------------------------------------


def test_reassign_without_force_needs_spare_capacity_on_the_target() -> None:
    # Given two agents, each full
    desk = Desk()
    desk.login("ann")
    desk.login("bob")
    desk.create("t1")  # ann
    desk.create("t2")  # bob
    # When a supervisor moves bob's ticket to ann without force
    [d] = desk.send("command.reassign", "t2", to_agent="ann", supervisor="sup")
    # Then it is refused with the reason, audited, and nothing changes
    assert (d.kind, d.agent, d.supervisor, d.forced) == ("rejected", "ann", "sup", False)
    assert "no spare capacity" in d.reason
    assert desk.state("t2") == (ASSIGNED, "bob")
    assert (desk.load("ann"), desk.load("bob")) == (1, 1)


def test_reassign_moves_the_ticket_and_the_previous_agent_pulls_work() -> None:
    # Given ann holds t1, t2 waits, and cat (busy on other work) has a free chat slot
    desk = Desk()
    desk.login("ann")
    desk.create("t1")
    desk.create("t2")
    desk.login("cat", status="busy")
    # When a supervisor moves t1 from ann to cat
    out = desk.send("command.reassign", "t1", to_agent="cat", supervisor="sup")
    # Then t1 is reassigned, recorded as from ann, and ann pulls the waiting t2
    assert kinds(out) == [("reassigned", "t1", "cat"), ("assigned", "t2", "ann")]
    assert (out[0].supervisor, out[0].forced, out[0].reason) == ("sup", False, "from ann")
    assert desk.state("t1") == (ASSIGNED, "cat")
    assert (desk.load("ann"), desk.load("cat")) == (1, 1)


def test_force_assign_is_the_only_way_past_capacity_and_is_audited() -> None:
    # Given two full agents
    desk = Desk()
    desk.login("ann")
    desk.login("bob")
    desk.create("t1")  # ann
    desk.create("t2")  # bob
    # When a supervisor force-assigns bob's ticket to ann
    out = desk.send("command.force_assign", "t2", to_agent="ann", supervisor="sup-9")
    # Then ann holds two tickets on a capacity of one, and the decision says who forced it
    [d] = out
    assert (d.kind, d.agent, d.supervisor, d.forced) == ("reassigned", "ann", "sup-9", True)
    assert d.to_event()["forced"] is True and d.to_event()["supervisor"] == "sup-9"
    assert (desk.load("ann"), desk.load("bob")) == (2, 0)
    # And routing still never adds a third
    desk.send("agent.logout", "bob")
    assert desk.create("t3")[0].kind == "queued"


def test_force_assign_of_a_waiting_ticket_takes_it_out_of_the_queue() -> None:
    # Given a waiting ticket and a full agent
    desk = Desk()
    desk.login("ann")
    desk.create("t1")
    desk.create("t2")
    # When it is forced onto ann
    [d] = desk.send("command.force_assign", "t2", to_agent="ann", supervisor="sup")
    # Then it is hers and no longer waiting
    assert (d.kind, d.reason) == ("reassigned", "")
    assert desk.waiting_ids() == [] and desk.state("t2") == (ASSIGNED, "ann")


def test_force_assign_of_an_offer_becomes_an_assignment() -> None:
    # Given ticket offered to ann
    desk = Desk()
    desk.login("ann")
    desk.login("bob")
    desk.create("t1", tier="offer")
    # When forced onto bob / Then it is assigned, and no offer time-out fires later
    desk.send("command.force_assign", "t1", to_agent="bob", supervisor="sup")
    assert desk.state("t1") == (ASSIGNED, "bob")
    assert desk.later(30) == []


@pytest.mark.parametrize(
    ("ticket", "to_agent", "reason"),
    [
        ("t1", "zed", "unknown agent 'zed'"),
        ("t1", "ann", "already with that agent"),
        ("closed", "bob", "ticket is not open"),
        ("never-seen", "bob", "ticket is not open"),
    ],
)
def test_reassign_refusals_are_decisions_with_a_reason(
    ticket: str, to_agent: str, reason: str
) -> None:
    # Given ann holds t1 and a closed ticket exists
    desk = Desk()
    desk.login("ann", capacity={"chat": 3})
    desk.login("bob", capacity={"chat": 3})
    desk.create("t1")
    desk.create("closed")
    desk.send("ticket.closed", "closed")
    # When an impossible move is forced
    [d] = desk.send("command.force_assign", ticket, to_agent=to_agent, supervisor="sup")
    # Then it is rejected with the reason, and loads do not change
    assert (d.kind, d.reason, d.supervisor) == ("rejected", reason, "sup")
    assert (desk.load("ann"), desk.load("bob")) == (1, 0)


def test_paused_queue_holds_tickets_and_resume_drains_them() -> None:
    # Given a paused queue and a free agent
    desk = Desk()
    desk.login("ann", capacity={"chat": 5})
    [paused] = desk.send("command.pause_queue", "general", supervisor="sup", reason="lunch")
    assert (paused.kind, paused.ticket_id, paused.queue) == ("paused", "general", "general")
    assert (paused.supervisor, paused.why, paused.seq) == ("sup", "lunch", 0)
    # And pausing it again decides nothing
    assert desk.send("command.pause_queue", "general", supervisor="sup") == []
    # When tickets arrive / Then they wait, even though ann is free
    out = desk.create("t1") + desk.create("t2", priority=1)
    assert [(d.kind, d.reason) for d in out] == [("queued", "queue paused")] * 2
    # And a freed agent does not pull from a paused queue
    desk.send("agent.status", "ann", status="available")
    assert desk.waiting_ids() == ["t2", "t1"]
    # When the queue is resumed / Then its tickets are assigned, most urgent first
    out = desk.send("command.resume_queue", "general", supervisor="sup")
    assert kinds(out) == [
        ("resumed", "general", None),
        ("assigned", "t2", "ann"),
        ("assigned", "t1", "ann"),
    ]
    assert out[0].supervisor == "sup"
    # And resuming again changes nothing
    assert desk.send("command.resume_queue", "general", supervisor="sup") == []


def test_pausing_one_queue_leaves_the_others_running() -> None:
    # Given the vip queue paused / When a standard and a vip ticket arrive
    desk = Desk()
    desk.login("ann", capacity={"chat": 5})
    desk.send("command.pause_queue", "vip", supervisor="sup")
    out = desk.create("v1", tier="vip") + desk.create("s1")
    # Then only the vip ticket waits
    assert kinds(out) == [("queued", "v1", None), ("assigned", "s1", "ann")]


def test_resume_drains_every_ticket_free_agents_can_take() -> None:
    # Given more paused tickets than one scan covers, and room for all of them
    desk = Desk()
    desk.send("command.pause_queue", "general", supervisor="sup")
    n = WAIT_SCAN_LIMIT + 5
    for i in range(n):
        desk.create(f"t{i:04d}")
    desk.login("ann", capacity={"chat": 10 * n})
    # When the queue is resumed
    desk.send("command.resume_queue", "general", supervisor="sup")
    # Then nothing is left waiting
    assert desk.waiting_ids() == []


def test_raise_priority_command_reorders_the_waiting_queue() -> None:
    # Given two waiting tickets, the younger one behind
    desk = Desk()
    desk.create("old", ts=T0 - 10 * S)
    desk.create("new")
    assert desk.waiting_ids() == ["old", "new"]
    # When a supervisor raises the younger one to priority 1
    [d] = desk.send("command.raise_priority", "new", priority=1, supervisor="sup")
    # Then it is escalated and now first in line
    assert (d.kind, d.priority) == ("escalated", 1)
    assert desk.waiting_ids() == ["new", "old"]
    desk.login("ann")
    assert desk.state("new") == (ASSIGNED, "ann")


def test_move_queue_command_routes_the_waiting_ticket_in_the_new_queue() -> None:
    # Given a ticket waiting for an expert and a free generalist
    desk = Desk()
    desk.login("ann", skills={"billing": 1})
    [d] = desk.create("t1", tier="expert")
    assert (d.kind, d.queue) == ("queued", "experts")
    # When a supervisor moves it to the general queue / Then ann gets it there
    [d] = desk.send("command.move_queue", "t1", queue="general", supervisor="sup")
    assert (d.kind, d.agent, d.queue) == ("assigned", "ann", "general")


def test_commands_for_tickets_not_waiting_are_refused_with_who_and_why() -> None:
    # Given an assigned ticket / When moved or raised
    desk = Desk()
    desk.login("ann")
    desk.create("t1")
    [raised] = desk.send("command.raise_priority", "t1", priority=1, supervisor="s", reason="vip")
    [moved] = desk.send("command.move_queue", "t1", queue="vip", supervisor="s")
    # Then each is a rejected decision naming the supervisor, the reason and why; nothing moves
    assert (raised.kind, raised.supervisor, raised.why) == ("rejected", "s", "vip")
    assert raised.reason.startswith("ticket is not waiting")
    assert (moved.kind, moved.agent, moved.seq) == ("rejected", "ann", 0)
    assert desk.state("t1") == (ASSIGNED, "ann")
    # And a command for an unknown ticket is refused as before (no decision)
    assert desk.send("command.move_queue", "nope", queue="vip", supervisor="s") == []


def test_a_move_that_changes_nothing_is_refused() -> None:
    # Given a waiting ticket / When a supervisor moves it to its own queue
    desk = Desk()
    desk.create("t1")
    [d] = desk.send("command.move_queue", "t1", queue="general", supervisor="s")
    # Then a rejected decision says so / And one to an unknown queue too
    assert (d.kind, d.reason, d.supervisor) == ("rejected", "nothing to change", "s")
    [d] = desk.send("command.move_queue", "t1", queue="nowhere", supervisor="s")
    assert (d.kind, d.reason) == ("rejected", "no such queue in the policy")
    assert desk.waiting_ids() == ["t1"]


@pytest.mark.parametrize(
    ("command", "fields", "expect_queue", "expect_priority"),
    [
        ("command.move_queue", {"queue": "regional"}, "regional", 3),
        ("command.raise_priority", {"priority": 1}, "general", 1),
    ],
    ids=["move_queue", "raise_priority"],
)
def test_escalation_step_keeps_the_supervisors_move_and_raise(
    command: str, fields: dict[str, Any], expect_queue: str, expect_priority: int
) -> None:
    # Given a ticket waiting for an expert, and a supervisor's command on it
    desk = Desk()
    desk.create("t1", tier="expert", region="eu")
    desk.send(command, "t1", supervisor="sup", **fields)
    # When an escalation timer fires (the regional ladder at 30 s, the overflow at 60 s)
    desk.later(30)
    desk.later(30)
    # Then the command still holds
    rec = desk.store.ticket(TENANT, "t1")
    assert rec is not None
    assert (rec.queue, rec.priority) == (expect_queue, expect_priority)
