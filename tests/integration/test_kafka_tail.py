"""KafkaTail against a real broker: every partition without a group, from a point in time,
caught up at the end offsets seen at start, partitions added later picked up."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from kafka.admin import KafkaAdminClient, NewPartitions

from engine.adapters.kafka import KafkaEventLog, KafkaTail, TopicSpec, create_topics, delete_topics
from engine.config import KafkaSettings, Settings
from engine.errors import LogError
from engine.ports import Record

pytestmark = pytest.mark.integration

WAIT_S = 30.0


@pytest.fixture
def settings(kafka_bootstrap: str) -> Settings:
    return Settings(kafka=KafkaSettings(bootstrap_servers=(kafka_bootstrap,)))


@pytest.fixture
def topics(settings: Settings, unique_name: Callable[[str], str]) -> Iterator[list[str]]:
    names = [unique_name("a"), unique_name("b")]
    create_topics(settings, [TopicSpec(names[0], 3), TopicSpec(names[1], 1)])
    yield names
    delete_topics(settings, names)


def produce(settings: Settings, records: list[tuple[str, str]]) -> None:
    with KafkaEventLog(settings.kafka) as log_:
        for topic, value in records:
            log_.send(topic, value.encode(), value.encode())
        log_.flush()


def read_until(tail: KafkaTail, count: int) -> list[Record]:
    got: list[Record] = []
    deadline = time.monotonic() + WAIT_S
    while len(got) < count:
        assert time.monotonic() < deadline, f"only {len(got)} of {count} records arrived"
        got += tail.poll(100, 100)
    return got


def test_a_tail_reads_every_partition_from_a_point_in_time(
    settings: Settings, topics: list[str]
) -> None:
    a, b = topics
    produce(settings, [(a, f"old{i}") for i in range(6)] + [(b, "old-b")])
    time.sleep(0.01)  # record times are milliseconds: the new ones are later than since_ms
    since_ms = int(time.time() * 1000)
    time.sleep(0.01)
    produce(settings, [(a, f"new{i}") for i in range(6)] + [(b, "new-b")])
    tail = KafkaTail(settings.kafka, topics, since_ms=since_ms)
    try:
        starts = tail.start()
        assert sorted(starts) == [(a, 0), (a, 1), (a, 2), (b, 0)]
        assert sum(starts.values()) == 7  # every old record is before the start
        got = read_until(tail, 7)
        assert sorted(r.value.decode() for r in got) == sorted(
            [f"new{i}" for i in range(6)] + ["new-b"]
        )
        assert tail.caught_up()
        assert tail.poll(100, 50) == []
    finally:
        tail.close()
        tail.close()  # idempotent


def test_a_tail_from_the_beginning_and_one_from_now(settings: Settings, topics: list[str]) -> None:
    a, _ = topics
    produce(settings, [(a, f"v{i}") for i in range(4)])
    everything = KafkaTail(settings.kafka, topics, since_ms=None)
    future = KafkaTail(settings.kafka, topics, since_ms=int(time.time() * 1000) + 60_000)
    try:
        assert sum(everything.start().values()) == 0
        assert not everything.caught_up()
        assert len(read_until(everything, 4)) == 4
        assert everything.caught_up()
        assert sum(future.start().values()) == 4  # nothing that recent: the end
        assert future.caught_up()
        produce(settings, [(a, "later")])
        assert [r.value for r in read_until(future, 1)] == [b"later"]
    finally:
        everything.close()
        future.close()


def test_partitions_added_later_are_read_from_their_beginning(
    settings: Settings, topics: list[str], kafka_bootstrap: str
) -> None:
    _, b = topics
    tail = KafkaTail(settings.kafka, [b], since_ms=None, refresh_s=0.0)
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        tail.start()
        admin.create_partitions({b: NewPartitions(total_count=3)})
        with KafkaEventLog(settings.kafka) as log_:
            deadline = time.monotonic() + WAIT_S
            sent = 0
            got: list[Record] = []
            # keys spread over the partitions once the producer's metadata knows them
            while not {r.partition for r in got} >= {1, 2}:
                assert time.monotonic() < deadline, f"partitions read: {got}"
                for _ in range(10):
                    log_.send(b, f"k{sent}".encode(), b"x")
                    sent += 1
                log_.flush()
                got += tail.poll(100, 100)
        got += read_until(tail, sent - len(got)) if sent > len(got) else []
        assert len(got) == sent and len({(r.partition, r.offset) for r in got}) == sent
    finally:
        admin.close()
        tail.close()


def test_a_missing_topic_is_a_log_error(
    settings: Settings, unique_name: Callable[[str], str]
) -> None:
    tail = KafkaTail(settings.kafka, [unique_name("missing")], since_ms=None)
    with pytest.raises(LogError, match="does not exist"):
        tail.start()
    with pytest.raises(LogError, match="not started"):
        tail.poll(1, 0)
    tail.close()
