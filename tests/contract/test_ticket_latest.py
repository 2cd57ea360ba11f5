"""The AgentStore contract: a ticket's record carries its latest stamped decision
(``TicketRecord.latest``), on both stores (fixture ``store``). The HTTP gateway's
``GET /v1/tickets/{id}`` shows it with its explanation."""

from __future__ import annotations

import pytest

from engine.ports import AgentStore
from tests.contract.agent_store_helpers import NOW, T, assign, login, offer_req, req

pytestmark = pytest.mark.contract


def test_a_new_ticket_record_carries_its_placement_decision(store: AgentStore) -> None:
    login(store, "a")
    [placed] = assign(store, req("X"))
    rec = store.ticket(T, "X")
    assert rec is not None and rec.latest is not None
    assert rec.latest == placed
    assert (rec.latest.kind, rec.latest.agent, rec.latest.seq) == ("assigned", "a", 1)
    assert (rec.latest.queue, rec.latest.strategy, rec.latest.candidates) == (
        "support",
        "least_loaded",
        1,
    )


def test_the_latest_decision_follows_every_versioned_change(store: AgentStore) -> None:
    # Given an offer, accepted, then moved by a supervisor
    login(store, "a")
    login(store, "b")
    [offered] = assign(store, offer_req("X"))
    assert offered.kind == "offered"
    holder = offered.agent
    assert holder is not None
    other = "b" if holder == "a" else "a"
    [accepted] = store.accept(T, "X", holder, NOW + 1)
    rec = store.ticket(T, "X")
    assert rec is not None and rec.latest == accepted
    assert (rec.latest.kind, rec.latest.step, rec.latest.seq) == ("assigned", "accepted", 2)
    [moved] = store.reassign(T, "X", other, "supervisor:sue", False, NOW + 2)
    rec = store.ticket(T, "X")
    assert rec is not None and rec.latest == moved
    assert (rec.latest.kind, rec.latest.agent, rec.latest.supervisor) == (
        "reassigned",
        other,
        "supervisor:sue",
    )


def test_a_refused_command_or_a_duplicate_leaves_the_latest_decision(store: AgentStore) -> None:
    login(store, "a")
    [placed] = assign(store, req("X"))
    [refused] = store.reassign(T, "X", "nobody", "supervisor:sue", False, NOW + 1)
    assert refused.kind == "rejected"
    [dup] = assign(store, req("X"), now=NOW + 2)
    assert dup.duplicate
    rec = store.ticket(T, "X")
    assert rec is not None and rec.latest == placed


def test_a_waiting_ticket_carries_its_queued_decision(store: AgentStore) -> None:
    [queued] = assign(store, req("W"))
    rec = store.ticket(T, "W")
    assert rec is not None and rec.latest == queued
    assert (rec.latest.kind, rec.latest.reason) == ("queued", "no eligible agent")
