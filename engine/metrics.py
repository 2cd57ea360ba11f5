"""Prometheus collectors on an own registry, plus the HTTP server for /metrics,
/healthz and /readyz.

Seconds everywhere; bounded label sets only (never a ticket or agent id).
Nothing happens at import time: build a :class:`DispatcherMetrics` and call
:func:`serve` from a composition root.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from engine.core.model import Decision

log = logging.getLogger(__name__)

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
WAIT_BUCKETS_S = (0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200)
HEALTH_STALE_S = 60.0


class DispatcherMetrics:
    """What one dispatcher replica exports. Sum across replicas in PromQL."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.decisions = Counter(
            "dispatch_decisions",
            "Decisions published, by kind and queue",
            ["kind", "queue"],
            registry=r,
        )
        self.time_to_assign = Histogram(
            "dispatch_time_to_assign_seconds",
            "Ticket timestamp to first assignment or offer",
            ["queue"],
            buckets=WAIT_BUCKETS_S,
            registry=r,
        )
        self.decision_latency = Histogram(
            "dispatch_decision_latency_seconds",
            "Store step time per polled batch",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.dead_letters = Counter(
            "dispatch_dead_letters",
            "Records sent to the dead-letter topic, by reason",
            ["reason"],
            registry=r,
        )
        self.records = Counter("dispatch_records", "Input records consumed", registry=r)
        self.duplicates = Counter(
            "dispatch_duplicates", "Redelivered or repeated events recognised", registry=r
        )
        self.last_loop = Gauge(
            "dispatch_last_loop_timestamp_seconds", "When the loop last completed", registry=r
        )

    def on_decisions(self, decisions: list[Decision], latency_s: float) -> None:
        self.decision_latency.observe(latency_s)
        for d in decisions:
            if d.duplicate:
                self.duplicates.inc()
                continue
            self.decisions.labels(d.kind, d.queue or "-").inc()
            if d.kind in ("assigned", "offered") and d.step and "accepted" not in d.step:
                wait_s = max(0, d.ts - d.ticket_ts) / 1000
                self.time_to_assign.labels(d.queue or "-").observe(wait_s)

    def on_dead_letter(self, reason: str) -> None:
        self.dead_letters.labels(reason).inc()


class Health:
    """Liveness (the loop turns) and readiness (connected, consuming)."""

    def __init__(self, stale_s: float = HEALTH_STALE_S) -> None:
        self.stale_s = stale_s
        self.ready = False
        self._beat = time.monotonic()

    def beat(self) -> None:
        self._beat = time.monotonic()

    def alive(self) -> bool:
        return time.monotonic() - self._beat < self.stale_s


def serve(
    port: int, registry: CollectorRegistry, health: Health, host: str = "0.0.0.0"
) -> ThreadingHTTPServer:
    """Serve /metrics, /healthz and /readyz on a daemon thread; returns the server."""
    routes: dict[str, Callable[[], tuple[int, str, bytes]]] = {
        "/metrics": lambda: (200, CONTENT_TYPE_LATEST, generate_latest(registry)),
        "/healthz": lambda: _probe(health.alive(), "alive", "stalled"),
        "/readyz": lambda: _probe(health.ready and health.alive(), "ready", "not ready"),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            code, ctype, body = route() if route else (404, "text/plain", b"not found\n")
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("http %s", format % args)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    log.info("serving /metrics /healthz /readyz on %s:%s", host, server.server_address[1])
    return server


def _probe(ok: bool, good: str, bad: str) -> tuple[int, str, bytes]:
    return (
        (200, "text/plain", f"{good}\n".encode())
        if ok
        else (503, "text/plain", f"{bad}\n".encode())
    )
