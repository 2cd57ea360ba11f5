"""The dispatcher loop: poll → decode → dispatch → produce → flush → commit.

Offsets are committed only after the store step and the produce are acknowledged, so
a crash anywhere redelivers the batch; the store's per-ticket idempotency turns the
redelivery into duplicates that change nothing. Undecodable or invalid records go to
the dead-letter topic with their original bytes and the reason in headers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine import codec
from engine.core.model import Decision
from engine.ports import Clock, Consumer, EventLog, Record
from engine.service import DispatchService

log = logging.getLogger(__name__)

DEFAULT_MAX_RECORDS = 500
DEFAULT_POLL_TIMEOUT_MS = 100


@dataclass
class PipelineStats:
    records: int = 0
    batches: int = 0
    decisions: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineTopics:
    decisions: str = "dispatch.assignments"
    deadletter: str = "dispatch.deadletter"


def dead_letter_headers(rec: Record, err: codec.DecodeError) -> list[tuple[str, bytes]]:
    return [
        ("reason", err.reason.encode()),
        ("detail", err.detail.encode()[:1000]),
        ("source.topic", rec.topic.encode()),
        ("source.partition", str(rec.partition).encode()),
        ("source.offset", str(rec.offset).encode()),
    ]


class Pipeline:
    """One dispatcher replica's loop over one consumer-group member."""

    def __init__(
        self,
        consumer: Consumer,
        log_: EventLog,
        service: DispatchService,
        clock: Clock,
        topics: PipelineTopics = PipelineTopics(),
        *,
        max_records: int = DEFAULT_MAX_RECORDS,
        poll_timeout_ms: int = DEFAULT_POLL_TIMEOUT_MS,
        on_decisions: Callable[[list[Decision], float], None] | None = None,
        on_dead_letter: Callable[[str], None] | None = None,
    ) -> None:
        self.consumer = consumer
        self.log = log_
        self.service = service
        self.clock = clock
        self.topics = topics
        self.max_records = max_records
        self.poll_timeout_ms = poll_timeout_ms
        self.on_decisions = on_decisions
        self.on_dead_letter = on_dead_letter
        self.stats = PipelineStats()
        self._pending: list[Record] | None = None

    def run_once(self) -> int:
        """Process one polled batch and fire due timers; returns records processed.

        If a step raises (Redis or Kafka unavailable), the batch is kept and retried
        by the next call instead of polling past it: nothing is committed before it
        succeeds, and the store's idempotency makes the retry safe.
        """
        if self._pending is None:
            self._pending = self.consumer.poll(self.max_records, self.poll_timeout_ms)
        records = self._pending
        events: list[Mapping[str, Any]] = []
        for rec in records:
            try:
                events.append(codec.decode(rec.value))
            except codec.DecodeError as err:
                self._dead_letter(rec, err)
        started = time.perf_counter()
        now = self.clock.now_ms()
        decisions = self.service.handle(events, now) if events else []
        decisions += self.service.tick(now)
        elapsed = time.perf_counter() - started
        self._publish(decisions)
        if records or decisions:
            self.log.flush()
            self._ack(decisions)
        if records:
            self.consumer.commit()
        self._pending = None
        if records:
            self.stats.batches += 1
            self.stats.records += len(records)
        if decisions and self.on_decisions is not None:
            self.on_decisions(decisions, elapsed)
        return len(records)

    def _publish(self, decisions: list[Decision]) -> None:
        for d in decisions:
            self.stats.decisions += 1
            self.stats.by_kind[d.kind] = self.stats.by_kind.get(d.kind, 0) + 1
            if d.duplicate:
                self.stats.duplicates += 1
            self.log.send(self.topics.decisions, d.ticket_id.encode(), codec.encode(d.to_event()))

    def _ack(self, decisions: list[Decision]) -> None:
        """Tell the store these decisions are on the log (its outbox drops them)."""
        by_tenant: dict[str, list[tuple[str, int]]] = {}
        for d in decisions:
            if d.seq:
                by_tenant.setdefault(d.tenant, []).append((d.ticket_id, d.seq))
        for tenant, published in by_tenant.items():
            self.service.store.outbox_ack(tenant, published)

    def _dead_letter(self, rec: Record, err: codec.DecodeError) -> None:
        log.warning("dead-lettering %s[%s]@%s: %s", rec.topic, rec.partition, rec.offset, err)
        self.log.send(self.topics.deadletter, rec.key, rec.value, dead_letter_headers(rec, err))
        self.stats.dead_letters += 1
        if self.on_dead_letter is not None:
            self.on_dead_letter(err.reason)
