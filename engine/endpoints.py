"""The HTTP endpoints of a long-running process: /metrics (a Prometheus registry),
/healthz (liveness: the loop turns) and /readyz (readiness: connected and consuming).

``open_endpoints(settings, ...)`` picks the port: ``DISPATCH_HTTP_PORT`` when it is set (a
taken port is then a :class:`ConfigError` naming the variable), else the default 9400, or a
free port when 9400 is taken (several processes on one host), logged as a warning that says
where /metrics is and which variable pins it.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from engine.config import Settings
from engine.errors import ConfigError
from engine.logs import get_logger

log = get_logger(__name__)

HEALTH_STALE_S = 60.0
# Label value for an empty queue or team name (an empty label value means "no label").
NO_LABEL = "-"


class Health:
    """Liveness (the loop turns) and readiness (connected, consuming)."""

    def __init__(self, stale_s: float = HEALTH_STALE_S) -> None:
        self.stale_s = stale_s
        self.ready = False
        self.info: dict[str, str] = {}  # shown by /readyz, e.g. the active policy revision
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
        "/readyz": lambda: _probe(
            health.ready and health.alive(), "ready", "not ready", health.info
        ),
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


def open_endpoints(
    settings: Settings, registry: CollectorRegistry, health: Health, host: str = "0.0.0.0"
) -> ThreadingHTTPServer | None:
    """``serve`` on the port of ``settings`` (None when it is 0), see the module doc."""
    port = settings.http_port
    if port == 0:
        return None
    try:
        return serve(port, registry, health, host)
    except OSError as exc:
        if settings.http_port_pinned or exc.errno != errno.EADDRINUSE:
            reason = "in use by another process" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise ConfigError(
                "DISPATCH_HTTP_PORT",
                f"cannot serve /metrics on port {port}: {reason}; choose another port "
                "(0: no HTTP server)",
            ) from None
    server = serve(0, registry, health, host)
    log.warning(
        "port %s (the default) is in use, e.g. by another dispatch process on this host: "
        "/metrics, /healthz and /readyz are on port %s instead; set DISPATCH_HTTP_PORT to "
        "pin a port",
        port,
        server.server_address[1],
    )
    return server


def _probe(
    ok: bool, good: str, bad: str, info: Mapping[str, str] | None = None
) -> tuple[int, str, bytes]:
    lines = [good if ok else bad, *(f"{k} {v}" for k, v in sorted((info or {}).items()))]
    body = "".join(f"{line}\n" for line in lines).encode()
    return (200, "text/plain", body) if ok else (503, "text/plain", body)


class PolicyMetrics:
    """``dispatch_policy_reloads_total{result}`` (applied, refused) and
    ``dispatch_policy_info{revision}`` (1 for the active policy), on a process's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.reloads = Counter(
            "dispatch_policy_reloads",
            "Policy file changes seen by this replica: applied, or refused (invalid; the old "
            "policy keeps serving)",
            ["result"],
            registry=registry,
        )
        for result in ("applied", "refused"):
            self.reloads.labels(result)
        self.info = Gauge(
            "dispatch_policy_info",
            "The active policy's revision (content digest): 1 for the active one",
            ["revision"],
            registry=registry,
        )
        self._active: str | None = None

    def active(self, revision: str) -> None:
        if self._active is not None:
            self.info.remove(self._active)
        self.info.labels(revision).set(1)
        self._active = revision


def lag_by_topic(lag: Mapping[tuple[str, int], int]) -> dict[str, int]:
    """Sum a per-``(topic, partition)`` consumer lag per topic."""
    by_topic: dict[str, int] = {}
    for (topic, _partition), n in lag.items():
        by_topic[topic] = by_topic.get(topic, 0) + n
    return by_topic
