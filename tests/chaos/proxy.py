"""A loopback TCP proxy that loses replies: it forwards a request, lets the server run it,
then drops the connection instead of passing the reply back, so the client sees a connection
error on a command that did take effect and retries it (``LossyProxy.drop``)."""

from __future__ import annotations

import contextlib
import socket
import threading

HOST = "127.0.0.1"
CHUNK = 256 * 1024


class LossyProxy:
    """Listens on ``127.0.0.1:<port>`` and relays every connection to ``upstream``; after
    :meth:`drop` it loses the reply of every ``every``-th request containing ``match``
    (up to ``count`` of them)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.server = socket.create_server((HOST, 0))
        self.port: int = self.server.getsockname()[1]
        self.lock = threading.Lock()
        self.matches: tuple[bytes, ...] = ()
        self.every = 0
        self.left = 0
        self.seen = 0
        self.dropped = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True, name="proxy-accept").start()

    def drop(self, *, every: int, count: int, match: bytes = b"EVALSHA") -> None:
        """Lose the reply of every ``every``-th request containing ``match`` (any case),
        ``count`` times; ``count=0`` stops losing replies."""
        with self.lock:
            self.matches = (match.upper(), match.lower())
            self.every, self.left, self.seen = every, count, 0

    def close(self) -> None:
        self.closed = True
        self.server.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            doomed = threading.Event()  # the next reply on this connection is lost
            for src, dst, up in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(
                    target=self._pump, args=(src, dst, up, doomed), daemon=True
                ).start()

    def _lose_this(self, data: bytes) -> bool:
        with self.lock:
            if self.left <= 0 or not any(m in data for m in self.matches):
                return False
            self.seen += 1
            if self.seen % self.every:
                return False
            self.left -= 1
            self.dropped += 1
            return True

    def _pump(
        self, src: socket.socket, dst: socket.socket, upward: bool, doomed: threading.Event
    ) -> None:
        try:
            while True:
                data = src.recv(CHUNK)
                if not data:
                    break
                if upward:
                    if self._lose_this(data):
                        doomed.set()  # before the request goes: its reply is lost
                    dst.sendall(data)
                elif doomed.is_set():
                    break  # the server ran it; the client never hears back
                else:
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
