"""The Redis store keeps a decoded ticket event as the record's own bytes (encode once)."""

from __future__ import annotations

import pytest

from engine import codec
from engine.adapters.redis import wire
from engine.core.model import Ticket
from engine.core.policy import parse_policy
from engine.core.routing import route
from tests.unit.event_examples import example

pytestmark = pytest.mark.unit

POLICY = parse_policy(
    {"version": 1, "queues": [{"name": "general", "match": {}, "strategy": "round_robin"}]}
)


def test_a_decoded_ticket_is_stored_as_its_record_bytes() -> None:
    # Given a ticket.created record with a field no schema knows, decoded by the codec
    data = codec.encode(example("ticket.created", crm={"case": "C-9"}))
    event = codec.decode(data)
    request = route(Ticket.from_event(event), POLICY, event["ts"]).request
    assert request is not None
    # When the store packs it
    _req, _cooloff, stored = wire.pack_new_ticket(request, event)
    # Then the record's bytes are stored as they are, not packed again
    assert stored is data


def test_a_built_ticket_is_packed() -> None:
    # Given a ticket event built in code (a plain dict, e.g. a supervisor's queue move)
    event = dict(example("ticket.created"))
    request = route(Ticket.from_event(event), POLICY, event["ts"]).request
    assert request is not None
    # When the store packs it / Then it is msgpack of exactly that dict
    assert wire.unpack(wire.pack_new_ticket(request, event)[2]) == event
