"""The AgentStore contract for grab mode (engine.core.pull), on both stores (fixture
``store``): pooled tickets wait for claims, first claim wins, the pool read, claim limits,
the push fallback, mixed push and pull queues, hostile claims.
"""

from __future__ import annotations

import pytest

from engine.core.model import Ticket
from engine.core.policy import parse_policy
from engine.core.routing import route
from engine.errors import UnknownAgent
from engine.ports import (
    GRAB_CLAIMED,
    GRAB_MAY_NOT_CLAIM,
    GRAB_POOLED,
    GRAB_STEP_CLAIMED,
    REASON_NOT_OPEN,
    REASON_PAUSED,
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


def test_pooled_tickets_are_never_pushed_to_free_agents(store: AgentStore) -> None:
    # Given a free eligible agent
    login(store, "ann")
    # When pooled tickets arrive
    ds = assign(store, req("P1", queue="pool", pull=True), req("P2", queue="pool", pull=True))
    # Then they are queued as pooled (the agent counted as a candidate), nobody gets them
    assert [(d.kind, d.reason, d.candidates) for d in ds] == [("queued", GRAB_POOLED, 1)] * 2
    assert waiting_ids(store) == ["P1", "P2"]
    # And a release or a status change does not pull them either
    assert store.update_agent(T, "ann", {"status": "available"}, NOW + 1) == []


def test_first_claim_wins_the_second_is_a_conflict(store: AgentStore) -> None:
    # Given two agents and a pooled ticket
    login(store, "ann")
    login(store, "bob")
    assign(store, req("P1", queue="pool", pull=True))
    # When both claim it
    first = store.claim(T, "ann", NOW + 1, "P1")
    second = store.claim(T, "bob", NOW + 2, "P1")
    # Then the first is assigned (never offered), the second is a rejected decision
    assert [(d.kind, d.agent, d.step) for d in first] == [("assigned", "ann", "initial|claim")]
    assert first[0].seq > 0 and first[0].step.endswith(GRAB_STEP_CLAIMED)
    assert [(d.kind, d.agent, d.reason, d.seq, d.step) for d in second] == [
        ("rejected", "bob", GRAB_CLAIMED, 0, "initial|claim")
    ]
    # And nothing changed for bob; a re-run of ann's claim changes nothing
    assert view(store, "ann").load("chat") == 1 and view(store, "bob").load("chat") == 0
    assert store.claim(T, "ann", NOW + 3, "P1") == []
    rec = store.ticket(T, "P1")
    assert rec is not None and (rec.state, rec.agent) == ("assigned", "ann")


def test_a_claim_assigns_even_on_a_queue_with_offers(store: AgentStore) -> None:
    login(store, "ann")
    assign(store, req("P1", queue="pool", pull=True, offer_timeout_ms=20_000))
    # When the agent claims it / Then it is assigned: the agent chose it, no offer timer
    assert outcome(store.claim(T, "ann", NOW, "P1")) == [("assigned", "P1", "ann")]
    assert store.claim_timers(T, NOW + 10**9, LEASE_MS, 10) == []


def test_claim_without_a_ticket_takes_the_best_by_priority_then_age(store: AgentStore) -> None:
    # Given pooled tickets of two priorities and ages, and one the agent may not take
    login(store, "ann", skills={"en": 1})
    assign(
        store,
        req("old3", queue="pool", pull=True, priority=3, ts=NOW - 50),
        req("new1", queue="pool", pull=True, priority=1, ts=NOW - 10),
        req("old1", queue="pool", pull=True, priority=1, ts=NOW - 20),
        req("fr1", queue="pool", pull=True, priority=1, ts=NOW - 90, skills={"fr": 1}),
    )
    # When it claims three times without naming one
    got = [outcome(store.claim(T, "ann", NOW + i)) for i in range(3)]
    # Then it got the eligible ones best first, then nothing (capacity 2)
    assert got == [[("assigned", "old1", "ann")], [("assigned", "new1", "ann")], []]


def test_pool_read_lists_claimable_tickets_best_first(store: AgentStore) -> None:
    # Given a pool with tickets of several priorities, one of them for French speakers, and a
    # push queue's waiting ticket
    login(store, "ann", skills={"en": 1}, capacity={"chat": 1})
    login(store, "bob", status="busy")
    store.set_paused(T, "push", True, NOW)
    assign(
        store,
        req("p3", queue="pool", pull=True, priority=3),
        req("p1", queue="pool", pull=True, priority=1),
        req("fr", queue="pool", pull=True, priority=1, skills={"fr": 1}),
        req("w", queue="push"),
    )
    # When the agent's pool is read
    pool = store.pool(T, "ann", NOW, 10)
    # Then only the pooled tickets it may claim are listed, best first, bounded by the limit
    assert [(e.ticket_id, e.queue, e.priority) for e in pool] == [
        ("p1", "pool", 1),
        ("p3", "pool", 3),
    ]
    assert [e.ticket_id for e in store.pool(T, "ann", NOW, 1)] == ["p1"]
    assert store.pool(T, "ann", NOW, 0) == []
    # And an agent that may claim nothing (busy) sees an empty pool, an unknown one an error
    assert store.pool(T, "bob", NOW, 10) == []
    with pytest.raises(UnknownAgent):
        store.pool(T, "ghost", NOW, 10)
    with pytest.raises(UnknownAgent):
        store.pool("nobody", "ann", NOW, 10)
    # And once the agent is full, its pool is empty
    store.claim(T, "ann", NOW, "p3")
    assert store.pool(T, "ann", NOW, 10) == []


def test_claim_limit_counts_open_tickets_of_the_queue(store: AgentStore) -> None:
    # Given a pool with a claim limit of 1 and an agent with room for more
    login(store, "ann", capacity={"chat": 5})
    assign(store, *(req(f"P{i}", queue="pool", pull=True, claim_limit=1) for i in range(3)))
    assert outcome(store.claim(T, "ann", NOW, "P0")) == [("assigned", "P0", "ann")]
    # When it claims a second one / Then refused with the code, and the pool read agrees
    [d] = store.claim(T, "ann", NOW, "P1")
    assert (d.kind, d.reason) == ("rejected", GRAB_MAY_NOT_CLAIM + "claim_limit")
    assert store.claim(T, "ann", NOW) == []
    assert store.pool(T, "ann", NOW, 10) == []
    # And once the first is resolved it may claim again
    store.release(T, "P0", "resolved", NOW + 1)
    assert outcome(store.claim(T, "ann", NOW + 2)) == [("assigned", "P1", "ann")]


def test_claim_refusals_are_decisions_that_change_nothing(store: AgentStore) -> None:
    login(store, "ann", skills={"en": 1})
    assign(
        store,
        req("fr", queue="pool", pull=True, skills={"fr": 1}),
        req("held", queue="paused", pull=True),
        req("done", queue="pool", pull=True),
    )
    store.set_paused(T, "paused", True, NOW)
    store.release(T, "done", "cancelled", NOW)
    cases = {
        "fr": GRAB_MAY_NOT_CLAIM + "skill",
        "held": REASON_PAUSED,
        "done": REASON_NOT_OPEN,
        "never-seen": REASON_NOT_OPEN,
        "{evil}|x:y": REASON_NOT_OPEN,
    }
    for tid, reason in cases.items():
        [d] = store.claim(T, "ann", NOW, tid)
        assert (d.kind, d.ticket_id, d.agent, d.reason, d.seq) == (
            "rejected",
            tid,
            "ann",
            reason,
            0,
        )
    assert view(store, "ann").open == {}
    assert sorted(waiting_ids(store)) == ["fr", "held"]
    with pytest.raises(UnknownAgent):
        store.claim(T, "ghost", NOW, "fr")


def test_claiming_a_push_ticket_another_agent_holds_is_a_conflict(store: AgentStore) -> None:
    # Given a push ticket waiting because its only candidate was busy, then pulled by it
    login(store, "ann", status="busy")
    assign(store, req("W"))
    store.update_agent(T, "ann", {"status": "available"}, NOW + 1)
    rec = store.ticket(T, "W")
    assert rec is not None and rec.agent == "ann"
    # When another agent claims it by name / Then that is the conflict
    login(store, "bob")
    assert [(d.kind, d.reason) for d in store.claim(T, "bob", NOW + 2, "W")] == [
        ("rejected", GRAB_CLAIMED)
    ]


GRAB = parse_policy(
    {
        "version": 1,
        "queues": [
            {"name": "late", "match": {"tier": "late"}, "strategy": "round_robin",
             "mode": "pull", "push_after_s": 60},
            {"name": "chat", "strategy": "least_loaded"},
        ],
    }
)  # fmt: skip


def test_push_fallback_routes_an_unclaimed_ticket_through_the_timer(store: AgentStore) -> None:
    # Given a mixed center: a pull queue with a 60 s fallback and a push queue
    login(store, "ann", capacity={"chat": 3})
    late = Ticket(id="L", tenant=T, ts=NOW, channel="chat", priority=3, tier="late")
    chat = Ticket(id="C", tenant=T, ts=NOW, channel="chat", priority=3)
    reqs = [route(t, GRAB, NOW).request for t in (late, chat)]
    assert all(r is not None for r in reqs)
    events = [{"id": t.id, "ts": t.ts} for t in (late, chat)]
    ds = store.assign([(r, e) for r, e in zip(reqs, events, strict=True) if r], NOW)
    # Then the push ticket is assigned at once, the pull ticket is pooled
    assert [(d.kind, d.ticket_id) for d in ds] == [("queued", "L"), ("assigned", "C")]
    assert store.claim_timers(T, NOW + 59_999, LEASE_MS, 10) == []
    # When its fallback timer falls due and the ticket is routed again
    [timer] = store.claim_timers(T, NOW + 60_000, LEASE_MS, 10)
    assert (timer.kind, timer.ticket_id) == ("esc", "L")
    again = route(late, GRAB, NOW + 60_000).request
    assert again is not None and not again.pull
    out = store.reroute([again], NOW + 60_000)
    # Then it is pushed to the free agent
    assert [(d.kind, d.agent, d.step) for d in out] == [("assigned", "ann", "push_after")]
