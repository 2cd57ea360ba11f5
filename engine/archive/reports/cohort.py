"""Figures of a cohort of tickets: those created in a period, grouped by queue, channel or
nothing, and by hour or day of creation. One indexed range scan of ``tickets`` (the
archive's per-ticket projection, ``engine.archive.schema``) plus one join to
``sla_events`` for the service levels; the queue, channel and KPI reports are views of it.

Every duration is measured from the ticket's creation (``created_ms``); see
``docs/reports.md`` for the definition of each figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, literal, select

from engine.archive.reports import sql
from engine.archive.reports.model import Row, mean, ratio
from engine.archive.reports.period import Period, iso
from engine.archive.schema import SLA_EVENTS, TICKETS
from engine.core.sla import TARGETS

T = TICKETS
GROUPS = {"queue": T.c.queue, "channel": T.c.channel}
# (name, duration expression): each gets <name>_mean_ms, <name>_p90_ms and a count
DURATIONS = (
    ("tta", T.c.first_assigned_ms - T.c.created_ms),
    ("frt", T.c.first_response_ms - T.c.created_ms),
    ("resolution", T.c.first_resolved_ms - T.c.created_ms),
)
P90 = 90
SL_KINDS = ("met", "breached")


def _cohort(tenant: str, period: Period, group: str | None, only: str | None) -> Any:
    where = [T.c.tenant == tenant, sql.between(T.c.created_ms, period.from_ms, period.to_ms)]
    if group is not None and only is not None:
        where.append(GROUPS[group] == only)
    return and_(*where)


def _key(group: str | None) -> ColumnElement[Any]:
    return GROUPS[group] if group is not None else literal("")


def ticket_rows(
    conn: Connection,
    tenant: str,
    period: Period,
    *,
    group: str | None,
    bucket_ms: int | None,
    only: str | None = None,
) -> list[Row]:
    """One row per (group value, bucket) with tickets created in ``period``."""
    key = _key(group).label("k")
    b = sql.bucket(T.c.created_ms, bucket_ms).label("b")
    resolved = T.c.first_resolved_ms.is_not(None)
    base = (
        select(
            key,
            b,
            *(expr.label(name) for name, expr in DURATIONS),
            T.c.first_assigned_ms,
            T.c.abandoned_ms,
            T.c.csat,
            resolved.label("resolved"),
            and_(resolved, T.c.transfer_count == 0, T.c.reopen_count == 0).label("fcr"),
            and_(resolved, T.c.reopen_count > 0).label("reopened"),
        )
        .where(_cohort(tenant, period, group, only))
        .subquery("base")
    )
    keys = [base.c.k, base.c.b]
    windows = []
    for name, _expr in DURATIONS:
        rank, n = sql.ranked(keys, base.c[name])
        windows += [rank.label(f"{name}_rank"), n.label(f"{name}_n")]
    ranked = select(*base.c, *windows).subquery("ranked")
    r = ranked.c
    figures = []
    for name, _expr in DURATIONS:
        v = r[name]
        figures += [
            func.count(v).label(f"{name}_count"),
            func.sum(v).label(f"{name}_sum"),
            sql.nearest_rank(v, r[f"{name}_rank"], r[f"{name}_n"], P90).label(f"{name}_p90"),
        ]
    stmt = (
        select(
            r.k,
            r.b,
            func.count().label("created"),
            func.count(r.abandoned_ms).label("abandoned"),
            func.count(r.csat).label("csat_count"),
            func.sum(r.csat).label("csat_sum"),
            sql.count_if(r.resolved).label("resolved"),
            sql.count_if(r.fcr).label("fcr"),
            sql.count_if(r.reopened).label("reopened"),
            *figures,
        )
        .group_by(r.k, r.b)
        .order_by(r.k, r.b)
    )
    return [dict(m) for m in conn.execute(stmt).mappings()]


def service_levels(
    conn: Connection,
    tenant: str,
    period: Period,
    *,
    group: str | None,
    bucket_ms: int | None,
    only: str | None = None,
) -> dict[tuple[str, int], dict[str, tuple[int, int]]]:
    """Per (group value, bucket) and SLA target: (met, breached) outcomes of the cohort's
    tickets (every cycle of a target counts once: a ticket has one outcome per cycle)."""
    s = SLA_EVENTS
    key = _key(group).label("k")
    b = sql.bucket(T.c.created_ms, bucket_ms).label("b")
    stmt = (
        select(
            key,
            b,
            s.c.target,
            sql.count_if(s.c.kind == "met").label("met"),
            sql.count_if(s.c.kind == "breached").label("breached"),
        )
        .select_from(T.join(s, and_(s.c.tenant == T.c.tenant, s.c.ticket_id == T.c.ticket_id)))
        .where(_cohort(tenant, period, group, only), s.c.kind.in_(SL_KINDS))
        .group_by(key, b, s.c.target)
    )
    out: dict[tuple[str, int], dict[str, tuple[int, int]]] = {}
    for k, bk, target, met, breached in conn.execute(stmt):
        out.setdefault((k, int(bk)), {})[target] = (int(met or 0), int(breached or 0))
    return out


def figures(raw: Row, levels: dict[str, tuple[int, int]]) -> Row:
    """The published figures of one cohort row (sums and counts turned into means, rates)."""
    created = int(raw["created"])
    resolved = int(raw["resolved"] or 0)
    out: Row = {"created": created}
    for name, _expr in DURATIONS:
        count = int(raw[f"{name}_count"] or 0)
        out[f"{name}_count"] = count
        out[f"{name}_mean_ms"] = mean(raw[f"{name}_sum"], count)
        p90 = raw[f"{name}_p90"]
        out[f"{name}_p90_ms"] = None if p90 is None else int(p90)
    abandoned = int(raw["abandoned"] or 0)
    out.update(
        abandoned=abandoned,
        abandonment_rate=ratio(abandoned, created),
        resolved=resolved,
        fcr_rate=ratio(int(raw["fcr"] or 0), resolved),
        reopen_rate=ratio(int(raw["reopened"] or 0), resolved),
        csat_count=int(raw["csat_count"] or 0),
        csat_mean=mean(raw["csat_sum"], int(raw["csat_count"] or 0)),
    )
    for target in TARGETS:
        met, breached = levels.get(target, (0, 0))
        out[f"sl_{target}"] = ratio(met, met + breached)
        out[f"sl_{target}_n"] = met + breached
    return out


def cohort(
    conn: Connection,
    tenant: str,
    period: Period,
    *,
    group: str | None,
    bucket_ms: int | None,
    only: str | None = None,
) -> list[Row]:
    """Every figure of every (group value, bucket), in order; ``bucket`` is the ISO start
    of the hour/day (absent without ``bucket_ms``)."""
    rows = ticket_rows(conn, tenant, period, group=group, bucket_ms=bucket_ms, only=only)
    levels = service_levels(conn, tenant, period, group=group, bucket_ms=bucket_ms, only=only)
    out = []
    for raw in rows:
        k, b = raw["k"], int(raw["b"])
        row: Row = {}
        if group is not None:
            row[group] = k
        if bucket_ms is not None:
            row["bucket"] = iso(b)
            row["bucket_ms"] = b
        row.update(figures(raw, levels.get((k, b), {})))
        out.append(row)
    return out


def columns(group: str | None, bucket_ms: int | None, names: Sequence[str]) -> tuple[str, ...]:
    head = ([group] if group is not None else []) + (
        ["bucket", "bucket_ms"] if bucket_ms is not None else []
    )
    return (*head, *names)
