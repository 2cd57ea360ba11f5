"""engine.core.strategies: each strategy and its tie-breaks, as data tables."""

from __future__ import annotations

import pytest

from engine.core.eligibility import Candidate
from engine.core.model import Agent
from engine.core.strategies import (
    choose,
    explain,
    least_loaded,
    longest_idle,
    performance_weighted,
    pick_score,
    round_robin,
    runner_up,
    score,
    skill_weighted,
)

pytestmark = pytest.mark.unit

STRATEGY_NAMES = (
    "round_robin",
    "least_loaded",
    "longest_idle",
    "skill_weighted",
    "performance_weighted",
)


def cand(
    agent_id: str,
    load: int = 0,
    capacity: int = 4,
    idle_since: int = 0,
    skills: dict[str, int] | None = None,
    perf: float = 0.5,
) -> Candidate:
    a = Agent(
        id=agent_id,
        status="available",
        skills=skills or {},
        capacity={"chat": capacity},
        last_assigned_ms=idle_since,
        performance=perf,
    )
    return Candidate(a, load, capacity)


def winner(c: Candidate | None) -> str | None:
    return c.agent.id if c else None


@pytest.mark.parametrize(
    ("ids", "last", "expected"),
    [
        (["b", "a", "c"], None, "a"),  # first by id when nothing assigned yet
        (["a", "b", "c"], "a", "b"),  # next after the last
        (["a", "b", "c"], "b", "c"),
        (["a", "b", "c"], "c", "a"),  # wrap around
        (["a", "c"], "b", "c"),  # last agent gone: next id after it
        (["a", "c"], "z", "a"),  # last agent after everyone: wrap
        (["agent-10", "agent-2", "agent-9"], "agent-10", "agent-2"),  # string order
        (["a"], "a", "a"),  # alone: again
    ],
)
def test_round_robin_starts_after_the_last_agent_and_wraps(
    ids: list[str], last: str | None, expected: str
) -> None:
    # Given candidates and the agent this queue used last
    # When round_robin chooses / Then the next id in order wins
    assert winner(round_robin([cand(i) for i in ids], last)) == expected


@pytest.mark.parametrize(
    ("cands", "expected"),
    [
        ([cand("a", 2, 4), cand("b", 1, 4)], "b"),  # lower load
        ([cand("a", 1, 2), cand("b", 2, 5)], "b"),  # ratio, not count: 0.4 < 0.5
        ([cand("a", 1, 2, idle_since=20), cand("b", 2, 4, idle_since=10)], "b"),  # idle
        ([cand("b", 0, 4, idle_since=10), cand("a", 0, 2, idle_since=10)], "a"),  # then id
        ([cand("a", 3, 4), cand("b", 0, 1)], "b"),
    ],
)
def test_least_loaded_prefers_lowest_ratio_then_longest_idle_then_id(
    cands: list[Candidate], expected: str
) -> None:
    # Given candidates with loads / When least_loaded chooses / Then the documented order wins
    assert winner(least_loaded(cands)) == expected


@pytest.mark.parametrize(
    ("cands", "expected"),
    [
        ([cand("a", idle_since=30), cand("b", idle_since=10)], "b"),  # oldest assignment
        ([cand("a", idle_since=0), cand("b", idle_since=10)], "a"),  # never assigned
        ([cand("b", idle_since=10), cand("a", idle_since=10)], "a"),  # then id
        ([cand("a", 3, 4, idle_since=5), cand("b", 0, 4, idle_since=9)], "a"),  # load ignored
    ],
)
def test_longest_idle_prefers_oldest_last_assignment_then_id(
    cands: list[Candidate], expected: str
) -> None:
    # Given candidates with last-assignment times / When longest_idle chooses
    # Then the longest idle wins, ties by id
    assert winner(longest_idle(cands)) == expected


NEEDS = {"billing": 2, "tech": 1}


@pytest.mark.parametrize(
    ("cands", "expected"),
    [
        ([cand("a", skills={"billing": 3, "tech": 1}), cand("b", skills={"billing": 5})], "b"),
        # sums only required skills: 'sales' does not count
        ([cand("a", skills={"billing": 2, "sales": 5}), cand("b", skills={"billing": 3})], "b"),
        # equal sums: least loaded
        ([cand("a", 2, 4, skills={"billing": 4}), cand("b", 1, 4, skills={"billing": 4})], "b"),
        # equal sums and load: id
        ([cand("b", 1, 4, skills={"billing": 4}), cand("a", 1, 4, skills={"billing": 4})], "a"),
        # a higher sum beats a lower load
        (
            [
                cand("a", 3, 4, skills={"billing": 5, "tech": 3}),
                cand("b", 0, 4, skills={"billing": 5}),
            ],
            "a",
        ),
    ],
)
def test_skill_weighted_prefers_highest_skill_sum_then_least_loaded_then_id(
    cands: list[Candidate], expected: str
) -> None:
    # Given candidates with skills / When skill_weighted chooses for billing+tech
    # Then the documented order wins
    assert winner(skill_weighted(cands, NEEDS)) == expected


@pytest.mark.parametrize(
    ("cands", "expected"),
    [
        ([cand("a", perf=0.9), cand("b", perf=0.6)], "a"),  # spare equal: performance
        ([cand("a", 2, 4, perf=0.9), cand("b", 0, 4, perf=0.6)], "b"),  # 0.45 < 0.6
        ([cand("a", 1, 4, perf=0.8), cand("b", 0, 4, perf=0.5)], "a"),  # 0.6 > 0.5
        ([cand("b", 0, 2, perf=0.5), cand("a", 2, 4, perf=1.0)], "a"),  # tie 0.5: id
        ([cand("a", 3, 4, perf=1.0), cand("b", 0, 1, perf=0.3)], "b"),  # 0.25 < 0.3
    ],
)
def test_performance_weighted_prefers_performance_times_spare_ratio_then_id(
    cands: list[Candidate], expected: str
) -> None:
    # Given candidates with performance and load / When performance_weighted chooses
    # Then the highest performance x (1 - load/capacity) wins, ties by id
    assert winner(performance_weighted(cands)) == expected


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_every_strategy_returns_none_for_no_candidates(strategy: str) -> None:
    # Given no eligible agent / When any strategy chooses / Then nobody wins
    assert choose(strategy, [], skills={}, last=None) is None


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("round_robin", "b"),  # after 'a'
        ("least_loaded", "c"),
        ("longest_idle", "a"),
        ("skill_weighted", "b"),
        ("performance_weighted", "a"),
    ],
)
def test_choose_dispatches_to_the_named_strategy(strategy: str, expected: str) -> None:
    # Given three candidates that each strategy ranks differently
    cands = [
        cand("a", 2, 4, idle_since=1, skills={"billing": 2}, perf=1.0),
        cand("b", 2, 4, idle_since=5, skills={"billing": 5}, perf=0.2),
        cand("c", 0, 4, idle_since=9, skills={"billing": 1}, perf=0.3),
    ]
    # When chosen by name / Then that strategy's winner comes back
    assert winner(choose(strategy, cands, skills={"billing": 1}, last="a")) == expected


def test_choose_rejects_an_unknown_strategy() -> None:
    # Given a strategy name the core does not know / When chosen / Then it raises
    with pytest.raises(ValueError, match="unknown strategy 'fastest'"):
        choose("fastest", [cand("a")], skills={}, last=None)


@pytest.mark.parametrize(
    ("strategy", "c", "expected"),
    [
        ("round_robin", cand("a", 1, 4), 0.0),
        ("least_loaded", cand("a", 1, 3), 0.666667),
        ("longest_idle", cand("a", idle_since=1234), -1234.0),
        ("skill_weighted", cand("a", skills={"billing": 3, "tech": 2, "x": 5}), 5.0),
        ("performance_weighted", cand("a", 1, 4, perf=0.8), 0.6),
    ],
)
def test_score_is_higher_for_better_candidates(
    strategy: str, c: Candidate, expected: float
) -> None:
    # Given a candidate / When scored for explanations / Then the figure matches
    assert score(strategy, c, NEEDS) == pytest.approx(expected)


@pytest.mark.parametrize("strategy", STRATEGY_NAMES[1:])
def test_winner_has_the_best_score(strategy: str) -> None:
    # Given candidates with distinct figures
    cands = [
        cand("a", 1, 4, idle_since=30, skills={"billing": 3}, perf=0.9),
        cand("b", 3, 4, idle_since=10, skills={"billing": 5, "tech": 2}, perf=0.7),
        cand("c", 0, 4, idle_since=20, skills={"billing": 2}, perf=0.4),
    ]
    # When a strategy chooses / Then its winner has the highest explain score
    win = choose(strategy, cands, skills=NEEDS, last=None)
    assert win is not None
    assert score(strategy, win, NEEDS) == max(score(strategy, c, NEEDS) for c in cands)


# ---- explain: the winner's score and the runner-up (Decision.explain) -----------------------

EXPLAIN_CANDS = [
    cand("a", 1, 4, idle_since=30, skills={"billing": 3}, perf=0.9),
    cand("b", 3, 4, idle_since=10, skills={"billing": 5, "tech": 2}, perf=0.7),
    cand("c", 0, 4, idle_since=20, skills={"billing": 2}, perf=0.4),
    cand("d", 0, 4, idle_since=40, skills={"billing": 2}, perf=0.3),
]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        # 1 - load ratio: c and d empty, c idle longer; then d
        ("least_loaded", (1.0, "d", 1.0)),
        # minus the last assignment: b (10), then c (20)
        ("longest_idle", (-10.0, "c", -20.0)),
        # skill sum: b 7, a 3 (c and d 2)
        ("skill_weighted", (7.0, "a", 3.0)),
        # performance x spare: a 0.9 * 0.75, c 0.4, d 0.3, b 0.7 * 0.25
        ("performance_weighted", (0.9 * (1.0 - 1 / 4), "c", 0.4)),
        # round robin: no score; nothing assigned yet: a wins, b is next
        ("round_robin", (0.0, "b", 0.0)),
    ],
)
def test_explain_gives_the_winners_score_and_the_runner_up(
    strategy: str, expected: tuple[object, ...]
) -> None:
    # Given candidates / When the strategy's pick is explained
    win = choose(strategy, EXPLAIN_CANDS, skills=NEEDS, last=None)
    assert win is not None
    # Then the runner-up is the strategy's pick among the others, scores unrounded
    assert explain(strategy, EXPLAIN_CANDS, win, skills=NEEDS) == expected


@pytest.mark.parametrize(
    ("ids", "last", "first", "second"),
    [
        (["a", "b", "c"], None, "a", "b"),
        (["a", "b", "c"], "b", "c", "a"),  # wraps around after the highest id
        (["a", "c"], "b", "c", "a"),
        (["a"], "a", "a", None),  # alone: no runner-up
    ],
)
def test_round_robin_runner_up_is_the_next_id_after_the_winner(
    ids: list[str], last: str | None, first: str, second: str | None
) -> None:
    cands = [cand(i) for i in ids]
    win = round_robin(cands, last)
    assert win is not None and win.agent.id == first
    assert winner(runner_up("round_robin", cands, win, skills={})) == second


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_a_lone_candidate_is_explained_by_its_score_alone(strategy: str) -> None:
    c = cand("a", 1, 4, idle_since=5, skills={"billing": 3}, perf=0.5)
    assert explain(strategy, [c], c, skills=NEEDS) == (pick_score(strategy, c, NEEDS),)


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_pick_score_is_score_unrounded(strategy: str) -> None:
    c = cand("a", 1, 3, idle_since=5, skills={"billing": 3}, perf=0.7)
    assert round(pick_score(strategy, c, NEEDS), 6) == score(strategy, c, NEEDS)
