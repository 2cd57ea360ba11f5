"""The archiver loop on the in-memory log and a SQLite file: offsets after the transaction,
dead letters for malformed records, the batch kept while the database is down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError

from engine import codec
from engine.adapters.memory.log import MemoryLog
from engine.archive import db
from engine.archive.archiver import INPUT_TOPICS, Archiver
from engine.archive.metrics import ArchiverMetrics
from engine.archive.schema import ARCHIVE_TABLES, DECISIONS, TICKETS
from engine.clock import SimClock
from engine.errors import Unavailable
from tests.unit.archive import scenario

pytestmark = pytest.mark.unit

DLQ = "dispatch.deadletter"


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    e = db.make_engine(f"sqlite:///{tmp_path / 'archive.db'}")
    db.upgrade(e)
    yield e
    e.dispose()


def publish(log: MemoryLog, stream: list[tuple[str, dict[str, Any]]]) -> None:
    for topic, event in stream:
        key = codec.key_of(event)
        log.send(topic, key, codec.encode(event))
        if topic == "dispatch.assignments":  # the dispatcher writes both
            log.send("dispatch.decisions.log", key, codec.encode(event))


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in ARCHIVE_TABLES
        }


def drain(archiver: Archiver) -> int:
    total = 0
    while n := archiver.run_once():
        total += n
    return total


def make(log: MemoryLog, engine: Engine, group: str = "archiver") -> Archiver:
    return Archiver(
        log.consumer(INPUT_TOPICS, group), log, engine, SimClock(), group=group, max_records=7
    )


def test_a_stream_yields_the_expected_rows_once(engine: Engine) -> None:
    log = MemoryLog()
    publish(log, scenario.stream())
    archiver = make(log, engine)
    assert drain(archiver) == len(scenario.stream()) + 10  # decisions twice
    assert {k: v for k, v in counts(engine).items()} == scenario.EXPECTED_COUNTS
    with engine.connect() as conn:
        rows = {r.ticket_id: r._mapping for r in conn.execute(select(TICKETS))}
    for tid, want in scenario.expected_tickets().items():
        assert {k: rows[tid][k] for k in want} == want
    assert archiver.stats.existing == 9  # the second copy of every decision
    assert archiver.stats.skipped == 3  # the duplicate answer (twice) and the agent.update
    assert log.lag("archiver", INPUT_TOPICS) == 0
    # a replay from offset 0 (a new group) writes nothing
    before = counts(engine)
    replay = make(log, engine, "replay")
    drain(replay)
    assert counts(engine) == before
    assert replay.stats.rows == 0


def test_malformed_records_are_dead_lettered_and_committed(engine: Engine) -> None:
    log = MemoryLog()
    log.send("tickets.lifecycle", b"acme/T1", b"\xc1 not msgpack")
    bad_type = {"v": 1, "type": "ticket.exploded", "id": "T1", "tenant": "acme", "ts": 1}
    log.send("tickets.lifecycle", b"acme/T1", codec.encode(bad_type))
    log.send("dispatch.assignments", b"acme/T1", b"")  # a tombstone: skipped, not an error
    publish(log, scenario.stream()[:3])
    archiver = make(log, engine)
    drain(archiver)
    dead = log.records(DLQ)
    assert [dict(r.headers)["reason"] for r in dead] == [b"msgpack", b"unknown_type"]
    assert all(dict(r.headers)["consumer.group"] == b"archiver" for r in dead)
    assert dict(dead[0].headers)["source.topic"] == b"tickets.lifecycle"
    assert archiver.stats.dead_letters == 2
    assert counts(engine)["lifecycle"] == 1
    assert log.lag("archiver", INPUT_TOPICS) == 0


class FlakyEngine:
    """An engine whose transactions fail while ``down``."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.down = engine, False
        self.url = engine.url

    def begin(self) -> Any:
        if self.down:
            raise OperationalError("BEGIN", {}, Exception("connection refused"))
        return self.engine.begin()

    def connect(self) -> Any:
        return self.engine.connect()


def test_the_batch_is_kept_and_nothing_committed_while_the_database_is_down(
    engine: Engine,
) -> None:
    log = MemoryLog()
    publish(log, scenario.stream())
    flaky = FlakyEngine(engine)
    clock = SimClock(scenario.T0 + 400_000)
    metrics = ArchiverMetrics()
    archiver = Archiver(
        log.consumer(INPUT_TOPICS, "archiver"),
        log,
        flaky,  # type: ignore[arg-type]
        clock,
        max_records=5,
        metrics=metrics,
    )
    archiver.run_once()
    flaky.down = True
    lag_before = log.lag("archiver", INPUT_TOPICS)
    for _ in range(3):
        with pytest.raises(Unavailable, match="connection refused"):
            archiver.run_once()
    assert log.lag("archiver", INPUT_TOPICS) == lag_before
    # the age of the oldest unarchived record: the batch held back
    lag = archiver.consumer.lag()  # type: ignore[attr-defined]
    assert 0 < archiver.oldest_unarchived_age_s(lag) <= 400
    flaky.down = False
    drain(archiver)
    assert counts(engine) == scenario.EXPECTED_COUNTS
    assert archiver.oldest_unarchived_age_s(archiver.consumer.lag()) == 0  # type: ignore[attr-defined]


def test_an_outdated_schema_is_refused(tmp_path: Path) -> None:
    empty = db.make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    archiver = make(MemoryLog(), empty)
    with pytest.raises(db.SchemaOutdated):
        archiver.run_once()
    empty.dispose()


def test_a_row_the_database_refuses_is_dead_lettered_alone(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database error of one record (not an outage): the batch is split down to it."""
    from sqlalchemy.exc import IntegrityError

    from engine.archive import archiver as archiver_mod

    real = archiver_mod.write_batch

    def picky(conn: Any, facts: Any) -> Any:
        if any(f.row.get("ticket_id") == "T2" and f.table is DECISIONS for f in facts):
            raise IntegrityError("INSERT", {}, Exception("value refused"))
        return real(conn, facts)

    monkeypatch.setattr(archiver_mod, "write_batch", picky)
    log = MemoryLog()
    publish(log, scenario.stream())
    archiver = make(log, engine)
    drain(archiver)
    reasons = [dict(r.headers)["reason"] for r in log.records(DLQ)]
    assert reasons and set(reasons) == {b"unprocessable"}
    assert counts(engine)["decisions"] == scenario.EXPECTED_COUNTS["decisions"] - 2
    assert counts(engine)["lifecycle"] == scenario.EXPECTED_COUNTS["lifecycle"]
