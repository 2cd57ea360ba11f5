"""The packaged Alembic migrations create exactly the tables of engine/archive/schema.py,
and ``dispatch db`` drives them (SQLite here; tests/integration/test_archive_writer.py runs
the archive on PostgreSQL too)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from engine.archive import db
from engine.archive.schema import METADATA
from engine.cli.main import main

pytestmark = pytest.mark.unit


def test_the_migrations_create_exactly_the_schema(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    db.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), METADATA)
        names = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == []
    assert names == {t.name for t in METADATA.sorted_tables} | {"alembic_version"}


def test_every_index_and_key_starts_with_the_tenant() -> None:
    for table in METADATA.sorted_tables:
        assert next(iter(table.primary_key.columns)).name == "tenant", table.name
        for index in table.indexes:
            assert next(iter(index.columns)).name == "tenant", index.name


def test_upgrade_is_idempotent_and_downgrade_drops_everything(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    assert db.current_revision(engine) is None
    with pytest.raises(db.SchemaOutdated, match="dispatch db upgrade"):
        db.require_current(engine)
    db.upgrade(engine)
    db.upgrade(engine)
    assert db.require_current(engine) == db.head_revision()
    db.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()


def test_the_default_archive_is_a_sqlite_file_in_the_state_dir(tmp_path: Path) -> None:
    from engine.config import Settings

    settings = Settings.from_env({"DISPATCH_STATE_DIR": str(tmp_path / "st")}, dev_env=None)
    assert db.archive_url(settings) == f"sqlite:///{tmp_path / 'st' / 'archive.db'}"
    pg = Settings.from_env({"DISPATCH_ARCHIVE_URL": "postgresql://u:pw@h/d"}, dev_env=None)
    assert db.archive_url(pg) == "postgresql://u:pw@h/d"
    assert "pw" not in db.redacted(db.archive_url(pg))
    assert db.make_engine(db.archive_url(pg)).dialect.driver == "psycopg"
    assert "pw" not in repr(pg)


def test_a_bad_archive_url_names_the_variable() -> None:
    from engine.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="DISPATCH_ARCHIVE_URL"):
        Settings.from_env({"DISPATCH_ARCHIVE_URL": "not a url"}, dev_env=None)


def test_dispatch_db_upgrade_and_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISPATCH_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("DISPATCH_ARCHIVE_URL", raising=False)
    assert main(["db", "current"]) == 1  # an empty database is behind
    assert main(["db", "upgrade"]) == 0
    assert "-> revision" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert "already at revision" in capsys.readouterr().out
    assert main(["db", "current"]) == 0
    assert (tmp_path / "archive.db").is_file()
    assert main(["db", "downgrade"]) == 1  # needs --revision
    url = f"sqlite:///{tmp_path / 'other.db'}"
    assert main(["db", "upgrade", "--url", url]) == 0
    assert (tmp_path / "other.db").is_file()


def test_an_unreachable_database_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://nobody:secret@127.0.0.1:1/none"
    assert main(["db", "upgrade", "--url", url]) == 3
    err = capsys.readouterr().err
    assert "unreachable" in err and "secret" not in err


def test_the_migrations_are_package_data() -> None:
    from importlib import resources

    root = resources.files("engine.archive") / "migrations"
    assert (root / "env.py").is_file() and (root / "script.py.mako").is_file()
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    assert "archive/migrations/*.mako" in pyproject["tool"]["setuptools"]["package-data"]["engine"]
