"""The SLA tracker's stored state: fact encoding and the :class:`SlaStore` port.

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
``o:<event id>``    msgpack [[topic, key, value], ...]             reserved, not yet published
``s:<event id>``    ``1``                                          published
``f:<final key>``   event id                                       first final outcome wins
``m:<mark>``        ``1``                                          observation made
==================  =============================================  ===========================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

import msgpack

from engine.core.sla import ClockEvent
from engine.core.sla_track import Feedback, SlaState, TicketMeta

Key = tuple[str, str]  # (tenant, ticket id)
Message = tuple[str, str, bytes]  # (logical topic, key, value)


class Settle(NamedTuple):
    """One ticket's settle step: ``marks`` to set (observations), outcomes to ``reserve``
    as ``(event id, final key or None, payload)``, the next ``due_ms`` (None: nothing
    pending) and ``recheck_ms``, when to look again if something stays unpublished."""

    key: Key
    marks: Sequence[str]
    reserve: Sequence[tuple[str, str | None, bytes]]
    due_ms: int | None
    recheck_ms: int


class Settled(NamedTuple):
    """``new_marks``: the marks this call set (make those observations); ``unsent``:
    every reserved, unpublished ``(event id, payload)`` of the ticket."""

    new_marks: list[str]
    unsent: list[tuple[str, bytes]]


class AgentStats(NamedTuple):
    csat: float | None  # moving average rating 1..5
    handle_s: float | None  # moving average handle time
    published: float | None  # performance last published


class SlaStore(Protocol):
    """Where SLA state lives (Redis in production, a dict for the demo and tests)."""

    def apply(self, facts: Mapping[Key, Mapping[str, bytes]]) -> dict[Key, dict[str, bytes]]:
        """Add every field that is not present yet; return each ticket's fields after."""
        ...

    def load(self, keys: Sequence[Key]) -> dict[Key, dict[str, bytes]]: ...

    def settle(self, items: Sequence[Settle]) -> list[Settled]:
        """Per ticket, atomically: set the marks, reserve outcomes (skipping an event id
        already reserved and a final key already taken), reschedule and release the lease."""
        ...

    def mark_sent(self, sent: Mapping[Key, Sequence[str]]) -> list[tuple[Key, str]]:
        """Record event ids as published; returns the ones not recorded before."""
        ...

    def claim_due(self, wm_ms: int, now_ms: int, lease_ms: int, limit: int) -> list[Key]:
        """Tickets due at or before ``wm_ms`` not leased by another replica, leased now."""
        ...

    def deadlines(self) -> int:
        """Tickets with something pending (all tenants)."""
        ...

    def advance_watermarks(self, marks: Mapping[str, int]) -> None:
        """Raise each partition's watermark (``topic:partition``); never lowers one."""
        ...

    def watermarks(self) -> dict[str, int]: ...

    def agent_feedback(self, items: Sequence[Feedback], alpha: float) -> list[AgentStats]:
        """Fold each rating and/or handle time, in order, into its agent's moving averages;
        the agent's stats after each fold."""
        ...

    def set_published(self, performance: Mapping[tuple[str, str], float]) -> None:
        """Record ``(tenant, agent) -> performance`` as published."""
        ...


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


def pack_messages(messages: Sequence[Message]) -> bytes:
    packed: bytes = msgpack.packb([list(m) for m in messages])
    return packed


def unpack_messages(payload: bytes) -> list[Message]:
    return [(str(t), str(k), bytes(v)) for t, k, v in msgpack.unpackb(payload)]


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
