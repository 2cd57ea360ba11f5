"""producers/sdk.py: the SDK validates through the codec, so producers get the bounds."""

from __future__ import annotations

from typing import Any

import pytest

from engine import codec
from engine.adapters.memory.log import MemoryLog
from engine.codec import DecodeError
from producers.sdk import EventProducer

pytestmark = pytest.mark.unit

# (why, producer tenant, ticket id, fields, text in the detail)
OUT_OF_BOUNDS: list[tuple[str, str, str, dict[str, Any], str]] = [
    ("tenant breaking out of its hash tag", "acme}:t:k", "T-1", {}, "data.tenant"),
    ("ticket id with a pipe", "acme", "T|1", {}, "data.id"),
    ("priority as an integral float", "acme", "T-1", {"priority": 2.0}, "data.priority"),
    ("ts near 2**70 as a float", "acme", "T-1", {"ts": float(2**70)}, "data.ts"),
    ("65 required skills", "acme", "T-1", {"skills": {f"s{i}": 1 for i in range(65)}}, "skills"),
]


@pytest.mark.parametrize(
    ("tenant", "ticket_id", "fields", "detail"),
    [pytest.param(*case[1:], id=case[0]) for case in OUT_OF_BOUNDS],
)
def test_a_ticket_out_of_bounds_raises_in_the_producer_and_is_never_sent(
    tenant: str, ticket_id: str, fields: dict[str, Any], detail: str
) -> None:
    # Given a producer over an in-memory log
    log = MemoryLog()
    producer = EventProducer(log, tenant=tenant, clock=lambda: 1_700_000_000_000)
    # When it publishes a ticket outside the bounds
    ticket = {"priority": 2, **fields}
    with pytest.raises(DecodeError) as caught:
        producer.ticket(ticket_id, channel="chat", **ticket)
    # Then the producer raises, naming the field, and nothing reaches the topic
    assert caught.value.reason == "invalid"
    assert detail in caught.value.detail
    assert log.records("tickets.events") == []


def test_a_ticket_within_bounds_is_sent_as_consumers_will_decode_it() -> None:
    # Given a producer / When it publishes a ticket at the edges of the bounds
    log = MemoryLog()
    producer = EventProducer(log, tenant="a" * 64, clock=lambda: 253_402_300_799_999)
    producer.ticket("T:" + "9" * 126, channel="chat", priority=5, skills={"de": 5})
    # Then the record on the topic decodes to the same ticket
    (record,) = log.records("tickets.events")
    assert codec.decode(record.value)["id"] == "T:" + "9" * 126
