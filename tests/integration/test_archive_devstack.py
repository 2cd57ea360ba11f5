"""PostgreSQL as a local process (engine.devstack.postgres), alone and in the dev stack
(``dispatch dev up --postgres``): a loopback port, the URL in dev.env, data kept across a
crash (SIGKILL) and a restart, stopped by ``down``."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from engine.archive import db
from engine.config import read_env_file
from engine.devstack import postgres
from engine.devstack.stack import ARCHIVE_ENV, ENV_FILE, DevStack
from engine.errors import DevstackError
from tests.services import unavailable

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(autouse=True)
def _installed() -> None:
    if not postgres.available():
        unavailable("PostgreSQL is not installed (apt-get install postgresql)")


def test_a_server_keeps_its_data_across_a_crash_and_a_restart(tmp_path: Path) -> None:
    server = postgres.PostgresServer(tmp_path / "pg")
    try:
        url = server.start()
        assert url.startswith("postgresql://dispatch@127.0.0.1:")
        engine = db.make_engine(url)
        db.upgrade(engine)
        engine.dispose()
        port = server.port
        assert server.kill()
        assert not server.running()
        assert server.start() == url  # the same port, recovered from its WAL
        assert server.port == port
        engine = db.make_engine(url)
        assert db.require_current(engine) == db.head_revision()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM tickets")).scalar_one() == 0
        engine.dispose()
    finally:
        server.stop()
        server.wipe()
    assert not server.running()


def test_the_dev_stack_starts_postgres_and_writes_its_url(tmp_path: Path) -> None:
    stack = DevStack(tmp_path / "state", kafka=False, redis=False, postgres=True)
    try:
        endpoints = stack.start()
        assert endpoints.archive_url and endpoints.env()[ARCHIVE_ENV] == endpoints.archive_url
        stack.write_state()
        assert read_env_file(tmp_path / "state" / ENV_FILE)[ARCHIVE_ENV] == endpoints.archive_url
        again = DevStack.from_state(tmp_path / "state")
        assert again is not None and again.endpoints == endpoints
        (status,) = again.status()
        assert (status.name, status.running, status.answering) == ("postgres", True, True)
        assert again.stop() == ["postgres"]
    finally:
        stack.stop()
        if stack.postgres is not None:
            stack.postgres.wipe()


def test_wipe_refuses_a_running_server(tmp_path: Path) -> None:
    server = postgres.PostgresServer(tmp_path / "pg", durable=False)
    try:
        server.start()
        with pytest.raises(DevstackError, match="stop postgres"):
            server.wipe()
    finally:
        server.stop()
        server.wipe()
