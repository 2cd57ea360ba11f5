"""The archive's tables (SQLAlchemy Core): the audit trail of every ticket, kept in a real
database for reports (issue 13). Documented for report writers in ``docs/archive.md``.

Principles:

- **Tenant first.** Every primary key, unique key and index starts with ``tenant``: a query
  always names its tenant and never reads another tenant's rows, and one tenant's
  ``ticket_id`` can never collide with another's.
- **Facts are append-only and idempotent.** ``decisions``, ``lifecycle``, ``commands``,
  ``sla_events`` and ``agent_status_spans`` hold one row per source event; the primary key is
  the event's *identity* (see ``docs/archive.md``: a decision's per-ticket ``seq``, an SLA
  event's ``event_id``, otherwise a digest of the event's content), and rows are inserted
  with on-conflict-do-nothing: a redelivered or replayed event writes nothing.
- **``tickets`` is a projection** of those facts, one row per ticket, updated in the same
  transaction as the facts it derives from and only by facts that were new. Every column is
  order-independent (a minimum, a maximum, a count, "the value of the highest ``seq``"), so
  the projection is the same whatever order the events arrive in (they come from several
  topics and partitions).
- Times are epoch milliseconds (``*_ms``, BIGINT), as on the events. Free-form maps (``explain``,
  ``filtered``, unknown fields) are JSON text: portable between SQLite and PostgreSQL.

The Alembic migrations in ``engine/archive/migrations`` create exactly these tables (a unit
test compares them); change both together and add a migration, never edit an applied one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
)

__all__ = [
    "AGENT_STATUS_SPANS",
    "ARCHIVE_TABLES",
    "COMMANDS",
    "DECISIONS",
    "DIGEST_CHARS",
    "FACT_TABLES",
    "LIFECYCLE",
    "METADATA",
    "REPORT_MARKS",
    "REPORT_ROLLUPS",
    "SLA_EVENTS",
    "TICKETS",
]

# Naming convention: stable constraint and index names on every backend (migrations name them).
METADATA = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TENANT = 64  # engine.core.bounds: tenant 1-64 chars
ID = 128  # ticket / agent ids
EVENT_ID = 256
NAME = 64  # queues, channels, strategies, tiers, statuses, event types
TYPE = 64
# Content identity of an event: the first 32 hex digits (128 bits) of the SHA-256 of its
# canonical JSON (engine.archive.ingest.digest); "" where the event has an identity of its own.
DIGEST_CHARS = 32


def _source() -> list[Column[Any]]:
    """Where the row's event was first read (informational: not part of any identity, since
    the same decision is read from two topics and a topic can be re-created or mirrored)."""
    return [
        Column("src_topic", String(255), nullable=True),
        Column("src_partition", Integer, nullable=True),
        Column("src_offset", BigInteger, nullable=True),
    ]


TICKETS = Table(
    "tickets",
    METADATA,
    Column("tenant", String(TENANT), nullable=False),
    Column("ticket_id", String(ID), nullable=False),
    # from ticket.created (the first one)
    Column("created_ms", BigInteger, nullable=True),
    Column("channel", String(NAME), nullable=True),
    Column("priority", SmallInteger, nullable=True),  # as created (decisions carry raises)
    Column("tier", String(NAME), nullable=True),
    Column("language", String(NAME), nullable=True),
    Column("region", String(NAME), nullable=True),
    Column("customer_id", String(ID), nullable=True),
    Column("requested_queue", String(NAME), nullable=True),  # ticket.created's ``queue``
    # from the decision with the highest seq
    Column("last_seq", BigInteger, nullable=False, default=0),
    Column("queue", String(NAME), nullable=True),  # the queue it is (was last) routed to
    Column("state", String(NAME), nullable=True),  # kind of that decision: assigned, queued ...
    Column("agent", String(ID), nullable=True),  # its agent (null when queued / released)
    Column("last_decision_ms", BigInteger, nullable=True),
    # milestones: first (minimum) or last (maximum) time of a kind of event
    Column("first_queue", String(NAME), nullable=True),  # queue of the seq-1 decision
    Column("first_offered_ms", BigInteger, nullable=True),  # min ts of decision.offered
    Column("first_assigned_ms", BigInteger, nullable=True),  # min ts decision.assigned/reassigned
    Column("first_agent", String(ID), nullable=True),  # agent of the first assignment
    Column("first_response_ms", BigInteger, nullable=True),  # min ts ticket.first_response
    Column("first_resolved_ms", BigInteger, nullable=True),  # min ts ticket.resolved
    Column("resolved_ms", BigInteger, nullable=True),  # max ts ticket.resolved
    Column("resolved_agent", String(ID), nullable=True),  # agent of that (last) resolution
    Column("closed_ms", BigInteger, nullable=True),  # max ts ticket.closed
    Column("cancelled_ms", BigInteger, nullable=True),  # min ts ticket.cancelled
    # cancelled before it was ever assigned (cancelled_ms < first_assigned_ms or never
    # assigned): the customer gave up waiting
    Column("abandoned_ms", BigInteger, nullable=True),
    # counts of distinct events
    Column("offer_count", Integer, nullable=False, default=0),  # decision.offered
    Column("assign_count", Integer, nullable=False, default=0),  # decision.assigned
    Column("transfer_count", Integer, nullable=False, default=0),  # decision.reassigned
    Column("reopen_count", Integer, nullable=False, default=0),  # ticket.reopened
    Column("sla_breach_count", Integer, nullable=False, default=0),  # sla.breached
    # the latest rating (ticket.rated with the highest ts)
    Column("csat", SmallInteger, nullable=True),
    Column("csat_ms", BigInteger, nullable=True),
    PrimaryKeyConstraint("tenant", "ticket_id"),
    Index(None, "tenant", "created_ms"),
    Index(None, "tenant", "queue", "created_ms"),
    Index(None, "tenant", "channel", "created_ms"),
    Index(None, "tenant", "resolved_agent", "resolved_ms"),
    Index(None, "tenant", "first_agent", "first_assigned_ms"),
)

DECISIONS = Table(
    "decisions",
    METADATA,
    Column("tenant", String(TENANT), nullable=False),
    Column("ticket_id", String(ID), nullable=False),
    # the ticket's version after this decision: 1, 2, ... per ticket; 0 on a decision that
    # does not change the ticket (decision.rejected: a refused command; a decision about a
    # ticket the store does not know), whose identity is then its ``digest``
    Column("seq", BigInteger, nullable=False),
    Column("kind", String(NAME), nullable=False),  # assigned, offered, queued, ... (no prefix)
    Column("digest", String(DIGEST_CHARS), nullable=False),  # "" when seq > 0
    Column("ts_ms", BigInteger, nullable=False),  # when the dispatcher decided
    Column("agent", String(ID), nullable=True),
    # decision.reassigned: the agent the ticket was taken from (its reason is "from <agent>"),
    # for transfers out; null otherwise
    Column("from_agent", String(ID), nullable=True),
    Column("queue", String(NAME), nullable=False),
    Column("channel", String(NAME), nullable=False),
    Column("strategy", String(NAME), nullable=False),
    Column("priority", SmallInteger, nullable=False),
    Column("ticket_ts_ms", BigInteger, nullable=False),
    Column("step", Text, nullable=False),
    Column("candidates", Integer, nullable=False),
    Column("filtered", Text, nullable=True),  # JSON {reason: count}
    Column("supervisor", String(ID), nullable=True),
    Column("forced", Boolean, nullable=False),
    Column("reason", Text, nullable=True),  # the store's reason (offer timed out, from <a> ...)
    Column("why", Text, nullable=True),  # the reason given with the causing command
    Column("load", Integer, nullable=True),  # assigned/offered/reassigned: agent's load
    Column("capacity", Integer, nullable=True),  # ... and capacity on the channel
    Column("explain", Text, nullable=True),  # JSON, when the event carries one
    Column("policy_revision", String(NAME), nullable=True),  # when the event carries one
    Column("extra", Text, nullable=True),  # JSON of fields this schema has no column for
    *_source(),
    PrimaryKeyConstraint("tenant", "ticket_id", "seq", "kind", "digest"),
    Index(None, "tenant", "agent", "kind", "ts_ms"),
    Index(None, "tenant", "from_agent", "ts_ms"),
    Index(None, "tenant", "queue", "kind", "ts_ms"),
    Index(None, "tenant", "ts_ms"),
)

LIFECYCLE = Table(
    "lifecycle",
    METADATA,
    Column("tenant", String(TENANT), nullable=False),
    Column("ticket_id", String(ID), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    # ticket.created (from tickets.events) and every tickets.lifecycle type, full name
    Column("type", String(TYPE), nullable=False),
    Column("digest", String(DIGEST_CHARS), nullable=False),
    Column("agent", String(ID), nullable=True),
    Column("reason", Text, nullable=True),
    Column("rating", SmallInteger, nullable=True),  # ticket.rated
    Column("by", String(NAME), nullable=True),  # ticket.replied: agent | customer
    Column("waiting", Boolean, nullable=True),  # ticket.waiting
    Column("data", Text, nullable=True),  # JSON of the other fields (ticket.created: all)
    *_source(),
    PrimaryKeyConstraint("tenant", "ticket_id", "ts_ms", "type", "digest"),
    Index(None, "tenant", "agent", "type", "ts_ms"),
    Index(None, "tenant", "type", "ts_ms"),
)

COMMANDS = Table(
    "commands",
    METADATA,
    Column("tenant", String(TENANT), nullable=False),
    # what the command is about: a ticket id (reassign, force_assign, raise_priority,
    # move_queue, notify), an agent id (claim) or a queue name (pause_queue, resume_queue)
    Column("subject", String(ID), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("type", String(TYPE), nullable=False),  # command.reassign, ...
    Column("digest", String(DIGEST_CHARS), nullable=False),
    Column("subject_kind", String(16), nullable=False),  # ticket | agent | queue
    Column("supervisor", String(ID), nullable=True),
    Column("to_agent", String(ID), nullable=True),
    Column("queue", String(NAME), nullable=True),  # move_queue's target
    Column("priority", SmallInteger, nullable=True),  # raise_priority's
    Column("ticket_id", String(ID), nullable=True),  # claim's ticket, when given
    Column("reason", Text, nullable=True),
    Column("data", Text, nullable=True),  # JSON of the other fields
    *_source(),
    PrimaryKeyConstraint("tenant", "subject", "ts_ms", "type", "digest"),
    Index(None, "tenant", "supervisor", "ts_ms"),
    Index(None, "tenant", "type", "ts_ms"),
)

SLA_EVENTS = Table(
    "sla_events",
    METADATA,
    Column("tenant", String(TENANT), nullable=False),
    Column("event_id", String(EVENT_ID), nullable=False),  # sla:<ticket>:<target>:<cycle>:<kind>
    Column("ticket_id", String(ID), nullable=False),
    Column("kind", String(16), nullable=False),  # warning | breached | met
    Column("target", String(NAME), nullable=False),  # first_response, next_response, resolution
    Column("policy", String(NAME), nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("deadline_ms", BigInteger, nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("priority", SmallInteger, nullable=True),
    Column("data", Text, nullable=True),
    *_source(),
    PrimaryKeyConstraint("tenant", "event_id"),
    Index(None, "tenant", "ticket_id"),
    Index(None, "tenant", "target", "kind", "ts_ms"),
)

AGENT_STATUS_SPANS = Table(
    "agent_status_spans",
    METADATA,
    Column("tenant", String(TENANT), nullable=False),
    Column("agent", String(ID), nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("digest", String(DIGEST_CHARS), nullable=False),
    # available | busy | away | offline (agent.login: its status or available; agent.logout:
    # offline; agent.status; agent.update with a status)
    Column("status", String(NAME), nullable=False),
    # start of the agent's next span (null: still in it); spans of one agent tile time
    Column("end_ms", BigInteger, nullable=True),
    Column("type", String(TYPE), nullable=False),  # the agent.* event that started it
    Column("team", String(NAME), nullable=True),  # when the event names one
    *_source(),
    PrimaryKeyConstraint("tenant", "agent", "start_ms", "digest"),
    Index(None, "tenant", "start_ms"),
    Index(None, "tenant", "status", "start_ms"),
)

FACT_TABLES = (DECISIONS, LIFECYCLE, COMMANDS, SLA_EVENTS, AGENT_STATUS_SPANS)
ARCHIVE_TABLES = (TICKETS, *FACT_TABLES)  # the archive proper: facts and their projection

# ---- report roll-ups (engine.archive.reports.rollup) -----------------------------------------
# Not facts: a cache of per-hour report figures, rebuilt from the facts whenever stale.

# A version per UTC hour of a tenant, bumped in the transaction that writes a fact which can
# change a figure of that hour (engine.archive.marks): the hours of every decision and
# lifecycle event of each ticket the batch touched (its resolutions, first responses and
# ratings read the ticket) and the hour it was created in (its cohort).
REPORT_MARKS = Table(
    "report_marks",
    METADATA,
    Column("tenant", String(TENANT), nullable=False),
    Column("hour_ms", BigInteger, nullable=False),  # start of the UTC hour, epoch ms
    Column("version", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant", "hour_ms"),
)

# The figures of one hour for one report family (``cohort``, ``agents``) as computed at a
# version of the hour's mark: valid while the mark still has that version.
REPORT_ROLLUPS = Table(
    "report_rollups",
    METADATA,
    Column("tenant", String(TENANT), nullable=False),
    Column("family", String(16), nullable=False),
    Column("hour_ms", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),  # msgpack (engine.archive.reports.partial)
    PrimaryKeyConstraint("tenant", "family", "hour_ms"),
)
