"""Which hours of the archive a write may have changed: the versions report roll-ups are
checked against (``engine.archive.reports.rollup``).

A report figure of an hour reads more than the facts of that hour: a resolution's handle
time reads the decision that gave the agent the ticket (maybe days earlier), its
first-contact flag reads the ticket's later transfers and reopens, a rating reads the
ticket's resolutions, a cohort row reads the whole ``tickets`` projection. What they share
is the *ticket*. So a batch that adds any fact of a ticket bumps the version of every hour
that ticket has a decision or a lifecycle event in, and of the hour it was created in:
every roll-up that could read the ticket is stale afterwards. Agent status spans feed no
roll-up (status times are always computed from the spans), so they mark nothing.

:func:`bump` runs last in the writer's transaction, in key order (concurrent archivers lock
the rows in one order and hold them only until their commit), and commits with the facts.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from engine.archive.db import insert_for
from engine.archive.schema import DECISIONS, LIFECYCLE, REPORT_MARKS, TICKETS

__all__ = ["CHUNK", "HOUR_MS", "bump", "hour_of", "ticket_hours"]

HOUR_MS = 3_600_000
CHUNK = 500  # ticket ids per IN list


def hour_of(ts_ms: int) -> int:
    """Start of the UTC hour ``ts_ms`` falls in (times are never negative)."""
    return ts_ms - ts_ms % HOUR_MS


def ticket_hours(conn: Connection, keys: Iterable[tuple[str, str]]) -> set[tuple[str, int]]:
    """(tenant, hour) of every decision and lifecycle event of the tickets ``keys`` and of
    their creation, as the database holds them now."""
    by_tenant: dict[str, list[str]] = {}
    for tenant, ticket_id in keys:
        by_tenant.setdefault(tenant, []).append(ticket_id)
    out: set[tuple[str, int]] = set()
    for tenant, ids in sorted(by_tenant.items()):
        ids = sorted(set(ids))
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i : i + CHUNK]
            for table, col in (
                (DECISIONS, DECISIONS.c.ts_ms),
                (LIFECYCLE, LIFECYCLE.c.ts_ms),
                (TICKETS, TICKETS.c.created_ms),
            ):
                stmt = (
                    select(col - col % HOUR_MS)
                    .where(table.c.tenant == tenant, table.c.ticket_id.in_(chunk), col.is_not(None))
                    .distinct()
                )
                out.update((tenant, int(h)) for (h,) in conn.execute(stmt))
    return out


def bump(conn: Connection, hours: Iterable[tuple[str, int]]) -> int:
    """Add one to the version of each (tenant, hour) (a new hour starts at 1); returns how
    many hours were bumped."""
    rows = [{"tenant": t, "hour_ms": h, "version": 1} for t, h in sorted(set(hours))]
    if not rows:
        return 0
    stmt = insert_for(conn, REPORT_MARKS)
    stmt = stmt.on_conflict_do_update(
        index_elements=[REPORT_MARKS.c.tenant, REPORT_MARKS.c.hour_ms],
        set_={"version": REPORT_MARKS.c.version + 1},
    )
    conn.execute(stmt, rows)
    return len(rows)
