"""DispatchService on MemoryAgentStore: ticket lifecycle, reopen, versions and idempotency."""

from __future__ import annotations

import pytest

from engine.core.policy import parse_policy
from engine.dispatch.service import DispatchService
from engine.ports import ASSIGNED, CLOSED
from tests.unit.adapters.store_helpers import POLICY, T0, TENANT, Desk

pytestmark = pytest.mark.unit

# ---- lifecycle, reopen and idempotency ---------------------------------------------------------


def test_resolve_frees_the_agent_and_closes_the_ticket() -> None:
    # Given an assigned ticket
    desk = Desk()
    desk.login("ann")
    desk.create("t1")
    # When it is resolved
    [d] = desk.send("ticket.resolved", "t1", agent="ann")
    # Then it is released with the reason, closed, and ann's load is 0
    assert (d.kind, d.agent, d.reason) == ("released", "ann", "resolved")
    assert desk.state("t1")[0] == CLOSED and desk.load("ann") == 0


@pytest.mark.parametrize(
    ("event", "reason"),
    [("ticket.closed", "closed"), ("ticket.cancelled", "cancelled")],
)
def test_closing_or_cancelling_a_waiting_ticket_removes_it_from_the_queue(
    event: str, reason: str
) -> None:
    # Given a waiting ticket / When it is closed or cancelled
    desk = Desk()
    desk.create("t1")
    [d] = desk.send(event, "t1")
    # Then it leaves the waiting queue
    assert (d.kind, d.agent, d.reason) == ("released", None, reason)
    assert desk.waiting_ids() == [] and desk.state("t1")[0] == CLOSED


def test_reopened_ticket_is_routed_again_with_a_fresh_clock() -> None:
    # Given a resolved regional ticket
    desk = Desk()
    desk.login("ann", capacity={"chat": 2})
    desk.create("t1", tier="regional", region="eu")
    desk.send("ticket.resolved", "t1")
    desk.later(500)
    # When it is reopened
    [d] = desk.send("ticket.reopened", "t1")
    # Then it is assigned again, its steps measured from the reopening
    assert (d.kind, d.agent, d.step, d.ticket_ts) == ("assigned", "ann", "initial", desk.now)
    assert desk.state("t1") == (ASSIGNED, "ann")


@pytest.mark.parametrize("ticket", ["t1", "unknown"])
def test_reopen_of_an_open_or_unknown_ticket_is_ignored(ticket: str) -> None:
    # Given an open ticket / When it (or an unknown one) is reopened / Then nothing happens
    desk = Desk()
    desk.login("ann")
    desk.create("t1")
    assert desk.send("ticket.reopened", ticket) == []
    assert desk.load("ann") == 1


def test_reopened_ticket_prefers_its_previous_agent_in_a_sticky_queue() -> None:
    # Given a sticky ticket resolved by bob, and round robin pointing at the next agent
    desk = Desk()
    for a in ("ann", "bob", "cat"):
        desk.login(a, capacity={"chat": 5})
    desk.create("t0", tier="sticky")  # ann
    [d] = desk.create("t1", tier="sticky")
    assert d.agent == "bob"
    desk.send("ticket.resolved", "t1")
    # When it is reopened
    [d] = desk.send("ticket.reopened", "t1")
    # Then it goes back to bob
    assert d.agent == "bob"


def test_decisions_about_a_ticket_carry_increasing_versions() -> None:
    # Given a ticket offered, rejected, offered again and accepted
    desk = Desk()
    desk.login("ann")
    desk.login("bob")
    out = desk.create("t1", tier="offer")
    out += desk.send("ticket.rejected", "t1", agent="ann")
    out += desk.send("ticket.accepted", "t1", agent="bob")
    # When its decisions are listed with their versions
    versions = [(d.kind, d.seq) for d in out]
    # Then each is the ticket's next version, and a redelivery repeats the current one
    assert versions == [("offered", 1), ("released", 2), ("offered", 3), ("assigned", 4)]
    [dup] = desk.create("t1", tier="offer")
    assert (dup.duplicate, dup.seq) == (True, 4)


def test_reopened_ticket_versions_continue_after_the_close() -> None:
    # Given a ticket assigned (version 1) and resolved (version 2)
    desk = Desk()
    desk.login("ann")
    desk.create("t1")
    [closed] = desk.send("ticket.resolved", "t1")
    assert closed.seq == 2
    # When it is reopened
    [again] = desk.send("ticket.reopened", "t1")
    # Then its new decision is a newer version than the close
    assert again.seq > closed.seq


@pytest.mark.parametrize(
    ("setup", "kind"),
    [("assigned", "assigned"), ("waiting", "queued"), ("offered", "offered")],
)
def test_duplicate_ticket_created_is_a_duplicate_decision_without_extra_load(
    setup: str, kind: str
) -> None:
    # Given a ticket in some state
    desk = Desk()
    if setup != "waiting":
        desk.login("ann", capacity={"chat": 3})
    tier = "offer" if setup == "offered" else "standard"
    [first] = desk.create("t1", tier=tier)
    # When the same ticket.created is delivered again
    [dup] = desk.create("t1", tier=tier)
    # Then the decision repeats its state, marked duplicate, and nothing changes
    assert (dup.kind, dup.agent, dup.duplicate) == (kind, first.agent, True)
    if setup != "waiting":
        assert desk.load("ann") == 1
    assert desk.waiting_ids() == (["t1"] if setup == "waiting" else [])


def test_duplicate_in_one_batch_is_assigned_once() -> None:
    # Given one agent with room for two
    desk = Desk()
    desk.login("ann", capacity={"chat": 2})
    ev = {
        "v": 1,
        "type": "ticket.created",
        "id": "t1",
        "tenant": TENANT,
        "ts": T0,
        "channel": "chat",
        "priority": 3,
        "tier": "standard",
    }
    # When the same event arrives twice in one batch
    out = desk.service.handle([ev, dict(ev)], desk.now)
    # Then the second is a duplicate and ann holds it once
    assert [(d.kind, d.duplicate) for d in out] == [("assigned", False), ("assigned", True)]
    assert desk.load("ann") == 1


def test_duplicate_created_after_close_does_not_reopen() -> None:
    # Given a resolved ticket / When its ticket.created is redelivered
    desk = Desk()
    desk.login("ann")
    desk.create("t1")
    desk.send("ticket.resolved", "t1")
    [dup] = desk.create("t1")
    # Then it is a duplicate of the closed state, and ann stays free
    assert (dup.kind, dup.duplicate) == ("released", True)
    assert desk.state("t1")[0] == CLOSED and desk.load("ann") == 0


def test_redelivered_ticket_under_a_changed_policy_does_not_contradict_its_assignment() -> None:
    # Given a ticket assigned under the current policy
    desk = Desk()
    desk.login("ann")
    [first] = desk.create("t1", tier="vip")
    assert (first.kind, first.agent) == ("assigned", "ann")
    # When the policy is reloaded without the vip queue and the event is redelivered
    without_vip = {**POLICY, "queues": [q for q in POLICY["queues"] if q["name"] != "vip"]}
    desk.service = DispatchService(desk.store, parse_policy(without_vip))
    out = desk.create("t1", tier="vip")
    # Then no decision says the assigned ticket is unassignable
    assert all(d.kind != "unassignable" for d in out), out
    assert desk.state("t1") == (ASSIGNED, "ann")


def test_duplicate_resolve_is_harmless() -> None:
    # Given ann resolved t1 and then pulled t2
    desk = Desk()
    desk.login("ann")
    desk.create("t1")
    desk.create("t2")
    desk.send("ticket.resolved", "t1")
    assert desk.state("t2") == (ASSIGNED, "ann")
    # When the resolve of t1 is delivered again
    out = desk.send("ticket.resolved", "t1")
    # Then nothing changes: no decision, t2 still hers, load 1
    assert out == []
    assert desk.state("t2") == (ASSIGNED, "ann") and desk.load("ann") == 1


@pytest.mark.parametrize(
    "event",
    [
        "ticket.resolved",
        "ticket.accepted",
        "ticket.rejected",
        "ticket.reopened",
        "ticket.first_response",
        "ticket.rated",
    ],
)
def test_lifecycle_event_for_an_unknown_ticket_is_ignored(event: str) -> None:
    # Given nothing about the ticket / When a lifecycle event arrives / Then no decision
    desk = Desk()
    desk.login("ann")
    assert desk.send(event, "ghost", agent="ann") == []
    assert desk.load("ann") == 0
