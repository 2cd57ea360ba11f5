"""The SLA tracker's stored state: how facts are encoded (the store itself is the
:class:`engine.ports.SlaStore` port).

A ticket's state is a flat map ``field -> bytes`` (a Redis hash; a dict in memory). Facts
are only ever added, never changed (``HSETNX``), so replicas and redeliveries can apply
them in any order and any number of times:

==================  =============================================  ===========================
field               value                                          from
==================  =============================================  ===========================
``c``               msgpack {ts, priority, channel, queue,         ``ticket.created``
                    policy, tier}
``e:<kind>:<ts>``   empty                                          clock events (sla.KINDS)
``a:<ts>:<agent>``  empty                                          assigning decisions
``r:<ts>``          msgpack [rating, agent or nil]                 ``ticket.rated``
``o:<event id>``    msgpack {l: labels, m: [[topic, key, value]]}  reserved, not yet published
``s:<event id>``    ``1``                                          published
``f:<final key>``   event id                                       first final outcome wins
``m:<mark>``        ``1``                                          observation made
==================  =============================================  ===========================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import msgpack

from engine.core.sla import ClockEvent
from engine.core.sla_track import SlaState, TicketMeta
from engine.ports import Key, Message


def meta_field(meta: TicketMeta) -> bytes:
    packed: bytes = msgpack.packb(
        {
            "ts": meta.ts,
            "priority": meta.priority,
            "channel": meta.channel,
            "queue": meta.queue,
            "policy": meta.policy,
            "tier": meta.tier,
        }
    )
    return packed


def event_field(kind: str, ts: int) -> str:
    return f"e:{kind}:{ts}"


def assignment_field(ts: int, agent: str) -> str:
    return f"a:{ts}:{agent}"


def rating_field(ts: int) -> str:
    return f"r:{ts}"


def rating_value(rating: int, agent: str | None) -> bytes:
    packed: bytes = msgpack.packb([rating, agent])
    return packed


class Labels(NamedTuple):
    """What metrics need of a reserved SLA event, kept beside its bytes so nobody decodes
    them again: ``(event id, policy, target, kind)`` and the escalation actions after it."""

    event_id: str
    policy: str
    target: str
    kind: str
    actions: tuple[str, ...]


def labels_of(messages: Sequence[tuple[str, str, Mapping[str, Any]]]) -> Labels:
    """The labels of a reservation's messages: the SLA event first, then escalations."""
    sla = messages[0][2]
    actions = tuple(str(m["type"]).removeprefix("command.") for _t, _k, m in messages[1:])
    return Labels(
        str(sla["event_id"]), str(sla["policy"]), str(sla["target"]), sla["type"][4:], actions
    )


def pack_messages(labels: Labels, messages: Sequence[Message]) -> bytes:
    """A reservation as stored: ``{"l": labels, "m": [[topic, key, value], ...]}``."""
    packed: bytes = msgpack.packb({"l": list(labels), "m": [list(m) for m in messages]})
    return packed


def unpack_messages(payload: bytes) -> tuple[Labels, list[Message]]:
    """The labels and messages of a stored reservation. A reservation stored by a tracker
    of an earlier version (a bare message list) has its labels read from its SLA event."""
    data = msgpack.unpackb(payload)
    if isinstance(data, dict):
        eid, policy, target, kind, actions = data["l"]
        labels = Labels(eid, policy, target, kind, tuple(actions))
        return labels, [(str(t), str(k), bytes(v)) for t, k, v in data["m"]]
    msgs = [(str(t), str(k), bytes(v)) for t, k, v in data]
    decoded = [(t, k, msgpack.unpackb(v)) for t, k, v in msgs]
    return labels_of(decoded), msgs


def decode_state(key: Key, fields: Mapping[str, bytes]) -> SlaState:
    """The :class:`SlaState` of ticket ``key`` from its stored fields."""
    tenant, tid = key
    meta = None
    events: list[ClockEvent] = []
    assignments: list[tuple[int, str]] = []
    ratings: list[tuple[int, int, str | None]] = []
    reserved: set[str] = set()
    finals: dict[str, str] = {}
    marks: set[str] = set()
    for name, value in fields.items():
        tag, _, rest = name.partition(":")
        if tag == "c":
            d = msgpack.unpackb(value)
            meta = TicketMeta(
                tenant,
                tid,
                int(d["ts"]),
                int(d["priority"]),
                str(d["channel"]),
                str(d["queue"]),
                d.get("policy"),
                str(d.get("tier") or "standard"),
            )
        elif tag == "e":
            kind, _, ts = rest.rpartition(":")
            events.append(ClockEvent(kind, int(ts)))
        elif tag == "a":
            ts, _, agent = rest.partition(":")
            assignments.append((int(ts), agent))
        elif tag == "r":
            rating, agent = msgpack.unpackb(value)
            ratings.append((int(rest), int(rating), agent))
        elif tag in ("o", "s"):
            reserved.add(rest)
        elif tag == "f":
            finals[rest] = value.decode()
        elif tag == "m":
            marks.add(name)
    return SlaState(
        meta,
        tuple(sorted(events)),
        tuple(sorted(assignments)),
        tuple(sorted(ratings, key=lambda r: r[0])),
        frozenset(reserved),
        finals,
        frozenset(marks),
    )
