"""Per agent over a period: what the decisions did with it (offers, accepts, rejections,
time-outs, transfers), what it resolved (handle, resolution time, first-contact
resolution, reopens), its customers' ratings, its first responses, and its time by status.

Each figure has one home query, all bounded by ``tenant`` and a time range and served by
an index of ``engine.archive.schema`` (``decisions (tenant, ts_ms)``, ``(tenant, agent, kind,
ts_ms)``, ``(tenant, from_agent, ts_ms)``, ``lifecycle (tenant, type, ts_ms)``, the ticket's
primary key for the per-ticket look-ups), grouped by UTC hour: :func:`live` gives the
figures of the hours of a range, cached as roll-ups (``rollup``) and merged over the
period with exact means and nearest-rank percentiles (``partial``). Time by status is
always read from the spans (an open span's end depends on the report's ``now``).
Definitions: ``docs/reports.md``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, exists, func, literal, select
from sqlalchemy.sql import ColumnElement

from engine.archive.marks import HOUR_MS, hour_of
from engine.archive.reports import rollup, sql
from engine.archive.reports.model import Row, mean, ratio
from engine.archive.reports.partial import Collector, Partial, nearest_rank
from engine.archive.reports.period import Period
from engine.archive.schema import AGENT_STATUS_SPANS, DECISIONS, LIFECYCLE, TICKETS
from engine.core.model import STATUSES
from engine.ports import (
    REASON_OFFER_REJECTED,
    REASON_OFFER_TIMEOUT,
    RELEASE_RESOLVED,
    STEP_ACCEPTED,
)

D, L, T, S = DECISIONS, LIFECYCLE, TICKETS, AGENT_STATUS_SPANS
P90 = 90
HOLDING = ("assigned", "reassigned")  # the decisions that give a ticket to an agent

COLUMNS = (
    "agent",
    "offered",
    "accepted",
    "rejected",
    "timed_out",
    "assigned",
    "transferred_in",
    "transferred_out",
    "handled",
    "handle_mean_ms",
    "handle_p90_ms",
    "resolution_mean_ms",
    "resolution_p90_ms",
    "first_responses",
    "frt_mean_ms",
    "frt_p90_ms",
    "csat_mean",
    "csat_count",
    "fcr_rate",
    "reopen_rate",
    "logged_in_ms",
    "utilisation",
    *(f"time_{s}_ms" for s in STATUSES),
)
COUNTS = COLUMNS[1:8]
DECISION_COUNTS = ("offered", "accepted", "rejected", "timed_out", "assigned", "transferred_in")


FAMILY = "agents"


def _in(ts: ColumnElement[Any], from_ms: int, to_ms: int) -> ColumnElement[bool]:
    return sql.between(ts, from_ms, to_ms)


def _hour(ts: Any) -> Any:
    return (ts - ts % HOUR_MS).label("h")


class _Hours:
    """A :class:`Collector` per hour; ``agent``: the figures of that agent only."""

    def __init__(self, agent: str | None = None) -> None:
        self.agent = agent
        self.by_hour: dict[int, Collector] = {}

    def __call__(self, hour: Any) -> Collector:
        h = int(hour)
        c = self.by_hour.get(h)
        if c is None:
            c = self.by_hour[h] = Collector()
        return c

    def done(self) -> rollup.Hourly:
        return {h: c.done() for h, c in self.by_hour.items()}


def decision_counts(conn: Connection, tenant: str, from_ms: int, to_ms: int, at: _Hours) -> None:
    """offered, accepted, rejected, timed_out, assigned, transferred_in per hour and agent."""
    released = D.c.kind == "released"
    h = _hour(D.c.ts_ms)
    stmt = (
        select(
            h,
            D.c.agent,
            sql.count_if(D.c.kind == "offered"),
            sql.count_if(and_(D.c.kind == "assigned", D.c.step == STEP_ACCEPTED)),
            sql.count_if(and_(released, D.c.reason == REASON_OFFER_REJECTED)),
            sql.count_if(and_(released, D.c.reason == REASON_OFFER_TIMEOUT)),
            sql.count_if(D.c.kind.in_(HOLDING)),
            sql.count_if(D.c.kind == "reassigned"),
        )
        .where(D.c.tenant == tenant, _in(D.c.ts_ms, from_ms, to_ms), D.c.agent.is_not(None))
        .group_by(h, D.c.agent)
    )
    if at.agent is not None:
        stmt = stmt.where(D.c.agent == at.agent)
    for hour, agent, *counts in conn.execute(stmt):
        p = at(hour).at((agent,))
        for name, n in zip(DECISION_COUNTS, counts, strict=True):
            p.add(name, int(n or 0))


def transfers_out(conn: Connection, tenant: str, from_ms: int, to_ms: int, at: _Hours) -> None:
    h = _hour(D.c.ts_ms)
    stmt = (
        select(h, D.c.from_agent, func.count())
        .where(
            D.c.tenant == tenant,
            D.c.kind == "reassigned",
            D.c.from_agent.is_not(None),
            _in(D.c.ts_ms, from_ms, to_ms),
        )
        .group_by(h, D.c.from_agent)
    )
    if at.agent is not None:
        stmt = stmt.where(D.c.from_agent == at.agent)
    for hour, agent, n in conn.execute(stmt):
        at(hour).at((agent,)).add("transferred_out", int(n))


def resolutions(conn: Connection, tenant: str, from_ms: int, to_ms: int, at: _Hours) -> None:
    """handled, handle time, resolution time, first-contact resolutions and reopens per
    agent, over the ``decision.released`` (reason resolved) of its tickets in the range."""
    e = D.alias("e")
    # the last decision before the resolution that gave the ticket to the resolving agent,
    # read backwards along the primary key (tenant, ticket_id, seq, kind): usually the first
    # row read (a release names the ticket's holder)
    started = (
        select(e.c.ts_ms)
        .where(
            e.c.tenant == D.c.tenant,
            e.c.ticket_id == D.c.ticket_id,
            e.c.seq > 0,
            e.c.seq < D.c.seq,
            e.c.kind.in_(HOLDING),
            e.c.agent == D.c.agent,
        )
        .order_by(e.c.seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    reopened = exists().where(
        L.c.tenant == D.c.tenant,
        L.c.ticket_id == D.c.ticket_id,
        L.c.type == "ticket.reopened",
        L.c.ts_ms > D.c.ts_ms,
    )
    stmt = (
        select(
            D.c.ts_ms,
            D.c.agent,
            started,
            T.c.created_ms,
            T.c.transfer_count,
            T.c.reopen_count,
            reopened,
        )
        .select_from(D.outerjoin(T, and_(T.c.tenant == D.c.tenant, T.c.ticket_id == D.c.ticket_id)))
        .where(
            D.c.tenant == tenant,
            D.c.kind == "released",
            D.c.reason == RELEASE_RESOLVED,
            D.c.agent.is_not(None),
            _in(D.c.ts_ms, from_ms, to_ms),
        )
    )
    if at.agent is not None:
        stmt = stmt.where(D.c.agent == at.agent)
    for ts, agent, start, created, moved, reopens, again in conn.execute(stmt):
        c = at(hour_of(int(ts)))
        key = (agent,)
        p = c.at(key)
        p.add("handled")
        c.value(key, "handle", None if start is None else ts - start)
        c.value(key, "resolution", None if created is None else ts - created)
        # fcr: a ticket the archive knows (a resolution without its ticket row counts not)
        if moved == 0 and reopens == 0:
            p.add("fcr")
        if again:
            p.add("reopened")


def first_responses(conn: Connection, tenant: str, from_ms: int, to_ms: int, at: _Hours) -> None:
    """Tickets whose first response (``ticket.first_response``, the earliest) falls in the
    range, per responding agent (the event's ``agent``, else the ticket's first agent)."""
    who = func.coalesce(L.c.agent, T.c.first_agent)
    stmt = (
        select(L.c.ts_ms, who, L.c.ts_ms - T.c.created_ms)
        .select_from(L.join(T, and_(T.c.tenant == L.c.tenant, T.c.ticket_id == L.c.ticket_id)))
        .where(
            L.c.tenant == tenant,
            L.c.type == "ticket.first_response",
            _in(L.c.ts_ms, from_ms, to_ms),
            L.c.ts_ms == T.c.first_response_ms,
            who.is_not(None),
        )
    )
    if at.agent is not None:
        stmt = stmt.where(who == at.agent)
    for ts, agent, frt in conn.execute(stmt):
        at(hour_of(int(ts))).value((agent,), "frt", frt)


def ratings(conn: Connection, tenant: str, from_ms: int, to_ms: int, at: _Hours) -> None:
    """``ticket.rated`` events in the range, per agent: the event's ``agent``, else the
    agent of the ticket's latest resolution before the rating."""
    e = D.alias("e")
    resolver = (
        select(e.c.agent)
        .where(
            e.c.tenant == L.c.tenant,
            e.c.ticket_id == L.c.ticket_id,
            e.c.kind == "released",
            e.c.reason == RELEASE_RESOLVED,
            e.c.ts_ms <= L.c.ts_ms,
        )
        .order_by(e.c.seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    stmt = select(L.c.ts_ms, func.coalesce(L.c.agent, resolver), L.c.rating).where(
        L.c.tenant == tenant,
        L.c.type == "ticket.rated",
        _in(L.c.ts_ms, from_ms, to_ms),
        L.c.rating.is_not(None),
    )
    for ts, agent, rating in conn.execute(stmt):
        if agent is None or (at.agent is not None and agent != at.agent):
            continue
        p = at(hour_of(int(ts))).at((agent,))
        p.add("csat_count")
        p.add("csat_sum", int(rating))


def live(conn: Connection, tenant: str, from_ms: int, to_ms: int) -> rollup.Hourly:
    """Every agent figure but the time by status, per hour and agent, from the facts."""
    return _live(conn, tenant, from_ms, to_ms, _Hours())


def live_for(agent: str) -> rollup.Live:
    """:func:`live` of one agent (its own indexes: ``decisions (tenant, agent, kind, ts_ms)``
    and ``(tenant, from_agent, ts_ms)``): an hour computed so is not a roll-up to keep."""

    def run(conn: Connection, tenant: str, from_ms: int, to_ms: int) -> rollup.Hourly:
        return _live(conn, tenant, from_ms, to_ms, _Hours(agent))

    return run


def _live(conn: Connection, tenant: str, from_ms: int, to_ms: int, at: _Hours) -> rollup.Hourly:
    for part in (decision_counts, transfers_out, resolutions, first_responses, ratings):
        part(conn, tenant, from_ms, to_ms, at)
    return at.done()


def status_time(
    conn: Connection, tenant: str, period: Period, agent: str | None, now_ms: int
) -> dict[str, dict[str, int]]:
    """Milliseconds per agent and status inside the period. A span still open (no later
    agent event) lasts until the period's end or ``now_ms``, whichever is earlier."""
    open_end = literal(min(period.to_ms, max(now_ms, period.from_ms)))
    end = func.coalesce(S.c.end_ms, open_end)
    where = [S.c.tenant == tenant, S.c.start_ms < period.to_ms, end > period.from_ms]
    if agent is not None:
        where.append(S.c.agent == agent)
    inside = sql.overlap_ms(S.c.start_ms, end, period.from_ms, period.to_ms)
    stmt = (
        select(S.c.agent, S.c.status, func.sum(inside))
        .where(*where)
        .group_by(S.c.agent, S.c.status)
    )
    out: dict[str, dict[str, int]] = {}
    for a, status, ms in conn.execute(stmt):
        out.setdefault(a, {})[status] = max(0, int(ms or 0))
    return out


def agent_rows(
    conn: Connection,
    tenant: str,
    period: Period,
    *,
    agent: str | None = None,
    now_ms: int,
    cached: bool = True,
) -> list[Row]:
    """One row per agent with anything in the period (``agent``: that agent only, a row of
    zeros when it did nothing), sorted by agent id; ``cached=False``: from the facts alone."""
    merged: dict[str, Partial] = {}
    # one agent: the hours without a roll-up are computed for that agent alone (fast, by its
    # indexes) and not kept; every agent: computed for all and kept
    compute, keep = (live, True) if agent is None else (live_for(agent), False)
    hours = rollup.hourly(conn, tenant, FAMILY, period, compute, cached=cached, keep=keep)
    for groups in hours.values():
        for (a,), p in groups.items():
            if agent is not None and a != agent:
                continue
            have = merged.get(a)
            if have is None:
                have = merged[a] = Partial()
            have.merge(p)
    times = status_time(conn, tenant, period, agent, now_ms)
    ids = set(merged) | set(times)
    if agent is not None:
        ids = {agent}
    rows = []
    for a in sorted(ids):
        p, t = merged.get(a, Partial()), times.get(a, {})
        handled = p.count("handled")
        handle = p.runs("handle")
        handle_sum = sum(sum(r) for r in handle)
        resolution, frt = p.runs("resolution"), p.runs("frt")
        logged_in = sum(ms for status, ms in t.items() if status != "offline")
        row: Row = {"agent": a}
        row.update({k: p.count(k) for k in COUNTS})
        row.update(
            handled=handled,
            handle_mean_ms=mean(handle_sum, p.n("handle")),
            handle_p90_ms=nearest_rank(handle, P90),
            resolution_mean_ms=mean(p.total("resolution"), p.n("resolution")),
            resolution_p90_ms=nearest_rank(resolution, P90),
            first_responses=p.n("frt"),
            frt_mean_ms=mean(p.total("frt"), p.n("frt")),
            frt_p90_ms=nearest_rank(frt, P90),
            csat_mean=mean(p.count("csat_sum"), p.count("csat_count")),
            csat_count=p.count("csat_count"),
            fcr_rate=ratio(p.count("fcr"), handled),
            reopen_rate=ratio(p.count("reopened"), handled),
            logged_in_ms=logged_in,
            utilisation=ratio(handle_sum, logged_in),
        )
        row.update({f"time_{s}_ms": t.get(s, 0) for s in STATUSES})
        rows.append(row)
    return rows
