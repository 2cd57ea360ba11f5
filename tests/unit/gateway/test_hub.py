"""The stream hub and the feed: ids, order, resume without gaps on any replica, retention,
overflow, filtering, tenant isolation."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.gateway.feed import Feed
from engine.gateway.hub import (
    CLOSED,
    OPEN,
    OVERFLOW,
    NotReady,
    Subscription,
    TooManyStreams,
    Vector,
    agents_of,
    covers,
    encode_position,
    merged,
    parse_position,
)
from tests.unit.gateway.stream_helpers import (
    NOW_MS,
    TOPICS,
    Log,
    Replica,
    Sse,
    decision,
    events_of,
    parse_sse,
    sla,
    starts,
    tickets,
)

pytestmark = pytest.mark.unit

T = TypeVar("T")


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(scenario())  # type: ignore[arg-type]


def drain(sub: Subscription) -> list[Sse]:
    taken = sub.take()
    return parse_sse(taken.frames)


# ---- ids ---------------------------------------------------------------------------------


@given(st.lists(st.lists(st.integers(0, 2**63), min_size=1, max_size=20), min_size=1, max_size=3))
def test_positions_round_trip(groups: list[list[int]]) -> None:
    v: Vector = tuple(tuple(g) for g in groups)
    assert parse_position(encode_position(v)) == v


@pytest.mark.parametrize(
    "text",
    ["", "-", "1.", ".1", "1..2", "1--2", "0x1f", "1_0", "+1", " 1", "1 ", "A", "g", "1\n2",
     "1" * 17, "-".join(["0"] * 9), ".".join(["0"] * 5000)],
)  # fmt: skip
def test_ids_this_hub_never_wrote_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_position(text)


def test_merged_and_covers() -> None:
    a, b = ((1, 5), (2,)), ((3, 1, 7), ())
    assert merged(a, b) == ((3, 5, 7), (2,))
    assert covers(merged(a, b), a) and covers(merged(a, b), b)
    assert not covers(a, b) and covers(a, ((1,),))


# ---- what an agent's stream carries -------------------------------------------------------


@pytest.mark.parametrize("kind", ["offered", "assigned", "released"])
def test_agent_decisions_name_their_agent(kind: str) -> None:
    assert agents_of(decision("t", kind=kind, agent="a1")) == ("a1",)


def test_a_reassignment_reaches_the_agent_it_was_taken_from() -> None:
    ev = decision("t", kind="reassigned", agent="a2", reason="from a1")
    assert agents_of(ev) == ("a2", "a1")
    assert agents_of(decision("t", kind="reassigned", agent="a2")) == ("a2",)


@pytest.mark.parametrize("kind", ["queued", "escalated", "unassignable", "rejected"])
def test_other_decisions_reach_no_agent_stream(kind: str) -> None:
    assert agents_of(decision("t", kind=kind, agent="a1", reason="from a2")) == ()


def test_duplicates_reach_no_agent_stream() -> None:
    assert agents_of(decision("t", agent="a1", duplicate=True)) == ()
    assert agents_of(sla("t")) == ()


# ---- the feed ----------------------------------------------------------------------------


def test_feed_makes_entries_whose_id_is_the_position_after_their_record() -> None:
    log = Log()
    log.add(decision("t1"), partition=1)
    log.add(sla("t1"), partition=1)
    log.add_raw(b"\xc1 not msgpack", partition=2)
    log.add(decision("t2", kind="queued", agent=None), partition=2)
    log.add(decision("t3"), partition=0, source=1)  # a decision on the SLA topic
    feed = Feed(TOPICS)
    feed.start(starts())
    entries = feed.read(log.in_order())
    assert [(e.type, e.source, e.partition, e.offset) for e in entries] == [
        ("decision.assigned", 0, 1, 0),
        ("decision.queued", 0, 2, 1),
        ("sla.breached", 1, 1, 0),
    ]
    # read in the order (0,1) (0,2) (1,0) (1,1): each id is the position after its record
    assert [parse_position(e.id) for e in entries] == [
        ((0, 1, 0), (0, 0)),
        ((0, 1, 2), (0, 0)),
        ((0, 1, 2), (1, 1)),
    ]
    assert feed.skipped == 2
    assert feed.position() == ((0, 1, 2), (1, 1))
    assert json.loads(entries[1].data) == decision("t2", kind="queued", agent=None)
    assert entries[1].data.startswith('{"v":1,"type":"decision.queued","id":"t2",')
    assert [e.tenant for e in entries] == ["acme"] * 3
    assert [e.agents for e in entries] == [("a1",), (), ()]


def test_feed_keeps_the_start_position_of_quiet_partitions() -> None:
    feed = Feed(TOPICS)
    start = feed.start({(TOPICS[0], 0): 7, (TOPICS[0], 2): 3, (TOPICS[1], 1): 9})
    assert start == ((7, 0, 3), (0, 9))


def test_a_topic_without_known_partitions_still_makes_valid_ids() -> None:
    feed = Feed(TOPICS)
    feed.start({})
    log = Log()
    log.add(decision("t1"), partition=1)
    (entry,) = feed.read(log.in_order())
    assert parse_position(entry.id) == ((0, 1), (0,))
    assert encode_position(((0, 1), ())) == "0.1-0"


# ---- live streams ------------------------------------------------------------------------


def test_streams_carry_their_events_in_read_order() -> None:
    async def scenario() -> None:
        r = Replica()
        everything = r.hub.subscribe("acme")
        mine = r.hub.subscribe("acme", "a1")
        log = Log()
        log.add(decision("t1", kind="offered"), 0)
        log.add(decision("t2", kind="queued", agent=None), 1)
        log.add(sla("t1"), 0)
        log.add(decision("t1", kind="assigned"), 0)
        log.add(decision("t3", agent="a2"), 2)
        log.add(decision("t3", kind="reassigned", agent="a1", reason="from a2"), 2)
        log.add(decision("t4", kind="released", agent="a1"), 1)
        log.add(decision("t4", agent="a1", duplicate=True), 1)
        r.read(log.in_order())
        got = events_of(drain(everything))
        assert [(b.event, b.data["id"]) for b in got] == [
            ("decision.offered", "t1"),
            ("decision.assigned", "t1"),
            ("decision.queued", "t2"),
            ("decision.released", "t4"),
            ("decision.assigned", "t4"),
            ("decision.assigned", "t3"),
            ("decision.reassigned", "t3"),
            ("sla.breached", "t1"),
        ]
        assert [(b.event, b.data["id"]) for b in events_of(drain(mine))] == [
            ("decision.offered", "t1"),
            ("decision.assigned", "t1"),
            ("decision.released", "t4"),
            ("decision.reassigned", "t3"),
        ]
        ids = [parse_position(b.id or "") for b in got]
        assert all(covers(b, a) for a, b in itertools.pairwise(ids))

    run(scenario)


def test_a_new_stream_starts_now_with_its_position() -> None:
    async def scenario() -> None:
        r = Replica()
        log = Log()
        log.add(decision("old"), 0)
        r.read(log.in_order())
        sub = r.hub.subscribe("acme")
        assert sub.first_id == r.hub.position == "1.0.0-0.0"
        log.add(decision("new"), 1)
        r.read(log.parts[(0, 1)])
        assert tickets(drain(sub)) == ["new"]

    run(scenario)


def test_heartbeat_position_covers_everything_delivered() -> None:
    async def scenario() -> None:
        r = Replica()
        quiet = r.hub.subscribe("acme", "a9")
        log = Log()
        for i in range(5):
            log.add(decision(f"t{i}"), i % 3)
        r.read(log.in_order())
        taken = quiet.take()
        assert taken.events == 0 and taken.state == OPEN
        assert taken.position == r.hub.position == "2.2.1-0.0"
        # resuming with the heartbeat's position replays nothing and misses nothing
        again = r.hub.subscribe("acme", "a9", after=parse_position(taken.position))
        assert not again.gap and again.take().events == 0
        log.add(decision("t9", agent="a9"), 0)
        r.read(log.parts[(0, 0)][-1:])
        assert tickets(drain(again)) == ["t9"]

    run(scenario)


# ---- resume ------------------------------------------------------------------------------


def test_resume_on_the_same_replica_gets_exactly_the_missed_events() -> None:
    async def scenario() -> None:
        r = Replica()
        first = r.hub.subscribe("acme")
        log = Log()
        for i in range(12):
            log.add(decision(f"t{i:02d}"), i % 3)
        r.read(log.shuffled(1))
        got = events_of(drain(first))
        first.close()
        seen, last = got[:5], got[4].id or ""
        again = r.hub.subscribe("acme", after=parse_position(last))
        rest = events_of(drain(again))
        assert not again.gap
        assert tickets(seen) + tickets(rest) == tickets(got)
        assert [b.id for b in rest] == [b.id for b in got[5:]]

    run(scenario)


events_strategy = st.lists(
    st.tuples(
        st.sampled_from(["acme", "beta"]),
        st.sampled_from(["x", "y"]),
        st.sampled_from(["offered", "assigned", "released", "reassigned", "queued", "sla"]),
        st.integers(0, 2),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=events_strategy,
    seeds=st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)),
    agent=st.sampled_from([None, "x", "y"]),
    cut=st.floats(0, 1),
    behind=st.floats(0, 1),
    batch=st.integers(1, 5),
)
def test_resume_on_another_replica_misses_nothing_and_repeats_nothing(
    events: list[tuple[str, str, str, int]],
    seeds: tuple[int, int],
    agent: str | None,
    cut: float,
    behind: float,
    batch: int,
) -> None:
    """Replicas A and B read the same log in their own interleavings. A client reads part of
    its stream on A, then resumes on B with its last id (B possibly behind A, catching up
    after the resume): it receives every event of its stream exactly once."""
    log = Log()
    for i, (tenant, who, kind, partition) in enumerate(events):
        if kind == "sla":
            log.add(sla(f"t{i}", tenant=tenant), partition % 2)
        else:
            reason = "from y" if kind == "reassigned" and who == "x" else ""
            log.add(
                decision(f"t{i}", tenant=tenant, kind=kind, agent=who, reason=reason), partition
            )

    def carried(who: str, kind: str) -> bool:
        if agent is None:
            return True
        moved_from_y = kind == "reassigned" and who == "x" and agent == "y"
        return kind not in ("queued", "sla") and (who == agent or moved_from_y)

    expected_all = [
        f"t{i}"
        for i, (tenant, who, kind, _) in enumerate(events)
        if tenant == "acme" and carried(who, kind)
    ]

    async def scenario() -> list[str]:
        a, b = Replica(), Replica()
        on_a = a.hub.subscribe("acme", agent)
        a.read(log.shuffled(seeds[0]), batch)
        got = events_of(drain(on_a))
        k = int(cut * len(got))
        received = got[:k]
        last = received[-1].id if received else on_a.first_id
        order_b = log.shuffled(seeds[1])
        m = int(behind * len(order_b))
        b.read(order_b[:m], batch)
        on_b = b.hub.subscribe("acme", agent, after=parse_position(last or ""))
        assert not on_b.gap
        b.read(order_b[m:], batch)
        rest = events_of(drain(on_b))
        ids = [parse_position(x.id or "") for x in (*received, *rest)]
        assert all(covers(q, p) for p, q in itertools.pairwise(ids)), "ids go back"
        # the last id resumes on A too, with nothing left over
        again = a.hub.subscribe("acme", agent, after=ids[-1]) if ids else None
        assert again is None or again.take().events == 0
        return tickets(received) + tickets(rest)

    delivered = run(scenario)
    assert len(delivered) == len(set(delivered)), "an event came twice"
    assert sorted(delivered) == sorted(expected_all), "an event is missing"


# ---- retention ---------------------------------------------------------------------------


def test_a_resume_older_than_the_retention_says_reset_and_replays_what_is_held() -> None:
    async def scenario() -> None:
        r = Replica(retention_s=60)
        sub = r.hub.subscribe("acme")
        log = Log()
        log.add(decision("t0", ts=NOW_MS - 120_000), 0)
        log.add(decision("t1", ts=NOW_MS - 30_000), 0)
        r.read(log.in_order(), batch=1)
        first = events_of(drain(sub))
        r.clock.advance(1_000)
        log.add(decision("t2"), 1)
        r.read(log.parts[(0, 1)])  # the sweep drops t0 (older than 60 s)
        assert r.hub.journaled("acme") == 2
        from_start = r.hub.subscribe("acme", after=parse_position(sub.first_id or ""))
        assert from_start.gap and tickets(drain(from_start)) == ["t1", "t2"]
        after_t0 = r.hub.subscribe("acme", after=parse_position(first[0].id or ""))
        assert not after_t0.gap and tickets(drain(after_t0)) == ["t1", "t2"]

    run(scenario)


def test_the_per_tenant_cap_keeps_the_newest() -> None:
    async def scenario() -> None:
        r = Replica(max_per_tenant=3)
        log = Log()
        for i in range(5):
            log.add(decision(f"t{i}"), 0)
        log.add(decision("b0", tenant="beta"), 0)
        r.read(log.in_order())
        assert r.hub.journaled("acme") == 3 and r.hub.journaled("beta") == 1
        old = r.hub.subscribe("acme", after=((1, 0, 0), (0, 0)))
        assert old.gap and tickets(drain(old)) == ["t2", "t3", "t4"]
        held = r.hub.subscribe("acme", after=((2, 0, 0), (0, 0)))
        assert not held.gap and tickets(drain(held)) == ["t2", "t3", "t4"]
        # beta lost nothing: a resume from the very start is exact there
        beta = r.hub.subscribe("beta", after=((0, 0, 0), (0, 0)))
        assert not beta.gap and tickets(drain(beta)) == ["b0"]

    run(scenario)


def test_a_resume_from_before_the_replica_started_reading_says_reset() -> None:
    async def scenario() -> None:
        r = Replica(start={(0, 0): 5})
        assert r.hub.subscribe("acme", after=((4, 0, 0), (0, 0))).gap
        assert not r.hub.subscribe("acme", after=((5, 0, 0), (0, 0))).gap

    run(scenario)


# ---- slow subscribers, readiness, shutdown ---------------------------------------------


def test_a_slow_subscriber_overflows_without_holding_up_the_others() -> None:
    async def scenario() -> None:
        r = Replica(queue_max=2)
        slow, fast = r.hub.subscribe("acme"), r.hub.subscribe("acme")
        log = Log()
        log.add(decision("t0"), 0)
        r.read(log.in_order())
        assert tickets(drain(fast)) == ["t0"]
        fast_got = []
        for i in range(1, 4):
            r.read([log.add(decision(f"t{i}"), 0)])
            fast_got += tickets(drain(fast))  # fast keeps up, slow never reads
        taken = slow.take()
        assert taken.state == OVERFLOW and taken.events == 0
        assert fast_got == ["t1", "t2", "t3"]
        assert r.hub.subscribers == 1 and r.hub.overflows == 1
        slow.close()
        assert r.hub.subscribers == 1

    run(scenario)


def test_no_stream_before_the_reader_caught_up_or_after_close() -> None:
    async def scenario() -> None:
        r = Replica(live=False, max_subscribers=1)
        with pytest.raises(NotReady):
            r.hub.subscribe("acme")
        r.hub.set_live()
        sub = r.hub.subscribe("acme")
        with pytest.raises(TooManyStreams):
            r.hub.subscribe("beta")
        r.hub.close()
        assert sub.take().state == CLOSED
        with pytest.raises(NotReady):
            r.hub.subscribe("acme")
        assert r.hub.subscribers == 0

    run(scenario)


def test_a_publish_from_another_thread_wakes_the_subscriber() -> None:
    async def scenario() -> list[str]:
        r = Replica()
        sub = r.hub.subscribe("acme", "a1")
        assert sub.take().events == 0
        log = Log()
        log.add(decision("t0"), 0)
        thread = threading.Thread(target=r.read, args=(log.in_order(),))
        thread.start()
        woken = await sub.wait(10.0)
        thread.join(10.0)
        assert woken
        return tickets(drain(sub))

    assert run(scenario) == ["t0"]


def test_a_subscriber_whose_loop_is_gone_is_dropped() -> None:
    r = Replica()

    async def subscribe() -> Subscription:
        return r.hub.subscribe("acme")

    sub = asyncio.run(subscribe())  # its loop is closed when asyncio.run returns
    log = Log()
    log.add(decision("t0"), 0)
    r.read(log.in_order())
    assert r.hub.subscribers == 0 and sub.take().state == CLOSED


# ---- tenant isolation --------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["acme", "beta", "acme-2"]), st.sampled_from(["x", "y"])),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from([None, "x", "y"]),
)
def test_a_tenant_never_sees_another_tenants_events_whatever_the_ids(
    events: list[tuple[str, str]], agent: str | None
) -> None:
    log = Log()
    for i, (tenant, who) in enumerate(events):
        # the same ticket and agent ids in every tenant
        log.add(decision(f"t{i % 3}", tenant=tenant, agent=who, seq=i), i % 3)

    async def scenario() -> dict[str, Any]:
        r = Replica()
        subs = {t: r.hub.subscribe(t, agent) for t in ("acme", "beta", "acme-2")}
        r.read(log.shuffled(7))
        seen = {t: events_of(drain(s)) for t, s in subs.items()}
        # an id taken from another tenant's stream resumes only one's own events
        for t in seen:
            for other in seen.values():
                for b in other:
                    again = r.hub.subscribe(t, agent, after=parse_position(b.id or ""))
                    assert {x.data["tenant"] for x in events_of(drain(again))} <= {t}
                    again.close()
        return seen

    seen = run(scenario)
    for tenant, blocks in seen.items():
        assert all(b.data["tenant"] == tenant for b in blocks)
        expected = [i for i, (t, who) in enumerate(events) if t == tenant and agent in (None, who)]
        assert sorted(b.data["seq"] for b in blocks) == expected
