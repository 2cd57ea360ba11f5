"""SLA reservations keep the labels metrics need beside the encoded messages, so the tracker
never decodes its own bytes again; reservations stored by an earlier version still read."""

from __future__ import annotations

import msgpack
import pytest

from engine import codec
from engine.sla.state import Labels, labels_of, pack_messages, unpack_messages
from tests.unit.event_examples import example

pytestmark = pytest.mark.unit


def reservation() -> list[tuple[str, str, dict[str, object]]]:
    breach = example("sla.breached", event_id="sla:T-1:first_response:0:breached", policy="vip")
    raise_ = example("command.raise_priority", priority=1)
    notify = example("command.notify", notify=["team:leads"])
    return [
        ("sla.events", "T-1", breach),
        ("dispatch.commands", "T-1", raise_),
        ("dispatch.commands", "T-1", notify),
    ]


def test_labels_name_the_sla_event_and_its_escalation_actions() -> None:
    # Given an SLA breach reserved with two escalation commands
    msgs = reservation()
    # When its labels are taken
    labels = labels_of(msgs)
    # Then they name the event id, policy, target and kind, and the actions in order
    breach = msgs[0][2]
    assert labels == Labels(
        str(breach["event_id"]),
        "vip",
        str(breach["target"]),
        "breached",
        ("raise_priority", "notify"),
    )


def test_a_stored_reservation_gives_back_its_labels_and_exact_bytes() -> None:
    # Given a reservation packed for the store
    msgs = reservation()
    encoded = [(t, k, codec.encode(m)) for t, k, m in msgs]
    payload = pack_messages(labels_of(msgs), encoded)
    # When it is unpacked
    labels, back = unpack_messages(payload)
    # Then labels and messages come back unchanged, nothing decoded
    assert labels == labels_of(msgs)
    assert back == encoded


def test_a_reservation_stored_by_an_earlier_tracker_still_reads() -> None:
    # Given a payload in the earlier format: a bare list of [topic, key, value]
    msgs = reservation()
    encoded = [(t, k, codec.encode(m)) for t, k, m in msgs]
    old = msgpack.packb([list(m) for m in encoded])
    # When it is unpacked
    labels, back = unpack_messages(old)
    # Then its labels are read from its SLA event and the bytes are unchanged
    assert labels == labels_of(msgs)
    assert back == encoded
