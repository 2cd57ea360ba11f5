"""The Lua scripts of the store, assembled from the files in ``lua/`` beside this module.

Each script is one source: ``layout.lua_prelude()`` (the constants Lua shares with Python),
then the library ``lua/lib/*.lua`` in file name order (``00_base.lua`` ... ``70_reply.lua``,
one section each), then the script's own ``lua/<name>.lua``. Every part starts with a
``-- ==== <part> ====`` line, so a line number in a Lua error (``user_script:<line>``) maps
back to its file with :func:`origin`. Scripts are registered once per client with
``register_script`` (EVALSHA, reloaded automatically on NOSCRIPT, in Cluster too).

``lua/sla.lua`` is the SLA store's script (``sla_store``) and ``lua/due.lua`` the due index's
(``store``): standalone, no prelude or library.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
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
    "pull",
    "handover",
)
LUA_DIR = "lua"
LIBRARY_DIR = "lib"
PRELUDE = "prelude (layout.py)"
_PACKAGE = __name__.rpartition(".")[0]
_PART = re.compile(r"^-- ==== (.+) ====$")


def _lua_dir() -> Traversable:
    return resources.files(_PACKAGE).joinpath(LUA_DIR)


def lua_file(name: str) -> str:
    """The text of ``lua/<name>`` (e.g. ``"sla.lua"``)."""
    return _lua_dir().joinpath(name).read_text(encoding="utf-8")


def library_files() -> list[str]:
    """The library's files, ``lib/<file>.lua``, in the order they are concatenated."""
    lib = _lua_dir().joinpath(LIBRARY_DIR)
    names = sorted(f.name for f in lib.iterdir() if f.name.endswith(".lua"))
    return [f"{LIBRARY_DIR}/{name}" for name in names]


def _part(name: str, text: str) -> str:
    return f"-- ==== {name} ====\n" + (text if text.endswith("\n") else text + "\n")


@functools.cache
def source(name: str) -> str:
    """Full Lua source of one script: constants, shared library, then the script body."""
    if name not in SCRIPT_NAMES:
        raise KeyError(name)
    parts = [_part(PRELUDE, lua_prelude())]
    parts += [_part(f, lua_file(f)) for f in library_files()]
    parts.append(_part(f"{name}.lua", lua_file(f"{name}.lua")))
    return "".join(parts)


def origin(name: str, line: int) -> tuple[str, int]:
    """Where line ``line`` (1-based) of script ``name``'s source comes from: (part, line in
    it), e.g. ``("lib/40_select.lua", 12)`` for a Lua error at ``user_script:<line>``."""
    lines = source(name).splitlines()
    if not 1 <= line <= len(lines):
        raise ValueError(f"{name} has no line {line} (1..{len(lines)})")
    for i in range(line - 1, -1, -1):
        m = _PART.match(lines[i])
        if m:
            return m.group(1), line - 1 - i
    raise AssertionError("every source starts with a part separator")


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
    pull: Any
    handover: Any

    @classmethod
    def register(cls, client: Any) -> Scripts:
        return cls(*(client.register_script(source(name)) for name in SCRIPT_NAMES))
