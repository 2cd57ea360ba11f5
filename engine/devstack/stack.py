"""Start, inspect and stop the local Kafka + Redis pair as one unit.

Files under ``state_dir`` (default ``.dispatch`` in the CLI):
- ``dev.env``: ``DISPATCH_KAFKA_BOOTSTRAP=127.0.0.1:PORT`` and
  ``DISPATCH_REDIS_URL=redis://127.0.0.1:PORT/0`` for the services that are up
  (``set -a; . .dispatch/dev.env``).
- ``state.json``: pids, ports and data dirs of what ``up`` started; ``down`` stops exactly
  those processes (after checking ``/proc/PID/cmdline`` still names them) and removes both
  files. Data dirs ``kafka/`` and ``redis/`` are wiped on the next ``up``.

``up``/``down``/``status`` are for the CLI (processes outlive the caller); ``DevStack`` is
the in-process API for pytest fixtures (processes stay in the caller's process group and are
stopped by ``stop()`` / the context manager).
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from engine.devstack.kafka import START_TIMEOUT_S, KafkaBroker
from engine.devstack.maven import KAFKA_VERSION, default_cache_root, ensure_kafka_libs
from engine.devstack.redis import RedisServer
from engine.errors import DevstackError
from engine.logs import get_logger

log = get_logger(__name__)

STATE_FILE = "state.json"
ENV_FILE = "dev.env"
STATE_FORMAT_VERSION = 1
KAFKA_ENV = "DISPATCH_KAFKA_BOOTSTRAP"
REDIS_ENV = "DISPATCH_REDIS_URL"


@dataclass(frozen=True)
class Endpoints:
    """Where clients connect; None for a service that is not part of the stack."""

    kafka_bootstrap: str | None = None
    redis_url: str | None = None

    def env(self) -> dict[str, str]:
        """The environment variables the engine and the test fixtures read."""
        env = {}
        if self.kafka_bootstrap:
            env[KAFKA_ENV] = self.kafka_bootstrap
        if self.redis_url:
            env[REDIS_ENV] = self.redis_url
        return env


@dataclass(frozen=True)
class ServiceStatus:
    """One service recorded in the state file."""

    name: str
    pid: int | None
    endpoint: str
    running: bool
    answering: bool


def render_env_file(endpoints: Endpoints) -> str:
    """``KEY=value`` lines, sourceable by sh and readable by docker/systemd env files."""
    return "".join(f"{key}={value}\n" for key, value in endpoints.env().items())


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


class DevStack:
    """Local Kafka and/or Redis started together; ``start()`` runs them in parallel."""

    def __init__(
        self,
        state_dir: Path,
        *,
        kafka: bool = True,
        redis: bool = True,
        cache_root: Path | None = None,
        kafka_version: str = KAFKA_VERSION,
        detach: bool = False,
        quick_start: bool = False,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        """``quick_start``: C1-only JIT for Kafka (faster start, lower peak; see kafka.py)."""
        self.state_dir = state_dir.resolve()
        self.cache_root = cache_root or default_cache_root()
        self.kafka_version = kafka_version
        self.start_timeout_s = start_timeout_s
        self.kafka: KafkaBroker | None = None
        self.redis: RedisServer | None = None
        self._want_kafka, self._want_redis, self._detach = kafka, redis, detach
        self._quick_start = quick_start

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(
            kafka_bootstrap=self.kafka.bootstrap if self.kafka else None,
            redis_url=self.redis.url if self.redis else None,
        )

    def _start_kafka(self) -> None:
        libs = ensure_kafka_libs(self.cache_root, self.kafka_version)
        self.kafka = KafkaBroker(
            self.state_dir / "kafka", libs, detach=self._detach, quick_start=self._quick_start
        )
        self.kafka.start(self.start_timeout_s)

    def _start_redis(self) -> None:
        self.redis = RedisServer(self.state_dir / "redis", detach=self._detach)
        self.redis.start()

    def start(self) -> Endpoints:
        """Start the selected services; on any failure stop the others and raise."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        errors: list[str] = []
        try:
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="devstack") as pool:
                futures: list[Future[None]] = []
                if self._want_kafka:
                    futures.append(pool.submit(self._start_kafka))
                if self._want_redis:
                    futures.append(pool.submit(self._start_redis))
                for future in futures:
                    try:
                        future.result()
                    except (DevstackError, OSError) as exc:
                        errors.append(str(exc))
        except BaseException:  # e.g. Ctrl-C: detached children would be left untracked
            self.stop()
            raise
        if errors:
            self.stop()
            raise DevstackError("\n".join(errors))
        log.info("dev stack up in %.1f s: %s", time.monotonic() - started, self.endpoints)
        return self.endpoints

    def stop(self) -> list[str]:
        """Stop what this instance started; returns the names of services stopped."""
        stopped = []
        for name, service in (("kafka", self.kafka), ("redis", self.redis)):
            if service is not None and service.stop():
                stopped.append(name)
        return stopped

    def write_state(self) -> None:
        """Write ``state.json`` and ``dev.env`` describing the running services."""
        state: dict[str, Any] = {"format": STATE_FORMAT_VERSION, "written_at": time.time()}
        if self.kafka:
            state["kafka"] = self.kafka.to_state()
        if self.redis:
            state["redis"] = self.redis.to_state()
        _write_atomic(self.state_dir / STATE_FILE, json.dumps(state, indent=2) + "\n")
        _write_atomic(self.state_dir / ENV_FILE, render_env_file(self.endpoints))

    def __enter__(self) -> DevStack:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _load(state_dir: Path) -> tuple[KafkaBroker | None, RedisServer | None]:
    try:
        state = json.loads((state_dir / STATE_FILE).read_text())
    except FileNotFoundError:
        return None, None
    except ValueError as exc:
        raise DevstackError(f"unreadable {state_dir / STATE_FILE}: {exc}") from exc
    kafka = KafkaBroker.from_state(state["kafka"]) if "kafka" in state else None
    redis = RedisServer.from_state(state["redis"]) if "redis" in state else None
    return kafka, redis


def status(state_dir: Path) -> list[ServiceStatus]:
    """Each service recorded in ``state_dir``: running (pid is ours) and answering."""
    kafka, redis = _load(state_dir)
    result = []
    if kafka is not None:
        result.append(
            ServiceStatus("kafka", kafka.pid, kafka.bootstrap, kafka.running(), kafka.answering())
        )
    if redis is not None:
        result.append(
            ServiceStatus("redis", redis.pid, redis.url, redis.running(), redis.answering())
        )
    return result


def down(state_dir: Path) -> list[str]:
    """Stop the services recorded in ``state_dir``; returns the names actually stopped."""
    kafka, redis = _load(state_dir)
    stopped = [
        name
        for name, service in (("kafka", kafka), ("redis", redis))
        if service is not None and service.stop()
    ]
    for name in (STATE_FILE, ENV_FILE):
        (state_dir / name).unlink(missing_ok=True)
    return stopped


def up(
    state_dir: Path,
    *,
    kafka: bool = True,
    redis: bool = True,
    cache_root: Path | None = None,
    start_timeout_s: float = START_TIMEOUT_S,
) -> Endpoints:
    """Start detached services recorded in ``state_dir``; reuse them if already healthy.

    Leftovers of an earlier ``up`` that are not (all) healthy are stopped first.
    """
    current = status(state_dir)
    wanted = {name for name, on in (("kafka", kafka), ("redis", redis)) if on}
    if (
        current
        and {s.name for s in current} == wanted
        and all(s.running and s.answering for s in current)
    ):
        log.info("dev stack already up in %s", state_dir)
        found = {s.name: s.endpoint for s in current}
        return Endpoints(kafka_bootstrap=found.get("kafka"), redis_url=found.get("redis"))
    if current:
        log.info("stopping previous dev stack in %s: %s", state_dir, down(state_dir))
    stack = DevStack(
        state_dir,
        kafka=kafka,
        redis=redis,
        cache_root=cache_root,
        detach=True,
        start_timeout_s=start_timeout_s,
    )
    endpoints = stack.start()
    stack.write_state()
    return endpoints
