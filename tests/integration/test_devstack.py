"""Local dev stack against real processes: probes, up/status/down, chaos handle."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from engine.cli.dev import main as dev_main
from engine.devstack import RedisServer, down, status, up
from engine.devstack.kafka_protocol import METADATA_KEY, api_versions, broker_ready
from engine.devstack.procs import cmdline, free_port
from engine.devstack.redis import ping
from engine.devstack.stack import ENV_FILE, STATE_FILE
from engine.exitcodes import RET_UNAVAILABLE

pytestmark = pytest.mark.integration


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"kafka://{url}")
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def test_kafka_answers_api_versions(kafka_bootstrap: str) -> None:
    host, port = _host_port(kafka_bootstrap)
    ranges = api_versions(host, port)
    assert any(r.api_key == METADATA_KEY for r in ranges)
    assert broker_ready(host, port)


def test_redis_answers_ping(redis_url: str) -> None:
    assert ping(*_host_port(redis_url))


@pytest.mark.chaos
def test_redis_server_kill_and_restart(redis_server: RedisServer, redis_url: str) -> None:
    host, port = _host_port(redis_url)
    assert redis_server.kill()
    assert not ping(host, port)
    redis_server.restart()
    assert ping(host, port)
    assert redis_server.port == port


def test_up_status_down_stops_exactly_what_it_started(tmp_path: Path) -> None:
    bystander = RedisServer(tmp_path / "bystander")
    bystander.start()
    try:
        endpoints = up(tmp_path / "state", kafka=False, redis=True)
        assert endpoints.kafka_bootstrap is None and endpoints.redis_url
        env = (tmp_path / "state" / ENV_FILE).read_text()
        assert env == f"DISPATCH_REDIS_URL={endpoints.redis_url}\n"

        [svc] = status(tmp_path / "state")
        assert (svc.name, svc.running, svc.answering) == ("redis", True, True)
        assert svc.pid is not None and os.getsid(svc.pid) == svc.pid  # detached session

        again = up(tmp_path / "state", kafka=False, redis=True)
        assert again == endpoints  # healthy stack is reused, not restarted
        assert status(tmp_path / "state")[0].pid == svc.pid

        assert down(tmp_path / "state") == ["redis"]
        assert cmdline(svc.pid) == []
        assert not (tmp_path / "state" / STATE_FILE).exists()
        assert status(tmp_path / "state") == []
        assert bystander.answering()  # another redis-server was left alone
        assert down(tmp_path / "state") == []
    finally:
        bystander.stop()


def test_cli_up_status_down(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = str(tmp_path / "cli")
    assert dev_main(["up", "--no-kafka", "--state-dir", state]) == 0
    out = capsys.readouterr().out
    assert "DISPATCH_REDIS_URL=redis://127.0.0.1:" in out and "set -a; ." in out
    assert dev_main(["status", "--state-dir", state]) == 0
    assert "redis  up" in capsys.readouterr().out
    assert dev_main(["down", "--state-dir", state]) == 0
    assert "stopped: redis" in capsys.readouterr().out
    # nothing runs: no service answers
    assert dev_main(["status", "--state-dir", state]) == RET_UNAVAILABLE


def test_port_clash_is_retried_on_a_new_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        ports = iter([busy.getsockname()[1], free_port()])
        monkeypatch.setattr("engine.devstack.redis.free_port", lambda: next(ports))
        server = RedisServer(tmp_path / "clash")
        server.start()
        try:
            assert server.port != busy.getsockname()[1] and server.answering()
        finally:
            server.stop()


def test_started_process_does_not_inherit_our_descriptors(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, True)
    server = RedisServer(tmp_path / "fds")
    try:
        server.start()
        assert server.pid is not None
        ours = os.readlink(f"/proc/self/fd/{write_end}")
        fd_dir = Path(f"/proc/{server.pid}/fd")
        assert ours not in {os.readlink(fd) for fd in fd_dir.iterdir()}
    finally:
        server.stop()
        os.close(read_end)
        os.close(write_end)
