"""``dispatch db upgrade|current|downgrade``: the archive database's schema (Alembic).

The database is ``DISPATCH_ARCHIVE_URL`` (default: the SQLite file
``<DISPATCH_STATE_DIR>/archive.db``), or ``--url``. Run ``dispatch db upgrade`` before the
first ``dispatch run archiver`` and after every upgrade of the engine (a Kubernetes Job or an
init step: the archiver refuses to start on an outdated schema). Idempotent.
"""

from __future__ import annotations

import argparse
import sys

from engine.config import Settings
from engine.errors import ConfigError
from engine.exitcodes import RET_FAILED, RET_INVALID, RET_OK, RET_UNAVAILABLE

DESCRIPTION = """\
The archive database (docs/archive.md): the audit trail `dispatch run archiver` writes and
the reports read. The URL comes from DISPATCH_ARCHIVE_URL (a SQLAlchemy URL:
postgresql://user:password@host:5432/dispatch, sqlite:///path/archive.db) or --url; by
default the SQLite file <DISPATCH_STATE_DIR>/archive.db.

  upgrade     apply the migrations up to the newest (or --revision); idempotent
  current     print the database's revision and the newest one; exit 1 when they differ
  downgrade   revert to --revision (base: drop every archive table)
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "db",
        help="create or upgrade the archive database's schema",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", choices=["upgrade", "current", "downgrade"])
    p.add_argument("--url", default=None, help="database URL (overrides DISPATCH_ARCHIVE_URL)")
    p.add_argument(
        "--revision", default=None, help="target revision (upgrade: head; downgrade: required)"
    )
    p.set_defaults(func=cmd_db)


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
