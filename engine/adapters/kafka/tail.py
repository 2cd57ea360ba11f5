"""``KafkaTail``: follow every partition of some topics without a consumer group.

For readers that every replica runs on its own, all of them from the same offsets (the
gateway's event streams): no group, no commits, no rebalances; every replica sees every
partition, so a partition offset names the same record on all of them.

Contract:
- ``start()`` connects, assigns every partition of the topics and seeks each to the first
  offset whose record time is at or after ``since_ms`` (the partition's end when there is
  none; its beginning when ``since_ms`` is ``None``). It returns those start positions and
  remembers the end offsets at that moment: ``caught_up()`` is true once every partition
  was read up to them.
- ``poll`` returns records in offset order per partition. Partitions added to a topic later
  are picked up (read from their beginning) within ``refresh_s``.
- Errors are ``LogUnavailable`` (retry later) or ``LogError`` (a topic does not exist);
  ``start`` releases what it connected when it fails, so a caller may retry it.
- Not thread-safe: one thread polls.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from engine.adapters.kafka.errors import translate, translated
from engine.adapters.kafka.options import build, client_options
from engine.config import KafkaSettings
from engine.errors import LogError
from engine.logs import get_logger
from engine.ports import Record

__all__ = ["KafkaTail"]

log = get_logger(__name__)

OFFSETS_TIMEOUT_MS = 10_000
REFRESH_S = 60.0
TAIL_DEFAULTS: dict[str, Any] = {
    "enable_auto_commit": False,
    "group_id": None,
    "auto_offset_reset": "earliest",  # a partition with no position: its first record
    "allow_auto_create_topics": False,
    "metadata_max_age_ms": 30_000,
    # A fetch returns as soon as one record is there (fetch_min_bytes 1): the wait bounds
    # only an empty fetch, so a long one costs no latency (an idle tail: ~1.5 % of a core
    # with 500 ms, ~4 % with 50 ms).
    "fetch_max_wait_ms": 500,
    "fetch_max_bytes": 16 * 1024 * 1024,
    "max_partition_fetch_bytes": 2 * 1024 * 1024,
}


class KafkaTail:
    """Every partition of ``topics`` from ``since_ms``; ``overrides`` are KafkaConsumer options."""

    def __init__(
        self,
        settings: KafkaSettings,
        topics: Sequence[str],
        *,
        since_ms: int | None,
        role: str = "tail",
        refresh_s: float = REFRESH_S,
        **overrides: Any,
    ) -> None:
        if not topics:
            raise ValueError("a tail needs at least one topic")
        self.topics = list(topics)
        self.since_ms = since_ms
        self.refresh_s = refresh_s
        self._config: dict[str, Any] = {
            **client_options(settings, role),
            **TAIL_DEFAULTS,
            **overrides,
        }
        self._consumer: Any = None
        self._ends: dict[Any, int] = {}
        self._caught_up = False
        self._refreshed = 0.0

    def start(self) -> dict[tuple[str, int], int]:
        """Connect, assign every partition, seek; the start offset of each partition."""
        if self._consumer is not None:
            raise LogError("tail already started")
        consumer = build(KafkaConsumer, self._config, f"tail {','.join(self.topics)}")
        try:
            with translated(f"tail {','.join(self.topics)}"):
                tps = self._partitions(consumer)
                consumer.assign(tps)
                starts = self._seek(consumer, tps)
                self._ends = consumer.end_offsets(tps, timeout_ms=OFFSETS_TIMEOUT_MS)
        except BaseException:
            consumer.close()
            raise
        self._consumer = consumer
        self._refreshed = time.monotonic()
        log.info(
            "tailing %s from %s: %d records to catch up",
            ",".join(self.topics),
            "the end" if self.since_ms is None else f"ts {self.since_ms}",
            sum(max(0, self._ends[tp] - starts[tp]) for tp in tps),
        )
        return {(tp.topic, tp.partition): starts[tp] for tp in tps}

    def _partitions(self, consumer: Any) -> list[Any]:
        tps = []
        for topic in self.topics:
            parts = consumer.partitions_for_topic(topic)
            if not parts:
                raise LogError(f"topic {topic!r} does not exist")
            tps += [TopicPartition(topic, p) for p in sorted(parts)]
        return tps

    def _seek(self, consumer: Any, tps: list[Any]) -> dict[Any, int]:
        if self.since_ms is None:
            consumer.seek_to_beginning(*tps)
            return {tp: consumer.position(tp, timeout_ms=OFFSETS_TIMEOUT_MS) for tp in tps}
        found = consumer.offsets_for_times(
            dict.fromkeys(tps, max(0, self.since_ms)), timeout_ms=OFFSETS_TIMEOUT_MS
        )
        ends = consumer.end_offsets(tps, timeout_ms=OFFSETS_TIMEOUT_MS)
        starts = {}
        for tp in tps:
            hit = found.get(tp)
            starts[tp] = ends[tp] if hit is None else hit.offset
            consumer.seek(tp, starts[tp])
        return starts

    def poll(self, max_records: int, timeout_ms: int) -> list[Record]:
        consumer = self._consumer
        if consumer is None:
            raise LogError("tail not started")
        with translated(f"poll tail {','.join(self.topics)}"):
            if time.monotonic() - self._refreshed >= self.refresh_s:
                self._add_new_partitions(consumer)
            batches = consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        records: list[Record] = []
        for batch in batches.values():
            records.extend(
                Record(
                    topic=r.topic,
                    partition=r.partition,
                    offset=r.offset,
                    key=r.key,
                    value=b"" if r.value is None else r.value,
                    headers=tuple(r.headers) if r.headers else (),
                )
                for r in batch
            )
        return records

    def _add_new_partitions(self, consumer: Any) -> None:
        self._refreshed = time.monotonic()
        known = set(consumer.assignment())
        tps = self._partitions(consumer)
        added = [tp for tp in tps if tp not in known]
        if added:
            consumer.assign(tps)  # kafka-python keeps the positions of partitions kept
            consumer.seek_to_beginning(*added)
            log.info("tail: new partitions %s, read from their beginning", added)

    def caught_up(self) -> bool:
        """Whether every partition was read up to its end offset at ``start``."""
        if self._caught_up:
            return True
        consumer = self._consumer
        if consumer is None:
            return False
        with translated("tail position"):
            behind = [
                tp
                for tp, end in self._ends.items()
                if consumer.position(tp, timeout_ms=OFFSETS_TIMEOUT_MS) < end
            ]
        self._caught_up = not behind
        return self._caught_up

    def close(self) -> None:
        """Idempotent."""
        consumer, self._consumer = self._consumer, None
        if consumer is None:
            return
        try:
            consumer.close()
        except Exception as exc:
            log.warning("kafka tail close failed: %s", translate(exc, "close"))
