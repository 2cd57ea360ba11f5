"""The fault plan: seeded, bounded by the run, every kind in every round."""

from __future__ import annotations

import pytest

from engine.soak.options import FAULT_KINDS, KILL_REPLICA, RESTART_REDIS
from engine.soak.schedule import pick_one, plan_faults

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("duration_s", "every_s", "count"),
    [
        (30, 4, 7),  # 4, 8, ..., 28
        (30, 5, 5),  # none exactly at the end
        (30, 30, 0),
        (30, 31, 0),
        (300, 30, 9),
        (3, 0.5, 5),
    ],
)
def test_faults_are_due_every_interval_and_never_at_or_after_the_end(
    duration_s: float, every_s: float, count: int
) -> None:
    # Given a run length and an interval / When planned
    plan = plan_faults(duration_s, every_s, FAULT_KINDS, seed=1)
    # Then one fault per interval strictly inside the run, numbered from 1
    assert len(plan) == count
    assert [f.at_s for f in plan] == [pytest.approx(every_s * (i + 1)) for i in range(count)]
    assert [f.number for f in plan] == list(range(1, count + 1))
    assert all(f.at_s < duration_s for f in plan)


@pytest.mark.parametrize("seed", range(20))
def test_every_round_injects_each_kind_once(seed: int) -> None:
    # Given 3 rounds' worth of faults / When planned with any seed
    plan = plan_faults(1000, 10, FAULT_KINDS, seed=seed)
    kinds = [f.kind for f in plan]
    # Then each consecutive round of len(kinds) faults holds every kind exactly once
    n = len(FAULT_KINDS)
    for start in range(0, len(kinds) - n + 1, n):
        assert sorted(kinds[start : start + n]) == sorted(FAULT_KINDS)


def test_the_same_seed_gives_the_same_plan_and_another_seed_another() -> None:
    a = plan_faults(600, 5, FAULT_KINDS, seed=7)
    assert a == plan_faults(600, 5, FAULT_KINDS, seed=7)
    assert a != plan_faults(600, 5, FAULT_KINDS, seed=8)
    assert all(0 <= f.pick < 1 for f in a)


def test_only_the_chosen_kinds_are_planned() -> None:
    plan = plan_faults(100, 1, (KILL_REPLICA, RESTART_REDIS), seed=3)
    assert {f.kind for f in plan} == {KILL_REPLICA, RESTART_REDIS}
    assert plan_faults(100, 1, (), seed=3) == []


@pytest.mark.parametrize("every_s", [0, -1])
def test_a_non_positive_interval_is_refused(every_s: float) -> None:
    with pytest.raises(ValueError, match="every_s"):
        plan_faults(10, every_s, FAULT_KINDS, seed=1)


@pytest.mark.parametrize(
    ("candidates", "pick", "chosen"),
    [
        ([], 0.5, None),
        (["a"], 0.99, "a"),
        (["a", "b"], 0.0, "a"),
        (["a", "b"], 0.49, "a"),
        (["a", "b"], 0.5, "b"),
        (["a", "b", "c"], 0.999999, "c"),
        (["a", "b"], 1.0, "b"),  # clamped, never out of range
    ],
)
def test_pick_one_lands_on_a_candidate(candidates: list[str], pick: float, chosen: str) -> None:
    assert pick_one(candidates, pick) == chosen
