"""Engines and migrations for the archive database.

- :func:`archive_url` — ``DISPATCH_ARCHIVE_URL`` (``Settings.archive_url``), or a SQLite file
  ``<DISPATCH_STATE_DIR>/archive.db`` when unset.
- :func:`make_engine` — a SQLAlchemy engine for a URL: ``postgresql://`` URLs use psycopg 3
  (``postgresql+psycopg://``); SQLite files get WAL, a busy time-out and foreign keys, so
  several archiver replicas (or an archiver and a report) can share one file.
- :func:`upgrade` / :func:`current_revision` / :func:`head_revision` — the Alembic migrations
  packaged in ``engine/archive/migrations`` (they work from an installed wheel: no
  ``alembic.ini`` is needed). ``dispatch db upgrade`` runs :func:`upgrade`.
- :func:`require_current` — raise :class:`SchemaOutdated` unless the database is at the head
  revision: the archiver refuses to write into a schema it does not know.

Passwords in URLs are never logged: :func:`redacted` hides them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from engine.config import Settings
from engine.errors import EngineError, Unavailable

__all__ = [
    "ARCHIVE_FILE",
    "ArchiveUnavailable",
    "SchemaOutdated",
    "archive_url",
    "current_revision",
    "engine_for",
    "head_revision",
    "insert_for",
    "make_engine",
    "redacted",
    "require_current",
    "upgrade",
]

ARCHIVE_FILE = "archive.db"
SQLITE_BUSY_TIMEOUT_S = 30.0
MIGRATIONS = "engine.archive:migrations"


class SchemaOutdated(EngineError):
    """The archive database is not at the migrations' head revision."""


class ArchiveUnavailable(Unavailable):
    """The archive database could not be reached, timed out or is locked: retry later."""


def archive_url(settings: Settings) -> str:
    """The archive's SQLAlchemy URL: ``settings.archive_url`` or the state-dir SQLite file."""
    if settings.archive_url:
        return settings.archive_url
    return f"sqlite:///{(settings.state_dir / ARCHIVE_FILE).resolve()}"


def _normalise(url: str | URL) -> URL:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def redacted(url: str | URL) -> str:
    """The URL with its password hidden (for logs and messages)."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """A SQLAlchemy engine for ``url`` (see the module doc); ``kwargs`` go to
    ``create_engine``. A SQLite file's directory is created when missing."""
    parsed = _normalise(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_S})
        if not database or database == ":memory:":
            from sqlalchemy.pool import StaticPool

            kwargs.setdefault("poolclass", StaticPool)  # one shared in-memory database
        else:
            kwargs.setdefault("poolclass", NullPool)  # files: no connection outlives a use
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)  # a restarted server: reconnect, do not fail
    return create_engine(parsed, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL-safe
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    finally:
        cursor.close()


def insert_for(conn: Connection, table: Table) -> Any:
    """An INSERT of the connection's dialect (both have ``on_conflict_do_nothing`` and
    ``on_conflict_do_update``)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def engine_for(settings: Settings, **kwargs: Any) -> Engine:
    """``make_engine(archive_url(settings))``."""
    return make_engine(archive_url(settings), **kwargs)


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    # %-signs in a URL would be read as interpolation by ConfigParser: the URL is not set,
    # env.py takes the engine from the attributes instead.
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (idempotent: at head, nothing happens)."""
    from alembic import command

    command.upgrade(_alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Revert the migrations down to ``revision`` (``"base"``: drop every archive table)."""
    from alembic import command

    command.downgrade(_alembic_config(engine), revision)


def head_revision() -> str:
    """The newest migration's revision id."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config(_NO_ENGINE)).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's revision (None: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        revision: str | None = MigrationContext.configure(conn).get_current_revision()
    return revision


def require_current(engine: Engine) -> str:
    """The database's revision, which must be the head; :class:`SchemaOutdated` otherwise."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaOutdated(
            f"archive database {redacted(engine.url)} is at revision {current or '(none)'}, "
            f"this build needs {head}: run `dispatch db upgrade`"
        )
    return current


_NO_ENGINE: Any = None
