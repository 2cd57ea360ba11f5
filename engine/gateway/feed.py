"""From records to stream events: what the gateway's stream reader hands the hub.

:class:`Feed` decodes records of the stream topics (decisions on ``dispatch.assignments``,
SLA events on ``sla.events``) with the codec and turns each into a hub
:class:`~engine.gateway.hub.Entry`: its tenant, the agents whose stream carries it, its
JSON, and its SSE id, the read position after its record (see ``engine.gateway.hub``).
Records that do not decode, or carry another type than their topic's, are skipped (the
dispatcher dead-letters inputs; nothing here can stop the stream). Pure: no I/O.

:class:`Tail` is what the reader polls: every partition of the topics, without a consumer
group (``engine.adapters.kafka.KafkaTail``; ``MemoryLog.tail`` in tests).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Protocol

from engine import codec
from engine.gateway.hub import Entry, Vector, agents_of
from engine.gateway.pool_events import is_pool_event
from engine.ports import Record

__all__ = ["STREAM_TOPICS", "Feed", "Tail"]

# The logical topics a stream reads, in the order of the id's groups, and the event types
# each one carries.
STREAM_TOPICS: tuple[tuple[str, str], ...] = (
    ("dispatch.assignments", "decision."),
    ("sla.events", "sla."),
)


class Tail(Protocol):
    def start(self) -> dict[tuple[str, int], int]:
        """Connect and seek; the offset each partition is read from."""
        ...

    def poll(self, max_records: int, timeout_ms: int) -> list[Record]: ...

    def caught_up(self) -> bool:
        """Whether every partition was read up to its end at ``start``."""
        ...

    def close(self) -> None: ...


class Feed:
    """``topics``: the full names of :data:`STREAM_TOPICS`, in that order."""

    def __init__(self, topics: Sequence[str]) -> None:
        if len(topics) != len(STREAM_TOPICS):
            raise ValueError(f"one topic name for each of {[t for t, _ in STREAM_TOPICS]}")
        self.topics = tuple(topics)
        self._source = {t: i for i, t in enumerate(topics)}
        self._prefix = [prefix for _, prefix in STREAM_TOPICS]
        self._pos: list[list[int]] = [[] for _ in topics]
        self._hex: list[list[str]] = [[] for _ in topics]
        self.skipped = 0  # records that are no stream event

    def start(self, positions: Mapping[tuple[str, int], int]) -> Vector:
        """Where the tail starts (``Tail.start``); that position."""
        for (topic, partition), offset in positions.items():
            source = self._source.get(topic)
            if source is not None:
                self._set(source, partition, offset)
        return self.position()

    def position(self) -> Vector:
        return tuple(tuple(parts) for parts in self._pos)

    def read(self, records: Sequence[Record]) -> list[Entry]:
        """The stream events of ``records`` (in order), the position moved past each."""
        out = []
        for record in records:
            source = self._source.get(record.topic)
            if source is None:
                continue
            self._set(source, record.partition, record.offset + 1)
            entry = self._entry(source, record)
            if entry is None:
                self.skipped += 1
            else:
                out.append(entry)
        return out

    def _set(self, source: int, partition: int, offset: int) -> None:
        pos, hexes = self._pos[source], self._hex[source]
        while len(pos) <= partition:
            pos.append(0)
            hexes.append("0")
        if offset > pos[partition]:
            pos[partition] = offset
            hexes[partition] = format(offset, "x")

    def _entry(self, source: int, record: Record) -> Entry | None:
        try:
            event = codec.decode(record.value)
        except codec.DecodeError:
            return None
        kind = event["type"]
        if not kind.startswith(self._prefix[source]):
            return None
        try:
            data = json.dumps(event, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError):
            return None
        return Entry(
            tenant=str(event.get("tenant", "default")),
            type=kind,
            agents=agents_of(event),
            source=source,
            partition=record.partition,
            offset=record.offset,
            ts=int(event.get("ts", 0)),
            id="-".join(".".join(h) or "0" for h in self._hex),
            data=data,
            pool=is_pool_event(event),
        )
