"""The SLA tracker loop: poll → decode → store facts → settle → publish → flush → record
published → commit, plus the event-time watermark deadlines fire at.

Watermark. Each input partition has one in Redis (``topic:partition`` → ms), raised only by
the replica that owns the partition: to the newest event time it has processed minus 1 ms
while the partition has a backlog, to ``now - grace`` once it is caught up (nothing
uncommitted, end offset reached). The global watermark is the minimum over *every*
partition of the input topics (one never published holds everything back), capped at
``now - grace``. An SLA outcome fires only at or before the global watermark, so every event
that could change it has been stored: a backlog replayed hours late yields the same events,
and a replica killed mid-stream leaves the watermark where the work stopped.

Records that do not decode are counted and skipped: the dispatcher, which reads the same
topics, dead-letters them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from engine import codec
from engine.errors import Unavailable
from engine.logs import get_logger
from engine.ports import Clock, EventLog, Observer, Record, TrackedConsumer
from engine.sla.service import DUE_BATCH, Published, SlaBatch, SlaTracker

log = get_logger(__name__)

INPUT_TOPICS = ("tickets.events", "dispatch.assignments", "tickets.lifecycle")
OUTPUT_TOPICS = ("sla.events", "dispatch.commands", "agents.events")
GRACE_MS = 2_000
WATERMARK_EVERY_S = 0.5
GAUGES_EVERY_S = 5.0
NO_WATERMARK = -1
TICK_ROUNDS = 8
UNPROCESSABLE = "unprocessable"  # at most this many rounds of DUE_BATCH due tickets per loop


class SlaPipeline:
    def __init__(
        self,
        consumer: TrackedConsumer,
        log_: EventLog,
        tracker: SlaTracker,
        clock: Clock,
        *,
        topics: Mapping[str, str] | None = None,
        grace_ms: int = GRACE_MS,
        max_records: int = 500,
        poll_timeout_ms: int = 100,
        observer: Observer | None = None,
    ) -> None:
        self.consumer = consumer
        self.log = log_
        self.tracker = tracker
        self.clock = clock
        names = {t: t for t in (*INPUT_TOPICS, *OUTPUT_TOPICS)}
        self.topics = {**names, **(topics or {})}
        self.inputs = [self.topics[t] for t in INPUT_TOPICS]
        self.grace_ms = grace_ms
        self.max_records = max_records
        self.poll_timeout_ms = poll_timeout_ms
        self.observer = observer if observer is not None else Observer()
        self.watermark = NO_WATERMARK
        self.records = self.sla_events = self.duplicates = 0
        self._pending: list[Record] | None = None
        self._newest: dict[tuple[str, int], int] = {}  # processed, committed event time
        self._next_wm = 0.0
        self._next_gauges = 0.0

    def run_once(self) -> int:
        """One poll and one round of due deadlines; returns records processed. A failing
        step keeps the batch for the next call (nothing is committed before it succeeds)."""
        if self._pending is None:
            self._pending = self.consumer.poll(self.max_records, self.poll_timeout_ms)
        records = self._pending
        events: list[tuple[Record, Mapping[str, Any]]] = []
        newest: dict[tuple[str, int], int] = {}
        skipped: list[str] = []
        for rec in records:
            try:
                ev = codec.decode(rec.value)
            except codec.DecodeError as err:
                log.debug("skipping %s[%s]@%s: %s", rec.topic, rec.partition, rec.offset, err)
                skipped.append(err.reason)
                continue
            events.append((rec, ev))
            tp = (rec.topic, rec.partition)
            newest[tp] = max(newest.get(tp, 0), int(ev["ts"]))
        now = self.clock.now_ms()
        batch = self._handle(events, now, skipped)
        if self.watermark != NO_WATERMARK:
            for _ in range(TICK_ROUNDS):  # a backlog of due tickets drains in a few loops
                due = self.tracker.tick(self.watermark, now)
                batch.extend(due)
                if due.tickets < DUE_BATCH:
                    break
        for topic, key, value in batch.messages:
            self.log.send(self.topics[topic], key.encode(), value)
        if batch.messages:
            self.log.flush()
        published = self.tracker.published(batch) if batch.event_ids else []
        if records:
            self.consumer.commit()
        self._pending = None
        for tp, ts in newest.items():
            self._newest[tp] = max(self._newest.get(tp, 0), ts)
        self.records += len(records)
        for reason in skipped:
            self.observer.on_rejected(reason)
        self._observe(batch, published, len(records))
        if time.monotonic() >= self._next_wm:
            self._next_wm = time.monotonic() + WATERMARK_EVERY_S
            self.refresh_watermark(now)
        return len(records)

    def _handle(
        self, items: list[tuple[Record, Mapping[str, Any]]], now_ms: int, skipped: list[str]
    ) -> SlaBatch:
        """The tracker's batch for ``items``; a failure that is not an outage is a property of
        some record: split in halves down to the record, which is skipped (logged, counted
        as ``unprocessable``; the dispatcher dead-letters what it cannot process). Facts are
        only ever added, so trying a half again changes nothing twice."""
        if not items:
            return SlaBatch()
        try:
            return self.tracker.handle([ev for _r, ev in items], self.watermark, now_ms)
        except Unavailable:
            raise
        except Exception as exc:
            if len(items) == 1:
                rec = items[0][0]
                log.warning("skipping %s[%s]@%s: %r", rec.topic, rec.partition, rec.offset, exc)
                skipped.append(UNPROCESSABLE)
                return SlaBatch()
            mid = len(items) // 2
            batch = self._handle(items[:mid], now_ms, skipped)
            batch.extend(self._handle(items[mid:], now_ms, skipped))
            return batch

    def refresh_watermark(self, now_ms: int) -> int:
        """Publish this replica's partition watermarks; re-read the global one."""
        caught_up = now_ms - self.grace_ms
        marks: dict[str, int] = {}
        for (topic, p), lag in self.consumer.lag().items():
            if lag == 0:
                marks[f"{topic}:{p}"] = caught_up
            elif (topic, p) in self._newest:
                marks[f"{topic}:{p}"] = min(caught_up, self._newest[(topic, p)] - 1)
        self.tracker.store.advance_watermarks(marks)
        self.watermark = self._global(self.tracker.store.watermarks(), caught_up)
        if self.watermark != NO_WATERMARK:
            self.observer.on_watermark(max(0, now_ms - self.watermark) / 1000)
        if time.monotonic() >= self._next_gauges:
            self._next_gauges = time.monotonic() + GAUGES_EVERY_S
            self.observer.on_deadlines(self.tracker.store.deadlines())
        return self.watermark

    def _global(self, marks: Mapping[str, int], cap: int) -> int:
        lowest = cap
        for topic in self.inputs:
            n = self.consumer.partitions_for(topic)
            if n == 0:
                return NO_WATERMARK
            for p in range(n):
                mark = marks.get(f"{topic}:{p}")
                if mark is None:
                    return NO_WATERMARK
                lowest = min(lowest, mark)
        return lowest

    def _observe(self, batch: SlaBatch, published: Sequence[Published], n: int) -> None:
        first = {p.event_id for p in published if p.first}
        self.sla_events += len(published)
        self.duplicates += len(published) - len(first)
        obs = self.observer
        if n:
            obs.on_records(n)
        for o in batch.observations:
            obs.on_observation(o)
        for p in published:
            obs.on_sla_event(p.policy, p.target, p.kind, p.first)
        for eid, policy, action in batch.escalations:
            if eid in first:
                obs.on_escalation(policy, action)
        if batch.agent_updates:
            obs.on_agent_updates(batch.agent_updates)
