"""The outbox: decisions not acknowledged as published are handed out again."""

from __future__ import annotations

import pytest

from engine.ports import OUTBOX_GRACE_MS, AgentStore
from tests.contract.agent_store_helpers import NOW, T, assign, login, req

pytestmark = pytest.mark.contract
LEASE_MS = 5_000


def test_every_decision_about_a_ticket_carries_its_next_version(store: AgentStore) -> None:
    # Given a ticket that waits, then is pulled by a new agent
    [queued] = assign(store, req("t1"))
    [pulled] = login(store, "a1")
    # Then the versions count up, and a duplicate carries the current one
    [dup] = assign(store, req("t1"))
    assert (queued.kind, queued.seq) == ("queued", 1)
    assert (pulled.kind, pulled.seq) == ("assigned", 2)
    assert (dup.duplicate, dup.seq) == (True, 2)


def test_acknowledged_decisions_are_not_handed_out_again(store: AgentStore) -> None:
    # Given an assignment whose publication was acknowledged
    login(store, "a1")
    [d] = assign(store, req("t1"))
    store.outbox_ack(T, [(d.ticket_id, d.seq, False)])
    # When the grace period is long over
    later = NOW + 10 * OUTBOX_GRACE_MS
    # Then nothing is handed out
    assert store.outbox_claim(T, later, LEASE_MS, 100) == []


def test_unacknowledged_decision_is_handed_out_after_the_grace_period_once_per_lease(
    store: AgentStore,
) -> None:
    # Given an assignment whose publisher died before publishing it
    login(store, "a1")
    [d] = assign(store, req("t1"))
    # Then it is not handed out during the grace period
    assert store.outbox_claim(T, NOW + OUTBOX_GRACE_MS - 1, LEASE_MS, 100) == []
    # But after it, once per lease, identical to the original
    due = NOW + OUTBOX_GRACE_MS
    [again] = store.outbox_claim(T, due, LEASE_MS, 100)
    assert again == d
    assert store.outbox_claim(T, due + LEASE_MS - 1, LEASE_MS, 100) == []
    assert store.outbox_claim(T, due + LEASE_MS, LEASE_MS, 100) == [d]


def test_ack_of_an_older_version_keeps_the_newer_decision(store: AgentStore) -> None:
    # Given a queued ticket later pulled by an agent
    [queued] = assign(store, req("t1"))
    [pulled] = login(store, "a1")
    # When only the older decision is acknowledged
    store.outbox_ack(T, [("t1", queued.seq, False)])
    # Then the newer one is still handed out
    assert store.outbox_claim(T, NOW + OUTBOX_GRACE_MS, LEASE_MS, 100) == [pulled]
