"""The run's dispatcher replicas: ``python -m engine.cli run dispatcher`` children with the
run's settings, each in its own session (a Ctrl-C reaches only the soak, which stops them in
order), serving ``/readyz`` on a free loopback port, logging to ``<work dir>/logs``.

Every signal the soak sends goes through :class:`ReplicaSet` under one lock, so a replica
the soak killed is never mistaken for one that crashed (:meth:`ReplicaSet.crashed`).
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from engine.devstack.procs import free_port, log_tail

HOST = "127.0.0.1"
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
POLL_S = 0.2


def http_status(port: int, path: str, timeout_s: float = 2.0) -> int | None:
    """Status of ``GET http://127.0.0.1:<port><path>``, None if nothing answers."""
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


@dataclass
class Replica:
    """One dispatcher child. ``number`` counts from 1; ``starts`` how often it was started."""

    number: int
    env: Mapping[str, str]
    log_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    paused: bool = False
    starts: int = 0
    exits: list[int] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"dispatcher-{self.number}.log"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ready(self) -> bool:
        return self.alive() and not self.paused and http_status(self.port, "/readyz") == 200

    def label(self) -> str:
        return f"replica {self.number} (pid {self.pid})"

    def start(self) -> None:
        self.port = free_port()
        env = dict(self.env)
        env["DISPATCH_HTTP_PORT"] = str(self.port)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            out.write(f"---- start {self.starts + 1} on port {self.port}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "engine.cli", "-v", "run", "dispatcher"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.paused = False
        self.starts += 1

    def signal(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def reap(self, timeout_s: float) -> int | None:
        if self.proc is None:
            return None
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None
        self.exits.append(code)
        return code

    def tail(self, n: int = 5) -> str:
        return " | ".join(log_tail(self.log_path).splitlines()[-n:])


class ReplicaSet:
    """Every replica of the run; the methods are safe from several threads."""

    def __init__(self, count: int, env: Mapping[str, str], log_dir: Path) -> None:
        self.replicas = [Replica(i + 1, env, log_dir) for i in range(count)]
        self.lock = threading.RLock()

    def start_all(
        self, timeout_s: float = READY_TIMEOUT_S, cancel: threading.Event | None = None
    ) -> None:
        """Start every replica; return once each answers /readyz. Raises RuntimeError with
        the log tail of one that exited, TimeoutError for one not ready in time, and
        KeyboardInterrupt when ``cancel`` is set meanwhile (a Ctrl-C during the start)."""
        with self.lock:
            for r in self.replicas:
                r.start()
        deadline = time.monotonic() + timeout_s
        waiting = list(self.replicas)
        while waiting:
            if cancel is not None and cancel.is_set():
                raise KeyboardInterrupt("interrupted while the replicas started")
            for r in list(waiting):
                if r.ready():
                    waiting.remove(r)
                elif not r.alive():
                    raise RuntimeError(f"{r.label()} exited before it was ready: {r.tail()}")
            if waiting and time.monotonic() > deadline:
                r = waiting[0]
                raise TimeoutError(f"{r.label()} not ready after {timeout_s:.0f} s: {r.tail()}")
            time.sleep(POLL_S)

    def running(self, *, paused: bool | None = None) -> list[Replica]:
        """Alive replicas (only the paused ones, or only the others, if asked)."""
        with self.lock:
            return [
                r for r in self.replicas if r.alive() and (paused is None or r.paused == paused)
            ]

    def kill_and_restart(self, r: Replica) -> int:
        """SIGKILL (a crash; a paused replica dies too) and start it again; returns the old
        pid. The caller waits for readiness (:meth:`wait_ready`) outside the lock."""
        with self.lock:
            old = r.pid
            r.signal(signal.SIGKILL)
            r.reap(10)
            r.start()
            return old

    def pause(self, r: Replica) -> None:
        with self.lock:
            r.signal(signal.SIGSTOP)
            r.paused = True

    def resume(self, r: Replica) -> bool:
        """SIGCONT a paused replica; False if it is no longer paused (killed meanwhile)."""
        with self.lock:
            if not r.paused:
                return False
            r.signal(signal.SIGCONT)
            r.paused = False
            return True

    def resume_all(self) -> None:
        for r in self.replicas:
            self.resume(r)

    def wait_ready(self, r: Replica, timeout_s: float = READY_TIMEOUT_S) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if r.ready():
                return True
            if not r.alive():
                return False
            time.sleep(POLL_S)
        return False

    def crashed(self) -> list[str]:
        """Replicas that exited although nobody asked them to, restarted; one line each."""
        lines = []
        with self.lock:
            for r in self.replicas:
                if r.proc is None or r.proc.poll() is None:
                    continue
                code = r.reap(0)
                lines.append(f"{r.label()} exited with {code}: {r.tail(3)}")
                r.start()
        return lines

    def stop_all(self, timeout_s: float = STOP_TIMEOUT_S) -> list[str]:
        """SIGCONT the paused, SIGTERM every replica, wait (SIGKILL after ``timeout_s``);
        one line per replica that did not exit 0."""
        problems = []
        with self.lock:
            for r in self.replicas:
                if r.paused:
                    r.signal(signal.SIGCONT)
                    r.paused = False
                r.signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            for r in self.replicas:
                if r.proc is None or r.proc.returncode is not None:
                    continue
                code = r.reap(max(0.1, deadline - time.monotonic()))
                if code is None:
                    r.signal(signal.SIGKILL)
                    r.reap(10)
                    problems.append(f"{r.label()} did not stop within {timeout_s:.0f} s: killed")
                elif code != 0:
                    problems.append(f"{r.label()} exited with {code} on SIGTERM: {r.tail(3)}")
        return problems
