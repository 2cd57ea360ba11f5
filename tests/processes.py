"""Engine processes for tests: ``dispatch run <role>`` children, ready on ``/readyz``.

Plain helpers plus a pytest plugin (listed in tests/conftest.py ``pytest_plugins``):

- :func:`role_env` -> the child's environment: this process's, minus every ``DISPATCH_*``
  variable, plus the given ones.
- :func:`start_role` -> :class:`RoleProcess`: starts ``python -m engine.cli -v run <role>``
  (``dispatcher``, ``sla-tracker``, ``archiver``, ``gateway``: its API port too) with
  ``DISPATCH_HTTP_PORT`` on a free loopback port and
  waits until ``/readyz`` answers 200 (raises :class:`RoleError` with the log tail if the
  child exits or is not ready in time). ``RoleProcess.stop()`` sends SIGTERM and waits
  (SIGKILL after the grace period), ``RoleProcess.kill()`` SIGKILLs it (a crash);
  ``RoleProcess.target`` is its ``host:port`` for a Prometheus scrape config.
- fixture ``engine_process`` (function): factory ``engine_process(role, env) ->
  RoleProcess``; every process it started is stopped after the test.

``DISPATCH_STATE_DIR`` is set to the log directory unless given, so a developer's
``.dispatch/dev.env`` never fills in settings the test did not choose.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.devstack.procs import free_port

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
POLL_S = 0.1


class RoleError(RuntimeError):
    """A ``dispatch run <role>`` child exited or did not become ready."""


def http_status(port: int, path: str, timeout_s: float = 2.0) -> int | None:
    """Status code of ``GET http://127.0.0.1:<port><path>``, None if nothing answers."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()


def role_env(settings: Mapping[str, str], **extra: str) -> dict[str, str]:
    """This process's environment without any ``DISPATCH_*``, plus ``settings``/``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCH_")}
    env.update(settings)
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class RoleProcess:
    """One running ``dispatch run <role>`` child with its HTTP port and log file."""

    role: str
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes]

    @property
    def target(self) -> str:
        """``host:port`` of its /metrics, for a scrape config."""
        return f"{HOST}:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def ready(self) -> bool:
        return http_status(self.port, "/readyz") == 200

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if not self.alive():
                raise RoleError(
                    f"{self.role} exited with {self.proc.returncode} before /readyz; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise RoleError(
                    f"{self.role} not ready on :{self.port} after {timeout_s:.0f} s; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(POLL_S)

    def kill(self) -> int:
        """SIGKILL (a crash: nothing is finished or committed); returns the exit code."""
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait(10)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM (the process finishes its batch, commits and leaves the group), wait;
        SIGKILL if it has not exited after ``timeout_s``. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(10)


def start_role(
    role: str,
    env: Mapping[str, str],
    log_dir: Path,
    *,
    port: int | None = None,
    args: Sequence[str] = (),
    ready_timeout_s: float = READY_TIMEOUT_S,
) -> RoleProcess:
    """Start ``dispatch run <role> *args`` with ``env`` (see :func:`role_env`) serving
    HTTP on ``port`` (a free one by default); return once ``/readyz`` says ready.
    On failure the child is stopped and :class:`RoleError` raised."""
    port = free_port() if port is None else port
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{role}-{port}.log"
    child_env = dict(env)
    child_env["DISPATCH_HTTP_PORT"] = str(port)
    if role == "gateway":  # the gateway serves /readyz on its API port
        child_env["DISPATCH_GATEWAY_PORT"] = str(port)
        child_env.setdefault("DISPATCH_GATEWAY_HOST", HOST)
    child_env.setdefault("DISPATCH_STATE_DIR", str(log_dir))
    with log_path.open("ab") as logf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "-v", "run", role, *args],
            cwd=REPO,
            env=child_env,
            stdout=logf,
            stderr=subprocess.STDOUT,
        )
    started = RoleProcess(role, port, log_path, proc)
    try:
        started.wait_ready(ready_timeout_s)
    except BaseException:
        started.stop(5)
        raise
    return started


@pytest.fixture
def engine_process(tmp_path: Path) -> Iterator[Callable[..., RoleProcess]]:
    """Factory ``engine_process(role, env, *, port, args, ready_timeout_s) -> RoleProcess``
    (as :func:`start_role`); logs go
    to ``tmp_path/logs``; every process started is stopped (SIGTERM) after the test."""
    started: list[RoleProcess] = []

    def start(
        role: str,
        env: Mapping[str, str],
        *,
        port: int | None = None,
        args: Sequence[str] = (),
        ready_timeout_s: float = READY_TIMEOUT_S,
    ) -> RoleProcess:
        proc = start_role(
            role, env, tmp_path / "logs", port=port, args=args, ready_timeout_s=ready_timeout_s
        )
        started.append(proc)
        return proc

    yield start
    for proc in reversed(started):
        proc.stop()
