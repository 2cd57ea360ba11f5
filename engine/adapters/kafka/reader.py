"""Read whole topics from the beginning without a consumer group (reconcile, audits)."""

from __future__ import annotations

import time
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition

from engine.adapters.kafka.errors import translated
from engine.adapters.kafka.options import build, client_options
from engine.config import KafkaSettings
from engine.errors import LogError
from engine.logs import get_logger
from engine.ports import Record

log = get_logger(__name__)

READ_TIMEOUT_S = 120.0
POLL_MS = 500
MAX_POLL_RECORDS = 5000


def read_topic(
    settings: KafkaSettings,
    topic: str,
    timeout_s: float = READ_TIMEOUT_S,
    progress: Callable[[int, int], None] | None = None,
) -> list[Record]:
    """Every record of ``topic`` up to its end offsets at the time of the call, partition by
    partition in offset order. Raises ``LogError`` when the end is not reached in time.

    ``progress(done, total)`` is called after every poll with the offsets read so far and
    the offsets to read (a compacted topic holds fewer records than offsets)."""
    opts = client_options(settings, "reader")
    opts.update(enable_auto_commit=False, group_id=None, max_poll_records=MAX_POLL_RECORDS)
    consumer = build(KafkaConsumer, opts, f"read {topic}")
    try:
        with translated(f"read {topic}"):
            parts = consumer.partitions_for_topic(topic)
            if not parts:
                raise LogError(f"topic {topic!r} does not exist")
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            end = consumer.end_offsets(tps)
            start = {tp: consumer.position(tp) for tp in tps}
            total = sum(end[tp] - start[tp] for tp in tps)
            out: dict[int, list[Record]] = {tp.partition: [] for tp in tps}
            deadline = time.monotonic() + timeout_s
            while any(consumer.position(tp) < end[tp] for tp in tps):
                if time.monotonic() > deadline:
                    raise LogError(f"reading {topic} timed out after {timeout_s:.0f} s")
                for tp, batch in consumer.poll(timeout_ms=POLL_MS).items():
                    out[tp.partition] += [
                        Record(
                            r.topic,
                            r.partition,
                            r.offset,
                            r.key,
                            b"" if r.value is None else r.value,
                            tuple(r.headers) if r.headers else (),
                        )
                        for r in batch
                        if r.offset < end[tp]
                    ]
                if progress is not None:
                    done = sum(min(consumer.position(tp), end[tp]) - start[tp] for tp in tps)
                    progress(done, total)
        log.info("read %d records of %s", sum(len(v) for v in out.values()), topic)
        return [r for p in sorted(out) for r in out[p]]
    finally:
        consumer.close()
