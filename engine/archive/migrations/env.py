"""Alembic environment: runs the migrations on the engine given in
``config.attributes["engine"]`` (engine.archive.db), or on ``sqlalchemy.url`` when the
Alembic command line is used with an ini file of its own."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from engine.archive.db import make_engine
from engine.archive.schema import METADATA

config = context.config


def _engine() -> Engine:
    engine = config.attributes.get("engine")
    if engine is not None:
        return engine  # type: ignore[no-any-return]
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no engine: use engine.archive.db.upgrade or set sqlalchemy.url")
    return make_engine(url)


def run_migrations_online() -> None:
    with _engine().connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=METADATA,
            # SQLite cannot ALTER most things: later migrations use batch mode there
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported")
run_migrations_online()
