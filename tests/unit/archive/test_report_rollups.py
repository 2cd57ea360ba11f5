"""Per-hour report roll-ups (``engine.archive.reports.rollup``) never change a figure: after
any sequence of writes, in any order, a report read from roll-ups equals the same report
computed from the facts alone (``cached=False``); a late fact makes exactly the hours it
can change stale; hours without a mark are computed, never kept; a roll-up that cannot be
stored changes nothing. On SQLite here; ``tests/integration/test_reports_postgres.py``
runs them on PostgreSQL too.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, delete, func, select

from engine.archive import ingest, marks, reports
from engine.archive.db import downgrade, insert_for, make_engine, upgrade
from engine.archive.reports import Period
from engine.archive.reports.partial import (
    SORT_BELOW,
    Collector,
    decode,
    encode,
    nearest_rank,
)
from engine.archive.reports.period import DAY_MS, HOUR_MS
from engine.archive.schema import (
    DECISIONS,
    LIFECYCLE,
    REPORT_MARKS,
    REPORT_ROLLUPS,
    TICKETS,
)
from tests.unit.archive import reports_stream as s
from tests.unit.archive.reports_stream import MIN, NOW, OTHER, T0, TENANT
from tests.unit.archive.test_reports import archive_engine  # noqa: F401  (fixture)

pytestmark = pytest.mark.unit

DAY = Period.of(T0, T0 + DAY_MS)
TWO_DAYS = Period.of(T0, T0 + 2 * DAY_MS)
EDGES = Period.of(T0 + 25 * MIN, T0 + 5 * HOUR_MS + 7 * MIN)  # partial first and last hours

Run = Callable[[Connection, bool], Any]
REPORTS: dict[str, Run] = {
    "agents, a day": lambda c, k: reports.agent_report(c, TENANT, DAY, now_ms=NOW, cached=k),
    "agents, two days": lambda c, k: reports.agent_report(
        c, TENANT, TWO_DAYS, now_ms=NOW, cached=k
    ),
    "agents, edges": lambda c, k: reports.agent_report(c, TENANT, EDGES, now_ms=NOW, cached=k),
    "bob, edges": lambda c, k: reports.agent_report(
        c, TENANT, EDGES, now_ms=NOW, agent="bob", cached=k
    ),
    "queues by hour": lambda c, k: reports.queue_report(
        c, TENANT, DAY, bucket_ms=HOUR_MS, cached=k
    ),
    "channels, edges": lambda c, k: reports.channel_report(c, TENANT, EDGES, cached=k),
    "chat only": lambda c, k: reports.channel_report(
        c, TENANT, TWO_DAYS, bucket_ms=DAY_MS, channel="chat", cached=k
    ),
    "kpis by hour": lambda c, k: reports.kpi_report(c, TENANT, DAY, bucket_ms=HOUR_MS, cached=k),
    "kpis by day": lambda c, k: reports.kpi_report(c, TENANT, TWO_DAYS, cached=k),
    "globex kpis": lambda c, k: reports.kpi_report(c, OTHER, DAY, bucket_ms=HOUR_MS, cached=k),
}


def report(engine: Engine, run: Run, cached: bool = True) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return run(conn, cached).as_json()["rows"]  # type: ignore[no-any-return]


def assert_rollups_change_nothing(engine: Engine, when: str) -> None:
    for name, run in REPORTS.items():
        truth = report(engine, run, cached=False)
        assert report(engine, run) == truth, f"{name}, {when}"
        assert report(engine, run) == truth, f"{name}, {when}, read again"


def versions(engine: Engine, tenant: str) -> dict[int, int]:
    """The tenant's report marks: hour -> version."""
    m = REPORT_MARKS.c
    with engine.connect() as conn:
        rows = conn.execute(select(m.hour_ms, m.version).where(m.tenant == tenant)).all()
        return {int(h): int(v) for h, v in rows}


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# ---- the merge ------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 9, 10, 11, 100, SORT_BELOW + 7])
def test_nearest_rank_over_sorted_runs_is_the_nearest_rank_of_all_values(n: int) -> None:
    rng = random.Random(n)
    values = [rng.randrange(0, 10 * n) for _ in range(n)]
    cuts = sorted(rng.sample(range(1, n), min(n - 1, 30))) if n > 1 else []
    runs = [sorted(values[a:b]) for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    ordered = sorted(values)
    for pct in (1, 50, 90, 99, 100):
        k = -(-n * pct // 100)
        assert nearest_rank(runs, pct) == ordered[k - 1], pct
    assert nearest_rank([], 90) is None
    assert nearest_rank([[], []], 90) is None


def test_an_hour_survives_encoding() -> None:
    c = Collector()
    c.at(("chat", None)).add("created", 3)
    for v in (5, 1, 3):
        c.value(("chat", None), "frt", v)
    c.value(("email", "x"), "tta", None)  # a group with no value yet
    groups = c.done()
    back = decode(encode(groups))
    assert back.keys() == groups.keys()
    assert back[("chat", None)].counts == {"created": 3}
    assert [list(r) for r in back[("chat", None)].runs("frt")] == [[1, 3, 5]]
    assert back[("email", "x")].runs("tta") == []


# ---- against the archive --------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(1, 9))
def test_after_every_batch_in_any_order_rollups_equal_the_facts(
    archive_engine: Engine,  # noqa: F811
    seed: int,
) -> None:
    # Given the stream of known timings, shuffled and cut into batches of random size
    rng = random.Random(seed)
    events = s.acme() + s.globex()
    rng.shuffle(events)
    while events:
        batch, events = events[: rng.randint(1, 9)], events[rng.randint(1, 9) :]
        # When each batch is written after reports stored their roll-ups
        s.load(archive_engine, batch)
        # Then every report read from roll-ups equals the same report from the facts
        assert_rollups_change_nothing(archive_engine, f"seed {seed}, {len(events)} left")
    assert count(archive_engine, REPORT_ROLLUPS) > 0


def test_a_late_reopen_makes_the_hours_of_the_ticket_stale(archive_engine: Engine) -> None:  # noqa: F811
    # Given every event but t2's reopen and what followed it, reported (roll-ups stored)
    events = s.acme() + s.globex()
    late = [e for e in events if e["id"] == "t2" and e["ts"] >= T0 + 120 * MIN]
    assert len(late) == 6
    s.load(archive_engine, [e for e in events if e not in late])
    before = {r["agent"]: r for r in report(archive_engine, REPORTS["agents, a day"])}
    assert before["bob"]["handled"] == 2
    old = versions(archive_engine, TENANT)
    # When the reopen arrives two hours after the first resolution
    s.load(archive_engine, late)
    # Then the hours of t2's events and creation were bumped, and no other
    new = versions(archive_engine, TENANT)
    changed = {h for h in new if new[h] != old.get(h)}
    assert changed == {T0, T0 + HOUR_MS, T0 + 2 * HOUR_MS}  # t2: 0:20 ... 2:40
    # and the figures read from roll-ups are those of the whole stream
    after = {r["agent"]: r for r in report(archive_engine, REPORTS["agents, a day"])}
    assert (after["bob"]["handled"], after["bob"]["reopen_rate"]) == (3, 0.3333)
    assert_rollups_change_nothing(archive_engine, "after the late reopen")


def test_a_warm_report_reads_its_hours_from_rollups(archive_engine: Engine) -> None:  # noqa: F811
    # Given the stream, reported once (every full hour with a mark stored)
    s.load(archive_engine, s.acme() + s.globex())
    first = report(archive_engine, REPORTS["kpis by hour"])
    with archive_engine.connect() as conn:
        stored = set(
            conn.execute(
                select(REPORT_ROLLUPS.c.hour_ms).where(
                    REPORT_ROLLUPS.c.tenant == TENANT, REPORT_ROLLUPS.c.family == "cohort"
                )
            ).scalars()
        )
    # every hour of the day with a mark (t2's events reach 02:40), even one with no ticket
    # created in it (an empty roll-up is still a roll-up)
    assert stored == {T0, T0 + HOUR_MS, T0 + 2 * HOUR_MS}
    # When the tickets vanish behind the marks' back (no writer deletes anything)
    with archive_engine.begin() as conn:
        conn.execute(delete(TICKETS).where(TICKETS.c.tenant == TENANT))
    # Then the report still reads them from its roll-ups; from the facts there is nothing
    assert report(archive_engine, REPORTS["kpis by hour"]) == first
    assert report(archive_engine, REPORTS["kpis by hour"], cached=False) == []


def test_hours_written_without_marks_are_computed_not_kept(archive_engine: Engine) -> None:  # noqa: F811
    # Given the stream written by something that does not mark hours (a bulk import)
    s.load(archive_engine, s.acme() + s.globex())
    with archive_engine.begin() as conn:
        conn.execute(delete(REPORT_MARKS))
    # When reports run, twice
    assert_rollups_change_nothing(archive_engine, "without marks")
    # Then the figures came from the facts and nothing was kept
    assert count(archive_engine, REPORT_ROLLUPS) == 0
    rows = report(archive_engine, REPORTS["kpis by day"])
    assert [r["created"] for r in rows] == [4, 1]


def test_rollups_that_cannot_be_stored_change_nothing(
    archive_engine: Engine,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    if archive_engine.dialect.name != "sqlite":
        pytest.skip("a refusing trigger is written for SQLite here")
    s.load(archive_engine, s.acme() + s.globex())
    with archive_engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse BEFORE INSERT ON report_rollups "
            "BEGIN SELECT RAISE(ABORT, 'read-only here'); END"
        )
    with caplog.at_level("INFO", logger="dispatch"):
        assert_rollups_change_nothing(archive_engine, "with roll-ups refused")
    assert count(archive_engine, REPORT_ROLLUPS) == 0
    assert "not stored" in caplog.text


def test_the_upgrade_marks_the_hours_already_archived(tmp_path: Any) -> None:
    # Given an archive at the first migration, holding the stream (written without marks)
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine)
    downgrade(engine, "0001")
    facts = [ingest.map_event(e).fact for e in s.acme() + s.globex()]
    deltas: dict[tuple[str, str], ingest.TicketDelta] = {}
    with engine.begin() as conn:
        for f in facts:
            if f is None:
                continue
            conn.execute(insert_for(conn, f.table).on_conflict_do_nothing(), [dict(f.row)])
            if f.delta is not None:
                deltas.setdefault(f.delta.key, ingest.TicketDelta(*f.delta.key)).merge(f.delta)
        conn.execute(TICKETS.insert(), [d.row() for d in deltas.values()])
    # When it is upgraded
    upgrade(engine)
    # Then every hour with a decision, an event or a creation has a mark at version 1
    with engine.connect() as conn:
        got = set(conn.execute(select(REPORT_MARKS.c.tenant, REPORT_MARKS.c.hour_ms)).all())
        want = set()
        for table, col in ((DECISIONS, DECISIONS.c.ts_ms), (LIFECYCLE, LIFECYCLE.c.ts_ms)):
            for tenant, ts in conn.execute(select(table.c.tenant, col)):
                want.add((tenant, marks.hour_of(ts)))
        versions = set(conn.execute(select(REPORT_MARKS.c.version)).scalars())
    assert got == want and versions == {1}
    assert_rollups_change_nothing(engine, "after the upgrade")
    engine.dispose()


def test_a_report_on_a_connection_open_across_a_commit_stores_and_stays_right(
    archive_engine: Engine,  # noqa: F811
) -> None:
    # Given half of the stream, and a report's connection that read before the archiver
    # committed the other half
    events = s.acme() + s.globex()
    s.load(archive_engine, events[::2])
    with archive_engine.connect() as conn:
        conn.execute(select(func.count()).select_from(TICKETS)).scalar_one()
        s.load(archive_engine, events[1::2])
        # When it reports
        REPORTS["agents, a day"](conn, True)
    # Then its roll-ups were stored (not refused as a stale writer) and are right
    assert count(archive_engine, REPORT_ROLLUPS) > 0
    assert_rollups_change_nothing(archive_engine, "after a report across a commit")


# ---- dispatch db warm -----------------------------------------------------------------------
def test_dispatch_db_warm_stores_every_stale_hour_once(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.cli.main import main

    url = f"sqlite:///{tmp_path / 'archive.db'}"
    engine = make_engine(url)
    upgrade(engine)
    s.load(engine, s.acme() + s.globex())
    with engine.connect() as conn:
        marked = int(conn.execute(select(func.count()).select_from(REPORT_MARKS)).scalar_one())
    warm = ["db", "warm", "--url", url, "--to", "2026-12-03", "--days", "2"]
    # When the last two days are warmed
    assert main(warm) == 0
    out = capsys.readouterr().out
    # Then every marked hour of both tenants has a roll-up of both families ...
    assert "2 tenant(s)" in out and f"{2 * marked} hour-reports computed" in out
    assert count(engine, REPORT_ROLLUPS) == 2 * marked
    # ... a second run finds them current, and reports read them and stay right
    assert main(warm) == 0
    assert f"0 hour-reports computed, {2 * marked} already current" in capsys.readouterr().out
    assert_rollups_change_nothing(engine, "after dispatch db warm")
    # one tenant only; bad arguments; an outdated schema
    assert main([*warm, "--tenant", OTHER]) == 0
    assert "warming 2 days of 1 tenant(s)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["db", "warm", "--url", url, "--days", "0"])
    assert exit_.value.code == 2
    downgrade(engine, "0001")
    assert main(warm) == 1
    assert "dispatch db upgrade" in capsys.readouterr().err
    engine.dispose()


def test_one_agent_computes_its_own_hours_and_keeps_none(archive_engine: Engine) -> None:  # noqa: F811
    # Given the stream and no roll-up
    s.load(archive_engine, s.acme() + s.globex())

    def bob(c: Connection, k: bool) -> Any:  # whole hours: all from roll-ups when warm
        return reports.agent_report(c, TENANT, DAY, now_ms=NOW, agent="bob", cached=k)

    truth = report(archive_engine, bob, cached=False)
    # When one agent is reported: its figures, computed for it alone, and nothing kept
    assert report(archive_engine, bob) == truth
    assert count(archive_engine, REPORT_ROLLUPS) == 0
    # Once every agent was reported, the one agent reads the kept hours
    assert_rollups_change_nothing(archive_engine, "every agent")
    with archive_engine.begin() as conn:
        conn.execute(delete(DECISIONS).where(DECISIONS.c.tenant == TENANT))
    rows = report(archive_engine, bob)
    assert [r["handled"] for r in rows] == [r["handled"] for r in truth] != [0]
