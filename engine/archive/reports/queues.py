"""Per queue and per channel: volume (by hour or day), time to assign, abandonment,
first response and resolution time, CSAT, first-contact resolution and the service level
per SLA target, of the tickets created in the period (``cohort``)."""

from __future__ import annotations

from sqlalchemy import Connection

from engine.archive.reports.cohort import cohort, columns
from engine.archive.reports.model import Row
from engine.archive.reports.period import Period
from engine.core.sla import TARGETS

FIGURES = (
    "created",
    "tta_count",
    "tta_mean_ms",
    "tta_p90_ms",
    "abandoned",
    "abandonment_rate",
    "frt_count",
    "frt_mean_ms",
    "frt_p90_ms",
    "resolved",
    "resolution_mean_ms",
    "resolution_p90_ms",
    "csat_mean",
    "csat_count",
    "fcr_rate",
    "reopen_rate",
    *(f"sl_{t}{suffix}" for t in TARGETS for suffix in ("", "_n")),
)


def group_rows(
    conn: Connection,
    tenant: str,
    period: Period,
    *,
    group: str,
    bucket_ms: int | None,
    only: str | None = None,
) -> tuple[tuple[str, ...], list[Row]]:
    """``group`` is ``queue`` or ``channel``; ``only`` restricts to one of them."""
    rows = cohort(conn, tenant, period, group=group, bucket_ms=bucket_ms, only=only)
    return columns(group, bucket_ms, FIGURES), rows
