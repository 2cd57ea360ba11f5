"""`dispatch tokens`: the gateway's token store on Redis (composition root: redis-py)."""

from __future__ import annotations

from collections.abc import Callable

from engine.adapters.redis import client_from_url
from engine.adapters.redis.tokens import RedisTokenStore
from engine.config import Settings
from engine.ports import TokenStore


def open_store(settings: Settings) -> tuple[TokenStore, Callable[[], None]]:
    """The token store of ``settings`` (``<DISPATCH_REDIS_PREFIX>:tokens``) and its close."""
    client = client_from_url(settings.redis_url)
    return RedisTokenStore(client, settings.redis_prefix), client.close
