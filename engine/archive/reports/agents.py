"""Per agent over a period: what the decisions did with it (offers, accepts, rejections,
time-outs, transfers), what it resolved (handle, resolution time, first-contact
resolution, reopens), its customers' ratings, its first responses, and its time by status.

Each figure has one home query, all bounded by ``tenant`` and the period and served by an
index of ``engine.archive.schema`` (``decisions (tenant, ts_ms)``, ``(tenant, agent, kind,
ts_ms)``, ``(tenant, from_agent, ts_ms)``, ``lifecycle (tenant, type, ts_ms)``, the ticket's
primary key for the per-ticket look-ups). Definitions: ``docs/reports.md``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, exists, func, literal, select
from sqlalchemy.sql import ColumnElement

from engine.archive.reports import sql
from engine.archive.reports.model import Row, mean, ratio
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


def _in(ts: ColumnElement[Any], period: Period) -> ColumnElement[bool]:
    return sql.between(ts, period.from_ms, period.to_ms)


def decision_counts(
    conn: Connection, tenant: str, period: Period, agent: str | None
) -> dict[str, Row]:
    """offered, accepted, rejected, timed_out, assigned, transferred_in per agent."""
    where = [D.c.tenant == tenant, _in(D.c.ts_ms, period), D.c.agent.is_not(None)]
    if agent is not None:
        where.append(D.c.agent == agent)
    released = D.c.kind == "released"
    stmt = (
        select(
            D.c.agent,
            sql.count_if(D.c.kind == "offered").label("offered"),
            sql.count_if(and_(D.c.kind == "assigned", D.c.step == STEP_ACCEPTED)).label("accepted"),
            sql.count_if(and_(released, D.c.reason == REASON_OFFER_REJECTED)).label("rejected"),
            sql.count_if(and_(released, D.c.reason == REASON_OFFER_TIMEOUT)).label("timed_out"),
            sql.count_if(D.c.kind.in_(HOLDING)).label("assigned"),
            sql.count_if(D.c.kind == "reassigned").label("transferred_in"),
        )
        .where(*where)
        .group_by(D.c.agent)
    )
    return {m["agent"]: dict(m) for m in conn.execute(stmt).mappings()}


def transfers_out(
    conn: Connection, tenant: str, period: Period, agent: str | None
) -> dict[str, int]:
    where = [
        D.c.tenant == tenant,
        D.c.kind == "reassigned",
        D.c.from_agent.is_not(None),
        _in(D.c.ts_ms, period),
    ]
    if agent is not None:
        where.append(D.c.from_agent == agent)
    stmt = select(D.c.from_agent, func.count()).where(*where).group_by(D.c.from_agent)
    return {a: int(n) for a, n in conn.execute(stmt)}


def resolutions(conn: Connection, tenant: str, period: Period, agent: str | None) -> dict[str, Row]:
    """handled, handle time, resolution time, first-contact resolutions and reopens per
    agent, over the ``decision.released`` (reason resolved) of its tickets in the period."""
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
    where = [
        D.c.tenant == tenant,
        D.c.kind == "released",
        D.c.reason == RELEASE_RESOLVED,
        D.c.agent.is_not(None),
        _in(D.c.ts_ms, period),
    ]
    if agent is not None:
        where.append(D.c.agent == agent)
    base = (
        select(
            D.c.agent.label("agent"),
            (D.c.ts_ms - started).label("handle"),
            (D.c.ts_ms - T.c.created_ms).label("resolution"),
            and_(T.c.transfer_count == 0, T.c.reopen_count == 0).label("fcr"),
            reopened.label("reopened"),
        )
        .select_from(D.outerjoin(T, and_(T.c.tenant == D.c.tenant, T.c.ticket_id == D.c.ticket_id)))
        .where(*where)
        .offset(0)  # evaluated once per row: PostgreSQL would repeat the look-ups per use
        .subquery("base")
    )
    h_rank, h_n = sql.ranked([base.c.agent], base.c.handle)
    r_rank, r_n = sql.ranked([base.c.agent], base.c.resolution)
    ranked = select(
        *base.c,
        h_rank.label("h_rank"),
        h_n.label("h_n"),
        r_rank.label("r_rank"),
        r_n.label("r_n"),
    ).subquery("ranked")
    r = ranked.c
    stmt = select(
        r.agent,
        func.count().label("handled"),
        func.count(r.handle).label("handle_count"),
        func.sum(r.handle).label("handle_sum"),
        sql.nearest_rank(r.handle, r.h_rank, r.h_n, P90).label("handle_p90"),
        func.count(r.resolution).label("resolution_count"),
        func.sum(r.resolution).label("resolution_sum"),
        sql.nearest_rank(r.resolution, r.r_rank, r.r_n, P90).label("resolution_p90"),
        sql.count_if(r.fcr).label("fcr"),
        sql.count_if(r.reopened).label("reopened"),
    ).group_by(r.agent)
    return {m["agent"]: dict(m) for m in conn.execute(stmt).mappings()}


def first_responses(
    conn: Connection, tenant: str, period: Period, agent: str | None
) -> dict[str, Row]:
    """Tickets whose first response (``ticket.first_response``, the earliest) falls in the
    period, per responding agent (the event's ``agent``, else the ticket's first agent)."""
    who = func.coalesce(L.c.agent, T.c.first_agent)
    where = [
        L.c.tenant == tenant,
        L.c.type == "ticket.first_response",
        _in(L.c.ts_ms, period),
        L.c.ts_ms == T.c.first_response_ms,
        who.is_not(None),
    ]
    if agent is not None:
        where.append(who == agent)
    base = (
        select(who.label("agent"), (L.c.ts_ms - T.c.created_ms).label("frt"))
        .select_from(L.join(T, and_(T.c.tenant == L.c.tenant, T.c.ticket_id == L.c.ticket_id)))
        .where(*where)
        .subquery("base")
    )
    rank, n = sql.ranked([base.c.agent], base.c.frt)
    ranked = select(*base.c, rank.label("rk"), n.label("n")).subquery("ranked")
    r = ranked.c
    stmt = select(
        r.agent,
        func.count(r.frt).label("frt_count"),
        func.sum(r.frt).label("frt_sum"),
        sql.nearest_rank(r.frt, r.rk, r.n, P90).label("frt_p90"),
    ).group_by(r.agent)
    return {m["agent"]: dict(m) for m in conn.execute(stmt).mappings()}


def ratings(conn: Connection, tenant: str, period: Period, agent: str | None) -> dict[str, Row]:
    """``ticket.rated`` events in the period, per agent: the event's ``agent``, else the
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
    who = func.coalesce(L.c.agent, resolver)
    base = (
        select(who.label("agent"), L.c.rating)
        .where(
            L.c.tenant == tenant,
            L.c.type == "ticket.rated",
            _in(L.c.ts_ms, period),
            L.c.rating.is_not(None),
        )
        .offset(0)  # the resolver look-up once per rating
        .subquery("base")
    )
    stmt = select(
        base.c.agent, func.count().label("csat_count"), func.sum(base.c.rating).label("csat_sum")
    ).where(base.c.agent.is_not(None))
    if agent is not None:
        stmt = stmt.where(base.c.agent == agent)
    stmt = stmt.group_by(base.c.agent)
    return {m["agent"]: dict(m) for m in conn.execute(stmt).mappings()}


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


def _p90(value: Any) -> int | None:
    return None if value is None else int(value)


def agent_rows(
    conn: Connection, tenant: str, period: Period, *, agent: str | None = None, now_ms: int
) -> list[Row]:
    """One row per agent with anything in the period (``agent``: that agent only, a row of
    zeros when it did nothing), sorted by agent id."""
    counts = decision_counts(conn, tenant, period, agent)
    outs = transfers_out(conn, tenant, period, agent)
    done = resolutions(conn, tenant, period, agent)
    frt = first_responses(conn, tenant, period, agent)
    rated = ratings(conn, tenant, period, agent)
    times = status_time(conn, tenant, period, agent, now_ms)
    ids = set(counts) | set(outs) | set(done) | set(frt) | set(rated) | set(times)
    if agent is not None:
        ids = {agent}
    rows = []
    for a in sorted(ids):
        c, d, f, r = counts.get(a, {}), done.get(a, {}), frt.get(a, {}), rated.get(a, {})
        t = times.get(a, {})
        handled = int(d.get("handled") or 0)
        handle_sum = int(d.get("handle_sum") or 0)
        logged_in = sum(ms for status, ms in t.items() if status != "offline")
        row: Row = {"agent": a}
        row.update({k: int(c.get(k) or 0) for k in COUNTS if k != "transferred_out"})
        row["transferred_out"] = outs.get(a, 0)
        row.update(
            handled=handled,
            handle_mean_ms=mean(handle_sum, int(d.get("handle_count") or 0)),
            handle_p90_ms=_p90(d.get("handle_p90")),
            resolution_mean_ms=mean(d.get("resolution_sum"), int(d.get("resolution_count") or 0)),
            resolution_p90_ms=_p90(d.get("resolution_p90")),
            first_responses=int(f.get("frt_count") or 0),
            frt_mean_ms=mean(f.get("frt_sum"), int(f.get("frt_count") or 0)),
            frt_p90_ms=_p90(f.get("frt_p90")),
            csat_mean=mean(r.get("csat_sum"), int(r.get("csat_count") or 0)),
            csat_count=int(r.get("csat_count") or 0),
            fcr_rate=ratio(int(d.get("fcr") or 0), handled),
            reopen_rate=ratio(int(d.get("reopened") or 0), handled),
            logged_in_ms=logged_in,
            utilisation=ratio(handle_sum, logged_in),
        )
        row.update({f"time_{s}_ms": t.get(s, 0) for s in STATUSES})
        rows.append(row)
    return rows
