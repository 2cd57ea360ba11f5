"""``dispatch db upgrade|current|downgrade|warm``: the archive database's schema (Alembic),
and its report roll-ups.

The database is ``DISPATCH_ARCHIVE_URL`` (default: the SQLite file
``<DISPATCH_STATE_DIR>/archive.db``), or ``--url``. Run ``dispatch db upgrade`` before the
first ``dispatch run archiver`` and after every upgrade of the engine (a Kubernetes Job or an
init step: the archiver refuses to start on an outdated schema). Idempotent.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from engine.archive.reports.period import DAY_MS, MAX_PERIOD_DAYS, BadPeriod, parse_instant
from engine.config import Settings
from engine.core import bounds
from engine.errors import ConfigError
from engine.exitcodes import RET_FAILED, RET_INVALID, RET_OK, RET_UNAVAILABLE

WARM_DAYS = 35  # a month's report, with room
PROGRESS_S = 5.0

DESCRIPTION = """\
The archive database (docs/archive.md): the audit trail `dispatch run archiver` writes and
the reports read. The URL comes from DISPATCH_ARCHIVE_URL (a SQLAlchemy URL:
postgresql://user:password@host:5432/dispatch, sqlite:///path/archive.db) or --url; by
default the SQLite file <DISPATCH_STATE_DIR>/archive.db.

  upgrade     apply the migrations up to the newest (or --revision); idempotent
  current     print the database's revision and the newest one; exit 1 when they differ
  downgrade   revert to --revision (base: drop every archive table)
  warm        compute the report roll-ups of every hour of the last --days days (all
              tenants, or --tenant) that has none or a stale one, so that the first
              report over a long period is as fast as the next: after a bulk load or an
              upgrade, or on a schedule (docs/reports.md, "How they stay fast")
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "db",
        help="create or upgrade the archive database's schema",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", choices=["upgrade", "current", "downgrade", "warm"])
    p.add_argument("--url", default=None, help="database URL (overrides DISPATCH_ARCHIVE_URL)")
    p.add_argument(
        "--revision", default=None, help="target revision (upgrade: head; downgrade: required)"
    )
    p.add_argument(
        "--days",
        type=_days,
        default=WARM_DAYS,
        help=f"warm: how many days back from the current hour (default {WARM_DAYS}, at most "
        f"{MAX_PERIOD_DAYS})",
    )
    p.add_argument(
        "--to",
        type=_instant,
        default=None,
        metavar="WHEN",
        help="warm: the end of the period, a date, date-time or epoch ms (default: the start "
        "of the current hour, which keeps changing)",
    )
    p.add_argument(
        "--tenant", type=_tenant, default=None, help="warm: one tenant (default: every one)"
    )
    p.set_defaults(func=cmd_db)


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not 1 <= days <= MAX_PERIOD_DAYS:
        raise argparse.ArgumentTypeError(f"--days must be 1 to {MAX_PERIOD_DAYS}")
    return days


def _instant(text: str) -> int:
    try:
        return parse_instant(text, "to")
    except BadPeriod as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _tenant(text: str) -> str:
    if not bounds.TENANT_RE.match(text):
        raise argparse.ArgumentTypeError(f"not a valid tenant: {text!r}")
    return text


def cmd_db(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError, SQLAlchemyError

    from engine.archive import db

    try:
        url = args.url or db.archive_url(Settings.load())
    except ConfigError as exc:
        print(f"dispatch: {exc}", file=sys.stderr)
        return RET_INVALID
    engine = db.make_engine(url)
    shown = db.redacted(url)
    try:
        if args.action == "upgrade":
            before = db.current_revision(engine)
            db.upgrade(engine, args.revision or "head")
            after = db.current_revision(engine)
            change = "already at" if before == after else f"{before or '(empty)'} ->"
            print(f"archive {shown}: {change} revision {after}")
            return RET_OK
        if args.action == "downgrade":
            if not args.revision:
                print("dispatch: db downgrade needs --revision (e.g. base)", file=sys.stderr)
                return RET_INVALID
            db.downgrade(engine, args.revision)
            print(f"archive {shown}: at revision {db.current_revision(engine) or '(empty)'}")
            return RET_OK
        if args.action == "warm":
            try:
                db.require_current(engine)
            except db.SchemaOutdated as exc:
                print(f"dispatch: {exc}", file=sys.stderr)
                return RET_INVALID
            return _warm(engine, shown, args.days, args.tenant, args.to)
        current, head = db.current_revision(engine), db.head_revision()
        print(f"archive {shown}: revision {current or '(empty)'}, newest {head}")
        return RET_OK if current == head else RET_INVALID
    except OperationalError as exc:
        print(f"dispatch: archive database {shown} unreachable: {exc.orig}", file=sys.stderr)
        return RET_UNAVAILABLE
    except SQLAlchemyError as exc:
        print(f"dispatch: archive database {shown}: {exc}", file=sys.stderr)
        return RET_FAILED
    finally:
        engine.dispose()


def _warm(engine: Any, shown: str, days: int, only: str | None, to_ms: int | None) -> int:
    from engine.archive import reports
    from engine.archive.marks import hour_of
    from engine.clock import WallClock

    end = hour_of(WallClock().now_ms() if to_ms is None else to_ms)
    period = reports.Period.of(end - days * DAY_MS, end)
    started = last = time.monotonic()
    total: dict[str, int] = {}
    with engine.connect() as conn:
        tenants = [only] if only else reports.warm_tenants(conn, period)
        print(f"archive {shown}: warming {days} days of {len(tenants)} tenant(s)", flush=True)
        for tenant in tenants:
            stats: dict[str, int] = {}
            for day in range(period.from_ms, period.to_ms, DAY_MS):
                got = reports.warm(conn, tenant, reports.Period.of(day, day + DAY_MS))
                for k, v in got.items():
                    stats[k] = stats.get(k, 0) + v
                now = time.monotonic()
                if now - last >= PROGRESS_S:
                    done = (day + DAY_MS - period.from_ms) // DAY_MS
                    print(f"  {tenant}: {done}/{days} days, {now - started:.0f} s", flush=True)
                    last = now
            print(
                f"  {tenant}: {stats.get('computed', 0)} hour-reports computed, "
                f"{stats.get('read', 0)} already current",
                flush=True,
            )
            for k, v in stats.items():
                total[k] = total.get(k, 0) + v
    print(
        f"warmed {len(tenants)} tenant(s) in {time.monotonic() - started:.1f} s: "
        f"{total.get('computed', 0)} hour-reports computed, {total.get('read', 0)} already "
        "current"
    )
    return RET_OK
