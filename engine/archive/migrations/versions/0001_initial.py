"""The first schema: tickets, decisions, lifecycle, commands, sla_events, agent_status_spans.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_status_spans",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=128), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=True),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("team", sa.String(length=64), nullable=True),
        sa.Column("src_topic", sa.String(length=255), nullable=True),
        sa.Column("src_partition", sa.Integer(), nullable=True),
        sa.Column("src_offset", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint(
            "tenant", "agent", "start_ms", "digest", name=op.f("pk_agent_status_spans")
        ),
    )
    op.create_index(
        op.f("ix_agent_status_spans_tenant_start_ms"),
        "agent_status_spans",
        ["tenant", "start_ms"],
        unique=False,
    )
    op.create_index(
        op.f("ix_agent_status_spans_tenant_status_start_ms"),
        "agent_status_spans",
        ["tenant", "status", "start_ms"],
        unique=False,
    )
    op.create_table(
        "commands",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("supervisor", sa.String(length=128), nullable=True),
        sa.Column("to_agent", sa.String(length=128), nullable=True),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column("priority", sa.SmallInteger(), nullable=True),
        sa.Column("ticket_id", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("src_topic", sa.String(length=255), nullable=True),
        sa.Column("src_partition", sa.Integer(), nullable=True),
        sa.Column("src_offset", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint(
            "tenant", "subject", "ts_ms", "type", "digest", name=op.f("pk_commands")
        ),
    )
    op.create_index(
        op.f("ix_commands_tenant_supervisor_ts_ms"),
        "commands",
        ["tenant", "supervisor", "ts_ms"],
        unique=False,
    )
    op.create_index(
        op.f("ix_commands_tenant_type_ts_ms"), "commands", ["tenant", "type", "ts_ms"], unique=False
    )
    op.create_table(
        "decisions",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.String(length=128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("agent", sa.String(length=128), nullable=True),
        sa.Column("from_agent", sa.String(length=128), nullable=True),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("strategy", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("ticket_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.Text(), nullable=False),
        sa.Column("candidates", sa.Integer(), nullable=False),
        sa.Column("filtered", sa.Text(), nullable=True),
        sa.Column("supervisor", sa.String(length=128), nullable=True),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("why", sa.Text(), nullable=True),
        sa.Column("load", sa.Integer(), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("explain", sa.Text(), nullable=True),
        sa.Column("policy_revision", sa.String(length=64), nullable=True),
        sa.Column("extra", sa.Text(), nullable=True),
        sa.Column("src_topic", sa.String(length=255), nullable=True),
        sa.Column("src_partition", sa.Integer(), nullable=True),
        sa.Column("src_offset", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint(
            "tenant", "ticket_id", "seq", "kind", "digest", name=op.f("pk_decisions")
        ),
    )
    op.create_index(
        op.f("ix_decisions_tenant_agent_kind_ts_ms"),
        "decisions",
        ["tenant", "agent", "kind", "ts_ms"],
        unique=False,
    )
    op.create_index(
        op.f("ix_decisions_tenant_from_agent_ts_ms"),
        "decisions",
        ["tenant", "from_agent", "ts_ms"],
        unique=False,
    )
    op.create_index(
        op.f("ix_decisions_tenant_queue_kind_ts_ms"),
        "decisions",
        ["tenant", "queue", "kind", "ts_ms"],
        unique=False,
    )
    op.create_index(
        op.f("ix_decisions_tenant_ts_ms"), "decisions", ["tenant", "ts_ms"], unique=False
    )
    op.create_table(
        "lifecycle",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.String(length=128), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("agent", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.Column("by", sa.String(length=64), nullable=True),
        sa.Column("waiting", sa.Boolean(), nullable=True),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("src_topic", sa.String(length=255), nullable=True),
        sa.Column("src_partition", sa.Integer(), nullable=True),
        sa.Column("src_offset", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint(
            "tenant", "ticket_id", "ts_ms", "type", "digest", name=op.f("pk_lifecycle")
        ),
    )
    op.create_index(
        op.f("ix_lifecycle_tenant_agent_type_ts_ms"),
        "lifecycle",
        ["tenant", "agent", "type", "ts_ms"],
        unique=False,
    )
    op.create_index(
        op.f("ix_lifecycle_tenant_type_ts_ms"),
        "lifecycle",
        ["tenant", "type", "ts_ms"],
        unique=False,
    )
    op.create_table(
        "sla_events",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=256), nullable=False),
        sa.Column("ticket_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("deadline_ms", sa.BigInteger(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=True),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("src_topic", sa.String(length=255), nullable=True),
        sa.Column("src_partition", sa.Integer(), nullable=True),
        sa.Column("src_offset", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "event_id", name=op.f("pk_sla_events")),
    )
    op.create_index(
        op.f("ix_sla_events_tenant_target_kind_ts_ms"),
        "sla_events",
        ["tenant", "target", "kind", "ts_ms"],
        unique=False,
    )
    op.create_index(
        op.f("ix_sla_events_tenant_ticket_id"), "sla_events", ["tenant", "ticket_id"], unique=False
    )
    op.create_table(
        "tickets",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.String(length=128), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=True),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.Column("priority", sa.SmallInteger(), nullable=True),
        sa.Column("tier", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=64), nullable=True),
        sa.Column("region", sa.String(length=64), nullable=True),
        sa.Column("customer_id", sa.String(length=128), nullable=True),
        sa.Column("requested_queue", sa.String(length=64), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=64), nullable=True),
        sa.Column("agent", sa.String(length=128), nullable=True),
        sa.Column("last_decision_ms", sa.BigInteger(), nullable=True),
        sa.Column("first_queue", sa.String(length=64), nullable=True),
        sa.Column("first_offered_ms", sa.BigInteger(), nullable=True),
        sa.Column("first_assigned_ms", sa.BigInteger(), nullable=True),
        sa.Column("first_agent", sa.String(length=128), nullable=True),
        sa.Column("first_response_ms", sa.BigInteger(), nullable=True),
        sa.Column("first_resolved_ms", sa.BigInteger(), nullable=True),
        sa.Column("resolved_ms", sa.BigInteger(), nullable=True),
        sa.Column("resolved_agent", sa.String(length=128), nullable=True),
        sa.Column("closed_ms", sa.BigInteger(), nullable=True),
        sa.Column("cancelled_ms", sa.BigInteger(), nullable=True),
        sa.Column("abandoned_ms", sa.BigInteger(), nullable=True),
        sa.Column("offer_count", sa.Integer(), nullable=False),
        sa.Column("assign_count", sa.Integer(), nullable=False),
        sa.Column("transfer_count", sa.Integer(), nullable=False),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("sla_breach_count", sa.Integer(), nullable=False),
        sa.Column("csat", sa.SmallInteger(), nullable=True),
        sa.Column("csat_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "ticket_id", name=op.f("pk_tickets")),
    )
    op.create_index(
        op.f("ix_tickets_tenant_channel_created_ms"),
        "tickets",
        ["tenant", "channel", "created_ms"],
        unique=False,
    )
    op.create_index(
        op.f("ix_tickets_tenant_created_ms"), "tickets", ["tenant", "created_ms"], unique=False
    )
    op.create_index(
        op.f("ix_tickets_tenant_first_agent_first_assigned_ms"),
        "tickets",
        ["tenant", "first_agent", "first_assigned_ms"],
        unique=False,
    )
    op.create_index(
        op.f("ix_tickets_tenant_queue_created_ms"),
        "tickets",
        ["tenant", "queue", "created_ms"],
        unique=False,
    )
    op.create_index(
        op.f("ix_tickets_tenant_resolved_agent_resolved_ms"),
        "tickets",
        ["tenant", "resolved_agent", "resolved_ms"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_tickets_tenant_resolved_agent_resolved_ms"), table_name="tickets")
    op.drop_index(op.f("ix_tickets_tenant_queue_created_ms"), table_name="tickets")
    op.drop_index(op.f("ix_tickets_tenant_first_agent_first_assigned_ms"), table_name="tickets")
    op.drop_index(op.f("ix_tickets_tenant_created_ms"), table_name="tickets")
    op.drop_index(op.f("ix_tickets_tenant_channel_created_ms"), table_name="tickets")
    op.drop_table("tickets")
    op.drop_index(op.f("ix_sla_events_tenant_ticket_id"), table_name="sla_events")
    op.drop_index(op.f("ix_sla_events_tenant_target_kind_ts_ms"), table_name="sla_events")
    op.drop_table("sla_events")
    op.drop_index(op.f("ix_lifecycle_tenant_type_ts_ms"), table_name="lifecycle")
    op.drop_index(op.f("ix_lifecycle_tenant_agent_type_ts_ms"), table_name="lifecycle")
    op.drop_table("lifecycle")
    op.drop_index(op.f("ix_decisions_tenant_ts_ms"), table_name="decisions")
    op.drop_index(op.f("ix_decisions_tenant_queue_kind_ts_ms"), table_name="decisions")
    op.drop_index(op.f("ix_decisions_tenant_from_agent_ts_ms"), table_name="decisions")
    op.drop_index(op.f("ix_decisions_tenant_agent_kind_ts_ms"), table_name="decisions")
    op.drop_table("decisions")
    op.drop_index(op.f("ix_commands_tenant_type_ts_ms"), table_name="commands")
    op.drop_index(op.f("ix_commands_tenant_supervisor_ts_ms"), table_name="commands")
    op.drop_table("commands")
    op.drop_index(
        op.f("ix_agent_status_spans_tenant_status_start_ms"), table_name="agent_status_spans"
    )
    op.drop_index(op.f("ix_agent_status_spans_tenant_start_ms"), table_name="agent_status_spans")
    op.drop_table("agent_status_spans")
