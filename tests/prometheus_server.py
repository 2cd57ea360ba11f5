"""A real Prometheus server for integration tests (pytest plugin, see tests/conftest.py).

Starts the ``prometheus`` binary (Debian package ``prometheus``; tests/run.sh installs it)
on a free loopback port with a generated config: ``scrape_interval``/``evaluation_interval``
1 s, one static job per name of the given ``(job, "host:port")`` targets, optional rule
files, its TSDB in a temporary directory. A missing binary fails the test under ``CI``
and skips it elsewhere (as tests/services.py does for Kafka and Redis).

- :func:`running_prometheus` (context manager) -> :class:`PrometheusServer`;
- fixture ``prometheus`` (function): factory ``prometheus(targets, *, rule_files=(),
  scrape_interval="1s") -> PrometheusServer``, stopped after the test;
- :class:`PrometheusServer`: ``query(expr) -> [(labels, value)]``, ``value(expr)``,
  ``wait_for(expr, predicate, timeout_s)``, ``targets_up() -> {(job, instance): bool}``,
  ``wait_targets_up()``, ``rule_groups()``, ``stop()``. Only the standard library talks
  to the HTTP API (``/api/v1/...``).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.devstack.procs import free_port
from tests.services import unavailable

HOST = "127.0.0.1"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
HTTP_TIMEOUT_S = 5.0
POLL_S = 0.25
START_ATTEMPTS = 3  # a free port can be taken between free_port() and prometheus' bind

Labels = dict[str, str]
Sample = tuple[Labels, float]
Target = tuple[str, str]  # (job, "host:port")


class PrometheusError(RuntimeError):
    """Prometheus did not start, or its HTTP API answered with an error."""


def prometheus_binary() -> str:
    """Path of the ``prometheus`` binary; fails (CI) or skips the test without it."""
    found = shutil.which("prometheus")
    if found is None:
        unavailable(
            "prometheus not installed (Debian package prometheus; tests/run.sh installs it)"
        )
    return found


def config(
    targets: Sequence[Target],
    rule_files: Sequence[Path] = (),
    *,
    scrape_interval: str = "1s",
    evaluation_interval: str | None = None,
) -> dict[str, Any]:
    """A Prometheus config: one static job per job name of ``targets``, in order."""
    jobs: dict[str, list[str]] = {}
    for job, address in targets:
        jobs.setdefault(job, []).append(address)
    return {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
            "evaluation_interval": evaluation_interval or scrape_interval,
        },
        "rule_files": [str(Path(p).resolve()) for p in rule_files],
        "scrape_configs": [
            {"job_name": job, "metrics_path": "/metrics", "static_configs": [{"targets": addrs}]}
            for job, addrs in jobs.items()
        ],
    }


def _number(text: str) -> float:
    return float(text)  # Prometheus writes "NaN", "+Inf", "-Inf", which float() reads


@dataclass
class PrometheusServer:
    """A running ``prometheus`` child process and its HTTP API."""

    port: int
    proc: subprocess.Popen[bytes]
    directory: Path
    log_path: Path
    targets: list[Target] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    # ------------------------------------------------------------ HTTP API

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read()

    def api(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """``data`` of a ``/api/v1/<path>`` answer; raises :class:`PrometheusError` on an
        error status (e.g. a PromQL syntax error, with Prometheus' message)."""
        code, body = self._get("/api/v1/" + path.lstrip("/"), params)
        try:
            answer = json.loads(body)
        except ValueError:
            raise PrometheusError(f"{path}: HTTP {code}: {body[:200]!r}") from None
        if code != 200 or answer.get("status") != "success":
            raise PrometheusError(f"{path} {dict(params or {})}: HTTP {code}: {answer}")
        return answer["data"]

    def query(self, expr: str, at: float | None = None) -> list[Sample]:
        """Instant query: ``[(labels, value)]`` (a scalar gives one sample, no labels)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = repr(at)
        data = self.api("query", params)
        kind, result = data["resultType"], data["result"]
        if kind == "vector":
            return [(dict(s["metric"]), _number(s["value"][1])) for s in result]
        if kind == "scalar":
            return [({}, _number(result[1]))]
        raise PrometheusError(f"{expr}: unsupported result type {kind}")

    def value(self, expr: str) -> float | None:
        """The value of a query giving at most one sample; None when it gives none."""
        got = self.query(expr)
        if len(got) > 1:
            raise PrometheusError(f"{expr}: {len(got)} samples, expected at most one: {got}")
        return got[0][1] if got else None

    def wait_for(
        self,
        expr: str,
        predicate: Callable[[list[Sample]], bool] = bool,
        timeout_s: float = 30.0,
        interval_s: float = POLL_S,
    ) -> list[Sample]:
        """Query ``expr`` until ``predicate(samples)`` holds (default: any sample);
        returns those samples. ``AssertionError`` with the last result after
        ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            got = self.query(expr)
            if predicate(got):
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"after {timeout_s:.0f} s, {expr!r} still gives {got}")
            self._check_running()
            time.sleep(interval_s)

    def wait_value(self, expr: str, expected: float, timeout_s: float = 30.0) -> None:
        """Wait until ``expr`` gives exactly one sample equal to ``expected``."""
        self.wait_for(
            expr,
            lambda got: len(got) == 1 and math.isclose(got[0][1], expected, abs_tol=1e-9),
            timeout_s,
        )

    def active_targets(self) -> list[dict[str, Any]]:
        data: dict[str, Any] = self.api("targets", {"state": "active"})
        return list(data["activeTargets"])

    def targets_up(self) -> dict[tuple[str, str], bool]:
        """``{(job, instance): health == "up"}`` of every active target."""
        return {
            (t["labels"]["job"], t["labels"]["instance"]): t["health"] == "up"
            for t in self.active_targets()
        }

    def wait_targets_up(self, timeout_s: float = 30.0) -> None:
        """Wait until every configured target has been scraped successfully."""
        wanted = {(job, address) for job, address in self.targets}
        deadline = time.monotonic() + timeout_s
        while True:
            up = self.targets_up()
            if wanted <= {k for k, ok in up.items() if ok}:
                return
            if time.monotonic() > deadline:
                errors = {
                    (t["labels"]["job"], t["labels"]["instance"]): t.get("lastError")
                    for t in self.active_targets()
                }
                raise AssertionError(f"targets not up after {timeout_s:.0f} s: {errors}")
            self._check_running()
            time.sleep(POLL_S)

    def rule_groups(self) -> list[dict[str, Any]]:
        """Loaded rule groups (``/api/v1/rules``): name, file, rules with their health."""
        data: dict[str, Any] = self.api("rules")
        return list(data["groups"])

    # ------------------------------------------------------------ process

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def _check_running(self) -> None:
        if self.proc.poll() is not None:
            raise PrometheusError(
                f"prometheus exited with {self.proc.returncode}; log {self.log_path}:\n"
                + self.log_tail()
            )

    def ready(self) -> bool:
        try:
            code, _ = self._get("/-/ready")
        except OSError:
            return False
        return code == 200

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM and wait (SIGKILL if it does not exit in ``timeout_s``)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
                return
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait(10)


def start_prometheus(
    directory: Path,
    targets: Sequence[Target],
    *,
    rule_files: Sequence[Path] = (),
    scrape_interval: str = "1s",
    ready_timeout_s: float = READY_TIMEOUT_S,
) -> PrometheusServer:
    """Start ``prometheus`` in ``directory`` (config, TSDB, log); return once ``/-/ready``
    answers. Retries on a new port if the chosen one was taken meanwhile."""
    binary = prometheus_binary()
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "prometheus.yml"
    config_path.write_text(
        yaml.safe_dump(config(targets, rule_files, scrape_interval=scrape_interval))
    )
    failure = ""
    for attempt in range(START_ATTEMPTS):
        port = free_port()
        log_path = directory / f"prometheus-{attempt}.log"
        with log_path.open("ab") as logf:
            proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={directory / 'data'}",
                    f"--web.listen-address={HOST}:{port}",
                    "--log.level=warn",
                ],
                cwd=directory,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
            )
        server = PrometheusServer(port, proc, directory, log_path, list(targets))
        deadline = time.monotonic() + ready_timeout_s
        while proc.poll() is None and not server.ready() and time.monotonic() < deadline:
            time.sleep(POLL_S)
        if proc.poll() is None and server.ready():
            return server
        server.stop()
        failure = f"exit {proc.returncode}; log {log_path}:\n{server.log_tail()}"
        if "address already in use" not in failure:
            break
    raise PrometheusError(f"prometheus did not become ready: {failure}")


@contextmanager
def running_prometheus(
    directory: Path,
    targets: Sequence[Target],
    *,
    rule_files: Sequence[Path] = (),
    scrape_interval: str = "1s",
    ready_timeout_s: float = READY_TIMEOUT_S,
) -> Iterator[PrometheusServer]:
    """:func:`start_prometheus`, stopped when the block ends."""
    server = start_prometheus(
        directory,
        targets,
        rule_files=rule_files,
        scrape_interval=scrape_interval,
        ready_timeout_s=ready_timeout_s,
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[..., PrometheusServer]]:
    """Factory ``prometheus(targets, *, rule_files=(), scrape_interval="1s")`` ->
    a ready :class:`PrometheusServer` (directory under ``tmp_path``); every server
    started is stopped after the test. Fails (CI) or skips without the binary."""
    prometheus_binary()  # skip before the test starts anything else
    started: list[PrometheusServer] = []

    def start(
        targets: Sequence[Target],
        *,
        rule_files: Sequence[Path] = (),
        scrape_interval: str = "1s",
        ready_timeout_s: float = READY_TIMEOUT_S,
    ) -> PrometheusServer:
        server = start_prometheus(
            tmp_path / f"prometheus-{len(started)}",
            targets,
            rule_files=rule_files,
            scrape_interval=scrape_interval,
            ready_timeout_s=ready_timeout_s,
        )
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()
