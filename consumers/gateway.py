"""`dispatch run gateway`: one replica of the stateless HTTP gateway.

Composition root: the ASGI application (``engine.gateway.app``) on uvicorn, Kafka's
idempotent producer as the publisher (a write is answered 202 once ``acks=all`` came back),
the agent, SLA and token stores on one Redis client. Any number of replicas run behind a
load balancer; each holds nothing but connections.

``/readyz`` is ready when Redis answers and the Kafka cluster was reachable at the last
probe (every ``PROBE_EVERY_S``, in a thread: a probe never delays a request). SIGTERM or
SIGINT: stop accepting, answer the requests in flight (up to ``server.GRACEFUL_S``), flush
the producer, exit 0.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from consumers.gateway_streams import start_streams, streams_router
from consumers.loop import install_stop_signals
from engine.adapters.kafka import KafkaEventLog, broker_count
from engine.adapters.redis import RedisAgentStore, client_from_url
from engine.adapters.redis.sla_store import RedisSlaStore
from engine.adapters.redis.tokens import RedisTokenStore
from engine.archive import db as archive_db
from engine.clock import WallClock
from engine.config import Settings
from engine.errors import EngineError
from engine.exitcodes import RET_INVALID, RET_OK
from engine.gateway.app import create_app
from engine.gateway.deps import Gateway
from engine.gateway.server import bind, serve
from engine.logs import get_logger
from engine.policy_file import load_policy

log = get_logger(__name__)

PROBE_EVERY_S = 5.0
PROBE_STALE_S = 30.0  # a probe older than this (a hung one) counts as a failure


class KafkaProbe:
    """Whether the Kafka cluster answers: ``broker_count`` (a short-lived admin client) in a
    daemon thread every ``every_s``; ``ok`` is the last result, if recent."""

    def __init__(self, settings: Settings, every_s: float = PROBE_EVERY_S) -> None:
        self._settings = settings
        self._every_s = every_s
        self._ok_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kafka-probe", daemon=True)

    @property
    def ok(self) -> bool:
        return time.monotonic() - self._ok_at < PROBE_STALE_S

    def start(self) -> KafkaProbe:
        self._thread.start()
        return self

    def _run(self) -> None:
        was = None
        while not self._stop.is_set():
            try:
                broker_count(self._settings)
                self._ok_at, now = time.monotonic(), True
            except EngineError as exc:
                self._ok_at, now = 0.0, False
                if was is not False:
                    log.warning("kafka unreachable (not ready): %s", exc)
            if now and was is False:
                log.info("kafka reachable again (ready)")
            was = now
            self._stop.wait(self._every_s)

    def stop(self) -> None:
        self._stop.set()


@dataclass
class Parts:
    app: Any
    publisher: KafkaEventLog
    redis: Any
    probe: KafkaProbe

    stop_streams: Callable[[], None] = field(default=lambda: None)

    def close(self) -> None:
        self.stop_streams()
        self.probe.stop()
        self.publisher.close()
        self.redis.close()


def _nothing() -> None:
    return None


def build(settings: Settings, *, probe: KafkaProbe | None = None, streams: bool = True) -> Parts:
    """The application and what it holds, on Kafka and Redis. With ``streams``, the SSE
    routes are served and their reader thread (``consumers.gateway_streams``) starts now;
    a replica is ready once that reader caught up with the log."""
    timeout_ms = settings.gateway.publish_timeout_ms
    # send() blocks for topic metadata up to max_block_ms: no longer than a write may wait.
    publisher = KafkaEventLog(settings.kafka, max_block_ms=timeout_ms)
    client = client_from_url(settings.redis_url)
    prefix = settings.redis_prefix
    tokens = RedisTokenStore(client, prefix)
    gateway = Gateway(
        publisher=publisher,
        store=RedisAgentStore(client, prefix=prefix),
        tokens=tokens,
        policy=load_policy(settings.policy_path),
        clock=WallClock(),
        topic=settings.topic,
        sla=RedisSlaStore(client, prefix=prefix),
        publish_timeout_s=timeout_ms / 1000,
    )
    # the archive's routes (engine.gateway.routes_reports) read DISPATCH_ARCHIVE_URL
    gateway.extras["archive"] = archive_db.engine_for(settings)
    kafka = probe or KafkaProbe(settings)
    hub = None
    stop_streams = _nothing
    if streams:
        hub, stop_streams = start_streams(settings)
        gateway.extras.setdefault("routers", []).append(streams_router(hub))

    def ready() -> bool:
        try:
            tokens.find("")  # one HGET: Redis answers
        except EngineError:
            return False
        return kafka.ok and (hub is None or hub.live)

    return Parts(create_app(gateway, ready=ready), publisher, client, kafka, stop_streams)


def run(settings: Settings) -> int:
    """Serve until SIGTERM/SIGINT; returns a process exit code."""
    host, port = settings.gateway.host, settings.gateway.port
    try:
        sock = bind(host, port)
    except OSError as exc:
        print(
            f"dispatch: DISPATCH_GATEWAY_PORT: cannot listen on {host}:{port}: {exc.strerror}",
            file=sys.stderr,
        )
        return RET_INVALID
    parts = build(settings)
    stop = threading.Event()
    # uvicorn handles SIGTERM/SIGINT while it serves and raises the signal again once it has
    # shut down gracefully: this handler takes that one, so the process exits 0.
    install_stop_signals(stop)
    parts.probe.start()
    log.info(
        "gateway serving on http://%s:%s (kafka %s, redis prefix %s, policy %s)",
        host,
        sock.getsockname()[1],
        ",".join(settings.kafka.bootstrap_servers),
        settings.redis_prefix,
        settings.policy_path or "(built-in demo policy)",
    )
    try:
        serve(parts.app, sock, on_exit=parts.stop_streams)  # streams end as shutdown starts
    finally:
        parts.close()
        sock.close()
        log.info("gateway stopped")
    return RET_OK
