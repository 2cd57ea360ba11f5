"""What the Lua scripts mirror from Python, defined once, and the Lua prelude generated from it.

Every script (``scripts``) starts with :func:`lua_prelude`: one Lua ``local`` per value the
scripts share with Python -- pool key templates (``keys.POOL_KEYS``), ticket states and timer
kinds (``engine.ports``), agent statuses, strategy names and decision kinds
(``engine.core.model``), eligibility reason codes in rule order (``engine.core.eligibility``),
the reason and step texts stores write (``engine.ports`` ``REASON_*``/``STEP_*``), the field
names of the ticket and agent hashes and the positions of the decision row fields (both
below). The Lua files spell none of these values (``tests/unit/adapters/test_redis_layout.py``
checks every ``.lua`` file), so changing one here changes it everywhere.

The constants are locals, not table lookups: an upvalue read is one VM instruction on the
assign path. Lua allows 200 locals per function and the prelude, the library and a script
body share one (the script), so groups are kept to what the scripts use.

A **decision row** is a list of :data:`DECISION_FIELDS` in that order: ``decision()`` in
``lua/lib/20_decisions.lua`` fills it by ``D_<FIELD>`` index and
:func:`engine.adapters.redis.wire.decision` decodes it with the same table. Every script
returns full rows. Rows are also stored (the ticket hash's
latest decision, re-published from the outbox after a crash) and outlive a deploy: add fields
at the end, never reorder or remove one (with their default in ``LATER_FIELDS``). The
positions of the fields in ``LATER_POSITIONS`` are entries of the table local ``LATER``
(``LATER.D_EXPLAIN``), not locals: the ``reassign`` script is near the local limit.
"""

from __future__ import annotations

from engine import escaping, ports
from engine.adapters.redis.keys import CLOSED_TICKET_TTL_S, POOL_KEYS
from engine.core.eligibility import REASON_ORDER
from engine.core.model import (
    DECISION_KINDS,
    HANDED_OVER,
    INITIAL_STEP,
    PAUSED,
    RESUMED,
    STATUSES,
    STRATEGIES,
    Agent,
)
from engine.core.pull import CLAIM_LIMIT

# The decision row, in order; names are those of engine.core.model.Decision (the row has no
# tenant: a script works on one pool). ``filtered`` is a flat list [reason, count, ...] (Lua
# cannot send an empty map); ``ts`` is the decision's own time (the call's now, or the time a
# stored row was first decided).
DECISION_FIELDS = (
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
    "why",  # added after the first release: rows stored before it end at "ts"
    "policy",  # the policy revision (handover release): rows stored before it end at "why"
    # [score, runner-up agent, its score] of the strategy's pick (or [score], or []): rows
    # stored before it end at "policy"
    "explain",
)
# Decision kinds the scripts see as fields of one table local, ``LATER.<NAME>`` (a script may have
# 200 locals and the prelude and library use most): the kinds added after the first release.
LATER_KINDS = (HANDED_OVER, PAUSED, RESUMED)
# Fields a row stored by an earlier version may lack (the trailing ones), with their value.
LATER_FIELDS: dict[str, object] = {"why": "", "policy": "", "explain": ()}
# Fields whose row position is an entry of the table local ``LATER`` (``LATER.D_<NAME>``), not a
# local of its own (the local budget): the fields added once the scripts were near the limit.
LATER_POSITIONS = ("explain",)

# Ticket hash ``t:<ticket>`` (keys.py describes the values): name -> field. Lua: TF_<NAME>.
TICKET_HASH = {
    "state": "st",
    "agent": "ag",
    "request": "rq",
    "cooloff": "ex",  # model.Cooloff as [[agent, until ms], ...] (plain ids: stored before)
    "event": "ev",
    "last_agent": "la",
    "seq": "seq",
    "latest": "ld",  # the latest decision row (msgpack), kept while the ticket is kept
    "version": "lv",  # engine.ports.Version text of its last lifecycle change
}
# Agent hash ``agent:<agent>``: name -> field. Lua: AF_<NAME>.
AGENT_HASH = {"status": "st", "data": "d", "last": "last", "misses": "miss", "version": "vv"}
# A script's whole reply when the entity it acts on is unknown (wire raises the matching
# engine.errors exception). Lua: REPLY_<NAME>.
REPLIES = {"unknown_ticket": "?unknown_ticket", "unknown_agent": "?unknown_agent"}

Value = str | int | float


def _texts() -> list[tuple[str, Value]]:
    """Every ``REASON_*`` and ``STEP_*`` text of engine.ports, and the initial step."""
    out: list[tuple[str, Value]] = [
        (name, value)
        for name, value in vars(ports).items()
        if name.startswith(("REASON_", "STEP_")) and isinstance(value, str)
    ]
    return [*out, ("STEP_INITIAL", INITIAL_STEP)]


def constant_groups() -> list[tuple[str, list[tuple[str, Value]]]]:
    """The prelude's constants: (comment, [(Lua name, value), ...]) per group, in order."""
    new_agent = Agent(id="")

    def named(prefix: str, values: tuple[str, ...]) -> list[tuple[str, Value]]:
        return [(prefix + v.upper(), v) for v in values]

    return [
        ("ticket states (engine.ports)", named("", ports.TICKET_STATES)),
        (
            "timer kinds (engine.ports)",
            [
                ("TIMER_ESC", ports.TIMER_ESCALATE),
                ("TIMER_OFFER", ports.TIMER_OFFER),
                ("TIMER_AGENT", ports.TIMER_AGENT),
            ],
        ),
        ("agent statuses (engine.core.model.STATUSES)", named("AGENT_", STATUSES)),
        (
            "a new agent's fields (engine.core.model.Agent defaults)",
            [("DEFAULT_STATUS", new_agent.status), ("DEFAULT_PERFORMANCE", new_agent.performance)],
        ),
        (
            "eligibility reason codes, in rule order (engine.core.eligibility)",
            named("R_", REASON_ORDER),
        ),
        ("strategy names (engine.core.model.STRATEGIES)", named("S_", STRATEGIES)),
        (
            "decision kinds (engine.core.model.DECISION_KINDS; later ones: KIND below)",
            named("K_", tuple(k for k in DECISION_KINDS if k not in LATER_KINDS)),
        ),
        ("decision reason and step texts (engine.ports REASON_*, STEP_*)", _texts()),
        ("ticket hash fields (layout.TICKET_HASH)", _fields("TF_", TICKET_HASH)),
        ("agent hash fields (layout.AGENT_HASH)", _fields("AF_", AGENT_HASH)),
        (
            "decision row positions (layout.DECISION_FIELDS; wire.decision decodes the row)",
            [
                (f"D_{name.upper()}", i)
                for i, name in enumerate(DECISION_FIELDS, start=1)
                if name not in LATER_POSITIONS
            ],
        ),
        (
            "whole replies naming an unknown entity (layout.REPLIES)",
            [(f"REPLY_{name.upper()}", text) for name, text in REPLIES.items()],
        ),
        (
            "the bytes a key part escapes as %XX (engine.escaping)",
            [("KEY_UNSAFE", escaping.UNSAFE_LUA_CLASS), ("TIMER_SEP", escaping.TIMER_SEPARATOR)],
        ),
        (
            "store settings",
            [("CLOSED_TTL_S", CLOSED_TICKET_TTL_S), ("OUTBOX_GRACE_MS", ports.OUTBOX_GRACE_MS)],
        ),
    ]


def grab_texts() -> list[tuple[str, str]]:
    """Grab mode's texts (engine.ports ``GRAB_*`` and the claim-limit refusal code), in the
    Lua table ``LATER`` (``LATER.POOLED`` ...; see :func:`later_texts`)."""
    out = [
        (name.removeprefix("GRAB_"), value)
        for name, value in vars(ports).items()
        if name.startswith("GRAB_") and isinstance(value, str)
    ]
    return [*out, ("CLAIM_LIMIT", CLAIM_LIMIT)]


def later_texts() -> list[tuple[str, str]]:
    """The Lua table ``LATER``: grab mode's texts (:func:`grab_texts`) and the decision kinds
    added later (``LATER_KINDS``, by their upper-case name), one local for all of them."""
    texts = [*grab_texts(), *((k.upper(), k) for k in LATER_KINDS)]
    names = [n for n, _ in texts]
    if len(set(names)) != len(names):
        raise ValueError(f"repeated LATER name in {names}")
    return texts


def later_positions() -> list[tuple[str, int]]:
    """The ``LATER`` entries holding row positions: ``D_<FIELD>`` of ``LATER_POSITIONS``."""
    return [(f"D_{name.upper()}", DECISION_FIELDS.index(name) + 1) for name in LATER_POSITIONS]


def _fields(prefix: str, hash_fields: dict[str, str]) -> list[tuple[str, Value]]:
    return [(prefix + name.upper(), field) for name, field in hash_fields.items()]


def mirrored_strings() -> set[str]:
    """Every string value the prelude defines: no ``.lua`` file may spell one itself."""
    grouped = {v for _, group in constant_groups() for _, v in group if isinstance(v, str)}
    return grouped | {v for _, v in later_texts()}


def lua_string(s: str) -> str:
    """``s`` as a Lua string literal (printable ASCII only: nothing needs escaping)."""
    if not (s.isascii() and s.isprintable()) or '"' in s or "\\" in s:
        raise ValueError(f"not a plain Lua string: {s!r}")
    return f'"{s}"'


def _lua_value(v: Value) -> str:
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise TypeError(f"no Lua constant for {v!r}")
    return lua_string(v) if isinstance(v, str) else repr(v)


def lua_prelude() -> str:
    """The Lua constants every script starts with (see the module docstring)."""
    lines = [
        "-- generated by engine/adapters/redis/layout.py lua_prelude(): edit the Python, not this",
        "-- pool key templates (keys.POOL_KEYS), split at each %s: key(name, a, b) joins parts",
    ]
    split = {name: ", ".join(map(lua_string, t.split("%s"))) for name, t in POOL_KEYS.items()}
    lines.append("local KEY = {" + ", ".join(f"{n} = {{{p}}}" for n, p in split.items()) + "}")
    seen: set[str] = {"KEY", "LATER"}
    for comment, group in constant_groups():
        lines.append(f"-- {comment}")
        for name, value in group:
            if name in seen or not name.isidentifier():
                raise ValueError(f"bad or repeated Lua name {name!r}")
            seen.add(name)
            lines.append(f"local {name} = {_lua_value(value)}")
    later = ", ".join(
        [f"{n} = {lua_string(v)}" for n, v in later_texts()]
        + [f"{n} = {i}" for n, i in later_positions()]
    )
    lines += [
        "-- texts and row positions added after the first layout, one table (Lua's local budget):",
        "-- LATER.<NAME>, LATER.D_<FIELD>",
        f"local LATER = {{{later}}}",
    ]
    blank = ", ".join(["false"] * len(DECISION_FIELDS))
    lines += [
        "-- a decision row with every field false, sized once: decision() sets each by D_ index",
        f"local function blank_decision() return {{{blank}}} end",
    ]
    return "\n".join(lines) + "\n"
