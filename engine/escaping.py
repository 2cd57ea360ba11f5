"""How names are written into Redis keys, timer members and record keys, so that no name can
reach outside its own.

Every variable part of a Redis key (tenant, ticket, agent, channel, skill, queue) and of a
timer member is *escaped*: bytes outside :data:`SAFE` become ``%XX`` (upper-case hex of the
UTF-8 byte), ``%`` included. An escaped part never contains a separator (``:`` ``|``), a
brace of a hash tag or a bare ``%``, and escaping is injective, so two distinct tuples of
parts can never give the same key, whatever the parts hold -- even if input validation were
loosened. Names made of safe characters (every name the event bounds allow except ids with
``:``) are unchanged, so keys stay readable.

The Redis scripts escape with the same rule: ``layout.lua_prelude`` generates the Lua
pattern from :data:`UNSAFE_LUA_CLASS`, and a test runs both on the same strings. The
in-memory store uses the same timer members, so both stores hand out identical timers.
"""

from __future__ import annotations

import re

# Bytes kept as they are in key parts; everything else is %XX.
SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@+-")
_SAFE_TEXT = re.compile(r"[A-Za-z0-9._@+\-]*")
# The same set as a Lua pattern class of the bytes to escape.
UNSAFE_LUA_CLASS = "[^A-Za-z0-9._@+-]"
# The escaped form of an empty tenant: '{}' is no hash tag, and a lone '%' is never the
# escape of a non-empty name (an escape is always '%' and two hex digits).
EMPTY_TAG = "%"
TIMER_SEPARATOR = "|"


def escape(part: str) -> str:
    """``part`` with every byte outside :data:`SAFE` written as ``%XX``."""
    if _SAFE_TEXT.fullmatch(part):
        return part
    return "".join(chr(b) if b in SAFE else f"%{b:02X}" for b in part.encode("utf-8"))


def unescape(part: str) -> str:
    """The inverse of :func:`escape`."""
    if "%" not in part:
        return part
    raw = bytearray()
    i = 0
    while i < len(part):
        if part[i] == "%":
            raw.append(int(part[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.append(ord(part[i]))
            i += 1
    return raw.decode("utf-8")


def tag(tenant: str) -> str:
    """The hash tag content of a tenant's pool: escaped, never empty."""
    return escape(tenant) or EMPTY_TAG


def timer_member(kind: str, ticket_id: str, agent: str = "") -> str:
    """``kind|ticket|agent`` with ticket and agent escaped (no ``|`` inside a part)."""
    return f"{kind}{TIMER_SEPARATOR}{escape(ticket_id)}{TIMER_SEPARATOR}{escape(agent)}"


def parse_timer_member(member: str) -> tuple[str, str, str]:
    """``(kind, ticket id, agent)`` of a :func:`timer_member`."""
    kind, tid, agent = member.split(TIMER_SEPARATOR, 2)
    return kind, unescape(tid), unescape(agent)
