"""The stream hub: a bounded journal of recent events per tenant, and the SSE subscribers.

Pure (standard library, no Kafka) and thread-safe: the reader thread ``publish``es batches
of :class:`Entry` (``engine.gateway.feed`` makes them from records), every subscriber
``take``s on its own event loop and is woken through that loop. A slow subscriber never
holds anyone up: its queue is bounded, and one that fills up is dropped with an
``overflow`` (its client resumes from the journal with its last id).

Event ids, and resuming on any replica
--------------------------------------
Every gateway replica reads every partition of ``dispatch.assignments`` and ``sla.events``
(no consumer group), so a partition offset names the same record on every replica; but how
records of *different* partitions interleave is each replica's own, so the position of
one record cannot tell what else a client has seen. The SSE id is therefore the replica's
whole read position when the event was journaled: per source topic and partition, the
offset after the last record read -- hex, partitions joined by ``.``, topics by ``-``
(``"1f.0.2a-3.0"``). A client holding id ``C`` has received every event of its stream
whose record lies below ``C`` in its partition. Resuming with ``Last-Event-ID: C`` on *any*
replica delivers exactly the journaled events at or above ``C``, none missed, none twice,
as long as that replica's journal reaches back to ``C`` in every partition. When it does
not (older than the retention, trimmed by the per-tenant cap, or from before the replica
started reading) the subscription reports a ``gap``: the stream says ``reset`` (reload
state, then follow). A replica behind the client (it came from a faster one) holds back
what the client has already seen and sends ids that never go back (the element-wise
maximum of both positions). The current position also goes out with heartbeats, so a
quiet stream's id does not age out of the journal.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from engine.clock import WallClock
from engine.errors import EngineError
from engine.gateway.pool_events import claim_refused_to
from engine.ports import REASON_MOVED_FROM, Clock

__all__ = [
    "AGENT_TYPES",
    "CLOSED",
    "OPEN",
    "OVERFLOW",
    "Entry",
    "NotReady",
    "StreamHub",
    "Subscription",
    "Taken",
    "TooManyStreams",
    "Vector",
    "agents_of",
    "at",
    "covers",
    "encode_position",
    "merged",
    "parse_position",
]

RETENTION_S = 600.0  # keep at least the last 10 minutes ...
MAX_PER_TENANT = 10_000  # ... up to this many events per tenant
QUEUE_MAX = 10_000  # events waiting for one subscriber; more: overflow
MAX_SUBSCRIBERS = 10_000
SWEEP_EVERY_MS = 1_000

Vector = tuple[tuple[int, ...], ...]  # per source topic, per partition: the next offset

MAX_SOURCES = 8
MAX_PARTITIONS = 4096
_HEX = r"[0-9a-f]{1,16}"
_GROUP = rf"{_HEX}(?:\.{_HEX}){{0,{MAX_PARTITIONS - 1}}}"
_ID_RE = re.compile(rf"{_GROUP}(?:-{_GROUP}){{0,{MAX_SOURCES - 1}}}")
MAX_ID_CHARS = MAX_SOURCES * MAX_PARTITIONS * 17

OPEN, OVERFLOW, CLOSED = "open", "overflow", "closed"

# Decisions an agent's stream carries: offers, assignments, releases and reassignments
# naming the agent (a reassignment also goes to the agent it was taken from).
AGENT_TYPES = frozenset(
    (
        "decision.offered",
        "decision.assigned",
        "decision.released",
        "decision.reassigned",
        "decision.handed_over",  # the agent it was taken from (logout, away)
    )
)


class NotReady(EngineError):
    """The hub does not serve yet (still catching up with the log) or was closed."""


class TooManyStreams(EngineError):
    """Every subscriber slot is taken."""


def encode_position(v: Vector) -> str:
    """The SSE id of a position (a source without partitions yet reads as ``0``)."""
    return "-".join(".".join(format(o, "x") for o in parts) or "0" for parts in v)


def parse_position(text: str) -> Vector:
    """A position from an SSE id; ``ValueError`` for anything :func:`encode_position` does
    not write."""
    if len(text) > MAX_ID_CHARS or _ID_RE.fullmatch(text) is None:
        raise ValueError("not an event id of this stream")
    return tuple(tuple(int(x, 16) for x in group.split(".")) for group in text.split("-"))


def at(v: Vector, source: int, partition: int) -> int:
    """The offset ``v`` holds for a partition (0 where it names none)."""
    if source < len(v):
        parts = v[source]
        if partition < len(parts):
            return parts[partition]
    return 0


def merged(a: Vector, b: Vector) -> Vector:
    """The element-wise maximum of two positions."""
    out = []
    for s in range(max(len(a), len(b))):
        pa = a[s] if s < len(a) else ()
        pb = b[s] if s < len(b) else ()
        out.append(tuple(max(at(a, s, p), at(b, s, p)) for p in range(max(len(pa), len(pb)))))
    return tuple(out)


def covers(a: Vector, b: Vector) -> bool:
    """Whether ``a`` is at or past ``b`` in every partition."""
    return all(at(a, s, p) >= o for s, parts in enumerate(b) for p, o in enumerate(parts))


def agents_of(event: Mapping[str, Any]) -> tuple[str, ...]:
    """The agents whose stream carries ``event``: for an offer, assignment, release or
    reassignment, its ``agent``; for a reassignment also the agent it was taken from (its
    ``reason`` is ``from <agent>``). Duplicates (answers repeating a ticket's current
    decision) go to no agent stream."""
    kind = event.get("type")
    claimer = claim_refused_to(event)  # grab mode: the loser of a claim hears it
    if claimer is not None:
        return (claimer,)
    if kind not in AGENT_TYPES or event.get("duplicate"):
        return ()
    out: list[str] = []
    agent = event.get("agent")
    if isinstance(agent, str) and agent:
        out.append(agent)
    reason = event.get("reason")
    if kind == "decision.reassigned" and isinstance(reason, str):
        previous = reason.removeprefix(REASON_MOVED_FROM)
        if previous != reason and previous and previous not in out:
            out.append(previous)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Entry:
    """One journaled event: its tenant, type, the agents whose stream carries it, where its
    record is (source topic index, partition, offset), its ``ts`` (retention), its SSE
    ``id`` (the reader's position after the record) and ``data`` (the event as JSON)."""

    tenant: str
    type: str
    agents: tuple[str, ...]
    source: int
    partition: int
    offset: int
    ts: int
    id: str
    data: str
    pool: bool = False  # a grab-mode pool change: every agent stream of the tenant carries it

    def frame(self, event_id: str | None = None) -> str:
        return f"id: {event_id or self.id}\nevent: {self.type}\ndata: {self.data}\n\n"


class Taken(NamedTuple):
    """What a subscriber took: the SSE ``frames`` of its pending events (``""``: none),
    how many (``events``), the subscription ``state`` and, when nothing was pending,
    ``position``: the id that covers everything delivered so far (for heartbeats)."""

    frames: str
    events: int
    state: str
    position: str | None


@dataclass
class _Journal:
    entries: deque[Entry] = field(default_factory=deque)
    # Per (source, partition): the journal holds every event of the tenant at or above.
    floors: dict[tuple[int, int], int] = field(default_factory=dict)


@dataclass
class _TenantSubs:
    everything: set[Subscription] = field(default_factory=set)
    agents: dict[str, set[Subscription]] = field(default_factory=dict)

    def empty(self) -> bool:
        return not self.everything and not self.agents


class Subscription:
    """One SSE client: a tenant's whole stream (``agent`` None) or one agent's.

    ``first_id`` (a new stream, no ``Last-Event-ID``): the position it starts from, to send
    at once; ``gap``: a resume whose start the journal no longer holds."""

    def __init__(
        self, hub: StreamHub, tenant: str, agent: str | None, after: Vector | None
    ) -> None:
        self.tenant, self.agent = tenant, agent
        self.gap = False
        self.first_id: str | None = None
        self._hub = hub
        self._after = after  # the client's own position, until the stream passed it
        self._queue: deque[Entry] = deque()
        self._state = OPEN
        self._registered = False
        self._signalled = False
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def matches(self, entry: Entry) -> bool:
        return self.agent is None or entry.pool or self.agent in entry.agents

    def take(self) -> Taken:
        """Everything pending, as SSE frames (on the subscriber's loop)."""
        return self._hub._take(self)

    async def wait(self, timeout_s: float) -> bool:
        """Until something is pending or the stream ends (True), or ``timeout_s`` (False)."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        self._hub._drop(self)


class StreamHub:
    """The journal and the subscribers of one gateway replica."""

    def __init__(
        self,
        *,
        retention_s: float = RETENTION_S,
        max_per_tenant: int = MAX_PER_TENANT,
        queue_max: int = QUEUE_MAX,
        max_subscribers: int = MAX_SUBSCRIBERS,
        clock: Clock | None = None,
    ) -> None:
        self.retention_ms = int(retention_s * 1000)
        self.max_per_tenant = max_per_tenant
        self.queue_max = queue_max
        self.max_subscribers = max_subscribers
        self._clock = clock or WallClock()
        self._lock = threading.Lock()
        self._journals: dict[str, _Journal] = {}
        self._subs: dict[str, _TenantSubs] = {}
        self._count = 0
        self._start: Vector | None = None
        self._position: Vector = ()
        self._live = False
        self._closed = False
        self._swept_ms = 0
        self.overflows = 0  # subscribers dropped for falling behind

    # ---- the reader's side (any thread) ------------------------------------------------

    def start(self, position: Vector) -> None:
        """Where the reader starts: the journal holds everything from there on."""
        with self._lock:
            self._start = self._position = position

    def publish(self, entries: Sequence[Entry], position: Vector) -> None:
        """Journal ``entries`` (in read order), hand them to the subscribers they match,
        and move the hub's position to ``position`` (the reader's, after them)."""
        wake: list[Subscription] = []
        dropped: list[Subscription] = []
        with self._lock:
            if self._closed:
                return
            for entry in entries:
                journal = self._journals.get(entry.tenant)
                if journal is None:
                    journal = self._journals[entry.tenant] = _Journal()
                journal.entries.append(entry)
                if len(journal.entries) > self.max_per_tenant:
                    self._evict(journal)
                subs = self._subs.get(entry.tenant)
                if subs is not None:
                    for sub in subs.everything:
                        self._deliver(sub, entry, wake, dropped)
                    for agent in subs.agents if entry.pool else entry.agents:
                        for sub in subs.agents.get(agent, ()):
                            self._deliver(sub, entry, wake, dropped)
            for sub in dropped:
                self._unregister(sub)
            self._position = position
            now = self._clock.now_ms()
            if now - self._swept_ms >= SWEEP_EVERY_MS:
                self._sweep(now)
        self._signal(wake)

    def set_live(self) -> None:
        """The reader caught up with the log: new streams may start."""
        with self._lock:
            self._live = True

    def close(self) -> None:
        """End every stream; publishes are ignored from now on."""
        with self._lock:
            self._closed = True
            subs = [s for t in self._subs.values() for s in self._all(t)]
            for sub in subs:
                sub._state = CLOSED
                self._unregister(sub)
        self._signal(subs)

    # ---- state ---------------------------------------------------------------------------

    @property
    def live(self) -> bool:
        return self._live and not self._closed

    @property
    def position(self) -> str:
        with self._lock:
            return encode_position(self._position)

    @property
    def subscribers(self) -> int:
        return self._count

    def journaled(self, tenant: str | None = None) -> int:
        """Events held (of one tenant, or all)."""
        with self._lock:
            if tenant is not None:
                journal = self._journals.get(tenant)
                return 0 if journal is None else len(journal.entries)
            return sum(len(j.entries) for j in self._journals.values())

    # ---- the subscribers' side (their event loops) --------------------------------------

    def subscribe(
        self, tenant: str, agent: str | None = None, *, after: Vector | None = None
    ) -> Subscription:
        """A new stream of ``tenant`` (one ``agent``'s when given), from now, or from
        ``after`` (a client's last position). Call on the loop that will serve it.
        ``NotReady`` before the reader caught up and after ``close``; ``TooManyStreams``."""
        sub = Subscription(self, tenant, agent, after)
        with self._lock:
            if self._closed or not self._live or self._start is None:
                raise NotReady("the event streams are catching up with the log")
            if self._count >= self.max_subscribers:
                raise TooManyStreams(f"{self._count} streams open")
            journal = self._journals.get(tenant)
            if after is None:
                sub.first_id = encode_position(self._position)
            else:
                sub.gap = self._gap(self._start, journal, after)
                if journal is not None:
                    sub._queue.extend(
                        e
                        for e in journal.entries
                        if sub.matches(e) and e.offset >= at(after, e.source, e.partition)
                    )
            subs = self._subs.setdefault(tenant, _TenantSubs())
            if agent is None:
                subs.everything.add(sub)
            else:
                subs.agents.setdefault(agent, set()).add(sub)
            sub._registered = True
            self._count += 1
        return sub

    def _take(self, sub: Subscription) -> Taken:
        with self._lock:
            sub._event.clear()
            sub._signalled = False
            entries = list(sub._queue)
            sub._queue.clear()
            state = sub._state
            position = None if entries else self._position
        after = sub._after
        if after is None:
            frames = "".join(e.frame() for e in entries)
        else:
            parts = []
            for e in entries:
                if after is None:
                    parts.append(e.frame())
                    continue
                v = parse_position(e.id)
                if covers(v, after):
                    after = None
                    parts.append(e.frame())
                else:
                    parts.append(e.frame(encode_position(merged(v, after))))
            frames = "".join(parts)
            sub._after = after  # only ever dropped, once the stream passed it
        pos_id = None
        if position is not None:
            pos_id = encode_position(position if after is None else merged(position, after))
        return Taken(frames, len(entries), state, pos_id)

    def _drop(self, sub: Subscription) -> None:
        with self._lock:
            if sub._state == OPEN:
                sub._state = CLOSED
            self._unregister(sub)

    # ---- inside the lock -----------------------------------------------------------------

    def _deliver(
        self, sub: Subscription, entry: Entry, wake: list[Subscription], dropped: list[Subscription]
    ) -> None:
        if sub._state != OPEN:
            return  # overflowed earlier in this batch (unregistered after it)
        if sub._after is not None and entry.offset < at(sub._after, entry.source, entry.partition):
            return  # the client saw it on a replica that was ahead
        if len(sub._queue) >= self.queue_max:
            sub._state = OVERFLOW
            sub._queue.clear()
            dropped.append(sub)
            self.overflows += 1
        else:
            sub._queue.append(entry)
        if not sub._signalled:
            sub._signalled = True
            wake.append(sub)

    def _unregister(self, sub: Subscription) -> None:
        if not sub._registered:
            return
        sub._registered = False
        self._count -= 1
        subs = self._subs.get(sub.tenant)
        if subs is None:
            return
        if sub.agent is None:
            subs.everything.discard(sub)
        else:
            group = subs.agents.get(sub.agent)
            if group is not None:
                group.discard(sub)
                if not group:
                    del subs.agents[sub.agent]
        if subs.empty():
            del self._subs[sub.tenant]

    @staticmethod
    def _all(subs: _TenantSubs) -> Iterable[Subscription]:
        yield from subs.everything
        for group in subs.agents.values():
            yield from group

    @staticmethod
    def _evict(journal: _Journal) -> None:
        e = journal.entries.popleft()
        key = (e.source, e.partition)
        if journal.floors.get(key, 0) <= e.offset:
            journal.floors[key] = e.offset + 1

    def _sweep(self, now_ms: int) -> None:
        self._swept_ms = now_ms
        cutoff = now_ms - self.retention_ms
        for journal in self._journals.values():
            entries = journal.entries
            while entries and entries[0].ts < cutoff:
                self._evict(journal)

    @staticmethod
    def _gap(start: Vector, journal: _Journal | None, after: Vector) -> bool:
        floors = journal.floors if journal is not None else {}
        for s, parts in enumerate(start):
            for p, first in enumerate(parts):
                if at(after, s, p) < max(first, floors.get((s, p), 0)):
                    return True
        return any(at(after, s, p) < floor for (s, p), floor in floors.items())

    # ---- outside the lock ----------------------------------------------------------------

    def _signal(self, subs: Iterable[Subscription]) -> None:
        for sub in subs:
            try:
                sub._loop.call_soon_threadsafe(sub._event.set)
            except RuntimeError:  # its loop is closed: nobody is reading
                self._drop(sub)
