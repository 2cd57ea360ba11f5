"""engine.dispatch.pipeline on the in-memory adapters with a SimClock: ``service.tick`` runs at most
every ``tick_interval_ms`` (busy or idle), and offsets are committed / decisions acked to
the outbox at most every ``commit_interval_ms`` (at once when idle), never before the
batch is stored and flushed."""

from __future__ import annotations

from typing import Any

import pytest

from engine import codec
from engine.adapters.memory import MemoryAgentStore, MemoryLog
from engine.clock import SimClock
from engine.core.model import Decision
from engine.core.policy import parse_policy
from engine.dispatch.pipeline import DEFAULT_COMMIT_INTERVAL_MS, DEFAULT_TICK_INTERVAL_MS, Pipeline
from engine.dispatch.service import TIMER_BATCH, DispatchService
from engine.ports import OUTBOX_GRACE_MS, Record
from tests.unit.event_examples import DROP, example

pytestmark = pytest.mark.unit

T0 = 1_700_000_000_000
TENANT = "acme"
INPUTS = ("tickets.events", "agents.events", "tickets.lifecycle", "dispatch.commands")
GROUP = "dispatchers"
POLICY = {
    "version": 1,
    "regions": {"north": {"neighbors": ["south"]}, "south": {"neighbors": ["north"]}},
    "queues": [
        {
            "name": "general",
            "match": {},
            "strategy": "least_loaded",
            "region_ladder": [{"after_s": 1, "widen": "neighbors"}],
        }
    ],
}


class CountingService(DispatchService):
    def __init__(self, store: MemoryAgentStore) -> None:
        super().__init__(store, parse_policy(POLICY))
        self.ticks: list[int] = []

    def tick(self, now_ms: int, limit: int = TIMER_BATCH) -> list[Decision]:
        self.ticks.append(now_ms)
        return super().tick(now_ms, limit)


class CountingStore(MemoryAgentStore):
    def __init__(self) -> None:
        super().__init__()
        self.acks: list[list[tuple[str, int, bool]]] = []

    def outbox_ack(self, tenant: str, published: Any) -> list[Decision]:
        self.acks.append(list(published))
        return super().outbox_ack(tenant, published)


class SpyConsumer:
    """Records poll time-outs (never waits) and commits, and which records were polled."""

    def __init__(self, log: MemoryLog) -> None:
        self.inner = log.consumer(INPUTS, GROUP)
        self.timeouts: list[int] = []
        self.commits = 0

    def poll(self, max_records: int, timeout_ms: int) -> list[Record]:
        self.timeouts.append(timeout_ms)
        return self.inner.poll(max_records, 0)

    def commit(self) -> None:
        self.commits += 1
        self.inner.commit()

    def owns(self, topic: str, partition: int) -> bool:
        return self.inner.owns(topic, partition)


class BufferedLog(MemoryLog):
    """Sends reach the log only on flush (like a producer's buffer); a flush can fail."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer: list[tuple[str, bytes | None, bytes, Any]] = []
        self.fail = False

    def send(self, topic: str, key: bytes | None, value: bytes, headers: Any = ()) -> None:
        self.buffer.append((topic, key, value, headers))

    def flush(self) -> None:
        if self.fail:
            self.fail = False
            self.buffer.clear()  # the broker never got them
            raise RuntimeError("broker unavailable")
        buffered, self.buffer = self.buffer, []
        for topic, key, value, headers in buffered:
            super().send(topic, key, value, headers)

    def inject(self, ev: dict[str, Any]) -> None:
        super().send(codec.topic_of(ev["type"]), codec.key_of(ev), codec.encode(ev))


class Desk:
    def __init__(self, *, tick_ms: int = 250, commit_ms: int = 1000) -> None:
        self.log = BufferedLog()
        self.store = CountingStore()
        self.service = CountingService(self.store)
        self.clock = SimClock(T0)
        self.consumer = SpyConsumer(self.log)
        self.pipeline = Pipeline(
            self.consumer,
            self.log,
            self.service,
            self.clock,
            poll_timeout_ms=100,
            tick_interval_ms=tick_ms,
            commit_interval_ms=commit_ms,
        )

    def send(self, *events: dict[str, Any]) -> None:
        for ev in events:
            self.log.inject(ev)

    def lag(self) -> int:
        return self.log.lag(GROUP, INPUTS)

    def decisions(self) -> list[dict[str, Any]]:
        return [codec.decode(r.value) for r in self.log.records("dispatch.assignments")]


def login(agent: str, region: str = "north") -> dict[str, Any]:
    return example("agent.login", id=agent, capacity={"chat": 5}, skills={}, regions=[region])


def created(ticket: str, region: Any = DROP, ts: int = T0) -> dict[str, Any]:
    return example(
        "ticket.created",
        id=ticket,
        skills={},
        region=region,
        queue=DROP,
        preferred_agent=DROP,
        ts=ts,
    )


def test_defaults() -> None:
    assert (DEFAULT_TICK_INTERVAL_MS, DEFAULT_COMMIT_INTERVAL_MS) == (250, 1000)
    assert DEFAULT_COMMIT_INTERVAL_MS * 5 <= OUTBOX_GRACE_MS  # acks ride with commits


# ---- tick -----------------------------------------------------------------------------------


def test_tick_runs_at_most_once_per_interval_while_busy() -> None:
    desk = Desk()
    for i in range(10):  # ten busy loops within 249 ms: one tick, in the first loop
        desk.send(created(f"T-{i}"))
        assert desk.pipeline.run_once() == 1
        desk.clock.advance(27 if i < 9 else 0)
    assert desk.service.ticks == [T0]
    desk.clock.advance(249 - 9 * 27)  # T0 + 249
    desk.send(created("T-10"))
    desk.pipeline.run_once()
    assert desk.service.ticks == [T0]
    desk.clock.advance(1)  # T0 + 250
    desk.send(created("T-11"))
    desk.pipeline.run_once()
    assert desk.service.ticks == [T0, T0 + 250]


def test_tick_keeps_running_when_idle_and_the_idle_poll_waits_only_until_it_is_due() -> None:
    desk = Desk()
    assert desk.pipeline.run_once() == 0
    assert desk.service.ticks == [T0]
    assert desk.consumer.timeouts == [100]  # first loop: the configured poll time-out
    desk.clock.advance(200)
    desk.pipeline.run_once()
    assert desk.consumer.timeouts[-1] == 50  # the next tick is due in 50 ms, not 100
    assert desk.service.ticks == [T0]
    desk.clock.advance(60)
    desk.pipeline.run_once()
    assert desk.consumer.timeouts[-1] == 0  # overdue: do not wait
    assert desk.service.ticks == [T0, T0 + 260]
    desk.clock.advance(10)
    desk.pipeline.run_once()
    assert desk.consumer.timeouts[-1] == 100  # min(poll time-out, 240 ms to the next tick)


def test_a_due_escalation_fires_at_the_next_tick_at_most_one_interval_late() -> None:
    # Given a north ticket waiting while only a south agent is on (region ladder at 1 s)
    desk = Desk()
    desk.send(login("A-1", region="south"), created("T-1", region="north"))
    desk.clock.advance(900)
    desk.pipeline.run_once()  # tick at T0 + 900
    assert [d["type"] for d in desk.decisions()] == ["decision.queued"]
    # When the escalation becomes due at T0 + 1000, the loop that runs then does not tick
    desk.clock.advance(100)
    desk.pipeline.run_once()
    assert desk.service.ticks == [T0 + 900]
    assert desk.store.ticket(TENANT, "T-1").state == "waiting"
    # Then the next tick (T0 + 1150) widens to the neighbours and assigns it
    desk.clock.advance(150)
    desk.pipeline.run_once()
    assert desk.service.ticks == [T0 + 900, T0 + 1150]
    assert desk.store.ticket(TENANT, "T-1").agent == "A-1"


def test_interval_zero_ticks_every_loop() -> None:
    desk = Desk(tick_ms=0)
    for _ in range(3):
        desk.pipeline.run_once()
    assert desk.service.ticks == [T0, T0, T0]
    assert desk.consumer.timeouts == [100, 100, 100]


# ---- commit and outbox ack --------------------------------------------------------------------


def test_busy_loops_commit_at_most_once_per_interval_and_idle_loops_commit_at_once() -> None:
    desk = Desk()
    desk.send(login("A-1"))
    desk.pipeline.run_once()  # first loop: commits
    assert (desk.consumer.commits, desk.lag()) == (1, 0)
    for i in range(5):  # busy loops within the interval: processed, flushed, not committed
        desk.clock.advance(100)
        desk.send(created(f"T-{i}"))
        desk.pipeline.run_once()
    assert desk.consumer.commits == 1
    assert desk.lag() == 5
    assert len(desk.decisions()) == 5  # every decision is on the log already
    desk.clock.advance(500)  # T0 + 1000: due
    desk.send(created("T-5"))
    desk.pipeline.run_once()
    assert (desk.consumer.commits, desk.lag()) == (2, 0)
    desk.clock.advance(1)
    desk.send(created("T-6"))
    desk.pipeline.run_once()
    assert (desk.consumer.commits, desk.lag()) == (2, 1)
    desk.pipeline.run_once()  # the poll returns nothing: commit now
    assert (desk.consumer.commits, desk.lag()) == (3, 0)
    desk.pipeline.run_once()  # nothing new: no commit round trip
    assert desk.consumer.commits == 3


def test_outbox_acks_ride_with_the_commit_in_one_call_per_tenant() -> None:
    desk = Desk()
    desk.send(login("A-1"))
    desk.pipeline.run_once()
    desk.send(created("T-1"))
    desk.clock.advance(10)
    desk.pipeline.run_once()
    desk.send(created("T-2"))
    desk.clock.advance(10)
    desk.pipeline.run_once()
    # Flushed but not acknowledged yet: still in the outbox (re-published only after the grace)
    assert desk.store.acks == []
    assert desk.store.outbox_claim(TENANT, T0 + 20, 1, 10) == []
    assert len(desk.store.outbox_claim(TENANT, T0 + 20 + OUTBOX_GRACE_MS, 1, 10)) == 2
    desk.pipeline.run_once()  # idle: ack + commit
    assert desk.store.acks == [[("T-1", 1, False), ("T-2", 1, False)]]
    assert desk.store.outbox_claim(TENANT, T0 + 10 * OUTBOX_GRACE_MS, 1, 10) == []


def test_a_failed_flush_commits_and_acks_nothing_and_finish_does_not_commit_it() -> None:
    desk = Desk()
    desk.send(login("A-1"))
    desk.pipeline.run_once()
    commits = desk.consumer.commits
    desk.send(created("T-1"))
    desk.log.fail = True
    with pytest.raises(RuntimeError):
        desk.pipeline.run_once()
    # Nothing of the failed batch is committed, even on shutdown: it is redelivered
    desk.pipeline.finish()
    assert desk.consumer.commits == commits
    assert desk.lag() == 1
    assert desk.decisions() == []
    # ... and a retry that succeeds processes it and (at the interval or when idle) commits
    desk.pipeline.run_once()
    desk.pipeline.run_once()
    assert desk.lag() == 0
    assert [d["id"] for d in desk.decisions()] == ["T-1"]


def test_finish_commits_and_acks_what_was_processed() -> None:
    desk = Desk()
    desk.send(login("A-1"))
    desk.pipeline.run_once()
    desk.send(created("T-1"))
    desk.pipeline.run_once()
    assert desk.lag() == 1
    desk.pipeline.finish()
    assert desk.lag() == 0
    assert desk.store.acks == [[("T-1", 1, False)]]


def test_every_commit_covers_only_stored_and_flushed_records() -> None:
    # Whenever the consumer commits, every polled ticket has its decision on the log
    desk = Desk(commit_ms=300)
    polled: list[str] = []
    inner_poll = desk.consumer.poll

    def poll(max_records: int, timeout_ms: int) -> list[Record]:
        out = inner_poll(max_records, timeout_ms)
        polled.extend(codec.decode(r.value)["id"] for r in out if r.topic == "tickets.events")
        return out

    def commit() -> None:
        assert {d["id"] for d in desk.decisions()} >= set(polled)
        desk.consumer.inner.commit()
        desk.consumer.commits += 1

    desk.consumer.poll = poll  # type: ignore[method-assign]
    desk.consumer.commit = commit  # type: ignore[method-assign]
    desk.send(login("A-1"))
    for i in range(40):
        if i % 7 != 6:
            desk.send(created(f"T-{i}"))
        if i % 11 == 5 and i % 7 != 6:
            desk.log.fail = True
            with pytest.raises(RuntimeError):
                desk.pipeline.run_once()
        desk.pipeline.run_once()
        desk.clock.advance(45)
    desk.pipeline.finish()
    assert desk.lag() == 0
    assert desk.consumer.commits > 3


def test_interval_zero_commits_every_loop_with_records() -> None:
    desk = Desk(commit_ms=0)
    for i in range(3):
        desk.send(created(f"T-{i}"))
        desk.pipeline.run_once()
        assert desk.lag() == 0
    assert desk.consumer.commits == 3
