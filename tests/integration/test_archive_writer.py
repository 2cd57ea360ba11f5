"""The archive writer on SQLite and PostgreSQL (``archive_url``: every test runs on both):
the stream with known timings gives exactly the expected rows, in any order and batching;
a replay writes nothing; tenants never mix."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from engine import codec
from engine.archive import db, ingest
from engine.archive.schema import (
    AGENT_STATUS_SPANS,
    ARCHIVE_TABLES,
    DECISIONS,
    FACT_TABLES,
    LIFECYCLE,
    TICKETS,
)
from tests.unit.archive import scenario

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def engine(archive_url: str) -> Iterator[Engine]:
    e = db.make_engine(archive_url)
    yield e
    e.dispose()


def facts(tenant: str = "acme") -> list[ingest.Fact]:
    out = []
    for i, (topic, event) in enumerate(scenario.stream(tenant)):
        mapped = ingest.map_event(codec.decode(codec.encode(event)), ingest.Source(topic, 0, i))
        if mapped.fact is not None:
            out.append(mapped.fact)
    return out


def write(engine: Engine, batch: list[ingest.Fact]) -> ingest.WriteResult:
    with engine.begin() as conn:
        return ingest.write_batch(conn, batch)


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted, without the informational source columns."""
    out = {}
    with engine.connect() as conn:
        for table in ARCHIVE_TABLES:
            cols = [c for c in table.columns if not c.name.startswith("src_")]
            rows = conn.execute(select(*cols)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def test_the_stream_yields_exactly_the_expected_rows(engine: Engine) -> None:
    result = write(engine, facts())
    assert result.rows == sum(v for k, v in scenario.EXPECTED_COUNTS.items() if k != "tickets")
    with engine.connect() as conn:
        count = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in ARCHIVE_TABLES
        }
        tickets = {r.ticket_id: r._mapping for r in conn.execute(select(TICKETS))}
        spans = conn.execute(
            select(
                AGENT_STATUS_SPANS.c.agent,
                AGENT_STATUS_SPANS.c.status,
                AGENT_STATUS_SPANS.c.start_ms,
                AGENT_STATUS_SPANS.c.end_ms,
            ).order_by(AGENT_STATUS_SPANS.c.agent, AGENT_STATUS_SPANS.c.start_ms)
        ).all()
        trail = conn.execute(
            select(DECISIONS.c.seq, DECISIONS.c.kind, DECISIONS.c.agent, DECISIONS.c.ts_ms)
            .where(DECISIONS.c.tenant == "acme", DECISIONS.c.ticket_id == "T1")
            .order_by(DECISIONS.c.seq)
        ).all()
        transfers_out = conn.execute(
            select(DECISIONS.c.ticket_id).where(
                DECISIONS.c.tenant == "acme", DECISIONS.c.from_agent == "A2"
            )
        ).all()
    assert count == scenario.EXPECTED_COUNTS
    for tid, want in scenario.expected_tickets().items():
        assert {k: tickets[tid][k] for k in want} == want, tid
    assert [tuple(s) for s in spans] == scenario.EXPECTED_SPANS
    t0 = scenario.T0
    assert [tuple(r) for r in trail] == [
        (1, "offered", "A1", t0 + 2000),
        (2, "released", "A1", t0 + 5100),
        (3, "offered", "A2", t0 + 5200),
        (4, "assigned", "A2", t0 + 8100),
        (5, "reassigned", "A1", t0 + 40100),
        (6, "released", "A1", t0 + 100100),
    ]
    assert [r.ticket_id for r in transfers_out] == ["T1"]


def test_a_replay_writes_nothing(engine: Engine) -> None:
    write(engine, facts())
    before = snapshot(engine)
    again = write(engine, facts())
    assert again.rows == 0 and again.tickets == 0
    assert again.existing == len(facts())
    assert snapshot(engine) == before


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_order_and_batching_gives_the_same_archive(engine: Engine, seed: int) -> None:
    """Events arrive from several topics and partitions in no fixed order; some twice."""
    rng = random.Random(seed)
    shuffled = facts() + rng.sample(facts(), 8)  # redeliveries
    rng.shuffle(shuffled)
    i = 0
    while i < len(shuffled):
        n = rng.randint(1, 6)
        write(engine, shuffled[i : i + n])
        i += n
    reference = db.make_engine("sqlite://")
    db.upgrade(reference)
    write(reference, facts())
    assert snapshot(engine) == snapshot(reference)
    reference.dispose()


def test_tenants_never_mix(engine: Engine) -> None:
    """Two tenants with the same ticket and agent ids: each keeps its own rows."""
    write(engine, facts("acme"))
    write(engine, facts("globex")[:5])  # globex has only its first events
    with engine.connect() as conn:
        for table in (TICKETS, *FACT_TABLES):
            by_tenant = dict(
                conn.execute(select(table.c.tenant, func.count()).group_by(table.c.tenant)).all()
            )
            assert set(by_tenant) <= {"acme", "globex"}
        acme = conn.execute(
            select(TICKETS).where(TICKETS.c.tenant == "acme", TICKETS.c.ticket_id == "T1")
        ).one()
        globex = conn.execute(
            select(TICKETS).where(TICKETS.c.tenant == "globex", TICKETS.c.ticket_id == "T1")
        ).one()
        acme_trail = conn.execute(
            select(func.count()).where(LIFECYCLE.c.tenant == "acme", LIFECYCLE.c.ticket_id == "T1")
        ).scalar_one()
    assert acme.offer_count == 2 and acme.csat == 4
    assert globex.offer_count == 1 and globex.csat is None and globex.last_seq == 1
    assert acme_trail == 6  # created, rejected, accepted, first_response, resolved, rated
    # the whole acme projection is what acme's stream alone gives
    assert {k: acme._mapping[k] for k in scenario.expected_tickets()["T1"]} == (
        scenario.expected_tickets()["T1"]
    )
