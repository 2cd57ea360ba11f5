"""engine.codec: any bytes decode to an event or fail cleanly with a DecodeError."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import codec
from engine.codec import DecodeError
from tests.unit.codec_helpers import TYPES, packed
from tests.unit.event_examples import example

pytestmark = pytest.mark.unit

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
