"""engine.codec: msgpack events survive encode then decode unchanged."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from engine import codec
from tests.unit.codec_helpers import TYPES
from tests.unit.event_examples import DROP, example

pytestmark = pytest.mark.unit

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


# --- encode once -------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", TYPES)
def test_encode_valid_returns_the_one_encoding_consumers_accept(event_type: str) -> None:
    # Given a valid event of each type
    event = example(event_type)
    # When it is validated and encoded in one call
    data = codec.encode_valid(event)
    # Then the bytes are the plain encoding, and they decode back to the event
    assert data == codec.encode(event)
    assert codec.decode(data) == event


def test_encode_valid_refuses_what_consumers_would_dead_letter() -> None:
    # Given a ticket without its required channel
    event = example("ticket.created", channel=DROP)
    # When it is validated and encoded / Then it is refused with the field named
    with pytest.raises(codec.DecodeError) as err:
        codec.encode_valid(event)
    assert err.value.reason == "missing_field"
    assert "channel" in err.value.detail


def test_a_decoded_event_keeps_the_bytes_it_came_from() -> None:
    # Given the bytes of a valid ticket with an unknown field
    data = codec.encode(example("ticket.created", crm={"case": "C-1"}))
    # When they are decoded
    event = codec.decode(data)
    # Then the event is a dict that remembers exactly those bytes; a copy does not
    assert isinstance(event, dict)
    assert codec.raw_bytes(event) == data
    assert codec.raw_bytes(dict(event)) is None
