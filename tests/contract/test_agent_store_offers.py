"""The AgentStore contract: offers, on the in-memory store and on Redis (fixture ``store``)."""

from __future__ import annotations

import pytest

from engine.ports import AgentStore
from tests.contract.agent_store_helpers import (
    LEASE_MS,
    NOW,
    T,
    assign,
    login,
    offer_req,
    outcome,
    view,
)

pytestmark = pytest.mark.contract


# ---- offers -----------------------------------------------------------------------------------
def test_accepted_offer_becomes_an_assignment(store: AgentStore) -> None:
    login(store, "a")
    [d] = assign(store, offer_req("X"))
    assert (d.kind, d.agent) == ("offered", "a")
    [e] = store.accept(T, "X", "a", NOW + 1)
    assert (e.kind, e.agent, e.step) == ("assigned", "a", "accepted")
    assert store.accept(T, "X", "a", NOW + 2) == []
    assert store.claim_timers(T, NOW + 20_000, LEASE_MS, 10) == []  # offer timer gone


def test_rejected_offer_goes_to_the_next_agent(store: AgentStore) -> None:
    login(store, "a")
    login(store, "b")
    assign(store, offer_req("X"))
    ds = store.decline(T, "X", "a", False, offer_req("X"), NOW + 1)
    assert outcome(ds) == [("released", "X", "a"), ("offered", "X", "b")]
    assert ds[0].reason == "offer rejected"
    rec = store.ticket(T, "X")
    assert rec is not None and (rec.state, rec.agent) == ("offered", "b")
    assert rec.cooloff == (("a", NOW + 1 + 300_000),)  # the default reoffer_after_s
    assert store.decline(T, "X", "a", False, offer_req("X"), NOW + 2) == []  # not a's any more


def test_offer_time_outs_count_misses_and_set_the_agent_away(store: AgentStore) -> None:
    login(store, "a")
    login(store, "b", capacity={"chat": 1})
    for n, tid in enumerate(("X", "Y"), start=1):
        now = NOW + n * 100_000
        [d] = assign(store, offer_req(tid), now=now)
        assert d.agent == "a"
        # When the offer timer fires
        [timer] = store.claim_timers(T, now + 20_000, LEASE_MS, 10)
        assert (timer.kind, timer.ticket_id, timer.agent, timer.due_ms) == (
            "offer",
            tid,
            "a",
            now + 20_000,
        )
        ds = store.decline(T, tid, "a", True, offer_req(tid), now + 20_000)
        store.timer_done(timer)
        # Then a counts a miss, the ticket moves on (to b while b has room)
        assert (ds[0].reason, view(store, "a").misses) == ("offer timed out", n)
        store.accept(T, tid, "b", now + 20_001)
    assert [d.kind for d in ds] == ["released", "queued"]  # b is full, a cooling off
    assert view(store, "a").agent.status == "away"
    login(store, "a")
    assert (view(store, "a").misses, view(store, "a").agent.status) == (0, "available")
