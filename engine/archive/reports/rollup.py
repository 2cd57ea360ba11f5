"""Per-hour report figures, computed once and reused until the facts change.

A report over a period is the merge of its hours' :class:`~.partial.Partial` s. The full
UTC hours inside the period come from ``report_rollups`` when the roll-up was computed at
the hour's current ``report_marks`` version (the writer bumps it with every fact that can
change the hour: ``engine.archive.marks``); every other full hour (never computed, stale,
or unmarked) is computed from the facts by the family's ``live`` function, in as few
queries as there are runs of consecutive such hours, and stored for the next report. The
partial hours at the period's edges are always computed from the facts.

The version is read *before* the facts: a fact committed in between makes the stored
roll-up look older than it is (computed again next time), never newer. Storing is best
effort: a read-only user, a locked SQLite file or a conflicting writer only means the next
report computes the hour again. A report's connection is committed after storing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlalchemy import Connection, select
from sqlalchemy.exc import SQLAlchemyError

from engine.archive.db import insert_for
from engine.archive.marks import HOUR_MS, hour_of
from engine.archive.reports.partial import Groups, decode, encode
from engine.archive.reports.period import Period
from engine.archive.schema import REPORT_MARKS, REPORT_ROLLUPS
from engine.logs import get_logger

__all__ = ["Hourly", "Live", "hourly"]

log = get_logger(__name__)

Hourly = dict[int, Groups]  # hour start (epoch ms) -> group key -> partial
# the figures of [from_ms, to_ms) per hour, computed from the facts
Live = Callable[[Connection, str, int, int], Hourly]

M, R = REPORT_MARKS.c, REPORT_ROLLUPS.c


def _runs(hours: list[int]) -> Iterator[tuple[int, int]]:
    """[start, end) of each run of consecutive hours (sorted input)."""
    start = prev = None
    for h in hours:
        if start is None:
            start = prev = h
        elif h == prev + HOUR_MS:  # type: ignore[operator]
            prev = h
        else:
            yield start, prev + HOUR_MS  # type: ignore[operator]
            start = prev = h
    if start is not None:
        yield start, prev + HOUR_MS  # type: ignore[operator]


def hourly(
    conn: Connection,
    tenant: str,
    family: str,
    period: Period,
    live: Live,
    *,
    cached: bool = True,
    keep: bool = True,
    stats: dict[str, int] | None = None,
) -> Hourly:
    """The figures of every hour of ``period`` with anything in it (edge hours: only the
    part inside the period). ``cached=False``: all from the facts, nothing read or stored;
    ``keep=False``: roll-ups read, the other hours computed but not stored (``live`` does
    not compute whole hours, e.g. one agent's figures only).
    ``stats`` counts the full hours ``read`` from roll-ups and ``computed`` (and stored:
    hours without a mark are computed too but not counted, nothing happened there)."""
    first = -(-period.from_ms // HOUR_MS) * HOUR_MS  # first full hour
    end = hour_of(period.to_ms)  # end of the last full hour
    if first >= end or not cached:
        return live(conn, tenant, period.from_ms, period.to_ms)
    out: Hourly = {}
    if period.from_ms < first:
        out.update(live(conn, tenant, period.from_ms, first))
    if end < period.to_ms:
        out.update(live(conn, tenant, end, period.to_ms))
    versions = dict(
        conn.execute(
            select(M.hour_ms, M.version).where(
                M.tenant == tenant, M.hour_ms >= first, M.hour_ms < end
            )
        ).all()
    )
    stored = conn.execute(
        select(R.hour_ms, R.version, R.data).where(
            R.tenant == tenant, R.family == family, R.hour_ms >= first, R.hour_ms < end
        )
    ).all()
    read = 0
    for h, version, data in stored:
        if versions.get(h) == version:
            out[int(h)] = decode(data)
            read += 1
    # every full hour without a valid roll-up: stale, never computed, or no mark at all
    # (nothing written there, or written by something that does not mark: computed, not kept)
    todo = [h for h in range(first, end, HOUR_MS) if h not in out]
    if stats is not None:
        stats["read"] = stats.get("read", 0) + read
    store = []
    for start, stop in _runs(todo):
        got = live(conn, tenant, start, stop)
        out.update(got)
        store += [
            {"hour_ms": h, "version": versions[h], "data": encode(got.get(h, {}))}
            for h in range(start, stop, HOUR_MS)
            if keep and h in versions
        ]
    if stats is not None:
        stats["computed"] = stats.get("computed", 0) + len(store)
    if store:
        _store(conn, tenant, family, store)
    return out


def _store(conn: Connection, tenant: str, family: str, rows: list[dict[str, object]]) -> None:
    stmt = insert_for(conn, REPORT_ROLLUPS)
    stmt = stmt.on_conflict_do_update(
        index_elements=[R.tenant, R.family, R.hour_ms],
        set_={"version": stmt.excluded.version, "data": stmt.excluded.data},
    )
    try:
        # end whatever transaction the reads began first: a read snapshot older than the
        # archiver's last commit cannot become a writer (SQLite: SQLITE_BUSY_SNAPSHOT); a
        # fresh transaction waits for the archiver's lock instead (busy time-out)
        conn.commit()
        conn.execute(stmt, [{"tenant": tenant, "family": family, **r} for r in rows])
        conn.commit()
    except SQLAlchemyError as exc:
        conn.rollback()
        log.info(
            "report roll-ups of %d hours not stored (%s): computed again next time",
            len(rows),
            exc.__class__.__name__,
        )
