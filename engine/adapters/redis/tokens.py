"""TokenStore on Redis: one hash ``{prefix}:tokens`` (SHA-256 digest -> msgpack TokenInfo).

Tokens are few (people and systems, not tickets), so listing reads the whole hash and a
revocation finds its token there. ``HSETNX`` makes adding idempotent; revoking rewrites the
entry with ``revoked_ms`` (a revoked token stays listed, so an audit sees who had access).
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import msgpack

from engine.adapters.redis.errors import translated
from engine.ports import TokenInfo


def tokens_key(prefix: str) -> str:
    return f"{prefix}:tokens"


def _pack(info: TokenInfo) -> bytes:
    packed: bytes = msgpack.packb(asdict(info))
    return packed


def _unpack(raw: bytes) -> TokenInfo:
    return TokenInfo(**msgpack.unpackb(raw))


class RedisTokenStore:
    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._key = tokens_key(prefix)

    def add(self, digest: str, info: TokenInfo) -> None:
        with translated("add token"):
            self._client.hsetnx(self._key, digest, _pack(info))

    def find(self, digest: str) -> TokenInfo | None:
        with translated("find token"):
            raw = self._client.hget(self._key, digest)
        return None if raw is None else _unpack(raw)

    def _items(self) -> dict[str, TokenInfo]:
        with translated("list tokens"):
            raw = self._client.hgetall(self._key)
        return {(k.decode() if isinstance(k, bytes) else k): _unpack(v) for k, v in raw.items()}

    def all(self) -> list[TokenInfo]:
        return sorted(self._items().values(), key=lambda t: (t.created_ms, t.token_id))

    def revoke(self, token_id: str, now_ms: int) -> bool:
        for digest, info in self._items().items():
            if info.token_id == token_id and info.revoked_ms is None:
                with translated("revoke token"):
                    self._client.hset(self._key, digest, _pack(replace(info, revoked_ms=now_ms)))
                return True
        return False
