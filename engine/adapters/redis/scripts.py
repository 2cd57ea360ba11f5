"""The Lua scripts of the store, loaded from the ``.lua`` files beside this module.

Each script is ``layout.lua_prelude()`` + ``lib.lua`` + its own file, registered once per client
with ``register_script`` (EVALSHA, reloaded automatically on NOSCRIPT, in Cluster too).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

from engine.adapters.redis.layout import lua_prelude

SCRIPT_NAMES = (
    "assign",
    "agent",
    "release",
    "offer",
    "reassign",
    "pause",
    "timers",
    "read",
    "outbox",
)
LIBRARY = "lib.lua"
_PACKAGE = __name__.rpartition(".")[0]


def _text(name: str) -> str:
    return resources.files(_PACKAGE).joinpath(name).read_text(encoding="utf-8")


@functools.cache
def source(name: str) -> str:
    """Full Lua source of one script: constants, shared library, then the script body."""
    if name not in SCRIPT_NAMES:
        raise KeyError(name)
    return lua_prelude() + _text(LIBRARY) + f"\n-- ==== {name}.lua ====\n" + _text(f"{name}.lua")


@dataclass(frozen=True, slots=True)
class Scripts:
    """The registered scripts of one client (``redis.commands.core.Script`` objects)."""

    assign: Any
    agent: Any
    release: Any
    offer: Any
    reassign: Any
    pause: Any
    timers: Any
    read: Any
    outbox: Any

    @classmethod
    def register(cls, client: Any) -> Scripts:
        return cls(*(client.register_script(source(name)) for name in SCRIPT_NAMES))
