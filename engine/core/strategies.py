"""Assignment strategies: deterministic choices over eligible candidates.

Each returns the winning candidate (or ``None`` for an empty list). Ties are broken
as documented, and last by agent id. ``score`` gives the figure ``explain`` prints.
The Redis script mirrors these expressions exactly (same float operations).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from engine.core.eligibility import Candidate


def load_ratio(c: Candidate) -> float:
    return c.load / c.capacity


def skill_sum(c: Candidate, skills: Mapping[str, int]) -> int:
    return sum(c.agent.skills.get(s, 0) for s in skills)


def perf_score(c: Candidate) -> float:
    return c.agent.performance * (1.0 - c.load / c.capacity)


def round_robin(cands: Sequence[Candidate], last: str | None) -> Candidate | None:
    """Stable order by agent id; start after the last agent this queue assigned to."""
    if not cands:
        return None
    ordered = sorted(cands, key=lambda c: c.agent.id)
    if last is not None:
        for c in ordered:
            if c.agent.id > last:
                return c
    return ordered[0]


def least_loaded(cands: Sequence[Candidate]) -> Candidate | None:
    """Lowest load/capacity on the channel, then longest idle, then agent id."""
    return min(
        cands, key=lambda c: (load_ratio(c), c.agent.last_assigned_ms, c.agent.id), default=None
    )


def longest_idle(cands: Sequence[Candidate]) -> Candidate | None:
    """Oldest last assignment, then agent id."""
    return min(cands, key=lambda c: (c.agent.last_assigned_ms, c.agent.id), default=None)


def skill_weighted(cands: Sequence[Candidate], skills: Mapping[str, int]) -> Candidate | None:
    """Highest sum of levels in the required skills, then least loaded, then agent id."""
    return min(
        cands, key=lambda c: (-skill_sum(c, skills), load_ratio(c), c.agent.id), default=None
    )


def performance_weighted(cands: Sequence[Candidate]) -> Candidate | None:
    """Highest performance x spare-capacity ratio, then agent id."""
    return min(cands, key=lambda c: (-perf_score(c), c.agent.id), default=None)


def choose(
    strategy: str,
    cands: Sequence[Candidate],
    *,
    skills: Mapping[str, int],
    last: str | None,
) -> Candidate | None:
    """Dispatch to the named strategy."""
    if strategy == "round_robin":
        return round_robin(cands, last)
    if strategy == "skill_weighted":
        return skill_weighted(cands, skills)
    fn = _SIMPLE.get(strategy)
    if fn is None:
        raise ValueError(f"unknown strategy {strategy!r}")
    return fn(cands)


def score(strategy: str, c: Candidate, skills: Mapping[str, int]) -> float:
    """A figure for explanations: higher is better for every strategy."""
    if strategy == "least_loaded":
        return round(1.0 - load_ratio(c), 6)
    if strategy == "longest_idle":
        return float(-c.agent.last_assigned_ms)
    if strategy == "skill_weighted":
        return float(skill_sum(c, skills))
    if strategy == "performance_weighted":
        return round(perf_score(c), 6)
    return 0.0


def pick_score(strategy: str, c: Candidate, skills: Mapping[str, int]) -> float:
    """A decision's score of a candidate (``Decision.explain``): ``score`` unrounded, so the
    Redis script computes the very same float (``lua/lib/40_select.lua``); round robin: 0."""
    if strategy == "least_loaded":
        return 1.0 - load_ratio(c)
    if strategy == "longest_idle":
        return float(-c.agent.last_assigned_ms)
    if strategy == "skill_weighted":
        return float(skill_sum(c, skills))
    if strategy == "performance_weighted":
        return perf_score(c)
    return 0.0


def runner_up(
    strategy: str,
    cands: Sequence[Candidate],
    win: Candidate,
    *,
    skills: Mapping[str, int],
) -> Candidate | None:
    """The candidate the strategy would have picked without ``win``: the next in the ordering
    (round robin: the next agent id after the winner's, wrapping around)."""
    if strategy == "round_robin":
        others = [c for c in cands if c.agent.id != win.agent.id]
        return round_robin(others, win.agent.id)
    rest = [c for c in cands if c is not win]
    return choose(strategy, rest, skills=skills, last=None)


def explain(
    strategy: str,
    cands: Sequence[Candidate],
    win: Candidate,
    *,
    skills: Mapping[str, int],
) -> tuple[float] | tuple[float, str, float]:
    """``Decision.explain`` of a pick: (winner's score,) or (its score, runner-up, its score)."""
    score = pick_score(strategy, win, skills)
    second = runner_up(strategy, cands, win, skills=skills)
    if second is None:
        return (score,)
    return (score, second.agent.id, pick_score(strategy, second, skills))


_SIMPLE: dict[str, Callable[[Sequence[Candidate]], Candidate | None]] = {
    "least_loaded": least_loaded,
    "longest_idle": longest_idle,
    "performance_weighted": performance_weighted,
}
