"""Events → archive rows, and the idempotent writer.

Two halves:

- **The mapping** (:func:`map_event`, pure): one decoded event (``engine.codec``) becomes at
  most one *fact* row of one table (``decisions``, ``lifecycle``, ``commands``,
  ``sla_events``, ``agent_status_spans``), keyed by the event's identity, plus the
  contribution of that fact to its ticket's projection (:class:`TicketDelta`). Events that
  are no facts map to ``None`` with the reason (a ``duplicate`` decision repeats a ticket's
  state; an ``agent.update`` without a status changes no status).
- **The writer** (:func:`write_batch`): one transaction per batch. Fact rows are inserted with
  on-conflict-do-nothing ``RETURNING`` their keys, so only the facts that are *new* reach the
  ``tickets`` projection and the agents' span ends; an event seen before (a redelivery, a
  replay from offset 0, the same decision read from both decision topics) writes nothing.

Identities (``docs/archive.md`` explains the choice):

- a decision: ``(tenant, ticket_id, seq, kind)``, ``seq`` the ticket's version, which the
  dispatcher's store increments with every decision about the ticket (republished decisions
  keep it); decisions without a version (``seq`` 0: ``decision.rejected``, decisions about
  a ticket the store does not know) are identified by their content digest;
- an SLA event: ``(tenant, event_id)`` (``sla:<ticket>:<target>:<cycle>:<kind>``);
- everything else (lifecycle, commands, agent events carry no id of their own):
  ``(tenant, subject, ts, type, digest)`` with ``digest`` the SHA-256 of the event's
  canonical JSON: the same event produced twice (a client retry) or read twice is one fact,
  wherever it was read from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Connection, Table, and_, bindparam, case, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from engine.archive import marks
from engine.archive.db import insert_for
from engine.archive.schema import (
    AGENT_STATUS_SPANS,
    COMMANDS,
    DECISIONS,
    DIGEST_CHARS,
    LIFECYCLE,
    SLA_EVENTS,
    TICKETS,
)

# the facts about a ticket that report roll-ups read (commands and agent spans feed none)
TICKET_FACT_TABLES = (DECISIONS, LIFECYCLE, SLA_EVENTS)

__all__ = [
    "Fact",
    "Mapped",
    "Source",
    "TicketDelta",
    "WriteResult",
    "digest",
    "map_event",
    "write_batch",
]

ENVELOPE = ("v", "type", "id", "tenant", "ts")
AGENT_STATUS_DEFAULT = {"agent.login": "available", "agent.logout": "offline"}
TICKET_SUBJECT_COMMANDS = (
    "command.reassign",
    "command.force_assign",
    "command.raise_priority",
    "command.move_queue",
    "command.notify",
)
RELEASE_RESOLVED = "resolved"
FROM_PREFIX = "from "  # engine.ports.REASON_MOVED_FROM

# Why an event maps to no row (metric label ``skipped``).
SKIP_DUPLICATE = "duplicate_decision"
SKIP_NO_STATUS = "no_status"
SKIP_NOT_ARCHIVED = "not_archived"


class Source(NamedTuple):
    """Where an event was read: informational columns ``src_*``."""

    topic: str
    partition: int
    offset: int


def canonical(event: Mapping[str, Any]) -> str:
    """The event as canonical JSON (sorted keys, no spaces): equal events, equal text."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(event: Mapping[str, Any]) -> str:
    """Content identity: the first 32 hex digits of the SHA-256 of :func:`canonical`."""
    return hashlib.sha256(canonical(event).encode()).hexdigest()[:DIGEST_CHARS]


def _json(value: Any) -> str | None:
    if value is None or value == {} or value == []:
        return None
    return canonical(value)


def _rest(event: Mapping[str, Any], known: Iterable[str]) -> str | None:
    """JSON of the fields not in ``known`` nor the envelope (kept: unknown fields are data)."""
    skip = set(ENVELOPE) | set(known)
    return _json({k: v for k, v in event.items() if k not in skip})


@dataclass
class TicketDelta:
    """What facts contribute to one ``tickets`` row; folds with :meth:`merge` exactly as the
    database upsert combines it with the stored row (min, max, sum, value of the highest
    seq), so the projection is independent of the order facts arrive in."""

    tenant: str
    ticket_id: str
    created_ms: int | None = None
    created: dict[str, Any] = field(default_factory=dict)  # channel, priority, ... of it
    last_seq: int = 0
    queue: str | None = None
    state: str | None = None
    agent: str | None = None
    last_decision_ms: int | None = None
    first_queue: str | None = None
    first_offered_ms: int | None = None
    first_assigned_ms: int | None = None
    first_agent: str | None = None
    first_response_ms: int | None = None
    first_resolved_ms: int | None = None
    resolved_ms: int | None = None
    resolved_agent: str | None = None  # of the latest ticket.resolved naming one
    released_agent: str | None = None  # decision.released (resolved): fills a missing one
    closed_ms: int | None = None
    cancelled_ms: int | None = None
    offer_count: int = 0
    assign_count: int = 0
    transfer_count: int = 0
    reopen_count: int = 0
    sla_breach_count: int = 0
    csat: int | None = None
    csat_ms: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.tenant, self.ticket_id

    def merge(self, o: TicketDelta) -> None:
        if o.created_ms is not None and (self.created_ms is None or o.created_ms < self.created_ms):
            self.created_ms, self.created = o.created_ms, dict(o.created)
        if o.last_seq > self.last_seq:
            self.last_seq, self.queue, self.state = o.last_seq, o.queue, o.state
            self.agent, self.last_decision_ms = o.agent, o.last_decision_ms
        self.first_queue = o.first_queue if o.first_queue is not None else self.first_queue
        self.first_offered_ms = _min(self.first_offered_ms, o.first_offered_ms)
        if o.first_assigned_ms is not None and (
            self.first_assigned_ms is None or o.first_assigned_ms < self.first_assigned_ms
        ):
            self.first_assigned_ms, self.first_agent = o.first_assigned_ms, o.first_agent
        self.first_response_ms = _min(self.first_response_ms, o.first_response_ms)
        self.first_resolved_ms = _min(self.first_resolved_ms, o.first_resolved_ms)
        if (
            o.resolved_ms is not None
            and o.resolved_agent is not None
            and (self.resolved_ms is None or o.resolved_ms >= self.resolved_ms)
        ):
            self.resolved_agent = o.resolved_agent
        self.resolved_ms = _max(self.resolved_ms, o.resolved_ms)
        self.released_agent = self.released_agent or o.released_agent
        self.closed_ms = _max(self.closed_ms, o.closed_ms)
        self.cancelled_ms = _min(self.cancelled_ms, o.cancelled_ms)
        self.offer_count += o.offer_count
        self.assign_count += o.assign_count
        self.transfer_count += o.transfer_count
        self.reopen_count += o.reopen_count
        self.sla_breach_count += o.sla_breach_count
        if o.csat_ms is not None and (self.csat_ms is None or o.csat_ms >= self.csat_ms):
            self.csat, self.csat_ms = o.csat, o.csat_ms

    def row(self) -> dict[str, Any]:
        """The ``tickets`` row of this delta alone (every column present)."""
        created = self.created
        return {
            "tenant": self.tenant,
            "ticket_id": self.ticket_id,
            "created_ms": self.created_ms,
            "channel": created.get("channel"),
            "priority": created.get("priority"),
            "tier": created.get("tier"),
            "language": created.get("language"),
            "region": created.get("region"),
            "customer_id": created.get("customer_id"),
            "requested_queue": created.get("queue"),
            "last_seq": self.last_seq,
            "queue": self.queue,
            "state": self.state,
            "agent": self.agent,
            "last_decision_ms": self.last_decision_ms,
            "first_queue": self.first_queue,
            "first_offered_ms": self.first_offered_ms,
            "first_assigned_ms": self.first_assigned_ms,
            "first_agent": self.first_agent,
            "first_response_ms": self.first_response_ms,
            "first_resolved_ms": self.first_resolved_ms,
            "resolved_ms": self.resolved_ms,
            "resolved_agent": self.resolved_agent or self.released_agent,
            "closed_ms": self.closed_ms,
            "cancelled_ms": self.cancelled_ms,
            "abandoned_ms": _abandoned(self.cancelled_ms, self.first_assigned_ms),
            "offer_count": self.offer_count,
            "assign_count": self.assign_count,
            "transfer_count": self.transfer_count,
            "reopen_count": self.reopen_count,
            "sla_breach_count": self.sla_breach_count,
            "csat": self.csat,
            "csat_ms": self.csat_ms,
        }


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _abandoned(cancelled: int | None, first_assigned: int | None) -> int | None:
    if cancelled is not None and (first_assigned is None or cancelled < first_assigned):
        return cancelled
    return None


@dataclass(frozen=True)
class Fact:
    """One row of one fact table, its identity (the table's primary key values) and what it
    contributes to its ticket (``None``: nothing, e.g. agent status, queue commands)."""

    table: Table
    row: Mapping[str, Any]
    delta: TicketDelta | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        return tuple(self.row[c.name] for c in self.table.primary_key.columns)


class Mapped(NamedTuple):
    """The result of :func:`map_event`: a fact, or why there is none (``skipped``)."""

    fact: Fact | None
    skipped: str = ""


def map_event(event: Mapping[str, Any], source: Source | None = None) -> Mapped:
    """The archive row of one decoded, valid event (pure). Raises ``KeyError`` /
    ``TypeError`` / ``ValueError`` only for an event that does not match its schema."""
    typ = str(event["type"])
    src = (
        {"src_topic": source.topic, "src_partition": source.partition, "src_offset": source.offset}
        if source is not None
        else {"src_topic": None, "src_partition": None, "src_offset": None}
    )
    if typ.startswith("decision."):
        return _decision(event, src)
    if typ.startswith("ticket."):
        return Mapped(_lifecycle(event, src))
    if typ.startswith("command."):
        return Mapped(_command(event, src))
    if typ.startswith("sla."):
        return Mapped(_sla(event, src))
    if typ.startswith("agent."):
        return _agent(event, src)
    return Mapped(None, SKIP_NOT_ARCHIVED)


def _decision(ev: Mapping[str, Any], src: dict[str, Any]) -> Mapped:
    if ev.get("duplicate"):
        # the answer to a ticket the store already knew: a repetition of its current state
        return Mapped(None, SKIP_DUPLICATE)
    kind = str(ev["type"]).removeprefix("decision.")
    tenant, tid, ts = str(ev["tenant"]), str(ev["id"]), int(ev["ts"])
    seq = int(ev.get("seq") or 0)
    agent = ev.get("agent")
    reason = ev.get("reason") or None
    from_agent = None
    if kind == "reassigned" and reason and reason.startswith(FROM_PREFIX):
        from_agent = reason[len(FROM_PREFIX) :].split(" ", 1)[0] or None
    known = [
        "queue",
        "agent",
        "strategy",
        "channel",
        "priority",
        "ticket_ts",
        "candidates",
        "filtered",
        "step",
        "supervisor",
        "forced",
        "reason",
        "why",
        "load",
        "capacity",
        "explain",
        "policy_revision",
        "seq",
        "duplicate",
    ]
    row = {
        "tenant": tenant,
        "ticket_id": tid,
        "seq": seq,
        "kind": kind,
        "digest": "" if seq > 0 else digest(ev),
        "ts_ms": ts,
        "agent": agent,
        "from_agent": from_agent,
        "queue": str(ev.get("queue") or ""),
        "channel": str(ev.get("channel") or ""),
        "strategy": str(ev.get("strategy") or ""),
        "priority": int(ev.get("priority") or 0),
        "ticket_ts_ms": int(ev.get("ticket_ts") or 0),
        "step": str(ev.get("step") or ""),
        "candidates": int(ev.get("candidates") or 0),
        "filtered": _json(ev.get("filtered")),
        "supervisor": ev.get("supervisor"),
        "forced": bool(ev.get("forced", False)),
        "reason": reason,
        "why": ev.get("why") or None,
        "load": ev.get("load"),
        "capacity": ev.get("capacity"),
        "explain": _json(ev.get("explain")),
        "policy_revision": _opt_str(ev.get("policy_revision")),
        "extra": _rest(ev, known),
        **src,
    }
    delta = None
    if seq > 0:  # a change of the ticket
        delta = TicketDelta(tenant, tid, last_seq=seq, queue=row["queue"] or None, state=kind)
        delta.agent, delta.last_decision_ms = agent, ts
        if seq == 1:
            delta.first_queue = row["queue"] or None
        if kind == "offered":
            delta.first_offered_ms, delta.offer_count = ts, 1
        if kind in ("assigned", "reassigned") and agent:
            delta.first_assigned_ms, delta.first_agent = ts, agent
            delta.assign_count = 1 if kind == "assigned" else 0
            delta.transfer_count = 1 if kind == "reassigned" else 0
        if kind == "released" and reason == RELEASE_RESOLVED and agent:
            delta.released_agent = agent
    return Mapped(Fact(DECISIONS, row, delta))


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _lifecycle(ev: Mapping[str, Any], src: dict[str, Any]) -> Fact:
    typ, tenant, tid, ts = str(ev["type"]), str(ev["tenant"]), str(ev["id"]), int(ev["ts"])
    created = typ == "ticket.created"
    waiting = ev.get("waiting")
    row = {
        "tenant": tenant,
        "ticket_id": tid,
        "ts_ms": ts,
        "type": typ,
        "digest": digest(ev),
        "agent": None if created else ev.get("agent"),
        "reason": ev.get("reason") or None,
        "rating": ev.get("rating"),
        "by": ev.get("by"),
        "waiting": None if waiting is None else bool(waiting),
        "data": _rest(ev, () if created else ("agent", "reason", "rating", "by", "waiting")),
        **src,
    }
    d = TicketDelta(tenant, tid)
    if created:
        d.created_ms = ts
        d.created = {
            "channel": ev.get("channel"),
            "priority": ev.get("priority"),
            "tier": ev.get("tier") or "standard",
            "language": ev.get("language"),
            "region": ev.get("region"),
            "customer_id": ev.get("customer_id"),
            "queue": ev.get("queue"),
        }
    elif typ == "ticket.first_response":
        d.first_response_ms = ts
    elif typ == "ticket.resolved":
        d.first_resolved_ms = d.resolved_ms = ts
        d.resolved_agent = ev.get("agent")
    elif typ == "ticket.closed":
        d.closed_ms = ts
    elif typ == "ticket.cancelled":
        d.cancelled_ms = ts
    elif typ == "ticket.reopened":
        d.reopen_count = 1
    elif typ == "ticket.rated":
        d.csat, d.csat_ms = int(ev["rating"]), ts
    return Fact(LIFECYCLE, row, d)


def _command(ev: Mapping[str, Any], src: dict[str, Any]) -> Fact:
    typ = str(ev["type"])
    subject_kind = (
        "ticket"
        if typ in TICKET_SUBJECT_COMMANDS
        else "agent"
        if typ == "command.claim"
        else "queue"
    )
    priority = ev.get("priority")
    known: tuple[str, ...] = ("supervisor", "to_agent", "priority", "reason", "ticket")
    if typ == "command.move_queue":
        known += ("queue",)
    row = {
        "tenant": str(ev["tenant"]),
        "subject": str(ev["id"]),
        "ts_ms": int(ev["ts"]),
        "type": typ,
        "digest": digest(ev),
        "subject_kind": subject_kind,
        "supervisor": ev.get("supervisor"),
        "to_agent": ev.get("to_agent"),
        "queue": ev.get("queue") if typ == "command.move_queue" else None,
        "priority": priority if typ == "command.raise_priority" else None,
        "ticket_id": ev.get("ticket") if typ == "command.claim" else None,
        "reason": ev.get("reason") or None,
        "data": _rest(ev, known),
        **src,
    }
    return Fact(COMMANDS, row)


def _sla(ev: Mapping[str, Any], src: dict[str, Any]) -> Fact:
    tenant, tid = str(ev["tenant"]), str(ev["id"])
    kind = str(ev["type"]).removeprefix("sla.")
    known = ("event_id", "target", "policy", "cycle", "deadline_ms", "priority")
    row = {
        "tenant": tenant,
        "event_id": str(ev["event_id"]),
        "ticket_id": tid,
        "kind": kind,
        "target": str(ev["target"]),
        "policy": str(ev["policy"]),
        "cycle": int(ev.get("cycle") or 0),
        "deadline_ms": int(ev["deadline_ms"]),
        "ts_ms": int(ev["ts"]),
        "priority": ev.get("priority"),
        "data": _rest(ev, known),
        **src,
    }
    delta = None
    if kind == "breached":
        delta = TicketDelta(tenant, tid, sla_breach_count=1)
    return Fact(SLA_EVENTS, row, delta)


def _agent(ev: Mapping[str, Any], src: dict[str, Any]) -> Mapped:
    typ = str(ev["type"])
    status = AGENT_STATUS_DEFAULT.get(typ) if typ == "agent.logout" else ev.get("status")
    if status is None:
        status = AGENT_STATUS_DEFAULT.get(typ)
    if status is None:  # agent.update without a status: skills, capacity ... not archived
        return Mapped(None, SKIP_NO_STATUS)
    row = {
        "tenant": str(ev["tenant"]),
        "agent": str(ev["id"]),
        "start_ms": int(ev["ts"]),
        "digest": digest(ev),
        "status": str(status),
        "end_ms": None,
        "type": typ,
        "team": ev.get("team") or None,
        **src,
    }
    return Mapped(Fact(AGENT_STATUS_SPANS, row))


# ---- the writer -------------------------------------------------------------------------------


@dataclass
class WriteResult:
    """What one batch wrote: new rows per table, facts already there, tickets touched."""

    inserted: dict[str, int] = field(default_factory=dict)
    existing: int = 0
    tickets: int = 0
    new: set[tuple[str, tuple[Any, ...]]] = field(default_factory=set)  # (table, key)
    marked: int = 0  # report hours made stale (engine.archive.marks)

    @property
    def rows(self) -> int:
        return sum(self.inserted.values())


_insert = insert_for


def write_batch(conn: Connection, facts: Sequence[Fact]) -> WriteResult:
    """Insert ``facts`` (inside the caller's transaction), then fold the new ones into
    ``tickets`` and the agents' span ends. Idempotent: facts already stored change nothing."""
    result = WriteResult()
    unique: dict[tuple[str, tuple[Any, ...]], Fact] = {}
    for fact in facts:
        unique.setdefault((fact.table.name, fact.key), fact)
    result.existing = len(facts) - len(unique)
    by_table: dict[str, list[Fact]] = {}
    for (name, _key), fact in unique.items():
        by_table.setdefault(name, []).append(fact)
    new: list[Fact] = []
    # Tables and rows in one order (by key) in every transaction: concurrent archivers take
    # their row locks in the same order and never deadlock each other.
    for name, group in sorted(by_table.items()):
        group.sort(key=lambda f: repr(f.key))
        table = group[0].table
        pk = list(table.primary_key.columns)
        stmt = _insert(conn, table).on_conflict_do_nothing().returning(*pk)
        inserted = {tuple(r) for r in conn.execute(stmt, [dict(f.row) for f in group])}
        fresh = [f for f in group if f.key in inserted]
        result.inserted[name] = len(fresh)
        result.existing += len(group) - len(fresh)
        result.new.update((name, f.key) for f in fresh)
        new += fresh
    deltas: dict[tuple[str, str], TicketDelta] = {}
    for fact in new:
        if fact.delta is None:
            continue
        have = deltas.get(fact.delta.key)
        if have is None:
            have = deltas[fact.delta.key] = TicketDelta(*fact.delta.key)
        have.merge(fact.delta)
    if deltas:
        _upsert_tickets(conn, [deltas[key].row() for key in sorted(deltas)])
    result.tickets = len(deltas)
    spans = [f.row for f in new if f.table is AGENT_STATUS_SPANS]
    if spans:
        _close_spans(conn, spans)
    touched = {(f.row["tenant"], f.row["ticket_id"]) for f in new if f.table in TICKET_FACT_TABLES}
    if touched:  # last: the marks' row locks are held only until the commit
        result.marked = marks.bump(conn, marks.ticket_hours(conn, touched))
    return result


def _least(old: Any, new: Any) -> ColumnElement[Any]:
    return case((new.is_(None), old), (old.is_(None), new), (new < old, new), else_=old)


def _greatest(old: Any, new: Any) -> ColumnElement[Any]:
    return case((new.is_(None), old), (old.is_(None), new), (new > old, new), else_=old)


def _upsert_tickets(conn: Connection, rows: list[dict[str, Any]]) -> None:
    stmt = _insert(conn, TICKETS)
    t, x = TICKETS.c, stmt.excluded
    earlier_created = and_(
        x.created_ms.isnot(None), or_(t.created_ms.is_(None), x.created_ms < t.created_ms)
    )
    newer_seq = x.last_seq > t.last_seq
    earlier_assign = and_(
        x.first_assigned_ms.isnot(None),
        or_(t.first_assigned_ms.is_(None), x.first_assigned_ms < t.first_assigned_ms),
    )
    later_resolution = and_(
        x.resolved_ms.isnot(None),
        x.resolved_agent.isnot(None),
        or_(t.resolved_ms.is_(None), x.resolved_ms >= t.resolved_ms),
    )
    later_rating = and_(x.csat_ms.isnot(None), or_(t.csat_ms.is_(None), x.csat_ms >= t.csat_ms))
    cancelled = _least(t.cancelled_ms, x.cancelled_ms)
    first_assigned = _least(t.first_assigned_ms, x.first_assigned_ms)
    sets: dict[str, Any] = {}
    for name in [
        "created_ms",
        "channel",
        "priority",
        "tier",
        "language",
        "region",
        "customer_id",
        "requested_queue",
    ]:
        sets[name] = case((earlier_created, x[name]), else_=t[name])
    for name in ("last_seq", "queue", "state", "agent", "last_decision_ms"):
        sets[name] = case((newer_seq, x[name]), else_=t[name])
    sets["first_queue"] = func.coalesce(x.first_queue, t.first_queue)
    sets["first_offered_ms"] = _least(t.first_offered_ms, x.first_offered_ms)
    sets["first_assigned_ms"] = first_assigned
    sets["first_agent"] = case((earlier_assign, x.first_agent), else_=t.first_agent)
    sets["first_response_ms"] = _least(t.first_response_ms, x.first_response_ms)
    sets["first_resolved_ms"] = _least(t.first_resolved_ms, x.first_resolved_ms)
    sets["resolved_ms"] = _greatest(t.resolved_ms, x.resolved_ms)
    sets["resolved_agent"] = case(
        (later_resolution, x.resolved_agent),
        else_=func.coalesce(t.resolved_agent, x.resolved_agent),
    )
    sets["closed_ms"] = _greatest(t.closed_ms, x.closed_ms)
    sets["cancelled_ms"] = cancelled
    sets["abandoned_ms"] = case(
        (
            and_(cancelled.isnot(None), or_(first_assigned.is_(None), cancelled < first_assigned)),
            cancelled,
        ),
        else_=None,
    )
    for name in ("offer_count", "assign_count", "transfer_count", "reopen_count"):
        sets[name] = t[name] + x[name]
    sets["sla_breach_count"] = t.sla_breach_count + x.sla_breach_count
    sets["csat"] = case((later_rating, x.csat), else_=t.csat)
    sets["csat_ms"] = case((later_rating, x.csat_ms), else_=t.csat_ms)
    upsert = stmt.on_conflict_do_update(index_elements=[t.tenant, t.ticket_id], set_=sets)
    conn.execute(upsert, rows)


def _close_spans(conn: Connection, spans: Sequence[Mapping[str, Any]]) -> None:
    """Spans of one agent tile time: each ends where the agent's next span starts. For every
    new span (in start order): the span before it ends at its start, and it ends at the
    start of the span after it (null: the agent is still in it)."""
    s = AGENT_STATUS_SPANS.c
    same_agent = and_(s.tenant == bindparam("t"), s.agent == bindparam("a"))
    prev_start = (
        select(func.max(s.start_ms))
        .where(same_agent, s.start_ms < bindparam("start"))
        .scalar_subquery()
    )
    next_start = (
        select(func.min(s.start_ms))
        .where(same_agent, s.start_ms > bindparam("start"))
        .scalar_subquery()
    )
    close_prev = (
        update(AGENT_STATUS_SPANS)
        .where(same_agent, s.start_ms == prev_start)
        .where(or_(s.end_ms.is_(None), s.end_ms > bindparam("start")))
        .values(end_ms=bindparam("start"))
    )
    close_self = (
        update(AGENT_STATUS_SPANS)
        .where(same_agent, s.start_ms == bindparam("start"))
        .values(end_ms=next_start)
    )
    params = sorted(
        {(r["tenant"], r["agent"], r["start_ms"]) for r in spans}, key=lambda k: (k[0], k[1], k[2])
    )
    for tenant, agent, start in params:
        p = {"t": tenant, "a": agent, "start": start}
        conn.execute(close_prev, p)
        conn.execute(close_self, p)
