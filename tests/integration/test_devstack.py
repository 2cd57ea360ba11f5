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
from engine.devstack.redis import command, ping
from engine.devstack.stack import ENV_FILE, STATE_FILE
from engine.exitcodes import RET_UNAVAILABLE, RET_USAGE

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
    try:
        out = capsys.readouterr().out
        assert "DISPATCH_REDIS_URL=redis://127.0.0.1:" in out and "set -a; ." in out
        assert dev_main(["status", "--state-dir", state]) == 0
        assert "redis  node 1  up" in capsys.readouterr().out
    finally:  # a failed assertion must not leave a detached redis-server behind
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


def _links(fd_dir: Path) -> set[str]:
    """What the process's descriptors point at; one it closes while we list them (Redis
    opens and closes files as it starts) is skipped."""
    links = set()
    for fd in fd_dir.iterdir():
        try:
            links.add(os.readlink(fd))
        except FileNotFoundError:
            continue
    return links


def test_started_process_does_not_inherit_our_descriptors(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, True)
    server = RedisServer(tmp_path / "fds")
    try:
        server.start()
        assert server.pid is not None
        ours = os.readlink(f"/proc/self/fd/{write_end}")
        fd_dir = Path(f"/proc/{server.pid}/fd")
        assert ours not in _links(fd_dir)
    finally:
        server.stop()
        os.close(read_end)
        os.close(write_end)


def test_cli_restart_and_kill_keep_the_data_and_ports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a CLI stack (Redis with an append-only file) holding a key
    state = tmp_path / "cli"
    assert dev_main(["up", "--no-kafka", "--state-dir", str(state)]) == 0
    [before] = status(state)
    host, port = _host_port(before.endpoint)
    assert command(host, port, "SET", "k", "v") == "OK"
    try:
        # When it is restarted (SIGTERM, start on its data)
        assert dev_main(["restart", "redis", "--state-dir", str(state)]) == 0
        # Then it answers on the same port, as a new process, with the key
        [after] = status(state)
        assert (after.endpoint, after.running, after.answering) == (before.endpoint, True, True)
        assert after.pid != before.pid
        assert command(host, port, "GET", "k") == "v"
        # When it is killed: status reports it down (exit 3) until `restart` starts it again
        capsys.readouterr()
        assert dev_main(["kill", "redis", "--node", "1", "--state-dir", str(state)]) == 0
        assert "killed: redis node 1" in capsys.readouterr().out
        assert dev_main(["status", "--state-dir", str(state)]) == RET_UNAVAILABLE
        assert dev_main(["restart", "redis", "--state-dir", str(state)]) == 0
        assert ping(host, port)
        # And a node that does not exist is a clear error
        assert dev_main(["kill", "redis", "--node", "2", "--state-dir", str(state)]) != 0
        assert "no redis node 2" in capsys.readouterr().err
    finally:
        down(state)
    # When the stack is brought up again after `down`: same port, same data, no new format
    assert dev_main(["up", "--no-kafka", "--state-dir", str(state)]) == 0
    try:
        assert status(state)[0].endpoint == before.endpoint
        assert command(host, port, "GET", "k") == "v"
        # A stack of another shape on that data is refused before anything is stopped
        pid = status(state)[0].pid
        code = dev_main(["up", "--no-kafka", "--redis-cluster", "3", "--state-dir", str(state)])
        assert code == RET_UNAVAILABLE
        assert "--fresh" in capsys.readouterr().err
        assert status(state)[0].pid == pid and ping(host, port)
    finally:
        down(state)
    # --fresh discards it
    assert dev_main(["up", "--no-kafka", "--fresh", "--state-dir", str(state)]) == 0
    try:
        host, port = _host_port(status(state)[0].endpoint)
        assert command(host, port, "GET", "k") == ""
    finally:
        down(state)


def test_cli_rejects_impossible_shapes(tmp_path: Path) -> None:
    state = str(tmp_path / "s")
    assert dev_main(["up", "--redis-cluster", "2", "--state-dir", state]) == RET_USAGE
    assert dev_main(["up", "--kafka-brokers", "0", "--state-dir", state]) == RET_USAGE
    assert dev_main(["restart", "kafka", "--state-dir", state]) == RET_UNAVAILABLE  # no stack
