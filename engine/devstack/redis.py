"""``redis-server`` as a local process on a loopback port.

Contracts:
- ``RedisServer(data_dir).start()`` runs ``redis-server`` with no persistence (``--save ''``,
  ``--appendonly no``) bound to 127.0.0.1, and returns once ``PING`` answers ``+PONG``, or
  raises DevstackError with the tail of ``<data_dir>/redis.log``.
- ``kill()`` sends SIGKILL (a crash: all data is lost); ``restart()`` starts it again on the
  same port and data dir. Both are for chaos tests.
- Signals go only to a pid whose command line is ``redis-server`` on this server's port.
"""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path
from typing import Any

from engine.devstack.procs import (
    LOG_SCAN_BYTES,
    LOOPBACK_HOST,
    POLL_INTERVAL_S,
    STOP_GRACE_S,
    free_port,
    log_excerpt,
    log_tail,
    pid_matches,
    reap,
    spawn,
    terminate,
)
from engine.errors import DevstackError
from engine.logs import get_logger

log = get_logger(__name__)

START_TIMEOUT_S = 20.0
PING_TIMEOUT_S = 1.0
PORT_ATTEMPTS = 3
PING_REQUEST = b"*1\r\n$4\r\nPING\r\n"
PONG_REPLY = b"+PONG\r\n"


def ping(host: str, port: int, timeout_s: float = PING_TIMEOUT_S) -> bool:
    """True if a RESP ``PING`` to host:port answers ``+PONG`` (never raises)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(PING_REQUEST)
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = sock.recv(64)
                if not chunk:
                    return False
                reply += chunk
    except OSError:
        return False
    return reply == PONG_REPLY


def redis_argv(binary: str, port: int, data_dir: Path) -> list[str]:
    """Command line of a throw-away, loopback-only ``redis-server``."""
    return [
        binary, "--port", str(port), "--bind", LOOPBACK_HOST, "--dir", str(data_dir),
        "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
    ]  # fmt: skip


class RedisServer:
    """One local ``redis-server``. Not thread-safe."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        detach: bool = False,
        pid: int | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or 0
        self.detach = detach
        self.pid = pid

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://{LOOPBACK_HOST}:{self.port}/0"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "redis.log"

    def _needles(self) -> list[str]:
        return ["redis-server", f"{LOOPBACK_HOST}:{self.port} "]

    def _launch(self, binary: str, timeout_s: float) -> str | None:
        """Start and wait for PONG; None when ready, else why the process exited."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.pid = spawn(
            redis_argv(binary, self.port, self.data_dir), self.log_file, detach=self.detach
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            code = reap(self.pid)
            if code is not None:
                return f"redis-server exited with code {code}"
            if ping(LOOPBACK_HOST, self.port):
                return None
            time.sleep(POLL_INTERVAL_S / 2)
        self.stop(grace_s=2.0)
        raise DevstackError(
            f"redis-server not answering PING on port {self.port} within {timeout_s:.0f} s; "
            f"{log_excerpt(self.log_file)}"
        )

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start on ``port`` (a free one if 0) and wait for ``+PONG``."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise DevstackError("`redis-server` not found: apt-get install -y redis-server")
        pick_port = not self.port
        for attempt in range(1, PORT_ATTEMPTS + 1):
            if pick_port:
                self.port = free_port()
            started = time.monotonic()
            failure = self._launch(binary, timeout_s)
            if failure is None:
                log.info("redis ready on %s in %.2f s", self.url, time.monotonic() - started)
                return
            whole_log = log_tail(self.log_file, LOG_SCAN_BYTES)
            if pick_port and "Address already in use" in whole_log and attempt < PORT_ATTEMPTS:
                log.warning("redis port %s taken; retrying on a new port", self.port)
                continue
            raise DevstackError(f"{failure}; {log_excerpt(self.log_file)}")

    def running(self) -> bool:
        """True if the recorded pid is alive and is this server."""
        return self.pid is not None and pid_matches(self.pid, self._needles())

    def answering(self) -> bool:
        """True if the server answers PING."""
        return bool(self.port) and ping(LOOPBACK_HOST, self.port)

    def stop(self, grace_s: float = STOP_GRACE_S) -> bool:
        """SIGTERM (then SIGKILL); True if it was running. Safe to call repeatedly."""
        if self.pid is None:
            return False
        return terminate(self.pid, self._needles(), grace_s=grace_s)

    def kill(self) -> bool:
        """SIGKILL, as a crash would; True if it was running."""
        if self.pid is None:
            return False
        killed = terminate(self.pid, self._needles(), hard=True)
        log.info("redis on port %s killed: %s", self.port, killed)
        return killed

    def restart(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Stop if running, then start again on the same port (data is not kept)."""
        self.stop()
        if not self.port:
            raise DevstackError("restart() needs a server that was started before")
        self.start(timeout_s)

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable description for the state file."""
        return {
            "pid": self.pid,
            "port": self.port,
            "data_dir": str(self.data_dir),
            "log_file": str(self.log_file),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RedisServer:
        """Rebuild a handle (not a child process) from ``to_state()`` output."""
        return cls(
            Path(state["data_dir"]),
            port=int(state["port"]),
            pid=int(state["pid"]) if state.get("pid") else None,
        )
