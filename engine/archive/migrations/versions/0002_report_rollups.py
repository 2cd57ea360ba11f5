"""Report roll-ups: per-hour versions (report_marks) and cached per-hour figures
(report_rollups), see engine/archive/reports/rollup.py.

The marks of the hours already archived are filled in here (the hour of every decision,
lifecycle event and ticket creation), so an archive upgraded from 0001 caches nothing
stale: every hour with data has a mark, and no roll-up exists yet.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOUR_MS = 3_600_000


def upgrade() -> None:
    op.create_table(
        "report_marks",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("hour_ms", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "hour_ms", name=op.f("pk_report_marks")),
    )
    op.create_table(
        "report_rollups",
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("family", sa.String(length=16), nullable=False),
        sa.Column("hour_ms", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "family", "hour_ms", name=op.f("pk_report_rollups")),
    )
    # times are never negative (engine.core.bounds), so truncating division floors
    hours = " UNION ".join(
        f"SELECT DISTINCT tenant, ({col} / {HOUR_MS}) * {HOUR_MS} AS hour_ms FROM {table}"
        + (f" WHERE {col} IS NOT NULL" if table == "tickets" else "")
        for table, col in (
            ("decisions", "ts_ms"),
            ("lifecycle", "ts_ms"),
            ("tickets", "created_ms"),
        )
    )
    op.execute(
        "INSERT INTO report_marks (tenant, hour_ms, version) "
        f"SELECT tenant, hour_ms, 1 FROM ({hours}) AS h"
    )


def downgrade() -> None:
    op.drop_table("report_rollups")
    op.drop_table("report_marks")
