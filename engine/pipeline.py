"""The dispatcher loop: poll → decode → dispatch → produce → flush → commit.

Offsets are committed only after the store step and the produce are acknowledged, so
a crash anywhere redelivers the batch; the store's per-ticket idempotency turns the
redelivery into duplicates that change nothing. Undecodable or invalid records go to
the dead-letter topic with their original bytes and the reason in headers.

``command.notify`` is executed here, not by the service: each one becomes a
``notification.sent`` event (the ticket's queue, state, agent and priority read from the
store, with the command's recipients and SLA context) on the notifications topic, produced
before the flush, so it is committed only once acknowledged. A redelivered command sends
its notification again (at least once): notifiers deduplicate on ``event_id``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine import codec
from engine.core.model import Decision
from engine.ports import Clock, Consumer, EventLog, Record, TicketRecord
from engine.service import DispatchService

log = logging.getLogger(__name__)

DEFAULT_MAX_RECORDS = 500
DEFAULT_POLL_TIMEOUT_MS = 100
NOTIFY = "command.notify"
NOTIFICATION_SENT = "notification.sent"
UNKNOWN_STATE = "unknown"
# command.notify fields copied into notification.sent when present.
NOTIFY_FIELDS = ("supervisor", "reason", "target", "kind", "policy", "event_id")


@dataclass
class PipelineStats:
    records: int = 0
    batches: int = 0
    decisions: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    notifications: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineTopics:
    decisions: str = "dispatch.assignments"
    deadletter: str = "dispatch.deadletter"
    notifications: str = "dispatch.notifications"


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
        on_notification: Callable[[Mapping[str, Any]], None] | None = None,
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
        self.on_notification = on_notification
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
        commands: list[tuple[Record, Mapping[str, Any]]] = []
        invalid: list[tuple[Record, codec.DecodeError]] = []
        for rec in records:
            try:
                ev = codec.decode(rec.value)
            except codec.DecodeError as err:
                invalid.append((rec, err))
                continue
            if ev["type"] == NOTIFY:
                commands.append((rec, ev))
            else:
                events.append(ev)
        started = time.perf_counter()
        now = self.clock.now_ms()
        decisions = self.service.handle(events, now) if events else []
        decisions += self.service.tick(now)
        elapsed = time.perf_counter() - started
        # Store reads happen before anything is sent: if one fails, the retry sends once.
        notes: list[Mapping[str, Any]] = []
        for rec, cmd in commands:
            try:
                notes.append(self._notification(cmd, now))
            except codec.DecodeError as exc:
                invalid.append((rec, exc))
        for rec, bad in invalid:
            self._dead_letter(rec, bad)
        self._publish(decisions)
        for note in notes:
            self.log.send(self.topics.notifications, note["id"].encode(), codec.encode(note))
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
        self.stats.notifications += len(notes)
        if self.on_notification is not None:
            for note in notes:
                self.on_notification(note)
        return len(records)

    def _notification(self, cmd: Mapping[str, Any], now_ms: int) -> dict[str, Any]:
        """The ``notification.sent`` event executing ``cmd``, validated by its schema
        (raises ``DecodeError``; the command is then dead-lettered)."""
        tenant, tid = cmd["tenant"], cmd["id"]
        rec: TicketRecord | None = self.service.store.ticket(tenant, tid)
        note: dict[str, Any] = {
            "v": codec.SCHEMA_VERSION,
            "type": NOTIFICATION_SENT,
            "id": tid,
            "tenant": tenant,
            "ts": now_ms,
            "notify": list(cmd["notify"]),
            "queue": rec.queue if rec is not None else "",
            "state": rec.state if rec is not None else UNKNOWN_STATE,
            "agent": rec.agent if rec is not None else None,
        }
        if rec is not None and rec.priority > 0:
            note["priority"] = rec.priority
        note.update({k: cmd[k] for k in NOTIFY_FIELDS if k in cmd})
        codec.validate(note)
        return note

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
