"""Reports over an archive loaded with a stream of known timings (``reports_stream``):
every figure equals the one computed by hand from the stream; one tenant's reports never
show another's rows. On SQLite here; ``tests/integration/test_reports_postgres.py`` runs
these same tests on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from engine.archive import reports
from engine.archive.db import make_engine, upgrade
from engine.archive.reports import Period, UnknownTicket
from engine.archive.reports.agents import COUNTS
from engine.archive.reports.period import HOUR_MS
from tests.unit.archive import reports_stream as s
from tests.unit.archive.reports_stream import DAY, HOUR, MIN, NOW, OTHER, T0, TENANT

pytestmark = pytest.mark.unit

PERIOD = Period.of(T0, T0 + DAY)


@pytest.fixture
def archive_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'archive.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def loaded(archive_engine: Engine) -> Engine:
    s.load(archive_engine, s.acme() + s.globex())
    return archive_engine


def agent_report(engine: Engine, tenant: str = TENANT, **kw: object) -> dict[str, dict]:
    with engine.connect() as conn:
        rep = reports.agent_report(conn, tenant, PERIOD, now_ms=NOW, **kw)  # type: ignore[arg-type]
    assert all(set(r) == set(rep.columns) for r in rep.rows)
    return {r["agent"]: r for r in rep.rows}


def test_agent_figures_match_the_stream(loaded: Engine) -> None:
    rows = agent_report(loaded)
    assert sorted(rows) == ["alice", "bob"]
    alice, bob = rows["alice"], rows["bob"]
    # alice: offered t1 (rejected) and t4 (timed out); t2 assigned, then taken away by sue
    assert {k: alice[k] for k in COUNTS} == {
        "offered": 2,
        "accepted": 0,
        "rejected": 1,
        "timed_out": 1,
        "assigned": 1,
        "transferred_in": 0,
        "transferred_out": 1,
    }
    assert alice["handled"] == 0 and alice["handle_mean_ms"] is None
    assert alice["first_responses"] == 1 and alice["frt_mean_ms"] == 30 * MIN  # t2: 20 → 50
    assert alice["frt_p90_ms"] == 30 * MIN
    assert alice["csat_count"] == 0 and alice["csat_mean"] is None
    assert alice["fcr_rate"] is None and alice["reopen_rate"] is None
    # available 0-2h and 3-8h, busy 2-3h, offline 8h to NOW (10h)
    assert alice["time_available_ms"] == 7 * HOUR
    assert alice["time_busy_ms"] == HOUR
    assert alice["time_away_ms"] == 0
    assert alice["time_offline_ms"] == 2 * HOUR
    assert alice["logged_in_ms"] == 8 * HOUR
    assert alice["utilisation"] == 0.0
    # bob: t1 offered and accepted; t2 transferred in, resolved, reopened, assigned, resolved
    assert (bob["offered"], bob["accepted"], bob["rejected"], bob["timed_out"]) == (1, 1, 0, 0)
    assert (bob["assigned"], bob["transferred_in"], bob["transferred_out"]) == (3, 1, 0)
    assert bob["handled"] == 3
    # handle times: t1 14 → 40 (26 min), t2 60 → 90 (30 min), t2 121 → 150 (29 min)
    assert bob["handle_mean_ms"] == pytest.approx(85 * MIN / 3, abs=0.001)
    assert bob["handle_p90_ms"] == 30 * MIN
    # resolution times from creation: t1 30 min, t2 70 min and 130 min
    assert bob["resolution_mean_ms"] == pytest.approx(230 * MIN / 3, abs=0.001)
    assert bob["resolution_p90_ms"] == 130 * MIN
    assert bob["first_responses"] == 1 and bob["frt_mean_ms"] == 10 * MIN  # t1: 10 → 20
    # ratings: t1 5 (by bob), t2 2 (no agent on the event: bob resolved it last)
    assert (bob["csat_count"], bob["csat_mean"]) == (2, 3.5)
    assert bob["fcr_rate"] == pytest.approx(1 / 3, abs=1e-4)  # t1 only: t2 was transferred
    assert bob["reopen_rate"] == pytest.approx(1 / 3, abs=1e-4)  # t2's first resolution
    assert bob["time_available_ms"] == 9 * HOUR and bob["logged_in_ms"] == 9 * HOUR
    assert bob["utilisation"] == pytest.approx(85 * MIN / (9 * HOUR), abs=1e-4)


def test_one_agent_only(loaded: Engine) -> None:
    rows = agent_report(loaded, agent="alice")
    assert list(rows) == ["alice"] and rows["alice"]["offered"] == 2
    nobody = agent_report(loaded, agent="nobody")
    assert nobody["nobody"]["offered"] == 0 and nobody["nobody"]["handled"] == 0


def test_kpis_per_day_and_per_hour(loaded: Engine) -> None:
    with loaded.connect() as conn:
        daily = reports.kpi_report(conn, TENANT, PERIOD)
        hourly = reports.kpi_report(conn, TENANT, PERIOD, bucket_ms=HOUR_MS)
    assert len(daily.rows) == 1
    day = daily.rows[0]
    assert day["bucket_ms"] == T0 and day["bucket"] == "2026-12-01T00:00:00.000Z"
    assert day["created"] == 4  # t1-t4; t5 is the next day
    assert (day["frt_count"], day["frt_mean_ms"], day["frt_p90_ms"]) == (
        2,
        20 * MIN,  # t1 10 min, t2 30 min
        30 * MIN,
    )
    # first resolution: t1 30 min, t2 70 min
    assert (day["resolved"], day["resolution_mean_ms"], day["resolution_p90_ms"]) == (
        2,
        50 * MIN,
        70 * MIN,
    )
    assert (day["csat_count"], day["csat_mean"]) == (2, 3.5)
    assert day["fcr_rate"] == 0.5
    assert [(r["bucket_ms"], r["created"]) for r in hourly.rows] == [(T0, 3), (T0 + HOUR, 1)]


def test_queues_and_channels(loaded: Engine) -> None:
    with loaded.connect() as conn:
        queues = {r["queue"]: r for r in reports.queue_report(conn, TENANT, PERIOD).rows}
        channels = {r["channel"]: r for r in reports.channel_report(conn, TENANT, PERIOD).rows}
    assert sorted(queues) == ["chat", "email", "general"]
    chat, email, general = queues["chat"], queues["email"], queues["general"]
    assert chat["created"] == 2  # t1, t4
    assert (chat["tta_count"], chat["tta_mean_ms"], chat["tta_p90_ms"]) == (1, 4 * MIN, 4 * MIN)
    assert (chat["abandoned"], chat["abandonment_rate"]) == (0, 0.0)
    assert (chat["sl_first_response"], chat["sl_first_response_n"]) == (1.0, 1)
    assert (chat["sl_resolution"], chat["sl_resolution_n"]) == (1.0, 1)
    assert chat["sl_next_response"] is None and chat["sl_next_response_n"] == 0
    assert (chat["fcr_rate"], chat["reopen_rate"], chat["csat_mean"]) == (1.0, 0.0, 5.0)
    assert (email["tta_mean_ms"], email["frt_mean_ms"]) == (0.0, 30 * MIN)
    assert (email["sl_first_response"], email["sl_first_response_n"]) == (0.0, 1)
    assert (email["fcr_rate"], email["reopen_rate"], email["csat_mean"]) == (0.0, 1.0, 2.0)
    assert (general["created"], general["abandoned"], general["abandonment_rate"]) == (1, 1, 1.0)
    assert general["tta_count"] == 0 and general["tta_mean_ms"] is None
    assert sorted(channels) == ["chat", "email", "phone"]
    assert channels["phone"]["abandoned"] == 1 and channels["chat"]["created"] == 2
    with loaded.connect() as conn:
        only = reports.queue_report(conn, TENANT, PERIOD, queue="email", bucket_ms=HOUR_MS)
    assert [(r["queue"], r["bucket_ms"], r["created"]) for r in only.rows] == [("email", T0, 1)]


def test_trail_of_a_transferred_reopened_ticket(loaded: Engine) -> None:
    with loaded.connect() as conn:
        rep = reports.trail_report(conn, TENANT, "t2")
    got = [(r["ts_ms"] - T0, r["type"], r["what"], r["agent"], r["by"]) for r in rep.rows]
    m = MIN
    assert got == [
        (20 * m, "ticket.created", "ticket created", None, None),
        (20 * m, "decision.assigned", "assigned", "alice", None),
        (40 * m, "sla.breached", "SLA first_response breached", None, None),
        (50 * m, "ticket.first_response", "ticket first response", "alice", None),
        (60 * m, "command.reassign", "supervisor reassign", "bob", "supervisor:sue"),
        (60 * m, "decision.reassigned", "transferred", "bob", "supervisor:sue"),
        (90 * m, "ticket.resolved", "ticket resolved", None, None),
        (90 * m, "decision.released", "released", "bob", None),
        (120 * m, "ticket.reopened", "ticket reopened", None, None),
        (120 * m, "decision.queued", "queued", None, None),
        (121 * m, "decision.assigned", "assigned", "bob", None),
        (150 * m, "ticket.resolved", "ticket resolved", None, None),
        (150 * m, "decision.released", "released", "bob", None),
        (160 * m, "ticket.rated", "ticket rated", None, None),
    ]
    transfer = rep.rows[5]
    assert (transfer["from_agent"], transfer["why"], transfer["seq"]) == (
        "alice",
        "shift ends",
        2,
    )
    assert rep.rows[4]["reason"] == "shift ends"
    assert rep.rows[-1]["detail"] == {"rating": 2}


def test_trail_shows_rejections_timeouts_and_escalations(loaded: Engine) -> None:
    with loaded.connect() as conn:
        t1 = reports.trail_report(conn, TENANT, "t1").rows
        t4 = reports.trail_report(conn, TENANT, "t4").rows
    assert [r["what"] for r in t1 if r["source"] == "decision"] == [
        "offered",
        "offer rejected",
        "queued",
        "offered",
        "offer accepted",
        "released",
    ]
    rejected = t1[2]
    assert (rejected["agent"], rejected["reason"], rejected["why"]) == (
        "alice",
        "offer rejected",
        "busy",
    )
    assert [r["what"] for r in t4] == [
        "ticket created",
        "offered",
        "offer timed out",
        "queued",
        "escalated",  # the duplicate answer after it is not archived
    ]
    assert t4[-1]["detail"]["step"] == "after_5m"


def test_trail_is_bounded_by_the_period(loaded: Engine) -> None:
    with loaded.connect() as conn:
        rows = reports.trail_report(
            conn, TENANT, "t2", Period.of(T0 + 60 * MIN, T0 + 91 * MIN)
        ).rows
    assert [r["ts_ms"] - T0 for r in rows] == [60 * MIN, 60 * MIN, 90 * MIN, 90 * MIN]


def test_unknown_ticket(loaded: Engine) -> None:
    with loaded.connect() as conn, pytest.raises(UnknownTicket):
        reports.trail_report(conn, TENANT, "t-nope")


def test_one_tenant_never_sees_another(loaded: Engine) -> None:
    # globex reuses acme's ids: bob, t1
    other = agent_report(loaded, OTHER)
    assert sorted(other) == ["bob"]
    bob = other["bob"]
    assert (bob["handled"], bob["handle_mean_ms"], bob["csat_mean"]) == (1, MIN, 1.0)
    assert bob["offered"] == 0 and bob["transferred_in"] == 0
    with loaded.connect() as conn:
        trail = reports.trail_report(conn, OTHER, "t1").rows
        kpis = reports.kpi_report(conn, OTHER, PERIOD).rows
        queues = reports.queue_report(conn, OTHER, PERIOD).rows
        with pytest.raises(UnknownTicket):
            reports.trail_report(conn, OTHER, "t2")  # acme's
    assert len(trail) == 7 and all(r["ts_ms"] <= T0 + 13 * MIN for r in trail)
    assert [k["created"] for k in kpis] == [1]
    assert [(q["queue"], q["sl_resolution"]) for q in queues] == [("chat", 0.0)]


def test_an_unknown_tenant_has_nothing(loaded: Engine) -> None:
    with loaded.connect() as conn:
        assert reports.agent_report(conn, "initech", PERIOD, now_ms=NOW).rows == []
        assert reports.kpi_report(conn, "initech", PERIOD).rows == []
        with pytest.raises(UnknownTicket):
            reports.trail_report(conn, "initech", "t1")


def test_an_empty_archive_reports_nothing(archive_engine: Engine) -> None:
    with archive_engine.connect() as conn:
        assert reports.agent_report(conn, TENANT, PERIOD, now_ms=NOW).rows == []
        assert reports.queue_report(conn, TENANT, PERIOD).rows == []
        assert reports.channel_report(conn, TENANT, PERIOD).rows == []
        assert reports.kpi_report(conn, TENANT, PERIOD).rows == []
