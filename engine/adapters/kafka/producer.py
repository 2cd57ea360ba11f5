"""``KafkaEventLog``: the :class:`engine.ports.EventLog` port on a kafka-python producer.

Contract (beyond the port's):
- Connects lazily: the first ``send``/``flush``/``connect`` bootstraps the client, so
  building one never blocks and never fails on a missing cluster.
- Idempotent producer, ``acks=all``: a broker retry never duplicates or reorders records
  of one partition.
- ``send`` only queues (it may block up to ``max_block_ms`` for topic metadata or buffer
  space). A record that later fails is remembered and ``flush`` raises for it: callers
  commit consumer offsets only after a ``flush`` that returned.
- Errors are :class:`LogUnavailable` (retry later) or :class:`LogError`; a topic that does
  not exist times out as ``LogUnavailable`` (topics are never auto-created).
- Thread-safe, like the kafka-python producer underneath.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType, TracebackType
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError

from engine.adapters.kafka.errors import translate, translated
from engine.adapters.kafka.options import build, client_options
from engine.config import KafkaSettings
from engine.errors import LogError, LogUnavailable
from engine.logs import get_logger

__all__ = ["PRODUCER_DEFAULTS", "KafkaEventLog"]

log = get_logger(__name__)

FLUSH_TIMEOUT_S = 60.0
CLOSE_TIMEOUT_S = 10.0

PRODUCER_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,  # a dispatcher flushes per batch anyway; 5 ms fills batches
        "batch_size": 256 * 1024,
        # Above the dead-letter topic's 4 MiB: other topics' records are bounded far below
        # (the codec refuses events over 256 KiB) and the broker enforces each topic's limit.
        "max_request_size": 5 * 1024 * 1024,
        "max_in_flight_requests_per_connection": 5,  # the idempotent maximum, keeps order
        "delivery_timeout_ms": 120_000,
        "max_block_ms": 10_000,
        "allow_auto_create_topics": False,
    }
)


class KafkaEventLog:
    """Produce to Kafka. ``overrides`` are kafka-python ``KafkaProducer`` options."""

    def __init__(self, settings: KafkaSettings, **overrides: Any) -> None:
        self._config: dict[str, Any] = {
            **client_options(settings, "producer"),
            **PRODUCER_DEFAULTS,
            **overrides,
        }
        self._producer: Any = None  # kafka.KafkaProducer, created on first use
        self._lock = threading.Lock()
        self._failures: list[BaseException] = []
        self._closed = False

    @property
    def config(self) -> Mapping[str, Any]:
        """Effective producer options (after kafka-python applied its own adjustments once
        connected, e.g. ``acks=all`` becomes ``-1``). Secrets are not hidden: do not log."""
        if self._producer is not None:
            return MappingProxyType(dict(self._producer.config))
        return MappingProxyType(dict(self._config))

    @property
    def connected(self) -> bool:
        """True once the client bootstrapped (the first call that needed the cluster)."""
        return self._producer is not None

    def connect(self) -> None:
        """Bootstrap now (fail fast at start-up); a no-op when already connected."""
        self._client()

    def _client(self) -> Any:
        producer = self._producer
        if producer is not None:
            return producer
        with self._lock:
            if self._closed:
                raise LogError("event log is closed")
            if self._producer is None:
                self._producer = build(KafkaProducer, self._config, "connect producer")
                log.info(
                    "kafka producer connected to %s", ",".join(self._config["bootstrap_servers"])
                )
            return self._producer

    def _record_failure(self, exc: BaseException) -> None:
        self._failures.append(exc)  # list.append is atomic; runs on the sender thread

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """Queue one record (keyed records of one key stay in one partition, in order)."""
        if self._closed:
            raise LogError("event log is closed")
        producer = self._client()
        try:
            future = producer.send(topic, value=value, key=key, headers=list(headers))
        except (TypeError, ValueError):
            raise  # a programming error (bad key/value/header types), not a log failure
        except Exception as exc:
            error = translate(exc, f"send to {topic}")
            if isinstance(error, LogUnavailable):
                error = LogUnavailable(f"{error} (is the topic created? `dispatch topics create`)")
            raise error from exc
        future.add_errback(self._record_failure)

    def publish(self, records: Sequence[tuple[str, bytes, bytes]], timeout_s: float) -> None:
        """Send ``(topic, key, value)`` records and wait for each one's acknowledgement
        (``acks=all``) for up to ``timeout_s`` in all: the HTTP gateway answers 202 only
        then. ``LogUnavailable`` when the cluster does not acknowledge in time."""
        if self._closed:
            raise LogError("event log is closed")
        producer = self._client()
        futures = []
        with translated("publish"):
            for topic, key, value in records:
                futures.append(producer.send(topic, value=value, key=key))
            deadline = time.monotonic() + timeout_s
            for future in futures:
                remaining = max(0.0, deadline - time.monotonic())
                try:
                    future.get(timeout=remaining)
                except KafkaTimeoutError as exc:
                    raise LogUnavailable(f"not acknowledged within {timeout_s:g} s") from exc

    def flush(self, timeout_s: float = FLUSH_TIMEOUT_S) -> None:
        """Block until every record sent so far is acknowledged; raise if any failed.

        After a raise, the failed records are not retried by this adapter: the caller
        must not commit the consumer offsets of the batch, so the batch is redelivered.
        """
        producer = self._producer
        if producer is None:
            if self._closed:
                raise LogError("event log is closed")
            return  # nothing was ever sent
        with translated("flush"):
            producer.flush(timeout=timeout_s)
        if self._failures:
            failures, self._failures = self._failures, []
            error = translate(failures[0], f"{len(failures)} record(s) not delivered")
            log.warning("kafka produce failed: %s", error)
            raise error from failures[0]

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Flush what is queued (up to ``timeout_s``) and release connections. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            producer.close(timeout=timeout_s)
        except Exception as exc:  # pragma: no cover - close must not raise on shutdown
            log.warning("kafka producer close failed: %s", exc)
        if self._failures:
            log.warning("kafka producer closed with %d undelivered record(s)", len(self._failures))

    def __enter__(self) -> KafkaEventLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
