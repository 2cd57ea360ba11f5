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


def test_a_ticket_held_back_by_a_fairness_limit_wakes_when_the_window_slides(
    store: AgentStore,
) -> None:
    # Given an agent at her limit (2 in 60 s: given at NOW and NOW + 30 s) and a third waiting
    login(store, "a", capacity={"chat": 10})
    assign(store, fair("X0"), now=NOW)
    assign(store, fair("X1"), now=NOW + 30_000)
    [d] = assign(store, fair("X2"), now=NOW + 40_000)
    assert (d.kind, dict(d.filtered)) == ("queued", {"fair_share": 1})
    # Then its timer falls due when her oldest ticket leaves the window, not later
    assert store.claim_timers(T, NOW + 59_999, LEASE_MS, 10) == []
    [timer] = store.claim_timers(T, NOW + 60_000, LEASE_MS, 10)
    assert (timer.kind, timer.ticket_id, timer.due_ms) == ("esc", "X2", NOW + 60_000)
    # And routed again then, she takes it
    assert outcome(store.reroute([fair("X2")], NOW + 60_000)) == [("assigned", "X2", "a")]


# ---- shifts -----------------------------------------------------------------------------------
def hours(start: int, end: int) -> dict[str, Any]:
    return {"schedule": "day", "shift_start_ms": start, "shift_end_ms": end}


def test_no_work_outside_the_shift_and_the_agent_pulls_when_it_starts(store: AgentStore) -> None:
    login(store, "a", **hours(NOW + 60_000, NOW + 120_000))
    [d] = assign(store, req("X"))
    assert (d.kind, dict(d.filtered)) == ("queued", {"shift": 1})
    # Then her timer falls due when the shift starts
    [timer] = store.claim_timers(T, NOW + 60_000, LEASE_MS, 10)
    assert (timer.kind, timer.ticket_id, timer.agent, timer.due_ms) == (
        "hours",
        "",
        "a",
        NOW + 60_000,
    )
    # And the dispatcher's update at that time makes her pull; the timer moves to the end
    ds = store.update_agent(T, "a", {}, NOW + 60_000, create=False)
    assert outcome(ds) == [("assigned", "X", "a")]
    store.timer_done(timer)
    [timer] = store.claim_timers(T, NOW + 120_000, LEASE_MS, 10)
    assert (timer.kind, timer.due_ms) == ("hours", NOW + 120_000)
    # After the shift she gets nothing
    [d] = assign(store, req("Y"), now=NOW + 120_000)
    assert (d.kind, dict(d.filtered)) == ("queued", {"shift": 1})


def test_long_channels_stop_before_the_shift_ends(store: AgentStore) -> None:
    login(store, "a", capacity={"chat": 5, "email": 5}, **hours(NOW - 1, NOW + 1_800_000))
    # 30 min before the end: no e-mail (stop 1800 s), chat still
    [e] = assign(store, req("E", channel="email", shift_stop_ms=1_800_000))
    [c] = assign(store, req("C", channel="chat", shift_stop_ms=300_000))
    assert (e.kind, dict(e.filtered), c.kind) == ("queued", {"shift": 1}, "assigned")


def test_an_agent_without_a_schedule_has_no_timer(store: AgentStore) -> None:
    login(store, "a", **hours(NOW + 10, NOW + 20))
    login(store, "a", schedule="", shift_start_ms=0, shift_end_ms=0)
    assert store.claim_timers(T, NOW + 1_000_000, LEASE_MS, 10) == []
    [d] = assign(store, req("X"))
    assert d.agent == "a"


# ---- wrap-up ----------------------------------------------------------------------------------
def test_a_resolved_ticket_holds_its_agent_for_the_wrap_up(store: AgentStore) -> None:
    login(store, "a", capacity={"chat": 1})
    assign(store, req("X", wrap_up_ms=30_000))
    [d] = assign(store, req("Y"))
    assert d.kind == "queued"
    # When X is resolved, a wraps up for 30 s instead of pulling Y
    ds = store.release(T, "X", "resolved", NOW + 1)
    assert outcome(ds) == [("released", "X", "a")]
    assert {v.agent.id: v.agent.wrap_until_ms for v in store.agents(T)} == {"a": NOW + 30_001}
    [d] = assign(store, req("Z"), now=NOW + 2)
    assert dict(d.filtered) == {"wrap_up": 1}
    # Then her timer falls due at the end of the wrap-up and she pulls Y
    [timer] = store.claim_timers(T, NOW + 30_001, LEASE_MS, 10)
    assert (timer.kind, timer.agent) == ("hours", "a")
    ds = store.update_agent(T, "a", {}, NOW + 30_001, create=False)
    assert outcome(ds) == [("assigned", "Y", "a")]


def test_available_again_ends_the_wrap_up_early(store: AgentStore) -> None:
    login(store, "a", capacity={"chat": 1})
    assign(store, req("X", wrap_up_ms=30_000))
    assign(store, req("Y"))
    store.release(T, "X", "resolved", NOW + 1)
    ds = store.update_agent(T, "a", {"status": "available"}, NOW + 5, create=False)
    assert outcome(ds) == [("assigned", "Y", "a")]
    assert store.claim_timers(T, NOW + 30_001, LEASE_MS, 10) == []


def test_only_a_resolved_assigned_ticket_starts_a_wrap_up(store: AgentStore) -> None:
    login(store, "a", capacity={"chat": 2})
    assign(store, req("X", wrap_up_ms=30_000), req("O", wrap_up_ms=30_000, offer_timeout_ms=9))
    assign(store, req("Y"))
    store.release(T, "X", "cancelled", NOW + 1)  # pulls Y
    ds = store.release(T, "O", "resolved", NOW + 2)  # only offered: no wrap-up
    assert outcome(ds) == [("released", "O", "a")]
    assert [v.agent.wrap_until_ms for v in store.agents(T)] == [0]
