"""The Redis scripts' one source: what Lua mirrors is generated from Python (layout.py), no
``.lua`` file spells it, and decision rows decode by the same field table."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

import engine.adapters.redis
from engine.adapters.redis import layout, wire
from engine.adapters.redis.keys import POOL_KEYS
from engine.adapters.redis.layout import DECISION_FIELDS
from engine.adapters.redis.scripts import SCRIPT_NAMES, library_files, lua_file, source
from engine.core.eligibility import REASON_ORDER
from engine.core.model import DECISION_KINDS, STATUSES, STRATEGIES, Decision
from engine.ports import TICKET_STATES, TIMER_ESCALATE, TIMER_OFFER

pytestmark = pytest.mark.unit

REDIS_DIR = Path(engine.adapters.redis.__file__).parent
LUA_FILES = sorted(REDIS_DIR.rglob("*.lua"))
# Lua allows 200 locals per function; prelude, library and script body are one function.
LUA_MAX_LOCALS = 200


def lua_strings(src: str) -> list[tuple[int, str, bool]]:
    """Every string literal of Lua source ``src``: (line, text, is a ``key(...)`` name).

    Comments (``--`` and ``--[[ ]]``) are skipped; long strings ``[[ ]]`` count as literals.
    """
    out: list[tuple[int, str, bool]] = []
    i, line = 0, 1
    while i < len(src):
        if src[i] == "\n":
            line += 1
            i += 1
        elif src.startswith("--", i):
            long = re.match(r"--\[(=*)\[", src[i:])
            end = src.index(f"]{long.group(1)}]", i) if long else src.find("\n", i)
            end = len(src) if end < 0 else end
            line += src.count("\n", i, end)
            i = end + (len(long.group(1)) + 2 if long else 0)
        elif long := re.match(r"\[(=*)\[", src[i:]):
            end = src.index(f"]{long.group(1)}]", i)
            out.append((line, src[i + len(long.group(0)) : end], False))
            line += src.count("\n", i, end)
            i = end + len(long.group(1)) + 2
        elif src[i] in "'\"":
            j = i + 1
            while src[j] != src[i]:
                j += 2 if src[j] == "\\" else 1
            out.append((line, src[i + 1 : j], src[:i].endswith("key(")))
            i = j + 1
        else:
            i += 1
    return out


def mirrored() -> set[str]:
    """What Lua must take from the prelude: reason codes, kinds, states, strategies, statuses,
    timer kinds and everything else the prelude generates."""
    core = {*REASON_ORDER, *DECISION_KINDS, *TICKET_STATES, *STRATEGIES, *STATUSES}
    return core | {TIMER_ESCALATE, TIMER_OFFER} | layout.mirrored_strings()


def prelude_locals() -> dict[str, str]:
    """``local NAME = value`` lines of the generated prelude: name -> value text."""
    found = re.findall(r"^local (\w+) = (.+)$", layout.lua_prelude(), re.MULTILINE)
    return dict(found)


# ---- nothing by hand in Lua ------------------------------------------------------------------


def test_literal_scanner_sees_strings_but_not_comments() -> None:
    # Given Lua with a quoted value, a key name, a long string and values in comments
    src = "-- 'status'\nlocal a = 'x' .. key('skill', s)\n--[[ 'region'\n]] local b = [[y]]\n"
    # When its string literals are listed
    found = lua_strings(src)
    # Then the literals come with their lines, key names are marked and comments are skipped
    assert found == [(2, "x", False), (2, "skill", True), (4, "y", False)]


def test_no_lua_file_spells_a_value_that_python_defines() -> None:
    # Given every .lua file shipped with the Redis adapter
    assert len(LUA_FILES) >= 10
    # When their string literals are checked against what the prelude generates
    bad = [
        f"{path.relative_to(REDIS_DIR)}:{line}: {text!r}"
        for path in LUA_FILES
        for line, text, is_key in lua_strings(path.read_text(encoding="utf-8"))
        if text in mirrored() and not is_key
    ]
    # Then none spells a reason code, kind, state, strategy, status, text or field by hand
    assert bad == []


def test_every_key_name_in_lua_is_a_pool_key() -> None:
    # Given the key(...) names the Lua files use
    names = {
        text
        for path in LUA_FILES
        for _, text, is_key in lua_strings(path.read_text(encoding="utf-8"))
        if is_key
    }
    # Then each is a key shape of keys.POOL_KEYS (whose names may equal mirrored values)
    assert names and names <= set(POOL_KEYS)


def test_every_mirrored_value_is_one_prelude_local() -> None:
    # Given the generated prelude's constants
    consts = prelude_locals()
    values = [v for v in consts.values() if v.startswith('"')]
    # (grab mode's texts and the decision kinds added later share one local, a table:
    # LATER.POOLED, LATER.PAUSED ..., and the later row positions LATER.D_EXPLAIN ...)
    values += re.findall(r'= ("[^"]*")', consts["LATER"])
    later = layout.later_texts()
    assert len(re.findall(r"\w+ = ", consts["LATER"])) == len(later) + len(layout.later_positions())
    # Then each Python value Lua needs is defined there as a string local (or table entry)
    assert {f'"{v}"' for v in mirrored()} <= set(values)
    # And no name is defined twice (a repeated local would shadow the first silently)
    names = re.findall(r"^local (?:function )?(\w+)", layout.lua_prelude(), re.MULTILINE)
    assert len(names) == len(set(names))


def test_reason_codes_are_generated_in_rule_order() -> None:
    # Given the prelude's reason code constants
    codes = [v.strip('"') for n, v in prelude_locals().items() if n.startswith("R_")]
    # Then they are the core's codes, in the order first_reason applies the rules
    assert codes == list(REASON_ORDER)


def test_every_strategy_python_knows_is_handled_by_the_lua_library() -> None:
    # Given the library's files
    lib = "".join(lua_file(f) for f in library_files())
    # Then each strategy's generated name is used there (select() refuses unhandled ones)
    missing = [s for s in STRATEGIES if f"S_{s.upper()}" not in lib]
    assert missing == []


def test_prelude_refuses_a_value_that_is_not_a_plain_lua_string() -> None:
    # Given values that would need escaping in Lua
    for text in ('say "hi"', "back\\slash", "line\nbreak", "café"):
        # When quoted for Lua / Then refused rather than mangled
        with pytest.raises(ValueError, match="not a plain Lua string"):
            layout.lua_string(text)


def test_every_script_stays_under_luas_local_limit() -> None:
    # Given every script's full source (top-level locals start in column 0)
    for name in SCRIPT_NAMES:
        top = re.findall(r"^local (?:function (\w+)|([\w, ]+?)\s*(?:=|--|$))", source(name), re.M)
        count = sum(1 if fn else len(names.split(",")) for fn, names in top)
        # Then the one function Redis compiles has room to spare below Lua's limit
        assert count < LUA_MAX_LOCALS - 10, (name, count)


# ---- decision rows -----------------------------------------------------------------------------


def row_of(d: Decision) -> list[Any]:
    """``d`` as a script sends it: DECISION_FIELDS in order, None as False, filtered flat."""
    values: dict[str, Any] = {f: getattr(d, f) for f in layout.DECISION_FIELDS}
    values["agent"] = d.agent or False
    values["supervisor"] = d.supervisor or False
    values["filtered"] = [x for kv in d.filtered.items() for x in kv]
    values["explain"] = list(d.explain)
    return [values[f] for f in layout.DECISION_FIELDS]


def test_decision_fields_are_every_decision_attribute_but_the_tenant() -> None:
    # Given the Decision record and the row layout
    attrs = {f.name for f in dataclasses.fields(Decision)}
    # Then the row carries every attribute once, except the tenant (one call, one pool)
    assert sorted(layout.DECISION_FIELDS) == sorted(attrs - {"tenant"})


def test_prelude_positions_follow_the_decision_field_table() -> None:
    # Given the D_ constants of the prelude (locals, and LATER.D_<FIELD> entries)
    consts = prelude_locals()
    found = [(n, v) for n, v in consts.items() if n.startswith("D_")]
    found += re.findall(r"(D_\w+) = (\d+)", consts["LATER"])
    positions = {n: int(v) for n, v in found}
    # Then each field's Lua index is its 1-based place in DECISION_FIELDS
    expected = {f"D_{f.upper()}": i + 1 for i, f in enumerate(layout.DECISION_FIELDS)}
    assert positions == expected


def test_lua_decision_sets_every_field_of_the_table() -> None:
    # Given the library's decision()
    lib = "".join(lua_file(f) for f in library_files())
    body = lib[lib.index("local function decision(") :]
    body = body[: body.index("\nend\n")]
    # When the row fields it assigns are listed
    assigned = re.findall(r"^  d\[(?:LATER\.)?D_(\w+)\] = ", body, re.MULTILINE)
    # Then it sets each field of DECISION_FIELDS once, by name (a new field needs Lua too)
    assert sorted(assigned) == sorted(f.upper() for f in layout.DECISION_FIELDS)


def test_decision_row_decodes_by_the_field_table() -> None:
    # Given a decision with every field set, as a script's row
    d = Decision(
        kind="reassigned",
        ticket_id="t1",
        tenant="acme",
        ts=1_700_000_000_123,
        queue="vip",
        agent="bob",
        strategy="least_loaded",
        channel="chat",
        priority=2,
        ticket_ts=1_700_000_000_000,
        candidates=3,
        filtered={"capacity": 2, "skill": 1},
        step="initial|pull",
        supervisor="sue",
        forced=True,
        reason="from ann",
        duplicate=False,
        seq=7,
        load=2,
        capacity=3,
        explain=(0.5, "ann", 0.25),
    )
    # When decoded for the tenant
    # Then it is the same decision
    assert wire.decision(row_of(d), "acme") == d


def test_decision_row_decodes_false_as_none_and_an_empty_filter() -> None:
    # Given a queued decision: no agent, no supervisor, nobody filtered
    d = Decision(kind="queued", ticket_id="t1", tenant="acme", ts=5, queue="q", reason="x")
    # When its row is decoded
    back = wire.decision(row_of(d), "acme")
    # Then the Lua stand-ins become None and an empty mapping
    assert (back.agent, back.supervisor, back.filtered) == (None, None, {})
    assert back == d


@pytest.mark.parametrize("width", [17, 18, 23])
def test_decision_row_of_another_width_is_refused(width: int) -> None:
    # Given a row shorter or longer than the table (as unstamped rows once were), beyond
    # the fields added after the first release
    d = Decision(kind="queued", ticket_id="t1", tenant="acme", ts=5, queue="q")
    row = [*row_of(d), 0][:width]
    # When decoded / Then refused: no positional fallback fills in defaults
    with pytest.raises(ValueError, match="decision row of"):
        wire.decision(row, "acme")


def test_explain_scores_decode_as_floats() -> None:
    # Given rows whose explain scores cmsgpack sent as integers (integral Lua numbers)
    d = Decision(kind="assigned", ticket_id="t1", tenant="acme", ts=5, queue="q", agent="a")
    full = [*row_of(d)[:-1], [1, "bob", 0]]
    alone = [*row_of(d)[:-1], [-5]]
    # When decoded / Then the scores are floats, as the memory store makes them
    got = wire.decision(full, "acme").explain
    assert got == (1.0, "bob", 0.0) and all(type(x) is float for x in (got[0], got[2]))
    assert wire.decision(alone, "acme").explain == (-5.0,)
    assert type(wire.decision(alone, "acme").explain[0]) is float


def test_a_row_stored_before_a_field_was_added_decodes_with_its_default() -> None:
    # Given a decision row as stored before ``why`` was added (it ends at ``ts``)
    d = Decision(kind="queued", ticket_id="t1", tenant="acme", ts=5, queue="q")
    row = row_of(d)[: DECISION_FIELDS.index("why")]
    # When decoded / Then the later field takes its default
    assert wire.decision(row, "acme") == d


def test_a_row_stored_before_explain_decodes_without_one() -> None:
    # Given an assignment's row as stored before ``explain`` was added (it ends at ``policy``)
    d = Decision(kind="assigned", ticket_id="t1", tenant="acme", ts=5, queue="q", agent="a")
    row = row_of(d)[: DECISION_FIELDS.index("explain")]
    # When decoded / Then it has no explanation
    assert wire.decision(row, "acme") == d and d.explain == ()


def test_stored_rows_keep_their_field_order() -> None:
    # Given the row order of decisions already stored in Redis (a ticket's latest decision,
    # re-published from the outbox by a newer version after a deploy)
    stored = [
        "kind",
        "ticket_id",
        "agent",
        "queue",
        "strategy",
        "channel",
        "priority",
        "ticket_ts",
        "candidates",
        "filtered",
        "step",
        "supervisor",
        "forced",
        "reason",
        "duplicate",
        "load",
        "capacity",
        "seq",
        "ts",
    ]
    # Then the table only ever grows at the end
    assert list(layout.DECISION_FIELDS[: len(stored)]) == stored
