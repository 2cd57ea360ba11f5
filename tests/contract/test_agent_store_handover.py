"""The AgentStore contract: handover (``handover``, ``away_timers``) and the policy revision
decisions carry, on both stores (fixture ``store``).
"""

from __future__ import annotations

import pytest

from engine.escaping import timer_member
from engine.ports import (
    ASSIGNED,
    OFFERED,
    OUTBOX_GRACE_MS,
    TIMER_HANDOVER,
    WAITING,
    AgentStore,
)
from tests.contract.agent_store_helpers import (
    LEASE_MS,
    NOW,
    T,
    assign,
    login,
    outcome,
    req,
    view,
    waiting_ids,
)

pytestmark = pytest.mark.contract


def state(store: AgentStore, tid: str) -> tuple[str, str | None]:
    rec = store.ticket(T, tid)
    assert rec is not None
    return rec.state, rec.agent


def test_logout_hands_open_tickets_over_to_a_free_agent(store: AgentStore) -> None:
    # Given ann holding an assigned and an offered ticket, and bob free
    login(store, "ann", capacity={"chat": 2})
    assign(store, req("X", ts=NOW - 5_000), req("Y", ts=NOW - 9_000, offer_timeout_ms=20_000))
    login(store, "bob", capacity={"chat": 2})
    store.update_agent(T, "ann", {"status": "offline"}, NOW)
    # When her tickets are handed over (oldest first), she being offline
    out = store.handover(
        T, "ann", [req("Y", ts=NOW - 9_000), req("X", ts=NOW - 5_000)], "logout", "offline", NOW
    )
    # Then each is a handed_over decision naming her and the cause, then a placement
    assert outcome(out) == [
        ("handed_over", "Y", "ann"),
        ("assigned", "Y", "bob"),
        ("handed_over", "X", "ann"),
        ("assigned", "X", "bob"),
    ]
    assert [d.reason for d in out[::2]] == ["logout", "logout"]
    assert [d.seq for d in out] == [2, 3, 2, 3]  # placed (1), each move versions it
    assert (out[1].ticket_ts, out[3].ticket_ts) == (NOW - 9_000, NOW - 5_000)
    # And loads follow exactly: she holds nothing, bob both
    assert view(store, "ann").open == {}
    assert view(store, "bob").open == {"chat": ("X", "Y")}
    assert state(store, "X") == (ASSIGNED, "bob")
    # And no offer timer of hers is left
    assert [t.kind for t in store.claim_timers(T, NOW + 60_000, LEASE_MS, 10)] == []


def test_handover_without_a_free_agent_requeues_by_age(store: AgentStore) -> None:
    # Given ann holding three tickets of different ages and nobody else
    login(store, "ann", capacity={"chat": 3})
    assign(store, req("A", ts=NOW - 1_000), req("B", ts=NOW - 3_000), req("C", ts=NOW - 2_000))
    store.update_agent(T, "ann", {"status": "away"}, NOW)
    # When they are handed over for being away
    reqs = [req("B", ts=NOW - 3_000), req("C", ts=NOW - 2_000), req("A", ts=NOW - 1_000)]
    out = store.handover(T, "ann", reqs, "away", "away", NOW)
    # Then they wait, in the order of their own age
    assert [(d.kind, d.reason) for d in out] == [
        ("handed_over", "away"),
        ("queued", "no eligible agent"),
    ] * 3
    assert waiting_ids(store) == ["B", "C", "A"]
    assert view(store, "ann").open == {}
    # And an agent logging in takes them oldest first
    assert outcome(login(store, "bob", capacity={"chat": 2})) == [
        ("assigned", "B", "bob"),
        ("assigned", "C", "bob"),
    ]


def test_an_agent_back_before_the_handover_keeps_its_tickets(store: AgentStore) -> None:
    # Given ann holding X, bob free, and ann available again
    login(store, "ann")
    assign(store, req("X"))
    login(store, "bob")
    # When a logout handover runs / Then nothing moves: she is not offline
    assert store.handover(T, "ann", [req("X")], "logout", "offline", NOW) == []
    assert state(store, "X") == (ASSIGNED, "ann")
    # And an unknown agent hands nothing over
    assert store.handover(T, "nobody", [req("X")], "logout", "offline", NOW) == []


def test_handover_is_idempotent_and_skips_tickets_not_with_the_agent(store: AgentStore) -> None:
    # Given ann holding X, a waiting ticket W, bob with room for one
    login(store, "ann", capacity={"chat": 1})
    assign(store, req("X"), req("W"))
    login(store, "bob", capacity={"chat": 1}, status="busy")
    store.update_agent(T, "ann", {"status": "offline"}, NOW)
    store.update_agent(T, "bob", {"status": "available"}, NOW)  # bob pulls W
    assert state(store, "W") == (ASSIGNED, "bob")
    # When ann's handover names X and W / Then only X moves (bob is full: it waits)
    out = store.handover(T, "ann", [req("X"), req("W")], "logout", "offline", NOW)
    assert outcome(out) == [("handed_over", "X", "ann"), ("queued", "X", None)]
    # And a re-run changes nothing
    assert store.handover(T, "ann", [req("X"), req("W")], "logout", "offline", NOW) == []
    assert state(store, "X") == (WAITING, None)
    assert view(store, "bob").open == {"chat": ("W",)}


def test_handover_keeps_the_tickets_cool_offs(store: AgentStore) -> None:
    # Given X offered to ann, declined by bob before (he cools off for it)
    login(store, "bob")
    assign(store, req("X", offer_timeout_ms=20_000))
    store.decline(T, "X", "bob", False, req("X", offer_timeout_ms=20_000), NOW)
    login(store, "ann")
    assert state(store, "X") == (OFFERED, "ann")
    store.update_agent(T, "ann", {"status": "offline"}, NOW)
    # When ann logs out and X is handed over / Then bob, still cooling off, does not get it
    out = store.handover(T, "ann", [req("X", offer_timeout_ms=20_000)], "logout", "offline", NOW)
    assert outcome(out) == [("handed_over", "X", "ann"), ("queued", "X", None)]
    assert out[1].filtered == {"excluded": 1}


def test_away_timers_are_set_claimed_and_removed(store: AgentStore) -> None:
    # Given an agent with two away timers, one removed again
    login(store, "ann")
    first = timer_member(TIMER_HANDOVER, "support", "ann")
    second = timer_member(TIMER_HANDOVER, "vip", "ann")
    store.away_timers(T, [(first, NOW + 5_000), (second, NOW + 9_000)], NOW)
    store.away_timers(T, [(second, 0)], NOW)
    # When timers are claimed after both would be due / Then only the first fires
    [t] = store.claim_timers(T, NOW + 10_000, LEASE_MS, 10)
    assert (t.kind, t.ticket_id, t.agent, t.due_ms) == (
        TIMER_HANDOVER,
        "support",
        "ann",
        NOW + 5_000,
    )
    # And an unknown tenant has none to set
    store.away_timers("nobody", [(first, NOW)], NOW)
    assert store.claim_timers("nobody", NOW + 10_000, LEASE_MS, 10) == []


def test_decisions_carry_their_policy_revision_even_republished(store: AgentStore) -> None:
    # Given tickets routed under policy revision "a1b2c3d4e5f6"
    login(store, "ann", capacity={"chat": 1})
    out = assign(store, req("X", policy="a1b2c3d4e5f6"), req("Y", policy="a1b2c3d4e5f6"))
    # Then each decision names it
    assert [(d.kind, d.policy) for d in out] == [
        ("assigned", "a1b2c3d4e5f6"),
        ("queued", "a1b2c3d4e5f6"),
    ]
    # And the store keeps it: an outbox re-publication after a crash carries it too
    again = store.outbox_claim(T, NOW + OUTBOX_GRACE_MS, LEASE_MS, 10)
    assert sorted((d.ticket_id, d.policy) for d in again) == [
        ("X", "a1b2c3d4e5f6"),
        ("Y", "a1b2c3d4e5f6"),
    ]
    rec = store.ticket(T, "Y")
    assert rec is not None and rec.latest is not None and rec.latest.policy == "a1b2c3d4e5f6"
