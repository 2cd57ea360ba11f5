"""The gateway's event streams, fed from Kafka: one reader thread per gateway replica.

Every replica reads every partition of ``dispatch.assignments`` and ``sla.events`` itself
(``KafkaTail``: no consumer group), from ``retention_s`` ago, decodes the records
(``engine.gateway.feed``) and publishes them to its :class:`StreamHub`, which serves the
SSE routes of :func:`engine.gateway.streams.streams_router`. The hub is thread-safe, so
the reader needs no event loop: start it before the server, stop it after.

Wiring, in the gateway's composition root::

    hub, stop_streams = start_streams(settings)
    gateway.extras.setdefault("routers", []).append(streams_router(hub))
    app = create_app(gateway, ready=lambda: hub.live and ...)
    server = uvicorn.Server(uvicorn.Config(app, ...))
    # on SIGTERM/SIGINT: stop_streams() first, then server.should_exit = True
    try:
        server.run()
    finally:
        stop_streams()

A new stream is refused (503, ``Retry-After``) until the reader caught up with the log
(``hub.live``), so a replica reports ready only then. An event stream never ends by itself:
uvicorn's graceful shutdown waits for open responses (forever, or ``timeout_graceful_shutdown``
and then cancels them), so stop the streams when shutdown starts -- ``stop_streams()`` ends
every open stream at once (EventSource clients reconnect to another replica with their
Last-Event-ID) -- not only after the server returned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from engine.adapters.kafka import KafkaTail
from engine.config import Settings
from engine.errors import LogError, Unavailable
from engine.gateway.feed import STREAM_TOPICS, Feed, Tail
from engine.gateway.hub import MAX_PER_TENANT, MAX_SUBSCRIBERS, QUEUE_MAX, RETENTION_S, StreamHub
from engine.gateway.streams import streams_router
from engine.logs import get_logger

__all__ = ["StreamReader", "start_streams", "streams_router"]

log = get_logger(__name__)

MAX_RECORDS = 500
POLL_MS = 100
RETRY_S = 1.0
STOP_TIMEOUT_S = 10.0


class StreamReader(threading.Thread):
    """Polls ``tail`` and publishes what ``feed`` makes of the records to ``hub``; marks
    the hub live once the tail caught up. Outages are retried every ``retry_s``."""

    def __init__(
        self,
        tail: Tail,
        feed: Feed,
        hub: StreamHub,
        *,
        max_records: int = MAX_RECORDS,
        poll_ms: int = POLL_MS,
        retry_s: float = RETRY_S,
    ) -> None:
        super().__init__(name="gateway-streams", daemon=True)
        self._tail, self._feed, self._hub = tail, feed, hub
        self._max_records, self._poll_ms, self._retry_s = max_records, poll_ms, retry_s
        self._halt = threading.Event()
        self._tail_started = False
        self.records = 0
        self.failures = 0

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                try:
                    self._step()
                except (Unavailable, LogError) as exc:
                    self.failures += 1
                    log.warning("event streams: %s; retrying in %.0f s", exc, self._retry_s)
                    self._halt.wait(self._retry_s)
                except Exception:
                    self.failures += 1
                    log.exception("event streams: unexpected error; retrying")
                    self._halt.wait(self._retry_s)
        finally:
            self._tail.close()

    def _step(self) -> None:
        if not self._tail_started:
            self._hub.start(self._feed.start(self._tail.start()))
            self._tail_started = True
        records = self._tail.poll(self._max_records, self._poll_ms)
        if records:
            self.records += len(records)
            self._hub.publish(self._feed.read(records), self._feed.position())
        if not self._hub.live and self._tail.caught_up():
            self._hub.set_live()
            log.info("event streams live at %s (%d records read)", self._hub.position, self.records)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout_s)


def start_streams(
    settings: Settings,
    *,
    retention_s: float = RETENTION_S,
    max_per_tenant: int = MAX_PER_TENANT,
    queue_max: int = QUEUE_MAX,
    max_subscribers: int = MAX_SUBSCRIBERS,
) -> tuple[StreamHub, Callable[[], None]]:
    """A hub fed from Kafka by a reader thread started now, and the callable that stops
    both (ends every open stream; idempotent)."""
    hub = StreamHub(
        retention_s=retention_s,
        max_per_tenant=max_per_tenant,
        queue_max=queue_max,
        max_subscribers=max_subscribers,
    )
    topics = [settings.topic(logical) for logical, _ in STREAM_TOPICS]
    since_ms = int(time.time() * 1000 - retention_s * 1000)
    tail = KafkaTail(settings.kafka, topics, since_ms=since_ms, role="gateway-streams")
    reader = StreamReader(tail, Feed(topics), hub)
    reader.start()

    def stop() -> None:
        hub.close()
        reader.stop()

    return hub, stop
