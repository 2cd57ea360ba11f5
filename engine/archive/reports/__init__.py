"""Reports over the archive (issue 13): the trail of one ticket, per agent, per queue, per
channel and the five KPIs, as :class:`Report` s.

Pure SQLAlchemy Core over ``engine.archive.schema``: the same statements on SQLite and
PostgreSQL, every one bound to a tenant and a period (``[from_ms, to_ms)``), parameters
bound. Each function takes an open ``Connection``; the caller owns the engine. The
definition of every figure: ``figures`` and ``docs/reports.md``.

The agent, queue, channel and KPI reports merge per-hour roll-ups (``rollup``): a report
stores the hours it had to compute and commits its connection; ``cached=False`` computes
everything from the facts and stores nothing (``dispatch report --no-rollups``).
"""

from __future__ import annotations

from sqlalchemy import Connection, exists, select

from engine.archive.reports import agents as _agents
from engine.archive.reports import cohort as _cohort
from engine.archive.reports import kpis as _kpis
from engine.archive.reports import queues as _queues
from engine.archive.reports import rollup as _rollup
from engine.archive.reports import trail as _trail
from engine.archive.reports.model import Report
from engine.archive.reports.period import DAY_MS, BadPeriod, Period
from engine.archive.reports.trail import UnknownTicket
from engine.archive.schema import AGENT_STATUS_SPANS, REPORT_MARKS, TICKETS

__all__ = [
    "NAMES",
    "BadPeriod",
    "Period",
    "Report",
    "UnknownTicket",
    "agent_report",
    "channel_report",
    "has_tenant",
    "kpi_report",
    "queue_report",
    "tenants",
    "trail_report",
    "warm",
    "warm_tenants",
]

NAMES = ("trail", "agents", "queues", "channels", "kpis")


def trail_report(
    conn: Connection, tenant: str, ticket_id: str, period: Period | None = None
) -> Report:
    rows = _trail.trail_rows(conn, tenant, ticket_id, period)
    return Report(
        "trail",
        tenant,
        period or Period.everything(),
        _trail.COLUMNS,
        rows,
        {"ticket": ticket_id},
    )


def agent_report(
    conn: Connection,
    tenant: str,
    period: Period,
    *,
    now_ms: int,
    agent: str | None = None,
    cached: bool = True,
) -> Report:
    rows = _agents.agent_rows(conn, tenant, period, agent=agent, now_ms=now_ms, cached=cached)
    params = {"agent": agent} if agent is not None else {}
    return Report("agents", tenant, period, _agents.COLUMNS, rows, params)


def queue_report(
    conn: Connection,
    tenant: str,
    period: Period,
    *,
    bucket_ms: int | None = None,
    queue: str | None = None,
    cached: bool = True,
) -> Report:
    cols, rows = _queues.group_rows(
        conn, tenant, period, group="queue", bucket_ms=bucket_ms, only=queue, cached=cached
    )
    params = {"queue": queue} if queue is not None else {}
    return Report("queues", tenant, period, cols, rows, params)


def channel_report(
    conn: Connection,
    tenant: str,
    period: Period,
    *,
    bucket_ms: int | None = None,
    channel: str | None = None,
    cached: bool = True,
) -> Report:
    cols, rows = _queues.group_rows(
        conn, tenant, period, group="channel", bucket_ms=bucket_ms, only=channel, cached=cached
    )
    params = {"channel": channel} if channel is not None else {}
    return Report("channels", tenant, period, cols, rows, params)


def kpi_report(
    conn: Connection,
    tenant: str,
    period: Period,
    *,
    bucket_ms: int = DAY_MS,
    cached: bool = True,
) -> Report:
    cols, rows = _kpis.kpi_rows(conn, tenant, period, bucket_ms=bucket_ms, cached=cached)
    return Report("kpis", tenant, period, cols, rows)


def has_tenant(conn: Connection, tenant: str) -> bool:
    """Whether the archive holds any ticket or agent of ``tenant``."""
    checks = (
        exists().where(TICKETS.c.tenant == tenant),
        exists().where(AGENT_STATUS_SPANS.c.tenant == tenant),
    )
    return any(conn.execute(select(check)).scalar() for check in checks)


def tenants(conn: Connection, limit: int = 20) -> list[str]:
    """Tenants the archive holds tickets of (at most ``limit``), sorted."""
    stmt = select(TICKETS.c.tenant).distinct().order_by(TICKETS.c.tenant).limit(limit)
    return [str(t) for t in conn.execute(stmt).scalars()]


def warm(conn: Connection, tenant: str, period: Period) -> dict[str, int]:
    """Compute and store the roll-ups of every full hour of ``period`` that has none or a
    stale one, for every report family (``dispatch db warm``): ``read`` hours were already
    current, ``computed`` hours were computed and stored (per family: an hour counts twice)."""
    stats: dict[str, int] = {}
    _rollup.hourly(conn, tenant, _cohort.FAMILY, period, _cohort.live, stats=stats)
    _rollup.hourly(conn, tenant, _agents.FAMILY, period, _agents.live, stats=stats)
    return stats


def warm_tenants(conn: Connection, period: Period) -> list[str]:
    """Tenants with a marked hour in ``period``, sorted."""
    m = REPORT_MARKS.c
    stmt = (
        select(m.tenant)
        .where(m.hour_ms >= period.from_ms, m.hour_ms < period.to_ms)
        .distinct()
        .order_by(m.tenant)
    )
    return [str(t) for t in conn.execute(stmt).scalars()]
