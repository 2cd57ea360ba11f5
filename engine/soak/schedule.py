"""Which fault when: a seeded plan, the same for the same options.

Faults are due every ``every_s`` seconds of the run (the first after ``every_s``, none at or
after the end). Kinds come in rounds: each round is a seeded permutation of every enabled
kind, so any ``len(kinds)`` faults starting at a round boundary inject each kind once, and a
run with ``len(kinds)`` faults or more injects every kind. A fault that replaces a replica
carries ``pick`` in [0, 1) to choose among the replicas eligible when it is injected
(:func:`pick_one`), so the choice is seeded too but follows what is running then.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

MAX_PLANNED = 100_000  # a plan longer than this is a mistake in the options, not a soak


@dataclass(frozen=True, slots=True)
class PlannedFault:
    number: int  # 1-based
    at_s: float  # seconds after the load started
    kind: str
    pick: float  # in [0, 1): chooses the target among the eligible ones


def plan_faults(
    duration_s: float, every_s: float, kinds: Sequence[str], seed: int
) -> list[PlannedFault]:
    """Every fault of a run of ``duration_s`` seconds, in time order."""
    if every_s <= 0:
        raise ValueError(f"every_s must be > 0, got {every_s}")
    if not kinds:
        return []
    count = int(duration_s / every_s)
    if count * every_s >= duration_s:  # none due exactly at the end
        count -= 1
    if count > MAX_PLANNED:
        raise ValueError(f"{count} faults planned; at most {MAX_PLANNED}")
    rng = random.Random(seed)
    order: list[str] = []
    while len(order) < count:
        round_ = list(kinds)
        rng.shuffle(round_)
        order += round_
    return [
        PlannedFault(number=i + 1, at_s=(i + 1) * every_s, kind=order[i], pick=rng.random())
        for i in range(count)
    ]


def pick_one(candidates: Sequence[T], pick: float) -> T | None:
    """The candidate ``pick`` (in [0, 1)) lands on; None when there is none."""
    if not candidates:
        return None
    index = min(int(pick * len(candidates)), len(candidates) - 1)
    return candidates[max(index, 0)]
