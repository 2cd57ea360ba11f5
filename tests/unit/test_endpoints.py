"""Where /metrics is served: DISPATCH_HTTP_PORT if set (a taken port is a configuration
error naming it), else 9400, else a free port when 9400 is taken on this host."""

from __future__ import annotations

import http.client
import logging
import socket
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from engine.cli.main import main as cli_main
from engine.config import Settings
from engine.endpoints import Health, open_endpoints
from engine.errors import ConfigError
from engine.exitcodes import RET_INVALID

pytestmark = pytest.mark.unit

HOST = "127.0.0.1"


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another process (here: a plain socket) is listening on."""
    with socket.create_server((HOST, 0)) as sock:
        yield sock.getsockname()[1]


def status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def test_a_taken_default_port_falls_back_to_a_free_one_and_says_where(
    busy_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the default port (DISPATCH_HTTP_PORT unset) taken by another process
    settings = Settings(http_port=busy_port)
    assert not settings.http_port_pinned
    # When a second process opens its endpoints
    with caplog.at_level(logging.WARNING, logger="dispatch"):
        server = open_endpoints(settings, CollectorRegistry(), Health(), host=HOST)
    assert server is not None
    try:
        # Then it serves on another port and the log names that port and the variable
        port = server.server_address[1]
        assert port != busy_port and status(port, "/metrics") == 200
        [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert f"port {port} instead" in warning and "DISPATCH_HTTP_PORT" in warning
    finally:
        server.shutdown()
        server.server_close()


def test_a_taken_pinned_port_is_a_configuration_error(busy_port: int) -> None:
    settings = Settings.from_env({"DISPATCH_HTTP_PORT": str(busy_port)})
    assert settings.http_port_pinned
    with pytest.raises(ConfigError, match=f"DISPATCH_HTTP_PORT: .*port {busy_port}: in use"):
        open_endpoints(settings, CollectorRegistry(), Health(), host=HOST)


def test_port_zero_runs_no_server() -> None:
    settings = Settings.from_env({"DISPATCH_HTTP_PORT": "0"})
    assert open_endpoints(settings, CollectorRegistry(), Health()) is None


def test_run_exits_1_with_one_line_naming_the_variable(
    busy_port: int,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: object,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given DISPATCH_HTTP_PORT pinned to a taken port
    monkeypatch.setenv("DISPATCH_HTTP_PORT", str(busy_port))
    monkeypatch.setenv("DISPATCH_STATE_DIR", str(tmp_path))  # no stray dev.env
    monkeypatch.setattr("consumers.loop.install_stop_signals", lambda _stop: None)
    monkeypatch.setattr("engine.cli.run.logs.configure", lambda *_a, **_k: None)
    # When a dispatcher starts: the HTTP server opens before Kafka or Redis is touched
    code = cli_main(["run", "dispatcher"])
    # Then exit 1 (invalid configuration), one line on stderr, no traceback
    err = capsys.readouterr().err
    assert code == RET_INVALID
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("dispatch: DISPATCH_HTTP_PORT: cannot serve /metrics on port")


@pytest.mark.parametrize(
    ("env", "port", "pinned"),
    [
        ({}, 9400, False),
        ({"DISPATCH_HTTP_PORT": ""}, 9400, False),
        ({"DISPATCH_HTTP_PORT": "9400"}, 9400, True),
        ({"DISPATCH_HTTP_PORT": "0"}, 0, True),
    ],
)
def test_the_port_is_pinned_only_when_the_variable_is_set(
    env: dict[str, str], port: int, pinned: bool
) -> None:
    settings = Settings.from_env(env)
    assert (settings.http_port, settings.http_port_pinned) == (port, pinned)
