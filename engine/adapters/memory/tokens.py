"""In-memory TokenStore (the embedded demo, tests)."""

from __future__ import annotations

import threading
from dataclasses import replace

from engine.ports import TokenInfo


class MemoryTokenStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_digest: dict[str, TokenInfo] = {}

    def add(self, digest: str, info: TokenInfo) -> None:
        with self._lock:
            self._by_digest.setdefault(digest, info)

    def find(self, digest: str) -> TokenInfo | None:
        with self._lock:
            return self._by_digest.get(digest)

    def all(self) -> list[TokenInfo]:
        with self._lock:
            return sorted(self._by_digest.values(), key=lambda t: (t.created_ms, t.token_id))

    def revoke(self, token_id: str, now_ms: int) -> bool:
        with self._lock:
            for digest, info in self._by_digest.items():
                if info.token_id == token_id and info.revoked_ms is None:
                    self._by_digest[digest] = replace(info, revoked_ms=now_ms)
                    return True
            return False
