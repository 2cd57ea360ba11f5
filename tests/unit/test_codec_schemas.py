"""engine.codec: the JSON Schemas of the events and the topic of each event type."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

import fastjsonschema
import pytest

from engine import codec
from engine.codec import DecodeError
from tests.unit.codec_helpers import TYPES
from tests.unit.event_examples import EXAMPLES, example

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
