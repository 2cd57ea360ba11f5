"""Mergeable report figures: counters and sorted runs of durations, per group key.

A report's figures over a period are merged from per-hour :class:`Partial` s (cached in
``report_rollups``, see ``rollup``): counters add up, and every duration is kept, so means
are exact sums over counts and percentiles are exact nearest ranks over all the values of
the period (:func:`nearest_rank`), never an average of hourly percentiles.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import msgpack

__all__ = ["Groups", "Partial", "decode", "encode", "merge_into", "nearest_rank"]

Key = tuple[Any, ...]
SORT_BELOW = 65_536  # fewer values than this: sort them; more: search the sorted runs


@dataclass(slots=True)
class Partial:
    """``counts`` by name, and ``values`` by name: each a list of sorted runs of ints."""

    counts: dict[str, int] = field(default_factory=dict)
    values: dict[str, list[Sequence[int]]] = field(default_factory=dict)

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def count(self, name: str) -> int:
        return self.counts.get(name, 0)

    def merge(self, other: Partial) -> None:
        for name, n in other.counts.items():
            self.counts[name] = self.counts.get(name, 0) + n
        for name, runs in other.values.items():
            self.values.setdefault(name, []).extend(runs)

    def runs(self, name: str) -> list[Sequence[int]]:
        return self.values.get(name, [])

    def n(self, name: str) -> int:
        return sum(len(r) for r in self.runs(name))

    def total(self, name: str) -> int:
        return sum(sum(r) for r in self.runs(name))


Groups = dict[Key, Partial]


class Collector:
    """Builds the :class:`Groups` of one hour from rows: :meth:`value` appends, and
    :meth:`done` sorts every list once."""

    def __init__(self) -> None:
        self.groups: Groups = {}
        self._lists: dict[tuple[Key, str], list[int]] = {}

    def at(self, key: Key) -> Partial:
        p = self.groups.get(key)
        if p is None:
            p = self.groups[key] = Partial()
        return p

    def value(self, key: Key, name: str, v: int | None) -> None:
        p = self.at(key)
        if v is None:
            return
        lst = self._lists.get((key, name))
        if lst is None:
            lst = self._lists[(key, name)] = []
            p.values[name] = [lst]
        lst.append(int(v))

    def done(self) -> Groups:
        for lst in self._lists.values():
            lst.sort()
        return self.groups


def merge_into(into: Groups, groups: Mapping[Key, Partial], key: Any = None) -> None:
    """Merge ``groups`` into ``into``; ``key`` maps a group key to the target key."""
    for k, p in groups.items():
        target = k if key is None else key(k)
        have = into.get(target)
        if have is None:
            have = into[target] = Partial()
        have.merge(p)


def nearest_rank(runs: Sequence[Sequence[int]], pct: int) -> int | None:
    """The ``pct``-th percentile by nearest rank of all the values of the sorted ``runs``:
    the value of rank ``ceil(pct * n / 100)`` in their merged order (None when empty)."""
    runs = [r for r in runs if len(r)]
    n = sum(len(r) for r in runs)
    if n == 0:
        return None
    k = max(1, -(-n * pct // 100))
    if len(runs) == 1:
        return int(runs[0][k - 1])
    if n < SORT_BELOW:
        return int(sorted(chain.from_iterable(runs))[k - 1])
    # the smallest v with at least k values <= v is the k-th value: bisect on v
    lo, hi = min(r[0] for r in runs), max(r[-1] for r in runs)
    while lo < hi:
        mid = (lo + hi) // 2
        if sum(bisect_right(r, mid) for r in runs) >= k:
            hi = mid
        else:
            lo = mid + 1
    return int(lo)


def encode(groups: Mapping[Key, Partial]) -> bytes:
    """msgpack: a list of [key, counts, {name: one sorted list}] (runs merged)."""
    items = []
    for k, p in sorted(groups.items(), key=lambda kv: repr(kv[0])):
        values = {
            name: runs[0] if len(runs) == 1 else sorted(chain.from_iterable(runs))
            for name, runs in p.values.items()
        }
        items.append([list(k), p.counts, {n: list(v) for n, v in values.items()}])
    out: bytes = msgpack.packb([1, items], use_bin_type=True)
    return out


def decode(data: bytes) -> Groups:
    version, items = msgpack.unpackb(data, raw=False, strict_map_key=False)
    if version != 1:
        raise ValueError(f"unknown roll-up encoding {version}")
    out: Groups = {}
    for k, counts, values in items:
        out[tuple(k)] = Partial(dict(counts), {n: [v] for n, v in values.items()})
    return out


def runs_of(parts: Iterable[Partial], name: str) -> list[Sequence[int]]:
    return [r for p in parts for r in p.runs(name)]
