"""Contract fixtures: the same AgentStore tests on the in-memory store and on real Redis.

``store`` is parametrized ``["memory", "redis"]``. The Redis store talks to the session's
server (``redis_url`` from ``tests.services``) under a key prefix unique to the test; its keys
are deleted afterwards (never FLUSHALL: the server may be shared).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from engine.adapters.memory.store import MemoryAgentStore
from engine.ports import AgentStore
from tests.services import delete_prefix


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Any]:
    from engine.adapters.redis import client_from_url

    client = client_from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def redis_store_factory(
    redis_client: Any, unique_name: Callable[[str], str]
) -> Iterator[Callable[[], AgentStore]]:
    """Factory: a fresh RedisAgentStore under a new unique prefix on every call."""
    from engine.adapters.redis import RedisAgentStore

    prefixes: list[str] = []

    def make() -> AgentStore:
        prefixes.append(unique_name("dispatch"))
        return RedisAgentStore(redis_client, prefix=prefixes[-1])

    yield make
    for prefix in prefixes:
        delete_prefix(redis_client, prefix)


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> AgentStore:
    if request.param == "memory":
        return MemoryAgentStore()
    factory: Callable[[], AgentStore] = request.getfixturevalue("redis_store_factory")
    return factory()
