"""The five figures a ticket system is judged by, per hour or day of the period: volume
(tickets created), first response time, resolution time, CSAT and first-contact
resolution, over the tenant's tickets created in each bucket (``cohort``)."""

from __future__ import annotations

from sqlalchemy import Connection

from engine.archive.reports.cohort import cohort, columns
from engine.archive.reports.figures import KPI_FIGURES
from engine.archive.reports.model import Row
from engine.archive.reports.period import Period

FIGURES = KPI_FIGURES


def kpi_rows(
    conn: Connection, tenant: str, period: Period, *, bucket_ms: int, cached: bool = True
) -> tuple[tuple[str, ...], list[Row]]:
    rows = cohort(conn, tenant, period, group=None, bucket_ms=bucket_ms, cached=cached)
    cols = columns(None, bucket_ms, FIGURES)
    return cols, [{c: r[c] for c in cols} for r in rows]
