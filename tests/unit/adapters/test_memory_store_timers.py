"""DispatchService on MemoryAgentStore: escalation via timers (region ladder, overflow, sticky)."""

from __future__ import annotations

import pytest

from tests.unit.adapters.store_helpers import TENANT, Desk, kinds

pytestmark = pytest.mark.unit

# ---- escalation via timers -------------------------------------------------------------------


def test_region_ladder_lets_a_waiting_ticket_reach_a_neighbour_then_any_region() -> None:
    # Given agents only in a neighbour region and in a far region, busy meanwhile
    desk = Desk()
    desk.login("nina", regions=["eu2"])
    desk.login("sam", regions=["us"])
    # When a ticket from eu arrives / Then nobody in eu: it waits, filtered by region
    [d] = desk.create("t1", tier="regional", region="eu")
    assert (d.kind, d.filtered) == ("queued", {"region": 2})
    # When 29.999 s pass / Then still waiting
    assert desk.later(29.999) == []
    # When the neighbours step is due / Then nina in eu2 gets it
    [d] = desk.later(0.001)
    assert (d.kind, d.agent, d.step) == ("assigned", "nina", "region:neighbors")
    # And a second ticket waits until any region is allowed, then goes to sam in us
    desk.create("t2", tier="regional", region="eu")
    [d] = desk.later(30)
    assert (d.kind, d.agent, d.step) == ("escalated", None, "region:neighbors")
    assert desk.later(89.999) == []
    [d] = desk.later(0.001)
    assert (d.kind, d.agent, d.step) == ("assigned", "sam", "region:neighbors,region:any")


def test_escalation_step_due_exactly_one_lease_later_still_fires() -> None:
    # Given a ladder whose second step comes one timer lease (30 s) after the first,
    # and the only agent in a far region
    policy = {
        "version": 1,
        "regions": {"eu": {"neighbors": ["eu2"]}, "eu2": {}, "us": {}},
        "queues": [
            {
                "name": "q",
                "strategy": "round_robin",
                "region_ladder": [
                    {"after_s": 30, "widen": "neighbors"},
                    {"after_s": 60, "widen": "any"},
                ],
            }
        ],
    }
    desk = Desk(policy)
    desk.login("sam", regions=["us"])
    desk.create("t1", region="eu")
    # When the timers are served exactly on time
    desk.later(30)
    out = desk.later(30)
    # Then the 'any' step fires and sam gets the ticket
    assert kinds(out) == [("assigned", "t1", "sam")]


def test_overflow_moves_a_waiting_ticket_to_another_queue() -> None:
    # Given an expert ticket and only a junior agent
    desk = Desk()
    desk.login("jun", skills={"billing": 2})
    [d] = desk.create("t1", tier="expert")
    assert (d.kind, d.queue, d.filtered) == ("queued", "experts", {"skill": 1})
    # When the overflow time passes
    assert desk.later(59) == []
    [d] = desk.later(1)
    # Then it moved to general, where the junior may take it
    assert (d.kind, d.queue, d.agent, d.step) == ("assigned", "general", "jun", "overflow:general")


def test_overflow_without_an_agent_is_an_escalated_decision() -> None:
    # Given an expert ticket and nobody at all
    desk = Desk()
    desk.create("t1", tier="expert")
    # When it overflows / Then the queue change is published as escalated
    [d] = desk.later(60)
    assert (d.kind, d.queue, d.step) == ("escalated", "general", "overflow:general")
    assert [w.queue for w in desk.store.waiting(TENANT)] == ["general"]


def test_sticky_ticket_waits_for_its_agent_then_falls_back() -> None:
    # Given the preferred agent is busy and another is free
    desk = Desk()
    desk.login("ann")
    desk.create("busy")  # ann
    desk.login("bob")
    # When a ticket preferring ann arrives
    [d] = desk.create("t1", tier="sticky", preferred_agent="ann")
    # Then it waits for ann (bob is filtered as not preferred)
    assert (d.kind, d.filtered) == ("queued", {"not_preferred": 1, "capacity": 1})
    # When the sticky window ends / Then bob takes it
    [d] = desk.later(60)
    assert (d.kind, d.agent) == ("assigned", "bob")


def test_sticky_ticket_goes_to_the_preferred_agent_when_she_frees_up() -> None:
    # Given a ticket waiting for busy ann
    desk = Desk()
    desk.login("ann")
    desk.create("busy")
    desk.login("bob")
    desk.create("t1", tier="sticky", preferred_agent="ann")
    # When ann resolves her ticket / Then she pulls the sticky one
    out = desk.send("ticket.resolved", "busy")
    assert kinds(out[1:]) == [("assigned", "t1", "ann")]


def test_repeated_ticks_do_not_repeat_an_escalation() -> None:
    # Given a waiting regional ticket past its first step
    desk = Desk()
    desk.create("t1", tier="regional", region="eu")
    assert len(desk.later(30)) == 1
    # When ticks repeat without time passing / Then nothing more happens
    assert desk.service.tick(desk.now) == []
    assert desk.later(0) == []
