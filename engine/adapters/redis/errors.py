"""The translation of redis-py errors into the engine's (``engine.errors``).

Callers outside ``engine.adapters.redis`` never see a redis-py exception. A Lua runtime error
of one of the store's scripts (an error the script raised on its input, ``too many results
to unpack``, a wrong type) is :class:`StoreRejected`: a property of the call's input, which
the dispatcher isolates and dead-letters. Everything else -- connection losses, time-outs,
cluster failovers, a server refusing for its own state (out of memory, loading, read-only,
no permission, busy) -- is :class:`StoreUnavailable`: retry later. The original error is
chained as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

# RedisClusterException (cluster topology discovery) is not a RedisError subclass.
from redis.exceptions import RedisClusterException, RedisError, ResponseError

from engine.errors import StoreRejected, StoreUnavailable

# Script errors carry the script's location; these prefixes are the server's own state.
_SCRIPT_MARK = "@user_script"
_SERVER_STATE = ("OOM", "BUSY", "READONLY", "NOPERM", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN",
                 "LOADING", "NOSCRIPT", "MOVED", "ASK")  # fmt: skip


def is_script_error(exc: BaseException) -> bool:
    """A Lua runtime error raised while running a script on its input."""
    if not isinstance(exc, ResponseError):
        return False
    text = str(exc)
    return _SCRIPT_MARK in text and not text.startswith(_SERVER_STATE)


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Re-raise redis-py errors raised inside the block as :class:`StoreUnavailable`."""
    try:
        yield
    except (RedisError, RedisClusterException) as exc:
        if is_script_error(exc):
            raise StoreRejected(f"redis: {what}: {exc}"[:1000]) from exc
        raise StoreUnavailable(f"redis: {what}: {type(exc).__name__}: {exc}") from exc
