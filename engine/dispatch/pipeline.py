"""The dispatcher loop: poll → decode → dispatch → produce → flush → (ack + commit).

Offsets are committed only after the store step and the produce are acknowledged, so
a crash anywhere redelivers the batch; the store's per-ticket idempotency turns the
redelivery into duplicates that change nothing. Undecodable or invalid records go to
the dead-letter topic with their original bytes and the reason in headers, and so does a
record whose processing fails for a reason of its own (found by splitting the batch, see
``Pipeline._decide``): only an outage (``engine.errors.Unavailable``) stops the loop.

Two per-loop round trips are throttled, since they cost the same whether a loop carries
1 ticket or 500 (``benchmarks/RESULTS.md``):

- ``service.tick`` (due timers, outbox claim) runs at most every ``tick_interval_ms``
  (and, when idle, the poll waits no longer than until the next tick is due): timers and
  re-publication of orphaned outbox decisions fire up to ``tick_interval_ms`` late.
- Offsets are committed (synchronously) and published decisions acknowledged to the
  store's outbox at most every ``commit_interval_ms``, and at once in a loop whose poll
  returned nothing. Every loop still flushes before it ends and nothing is polled while a
  batch is unprocessed, so whatever is committed — here, on a revoke inside ``poll``, or by
  ``finish`` at shutdown — was stored and acknowledged by Kafka. A crash redelivers up to
  ``commit_interval_ms`` of input (idempotent: duplicates), and decisions flushed but not
  yet acknowledged are re-published from the outbox after its grace period (at least once,
  versioned by ``seq``). ``0`` for either interval restores the per-loop behaviour.

``command.notify`` is executed by the service (:meth:`DispatchService.notification`); the
loop produces the ``notification.sent`` event before the flush, so the command is committed
only once its notification is acknowledged. A redelivered command sends its notification
again (at least once): notifiers deduplicate on ``event_id``.

Every outcome is reported to one :class:`engine.ports.Observer` (metrics) after the flush.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from engine import codec
from engine.core.handover import decision_key_id
from engine.core.model import REJECTED, Decision
from engine.dispatch import faults
from engine.dispatch.service import DispatchService, Notification
from engine.errors import Rejected, SystemicFailure, Unavailable
from engine.logs import get_logger
from engine.ports import Clock, Consumer, EventLog, Observer, Record

log = get_logger(__name__)

DEFAULT_MAX_RECORDS = 500
DEFAULT_POLL_TIMEOUT_MS = 100
DEFAULT_TICK_INTERVAL_MS = 250
DEFAULT_COMMIT_INTERVAL_MS = 1000
NOTIFY = "command.notify"
UNPROCESSABLE = "unprocessable"
# The dead-letter topic takes records up to 4 MiB (``dispatch topics create``); a record
# larger than this (possible only where the broker accepts records that large on the input
# topics) is dead-lettered truncated, with its size and SHA-256 in headers, rather than
# blocking its partition.
DEAD_LETTER_MAX_BYTES = 4 * 1024 * 1024 - 64 * 1024
ACK_ROUNDS = 3
REJECTED_SUFFIX = b"/rejected"
# Records that failed processing one after another, with no success in between, before the
# loop treats it as a broken dependency or a bug (retry, not ready) rather than bad input.
SYSTEMIC_FAILURES = 100


@dataclass
class PipelineStats:
    records: int = 0
    batches: int = 0
    decisions: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    notifications: int = 0
    republished: int = 0  # newer decisions published again so each ticket's last is newest
    by_kind: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineTopics:
    decisions: str = "dispatch.assignments"
    deadletter: str = "dispatch.deadletter"
    notifications: str = "dispatch.notifications"
    # Every decision is also written here when set (``dispatch.decisions.log``: not
    # compacted, read by the archiver; ``""``: not written).
    decision_log: str = ""


class Refusal(NamedTuple):
    """Why one record goes to the dead-letter topic: a stable ``reason`` code (metric label,
    header) and a ``detail`` for people (the failing field, the error)."""

    reason: str
    detail: str

    @classmethod
    def of(cls, exc: BaseException) -> Refusal:
        if isinstance(exc, codec.DecodeError):
            return cls(exc.reason, exc.detail)
        reason = exc.reason if isinstance(exc, Rejected) else UNPROCESSABLE
        return cls(reason, f"{type(exc).__name__}: {exc}")


def decision_key(d: Decision) -> bytes:
    """The record key of a decision: ``<tenant>/<ticket>``. A refused command (``rejected``:
    not a change of the ticket, no ``seq``) gets ``<tenant>/<ticket>/rejected``, so on the
    compacted topic it never replaces the ticket's last real decision. A queue decision
    (``paused``/``resumed``) gets ``<tenant>/#queue:<queue>`` (engine.core.handover)."""
    key = codec.record_key(d.tenant, decision_key_id(d))
    return key + REJECTED_SUFFIX if d.kind == REJECTED else key


def dead_letter_headers(rec: Record, why: Refusal) -> list[tuple[str, bytes]]:
    return [
        ("reason", why.reason.encode()),
        ("detail", why.detail.encode()[:1000]),
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
        tick_interval_ms: int = DEFAULT_TICK_INTERVAL_MS,
        commit_interval_ms: int = DEFAULT_COMMIT_INTERVAL_MS,
        observer: Observer | None = None,
    ) -> None:
        self.consumer = consumer
        self.log = log_
        self.service = service
        self.clock = clock
        self.topics = topics
        self.max_records = max_records
        self.poll_timeout_ms = poll_timeout_ms
        self.tick_interval_ms = tick_interval_ms
        self.commit_interval_ms = commit_interval_ms
        self.observer = observer if observer is not None else Observer()
        self.stats = PipelineStats()
        self._pending: list[Record] | None = None
        self._last_tick_ms: int | None = None  # None: tick in the next loop
        self._last_commit_ms: int | None = None
        self._uncommitted = False  # records processed (stored + flushed), offsets not committed
        self._unacked: list[Decision] = []  # flushed, not yet acknowledged to the outbox
        self._failures_in_a_row = 0

    def run_once(self) -> int:
        """Process one polled batch and fire due timers; returns records processed.

        If a step raises (Redis or Kafka unavailable), the batch is kept and retried
        by the next call instead of polling past it: nothing is committed before it
        succeeds, and the store's idempotency makes the retry safe.
        """
        if self._pending is None:
            timeout = self.poll_timeout_ms
            if self._last_tick_ms is not None and self.tick_interval_ms > 0:
                until_tick = self._last_tick_ms + self.tick_interval_ms - self.clock.now_ms()
                timeout = max(0, min(timeout, until_tick))
            self._pending = self.consumer.poll(self.max_records, timeout)
        records = self._pending = self._owned(self._pending)
        events: list[tuple[Record, Mapping[str, Any]]] = []
        commands: list[tuple[Record, Mapping[str, Any]]] = []
        invalid: list[tuple[Record, Refusal]] = []
        for rec in records:
            try:
                ev = codec.decode(rec.value)
            except codec.DecodeError as err:
                invalid.append((rec, Refusal.of(err)))
                continue
            ev.origin = (rec.partition, rec.offset)
            if ev["type"] == NOTIFY:
                commands.append((rec, ev))
            else:
                events.append((rec, ev))
        started = time.perf_counter()
        now = self.clock.now_ms()
        decisions = self._decide(events, now, invalid)
        if self._due(self._last_tick_ms, self.tick_interval_ms, now):
            # the tick's own time: offers and time-outs of a long batch are not decided late
            now = max(now, self.clock.now_ms())
            decisions += self.service.tick(now)
            self._last_tick_ms = now
        elapsed = time.perf_counter() - started
        # Store reads happen before anything is sent: if one fails, the retry sends once.
        notes: list[Notification] = []
        for rec, cmd in commands:
            try:
                notes.append(self.service.notification(cmd, now))
            except codec.DecodeError as exc:
                invalid.append((rec, Refusal.of(exc)))
        for rec, why in invalid:
            self._dead_letter(rec, why)
        if decisions:
            faults.fault_point(faults.AFTER_STORE)  # test-only crash point (a no-op)
        self._publish(decisions)
        for note in notes:
            self.log.send(self.topics.notifications, note.key, note.value)
        if records or decisions:
            self.log.flush()
            self._uncommitted = self._uncommitted or bool(records)
            self._unacked += decisions
            if records:
                faults.fault_point(faults.AFTER_PRODUCE)  # test-only crash point (a no-op)
        if not records or self._due(self._last_commit_ms, self.commit_interval_ms, now):
            self._settle(now)
        self._pending = None
        if records:
            self.stats.batches += 1
            self.stats.records += len(records)
        self.stats.notifications += len(notes)
        self._observe(len(records), decisions, elapsed, invalid, notes)
        return len(records)

    def _observe(
        self,
        n: int,
        decisions: list[Decision],
        elapsed: float,
        invalid: list[tuple[Record, Refusal]],
        notes: list[Notification],
    ) -> None:
        obs = self.observer
        if n:
            obs.on_records(n)
        for _rec, why in invalid:
            obs.on_rejected(why.reason)
        if decisions:
            obs.on_decisions(decisions, elapsed)
        for note in notes:
            obs.on_notification(note.event)

    def _decide(
        self,
        items: list[tuple[Record, Mapping[str, Any]]],
        now_ms: int,
        invalid: list[tuple[Record, Refusal]],
    ) -> list[Decision]:
        """The service's decisions for ``items``. A failure that is not an outage is a property
        of some record: the items are split in halves and each half tried again, down to the
        single record that fails, which joins ``invalid`` (dead-lettered, the rest proceeds).

        A half tried again after part of it was stored gives duplicates for that part; their
        first decisions are in the store's outbox and are published from there. After
        :data:`SYSTEMIC_FAILURES` failing records in a row, across batches, the failure is
        raised as :class:`SystemicFailure` instead: the batch is retried, nothing drained."""
        if not items:
            return []
        try:
            outcome = self.service.process([ev for _rec, ev in items], now_ms)
        except Unavailable:
            raise
        except Exception as exc:
            if len(items) > 1:
                mid = len(items) // 2
                first = self._decide(items[:mid], now_ms, invalid)
                return first + self._decide(items[mid:], now_ms, invalid)
            self._failures_in_a_row += 1
            if self._failures_in_a_row > SYSTEMIC_FAILURES:
                raise SystemicFailure(
                    f"{self._failures_in_a_row} records failed in a row, the last: {exc!r}"
                ) from exc
            rec = items[0][0]
            log.warning("record %s[%s]@%s cannot be processed: %r", *_where(rec), exc)
            invalid.append((rec, Refusal.of(exc)))
            return []
        self._failures_in_a_row = 0
        for refused in outcome.refused:
            invalid.append((items[refused.position][0], Refusal(refused.reason, refused.detail)))
        return outcome.decisions

    def _publish(self, decisions: list[Decision]) -> None:
        for d in decisions:
            self.stats.decisions += 1
            self.stats.by_kind[d.kind] = self.stats.by_kind.get(d.kind, 0) + 1
            if d.duplicate:
                self.stats.duplicates += 1
            key, value = decision_key(d), codec.encode(d.to_event())
            self.log.send(self.topics.decisions, key, value)
            if self.topics.decision_log:
                self.log.send(self.topics.decision_log, key, value)

    @staticmethod
    def _due(last_ms: int | None, interval_ms: int, now_ms: int) -> bool:
        return last_ms is None or now_ms - last_ms >= interval_ms or now_ms < last_ms

    def _settle(self, now_ms: int) -> None:
        """Acknowledge flushed decisions to the store's outbox, then commit the offsets of
        processed records (synchronously). Only call with every polled record processed."""
        self._ack()
        if self._uncommitted:
            self.consumer.commit()
            self._uncommitted = False
        self._last_commit_ms = now_ms

    def finish(self) -> None:
        """Before leaving the group (shutdown): acknowledge and commit what was processed.

        If the last batch failed and is still pending, its records are not processed and
        the consumer's positions include them: nothing is committed (they and any earlier
        uncommitted records are redelivered to the next owner, which is safe)."""
        if self._pending is not None:
            self._ack()  # those decisions were flushed
            return
        self._settle(self.clock.now_ms())

    def _ack(self) -> None:
        """Tell the service the flushed decisions are on the log (the outbox drops them).

        A ticket another replica decided meanwhile comes back with its newest decision,
        which is published and flushed too (and acknowledged in turn, up to
        ``ACK_ROUNDS`` rounds, then at the next settle): the last record of every ticket on
        the decisions topic is its newest, whatever order replicas' records landed in."""
        for _ in range(ACK_ROUNDS):
            if not self._unacked:
                return
            newer = self.service.acknowledge(self._unacked)
            self._unacked = []
            if newer:
                self._publish(newer)
                self.log.flush()
                self.stats.republished += len(newer)
                self._unacked = newer

    def _owned(self, records: list[Record]) -> list[Record]:
        """The records of partitions this member still owns: a member that lost its
        partitions (evicted while stopped, a failed batch retried after the group moved on)
        stops writing before its next batch; the new owner processes those records."""
        kept = [r for r in records if self.consumer.owns(r.topic, r.partition)]
        if len(kept) < len(records):
            log.warning(
                "dropping %d record(s) of partitions this member no longer owns",
                len(records) - len(kept),
            )
        return kept

    def _dead_letter(self, rec: Record, why: Refusal) -> None:
        dead_letter(self.log, self.topics.deadletter, rec, why)
        self.stats.dead_letters += 1


def dead_letter(
    log_: EventLog,
    topic: str,
    rec: Record,
    why: Refusal,
    extra_headers: Sequence[tuple[str, bytes]] = (),
) -> None:
    """Send ``rec`` to the dead-letter ``topic``: its original bytes (truncated, with size and
    SHA-256 in headers, beyond :data:`DEAD_LETTER_MAX_BYTES`), the reason and the source
    position in headers (:func:`dead_letter_headers`), plus ``extra_headers``. Not flushed."""
    log.warning("dead-lettering %s[%s]@%s: %s: %s", *_where(rec), why.reason, why.detail)
    value, headers = rec.value, dead_letter_headers(rec, why) + list(extra_headers)
    if len(value) > DEAD_LETTER_MAX_BYTES:
        headers += [
            ("truncated.size", str(len(value)).encode()),
            ("truncated.sha256", hashlib.sha256(value).hexdigest().encode()),
        ]
        value = value[:DEAD_LETTER_MAX_BYTES]
    log_.send(topic, rec.key, value, headers)


def _where(rec: Record) -> tuple[str, int, int]:
    return rec.topic, rec.partition, rec.offset
