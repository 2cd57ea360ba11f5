"""The AgentStore contract for call-center routing (teams, re-offer cool-off, fairness limits,
shifts and wrap-up), on the in-memory store and on Redis (fixture ``store``)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.core.model import Request
from engine.ports import AgentStore
from tests.contract.agent_store_helpers import (
    LEASE_MS,
    NOW,
    T,
    assign,
    login,
    outcome,
    req,
    waiting_ids,
)

pytestmark = pytest.mark.contract


# ---- teams ------------------------------------------------------------------------------------
def test_only_agents_of_an_allowed_team_take_the_ticket(store: AgentStore) -> None:
    login(store, "a", team="sales")
    login(store, "b")  # no team
    login(store, "c", team="billing")
    [d] = assign(store, req("X", teams=("billing", "support")))
    assert (d.kind, d.agent, dict(d.filtered)) == ("assigned", "c", {"team": 2})


def test_a_waiting_team_ticket_is_pulled_only_by_its_team(store: AgentStore) -> None:
    login(store, "a", team="sales")
    [d] = assign(store, req("X", teams=("billing",)))
    assert (d.kind, dict(d.filtered)) == ("queued", {"team": 1})
    assert store.update_agent(T, "a", {"capacity": {"chat": 3}}, NOW) == []
    ds = login(store, "b", team="billing")
    assert outcome(ds) == [("assigned", "X", "b")]
    assert waiting_ids(store) == []


# ---- re-offers after a cool-off ---------------------------------------------------------------
def offer(tid: str, **extra: Any) -> Request:
    return req(tid, offer_timeout_ms=20_000, offer_max_misses=3, reoffer_ms=60_000, **extra)


def test_a_declined_ticket_is_offered_again_when_the_cool_off_ends(store: AgentStore) -> None:
    login(store, "a")
    assign(store, offer("X"))
    # When a rejects it (with a reason) and is the only agent
    ds = store.decline(T, "X", "a", False, offer("X"), NOW + 1, why="on a call")
    assert outcome(ds) == [("released", "X", "a"), ("queued", "X", None)]
    assert (ds[0].why, ds[1].why, dict(ds[1].filtered)) == ("on a call", "", {"excluded": 1})
    rec = store.ticket(T, "X")
    assert rec is not None and rec.cooloff == (("a", NOW + 1 + 60_000),)
    # Then an escalation timer falls due when her cool-off ends
    assert store.claim_timers(T, NOW + 60_000, LEASE_MS, 10) == []
    [timer] = store.claim_timers(T, NOW + 60_001, LEASE_MS, 10)
    assert (timer.kind, timer.ticket_id, timer.due_ms) == ("esc", "X", NOW + 60_001)
    # And routing it again offers it to her
    ds = store.reroute([offer("X")], NOW + 60_001)
    assert outcome(ds) == [("offered", "X", "a")]


def test_an_agent_pulls_a_ticket_once_her_cool_off_is_over(store: AgentStore) -> None:
    login(store, "a", capacity={"chat": 1})
    assign(store, offer("X"))
    store.decline(T, "X", "a", True, offer("X"), NOW)
    assert waiting_ids(store) == ["X"]
    # While she cools off, a capacity change pulls nothing; afterwards it pulls the ticket
    assert store.update_agent(T, "a", {"capacity": {"chat": 2}}, NOW + 59_999) == []
    ds = store.update_agent(T, "a", {"capacity": {"chat": 3}}, NOW + 60_000)
    assert outcome(ds) == [("offered", "X", "a")]


def test_cool_offs_merge_and_expired_ones_are_dropped(store: AgentStore) -> None:
    login(store, "a")
    login(store, "b")
    login(store, "c")
    [d] = assign(store, offer("X", cooloff=(("b", NOW + 5), ("c", NOW + 500_000))))
    assert d.agent == "a"
    # When a declines at NOW + 10 (b's cool-off is over, c's runs on)
    ds = store.decline(T, "X", "a", False, offer("X", cooloff=(("c", NOW + 1),)), NOW + 10)
    assert outcome(ds)[1] == ("offered", "X", "b")
    rec = store.ticket(T, "X")
    assert rec is not None
    assert rec.cooloff == (("a", NOW + 10 + 60_000), ("c", NOW + 500_000))


def test_redis_reads_an_exclude_list_stored_before_cool_offs_as_expired(
    redis_client: Any, redis_store_factory: Any
) -> None:
    # Given a waiting ticket whose stored list is the old permanent exclusion ["a"]
    from engine.adapters.redis import keys, wire
    from engine.adapters.redis.layout import TICKET_HASH

    store = redis_store_factory()
    login(store, "b", capacity={"chat": 0})
    assign(store, req("X"))
    k = keys.pool_key(store._prefix, T, "ticket", "X")
    redis_client.hset(k, TICKET_HASH["cooloff"], wire.pack(["a"]))
    # When a logs in / Then she takes it: the old entry never strands the ticket
    assert store.ticket(T, "X").cooloff == ()  # type: ignore[union-attr]
    assert outcome(login(store, "a")) == [("assigned", "X", "a")]


# ---- fairness limits --------------------------------------------------------------------------
def fair(tid: str, **extra: Any) -> Request:
    return req(tid, strategy="round_robin", fair_max=2, fair_window_ms=60_000, **extra)


def test_an_agent_gets_at_most_max_new_tickets_of_a_queue_per_window(store: AgentStore) -> None:
    login(store, "a", capacity={"chat": 10})
    login(store, "b", capacity={"chat": 10})
    # When five tickets arrive in one batch
    ds = assign(store, *(fair(f"X{i}") for i in range(5)))
    # Then each agent gets two; the fifth waits, both agents at their fair share
    assert [d.agent for d in ds] == ["a", "b", "a", "b", None]
    assert (ds[4].kind, dict(ds[4].filtered)) == ("queued", {"fair_share": 2})
    # And another queue is not limited by it
    [d] = assign(store, req("Y", strategy="round_robin"))
    assert d.kind == "assigned"


def test_the_window_slides_and_the_waiting_ticket_is_pulled(store: AgentStore) -> None:
    login(store, "a", capacity={"chat": 10})
    assign(store, fair("X0"), now=NOW)
    assign(store, fair("X1"), now=NOW + 30_000)
    [d] = assign(store, fair("X2"), now=NOW + 40_000)
    assert d.kind == "queued"
    # When the first one leaves the window (at NOW + 60 s) and the agent can take more
    assert store.update_agent(T, "a", {"capacity": {"chat": 11}}, NOW + 59_999) == []
    ds = store.update_agent(T, "a", {"capacity": {"chat": 12}}, NOW + 60_000)
    # Then she pulls it; the one after waits for the next slot
    assert outcome(ds) == [("assigned", "X2", "a")]
    [d] = assign(store, fair("X3"), now=NOW + 60_001)
    assert (d.kind, dict(d.filtered)) == ("queued", {"fair_share": 1})
