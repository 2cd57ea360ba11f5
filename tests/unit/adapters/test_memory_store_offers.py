"""DispatchService on MemoryAgentStore: offers, rejections, time-outs and misses."""

from __future__ import annotations

import pytest

from engine.ports import ASSIGNED, OFFERED, WAITING
from tests.unit.adapters.store_helpers import TENANT, Desk, S, kinds

pytestmark = pytest.mark.unit

# ---- offers ----------------------------------------------------------------------------------


def test_offer_accepted_becomes_an_assignment() -> None:
    # Given an offer queue and one agent
    desk = Desk()
    desk.login("ann")
    [d] = desk.create("t1", tier="offer")
    assert (d.kind, d.agent) == ("offered", "ann")
    assert desk.state("t1") == (OFFERED, "ann") and desk.load("ann") == 1
    # When she accepts
    [acc] = desk.send("ticket.accepted", "t1", agent="ann")
    # Then the ticket is assigned to her, with the same load
    assert (acc.kind, acc.agent, acc.step) == ("assigned", "ann", "accepted")
    assert desk.state("t1") == (ASSIGNED, "ann") and desk.load("ann") == 1
    # And the offer timer no longer fires
    assert desk.later(60) == []


def test_offer_rejected_goes_to_the_next_agent_and_cools_the_first_off() -> None:
    # Given two agents and an offered ticket
    desk = Desk()
    desk.login("ann")
    desk.login("bob")
    [d] = desk.create("t1", tier="offer")
    assert d.agent == "ann"
    # When ann rejects it, giving a reason
    out = desk.send("ticket.rejected", "t1", agent="ann", reason="not my language")
    # Then it is released from her (her reason kept as why) and offered to bob; she cools off
    assert kinds(out) == [("released", "t1", "ann"), ("offered", "t1", "bob")]
    assert (out[0].reason, out[0].why) == ("offer rejected", "not my language")
    rec = desk.store.ticket(TENANT, "t1")
    assert rec is not None and rec.cooloff == (("ann", desk.now + 300 * S),)
    assert desk.load("ann") == 0 and desk.misses("ann") == 0
    # And when bob rejects too, nobody is left for now: it waits
    out = desk.send("ticket.rejected", "t1", agent="bob")
    assert kinds(out) == [("released", "t1", "bob"), ("queued", "t1", None)]
    assert out[1].filtered == {"excluded": 2}
    assert desk.state("t1") == (WAITING, None)
    # But when ann's cool-off ends (300 s, the default reoffer_after_s) it is offered to her again
    assert desk.later(299) == []
    out = desk.later(1)
    assert kinds(out) == [("offered", "t1", "ann")]


def test_offer_time_out_cools_the_agent_off_then_re_offers_to_her() -> None:
    # Given the only agent on an offer queue with a 60 s cool-off
    policy = {
        "version": 1,
        "queues": [
            {
                "name": "q",
                "strategy": "round_robin",
                "offer": {"timeout_s": 10, "max_misses": 3, "reoffer_after_s": 60},
            }
        ],
    }
    desk = Desk(policy)
    desk.login("ann")
    desk.create("t1")
    # When she misses the offer
    out = desk.later(10)
    # Then the ticket waits, not stranded: it is offered to her again when the cool-off ends
    assert kinds(out) == [("released", "t1", "ann"), ("queued", "t1", None)]
    assert out[0].reason == "offer timed out"
    assert desk.later(59) == []
    assert kinds(desk.later(1)) == [("offered", "t1", "ann")]


def test_agent_who_rejects_an_offer_pulls_other_waiting_work() -> None:
    # Given ann, full with an offer, and a plain ticket waiting
    desk = Desk()
    desk.login("ann")
    desk.create("offer", tier="offer")
    desk.create("plain")
    assert desk.waiting_ids() == ["plain"]
    # When she rejects the offer
    out = desk.send("ticket.rejected", "offer", agent="ann")
    # Then the offer waits (she cools off) and she takes the plain ticket
    assert kinds(out) == [
        ("released", "offer", "ann"),
        ("queued", "offer", None),
        ("assigned", "plain", "ann"),
    ]


def test_rejection_by_an_agent_not_holding_the_offer_is_ignored() -> None:
    # Given an offer to ann / When bob rejects it / Then nothing happens
    desk = Desk()
    desk.login("ann")
    desk.login("bob")
    desk.create("t1", tier="offer")
    assert desk.send("ticket.rejected", "t1", agent="bob") == []
    assert desk.send("ticket.accepted", "t1", agent="bob") == []
    assert desk.state("t1") == (OFFERED, "ann")


def test_offer_timeout_counts_a_miss_and_max_misses_set_the_agent_away() -> None:
    # Given an offer queue with a 10 s time-out and max_misses 2, and two agents
    desk = Desk()
    desk.login("ann", capacity={"chat": 5})
    desk.login("bob", capacity={"chat": 5})
    desk.create("t1", tier="offer")  # ann
    desk.create("t2", tier="offer")  # bob
    desk.create("t3", tier="offer")  # ann
    # When 9.999 s pass / Then nothing times out yet
    assert desk.later(9.999) == []
    # When the time-out passes
    out = desk.later(0.001)
    # Then each offer is released as timed out and offered to the other agent
    released = [(d.ticket_id, d.agent) for d in out if d.kind == "released"]
    offered = [(d.ticket_id, d.agent) for d in out if d.kind == "offered"]
    assert sorted(released) == [("t1", "ann"), ("t2", "bob"), ("t3", "ann")]
    assert sorted(offered) == [("t1", "bob"), ("t2", "ann"), ("t3", "bob")]
    assert all(d.reason == "offer timed out" for d in out if d.kind == "released")
    # And ann missed two offers in a row: she is away; bob missed one
    assert (desk.status("ann"), desk.misses("ann")) == ("away", 2)
    assert (desk.status("bob"), desk.misses("bob")) == ("available", 1)


def test_accepting_an_offer_resets_the_miss_count() -> None:
    # Given ann missed one offer
    desk = Desk()
    desk.login("ann", capacity={"chat": 5})
    desk.create("t1", tier="offer")
    desk.later(10)
    assert desk.misses("ann") == 1
    # When she accepts the next one
    desk.create("t2", tier="offer")
    desk.send("ticket.accepted", "t2", agent="ann")
    # Then her count starts again
    assert desk.misses("ann") == 0


def test_agent_back_available_has_missed_offers_forgiven() -> None:
    # Given ann was set away after two missed offers
    desk = Desk()
    desk.login("ann", capacity={"chat": 5})
    desk.create("t1", tier="offer")
    desk.later(10)
    desk.create("t2", tier="offer")
    desk.later(10)
    assert desk.status("ann") == "away"
    # When she comes back / Then her misses are reset
    desk.send("agent.status", "ann", status="available")
    assert (desk.status("ann"), desk.misses("ann")) == ("available", 0)
