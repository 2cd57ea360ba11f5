"""engine.codec: DecodeError reasons for bad bytes and bad events."""

from __future__ import annotations

import pickle
import struct
from types import MappingProxyType
from typing import Any

import pytest

from engine import codec
from engine.codec import DecodeError
from tests.unit.codec_helpers import packed
from tests.unit.event_examples import DROP, example

pytestmark = pytest.mark.unit

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
