"""DispatchService on MemoryAgentStore: handover on logout and after time away, queue
decisions and supervisor decisions (engine.dispatch.handover), the policy revision."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from engine.core.policy import parse_policy
from engine.ports import ASSIGNED, OFFERED, WAITING
from tests.unit.adapters.store_helpers import POLICY, Desk, S, kinds

pytestmark = pytest.mark.unit


def handover_policy(**general: Any) -> dict[str, Any]:
    """The desk's policy with handover settings on the general and offers queues."""
    doc = copy.deepcopy(POLICY)
    for q in doc["queues"]:
        if q["name"] in ("general", "offers"):
            q.update(general)
    return doc


@pytest.mark.parametrize(
    ("settings", "moves"),
    [
        ({}, False),  # default: keep
        ({"on_logout": "keep"}, False),
        ({"on_logout": "requeue"}, True),
        ({"handover_after_away_s": 60}, False),  # away only: a logout keeps
    ],
    ids=["default", "keep", "requeue", "away-only"],
)
def test_logout_moves_open_tickets_only_with_on_logout_requeue(
    settings: dict[str, Any], moves: bool
) -> None:
    # Given ann holding t1, and bob free
    desk = Desk(handover_policy(**settings))
    desk.login("ann")
    desk.create("t1")
    desk.login("bob")
    # When ann logs out
    out = desk.send("agent.logout", "ann")
    # Then with requeue the ticket goes to bob, her load dropping; otherwise it stays hers
    if moves:
        assert kinds(out) == [("handed_over", "t1", "ann"), ("assigned", "t1", "bob")]
        assert out[0].reason == "logout"
        assert (desk.state("t1"), desk.load("ann"), desk.load("bob")) == ((ASSIGNED, "bob"), 0, 1)
    else:
        assert out == []
        assert (desk.state("t1"), desk.load("ann")) == ((ASSIGNED, "ann"), 1)


def test_requeued_tickets_keep_their_age_and_wait_in_order() -> None:
    # Given ann holding three tickets of different priorities and ages, nobody else
    desk = Desk(handover_policy(on_logout="requeue"))
    desk.login("ann", capacity={"chat": 3})
    desk.create("old", ts=desk.now - 50 * S)
    desk.create("new")
    desk.create("urgent", priority=1)
    desk.later(10)
    # When she logs out
    out = desk.send("agent.logout", "ann")
    # Then they wait, most urgent first, then by their own age (ticket_ts kept)
    assert [d.ticket_id for d in out if d.kind == "queued"] == ["urgent", "old", "new"]
    assert desk.waiting_ids() == ["urgent", "old", "new"]
    placed = {d.ticket_id: d for d in out if d.kind == "queued"}
    assert placed["old"].ticket_ts == desk.now - 60 * S
    assert desk.load("ann") == 0
    # And the next agent in takes the most urgent first
    assert kinds(desk.login("bob")) == [("assigned", "urgent", "bob")]


def test_only_the_requeue_queues_tickets_move() -> None:
    # Given ann holding a general (requeue) and a vip (keep) ticket, bob free
    desk = Desk(handover_policy(on_logout="requeue"))
    desk.login("ann", capacity={"chat": 2})
    desk.create("g1")
    desk.create("v1", tier="vip")
    desk.login("bob", capacity={"chat": 2})
    # When ann logs out / Then only the general ticket moves
    out = desk.send("agent.logout", "ann")
    assert kinds(out) == [("handed_over", "g1", "ann"), ("assigned", "g1", "bob")]
    assert desk.state("v1") == (ASSIGNED, "ann")


def test_an_agent_away_past_the_limit_hands_its_tickets_over() -> None:
    # Given ann holding t1 in a queue handing over after 60 s away, and bob free
    desk = Desk(handover_policy(handover_after_away_s=60))
    desk.login("ann")
    desk.create("t1")
    desk.login("bob")
    # When ann goes away / Then nothing moves before 60 s
    assert desk.send("agent.status", "ann", status="away") == []
    assert desk.later(59) == []
    # And at 60 s the away timer hands t1 over to bob
    out = desk.later(1)
    assert kinds(out) == [("handed_over", "t1", "ann"), ("assigned", "t1", "bob")]
    assert out[0].reason == "away"
    assert (desk.load("ann"), desk.load("bob")) == (0, 1)


@pytest.mark.parametrize("back", ["available", "busy", "offline"])
def test_an_agent_back_from_away_in_time_keeps_its_tickets(back: str) -> None:
    # Given ann away with t1, bob free
    desk = Desk(handover_policy(handover_after_away_s=60))
    desk.login("ann")
    desk.create("t1")
    desk.login("bob")
    desk.send("agent.status", "ann", status="away")
    # When she changes status within the limit / Then the away timer is gone: t1 stays hers
    desk.later(30)
    desk.send("agent.status", "ann", status=back)
    assert desk.later(120) == []
    assert desk.state("t1") == (ASSIGNED, "ann")


def test_going_away_again_restarts_the_limit() -> None:
    desk = Desk(handover_policy(handover_after_away_s=60))
    desk.login("ann")
    desk.create("t1")
    desk.login("bob")
    desk.send("agent.status", "ann", status="away")
    desk.later(50)
    desk.send("agent.status", "ann", status="away")  # again: 60 s from now
    assert desk.later(50) == []
    assert kinds(desk.later(10))[0] == ("handed_over", "t1", "ann")


def test_an_offered_ticket_is_handed_over_too() -> None:
    # Given ann with an offer pending, bob free
    desk = Desk(handover_policy(on_logout="requeue"))
    desk.login("ann")
    desk.create("o1", tier="offer")
    assert desk.state("o1") == (OFFERED, "ann")
    desk.login("bob")
    # When ann logs out / Then bob gets the offer at once and her offer timer is gone
    out = desk.send("agent.logout", "ann")
    assert kinds(out) == [("handed_over", "o1", "ann"), ("offered", "o1", "bob")]
    assert all(d.agent != "ann" for d in desk.later(11))


def test_a_logout_without_a_free_agent_leaves_the_tickets_waiting_for_the_next() -> None:
    desk = Desk(handover_policy(on_logout="requeue"))
    desk.login("ann")
    desk.create("t1")
    out = desk.send("agent.logout", "ann")
    assert kinds(out) == [("handed_over", "t1", "ann"), ("queued", "t1", None)]
    assert desk.state("t1") == (WAITING, None)
    # And logging in again does not bring it back as hers by right: she pulls it as anyone
    assert kinds(desk.login("ann")) == [("assigned", "t1", "ann")]


# ---- decisions name the policy revision -------------------------------------------------------


def test_every_decision_names_the_policy_revision() -> None:
    desk = Desk()
    desk.service.policy = replace(parse_policy(POLICY), revision="0123456789ab")
    desk.login("ann")
    [d] = desk.create("t1")
    assert d.policy == "0123456789ab"
    assert d.to_event()["policy"] == "0123456789ab"
    [p] = desk.send("command.pause_queue", "vip", supervisor="sup", reason="training")
    assert (p.kind, p.policy, p.supervisor, p.why) == ("paused", "0123456789ab", "sup", "training")
    [r] = desk.send("command.resume_queue", "vip", supervisor="sup")
    assert (r.kind, r.policy, r.supervisor) == ("resumed", "0123456789ab", "sup")
