"""Shared pieces of the stream tests: decision and SLA records, replicas (a Feed and a hub
reading one log in their own interleaving), and an SSE parser."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine import codec
from engine.clock import SimClock
from engine.core.model import Decision
from engine.gateway.feed import Feed
from engine.gateway.hub import StreamHub
from engine.ports import Record
from tests.unit.event_examples import example

TOPICS = ("x.dispatch.assignments", "x.sla.events")
PARTITIONS = (3, 2)
NOW_MS = 1_700_000_000_000


def decision(
    ticket: str,
    *,
    tenant: str = "acme",
    kind: str = "assigned",
    agent: str | None = "a1",
    ts: int = NOW_MS,
    **fields: Any,
) -> dict[str, Any]:
    d = Decision(kind=kind, ticket_id=ticket, tenant=tenant, ts=ts, queue="q", agent=agent)
    ev = d.to_event()
    ev.update(fields)
    return ev


def sla(ticket: str, *, tenant: str = "acme", ts: int = NOW_MS) -> dict[str, Any]:
    return example("sla.breached", id=ticket, tenant=tenant, ts=ts)


@dataclass
class Log:
    """A tiny partitioned log of the two stream topics."""

    parts: dict[tuple[int, int], list[Record]] = field(default_factory=dict)

    def add(self, event: dict[str, Any], partition: int = 0, source: int | None = None) -> Record:
        if source is None:
            source = 1 if event["type"].startswith("sla.") else 0
        part = self.parts.setdefault((source, partition), [])
        rec = Record(TOPICS[source], partition, len(part), codec.key_of(event), codec.encode(event))
        part.append(rec)
        return rec

    def add_raw(self, value: bytes, partition: int = 0, source: int = 0) -> Record:
        part = self.parts.setdefault((source, partition), [])
        rec = Record(TOPICS[source], partition, len(part), b"k", value)
        part.append(rec)
        return rec

    def in_order(self) -> list[Record]:
        return [r for key in sorted(self.parts) for r in self.parts[key]]

    def shuffled(self, seed: int) -> list[Record]:
        """Every record, in a random interleaving that keeps each partition's order."""
        rng = random.Random(seed)
        queues = {k: list(v) for k, v in self.parts.items() if v}
        out = []
        while queues:
            key = rng.choice(sorted(queues))
            out.append(queues[key].pop(0))
            if not queues[key]:
                del queues[key]
        return out


def starts(offsets: dict[tuple[int, int], int] | None = None) -> dict[tuple[str, int], int]:
    offsets = offsets or {}
    return {
        (TOPICS[s], p): offsets.get((s, p), 0) for s, n in enumerate(PARTITIONS) for p in range(n)
    }


class Replica:
    """A hub fed by its own Feed, from ``start`` offsets (default: the beginning)."""

    def __init__(
        self,
        start: dict[tuple[int, int], int] | None = None,
        *,
        live: bool = True,
        clock: SimClock | None = None,
        **hub_options: Any,
    ) -> None:
        self.clock = clock or SimClock(NOW_MS)
        self.feed = Feed(TOPICS)
        self.hub = StreamHub(clock=self.clock, **hub_options)
        self.hub.start(self.feed.start(starts(start)))
        if live:
            self.hub.set_live()

    def read(self, records: Iterable[Record], batch: int = 3) -> None:
        records = list(records)
        for i in range(0, len(records), batch):
            chunk = records[i : i + batch]
            self.hub.publish(self.feed.read(chunk), self.feed.position())


@dataclass(frozen=True)
class Sse:
    """One SSE block: an event (``event`` set), a heartbeat/position (only ``id``), ..."""

    id: str | None
    event: str | None
    data: Any
    comment: bool = False
    retry: int | None = None


def parse_sse(text: str) -> list[Sse]:
    out = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        fields: dict[str, str] = {}
        comment = False
        for line in block.split("\n"):
            if line.startswith(":"):
                comment = True
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        data = json.loads(fields["data"]) if "data" in fields else None
        retry = int(fields["retry"]) if "retry" in fields else None
        out.append(Sse(fields.get("id"), fields.get("event"), data, comment, retry))
    return out


def events_of(blocks: Sequence[Sse]) -> list[Sse]:
    return [b for b in blocks if b.event is not None]


def tickets(blocks: Sequence[Sse]) -> list[str]:
    return [b.data["id"] for b in blocks if (b.event or "").startswith(("decision.", "sla."))]


class Reader:
    """Reads SSE blocks off a streaming response, across calls."""

    def __init__(self, response: Any, wait_s: float = 10.0) -> None:
        self._chunks = response.iter_text()
        self.wait_s = wait_s
        self._text = ""
        self.ended = False

    def __call__(self, events: int = 0, *, until: str | None = None) -> list[Sse]:
        """The blocks completed since the last call, once ``events`` events (and a block
        with ``until`` in it) arrived, or the stream ended; within ``wait_s`` (heartbeats keep
        the iteration moving)."""
        deadline = time.monotonic() + self.wait_s
        while True:
            cut = self._text.rfind("\n\n")
            complete = self._text[: cut + 2] if cut >= 0 else ""
            blocks = parse_sse(complete)
            if len(events_of(blocks)) >= events and (until is None or until in complete):
                self._text = self._text[len(complete) :]
                return blocks
            assert time.monotonic() < deadline, f"timed out; got {self._text!r}"
            try:
                self._text += next(self._chunks)
            except StopIteration:
                self.ended = True
                blocks, self._text = parse_sse(self._text), ""
                return blocks

    def to_end(self) -> list[Sse]:
        """Every block until the stream ends (within ``wait_s``)."""
        blocks: list[Sse] = []
        while not self.ended:
            blocks += self(0, until="\0")
        return blocks
