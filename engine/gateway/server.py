"""Serving the gateway's ASGI application with uvicorn: in the main thread (``dispatch run
gateway``: SIGTERM and SIGINT stop it gracefully, requests in flight are answered) or in a
background thread (the embedded demo, tests).

The socket is bound here, before uvicorn starts, so a taken port is an ``OSError`` the
caller reports (naming its setting) instead of uvicorn's own exit.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

GRACEFUL_S = 10  # requests in flight get this long after SIGTERM
START_TIMEOUT_S = 15.0


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one). Raises ``OSError``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, telling ``on_exit`` when a shutdown starts (SIGTERM/SIGINT): event
    streams must end then, or the graceful shutdown waits for them."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self._on_exit is not None:
            self._on_exit()
        super().handle_exit(sig, frame)


def _server(app: Any, on_exit: Callable[[], None] | None = None) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        log_config=None,  # the engine's logging (engine.logs) is configured already
        access_log=False,  # requests are counted in /metrics
        lifespan="off",
        timeout_graceful_shutdown=GRACEFUL_S,
        server_header=False,
    )
    return _Server(config, on_exit)


def serve(app: Any, sock: socket.socket, on_exit: Callable[[], None] | None = None) -> None:
    """Serve until SIGTERM/SIGINT (main thread only: uvicorn handles the signals, finishes
    the requests in flight, then returns); ``on_exit`` runs when the shutdown starts."""
    _server(app, on_exit).run(sockets=[sock])


class BackgroundServer:
    """The application served by a daemon thread; ``stop()`` ends it gracefully."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sock = bind(host, port)
        self.host, self.port = self.sock.getsockname()[:2]
        self._server = _server(app)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the gateway did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = GRACEFUL_S + 5) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self.sock.close()
