"""Figures of a cohort of tickets: those created in a period, grouped by queue, channel or
nothing, and by hour or day of creation; the queue, channel and KPI reports are views of it.

Per UTC hour of creation and (queue, channel), :func:`live` reads the hour's tickets from
``tickets`` (the archive's per-ticket projection, ``engine.archive.schema``; one range scan
of ``tickets (tenant, created_ms)``) and their SLA outcomes from ``sla_events``; the hours
are cached as roll-ups (``rollup``) and merged into the report's groups and buckets, with
exact means and nearest-rank percentiles (``partial``).

Every duration is measured from the ticket's creation (``created_ms``); see
``docs/reports.md`` for the definition of each figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, select

from engine.archive.marks import HOUR_MS
from engine.archive.reports import rollup, sql
from engine.archive.reports.model import Row, mean, ratio
from engine.archive.reports.partial import Collector, Groups, Partial, nearest_rank
from engine.archive.reports.period import Period, iso
from engine.archive.schema import SLA_EVENTS, TICKETS
from engine.core.sla import TARGETS

FAMILY = "cohort"

T = TICKETS
GROUPS = ("queue", "channel")  # a cohort key is (queue, channel)
# each gets <name>_count, <name>_mean_ms and <name>_p90_ms: creation to the first assignment,
# the first response and the first resolution
DURATIONS = ("tta", "frt", "resolution")
P90 = 90
SL_KINDS = ("met", "breached")


def _hour(ts: Any) -> Any:
    return ts - ts % HOUR_MS


def live(conn: Connection, tenant: str, from_ms: int, to_ms: int) -> rollup.Hourly:
    """The cohort figures of the tickets created in ``[from_ms, to_ms)``, per hour of
    creation and (queue, channel), from the facts."""
    cohort = and_(T.c.tenant == tenant, sql.between(T.c.created_ms, from_ms, to_ms))
    stmt = select(
        T.c.created_ms,
        T.c.queue,
        T.c.channel,
        T.c.first_assigned_ms,
        T.c.first_response_ms,
        T.c.first_resolved_ms,
        T.c.abandoned_ms,
        T.c.csat,
        T.c.transfer_count,
        T.c.reopen_count,
    ).where(cohort)
    hours: dict[int, Collector] = {}
    for (
        created,
        queue,
        channel,
        assigned,
        responded,
        resolved,
        abandoned,
        csat,
        moved,
        reopened,
    ) in conn.execute(stmt):
        h = int(created) - int(created) % HOUR_MS
        c = hours.get(h)
        if c is None:
            c = hours[h] = Collector()
        key = (queue, channel)
        p = c.at(key)
        p.add("created")
        c.value(key, "tta", None if assigned is None else assigned - created)
        c.value(key, "frt", None if responded is None else responded - created)
        c.value(key, "resolution", None if resolved is None else resolved - created)
        if abandoned is not None:
            p.add("abandoned")
        if csat is not None:
            p.add("csat_count")
            p.add("csat_sum", int(csat))
        if resolved is not None:
            p.add("resolved")
            if not moved and not reopened:
                p.add("fcr")
            if reopened:
                p.add("reopened")
    s = SLA_EVENTS
    h = _hour(T.c.created_ms).label("h")
    levels = (
        select(
            h,
            T.c.queue,
            T.c.channel,
            s.c.target,
            sql.count_if(s.c.kind == "met"),
            sql.count_if(s.c.kind == "breached"),
        )
        .select_from(T.join(s, and_(s.c.tenant == T.c.tenant, s.c.ticket_id == T.c.ticket_id)))
        .where(cohort, s.c.kind.in_(SL_KINDS))
        .group_by(h, T.c.queue, T.c.channel, s.c.target)
    )
    for hour, queue, channel, target, met, breached in conn.execute(levels):
        c = hours.get(int(hour))
        if c is None:
            c = hours[int(hour)] = Collector()
        p = c.at((queue, channel))
        p.add(f"met:{target}", int(met or 0))
        p.add(f"breached:{target}", int(breached or 0))
    return {hour: c.done() for hour, c in hours.items()}


def figures(p: Partial) -> Row:
    """The published figures of one cohort row (sums and counts turned into means, rates)."""
    created = p.count("created")
    resolved = p.count("resolved")
    out: Row = {"created": created}
    for name in DURATIONS:
        runs = p.runs(name)
        count = sum(len(r) for r in runs)
        out[f"{name}_count"] = count
        out[f"{name}_mean_ms"] = mean(sum(sum(r) for r in runs), count)
        out[f"{name}_p90_ms"] = nearest_rank(runs, P90)
    abandoned = p.count("abandoned")
    out.update(
        abandoned=abandoned,
        abandonment_rate=ratio(abandoned, created),
        resolved=resolved,
        fcr_rate=ratio(p.count("fcr"), resolved),
        reopen_rate=ratio(p.count("reopened"), resolved),
        csat_count=p.count("csat_count"),
        csat_mean=mean(p.count("csat_sum"), p.count("csat_count")),
    )
    for target in TARGETS:
        met, breached = p.count(f"met:{target}"), p.count(f"breached:{target}")
        out[f"sl_{target}"] = ratio(met, met + breached)
        out[f"sl_{target}_n"] = met + breached
    return out


def _order(kb: tuple[Any, int]) -> tuple[bool, str, int]:
    k, b = kb
    return (k is not None, "" if k is None else str(k), b)


def cohort(
    conn: Connection,
    tenant: str,
    period: Period,
    *,
    group: str | None,
    bucket_ms: int | None,
    only: str | None = None,
    cached: bool = True,
) -> list[Row]:
    """Every figure of every (group value, bucket), in order (a null group value first);
    ``bucket`` is the ISO start of the hour/day (absent without ``bucket_ms``);
    ``cached=False``: from the facts alone (``rollup.hourly``)."""
    hours = rollup.hourly(conn, tenant, FAMILY, period, live, cached=cached)
    at = None if group is None else GROUPS.index(group)
    merged: Groups = {}
    for hour, groups in hours.items():
        b = 0 if bucket_ms is None else hour - hour % bucket_ms
        for key, p in groups.items():
            k = "" if at is None else key[at]
            if at is not None and only is not None and k != only:
                continue
            have = merged.get((k, b))
            if have is None:
                have = merged[(k, b)] = Partial()
            have.merge(p)
    out = []
    for k, b in sorted(merged, key=_order):
        p = merged[(k, b)]
        if not p.count("created"):
            continue
        row: Row = {}
        if group is not None:
            row[group] = k
        if bucket_ms is not None:
            row["bucket"] = iso(b)
            row["bucket_ms"] = b
        row.update(figures(p))
        out.append(row)
    return out


def columns(group: str | None, bucket_ms: int | None, names: Sequence[str]) -> tuple[str, ...]:
    head = ([group] if group is not None else []) + (
        ["bucket", "bucket_ms"] if bucket_ms is not None else []
    )
    return (*head, *names)
