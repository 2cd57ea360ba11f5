"""Per queue and per channel: volume (by hour or day), time to assign, abandonment,
first response and resolution time, CSAT, first-contact resolution and the service level
per SLA target, of the tickets created in the period (``cohort``)."""

from __future__ import annotations

from sqlalchemy import Connection

from engine.archive.reports.cohort import cohort, columns
from engine.archive.reports.figures import QUEUE_FIGURES
from engine.archive.reports.model import Row
from engine.archive.reports.period import Period

FIGURES = QUEUE_FIGURES


def group_rows(
    conn: Connection,
    tenant: str,
    period: Period,
    *,
    group: str,
    bucket_ms: int | None,
    only: str | None = None,
    cached: bool = True,
) -> tuple[tuple[str, ...], list[Row]]:
    """``group`` is ``queue`` or ``channel``; ``only`` restricts to one of them."""
    rows = cohort(conn, tenant, period, group=group, bucket_ms=bucket_ms, only=only, cached=cached)
    return columns(group, bucket_ms, FIGURES), rows
