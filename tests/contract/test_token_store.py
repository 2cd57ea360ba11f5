"""The TokenStore contract on both adapters (memory, Redis): add is idempotent, find by
digest, list oldest first with revoked tokens, revoke once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from engine.adapters.memory.tokens import MemoryTokenStore
from engine.gateway.tokens import digest, grant
from engine.ports import TokenInfo, TokenStore
from tests.services import delete_prefix

pytestmark = pytest.mark.contract


@pytest.fixture(params=["memory", "redis"])
def tokens(request: pytest.FixtureRequest) -> Iterator[TokenStore]:
    if request.param == "memory":
        yield MemoryTokenStore()
        return
    from engine.adapters.redis.tokens import RedisTokenStore

    client: Any = request.getfixturevalue("redis_client")
    unique: Callable[[str], str] = request.getfixturevalue("unique_name")
    prefix = unique("tokens")
    yield RedisTokenStore(client, prefix)
    delete_prefix(client, prefix)


def test_add_find_list_revoke(tokens: TokenStore) -> None:
    token, info = grant(tokens, "acme", "agent", 10, agent="a1", name="desk")
    _, other = grant(tokens, "*", "admin", 20, name="root")
    assert tokens.find(digest(token)) == info
    assert tokens.find(digest("dsp_unknown")) is None
    assert tokens.all() == [info, other]
    assert tokens.revoke(info.token_id, 30)
    assert not tokens.revoke(info.token_id, 40)  # once
    assert not tokens.revoke("000000000000", 40)
    found = tokens.find(digest(token))
    assert found is not None and found.revoked_ms == 30
    assert [t.revoked_ms for t in tokens.all()] == [30, None]


def test_add_is_idempotent(tokens: TokenStore) -> None:
    first = TokenInfo("abc", "acme", "producer", created_ms=1)
    tokens.add("d" * 64, first)
    tokens.add("d" * 64, TokenInfo("abc", "acme", "supervisor", created_ms=2))
    assert tokens.find("d" * 64) == first
    assert tokens.all() == [first]
