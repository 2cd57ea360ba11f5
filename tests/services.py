"""pytest plugin: real Kafka and Redis endpoints for integration tests (docs/architecture.md,
"Testing", gives the order in which they are found).

Enable with ``pytest_plugins = ["tests.services"]`` in tests/conftest.py.

Fixtures:
- ``kafka_bootstrap`` (session): ``"host:port"`` of a Kafka broker.
- ``redis_url`` (session): ``"redis://host:port/0"``.
- ``redis_server`` (function): handle with ``kill()`` (SIGKILL) and ``restart()`` (same port,
  empty data) on a Redis started by this plugin; skipped (failed under ``CI``) when Redis came
  from the environment or a container. A killed server is restarted after the test.
- ``postgres_server`` (session): a :class:`engine.devstack.postgres.PostgresServer` started
  by this plugin (a temp dir, a free loopback port, ``fsync`` off), or None when
  ``DISPATCH_TEST_POSTGRES_URL`` names a server to use instead; skipped (failed under ``CI``)
  when PostgreSQL is not installed.
- ``postgres_url`` (function): the URL of a fresh, empty database on that server, dropped
  after the test.
- ``archive_url`` (function, parametrized ``sqlite`` / ``postgresql``): an empty archive
  database, migrated to the newest revision: every archive test runs on both backends.
- ``unique_name`` (function): ``unique_name("topic")`` -> fresh name, legal as a Kafka topic,
  group id or Redis key prefix, unique per call.
- ``multinode_stack`` (session, opt-in: started only when a test asks for it): a
  :class:`engine.devstack.DevStack` of 3 Kafka nodes (replication factor 3,
  ``min.insync.replicas`` 2) and a 3-master Redis Cluster (append-only files, so a restarted
  master keeps its data), started by the same code as ``dispatch dev up --kafka-brokers 3
  --redis-cluster 3``; ``.endpoints`` gives the bootstrap list and the ``redis+cluster://``
  URL, ``.kill/.restart/.start("kafka"|"redis", node=...)`` inject faults. A test that kills
  or stops nodes brings them back before it ends (``multinode_stack.start()`` starts every
  node that is down). Skipped when it cannot start, failed under ``CI``.

Each service is resolved on first use, in this order: env ``DISPATCH_KAFKA_BOOTSTRAP`` /
``DISPATCH_REDIS_URL`` -> testcontainers if a Docker engine answers ``/_ping`` -> local
processes via ``engine.devstack`` (jar cache root: env ``DISPATCH_KAFKA_CACHE`` or
``~/.cache/ticket-dispatch``). If none works: ``pytest.fail`` when ``CI`` is set, else
``pytest.skip``, with the reasons. Everything started here is stopped at session end.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from engine.devstack import DevStack, RedisServer, default_cache_root
from engine.devstack.stack import KAFKA_ENV, REDIS_ENV
from engine.errors import DevstackError

log = logging.getLogger(__name__)

CACHE_ENV = "DISPATCH_KAFKA_CACHE"
KAFKA_IMAGE_ENV = "DISPATCH_TEST_KAFKA_IMAGE"
REDIS_IMAGE_ENV = "DISPATCH_TEST_REDIS_IMAGE"
DEFAULT_KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"
DEFAULT_REDIS_IMAGE = "redis:7"
DOCKER_PING_TIMEOUT_S = 3.0
NAME_NODE_CHARS = 30
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def unavailable(reason: str) -> NoReturn:
    """Fail under CI (a missing service or tool is a broken pipeline), skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _docker_ping(host: str) -> bool:
    request = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"
    try:
        if host.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        elif host.startswith("tcp://"):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        else:
            return False
        with sock:
            sock.settimeout(DOCKER_PING_TIMEOUT_S)
            if host.startswith("unix://"):
                sock.connect(host.removeprefix("unix://"))
            else:
                name, _, port = host.removeprefix("tcp://").rstrip("/").rpartition(":")
                sock.connect((name, int(port)))
            sock.sendall(request)
            status_line = sock.recv(256).split(b"\r\n", 1)[0]
    except (OSError, ValueError):
        return False
    return b" 200 " in status_line + b" "


@functools.cache
def docker_available() -> bool:
    """True if a Docker engine answers ``/_ping`` at ``$DOCKER_HOST`` or the default socket."""
    return _docker_ping(os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"))


def kafka_cache_root() -> Path:
    """Root of the Kafka jar cache: ``$DISPATCH_KAFKA_CACHE`` or ``~/.cache/ticket-dispatch``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else default_cache_root()


@dataclass
class RedisService:
    """Where Redis came from; ``local`` is set only if this plugin started it."""

    url: str
    source: str
    local: RedisServer | None = None


def _start_container(kind: str, stack: ExitStack) -> str:
    """Start a Kafka or Redis container; returns its endpoint (raises on any problem)."""
    if kind == "kafka":
        try:
            from testcontainers.community.kafka import KafkaContainer
        except ImportError:  # testcontainers < 4.14
            from testcontainers.kafka import KafkaContainer
        image = os.environ.get(KAFKA_IMAGE_ENV, DEFAULT_KAFKA_IMAGE)
        kafka: Any = stack.enter_context(KafkaContainer(image).with_kraft())
        return str(kafka.get_bootstrap_server())
    try:
        from testcontainers.community.redis import RedisContainer
    except ImportError:  # testcontainers < 4.14
        from testcontainers.redis import RedisContainer
    redis: Any = stack.enter_context(
        RedisContainer(os.environ.get(REDIS_IMAGE_ENV, DEFAULT_REDIS_IMAGE))
    )
    return f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0"


def _resolve(
    kind: str, env_name: str, stack: ExitStack, tmp: pytest.TempPathFactory
) -> tuple[str, str, DevStack | None]:
    """(endpoint, source, local stack or None) for ``kind``; skips/fails if none works."""
    from_env = os.environ.get(env_name, "").strip()
    if from_env:
        return from_env, "env", None
    reasons = []
    if docker_available():
        try:
            return _start_container(kind, stack), "testcontainers", None
        except Exception as exc:  # any container failure: fall back to local processes
            reasons.append(f"testcontainers: {type(exc).__name__}: {exc}")
    else:
        reasons.append("no Docker engine answered /_ping")
    local = DevStack(
        tmp.mktemp(f"devstack-{kind}"),
        kafka=kind == "kafka",
        redis=kind == "redis",
        cache_root=kafka_cache_root(),
        quick_start=True,  # tests never measure broker throughput
    )
    try:
        endpoints = local.start()
    except DevstackError as exc:
        reasons.append(f"local {kind}: {exc}")
        unavailable(f"no {kind} for integration tests (set {env_name}): " + "; ".join(reasons))
    stack.callback(local.stop)
    endpoint = endpoints.kafka_bootstrap if kind == "kafka" else endpoints.redis_url
    assert endpoint is not None
    return endpoint, "local", local


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a Kafka broker shared by the test session."""
    with ExitStack() as stack:
        endpoint, source, _ = _resolve("kafka", KAFKA_ENV, stack, tmp_path_factory)
        log.info("kafka for tests: %s (%s)", endpoint, source)
        yield endpoint


@pytest.fixture(scope="session")
def redis_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisService]:
    """The session's Redis and where it came from (see ``RedisService``)."""
    with ExitStack() as stack:
        url, source, local = _resolve("redis", REDIS_ENV, stack, tmp_path_factory)
        log.info("redis for tests: %s (%s)", url, source)
        yield RedisService(url, source, local.redis if local else None)


@pytest.fixture(scope="session")
def redis_url(redis_service: RedisService) -> str:
    """``redis://host:port/0`` of a Redis server shared by the test session."""
    return redis_service.url


@pytest.fixture
def redis_server(redis_service: RedisService) -> Iterator[RedisServer]:
    """The locally started Redis, for chaos tests (``kill()``, ``restart()``)."""
    server = redis_service.local
    if server is None:
        unavailable(
            f"redis_server needs a Redis started by the tests, not one from "
            f"{redis_service.source} (unset {REDIS_ENV} to let the tests start one)"
        )
    yield server
    if not server.answering():
        server.restart()


POSTGRES_ENV = "DISPATCH_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The session's PostgreSQL (``PostgresServer``), or None with ``DISPATCH_TEST_POSTGRES_URL``
    (a server of your own: each test creates and drops its own database on it)."""
    from engine.devstack import postgres

    if os.environ.get(POSTGRES_ENV, "").strip():
        yield None
        return
    if not postgres.available():
        unavailable("PostgreSQL is not installed (apt-get install postgresql; tests/run.sh does)")
    server = postgres.PostgresServer(tmp_path_factory.mktemp("postgres"), durable=False)
    try:
        server.start()
    except DevstackError as exc:
        unavailable(f"no PostgreSQL for the tests: {exc}")
    log.info("postgres for tests: %s", server.url)
    try:
        yield server
    finally:
        server.stop()
        server.wipe()


def _admin_url(url: str) -> tuple[str, str]:
    """(URL of the server's ``postgres`` database, the database named by ``url``)."""
    base, _, database = url.rpartition("/")
    return f"{base}/postgres", database


@pytest.fixture
def postgres_url(postgres_server: Any) -> Iterator[str]:
    """A fresh empty database of the session's PostgreSQL, dropped after the test."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    if postgres_server is not None:
        url = postgres_server.create_database(name)
    else:
        admin, _ = _admin_url(os.environ[POSTGRES_ENV].strip())
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{admin.rpartition('/')[0]}/{name}"
    yield url
    admin, _ = _admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def archive_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty archive database at the newest migration, on SQLite and on PostgreSQL."""
    from engine.archive import db

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'archive.db'}"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    engine = db.make_engine(url)
    try:
        db.upgrade(engine)
    finally:
        engine.dispose()
    return url


MULTINODE_KAFKA_BROKERS = 3
MULTINODE_REDIS_MASTERS = 3


@pytest.fixture(scope="session")
def multinode_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """3 Kafka nodes + a 3-master Redis Cluster as local processes, for the session."""
    stack = DevStack(
        tmp_path_factory.mktemp("multinode"),
        kafka_brokers=MULTINODE_KAFKA_BROKERS,
        redis_cluster=MULTINODE_REDIS_MASTERS,
        redis_persist=True,
        cache_root=kafka_cache_root(),
        quick_start=True,  # tests never measure broker throughput
    )
    started = time.monotonic()
    try:
        stack.start()
    except DevstackError as exc:
        unavailable(f"no multi-node Kafka + Redis Cluster for the tests: {exc}")
    log.info("multi-node stack up in %.1f s: %s", time.monotonic() - started, stack.endpoints)
    try:
        yield stack
    finally:
        stack.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use ``multinode_stack`` run last (in their order): the session-scoped
    stack (3 JVM brokers, 3 Redis masters) then idles through no other test's run."""
    late = {id(i) for i in items if "multinode_stack" in getattr(i, "fixturenames", ())}
    if late:
        items[:] = [i for i in items if id(i) not in late] + [i for i in items if id(i) in late]


def sanitize_name(text: str) -> str:
    """Keep characters legal in Kafka topic names (``[A-Za-z0-9._-]``), collapse the rest."""
    return _UNSAFE_NAME_CHARS.sub("-", text).strip("-.") or "t"


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Factory: ``unique_name("orders")`` -> ``"orders-test_x-1a2b3c4d"``, new on every call."""
    node = sanitize_name(request.node.name[:NAME_NODE_CHARS])

    def make(prefix: str = "") -> str:
        parts = [sanitize_name(prefix)] if prefix else []
        return "-".join([*parts, node, uuid.uuid4().hex[:8]])

    return make


def isolated_env(
    kafka_bootstrap: str, redis_url: str, prefix: str, *, partitions: int, **extra: str
) -> dict[str, str]:
    """DISPATCH_* settings of one test on the session's Kafka and Redis: topics behind
    ``prefix.``, Redis keys under ``prefix``, plus ``extra``; the topics are created with
    ``default_topic_specs(partitions=...)``."""
    from engine.adapters.kafka import create_topics, default_topic_specs
    from engine.config import Settings

    env = {
        "DISPATCH_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "DISPATCH_REDIS_URL": redis_url,
        "DISPATCH_TOPIC_PREFIX": prefix + ".",
        "DISPATCH_REDIS_PREFIX": prefix,
        **extra,
    }
    settings = Settings.from_env(env, dev_env=None)
    create_topics(settings, default_topic_specs(settings, partitions=partitions))
    return env


DELETE_BATCH = 500


def delete_prefix(client: Any, prefix: str) -> None:
    """Delete every key under ``prefix:`` (the test's own keys only)."""
    batch = []
    for key in client.scan_iter(match=f"{prefix}:*", count=DELETE_BATCH):
        batch.append(key)
        if len(batch) >= DELETE_BATCH:
            client.delete(*batch)
            batch.clear()
    if batch:
        client.delete(*batch)
