"""How the Redis scripts are assembled from ``lua/``: prelude, library sections in name order,
script body, each part traceable from a Lua error line; every Lua file ships with the package."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

import engine
import engine.adapters.redis
from engine.adapters.redis import scripts
from engine.adapters.redis.layout import lua_prelude

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
LUA_DIR = Path(engine.adapters.redis.__file__).parent / "lua"
SEPARATOR = re.compile(r"^-- ==== (.+) ====$", re.MULTILINE)


def test_library_is_numbered_section_files() -> None:
    # Given the library directory
    files = scripts.library_files()
    # Then it holds ordered, numbered sections, from the base to the reply
    assert files == sorted(files)
    assert all(re.fullmatch(r"lib/\d\d_[a-z_]+\.lua", f) for f in files), files
    assert files[0] == "lib/00_base.lua" and files[-1] == "lib/70_reply.lua"


def test_script_is_prelude_then_library_in_name_order_then_its_body() -> None:
    # Given the release script's full source
    src = scripts.source("release")
    # When split at its part separators
    parts = SEPARATOR.findall(src)
    # Then the generated prelude comes first, the library files in order, the body last
    assert parts == [scripts.PRELUDE, *scripts.library_files(), "release.lua"]
    assert lua_prelude() in src
    assert src.rstrip().endswith(scripts.lua_file("release.lua").rstrip())


def test_origin_maps_a_script_line_back_to_its_file() -> None:
    # Given a line of a library file and of a script body, found in the assembled source
    lines = scripts.source("offer").splitlines()
    select_line = lines.index("local function select(t, hold)") + 1
    body_line = lines.index("local timeout = ARGV[7] == '1'") + 1
    # When traced back (as from "user_script:<line>" in a Lua error)
    # Then each lands on the same text in its own file
    for line in (select_line, body_line):
        part, at = scripts.origin("offer", line)
        assert scripts.lua_file(part).splitlines()[at - 1] == lines[line - 1]
    assert scripts.origin("offer", select_line)[0] == "lib/40_select.lua"
    assert scripts.origin("offer", body_line)[0] == "offer.lua"


def test_origin_of_a_prelude_line_is_the_prelude() -> None:
    # Given the first generated constant of any script
    lines = scripts.source("read").splitlines()
    line = next(i for i, text in enumerate(lines, start=1) if text.startswith("local "))
    # When traced / Then it comes from the prelude, at the same line of lua_prelude()
    part, at = scripts.origin("read", line)
    assert part == scripts.PRELUDE
    assert lua_prelude().splitlines()[at - 1] == lines[line - 1]


def test_origin_refuses_a_line_outside_the_script() -> None:
    # Given a script's length
    n = len(scripts.source("pause").splitlines())
    # When asked for a line past its end / Then refused
    with pytest.raises(ValueError, match="no line"):
        scripts.origin("pause", n + 1)


def test_unknown_script_has_no_source() -> None:
    # Given a name that is not a script (the SLA script is standalone)
    # When its source is asked for / Then there is none
    with pytest.raises(KeyError):
        scripts.source("sla")


def test_sla_script_is_read_from_the_lua_directory() -> None:
    # Given the SLA store's standalone script
    # When read / Then it is the file itself, with no prelude or library
    text = scripts.lua_file("sla.lua")
    assert text == (LUA_DIR / "sla.lua").read_text(encoding="utf-8")
    assert SEPARATOR.search(text) is None


def test_every_lua_file_ships_as_package_data() -> None:
    # Given the package-data globs of pyproject.toml and the Lua files in the tree
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["engine"]
    package = Path(engine.__file__).parent
    shipped = {p for g in globs for p in package.glob(g)}
    # Then every .lua file is matched by one of them
    lua = set(LUA_DIR.rglob("*.lua"))
    assert lua and lua <= shipped
