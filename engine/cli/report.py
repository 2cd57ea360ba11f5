"""``dispatch report trail|agents|queues|channels|kpis``: reports over the archive.

The archive is ``DISPATCH_ARCHIVE_URL`` (default: the SQLite file the archiver writes,
``<DISPATCH_STATE_DIR>/archive.db``) or ``--url``. Every report is bound to one tenant and
one period; the figures are defined in each subcommand's ``--help`` and in
``docs/reports.md``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.archive.reports.figures import describe
from engine.archive.reports.period import (
    BUCKETS,
    DAY_MS,
    MAX_PERIOD_DAYS,
    BadPeriod,
    Period,
    iso,
    parse_instant,
)
from engine.archive.reports.render import FORMATS, render
from engine.core import bounds
from engine.errors import ConfigError
from engine.exitcodes import RET_FAILED, RET_INVALID, RET_OK, RET_UNAVAILABLE, RET_USAGE
from engine.logs import get_logger

log = get_logger(__name__)

DESCRIPTION = f"""\
Reports over the archive (docs/reports.md): the trail of one ticket, per agent, per queue,
per channel and the five KPIs. The archive is DISPATCH_ARCHIVE_URL (a SQLAlchemy URL:
postgresql://user:password@host/dispatch, sqlite:///path/archive.db) or --url; by default
the SQLite file <DISPATCH_STATE_DIR>/archive.db that `dispatch run archiver` writes.

Every report covers one tenant (--tenant; may be left out when the archive holds one) and
the period [--from, --to): a date (2026-12-01: midnight UTC), a date-time
(2026-12-01T09:30, UTC unless it names an offset: 2026-12-01T09:30+08:00) or epoch ms. By
default --to is now and --from one day earlier (trail: all of the ticket's history); a
period is at most {MAX_PERIOD_DAYS} days. Durations are in milliseconds, rates 0 to 1.

  trail TICKET   every event, decision, supervisor command and SLA outcome of a ticket
  agents         per agent: offers, accepts, rejections, time-outs, transfers, handled,
                 handle/first response/resolution times, CSAT, FCR, reopens, time by status
  queues         per queue: volume (--by hour|day), time to assign, abandonment, service
                 level per SLA target, first response, resolution, CSAT, FCR
  channels       the same per channel
  kpis           per hour or day: volume, first response time, resolution time, CSAT, FCR

Use `dispatch report <name> --help` for the definition of every figure.
"""


def _pattern(regex: re.Pattern[str], what: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        if not regex.match(text):
            raise argparse.ArgumentTypeError(f"not a valid {what}: {text!r}")
        return text

    return check


def _instant(text: str) -> int:
    try:
        return parse_instant(text)
    except BadPeriod as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "trail": ("the full trail of one ticket: who, what, why and when", "trail"),
    "agents": ("per agent over the period", "agents"),
    "queues": ("per queue over the period (--by hour|day: a row per bucket)", "queues"),
    "channels": ("per channel over the period (--by hour|day: a row per bucket)", "channels"),
    "kpis": ("the five KPIs per hour or day of the period", "kpis"),
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report",
        help="reports over the archive: a ticket's trail, agents, queues, channels, KPIs",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    reports = p.add_subparsers(dest="report", metavar="REPORT", required=True)
    for name, (summary, figures) in _SUBCOMMANDS.items():
        r = reports.add_parser(
            name,
            help=summary,
            description=f"{summary}.\n\nfigures (docs/reports.md):\n{describe(figures)}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if name == "trail":
            r.add_argument("ticket", type=_pattern(bounds.ID_RE, "ticket id"), help="ticket id")
        _common(r, name)
        r.set_defaults(func=cmd_report)


def _common(r: argparse.ArgumentParser, name: str) -> None:
    whole = " (default: all of the ticket's history)" if name == "trail" else ""
    r.add_argument(
        "--from",
        dest="from_",
        type=_instant,
        default=None,
        metavar="WHEN",
        help=f"start, included: date, date-time or epoch ms (default: a day before --to){whole}",
    )
    r.add_argument(
        "--to", type=_instant, default=None, metavar="WHEN", help=f"end, excluded (now){whole}"
    )
    r.add_argument(
        "--tenant",
        type=_pattern(bounds.TENANT_RE, "tenant"),
        default=None,
        help="the tenant (default: the only one the archive holds)",
    )
    r.add_argument("--format", choices=FORMATS, default="table", help="output (table)")
    r.add_argument("--url", default=None, help="archive database URL (DISPATCH_ARCHIVE_URL)")
    if name == "agents":
        r.add_argument("--agent", type=_pattern(bounds.ID_RE, "agent id"), help="one agent")
    if name == "queues":
        r.add_argument("--queue", type=_pattern(bounds.NAME_RE, "queue"), help="one queue")
    if name == "channels":
        r.add_argument("--channel", type=_pattern(bounds.NAME_RE, "channel"), help="one channel")
    if name != "trail":
        r.add_argument(
            "--no-rollups",
            dest="cached",
            action="store_false",
            help="compute every hour from the archived events, neither reading nor storing "
            "the per-hour roll-ups (slower; to check them)",
        )
    if name in ("queues", "channels", "kpis"):
        r.add_argument(
            "--by",
            choices=tuple(BUCKETS),
            default="day" if name == "kpis" else None,
            help="a row per hour or day" + (" (day)" if name == "kpis" else ""),
        )


def period_of(args: argparse.Namespace, now_ms: int) -> Period | None:
    """The period the arguments name (None: a trail without bounds). Raises BadPeriod."""
    if args.report == "trail" and args.from_ is None and args.to is None:
        return None
    to_ms = args.to if args.to is not None else now_ms
    if args.report == "trail":  # from the beginning, up to --to or now
        from_ms = args.from_ if args.from_ is not None else bounds.EPOCH_MS_MIN
        return Period.of(from_ms, to_ms, max_ms=bounds.EPOCH_MS_MAX)
    from_ms = args.from_ if args.from_ is not None else to_ms - DAY_MS
    return Period.of(from_ms, to_ms)


def _missing_sqlite(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    return None if path.exists() else path


def cmd_report(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError, SQLAlchemyError

    from engine.archive import db
    from engine.clock import WallClock
    from engine.config import Settings

    now_ms = WallClock().now_ms()
    try:
        period = period_of(args, now_ms)
    except BadPeriod as exc:
        print(f"dispatch: --{exc.field}: {exc}", file=sys.stderr)
        return RET_USAGE
    try:
        url = args.url or db.archive_url(Settings.load())
    except ConfigError as exc:
        print(f"dispatch: {exc}", file=sys.stderr)
        return RET_INVALID
    shown = db.redacted(url)
    missing = _missing_sqlite(url)
    if missing is not None:
        print(
            f"dispatch: no archive at {missing} (run `dispatch db upgrade` and "
            "`dispatch run archiver`, or set DISPATCH_ARCHIVE_URL)",
            file=sys.stderr,
        )
        return RET_INVALID
    engine = db.make_engine(url)
    try:
        db.require_current(engine)
        with engine.connect() as conn:
            return _run(conn, args, period, now_ms)
    except db.SchemaOutdated as exc:
        print(f"dispatch: {exc}", file=sys.stderr)
        return RET_INVALID
    except OperationalError as exc:
        print(f"dispatch: archive database {shown} unreachable: {exc.orig}", file=sys.stderr)
        return RET_UNAVAILABLE
    except SQLAlchemyError as exc:
        log.debug("report failed", exc_info=True)
        print(f"dispatch: archive database {shown}: {exc}", file=sys.stderr)
        return RET_FAILED
    finally:
        engine.dispose()


def _run(conn: Any, args: argparse.Namespace, period: Period | None, now_ms: int) -> int:
    from engine.archive import reports

    tenant = args.tenant
    if tenant is None:
        known = reports.tenants(conn, limit=21)
        if len(known) != 1:
            listed = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
            print(
                "dispatch: name the tenant with --tenant "
                + (f"(the archive holds {listed})" if known else "(the archive holds none)"),
                file=sys.stderr,
            )
            return RET_USAGE
        tenant = known[0]
    elif not reports.has_tenant(conn, tenant):
        known = reports.tenants(conn, limit=21)
        listed = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
        print(
            f"dispatch: the archive holds nothing of tenant {tenant!r} "
            f"(it holds {listed or 'no tenant'})",
            file=sys.stderr,
        )
        return RET_INVALID
    bucket = BUCKETS[args.by] if getattr(args, "by", None) else None
    if args.report == "trail":
        try:
            report = reports.trail_report(conn, tenant, args.ticket, period)
        except reports.UnknownTicket as exc:
            print(f"dispatch: {exc} in the archive", file=sys.stderr)
            return RET_INVALID
    else:
        assert period is not None
        if args.report == "agents":
            report = reports.agent_report(
                conn, tenant, period, now_ms=now_ms, agent=args.agent, cached=args.cached
            )
        elif args.report == "queues":
            report = reports.queue_report(
                conn, tenant, period, bucket_ms=bucket, queue=args.queue, cached=args.cached
            )
        elif args.report == "channels":
            report = reports.channel_report(
                conn, tenant, period, bucket_ms=bucket, channel=args.channel, cached=args.cached
            )
        else:
            report = reports.kpi_report(
                conn, tenant, period, bucket_ms=bucket or DAY_MS, cached=args.cached
            )
    if args.format == "table":
        span = (
            "all of its history"
            if period is None
            else f"{iso(report.period.from_ms)} to {iso(report.period.to_ms)}"
        )
        subject = f" of ticket {args.ticket}" if args.report == "trail" else ""
        print(f"{args.report}{subject}, tenant {tenant}, {span}")
    sys.stdout.write(render(report, args.format))
    return RET_OK
