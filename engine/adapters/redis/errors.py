"""The Redis adapter's exception, and the translation of redis-py errors into it.

Callers outside ``engine.adapters.redis`` never see a redis-py exception: connection losses,
time-outs, cluster failovers, and server-side errors (a script error, an out-of-memory
refusal) all surface as :class:`StoreUnavailable`, with the original chained as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

# RedisClusterException (cluster topology discovery) is not a RedisError subclass.
from redis.exceptions import RedisClusterException, RedisError

from engine.errors import StoreUnavailable


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Re-raise redis-py errors raised inside the block as :class:`StoreUnavailable`."""
    try:
        yield
    except (RedisError, RedisClusterException) as exc:
        raise StoreUnavailable(f"redis: {what}: {type(exc).__name__}: {exc}") from exc
