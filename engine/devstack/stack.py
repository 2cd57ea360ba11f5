"""Start, inspect, restart and stop the local Kafka + Redis services as one unit.

Files under ``state_dir`` (default ``.dispatch`` in the CLI):
- ``dev.env``: ``DISPATCH_KAFKA_BOOTSTRAP=127.0.0.1:P1[,127.0.0.1:P2,...]`` and
  ``DISPATCH_REDIS_URL=redis://127.0.0.1:P/0`` (or ``redis+cluster://127.0.0.1:P1,...``)
  for the services that are up (``set -a; . .dispatch/dev.env``).
- ``state.json``: pids, ports and data dirs of every node ``up`` started; ``down`` stops
  exactly those processes (after checking ``/proc/PID/cmdline`` still names them) and
  removes both files. ``restart`` / ``kill`` act on the recorded nodes and rewrite it.
- ``postgres/``: with ``postgres=True`` (``dispatch dev up --postgres``), a PostgreSQL
  server for the archive (``engine.devstack.postgres``; its URL goes into ``dev.env`` as
  ``DISPATCH_ARCHIVE_URL``). Without it the archive is a SQLite file in the state dir.
- ``kafka/`` and ``redis/``: the data, one ``node-<n>`` dir per node, and each service's
  ``layout.json`` (ports, cluster id). Data outlives ``down``: the next ``up`` of the same
  shape starts on it, on the same ports, without formatting; ``up --fresh`` (``wipe()``)
  discards it.

``up``/``down``/``status``/``restart``/``kill`` are for the CLI (processes outlive the
caller); ``DevStack`` is the in-process API for pytest fixtures and fault tests (processes
stay in the caller's process group and are stopped by ``stop()`` / the context manager):
``start(service, node)``, ``stop(...)``, ``kill(...)``, ``restart(...)`` act on one node
(``node`` = Kafka ``node.id`` or Redis node number, both from 1) or on every node.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from engine.devstack import kafka as kafka_mod
from engine.devstack import redis as redis_mod
from engine.devstack.kafka import START_TIMEOUT_S, KafkaBroker, KafkaCluster
from engine.devstack.maven import KAFKA_VERSION, default_cache_root, ensure_kafka_libs
from engine.devstack.postgres import PostgresServer
from engine.devstack.procs import STOP_GRACE_S
from engine.devstack.redis import RedisNodes, RedisServer
from engine.errors import DevstackError
from engine.logs import get_logger

log = get_logger(__name__)

STATE_FILE = "state.json"
ENV_FILE = "dev.env"
STATE_FORMAT_VERSION = 2
KAFKA_ENV = "DISPATCH_KAFKA_BOOTSTRAP"
REDIS_ENV = "DISPATCH_REDIS_URL"
ARCHIVE_ENV = "DISPATCH_ARCHIVE_URL"
SERVICES = ("kafka", "redis")


@dataclass(frozen=True)
class Endpoints:
    """Where clients connect; None for a service that is not part of the stack."""

    kafka_bootstrap: str | None = None
    redis_url: str | None = None
    archive_url: str | None = None  # the dev PostgreSQL, when started

    def env(self) -> dict[str, str]:
        """The environment variables the engine and the test fixtures read."""
        env = {}
        if self.kafka_bootstrap:
            env[KAFKA_ENV] = self.kafka_bootstrap
        if self.redis_url:
            env[REDIS_ENV] = self.redis_url
        if self.archive_url:
            env[ARCHIVE_ENV] = self.archive_url
        return env


@dataclass(frozen=True)
class ServiceStatus:
    """One node of a service recorded in the state file."""

    name: str
    pid: int | None
    endpoint: str
    running: bool
    answering: bool
    node: int = 1


def render_env_file(endpoints: Endpoints) -> str:
    """``KEY=value`` lines, sourceable by sh and readable by docker/systemd env files."""
    return "".join(f"{key}={value}\n" for key, value in endpoints.env().items())


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _check_service(service: str) -> None:
    if service not in SERVICES:
        raise DevstackError(f"unknown service {service!r}: one of {', '.join(SERVICES)}")


class DevStack:
    """Local Kafka and/or Redis started together; ``start()`` runs them in parallel.

    ``kafka_brokers``: KRaft nodes (1..9; from 3 on, replication factor 3 and
    ``min.insync.replicas`` 2). ``redis_cluster``: 0 for one plain ``redis-server``, else
    the number of Redis Cluster masters (>= 3). ``redis_persist``: an append-only file keeps
    Redis data across a restart (the CLI's stack); without it a restarted Redis is empty.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        kafka: bool = True,
        redis: bool = True,
        kafka_brokers: int = 1,
        redis_cluster: int = 0,
        redis_persist: bool = False,
        cache_root: Path | None = None,
        kafka_version: str = KAFKA_VERSION,
        detach: bool = False,
        quick_start: bool = False,
        start_timeout_s: float = START_TIMEOUT_S,
        postgres: bool = False,
    ) -> None:
        """``quick_start``: C1-only JIT for Kafka (faster start, lower peak; see kafka.py).
        ``postgres``: also a PostgreSQL server for the archive (started after the others)."""
        self.state_dir = state_dir.resolve()
        self.cache_root = cache_root or default_cache_root()
        self.kafka_version = kafka_version
        self.start_timeout_s = start_timeout_s
        self.kafka_brokers = kafka_brokers
        self.redis_cluster = redis_cluster
        self.redis_persist = redis_persist
        self.kafka_cluster: KafkaCluster | None = None
        self.redis_nodes: RedisNodes | None = None
        self._want_kafka, self._want_redis, self._detach = kafka, redis, detach
        self._quick_start = quick_start
        self._want_postgres = postgres
        self.postgres: PostgresServer | None = None

    # ---- handles ----------------------------------------------------------------------------
    @property
    def kafka(self) -> KafkaBroker | None:
        """The first Kafka node (the only one of a single-node stack)."""
        return (
            self.kafka_cluster.nodes[0] if self.kafka_cluster and self.kafka_cluster.nodes else None
        )

    @property
    def redis(self) -> RedisServer | None:
        """The first Redis node (the only one of a plain Redis)."""
        return self.redis_nodes.nodes[0] if self.redis_nodes and self.redis_nodes.nodes else None

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(
            kafka_bootstrap=(
                self.kafka_cluster.bootstrap
                if self.kafka_cluster and self.kafka_cluster.nodes
                else None
            ),
            redis_url=self.redis_nodes.url if self.redis_nodes and self.redis_nodes.nodes else None,
            archive_url=self.postgres.url if self.postgres is not None else None,
        )

    def _kafka_handle(self) -> KafkaCluster:
        if self.kafka_cluster is None:
            libs = ensure_kafka_libs(self.cache_root, self.kafka_version)
            self.kafka_cluster = KafkaCluster(
                self.state_dir / "kafka",
                libs,
                self.kafka_brokers,
                detach=self._detach,
                quick_start=self._quick_start,
            )
        return self.kafka_cluster

    def _postgres_handle(self) -> PostgresServer:
        if self.postgres is None:
            self.postgres = PostgresServer(self.state_dir / "postgres")
        return self.postgres

    def _redis_handle(self) -> RedisNodes:
        if self.redis_nodes is None:
            self.redis_nodes = RedisNodes(
                self.state_dir / "redis",
                self.redis_cluster or 1,
                cluster=self.redis_cluster > 0,
                persist=self.redis_persist,
                detach=self._detach,
            )
        return self.redis_nodes

    def _wanted(self, service: str | None) -> list[str]:
        if service is not None:
            _check_service(service)
            return [service]
        return [s for s, on in (("kafka", self._want_kafka), ("redis", self._want_redis)) if on]

    def check_layout(self) -> None:
        """Raise if the data under ``state_dir`` belongs to a stack of another shape."""
        if self._want_kafka:
            kafka_mod.check_layout(self.state_dir / "kafka", self.kafka_brokers)
        if self._want_redis:
            redis_mod.check_layout(
                self.state_dir / "redis", self.redis_cluster or 1, self.redis_cluster > 0
            )

    # ---- life cycle -------------------------------------------------------------------------
    def _start_service(self, service: str, node: int | None) -> None:
        if service == "kafka":
            cluster = self._kafka_handle()
            if node is None:
                cluster.start(self.start_timeout_s)
            else:
                cluster.start_node(node, self.start_timeout_s)
        else:
            nodes = self._redis_handle()
            if node is None:
                nodes.start()
            else:
                nodes.start_node(node)

    def start(self, service: str | None = None, node: int | None = None) -> Endpoints:
        """Start the selected services (or one ``service``, or one ``node`` of it) on their
        data, formatting only empty data dirs; on any failure stop the others and raise."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        errors: list[str] = []
        services = self._wanted(service)
        try:
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="devstack") as pool:
                futures: list[Future[None]] = [
                    pool.submit(self._start_service, name, node) for name in services
                ]
                for future in futures:
                    try:
                        future.result()
                    except (DevstackError, OSError) as exc:
                        errors.append(str(exc))
        except BaseException:  # e.g. Ctrl-C: detached children would be left untracked
            self.stop()
            raise
        if not errors and service is None and self._want_postgres:
            try:
                self._postgres_handle().start(self.start_timeout_s)
            except (DevstackError, OSError) as exc:
                errors.append(f"postgres: {exc}")
        if errors:
            if service is None:
                self.stop()
            raise DevstackError("\n".join(errors))
        log.info("dev stack up in %.1f s: %s", time.monotonic() - started, self.endpoints)
        return self.endpoints

    def _handles(self, service: str | None) -> list[tuple[str, Any]]:
        """(name, KafkaCluster or RedisNodes) of ``service``, or of every service present."""
        if service is not None:
            _check_service(service)
        found = []
        for name in SERVICES if service is None else [service]:
            handle = self.kafka_cluster if name == "kafka" else self.redis_nodes
            if handle is not None:
                found.append((name, handle))
            elif service is not None:
                raise DevstackError(f"{name} is not part of this dev stack")
        return found

    def _act(
        self, service: str | None, node: int | None, action: Callable[[Any, int], bool]
    ) -> list[str]:
        """``action(handle, node number)`` on the chosen nodes; the labels (``kafka node
        2``) of those it returned True for."""
        done = []
        for name, handle in self._handles(service):
            if node is not None:
                numbers = [node]
            elif name == "kafka":
                numbers = [n.node_id for n in handle.nodes]
            else:
                numbers = list(range(1, len(handle.nodes) + 1))
            done += [f"{name} node {n}" for n in numbers if action(handle, n)]
        return done

    def stop(
        self, service: str | None = None, node: int | None = None, grace_s: float = STOP_GRACE_S
    ) -> list[str]:
        """SIGTERM (SIGKILL after ``grace_s``) what this instance started, or one service or
        node (data is kept); returns the names of the services of which a node was running."""
        if node is not None:
            labels = self._act(service, node, lambda h, n: h.stop_node(n, grace_s))
            return sorted({label.split()[0] for label in labels}, key=SERVICES.index)
        stopped = [name for name, handle in self._handles(service) if handle.stop(grace_s)]
        if service is None and self.postgres is not None and self.postgres.stop(grace_s):
            stopped.append("postgres")
        return stopped

    def kill(self, service: str | None = None, node: int | None = None) -> list[str]:
        """SIGKILL (a crash) every node of ``service``, or one; returns the nodes killed."""
        return self._act(service, node, lambda h, n: h.kill_node(n))

    def restart(
        self, service: str, node: int | None = None, grace_s: float = STOP_GRACE_S
    ) -> Endpoints:
        """Stop (SIGTERM, SIGKILL after ``grace_s``) and start again on the same data and
        ports, without formatting; returns once the nodes are ready again."""
        _check_service(service)
        self.stop(service, node, grace_s)
        return self.start(service, node)

    def wipe(self) -> None:
        """Discard the data of the selected services (they must be stopped)."""
        if self._want_kafka:
            self._kafka_handle().wipe()
        if self._want_redis:
            self._redis_handle().wipe()

    # ---- state ------------------------------------------------------------------------------
    def write_state(self) -> None:
        """Write ``state.json`` and ``dev.env`` describing the services."""
        state: dict[str, Any] = {"format": STATE_FORMAT_VERSION, "written_at": time.time()}
        if self.kafka_cluster and self.kafka_cluster.nodes:
            state["kafka"] = self.kafka_cluster.to_state()
        if self.redis_nodes and self.redis_nodes.nodes:
            state["redis"] = self.redis_nodes.to_state()
        if self.postgres is not None:
            state["postgres"] = self.postgres.to_state()
        _write_atomic(self.state_dir / STATE_FILE, json.dumps(state, indent=2) + "\n")
        _write_atomic(self.state_dir / ENV_FILE, render_env_file(self.endpoints))

    @classmethod
    def from_state(cls, state_dir: Path) -> DevStack | None:
        """Handles on the detached services recorded in ``state_dir`` (None if none)."""
        try:
            state = json.loads((state_dir / STATE_FILE).read_text())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise DevstackError(f"unreadable {state_dir / STATE_FILE}: {exc}") from exc
        kafka = KafkaCluster.from_state(state["kafka"]) if "kafka" in state else None
        redis = RedisNodes.from_state(state["redis"]) if "redis" in state else None
        stack = cls(
            state_dir,
            kafka=kafka is not None,
            redis=redis is not None,
            kafka_brokers=len(kafka.nodes) if kafka else 1,
            redis_cluster=len(redis.nodes) if redis and redis.cluster else 0,
            redis_persist=redis.persist if redis else False,
            detach=True,
            quick_start=kafka.quick_start if kafka else False,
            postgres="postgres" in state,
        )
        stack.kafka_cluster, stack.redis_nodes = kafka, redis
        if "postgres" in state:
            stack.postgres = PostgresServer.from_state(state["postgres"])
        return stack

    def status(self) -> list[ServiceStatus]:
        """Every node: running (the pid is ours) and answering (ready for clients)."""
        result = []
        if self.kafka_cluster is not None:
            result += [
                ServiceStatus(
                    "kafka", n.pid, n.bootstrap, n.running(), n.answering(), node=n.node_id
                )
                for n in self.kafka_cluster.nodes
            ]
        if self.redis_nodes is not None:
            nodes = self.redis_nodes
            result += [
                ServiceStatus(
                    "redis",
                    n.pid,
                    n.address if nodes.cluster else n.url,
                    n.running(),
                    nodes.answering(n),
                    node=i,
                )
                for i, n in enumerate(nodes.nodes, start=1)
            ]
        if self.postgres is not None:
            pg = self.postgres
            result.append(ServiceStatus("postgres", pg.pid, pg.url, pg.running(), pg.answering()))
        return result

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


def status(state_dir: Path) -> list[ServiceStatus]:
    """Each node recorded in ``state_dir``: running (pid is ours) and answering."""
    stack = DevStack.from_state(state_dir)
    return stack.status() if stack else []


def down(state_dir: Path) -> list[str]:
    """Stop the services recorded in ``state_dir`` (their data stays); returns the names of
    the services actually stopped."""
    stack = DevStack.from_state(state_dir)
    stopped = stack.stop() if stack else []
    for name in (STATE_FILE, ENV_FILE):
        (state_dir / name).unlink(missing_ok=True)
    return stopped


def _recorded(state_dir: Path) -> DevStack:
    stack = DevStack.from_state(state_dir)
    if stack is None:
        raise DevstackError(f"no dev stack recorded in {state_dir}: run `dispatch dev up` first")
    return stack


def restart(
    state_dir: Path,
    service: str,
    node: int | None = None,
    *,
    start_timeout_s: float = START_TIMEOUT_S,
) -> Endpoints:
    """Restart a recorded service (or one node of it) on its data and ports."""
    stack = _recorded(state_dir)
    stack.start_timeout_s = start_timeout_s
    try:
        return stack.restart(service, node)
    finally:
        stack.write_state()


def kill(state_dir: Path, service: str, node: int | None = None) -> list[str]:
    """SIGKILL a recorded service (or one node of it); returns the nodes killed."""
    return _recorded(state_dir).kill(service, node)


def up(
    state_dir: Path,
    *,
    kafka: bool = True,
    redis: bool = True,
    kafka_brokers: int = 1,
    redis_cluster: int = 0,
    fresh: bool = False,
    cache_root: Path | None = None,
    start_timeout_s: float = START_TIMEOUT_S,
    postgres: bool = False,
) -> Endpoints:
    """Start detached services recorded in ``state_dir``; reuse them if already healthy and
    of the requested shape. Leftovers of an earlier ``up`` that are not (all) healthy are
    stopped first; the data of an earlier stack of the same shape is reused (``fresh``:
    discarded). Redis keeps its data across restarts (append-only file)."""
    stack = DevStack(
        state_dir,
        kafka=kafka,
        redis=redis,
        kafka_brokers=kafka_brokers,
        redis_cluster=redis_cluster,
        redis_persist=True,
        cache_root=cache_root,
        detach=True,
        start_timeout_s=start_timeout_s,
        postgres=postgres,
    )
    current = DevStack.from_state(state_dir)
    if current is not None and not fresh and _same_shape(current, stack):
        nodes = current.status()
        if nodes and all(s.running and s.answering for s in nodes):
            log.info("dev stack already up in %s", state_dir)
            return current.endpoints
    if not fresh:
        stack.check_layout()  # before stopping anything: a mismatch changes nothing
    if current is not None:
        log.info("stopping previous dev stack in %s: %s", state_dir, down(state_dir))
    if fresh:
        stack.wipe()
        if postgres:
            stack._postgres_handle().wipe()
    endpoints = stack.start()
    stack.write_state()
    return endpoints


def _same_shape(a: DevStack, b: DevStack) -> bool:
    def shape(s: DevStack) -> tuple[Any, ...]:
        kafka = (s.kafka_brokers,) if s._want_kafka else None
        redis = (s.redis_cluster, s.redis_persist) if s._want_redis else None
        return kafka, redis, s._want_postgres

    return shape(a) == shape(b)
