"""The AgentStore contract: paused queues, escalation and reopen, on both stores
(fixture ``store``).
"""

from __future__ import annotations

import pytest

from engine.core.model import Ticket
from engine.core.policy import parse_policy
from engine.core.routing import route
from engine.ports import AgentStore
from tests.contract.agent_store_helpers import LEASE_MS, NOW, T, assign, login, outcome, req

pytestmark = pytest.mark.contract


# ---- queues -----------------------------------------------------------------------------------
def test_paused_queue_holds_tickets_until_resumed(store: AgentStore) -> None:
    login(store, "a")
    # a pause is one queue decision: id and queue the queue's name, no version (seq 0)
    [p] = store.set_paused(T, "support", True, NOW)
    assert (p.kind, p.ticket_id, p.queue, p.agent, p.seq, p.ts) == (
        "paused",
        "support",
        "support",
        None,
        0,
        NOW,
    )
    assert store.set_paused(T, "support", True, NOW) == []  # already paused: no change
    [d] = assign(store, req("X"))
    assert (d.kind, d.reason, d.candidates) == ("queued", "queue paused", 1)
    assert store.claim(T, "a", NOW) == []
    assert outcome(store.set_paused(T, "support", False, NOW + 1)) == [
        ("resumed", "support", None),
        ("assigned", "X", "a"),
    ]
    assert store.set_paused(T, "support", False, NOW + 2) == []


def test_a_queue_decision_does_not_version_a_ticket_of_the_same_name(store: AgentStore) -> None:
    # Given a ticket whose id is a queue's name
    [d] = assign(store, req("support"))
    # When that queue is paused and resumed / Then the ticket's seq does not move
    store.set_paused(T, "support", True, NOW)
    store.set_paused(T, "support", False, NOW)
    rec = store.ticket(T, "support")
    assert rec is not None and rec.latest is not None and rec.latest.seq == d.seq == 1


LADDER = parse_policy(
    {
        "version": 1,
        "regions": {
            "eu": {"neighbors": ["uk"]},
            "uk": {"neighbors": ["eu"]},
            "us": {"neighbors": []},
        },
        "queues": [
            {
                "name": "support",
                "strategy": "least_loaded",
                "region_ladder": [
                    {"after_s": 30, "widen": "neighbors"},
                    {"after_s": 120, "widen": "any"},
                ],
            }
        ],
    }
)


def test_escalation_widening_regions_lets_a_waiting_ticket_be_assigned(store: AgentStore) -> None:
    # Given a ticket from eu and only an agent in us
    login(store, "a", regions=["us"])
    ticket = Ticket(id="X", tenant=T, ts=NOW, channel="chat", priority=3, region="eu")
    [d] = store.assign([(route(ticket, LADDER, NOW).request, {"id": "X"})], NOW)  # type: ignore[list-item]
    assert d.kind == "queued"
    steps = []
    for at in (NOW + 30_000, NOW + 120_000):
        # When the escalation timer fires, the ticket is routed again
        [timer] = store.claim_timers(T, at, LEASE_MS, 10)
        assert (timer.kind, timer.ticket_id, timer.due_ms) == ("esc", "X", at)
        request = route(ticket, LADDER, at).request
        assert request is not None
        steps += [(e.kind, e.step, e.agent) for e in store.reroute([request], at)]
        store.timer_done(timer)
    # Then: neighbours do not help (escalated), any region does
    assert steps == [
        ("escalated", "region:neighbors", None),
        ("assigned", "region:neighbors,region:any", "a"),
    ]
    assert store.reroute([request], NOW + 200_000) == []  # no longer waiting


def test_reopened_ticket_is_routed_again(store: AgentStore) -> None:
    login(store, "a")
    assign(store, req("X"))
    assert store.reopen(req("X"), {"id": "X"}, NOW) == []  # not closed
    store.release(T, "X", "resolved", NOW + 1)
    [d] = store.reopen(req("X", priority=1), {"id": "X", "reopened": True}, NOW + 2)
    assert (d.kind, d.agent, d.priority) == ("assigned", "a", 1)
    rec = store.ticket(T, "X")
    assert rec is not None and (rec.state, rec.ticket) == (
        "assigned",
        {"id": "X", "reopened": True},
    )
