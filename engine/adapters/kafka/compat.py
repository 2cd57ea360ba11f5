"""Work-arounds for kafka-python 3.0.12, applied once when ``engine.adapters.kafka`` loads.

``close_sockets_of_failed_connects``: ``KafkaNetSocket.sock_connect`` raises when a connect
is refused or times out without closing the socket. The socket is closed (with a
``ResourceWarning``) only when the garbage collector frees it: every reconnect attempt to a
broker that is down leaves one behind until then, and tests that turn warnings into errors
fail on them. The wrapper closes the socket when the connect raises; a successful connect
is untouched.
"""

from __future__ import annotations

import socket
from typing import Any

from kafka.net.inet import KafkaNetSocket

__all__ = ["close_sockets_of_failed_connects"]

_MARK = "_dispatch_closes_failed_sockets"


def close_sockets_of_failed_connects() -> None:
    """Wrap ``KafkaNetSocket.sock_connect`` (idempotent)."""
    original = KafkaNetSocket.sock_connect
    if getattr(original, _MARK, False):
        return

    async def sock_connect(
        self: Any, net: Any, sock: socket.socket, sockaddr: Any, timeout_at: Any = None
    ) -> Any:
        try:
            return await original(self, net, sock, sockaddr, timeout_at=timeout_at)
        except BaseException:
            sock.close()
            raise

    setattr(sock_connect, _MARK, True)
    KafkaNetSocket.sock_connect = sock_connect
