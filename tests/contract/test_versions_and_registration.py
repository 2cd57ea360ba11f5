"""Ordered state and no registration by accident, on both stores.

A change carries its record's position as a version and applies only when newer than what the
store holds, so a late writer (a zombie replica, a redelivery) never rolls an agent, a queue or
a ticket's lifecycle back. Only onboarding (a ticket, a login) creates tenants and agents: stray
events are refused with a reason and leave no trace. The due index follows the pools that have
something due; the outbox acknowledgement hands back a ticket's newer decision."""

from __future__ import annotations

import pytest

from engine.errors import UnknownAgent, UnknownTenant, UnknownTicket
from engine.ports import OUTBOX_GRACE_MS, AgentStore, Version
from tests.contract.agent_store_helpers import NOW, T, assign, login, outcome, req, view

pytestmark = pytest.mark.contract


def v(offset: int, partition: int = 0, ts: int = NOW) -> Version:
    return Version(partition, offset, ts)


# ---- agents --------------------------------------------------------------------------------


def test_a_late_agent_change_never_rolls_the_agent_back(store: AgentStore) -> None:
    # Given an agent that went away (offset 10) and came back (offset 12)
    login(store, "ann")
    store.update_agent(T, "ann", {"status": "away"}, NOW, create=False, version=v(10))
    store.update_agent(T, "ann", {"status": "available"}, NOW, create=False, version=v(12))
    # When a zombie replica applies the 'away' of offset 10 again, late
    late = store.update_agent(T, "ann", {"status": "away"}, NOW, create=False, version=v(10))
    # Then nothing changes: the agent is still available
    assert late == []
    assert view(store, "ann").agent.status == "available"
    # and a newer change (offset 13) still applies
    store.update_agent(T, "ann", {"status": "busy"}, NOW, create=False, version=v(13))
    assert view(store, "ann").agent.status == "busy"


@pytest.mark.parametrize(
    ("stored", "late", "applies"),
    [
        (v(5), v(4), False),  # same partition: the log's order
        (v(5), v(5), False),  # the same record again (redelivery)
        (v(5), v(6), True),
        (v(5, 0, NOW), v(1, 1, NOW + 1), True),  # another partition (repartitioned): by ts
        (v(5, 0, NOW), v(9, 1, NOW - 1), False),
    ],
)
def test_versions_compare_by_offset_within_a_partition_else_by_time(
    store: AgentStore, stored: Version, late: Version, applies: bool
) -> None:
    # Given an agent whose last change had version ``stored``
    login(store, "ann", status="away")
    store.update_agent(T, "ann", {"status": "away"}, NOW, create=False, version=stored)
    # When a change with version ``late`` comes
    store.update_agent(T, "ann", {"status": "busy"}, NOW, create=False, version=late)
    # Then it applies exactly when it is newer
    assert (view(store, "ann").agent.status == "busy") is applies
    assert late.newer_than(stored) is applies


def test_only_a_login_creates_an_agent(store: AgentStore) -> None:
    # Given a pool with one agent
    login(store, "ann")
    # When a logout, a status change and a claim name an agent that never logged in
    for call in (
        lambda: store.update_agent(T, "ghost", {"status": "offline"}, NOW, create=False),
        lambda: store.claim(T, "ghost", NOW),
    ):
        with pytest.raises(UnknownAgent):
            call()
    # Then no agent was created
    assert [a.agent.id for a in store.agents(T)] == ["ann"]


# ---- tenants -------------------------------------------------------------------------------


def test_stray_events_of_made_up_tenants_register_nothing(store: AgentStore) -> None:
    # Given a store with one real tenant
    login(store, "ann")
    # When events of made-up tenants arrive: a release, an accept, a status change, a pause,
    # a claim, a reassign, and reads
    for i in range(20):
        tenant = f"made-up-{i}"
        with pytest.raises(UnknownTicket):
            store.release(tenant, "T-1", "resolved", NOW)
        with pytest.raises(UnknownTicket):
            store.accept(tenant, "T-1", "ann", NOW)
        with pytest.raises(UnknownAgent):
            store.update_agent(tenant, "ann", {"status": "away"}, NOW, create=False)
        with pytest.raises(UnknownTenant):
            store.set_paused(tenant, "support", True, NOW)
        with pytest.raises(UnknownAgent):
            store.claim(tenant, "ann", NOW)
        [rejected] = store.reassign(tenant, "T-1", "ann", "sup", False, NOW)
        assert rejected.kind == "rejected"
        assert store.ticket(tenant, "T-1") is None
        assert store.agents(tenant) == []
        assert store.waiting(tenant) == []
    # Then the store still knows one tenant, and no pool is due
    assert store.tenants() == [T]
    assert [p.tenant for p in store.due_pools(NOW + 10**9, 100)] == []


# ---- queues and tickets ------------------------------------------------------------------


def test_a_late_pause_does_not_stop_a_resumed_queue(store: AgentStore) -> None:
    # Given a queue paused (offset 3) then resumed (offset 4)
    login(store, "ann", capacity={"chat": 0})
    assign(store, req("W"))
    store.set_paused(T, "support", True, NOW, version=v(3))
    store.set_paused(T, "support", False, NOW, version=v(4))
    # When the pause of offset 3 is applied again, late
    assert store.set_paused(T, "support", True, NOW, version=v(3)) == []
    # Then the queue is not paused: an agent with capacity takes the waiting ticket
    decisions = login(store, "bob")
    assert outcome(decisions) == [("assigned", "W", "bob")]


def test_a_late_release_does_not_close_a_reopened_ticket(store: AgentStore) -> None:
    # Given a ticket resolved (offset 7) and reopened (offset 8)
    login(store, "ann")
    [d] = assign(store, req("X"))
    store.release(T, "X", "resolved", NOW, version=v(7))
    reopened = store.reopen(req("X"), {"id": "X"}, NOW, version=v(8))
    assert outcome(reopened) == [("assigned", "X", "ann")]
    # When the resolve of offset 7 comes again, late
    late = store.release(T, "X", "resolved", NOW, version=v(7))
    # Then the ticket stays open with its agent
    assert late == []
    rec = store.ticket(T, "X")
    assert rec is not None and (rec.state, rec.agent) == ("assigned", "ann")
    # and a late reopen (offset 8 again) of a newly closed ticket changes nothing either
    store.release(T, "X", "resolved", NOW, version=v(9))
    assert store.reopen(req("X"), {"id": "X"}, NOW, version=v(8)) == []
    assert d.seq >= 1


# ---- due index -----------------------------------------------------------------------------


def test_the_due_index_lists_pools_with_something_due_and_follows_changes(
    store: AgentStore,
) -> None:
    # Given two pools: one with a ticket waiting for an escalation in 60 s, one idle
    login(store, "ann", capacity={"chat": 0})
    assign(store, req("W", wake_ms=NOW + 60_000))
    store.update_agent("idle", "bob", {"status": "available"}, NOW)
    store.sweep_due()
    # When the due pools are asked for now / Then none is due yet
    assert store.due_pools(NOW, 10) == []
    # and at the escalation time (the outbox entries of the decisions are due before it)
    due = store.due_pools(NOW + 60_000, 10)
    assert [p.tenant for p in due] == [T]
    # When its timer fires and the pool is rescheduled with nothing left pending
    for timer in store.claim_timers(T, NOW + 60_000, 1_000, 10):
        store.timer_done(timer)
    store.outbox_claim(T, NOW + 60_000, 1_000, 10)
    store.outbox_ack(T, [("W", 1, False)])
    store.reschedule(due)
    # Then the pool is no longer listed, even much later
    assert store.due_pools(NOW + 10**9, 10) == []


def test_a_pool_changed_while_it_was_fired_stays_listed(store: AgentStore) -> None:
    # Given a due pool handed out by the index
    login(store, "ann", capacity={"chat": 0})
    assign(store, req("W", wake_ms=NOW + 1_000))
    store.sweep_due()
    due = store.due_pools(NOW + 1_000, 10)
    for timer in store.claim_timers(T, NOW + 1_000, 1_000, 10):
        store.timer_done(timer)
    # When another ticket gets an escalation timer meanwhile, then the pool is rescheduled
    assign(store, req("V", wake_ms=NOW + 5_000))
    store.reschedule(due)
    # Then the new timer is found when it falls due
    assert [p.tenant for p in store.due_pools(NOW + 5_000, 10)] == [T]
    assert [t.ticket_id for t in store.claim_timers(T, NOW + 5_000, 1_000, 10)] == ["V"]


# ---- outbox: the newest decision last -----------------------------------------------------


def test_acknowledging_an_older_decision_hands_back_the_newer_one(store: AgentStore) -> None:
    # Given a ticket assigned (seq 1) then released (seq 2) by another replica
    login(store, "ann")
    [assigned] = assign(store, req("X"))
    [released] = store.release(T, "X", "resolved", NOW)
    # When the publisher of the assignment acknowledges it
    newer = store.outbox_ack(T, [("X", assigned.seq, False)])
    # Then the store hands back the release, to publish after it
    assert [(d.kind, d.seq) for d in newer] == [("released", released.seq)]
    # and acknowledging the release itself hands back nothing and empties the outbox
    assert store.outbox_ack(T, [("X", released.seq, False)]) == []
    assert store.outbox_claim(T, NOW + 2 * OUTBOX_GRACE_MS, 1_000, 10) == []


def test_a_published_duplicate_never_acknowledges_the_decision_it_repeats(
    store: AgentStore,
) -> None:
    # Given an assignment whose publisher died before publishing it
    login(store, "ann")
    [d] = assign(store, req("X"))
    # When a redelivery's duplicate decision (same seq) is published and acknowledged
    [dup] = assign(store, req("X"))
    assert dup.duplicate and dup.seq == d.seq
    assert store.outbox_ack(T, [("X", dup.seq, True)]) == []
    # Then the original decision is still handed out by the outbox
    assert store.outbox_claim(T, NOW + OUTBOX_GRACE_MS, 1_000, 10) == [d]


# ---- who and why -------------------------------------------------------------------------


def test_a_supervisors_move_records_who_and_why_in_its_decisions(store: AgentStore) -> None:
    # Given a waiting ticket and an agent without capacity
    login(store, "ann", capacity={"chat": 0})
    assign(store, req("W"))
    # When a supervisor raises it (a re-route with who and why), then moves it to ann by force
    [raised] = store.reroute([req("W", priority=1)], NOW, [None], by="supervisor:lea", why="vip")
    [moved, *_] = store.reassign(T, "W", "ann", "supervisor:lea", True, NOW, why="customer call")
    [refused] = store.reassign(T, "W", "ann", "supervisor:lea", True, NOW, why="again")
    # Then every decision names who asked and why
    assert (raised.kind, raised.supervisor, raised.why) == ("escalated", "supervisor:lea", "vip")
    assert (moved.kind, moved.supervisor, moved.why) == (
        "reassigned",
        "supervisor:lea",
        "customer call",
    )
    assert (refused.kind, refused.why) == ("rejected", "again")
    assert moved.to_event()["why"] == "customer call"
