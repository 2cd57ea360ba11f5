"""MemoryAgentStore: every store-chosen decision explains its pick (``Decision.explain``): the
winner's score and the runner-up with its score (strategies.pick_score), per strategy."""

from __future__ import annotations

from typing import Any

import pytest

from engine.adapters.memory import MemoryAgentStore
from engine.core.model import Decision
from engine.core.routing import waiting_score
from engine.ports import Request

pytestmark = pytest.mark.unit

T = "acme"
NOW = 1_800_000_000_000


def login(store: MemoryAgentStore, aid: str, **fields: Any) -> None:
    base: dict[str, Any] = {"status": "available", "capacity": {"chat": 4}}
    store.update_agent(T, aid, {**base, **fields}, NOW)


def assign(
    store: MemoryAgentStore, tid: str, strategy: str, now: int = NOW, **extra: Any
) -> Decision:
    r = Request(tid, T, "q", strategy, "chat", 3, now, waiting_score(3, now, None), **extra)
    [d] = store.assign([(r, {"id": tid, "tenant": T, "ts": now})], now)
    return d


# Agents: (id, skill level in "en", performance, tickets held before the decision), each
# assigned its tickets in list order one ms apart (so later ones were assigned more recently).
AGENTS = [("ann", 2, 0.9, 2), ("bob", 5, 0.5, 1), ("cid", 4, 0.8, 0), ("dan", 1, 0.2, 0)]


@pytest.mark.parametrize(
    ("strategy", "agents", "winner", "explain"),
    [
        # 1 - load/capacity; ties by longest idle: cid and dan empty, cid never assigned first
        ("least_loaded", AGENTS, "cid", (1.0, "dan", 1.0)),
        ("least_loaded", AGENTS[:2], "bob", (0.75, "ann", 0.5)),
        # minus the last assignment's ms: cid and dan never (0), cid first by id
        ("longest_idle", AGENTS, "cid", (0.0, "dan", 0.0)),
        ("longest_idle", AGENTS[:2], "ann", (-(NOW + 2), "bob", -(NOW + 3))),
        # the sum of the required skill levels
        ("skill_weighted", AGENTS, "bob", (5.0, "cid", 4.0)),
        ("skill_weighted", [AGENTS[0], AGENTS[3]], "ann", (2.0, "dan", 1.0)),
        # performance x spare capacity ratio: cid 0.8, ann 0.9 * 0.5, bob 0.5 * 0.75, dan 0.2
        ("performance_weighted", AGENTS, "cid", (0.8, "ann", 0.9 * (1.0 - 2 / 4))),
        # round robin: no score, the runner-up is the next agent id after the winner's (the
        # queue last gave to bob: cid, then dan)
        ("round_robin", AGENTS, "cid", (0.0, "dan", 0.0)),
        ("round_robin", AGENTS[1:3], "cid", (0.0, "bob", 0.0)),  # wraps around
        # one candidate: no runner-up
        ("least_loaded", AGENTS[2:3], "cid", (1.0,)),
        ("round_robin", AGENTS[2:3], "cid", (0.0,)),
    ],
)
def test_a_pick_carries_the_winners_score_and_the_runner_up(
    strategy: str,
    agents: list[tuple[str, int, float, int]],
    winner: str,
    explain: tuple[Any, ...],
) -> None:
    # Given the agents, holding their tickets
    store = MemoryAgentStore()
    for aid, level, perf, _ in agents:
        login(store, aid, skills={"en": level}, performance=perf)
    ms = NOW
    for aid, _, _, held in agents:
        for i in range(held):
            ms += 1
            assign(store, f"{aid}-{i}", "least_loaded", now=ms, preferred_agent=aid)
    # When a ticket needing "en" is assigned
    d = assign(store, "X", strategy, now=ms + 1, skills={"en": 1})
    # Then the decision names the winner and explains its pick
    scores = tuple(float(x) if isinstance(x, int) else x for x in explain)
    assert (d.kind, d.agent, d.explain) == ("assigned", winner, scores)
    ev = d.to_event()["explain"]
    assert ev["score"] == explain[0]
    assert (ev.get("runner_up"), ev.get("runner_up_score")) == (
        (explain[1], explain[2]) if len(explain) == 3 else (None, None)
    )


def test_queued_and_rejected_decisions_carry_no_explanation() -> None:
    # Given no agent
    store = MemoryAgentStore()
    # When a ticket arrives / Then it waits, and nothing is explained
    d = assign(store, "X", "least_loaded")
    assert (d.kind, d.explain) == ("queued", ())
    assert "explain" not in d.to_event()


def test_explain_round_trips_through_the_event() -> None:
    # Given an assigned decision with a runner-up
    store = MemoryAgentStore()
    login(store, "ann")
    login(store, "bob")
    d = assign(store, "X", "least_loaded")
    # When read back from its event / Then the explanation is the same
    assert Decision.from_event(d.to_event()).explain == d.explain == (1.0, "bob", 1.0)
