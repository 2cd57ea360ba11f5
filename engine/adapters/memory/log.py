"""In-process event log with topics, partitions, offsets and consumer groups.

Mirrors the parts of Kafka the engine relies on: records keyed to partitions by a
stable hash, per-group committed offsets, members sharing partitions, redelivery of
uncommitted records to the next member after a member leaves.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from engine.ports import Record

DEFAULT_PARTITIONS = 4


@dataclass
class _Group:
    committed: dict[tuple[str, int], int] = field(default_factory=dict)
    members: list[MemoryConsumer] = field(default_factory=list)


class MemoryLog:
    """Thread-safe; ``send`` appends immediately, so ``flush`` has nothing to wait for."""

    def __init__(self, default_partitions: int = DEFAULT_PARTITIONS) -> None:
        self.default_partitions = default_partitions
        self._topics: dict[str, list[list[Record]]] = {}
        self._groups: dict[str, _Group] = {}
        self._cond = threading.Condition()
        self._rr = 0

    def create_topic(self, name: str, partitions: int | None = None) -> None:
        with self._cond:
            if name not in self._topics:
                self._topics[name] = [[] for _ in range(partitions or self.default_partitions)]

    def partitions(self, topic: str) -> int:
        self.create_topic(topic)
        return len(self._topics[topic])

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        with self._cond:
            self.create_topic(topic)
            parts = self._topics[topic]
            if key is None:
                self._rr += 1
                p = self._rr % len(parts)
            else:
                p = zlib.crc32(key) % len(parts)
            rec = Record(topic, p, len(parts[p]), key, value, tuple(headers))
            parts[p].append(rec)
            self._cond.notify_all()

    def publish(self, records: Sequence[tuple[str, bytes, bytes]], timeout_s: float) -> None:
        """Send and acknowledge at once (the in-memory log never loses a record)."""
        for topic, key, value in records:
            self.send(topic, key, value)

    def flush(self) -> None:
        return None

    def records(self, topic: str) -> list[Record]:
        """Every record of a topic, partition by partition (for readers and tests)."""
        with self._cond:
            return [r for part in self._topics.get(topic, []) for r in part]

    def end_offsets(self, topic: str) -> list[int]:
        with self._cond:
            return [len(p) for p in self._topics.get(topic, [])]

    def lag(self, group: str, topics: Iterable[str]) -> int:
        with self._cond:
            g = self._groups.get(group, _Group())
            return sum(
                len(part) - g.committed.get((t, i), 0)
                for t in topics
                for i, part in enumerate(self._topics.get(t, []))
            )

    def tail(self, topics: Sequence[str], *, from_end: bool = False) -> MemoryTail:
        """Every partition of ``topics`` without a group, like ``KafkaTail`` (records carry
        no time here: from the beginning, or from the end)."""
        return MemoryTail(self, tuple(topics), from_end)

    def consumer(self, topics: Sequence[str], group: str) -> MemoryConsumer:
        with self._cond:
            for t in topics:
                self.create_topic(t)
            g = self._groups.setdefault(group, _Group())
            c = MemoryConsumer(self, tuple(topics), g)
            g.members.append(c)
            self._rebalance(g)
            return c

    def _rebalance(self, g: _Group) -> None:
        """Round-robin partitions over members; positions restart from commits."""
        if not g.members:
            return
        topics = g.members[0].topics
        tps = [(t, i) for t in topics for i in range(len(self._topics[t]))]
        for c in g.members:
            c._positions = {}
        for n, tp in enumerate(tps):
            member = g.members[n % len(g.members)]
            member._positions[tp] = g.committed.get(tp, 0)


class MemoryConsumer:
    """A group member. ``poll`` waits up to ``timeout_ms`` for records."""

    def __init__(self, log: MemoryLog, topics: tuple[str, ...], group: _Group) -> None:
        self._log = log
        self.topics = topics
        self._group = group
        self._positions: dict[tuple[str, int], int] = {}
        self._closed = False

    def poll(self, max_records: int, timeout_ms: int) -> list[Record]:
        with self._log._cond:
            out = self._take(max_records)
            if not out and timeout_ms > 0:
                self._log._cond.wait(timeout_ms / 1000)
                out = self._take(max_records)
            return out

    def _take(self, max_records: int) -> list[Record]:
        out: list[Record] = []
        for tp, pos in self._positions.items():
            part = self._log._topics[tp[0]][tp[1]]
            chunk = part[pos : pos + max_records - len(out)]
            out.extend(chunk)
            self._positions[tp] = pos + len(chunk)
            if len(out) >= max_records:
                break
        return out

    def commit(self) -> None:
        with self._log._cond:
            self._group.committed.update(self._positions)

    def owns(self, topic: str, partition: int) -> bool:
        """Every member of an in-memory group reads every partition of its topics."""
        return topic in self.topics

    def lag(self) -> dict[tuple[str, int], int]:
        """Per assigned partition: end offset minus committed offset."""
        with self._log._cond:
            return {
                tp: len(self._log._topics[tp[0]][tp[1]]) - self._group.committed.get(tp, 0)
                for tp in self._positions
            }

    def partitions_for(self, topic: str) -> int:
        return self._log.partitions(topic)

    def close(self) -> None:
        with self._log._cond:
            if self._closed:
                return
            self._closed = True
            self._group.members.remove(self)
            self._log._rebalance(self._group)


class MemoryTail:
    """``KafkaTail`` on a :class:`MemoryLog`: ``start``, ``poll``, ``caught_up``, ``close``."""

    def __init__(self, log: MemoryLog, topics: tuple[str, ...], from_end: bool) -> None:
        self._log = log
        self.topics = topics
        self._from_end = from_end
        self._positions: dict[tuple[str, int], int] = {}
        self._ends: dict[tuple[str, int], int] = {}

    def start(self) -> dict[tuple[str, int], int]:
        with self._log._cond:
            for t in self.topics:
                self._log.create_topic(t)
            for t in self.topics:
                for p, part in enumerate(self._log._topics[t]):
                    self._ends[(t, p)] = len(part)
                    self._positions[(t, p)] = len(part) if self._from_end else 0
            return dict(self._positions)

    def poll(self, max_records: int, timeout_ms: int) -> list[Record]:
        with self._log._cond:
            out = self._take(max_records)
            if not out and timeout_ms > 0:
                self._log._cond.wait(timeout_ms / 1000)
                out = self._take(max_records)
            return out

    def _take(self, max_records: int) -> list[Record]:
        out: list[Record] = []
        for tp, pos in self._positions.items():
            chunk = self._log._topics[tp[0]][tp[1]][pos : pos + max_records - len(out)]
            out.extend(chunk)
            self._positions[tp] = pos + len(chunk)
            if len(out) >= max_records:
                break
        return out

    def caught_up(self) -> bool:
        with self._log._cond:
            return all(self._positions[tp] >= end for tp, end in self._ends.items())

    def close(self) -> None:
        return None
