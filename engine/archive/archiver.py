"""The archiver loop: poll → decode → map → one database transaction → dead letters →
commit offsets.

Offsets are committed only after the transaction committed (and the dead letters were
acknowledged), so a crash anywhere redelivers the batch; the writer's identities turn the
redelivery into rows that already exist: nothing is written twice. If the database is
unreachable (:class:`ArchiveUnavailable`) the batch is kept and retried by the next
``run_once`` (the process reports not ready and backs off), never polled past.

A record that cannot be decoded (``engine.codec`` reasons) or mapped goes to the dead-letter
topic with the reason in headers, plus ``consumer.group`` naming the archivers' group (the
dispatcher dead-letters the same input records under its own name). A batch the database
refuses for a reason of its own (a value it cannot store) is split in halves down to the
record at fault, which is dead-lettered with reason ``unprocessable``; the rest is written.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from engine import codec
from engine.archive.db import ArchiveUnavailable, redacted, require_current
from engine.archive.ingest import Fact, Source, WriteResult, map_event, write_batch
from engine.archive.metrics import ArchiverMetrics
from engine.dispatch.pipeline import UNPROCESSABLE, Refusal, dead_letter
from engine.logs import get_logger
from engine.ports import Clock, Consumer, EventLog, Record

log = get_logger(__name__)

# The topics the archiver reads (logical names).
INPUT_TOPICS = (
    "tickets.events",
    "tickets.lifecycle",
    "agents.events",
    "dispatch.commands",
    "dispatch.assignments",
    "dispatch.decisions.log",
    "sla.events",
)
DEFAULT_MAX_RECORDS = 500
DEFAULT_POLL_TIMEOUT_MS = 100
SKIP_TOMBSTONE = "tombstone"
GROUP_HEADER = "consumer.group"


@dataclass
class ArchiverStats:
    records: int = 0
    batches: int = 0
    rows: int = 0
    existing: int = 0
    skipped: int = 0
    dead_letters: int = 0
    by_table: dict[str, int] = field(default_factory=dict)


class Archiver:
    """One archiver replica's loop over one consumer-group member."""

    def __init__(
        self,
        consumer: Consumer,
        log_: EventLog,
        engine: Engine,
        clock: Clock,
        *,
        deadletter_topic: str = "dispatch.deadletter",
        group: str = "archiver",
        max_records: int = DEFAULT_MAX_RECORDS,
        poll_timeout_ms: int = DEFAULT_POLL_TIMEOUT_MS,
        metrics: ArchiverMetrics | None = None,
    ) -> None:
        self.consumer = consumer
        self.log = log_
        self.engine = engine
        self.clock = clock
        self.deadletter_topic = deadletter_topic
        self.group = group
        self.max_records = max_records
        self.poll_timeout_ms = poll_timeout_ms
        self.metrics = metrics if metrics is not None else ArchiverMetrics()
        self.stats = ArchiverStats()
        self._pending: list[Record] | None = None
        self._schema_checked = False
        # event time (ms) per partition: of the first record polled and not yet archived,
        # and of the last record archived; for the oldest-unarchived age
        self._first_unarchived: dict[tuple[str, int], int] = {}
        self._last_archived: dict[tuple[str, int], int] = {}

    def check_schema(self) -> None:
        """The database must be at the newest migration (``SchemaOutdated`` otherwise);
        ``ArchiveUnavailable`` when it cannot be reached (the loop retries)."""
        try:
            revision = require_current(self.engine)
        except (OperationalError, InterfaceError, PoolTimeout) as exc:
            raise ArchiveUnavailable(
                f"archive database {redacted(self.engine.url)}: {_cause(exc)}"
            ) from exc
        self._schema_checked = True
        log.info("archive %s at revision %s", redacted(self.engine.url), revision)

    def run_once(self) -> int:
        """Archive one polled batch; returns the records processed. If the database is
        unavailable the batch is kept and retried by the next call."""
        if not self._schema_checked:
            self.check_schema()
        if self._pending is None:
            self._pending = self.consumer.poll(self.max_records, self.poll_timeout_ms)
        records = self._pending = self._owned(self._pending)
        if not records:
            self._pending = None
            return 0
        started = time.perf_counter()
        facts: list[tuple[Record, Fact]] = []
        refused: list[tuple[Record, Refusal]] = []
        times: dict[tuple[str, int], int] = {}
        for rec in records:
            outcome = self._map(rec, facts, refused, times)
            if outcome:
                self.metrics.records.labels(rec.topic, "skipped").inc()
                self.stats.skipped += 1
        for where, ts in times.items():
            self._first_unarchived.setdefault(where, ts)
        result = self._write(facts, refused)
        for rec, why in refused:
            dead_letter(
                self.log,
                self.deadletter_topic,
                rec,
                why,
                [(GROUP_HEADER, self.group.encode())],
            )
        if refused:
            self.log.flush()
        self.consumer.commit()
        elapsed = time.perf_counter() - started
        self._pending = None
        self._account(records, facts, refused, result, elapsed)
        for where in {(r.topic, r.partition) for r in records}:
            self._first_unarchived.pop(where, None)
        for where, ts in times.items():
            self._last_archived[where] = ts
        return len(records)

    def _map(
        self,
        rec: Record,
        facts: list[tuple[Record, Fact]],
        refused: list[tuple[Record, Refusal]],
        times: dict[tuple[str, int], int],
    ) -> str:
        """Decode and map one record into ``facts`` or ``refused``; returns a skip reason
        ("" when it became a fact or a dead letter)."""
        if not rec.value:
            return SKIP_TOMBSTONE  # a deletion marker of a compacted topic
        try:
            event = codec.decode(rec.value)
        except codec.DecodeError as exc:
            refused.append((rec, Refusal.of(exc)))
            return ""
        ts = event.get("ts")
        if isinstance(ts, int):
            times[(rec.topic, rec.partition)] = ts
        try:
            mapped = map_event(event, Source(rec.topic, rec.partition, rec.offset))
        except (KeyError, TypeError, ValueError) as exc:
            refused.append((rec, Refusal(UNPROCESSABLE, f"{type(exc).__name__}: {exc}")))
            return ""
        if mapped.fact is None:
            return mapped.skipped
        facts.append((rec, mapped.fact))
        return ""

    def _write(
        self, items: Sequence[tuple[Record, Fact]], refused: list[tuple[Record, Refusal]]
    ) -> WriteResult:
        """``write_batch`` in one transaction; a refused batch is split down to the record
        at fault (appended to ``refused``)."""
        if not items:
            return WriteResult()
        try:
            with self.engine.begin() as conn:
                return write_batch(conn, [fact for _rec, fact in items])
        except (DataError, IntegrityError) as exc:
            if len(items) == 1:
                rec = items[0][0]
                log.warning(
                    "record %s[%s]@%s refused by the database: %s",
                    rec.topic,
                    rec.partition,
                    rec.offset,
                    _cause(exc),
                )
                refused.append((rec, Refusal(UNPROCESSABLE, f"database: {_cause(exc)}")))
                return WriteResult()
            mid = len(items) // 2
            first = self._write(items[:mid], refused)
            second = self._write(items[mid:], refused)
            return _combined(first, second)
        except (OperationalError, InterfaceError, PoolTimeout) as exc:
            raise ArchiveUnavailable(
                f"archive database {redacted(self.engine.url)}: {_cause(exc)}"
            ) from exc

    def _account(
        self,
        records: list[Record],
        facts: list[tuple[Record, Fact]],
        refused: list[tuple[Record, Refusal]],
        result: WriteResult,
        elapsed: float,
    ) -> None:
        m, s = self.metrics, self.stats
        m.batch_seconds.observe(elapsed)
        s.batches += 1
        s.records += len(records)
        for table, n in result.inserted.items():
            if n:
                m.rows.labels(table).inc(n)
                s.by_table[table] = s.by_table.get(table, 0) + n
        s.rows += result.rows
        s.existing += result.existing
        s.dead_letters += len(refused)
        # per topic: new rows, or already there (the first of two equal facts is the new one)
        refused_ids = {id(rec) for rec, _why in refused}
        new = set(result.new)
        for rec, fact in facts:
            if id(rec) in refused_ids:
                continue
            ident = (fact.table.name, fact.key)
            outcome = "archived" if ident in new else "existing"
            new.discard(ident)
            m.records.labels(rec.topic, outcome).inc()
        for rec, why in refused:
            m.records.labels(rec.topic, "dead_letter").inc()
            m.dead_letters.labels(why.reason).inc()

    def oldest_unarchived_age_s(self, lag: dict[tuple[str, int], int]) -> float:
        """Wall clock minus the event time of the oldest record not archived yet, over the
        partitions with a lag: the first polled but unwritten record when there is one (the
        database is down, or the batch is in flight), else the last archived record (an
        upper bound: the next record is younger). 0 when caught up or unknown."""
        now = self.clock.now_ms()
        oldest = 0.0
        for where, n in lag.items():
            if n <= 0:
                continue
            ts = self._first_unarchived.get(where, self._last_archived.get(where))
            if ts is not None:
                oldest = max(oldest, (now - ts) / 1000)
        return oldest

    def refresh_lag(self, lag: dict[tuple[str, int], int]) -> None:
        self.metrics.set_lag(lag)
        self.metrics.oldest_age.set(self.oldest_unarchived_age_s(lag))

    def finish(self) -> None:
        """Nothing to do: every archived batch was committed when it was written; a pending
        (failed) batch is redelivered to the partition's next owner."""

    def _owned(self, records: list[Record]) -> list[Record]:
        kept = [r for r in records if self.consumer.owns(r.topic, r.partition)]
        if len(kept) < len(records):
            log.warning(
                "dropping %d record(s) of partitions this member no longer owns",
                len(records) - len(kept),
            )
        return kept


def _combined(a: WriteResult, b: WriteResult) -> WriteResult:
    inserted = dict(a.inserted)
    for table, n in b.inserted.items():
        inserted[table] = inserted.get(table, 0) + n
    return WriteResult(inserted, a.existing + b.existing, a.tickets + b.tickets, a.new | b.new)


def _cause(exc: BaseException) -> str:
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    text = str(orig if orig is not None else exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
