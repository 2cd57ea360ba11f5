"""The AgentStore contract: timers, agent updates and tenants, on both stores
(fixture ``store``).
"""

from __future__ import annotations

import pytest

from engine.ports import AgentStore
from tests.contract.agent_store_helpers import LEASE_MS, NOW, T, assign, login, offer_req, req, view

pytestmark = pytest.mark.contract


# ---- timers, agents, tenants --------------------------------------------------------------------
def test_timer_re_scheduled_at_exactly_its_lease_end_is_not_done(store: AgentStore) -> None:
    # Given a waiting ticket whose escalation timer is claimed when due
    due = NOW + 30_000
    assign(store, req("X", wake_ms=due))
    [timer] = store.claim_timers(T, due, LEASE_MS, 10)
    # When its holder schedules the next step at exactly the lease end, then marks it done
    [d] = store.reroute([req("X", step="next", wake_ms=due + LEASE_MS)], due)
    assert d.kind == "escalated"
    store.timer_done(timer)
    # Then the next step still fires, under a claim of its own
    [nxt] = store.claim_timers(T, due + LEASE_MS, LEASE_MS, 10)
    assert (nxt.kind, nxt.ticket_id, nxt.due_ms) == ("esc", "X", due + LEASE_MS)
    assert nxt.token != timer.token
    store.timer_done(timer)  # a stale claim removes nothing
    assert store.claim_timers(T, due + 3 * LEASE_MS, LEASE_MS, 10) != []  # nxt's holder died
    [again] = store.claim_timers(T, due + 5 * LEASE_MS, LEASE_MS, 10)
    store.timer_done(nxt)  # superseded by a later claim: removes nothing
    store.timer_done(again)
    assert store.claim_timers(T, due + 10 * LEASE_MS, LEASE_MS, 10) == []


def test_claimed_timer_not_done_is_claimable_again_after_its_lease(store: AgentStore) -> None:
    login(store, "a")
    assign(store, offer_req("X"))
    due = NOW + 20_000
    assert store.claim_timers(T, due - 1, LEASE_MS, 10) == []
    [first] = store.claim_timers(T, due, LEASE_MS, 10)
    assert store.claim_timers(T, due + LEASE_MS - 1, LEASE_MS, 10) == []  # leased
    [second] = store.claim_timers(T, due + LEASE_MS, LEASE_MS, 10)  # holder died
    assert (second.ticket_id, second.due_ms) == ("X", due + LEASE_MS)
    assert second.token != first.token
    store.timer_done(first)  # a stale claim removes nothing
    [third] = store.claim_timers(T, due + 2 * LEASE_MS, LEASE_MS, 10)
    store.timer_done(third)
    assert store.claim_timers(T, due + 10 * LEASE_MS, LEASE_MS, 10) == []


def test_agent_update_merges_the_given_fields(store: AgentStore) -> None:
    login(store, "a", skills={"en": 3}, performance=0.25, team="blue")
    store.update_agent(T, "a", {"skills": {"fr": 2}, "capacity": {"chat": 3, "phone": 1}}, NOW)
    a = view(store, "a").agent
    assert (a.status, a.skills, a.regions, a.team, a.performance) == (
        "available",
        {"fr": 2},
        ("eu",),
        "blue",
        0.25,
    )
    assert a.capacity == {"chat": 3, "phone": 1}
    [d] = assign(store, req("X", skills={"fr": 1}))
    assert d.agent == "a"
    [e] = assign(store, req("Y", skills={"en": 1}))
    assert (e.kind, e.candidates) == ("queued", 0)


def test_tenants_lists_every_pool(store: AgentStore) -> None:
    store.update_agent("zeta", "a", {"status": "busy"}, NOW)
    login(store, "a")
    assert store.tenants() == [T, "zeta"]
    assert [v.agent.id for v in store.agents("zeta")] == ["a"]
