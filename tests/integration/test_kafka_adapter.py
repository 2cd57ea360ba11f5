"""The Kafka adapters against a real broker: produce/consume, commits, rebalances, topics."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from engine.adapters.kafka import (
    KafkaEventLog,
    KafkaGroupConsumer,
    TopicSpec,
    create_topics,
    default_topic_specs,
    delete_topics,
    describe,
    read_topic,
)
from engine.cli.topics import main as topics_main
from engine.config import LOGICAL_TOPICS, KafkaSettings, Settings
from engine.errors import LogError, LogUnavailable
from engine.ports import Record

pytestmark = pytest.mark.integration

WAIT_S = 30.0
FAST_GROUP: dict[str, Any] = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}

TopicFactory = Callable[..., str]
ConsumerFactory = Callable[..., KafkaGroupConsumer]


@pytest.fixture
def settings(kafka_bootstrap: str) -> Settings:
    return Settings(kafka=KafkaSettings(bootstrap_servers=(kafka_bootstrap,)))


@pytest.fixture
def topic(settings: Settings, unique_name: Callable[[str], str]) -> Iterator[TopicFactory]:
    """Factory: ``topic(partitions=1, **spec)`` creates a fresh topic, deleted afterwards."""
    made: list[str] = []

    def make(partitions: int = 1, **spec: Any) -> str:
        name = unique_name("t")
        create_topics(settings, [TopicSpec(name, partitions, **spec)])
        made.append(name)
        return name

    yield make
    delete_topics(settings, made)


@pytest.fixture
def log_(settings: Settings) -> Iterator[KafkaEventLog]:
    event_log = KafkaEventLog(settings.kafka)
    yield event_log
    event_log.close()


@pytest.fixture
def consumer(settings: Settings) -> Iterator[ConsumerFactory]:
    """Factory: ``consumer(topics, group, **options)``; every consumer is closed afterwards."""
    made: list[KafkaGroupConsumer] = []

    def make(topics: Sequence[str], group: str, **options: Any) -> KafkaGroupConsumer:
        member = KafkaGroupConsumer(settings.kafka, list(topics), group, **FAST_GROUP, **options)
        made.append(member)
        return member

    yield make
    for member in made:
        member.close()


def produce(event_log: KafkaEventLog, topic: str, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        event_log.send(topic, f"k{i}".encode(), f"v{i}".encode())
    event_log.flush()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Member(threading.Thread):
    """One group member's poll → process → commit loop on its own thread (as a process
    would be: two members of one group cannot share a thread, see ``KafkaGroupConsumer``)."""

    def __init__(
        self, consumer: KafkaGroupConsumer, *, commit: bool = True, work_s: float = 0.0
    ) -> None:
        super().__init__(daemon=True)
        self.consumer, self.commit, self.work_s = consumer, commit, work_s
        self.records: list[Record] = []
        self.assigned: set[tuple[str, int]] = set()
        self.uncommitted = 0
        self.generation = -1
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                self.records.extend(self.consumer.poll(100, 100))
                if self.commit:
                    self.consumer.commit()
                self.assigned = set(self.consumer.assignment())
                self.uncommitted = self.consumer.uncommitted
                self.generation = self.consumer.generation
                self._halt.wait(self.work_s)  # processing the batch
        except BaseException as exc:
            self.error = exc

    def finish(self) -> None:
        self._halt.set()
        self.join(WAIT_S)
        assert not self.is_alive() and self.error is None, self.error


def poll_n(member: KafkaGroupConsumer, count: int) -> list[Record]:
    """Exactly ``count`` records (never asks ``poll`` for more than are still wanted)."""
    got: list[Record] = []
    deadline = time.monotonic() + WAIT_S
    while len(got) < count:
        assert time.monotonic() < deadline, f"only {len(got)} of {count} records arrived"
        got.extend(member.poll(count - len(got), 100))
    return got


def values(records: Sequence[Record]) -> list[bytes]:
    return [r.value for r in records]


def test_round_trip_keeps_key_value_headers_and_order(
    log_: KafkaEventLog, topic: TopicFactory, consumer: ConsumerFactory, unique_name: Any
) -> None:
    # Given records with headers on a one-partition topic
    name = topic()
    for i in range(5):
        log_.send(name, b"ticket-1", b"v%d" % i, headers=[("type", b"ticket.created"), ("n", b"")])
    log_.flush()
    # When a group member reads them
    member = consumer([name], unique_name("g"))
    got = poll_n(member, 5)
    # Then everything round-trips, in order
    assert values(got) == [b"v0", b"v1", b"v2", b"v3", b"v4"]
    assert [r.offset for r in got] == [0, 1, 2, 3, 4]
    assert {(r.topic, r.partition, r.key) for r in got} == {(name, 0, b"ticket-1")}
    assert got[0].headers == (("type", b"ticket.created"), ("n", b""))


def test_polled_but_uncommitted_records_are_redelivered_after_close(
    log_: KafkaEventLog, topic: TopicFactory, consumer: ConsumerFactory, unique_name: Any
) -> None:
    # Given 10 records, a member that committed after 4 and then polled 3 more
    name, group = topic(), unique_name("g")
    produce(log_, name, 10)
    first = consumer([name], group)
    got = poll_n(first, 4)
    first.commit()
    poll_n(first, 3)
    # When it closes without committing, and a new member of the group starts
    first.close()
    second = consumer([name], group)
    redelivered = poll_n(second, 6)
    # Then exactly the uncommitted records come again (committed ones do not)
    assert [r.offset for r in got] == [0, 1, 2, 3]
    assert [r.offset for r in redelivered] == list(range(4, 10))


def test_commit_after_eviction_is_dropped_and_the_records_come_again(
    log_: KafkaEventLog, topic: TopicFactory, consumer: ConsumerFactory, unique_name: Any
) -> None:
    # Given a member that polled 5 records, then stalled past max_poll_interval_ms
    name = topic()
    produce(log_, name, 5)
    member = consumer([name], unique_name("g"), max_poll_interval_ms=1500)
    poll_n(member, 5)
    time.sleep(3.0)  # the heartbeat thread leaves the group for the stalled member
    # When it commits, the commit is refused and dropped (no exception, no retry loop)
    member.commit()
    assert (member.commits_rejected, member.uncommitted) == (1, 0)
    # Then the next poll rejoins and the uncommitted records come again
    assert [r.offset for r in poll_n(member, 5)] == [0, 1, 2, 3, 4]


def test_producer_is_idempotent_with_acks_all(log_: KafkaEventLog) -> None:
    assert not log_.connected  # lazy: nothing connects before the first use
    log_.connect()
    assert log_.connected
    assert log_.config["enable_idempotence"] is True
    assert log_.config["acks"] in (-1, "all")
    assert log_.config["max_in_flight_requests_per_connection"] <= 5
    assert log_.config["batch_size"] == 256 * 1024
    assert log_.config["max_request_size"] >= 1024 * 1024
    assert log_.config["allow_auto_create_topics"] is False


def test_flush_raises_log_error_for_a_record_the_broker_rejects(
    log_: KafkaEventLog, topic: TopicFactory
) -> None:
    # Given a topic that accepts batches of at most 1 KiB
    name = topic(configs={"max.message.bytes": "1024"})
    # When a larger record is sent, send() only queues it ...
    log_.send(name, None, b"x" * 4096)
    # Then flush() reports the failure, once
    with pytest.raises(LogError, match="not delivered"):
        log_.flush()
    log_.flush()


# kafka-python 3.0.12 does not close a socket whose connect() was refused (net/inet.py):
# the ResourceWarning fires when it is garbage-collected, collected here on purpose.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_unreachable_cluster_is_log_unavailable_at_first_use(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.CRITICAL, logger="kafka")  # captured records would keep them alive
    nowhere = KafkaSettings(bootstrap_servers=("127.0.0.1:1",))
    event_log = KafkaEventLog(nowhere, bootstrap_timeout_ms=500)  # building never connects
    member = KafkaGroupConsumer(nowhere, ["t"], "g", bootstrap_timeout_ms=500)
    with pytest.raises(LogUnavailable):
        event_log.send("t", None, b"x")
    with pytest.raises(LogUnavailable):
        member.poll(1, 0)
    event_log.close()
    member.close()
    gc.collect()


def test_create_topics_is_idempotent_and_assignments_are_compacted(
    settings: Settings, unique_name: Callable[[str], str]
) -> None:
    # Given the engine's topics under a fresh prefix
    scoped = Settings(kafka=settings.kafka, topic_prefix=unique_name("p") + ".")
    specs = default_topic_specs(scoped, partitions=2)
    names = [spec.name for spec in specs]
    try:
        # When they are created twice
        created = create_topics(scoped, specs)
        again = create_topics(scoped, specs)
        info = describe(scoped, names)
    finally:
        delete_topics(scoped, names)
    # Then the second call creates nothing, and the topics are as specified
    assert created == names and again == []
    assignments = info[scoped.topics.dispatch_assignments]
    assert assignments.configs["cleanup.policy"] == "compact"
    assert int(assignments.configs["min.compaction.lag.ms"]) > 0
    assert info[scoped.topics.tickets_events].partitions == 4
    assert info[scoped.topics.tickets_events].configs["cleanup.policy"] == "delete"
    assert info[scoped.topics.dispatch_deadletter].partitions == 1
    notifications = info[scoped.topic_prefix + "dispatch.notifications"]
    assert notifications.configs["cleanup.policy"] == "delete"


def test_topics_cli_creates_once_then_reports_existing(
    kafka_bootstrap: str,
    settings: Settings,
    unique_name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DISPATCH_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("DISPATCH_STATE_DIR", str(tmp_path))  # no stray dev.env
    prefix = unique_name("cli") + "."
    try:
        assert topics_main(["create", "--prefix", prefix, "--partitions", "1"]) == 0
        first = capsys.readouterr().out
        assert topics_main(["create", "--prefix", prefix]) == 0
        second = capsys.readouterr().out
        assert topics_main(["list", "--prefix", prefix]) == 0
        listed = capsys.readouterr().out
    finally:
        scoped = Settings(kafka=settings.kafka, topic_prefix=prefix)
        delete_topics(settings, list(scoped.topics.by_logical().values()))
    n = len(LOGICAL_TOPICS)  # 9 with dispatch.decisions.log
    assert first.count("created ") == n and f"{n} created" in first
    assert second.count("exists ") == n and "0 created" in second
    assert f"{prefix}dispatch.assignments" in listed and "cleanup.policy=compact" in listed
    assert listed.count("replication 1 ") == n  # min(3, brokers) on the one-broker stack


def test_two_members_share_partitions_and_survivor_takes_over_without_loss_or_duplicates(
    log_: KafkaEventLog, topic: TopicFactory, consumer: ConsumerFactory, unique_name: Any
) -> None:
    name, group = topic(partitions=4), unique_name("g")
    revoked: list[list[tuple[str, int]]] = []
    a = Member(consumer([name], group, on_revoke=revoked.append), commit=False)
    b = Member(consumer([name], group))

    def total() -> int:
        return len(a.records) + len(b.records)

    # Given member a alone has read (but not committed) everything so far
    produce(log_, name, 200)
    a.start()
    wait_for(lambda: total() >= 200, "a to read 200 records")
    # When b joins, the partitions are shared, and a commits those it gives up on revoke
    b.start()
    wait_for(lambda: bool(a.assigned) and bool(b.assigned), "b to get partitions")
    wait_for(lambda: len(a.assigned) + len(b.assigned) == 4, "every partition owned")
    assert not a.assigned & b.assigned
    assert revoked and set(revoked[0]) == b.assigned
    a.commit = True
    produce(log_, name, 200, start=200)
    wait_for(lambda: total() >= 400 and a.uncommitted == 0, "400 records, a committed")
    assert b.records, "b got no records"
    # And when a leaves, b takes every partition and continues where a committed
    a.finish()
    a.consumer.close()
    produce(log_, name, 200, start=400)
    wait_for(lambda: total() >= 600 and len(b.assigned) == 4, "b to take over")
    b.finish()
    # Then every record was processed exactly once
    everything = a.records + b.records
    assert sorted(values(everything)) == sorted(f"v{i}".encode() for i in range(600))


def test_group_settles_when_members_spend_time_between_polls(
    topic: TopicFactory, consumer: ConsumerFactory, unique_name: Any
) -> None:
    # kafka-python 3.0.12 dropped join results that arrived between polls and rejoined,
    # so a group whose members process batches kept rebalancing (see _finish_rebalance).
    name, group = topic(partitions=4), unique_name("g")
    members = [Member(consumer([name], group), work_s=0.3) for _ in range(2)]
    members[0].start()
    wait_for(lambda: len(members[0].assigned) == 4, "the first member to own everything")
    members[1].start()  # scale out: a cooperative two-round move follows
    wait_for(
        lambda: (
            all(len(m.assigned) == 2 for m in members) and len({m.generation for m in members}) == 1
        ),
        "two partitions each, in one generation",
    )
    settled = [m.generation for m in members]
    time.sleep(3.0)  # unpatched, a new generation came about every 1.3 s
    assert [m.generation for m in members] == settled
    for member in members:
        member.finish()


def test_lag_is_end_offset_minus_committed(
    log_: KafkaEventLog, topic: TopicFactory, consumer: ConsumerFactory, unique_name: Any
) -> None:
    name = topic()
    produce(log_, name, 10)
    member = consumer([name], unique_name("g"))
    poll_n(member, 4)
    assert member.lag() == {(name, 0): 10}  # nothing committed yet
    member.commit()
    assert member.lag() == {(name, 0): 6}
    poll_n(member, 6)
    member.commit()
    assert member.lag() == {(name, 0): 0}


def test_read_topic_returns_every_record_and_reports_progress(
    settings: Settings, log_: KafkaEventLog, topic: TopicFactory
) -> None:
    # Given 30 records spread over three partitions
    name = topic(partitions=3)
    produce(log_, name, 30)
    # When the whole topic is read with a progress callback
    seen: list[tuple[int, int]] = []
    got = read_topic(settings.kafka, name, progress=lambda done, total: seen.append((done, total)))
    # Then every record comes back, partition by partition in offset order
    assert sorted(values(got)) == sorted(f"v{i}".encode() for i in range(30))
    assert [(r.partition, r.offset) for r in got] == sorted((r.partition, r.offset) for r in got)
    # And progress counted offsets up to all of them
    assert seen and seen[-1] == (30, 30)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
