"""engine.codec: the bounds of engine.core.bounds, field class by field class.

Identifiers have a character set and a length, integers are msgpack integers within range,
numbers are finite, collections are bounded; the schema files say the same as bounds.py.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import fastjsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import codec, schemagen
from engine.codec import DecodeError
from engine.core import bounds as b
from engine.core.model import Decision
from engine.core.sla import SlaOutcome, SlaTargets
from engine.core.sla_policy import Escalation
from engine.core.sla_track import TicketMeta, escalation_commands, sla_event
from tests.unit.codec_helpers import TYPES, packed
from tests.unit.event_examples import example

pytestmark = pytest.mark.unit

no_deadline = settings(deadline=None)


def rejected(event: dict[str, Any]) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        codec.validate(event)
    return caught.value


# --- the schema files and bounds.py -----------------------------------------------------------


def test_schema_files_and_docs_table_are_in_sync_with_bounds_py() -> None:
    # Given the schema files (and docs/events.md) as committed
    # When the generator recomputes their bounds from engine.core.bounds
    stale = schemagen.outdated()
    # Then nothing differs (run `python -m engine.schemagen` after changing bounds.py)
    assert not stale, f"out of date, run python -m engine.schemagen: {sorted(map(str, stale))}"


@pytest.mark.parametrize("event_type", TYPES)
def test_every_schema_property_has_a_field_class(event_type: str) -> None:
    # Given a schema / Then each of its properties is bounded by a known class
    for name in codec.schema_for(event_type)["properties"]:
        assert schemagen.class_of(event_type, name) in schemagen.CLASSES


@pytest.mark.parametrize(
    ("pattern", "max_chars"),
    [
        (b.TENANT_PATTERN, b.TENANT_MAX_CHARS),
        (b.ID_PATTERN, b.ID_MAX_CHARS),
        (b.EVENT_ID_PATTERN, b.EVENT_ID_MAX_CHARS),
        (b.NAME_PATTERN, b.NAME_MAX_CHARS),
        (b.NAME_OR_EMPTY_PATTERN, b.NAME_MAX_CHARS),
        (b.RECIPIENT_PATTERN, b.RECIPIENT_MAX_CHARS),
    ],
)
def test_each_pattern_allows_exactly_its_documented_length(pattern: str, max_chars: int) -> None:
    # Given a pattern of bounds.py and its length constant
    check = b._compile(pattern)
    # Then the longest allowed string matches and one more character does not
    assert check.match("a" * max_chars)
    assert not check.match("a" * (max_chars + 1))
    assert f"{{0,{max_chars - 1}}}" in pattern


# --- edges: one accepted and one rejected value per field class ------------------------------

LONG_SKILLS_OK = {f"s{i}": 1 for i in range(b.SKILLS_MAX)}
LONG_SKILLS_BAD = {f"s{i}": 1 for i in range(b.SKILLS_MAX + 1)}
CAPACITY_OK = {f"c{i}": b.CAPACITY_PER_CHANNEL_MAX for i in range(b.CAPACITY_CHANNELS_MAX)}
CAPACITY_BAD = {f"c{i}": 1 for i in range(b.CAPACITY_CHANNELS_MAX + 1)}
NESTED_OK = {"a": [1, 2], "b": {"c": ["x" * b.TEXT_MAX_CHARS]}, "d": None, "e": 0.5}

# (class, event type, field, accepted edge value, rejected value, text in the detail)
EDGES: list[tuple[str, str, str, Any, Any, str]] = [
    ("tenant", "agent.logout", "tenant", "a" * b.TENANT_MAX_CHARS, "a" * 65, "tenant"),
    ("tenant", "agent.logout", "tenant", "acme_eu-1", "acme.eu", "tenant"),
    ("id", "ticket.created", "id", "T:1@crm+x.y_z-" + "9" * 114, "T" * 129, "data.id"),
    ("id", "ticket.created", "customer_id", "9", "", "customer_id"),
    ("event_id", "sla.met", "event_id", "e" * b.EVENT_ID_MAX_CHARS, "e" * 257, "event_id"),
    ("name", "ticket.created", "channel", "c" * b.NAME_MAX_CHARS, "c" * 65, "channel"),
    ("name", "ticket.created", "region", "eu-west.2_a", "eu:west", "region"),
    ("name_or_empty", "decision.queued", "queue", "", "-", "queue"),
    ("text", "ticket.resolved", "reason", "r" * b.TEXT_MAX_CHARS, "r" * 1001, "reason"),
    ("step", "decision.queued", "step", "s" * b.STEP_MAX_CHARS, "s" * 20000, "step"),
    ("recipients", "command.notify", "notify", ["mail:ops@x.io"] * 32, ["r"] * 33, "notify"),
    ("recipients", "command.notify", "notify", ["role:sup"], [], "notify"),
    ("epoch_ms", "ticket.created", "ts", b.EPOCH_MS_MAX, b.EPOCH_MS_MAX + 1, "data.ts"),
    ("epoch_ms", "ticket.created", "ts", 0, -1, "data.ts"),
    ("epoch_ms", "decision.assigned", "ticket_ts", b.EPOCH_MS_MAX, 2**63, "ticket_ts"),
    ("deadline_ms", "sla.warning", "deadline_ms", b.SLA_DEADLINE_MS_MAX, 2**62, "deadline"),
    ("priority", "ticket.created", "priority", 5, 6, "priority"),
    ("priority", "command.raise_priority", "priority", 1, 0, "priority"),
    ("decision_priority", "decision.rejected", "priority", 0, -1, "priority"),
    ("rating", "ticket.rated", "rating", 1, 6, "rating"),
    ("seq", "decision.assigned", "seq", b.SEQ_MAX, b.SEQ_MAX + 1, "seq"),
    ("seq", "sla.met", "cycle", 0, -1, "cycle"),
    ("count", "decision.assigned", "candidates", b.COUNT_MAX, b.COUNT_MAX + 1, "candidates"),
    ("count", "decision.assigned", "capacity", 0, -1, "capacity"),
    ("performance", "agent.update", "performance", 1, 1.0001, "performance"),
    ("performance", "agent.update", "performance", 0.0, -0.1, "performance"),
    ("skills", "ticket.created", "skills", LONG_SKILLS_OK, LONG_SKILLS_BAD, "skills"),
    ("skills", "agent.login", "skills", {"de": 5}, {"de": 6}, "skills"),
    ("skills", "agent.login", "skills", {"de": 1}, {"de": 0}, "skills"),
    ("capacity", "agent.login", "capacity", CAPACITY_OK, CAPACITY_BAD, "capacity"),
    ("capacity", "agent.login", "capacity", {"chat": 0}, {"chat": 1001}, "capacity"),
    ("regions", "agent.login", "regions", ["r"] * b.REGIONS_MAX, ["r"] * 33, "regions"),
    ("filtered", "decision.assigned", "filtered", {"skill": b.COUNT_MAX}, {"a b": 1}, "filtered"),
    (
        "filtered",
        "decision.assigned",
        "filtered",
        {f"r{i}": 1 for i in range(b.FILTERED_REASONS_MAX)},
        {f"r{i}": 1 for i in range(b.FILTERED_REASONS_MAX + 1)},
        "filtered",
    ),
    ("free_form", "ticket.created", "attributes", NESTED_OK, {"a": {"b": {"c": [1]}}}, "attr"),
    (
        "free_form",
        "ticket.created",
        "attributes",
        {f"k{i}": i for i in range(b.ATTRIBUTES_MAX)},
        {f"k{i}": i for i in range(b.ATTRIBUTES_MAX + 1)},
        "attributes",
    ),
    ("free_form", "ticket.created", "attributes", {"k": [0] * 64}, {"k": [0] * 65}, "attr"),
    ("free_form", "ticket.created", "attributes", {"k": "x"}, {"k": "x" * 1001}, "attr"),
    (
        "free_form",
        "ticket.created",
        "attributes",
        {"k": {"y" * 128: 1}},
        {"k": {"y" * 129: 1}},
        "k",
    ),
    ("free_form", "decision.assigned", "explain", {"scores": {"A:7": 1.5}}, {"a:b": 1}, "explain"),
]


@pytest.mark.parametrize(
    ("event_type", "field", "ok", "bad", "detail"),
    [pytest.param(*case[1:], id=f"{case[0]}-{case[2]}-{i}") for i, case in enumerate(EDGES)],
)
def test_each_bound_accepts_its_edge_and_rejects_the_value_beyond(
    event_type: str, field: str, ok: Any, bad: Any, detail: str
) -> None:
    # Given an event with a field at the edge of its bound / Then it is valid
    codec.validate(example(event_type, **{field: ok}))
    # Given the same event with the field just beyond / Then it is dead-lettered as invalid
    error = rejected(example(event_type, **{field: bad}))
    assert error.reason == "invalid"
    assert detail in error.detail


# --- hostile identifiers ------------------------------------------------------------------------

HOSTILE = {
    "hash tag break-out": "acme}:t:k",
    "pipe": "a|b",
    "braces": "{x}",
    "space": "a b",
    "empty": "",
    "non-ascii": "tëam",
    "cyrillic": "тикет",
    "trailing newline": "abc\n",
    "leading dash": "-abc",
    "nul": "a\x00b",
}
STRING_CLASSES = {"tenant", "id", "event_id", "name", "name_or_empty", "recipients"}
KEYED_CLASSES = {"skills", "capacity", "filtered", "free_form"}


def too_long(cls: str) -> str:
    limit = {"tenant": 64, "name": 64, "name_or_empty": 64, "event_id": 256, "recipients": 128}
    return "x" * (limit.get(cls, b.ID_MAX_CHARS) + 1)


def identifier_fields() -> Iterator[tuple[str, str, str]]:
    """(event type, field, class) of every identifier and keyed map of every event type."""
    for event_type in TYPES:
        for field in codec.schema_for(event_type)["properties"]:
            cls = schemagen.class_of(event_type, field)
            if cls in STRING_CLASSES | KEYED_CLASSES:
                yield event_type, field, cls


def hostile_event(event_type: str, field: str, cls: str, value: str) -> dict[str, Any]:
    if cls == "recipients":
        return example(event_type, **{field: ["team:ok", value]})
    if cls in KEYED_CLASSES:
        return example(event_type, **{field: {value: 1}})
    return example(event_type, **{field: value})


@pytest.mark.parametrize(("event_type", "field", "cls"), list(identifier_fields()))
def test_hostile_identifiers_are_rejected_in_every_event_type_that_carries_them(
    event_type: str, field: str, cls: str
) -> None:
    # Given an event with one identifier (or map key) replaced by a hostile string
    values = {**HOSTILE, "one too long": too_long(cls)}
    if cls == "name_or_empty":
        values.pop("empty")  # "" means "unknown ticket" there
    for why, value in values.items():
        event = hostile_event(event_type, field, cls, value)
        # Then the codec rejects it as invalid, naming the field
        error = rejected(event)
        assert (error.reason, field in error.detail) == ("invalid", True), (why, error)


def test_an_identifier_at_its_longest_with_every_allowed_character_is_accepted() -> None:
    # Given ids using every character their class allows, at the maximum length
    ticket = ("T._:@+-" * 19)[: b.ID_MAX_CHARS]
    event = example(
        "ticket.created",
        id="9" + ticket[1:],
        tenant="A" + "z_-9" * 15 + "xyz",
        channel="C" + "._-" * 21,
        customer_id="crm:CASE-1@acme.example+vip",
    )
    # Then it is valid
    codec.validate(event)


# --- integers are integers ---------------------------------------------------------------------

INTEGRAL_FLOATS = {"2**70": 2.0**70, "2**64-1": float(2**64 - 1), "1.0": 1.0}
INTEGER_PLACES: list[tuple[str, str, Any]] = [
    ("ticket.created", "ts", lambda v: v),
    ("ticket.created", "priority", lambda v: v),
    ("ticket.created", "skills", lambda v: {"billing": v}),
    ("agent.login", "capacity", lambda v: {"chat": v}),
    ("agent.login", "skills", lambda v: {"billing": v}),
    ("command.raise_priority", "priority", lambda v: v),
    ("ticket.rated", "rating", lambda v: v),
    ("decision.assigned", "seq", lambda v: v),
    ("decision.assigned", "filtered", lambda v: {"skill": v}),
    ("sla.breached", "deadline_ms", lambda v: v),
]


@pytest.mark.parametrize(
    ("event_type", "field", "wrap"), INTEGER_PLACES, ids=[f"{t}.{f}" for t, f, _ in INTEGER_PLACES]
)
@pytest.mark.parametrize("number", INTEGRAL_FLOATS.values(), ids=list(INTEGRAL_FLOATS))
def test_integral_floats_are_rejected_where_integers_belong(
    event_type: str, field: str, wrap: Any, number: float
) -> None:
    # Given an integer field (or map of integers) holding an integral float
    event = example(event_type, **{field: wrap(number)})
    # When it is decoded / Then it is invalid, and the detail names the field
    error = rejected(event)
    assert error.reason == "invalid"
    assert f"data.{field}" in error.detail


def test_a_ts_of_2_to_the_70_as_float_is_dead_lettered_before_it_can_reach_redis() -> None:
    # Given the reported ticket.created: ts an integral float near 2**70
    data = packed(example("ticket.created", ts=float(2**70)))
    # When a dispatcher decodes it / Then it is invalid (it used to crash the Redis packing)
    with pytest.raises(DecodeError) as caught:
        codec.decode(data)
    assert (caught.value.reason, "data.ts" in caught.value.detail) == ("invalid", True)


@pytest.mark.parametrize("value", [True, False], ids=["true", "false"])
def test_booleans_are_not_integers(value: bool) -> None:
    assert rejected(example("agent.login", capacity={"chat": value})).reason == "invalid"


# --- numbers are finite ------------------------------------------------------------------------

NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


@pytest.mark.parametrize("number", NON_FINITE.values(), ids=list(NON_FINITE))
@pytest.mark.parametrize(
    ("event_type", "changes", "path"),
    [
        ("agent.update", {"performance": "N"}, "data.performance"),
        ("ticket.created", {"attributes": {"score": "N"}}, "data.attributes.score"),
        ("ticket.created", {"attributes": {"l": [1, {"x": "N"}]}}, "data.attributes.l[1].x"),
        ("decision.assigned", {"explain": {"scores": {"A-1": "N"}}}, "data.explain.scores.A-1"),
        ("agent.logout", {"unknown_extra": ["N"]}, "data.unknown_extra[0]"),
    ],
    ids=["performance", "attribute", "nested attribute", "explain", "unknown field"],
)
def test_nan_and_infinity_are_rejected_wherever_numbers_are_allowed(
    event_type: str, changes: dict[str, Any], path: str, number: float
) -> None:
    # Given an event carrying NaN or an infinity
    text = json.dumps(changes).replace('"N"', "NaN")
    event = example(event_type, **json.loads(text, parse_constant=lambda _c: number))
    # Then it is invalid and the detail names where the number is
    error = rejected(event)
    assert error.reason == "invalid"
    assert path in error.detail


def test_float32_nan_is_rejected_too() -> None:
    # Given an agent.update whose performance is a msgpack float32 NaN (0xca 7fc00000)
    data = packed(example("agent.update", performance=0.5)).replace(
        b"\xcb\x3f\xe0\x00\x00\x00\x00\x00\x00", b"\xca\x7f\xc0\x00\x00"
    )
    # When decoded / Then it is invalid
    with pytest.raises(DecodeError, match="performance must be a finite number"):
        codec.decode(data)


def test_bytes_that_look_like_a_nan_but_are_not_a_float_are_accepted() -> None:
    # Given a valid event with an extra binary field holding the bytes of a float64 NaN
    event = example("ticket.resolved", blob=b"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00")
    # Then it decodes: only real floats count
    assert codec.decode(packed(event))["blob"] == event["blob"]


# --- collection sizes --------------------------------------------------------------------------


def test_a_ticket_with_50000_required_skills_is_rejected() -> None:
    # Given the reported ticket.created with 50,000 required skills
    event = example("ticket.created", skills={f"k{i}": 1 for i in range(50_000)})
    data = packed(event)
    # When decoded with the default size limit / Then it is rejected
    with pytest.raises(DecodeError):
        codec.decode(data)
    # And even under a size limit large enough to read it, the skills bound rejects it
    with pytest.raises(DecodeError) as caught:
        codec.decode(data, max_bytes=len(data))
    assert caught.value.reason == "invalid"
    assert "data.skills must contain less than or equal to 64 properties" in caught.value.detail


# --- what the engine produces itself -----------------------------------------------------------


def test_sla_events_and_escalations_for_the_longest_ticket_id_are_valid() -> None:
    # Given a ticket with the longest id, a long policy name and every escalation action
    meta = TicketMeta("t" * 64, "T" * b.ID_MAX_CHARS, b.EPOCH_MS_MAX - 10, 1, "chat", "q", "p")
    targets = SlaTargets(
        "p" * b.NAME_MAX_CHARS,
        first_response_s=60,
        escalations=(
            Escalation("breached", None, 1, "q" * 64, tuple(f"team:t{i}" for i in range(32))),
        ),
    )
    outcome = SlaOutcome("first_response", "breached", b.EPOCH_MS_MAX, b.SLA_DEADLINE_MS_MAX, 99)
    eid = f"sla:{meta.ticket_id}:first_response:{10**12}:breached"
    # When the tracker builds its events / Then every one validates
    codec.validate(sla_event(meta, targets.name, outcome, eid))
    for _action, cmd in escalation_commands(meta, targets, outcome, eid):
        codec.validate(cmd)


def test_a_rejected_decision_about_an_unknown_ticket_is_valid() -> None:
    # Given the decision both stores make for a command on a ticket they do not know
    decision = Decision(
        "rejected",
        "T-9",
        "acme",
        1,
        queue="",
        agent="A-1",
        supervisor="sup",
        forced=True,
        reason="ticket is not open",
    )
    # Then it validates (queue, strategy, channel "" and priority 0)
    codec.validate(decision.to_event())


# --- properties --------------------------------------------------------------------------------


def integer_places(event_type: str) -> Iterator[tuple[str, bool, dict[str, Any]]]:
    """(field, is a map of integers, the integer's schema) from the schema file itself."""
    for name, prop in codec.schema_for(event_type)["properties"].items():
        if prop.get("type") == "integer" and name != "v":
            yield name, False, prop
        values = prop.get("additionalProperties")
        if isinstance(values, dict) and values.get("type") == "integer":
            yield name, True, values


numbers = (
    st.integers(0, 5)
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(-10, 10).map(float)
    | st.booleans()
)


@no_deadline
@given(st.sampled_from(TYPES), st.data())
def test_any_event_the_codec_accepts_has_int_integers_within_range(
    event_type: str, data: st.DataObject
) -> None:
    # Given an example event whose integer fields are replaced by arbitrary numbers
    event = example(event_type)
    places = list(integer_places(event_type))
    for name, is_map, _schema in places:
        if is_map:
            event[name] = data.draw(st.dictionaries(st.sampled_from(["a", "b"]), numbers))
        else:
            event[name] = data.draw(numbers)
    # When the codec accepts it
    try:
        decoded = codec.decode(packed(event))
    except DecodeError:
        return
    # Then every integer is an int (not a bool, not a float) within the schema's range
    for name, is_map, schema in places:
        values = decoded[name].values() if is_map else [decoded[name]]
        for value in values:
            assert type(value) is int
            assert schema["minimum"] <= value <= schema["maximum"]


free_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=3)
    | st.sampled_from(["x" * 1000, "x" * 1001]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["k", "y" * 128, "z" * 129]), children, max_size=3)
        | st.sampled_from([[0] * 64, [0] * 65])
    ),
    max_leaves=8,
)


@functools.cache
def full_schema(event_type: str) -> Callable[[Any], Any]:
    """The schema file compiled as it is, $ref definitions included."""
    return fastjsonschema.compile(codec.schema_for(event_type), use_default=False)


@no_deadline
@given(free_values)
def test_the_codec_checks_free_form_values_as_the_schema_file_says(value: Any) -> None:
    # Given the ticket.created schema file compiled as it is
    full = full_schema("ticket.created")
    event = example("ticket.created", attributes={"k": value})
    try:
        full(event)
        by_schema = True
    except fastjsonschema.JsonSchemaValueException:
        by_schema = False
    # When the codec (which checks free-form values itself, for speed) decodes the event
    try:
        codec.decode(packed(event))
        by_codec = True
    except DecodeError:
        by_codec = False
    # Then both agree
    assert by_codec == by_schema


def pattern_places() -> Iterator[tuple[str, str, str]]:
    """(event type, field, where) of every pattern in the schema files: a string field's
    value, an array's items or a map's keys."""
    for event_type in TYPES:
        for name, prop in codec.schema_for(event_type)["properties"].items():
            if "pattern" in prop:
                yield event_type, name, "value"
            if "pattern" in prop.get("items", {}):
                yield event_type, name, "item"
            if "propertyNames" in prop:
                yield event_type, name, "key"


PATTERN_PLACES = list(pattern_places())
characters = st.sampled_from(list("aZ09._:@+-|{} \n\x00é"))
candidate_strings = (
    st.text(characters, max_size=6)
    | st.integers(60, 260).map(lambda n: "a" * n)
    | st.builds(lambda s, n: "a" * n + s, st.text(characters, max_size=3), st.integers(60, 256))
)


@no_deadline
@given(st.sampled_from(PATTERN_PLACES), candidate_strings)
def test_the_codec_checks_identifier_patterns_as_the_schema_file_says(
    place: tuple[str, str, str], text: str
) -> None:
    # Given a valid event with one string (a value, an array item or a map key) replaced
    event_type, field, where = place
    value: Any = {"value": text, "item": [text], "key": {text: 1}}[where]
    event = example(event_type, **{field: value})
    # When the schema file (compiled as it is) and the codec (which checks patterns itself,
    # remembering names it has seen) judge it
    try:
        full_schema(event_type)(event)
        by_schema = True
    except fastjsonschema.JsonSchemaValueException:
        by_schema = False
    try:
        codec.decode(packed(event))
        by_codec = True
    except DecodeError:
        by_codec = False
    # Then they agree
    assert by_codec == by_schema, (event_type, field, where, text)


def test_the_memo_of_valid_names_stays_bounded_and_never_holds_a_rejected_name() -> None:
    # Given the codec's memo of names that matched the name pattern
    memo = codec._pattern(b.NAME_PATTERN)
    # When more distinct channel names than it keeps are decoded, and a hostile one
    for i in range(memo.MEMO_MAX + 10):
        codec.decode(packed(example("ticket.created", channel=f"ch-{i}")))
    rejected(example("ticket.created", channel="a b"))
    # Then it never holds more than its limit, nor the rejected name
    assert 0 < len(memo.known) <= memo.MEMO_MAX
    assert "a b" not in memo.known
    # And ids, new on every ticket, are not remembered at all
    assert not codec._pattern(b.ID_PATTERN).known
