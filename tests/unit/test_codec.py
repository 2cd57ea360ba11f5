"""engine.codec: msgpack events, versions, JSON Schemas and DecodeError reasons."""

from __future__ import annotations

import json
import pickle
import struct
from collections.abc import Iterator
from importlib import resources
from types import MappingProxyType
from typing import Any

import fastjsonschema
import msgpack
import pytest
from event_examples import DROP, EXAMPLES, example
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import codec
from engine.codec import DecodeError

pytestmark = pytest.mark.unit

# Draft-07 meta-schema, verbatim from http://json-schema.org/draft-07/schema (tests stay offline).
DRAFT07_METASCHEMA: dict[str, Any] = json.loads(
    """
{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "$id": "http://json-schema.org/draft-07/schema#",
  "title": "Core schema meta-schema",
  "definitions": {
    "schemaArray": {"type": "array", "minItems": 1, "items": {"$ref": "#"}},
    "nonNegativeInteger": {"type": "integer", "minimum": 0},
    "nonNegativeIntegerDefault0": {
      "allOf": [{"$ref": "#/definitions/nonNegativeInteger"}, {"default": 0}]},
    "simpleTypes": {
      "enum": ["array", "boolean", "integer", "null", "number", "object", "string"]},
    "stringArray": {
      "type": "array", "items": {"type": "string"}, "uniqueItems": true, "default": []}
  },
  "type": ["object", "boolean"],
  "properties": {
    "$id": {"type": "string", "format": "uri-reference"},
    "$schema": {"type": "string", "format": "uri"},
    "$ref": {"type": "string", "format": "uri-reference"},
    "$comment": {"type": "string"},
    "title": {"type": "string"},
    "description": {"type": "string"},
    "default": true,
    "readOnly": {"type": "boolean", "default": false},
    "examples": {"type": "array", "items": true},
    "multipleOf": {"type": "number", "exclusiveMinimum": 0},
    "maximum": {"type": "number"},
    "exclusiveMaximum": {"type": "number"},
    "minimum": {"type": "number"},
    "exclusiveMinimum": {"type": "number"},
    "maxLength": {"$ref": "#/definitions/nonNegativeInteger"},
    "minLength": {"$ref": "#/definitions/nonNegativeIntegerDefault0"},
    "pattern": {"type": "string", "format": "regex"},
    "additionalItems": {"$ref": "#"},
    "items": {
      "anyOf": [{"$ref": "#"}, {"$ref": "#/definitions/schemaArray"}], "default": true},
    "maxItems": {"$ref": "#/definitions/nonNegativeInteger"},
    "minItems": {"$ref": "#/definitions/nonNegativeIntegerDefault0"},
    "uniqueItems": {"type": "boolean", "default": false},
    "contains": {"$ref": "#"},
    "maxProperties": {"$ref": "#/definitions/nonNegativeInteger"},
    "minProperties": {"$ref": "#/definitions/nonNegativeIntegerDefault0"},
    "required": {"$ref": "#/definitions/stringArray"},
    "additionalProperties": {"$ref": "#"},
    "definitions": {"type": "object", "additionalProperties": {"$ref": "#"}, "default": {}},
    "properties": {"type": "object", "additionalProperties": {"$ref": "#"}, "default": {}},
    "patternProperties": {
      "type": "object", "additionalProperties": {"$ref": "#"},
      "propertyNames": {"format": "regex"}, "default": {}},
    "dependencies": {
      "type": "object",
      "additionalProperties": {"anyOf": [{"$ref": "#"}, {"$ref": "#/definitions/stringArray"}]}},
    "propertyNames": {"$ref": "#"},
    "const": true,
    "enum": {"type": "array", "items": true},
    "type": {"anyOf": [
      {"$ref": "#/definitions/simpleTypes"},
      {"type": "array", "items": {"$ref": "#/definitions/simpleTypes"}, "minItems": 1,
       "uniqueItems": true}]},
    "format": {"type": "string"},
    "contentMediaType": {"type": "string"},
    "contentEncoding": {"type": "string"},
    "if": {"$ref": "#"},
    "then": {"$ref": "#"},
    "else": {"$ref": "#"},
    "allOf": {"$ref": "#/definitions/schemaArray"},
    "anyOf": {"$ref": "#/definitions/schemaArray"},
    "oneOf": {"$ref": "#/definitions/schemaArray"},
    "not": {"$ref": "#"}
  },
  "default": true
}"""
)
DRAFT07_KEYWORDS = frozenset(DRAFT07_METASCHEMA["properties"])
COMMON_FIELDS = ("v", "type", "id", "tenant", "ts")
TYPES = sorted(EXAMPLES)


def packed(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def schema_files() -> dict[str, dict[str, Any]]:
    folder = resources.files("engine") / "schemas"
    return {
        entry.name.removesuffix(".json"): json.loads(entry.read_text("utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    }


def subschemas(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The schema and every schema nested in it (properties, items, ...)."""
    yield schema
    for child in schema.get("properties", {}).values():
        yield from subschemas(child)
    for key in ("additionalProperties", "items", "propertyNames"):
        if isinstance(schema.get(key), dict):
            yield from subschemas(schema[key])


# --- schemas ---------------------------------------------------------------------------------


def test_every_event_type_has_one_schema_file_and_one_example() -> None:
    # Given the packaged schema files, the codec's type list and the shared examples
    # Then all three name exactly the same event types
    assert set(schema_files()) == codec.event_types() == set(EXAMPLES)


@pytest.mark.parametrize("event_type", TYPES)
def test_schema_file_is_valid_draft07_and_follows_house_rules(event_type: str) -> None:
    # Given the schema file of one event type
    schema = schema_files()[event_type]
    meta = fastjsonschema.compile(DRAFT07_METASCHEMA, use_default=False)

    # Then it is a valid draft-07 schema ...
    meta(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["$id"].endswith(f":{event_type}:v{codec.SCHEMA_VERSION}")
    assert schema["title"] and schema["description"]
    # ... that uses only draft-07 keywords (a typo such as "maximun" would be silently ignored)
    for sub in subschemas(schema):
        assert set(sub) <= DRAFT07_KEYWORDS, set(sub) - DRAFT07_KEYWORDS
    # ... documents every field, keeps unknown fields and pins the envelope
    props = schema["properties"]
    assert all(field.get("description") for field in props.values())
    assert schema["additionalProperties"] is True
    assert set(COMMON_FIELDS) <= set(schema["required"]) <= set(props)
    assert props["type"]["const"] == event_type
    assert props["v"]["const"] == codec.SCHEMA_VERSION
    assert f"Topic: {codec.topic_of(event_type)}" in schema["description"]


def test_schema_for_returns_a_copy_that_callers_may_change() -> None:
    # Given a schema obtained from the codec
    schema = codec.schema_for("ticket.created")
    # When the caller mutates it
    schema["properties"]["priority"]["maximum"] = 99
    # Then the codec still validates with the packaged schema
    assert codec.schema_for("ticket.created")["properties"]["priority"]["maximum"] == 5
    with pytest.raises(DecodeError, match="priority"):
        codec.validate(example("ticket.created", priority=99))


def test_schema_for_and_topic_of_reject_unknown_types() -> None:
    with pytest.raises(KeyError):
        codec.schema_for("ticket.exploded")
    with pytest.raises(KeyError):
        codec.topic_of("ticket.exploded")


@pytest.mark.parametrize(
    ("event_type", "topic"),
    [
        ("ticket.created", "tickets.events"),
        ("agent.login", "agents.events"),
        ("agent.logout", "agents.events"),
        ("ticket.accepted", "tickets.lifecycle"),
        ("ticket.rated", "tickets.lifecycle"),
        ("command.reassign", "dispatch.commands"),
        ("command.claim", "dispatch.commands"),
        ("decision.assigned", "dispatch.assignments"),
        ("decision.rejected", "dispatch.assignments"),
        ("sla.breached", "sla.events"),
        ("ticket.replied", "tickets.lifecycle"),
        ("ticket.waiting", "tickets.lifecycle"),
        ("command.notify", "dispatch.commands"),
        ("notification.sent", "dispatch.notifications"),
    ],
)
def test_topic_of_names_the_logical_topic_of_an_event_type(event_type: str, topic: str) -> None:
    assert codec.topic_of(event_type) == topic


# --- round trip ------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", TYPES)
def test_valid_event_survives_encode_then_decode_unchanged(event_type: str) -> None:
    # Given a valid event of each type
    event = example(event_type)
    # When it is validated, encoded and decoded
    codec.validate(event)
    decoded = codec.decode(codec.encode(event))
    # Then the decoded dict equals the original
    assert decoded == event


def test_unknown_fields_are_kept_at_top_level_and_nested() -> None:
    # Given a ticket with fields no schema mentions, including a bytes value
    event = example(
        "ticket.created",
        sentiment={"score": -0.4, "labels": ["angry"]},
        raw_payload=b"\x00\x01",
        attributes={"crm": {"case": "C-1", "tags": ["a", "b"]}},
    )
    # When it is decoded
    decoded = codec.decode(codec.encode(event))
    # Then every unknown field is still there, bytes stay bytes
    assert decoded["sentiment"] == {"score": -0.4, "labels": ["angry"]}
    assert decoded["raw_payload"] == b"\x00\x01"
    assert decoded["attributes"] == {"crm": {"case": "C-1", "tags": ["a", "b"]}}


def test_decode_does_not_inject_schema_defaults() -> None:
    # Given a ticket without tier and skills (the schema documents defaults for both)
    event = example("ticket.created", tier=DROP, skills=DROP)
    # When it is decoded
    decoded = codec.decode(codec.encode(event))
    # Then the fields are still absent: applying defaults is the consumer's job
    assert "tier" not in decoded
    assert "skills" not in decoded


def test_encode_accepts_any_mapping() -> None:
    event = MappingProxyType(example("agent.logout"))
    assert codec.decode(codec.encode(event)) == dict(event)


# --- decode errors ---------------------------------------------------------------------------

NESTED_HUGE_ARRAYS = (b"\xdd" + struct.pack(">I", 2**32 - 1)) * 100
HUGE_MAP_HEADER = b"\xdf" + struct.pack(">I", 2**32 - 1)

# (why, bytes, reason, text expected in the detail)
BAD_BYTES = [
    ("oversize message", packed({"pad": "x" * codec.MAX_EVENT_BYTES}), "too_large", "bytes"),
    ("empty message", b"", "msgpack", ""),
    ("reserved byte 0xc1", b"\xc1", "msgpack", ""),
    ("truncated map", packed(example("ticket.created"))[:-3], "msgpack", ""),
    ("trailing bytes", packed(example("agent.logout")) + b"\x00", "msgpack", "ExtraData"),
    ("invalid utf-8 string", b"\x81\xa1v\xa2\xff\xfe", "msgpack", ""),
    ("nested arrays claiming 4G items", NESTED_HUGE_ARRAYS, "msgpack", ""),
    ("map claiming 4G entries", HUGE_MAP_HEADER, "msgpack", ""),
    ("array", packed([1, 2, 3]), "not_a_map", "list"),
    ("string", packed("ticket.created"), "not_a_map", "str"),
    ("nil", packed(None), "not_a_map", "NoneType"),
    ("integer map key", packed({**example("agent.logout"), 1: "x"}), "invalid", "keys"),
    ("nested nil map key", packed(example("ticket.created", skills={None: 1})), "invalid", "keys"),
    ("bytes map key", packed({**example("agent.logout"), b"k": 1}), "invalid", "keys"),
    (
        "nested bytes map key",
        packed(example("ticket.created", attributes={"a": {b"k": 1}})),
        "invalid",
        "keys",
    ),
]


@pytest.mark.parametrize(
    ("data", "reason", "detail"),
    [pytest.param(data, reason, detail, id=why) for why, data, reason, detail in BAD_BYTES],
)
def test_undecodable_bytes_raise_decode_error_with_reason(
    data: bytes, reason: str, detail: str
) -> None:
    # When bytes that cannot be an event are decoded
    with pytest.raises(DecodeError) as caught:
        codec.decode(data)
    # Then the error names the reason, and the detail says what was wrong
    assert caught.value.reason == reason
    assert detail in caught.value.detail


# (why, event, reason, text expected in the detail)
BAD_EVENTS = [
    ("v missing", example("agent.logout", v=DROP), "missing_field", "'v'"),
    ("type missing", example("agent.logout", type=DROP), "missing_field", "'type'"),
    ("id missing", example("agent.logout", id=DROP), "missing_field", "'id'"),
    ("channel missing", example("ticket.created", channel=DROP), "missing_field", "'channel'"),
    ("capacity missing", example("agent.login", capacity=DROP), "missing_field", "capacity"),
    ("rating missing", example("ticket.rated", rating=DROP), "missing_field", "rating"),
    ("supervisor missing", example("command.reassign", supervisor=DROP), "missing_field", "super"),
    ("queue missing", example("decision.assigned", queue=DROP), "missing_field", "queue"),
    ("event_id missing", example("sla.met", event_id=DROP), "missing_field", "event_id"),
    ("version 2", example("ticket.created", v=2), "unknown_version", "v=2"),
    ("version 0", example("ticket.created", v=0), "unknown_version", "v=0"),
    ("unknown type", example("ticket.created", type="ticket.exploded"), "unknown_type", "explo"),
    ("v is a string", example("agent.logout", v="1"), "invalid", "data.v"),
    ("v is a bool", example("agent.logout", v=True), "invalid", "data.v"),
    ("type is a list", example("agent.logout", type=["x"]), "invalid", "data.type"),
    ("priority 6", example("ticket.created", priority=6), "invalid", "data.priority"),
    ("priority 0", example("ticket.created", priority=0), "invalid", "data.priority"),
    ("priority string", example("ticket.created", priority="1"), "invalid", "data.priority"),
    ("priority bool", example("ticket.created", priority=True), "invalid", "data.priority"),
    ("empty id", example("ticket.created", id=""), "invalid", "data.id"),
    ("ts negative", example("ticket.created", ts=-1), "invalid", "data.ts"),
    ("skill level 6", example("ticket.created", skills={"a": 6}), "invalid", "data.skills.a"),
    ("empty skill", example("ticket.created", skills={"": 1}), "invalid", "data.skills"),
    ("tier null", example("ticket.created", tier=None), "invalid", "data.tier"),
    ("capacity < 0", example("agent.login", capacity={"chat": -1}), "invalid", "capacity.chat"),
    ("status lunch", example("agent.status", status="lunch"), "invalid", "data.status"),
    ("performance 2", example("agent.login", performance=2), "invalid", "data.performance"),
    ("regions string", example("agent.login", regions="eu"), "invalid", "data.regions"),
    ("rating 0", example("ticket.rated", rating=0), "invalid", "data.rating"),
    ("priority cmd 9", example("command.raise_priority", priority=9), "invalid", "priority"),
    ("agent int", example("decision.assigned", agent=7), "invalid", "data.agent"),
    ("candidates < 0", example("decision.queued", candidates=-1), "invalid", "candidates"),
    ("forced string", example("decision.assigned", forced="yes"), "invalid", "data.forced"),
    ("sla target", example("sla.warning", target="lunch"), "invalid", "data.target"),
    ("replied by bot", example("ticket.replied", by="bot"), "invalid", "data.by"),
    ("replied no by", example("ticket.replied", by=DROP), "missing_field", "by"),
    ("waiting string", example("ticket.waiting", waiting="yes"), "invalid", "data.waiting"),
    ("waiting int", example("ticket.waiting", waiting=1), "invalid", "data.waiting"),
    ("no waiting", example("ticket.waiting", waiting=DROP), "missing_field", "waiting"),
    ("notify empty", example("command.notify", notify=[]), "invalid", "data.notify"),
    ("notify blank", example("command.notify", notify=["team:a", ""]), "invalid", "notify"),
    ("notify string", example("command.notify", notify="team:a"), "invalid", "data.notify"),
    ("notify no sup", example("command.notify", supervisor=DROP), "missing_field", "supervisor"),
    ("notify kind", example("command.notify", kind="info"), "invalid", "data.kind"),
    ("notify target", example("command.notify", target="lunch"), "invalid", "data.target"),
    ("sent no state", example("notification.sent", state=DROP), "missing_field", "state"),
    ("sent no queue", example("notification.sent", queue=DROP), "missing_field", "queue"),
    ("sent agent int", example("notification.sent", agent=7), "invalid", "data.agent"),
]


@pytest.mark.parametrize(
    ("event", "reason", "detail"),
    [pytest.param(event, reason, detail, id=why) for why, event, reason, detail in BAD_EVENTS],
)
def test_bad_event_is_rejected_with_reason_by_decode_and_by_validate(
    event: dict[str, Any], reason: str, detail: str
) -> None:
    # Given a well-formed msgpack map that is not a valid event
    # When a consumer decodes it and a producer validates it
    with pytest.raises(DecodeError) as decoded:
        codec.decode(codec.encode(event))
    with pytest.raises(DecodeError) as validated:
        codec.validate(event)
    # Then both reject it with the same reason, and the detail names the field
    assert decoded.value.reason == validated.value.reason == reason
    assert detail in decoded.value.detail


def test_decode_error_is_a_value_error_with_reason_and_detail() -> None:
    # Given a decode error
    with pytest.raises(DecodeError) as caught:
        codec.decode(codec.encode(example("ticket.created", priority=6)))
    error = caught.value
    # Then it reads "reason: detail", is a ValueError, and survives pickling (worker processes)
    assert isinstance(error, ValueError)
    assert str(error) == f"{error.reason}: {error.detail}"
    assert error.detail == "data.priority must be smaller than or equal to 5"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, copy.detail, str(copy)) == (error.reason, error.detail, str(error))


def test_every_reason_is_listed_in_decode_reasons() -> None:
    used = {reason for _, _, reason, _ in BAD_BYTES + BAD_EVENTS}
    assert used == set(codec.DECODE_REASONS)


def test_max_bytes_sets_the_size_limit_per_call() -> None:
    # Given a valid event of n bytes
    data = codec.encode(example("ticket.created"))
    # Then a limit of n accepts it and a limit of n - 1 rejects it as too large
    assert codec.decode(data, max_bytes=len(data))["id"] == "T-1001"
    with pytest.raises(DecodeError, match="too_large"):
        codec.decode(data, max_bytes=len(data) - 1)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        pytest.param(["not", "a", "map"], "not_a_map", id="list"),
        pytest.param({**example("agent.logout"), 1: "x"}, "invalid", id="int key"),
        pytest.param(example("agent.logout", extra={"a", "b"}), "invalid", id="set value"),
        pytest.param(example("agent.logout", extra=2**64), "invalid", id="int beyond 64 bits"),
        pytest.param(
            example("agent.logout", pad="x" * codec.MAX_EVENT_BYTES), "too_large", id="oversize"
        ),
    ],
)
def test_validate_rejects_what_a_consumer_could_not_decode(event: Any, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        codec.validate(event)
    assert caught.value.reason == reason


def test_validate_accepts_read_only_mappings() -> None:
    codec.validate(MappingProxyType(example("ticket.created")))


# --- properties ------------------------------------------------------------------------------

msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text()
    | st.binary(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.binary(max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)


# The first call of a type compiles its validator; a per-example deadline would make CI flaky.
no_deadline = settings(deadline=None)


def decode_or_error(data: bytes) -> dict[str, Any] | DecodeError:
    try:
        return codec.decode(data)
    except DecodeError as exc:
        assert exc.reason in codec.DECODE_REASONS
        return exc


@no_deadline
@given(st.binary(max_size=512))
def test_any_bytes_decode_to_a_dict_or_a_decode_error(data: bytes) -> None:
    assert isinstance(decode_or_error(data), dict | DecodeError)


@no_deadline
@given(msgpack_values)
def test_any_msgpack_value_decodes_to_a_dict_or_a_decode_error(value: Any) -> None:
    assert isinstance(decode_or_error(packed(value)), dict | DecodeError)


@no_deadline
@given(st.sampled_from(TYPES), st.text(max_size=12), msgpack_values)
def test_valid_event_with_any_field_replaced_decodes_or_fails_cleanly(
    event_type: str, field: str, value: Any
) -> None:
    # Given a valid event with one field (known or new) set to an arbitrary value
    event = example(event_type, **{field: value})
    # Then decoding gives the event back or a DecodeError; validate agrees with decode
    outcome = decode_or_error(packed(event))
    try:
        codec.validate(event)
    except DecodeError as exc:
        assert isinstance(outcome, DecodeError)
        assert exc.reason == outcome.reason
    else:
        assert packed(outcome) == packed(event)  # bytewise, so that NaN equals NaN


@no_deadline
@given(st.sampled_from(TYPES), st.binary(min_size=1, max_size=8), st.integers(0, 255))
def test_corrupted_valid_event_decodes_or_fails_cleanly(
    event_type: str, noise: bytes, offset: int
) -> None:
    data = bytearray(packed(example(event_type)))
    position = offset % len(data)
    data[position : position + len(noise)] = noise
    assert isinstance(decode_or_error(bytes(data)), dict | DecodeError)
