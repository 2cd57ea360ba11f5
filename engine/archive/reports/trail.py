"""The full trail of one ticket: its lifecycle events, every decision (offers, accepts,
rejections, time-outs, transfers, escalations, releases, refused commands), the supervisor
commands naming it and its SLA outcomes, in the order they happened, each with who, why
and when.

One ``UNION ALL`` over the four fact tables, each read by its ``(tenant, ticket)`` key
prefix; ordered by time, then lifecycle before commands before decisions before SLA events
(an event comes before the decision it causes), then the decision's ``seq``.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Integer,
    String,
    Text,
    exists,
    literal,
    null,
    select,
    union_all,
)

from engine.archive.reports import sql
from engine.archive.reports.model import Row
from engine.archive.reports.period import Period, iso
from engine.archive.schema import COMMANDS, DECISIONS, LIFECYCLE, SLA_EVENTS, TICKETS
from engine.ports import REASON_OFFER_REJECTED, REASON_OFFER_TIMEOUT, STEP_ACCEPTED

D, L, C, S, T = DECISIONS, LIFECYCLE, COMMANDS, SLA_EVENTS, TICKETS
COLUMNS = (
    "at",
    "ts_ms",
    "source",
    "type",
    "what",
    "agent",
    "from_agent",
    "by",
    "queue",
    "reason",
    "why",
    "seq",
    "detail",
)
# the order of sources at the same millisecond: a cause before its effect
RANKS = {"lifecycle": 0, "command": 1, "decision": 2, "sla": 3}
_DETAIL = ("step", "strategy", "candidates", "forced", "rating", "priority", "target", "cycle")
_DETAIL_MORE = ("deadline_ms", "policy", "waiting", "replied_by")


class UnknownTicket(LookupError):
    """The archive has nothing of this ticket in this tenant."""


def _none(kind: Any) -> Any:
    return null().cast(kind)


def _parts(tenant: str, ticket_id: str, period: Period) -> Any:
    f, t = period.from_ms, period.to_ms
    decisions = select(
        D.c.ts_ms,
        literal(RANKS["decision"]).label("rank"),
        literal("decision").label("source"),
        (literal("decision.") + D.c.kind).label("type"),
        D.c.agent,
        D.c.from_agent,
        D.c.supervisor.label("by"),
        D.c.queue,
        D.c.reason,
        D.c.why,
        D.c.seq,
        D.c.step,
        D.c.strategy,
        D.c.candidates,
        D.c.forced,
        _none(Integer).label("rating"),
        D.c.priority,
        _none(String).label("target"),
        _none(Integer).label("cycle"),
        _none(BigInteger).label("deadline_ms"),
        _none(String).label("policy"),
        _none(Boolean).label("waiting"),
        _none(String).label("replied_by"),
    ).where(D.c.tenant == tenant, D.c.ticket_id == ticket_id, sql.between(D.c.ts_ms, f, t))
    lifecycle = select(
        L.c.ts_ms,
        literal(RANKS["lifecycle"]),
        literal("lifecycle"),
        L.c.type,
        L.c.agent,
        _none(String),
        _none(String),
        _none(String),
        L.c.reason,
        _none(Text),
        _none(BigInteger),
        _none(Text),
        _none(String),
        _none(Integer),
        _none(Boolean),
        L.c.rating,
        _none(Integer),
        _none(String),
        _none(Integer),
        _none(BigInteger),
        _none(String),
        L.c.waiting,
        L.c.by,
    ).where(L.c.tenant == tenant, L.c.ticket_id == ticket_id, sql.between(L.c.ts_ms, f, t))
    commands = select(
        C.c.ts_ms,
        literal(RANKS["command"]),
        literal("command"),
        C.c.type,
        C.c.to_agent,
        _none(String),
        C.c.supervisor,
        C.c.queue,
        C.c.reason,
        _none(Text),
        _none(BigInteger),
        _none(Text),
        _none(String),
        _none(Integer),
        _none(Boolean),
        _none(Integer),
        C.c.priority,
        _none(String),
        _none(Integer),
        _none(BigInteger),
        _none(String),
        _none(Boolean),
        _none(String),
    ).where(
        C.c.tenant == tenant,
        C.c.subject == ticket_id,
        C.c.subject_kind == "ticket",
        sql.between(C.c.ts_ms, f, t),
    )
    sla = select(
        S.c.ts_ms,
        literal(RANKS["sla"]),
        literal("sla"),
        (literal("sla.") + S.c.kind),
        _none(String),
        _none(String),
        _none(String),
        _none(String),
        _none(Text),
        _none(Text),
        _none(BigInteger),
        _none(Text),
        _none(String),
        _none(Integer),
        _none(Boolean),
        _none(Integer),
        S.c.priority,
        S.c.target,
        S.c.cycle,
        S.c.deadline_ms,
        S.c.policy,
        _none(Boolean),
        _none(String),
    ).where(S.c.tenant == tenant, S.c.ticket_id == ticket_id, sql.between(S.c.ts_ms, f, t))
    return union_all(decisions, lifecycle, commands, sla)


def known(conn: Connection, tenant: str, ticket_id: str) -> bool:
    """Whether the archive holds anything of the ticket in the tenant."""
    checks = [
        exists().where(T.c.tenant == tenant, T.c.ticket_id == ticket_id),
        exists().where(D.c.tenant == tenant, D.c.ticket_id == ticket_id),
        exists().where(L.c.tenant == tenant, L.c.ticket_id == ticket_id),
    ]
    return any(conn.execute(select(check)).scalar() for check in checks)


def held_by(conn: Connection, tenant: str, ticket_id: str, agent: str) -> bool:
    """Whether the ticket was ever offered, assigned or transferred to ``agent``."""
    stmt = select(
        exists().where(
            D.c.tenant == tenant,
            D.c.ticket_id == ticket_id,
            D.c.agent == agent,
            D.c.kind.in_(("offered", "assigned", "reassigned")),
        )
    )
    return bool(conn.execute(stmt).scalar())


def what(row: Row) -> str:
    """A short, human name for a trail entry."""
    source, typ = row["source"], str(row["type"])
    kind = typ.split(".", 1)[1] if "." in typ else typ
    if source == "decision":
        if kind == "assigned" and row.get("step") == STEP_ACCEPTED:
            return "offer accepted"
        if kind == "released" and row.get("reason") == REASON_OFFER_REJECTED:
            return "offer rejected"
        if kind == "released" and row.get("reason") == REASON_OFFER_TIMEOUT:
            return "offer timed out"
        if kind == "reassigned":
            return "transferred" if row.get("from_agent") else "force-assigned from the queue"
        if kind == "rejected":
            return "command refused"
        return kind
    if source == "command":
        return f"supervisor {kind.replace('_', ' ')}"
    if source == "sla":
        return f"SLA {row.get('target')} {kind}"
    return f"ticket {kind.replace('_', ' ')}"


def trail_rows(
    conn: Connection, tenant: str, ticket_id: str, period: Period | None = None
) -> list[Row]:
    """Every entry of the ticket's trail in ``period`` (default: all of it), in order.
    Raises :class:`UnknownTicket` when the tenant's archive has nothing of the ticket."""
    period = period or Period.everything()
    union = _parts(tenant, ticket_id, period).subquery("trail")
    stmt = select(union).order_by(union.c.ts_ms, union.c.rank, union.c.seq)
    rows = [dict(m) for m in conn.execute(stmt).mappings()]
    if not rows and not known(conn, tenant, ticket_id):
        raise UnknownTicket(f"no ticket {ticket_id!r} in tenant {tenant!r}")
    return [_entry(r) for r in rows]


def _entry(raw: Row) -> Row:
    detail: dict[str, Any] = {}
    for key in (*_DETAIL, *_DETAIL_MORE):
        value = raw.get(key)
        if value is None or value == "" or (key == "forced" and not value):
            continue
        detail[key] = bool(value) if key in ("forced", "waiting") else value
    if raw["source"] == "decision":
        detail.pop("priority", None)  # the decision's copy of the ticket's priority
    ts = int(raw["ts_ms"])
    return {
        "at": iso(ts),
        "ts_ms": ts,
        "source": raw["source"],
        "type": raw["type"],
        "what": what(raw),
        "agent": raw["agent"],
        "from_agent": raw["from_agent"],
        "by": raw["by"],
        "queue": raw["queue"] or None,
        "reason": raw["reason"] or None,
        "why": raw["why"] or None,
        "seq": None if raw["seq"] is None else int(raw["seq"]),
        "detail": detail,
    }


def detail_text(detail: dict[str, Any]) -> str:
    return json.dumps(detail, sort_keys=True)
