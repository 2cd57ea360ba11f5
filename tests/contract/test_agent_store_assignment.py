"""The AgentStore contract (engine/ports.py): assignment, pulls and idempotency.

Every test runs on both stores (fixture ``store``). test_store_differential.py applies random
operation sequences to both and requires identical decisions and snapshots.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.core.routing import waiting_score
from engine.errors import UnknownTicket
from engine.ports import WAIT_SCAN_LIMIT, AgentStore
from tests.contract.agent_store_helpers import (
    NOW,
    T,
    assign,
    login,
    outcome,
    req,
    view,
    waiting_ids,
)

pytestmark = pytest.mark.contract


# ---- assignment -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("strategy", "winner"),
    [
        ("least_loaded", "b"),  # a is half loaded; b and c empty, b idle longer
        ("longest_idle", "b"),  # b never assigned
        ("skill_weighted", "a"),  # a has the highest level
        ("performance_weighted", "c"),  # a 0.9*0.5, b 0.4*1, c 0.5*1
        ("round_robin", "a"),  # no previous pick in the queue: lowest id
    ],
)
def test_each_strategy_picks_its_documented_winner(
    store: AgentStore, strategy: str, winner: str
) -> None:
    # Given a holds one ticket, c was assigned (and released) more recently than anyone
    login(store, "a", skills={"en": 5}, performance=0.9)
    login(store, "b", skills={"en": 2}, performance=0.4)
    login(store, "c", skills={"en": 4}, performance=0.5)
    assign(store, req("P1", queue="prep", preferred_agent="a"))
    assign(store, req("P2", queue="prep", preferred_agent="c"), now=NOW + 1_000)
    store.release(T, "P2", "resolved", NOW + 2_000)
    # When
    [d] = assign(store, req("X", strategy=strategy, skills={"en": 1}), now=NOW + 3_000)
    # Then
    assert (d.kind, d.agent, d.strategy, d.candidates, d.filtered) == (
        "assigned",
        winner,
        strategy,
        3,
        {},
    )
    assert view(store, winner).agent.last_assigned_ms == NOW + 3_000


# a: load 1 of 2, last assigned at NOW, skill 5, performance 0.9; b: idle, never assigned,
# skill 2, performance 0.4; c: idle, last assigned at NOW + 1s, skill 4, performance 0.5
@pytest.mark.parametrize(
    ("strategy", "explain"),
    [
        ("least_loaded", (1.0, "c", 1.0)),  # 1 - load ratio; c ties b, idle less long
        ("longest_idle", (0.0, "a", float(-NOW))),  # minus the last assignment's ms
        ("skill_weighted", (5.0, "c", 4.0)),  # the sum of required skill levels
        ("performance_weighted", (0.5, "a", 0.9 * (1.0 - 1 / 2))),  # performance x spare
        ("round_robin", (0.0, "b", 0.0)),  # no score; runner-up: the next id after the winner
    ],
)
def test_each_strategy_explains_its_winners_score_and_runner_up(
    store: AgentStore, strategy: str, explain: tuple[object, ...]
) -> None:
    # Given the agents of the documented-winner test
    login(store, "a", skills={"en": 5}, performance=0.9)
    login(store, "b", skills={"en": 2}, performance=0.4)
    login(store, "c", skills={"en": 4}, performance=0.5)
    assign(store, req("P1", queue="prep", preferred_agent="a"))
    assign(store, req("P2", queue="prep", preferred_agent="c"), now=NOW + 1_000)
    store.release(T, "P2", "resolved", NOW + 2_000)
    # When
    [d] = assign(store, req("X", strategy=strategy, skills={"en": 1}), now=NOW + 3_000)
    # Then the decision carries the winner's score, the runner-up and its score
    assert d.explain == explain
    ev = d.to_event()["explain"]
    assert ev == {"score": explain[0], "runner_up": explain[1], "runner_up_score": explain[2]}


def test_a_lone_candidate_is_explained_without_a_runner_up(store: AgentStore) -> None:
    # Given one agent with room for one ticket
    login(store, "a", capacity={"chat": 1})
    # When a ticket is assigned to it (and another queued: no explanation)
    [d, q] = assign(store, req("X"), req("Y"))
    # Then only the winner's score is given
    assert (d.agent, d.explain, d.to_event()["explain"]) == ("a", (1.0,), {"score": 1.0})
    assert q.explain == () and "explain" not in q.to_event()


def test_round_robin_runner_up_wraps_around_to_the_lowest_id(store: AgentStore) -> None:
    for a in ("c", "a", "b"):
        login(store, a)
    ds = assign(store, *(req(f"R{i}", strategy="round_robin") for i in range(3)))
    assert [(d.agent, d.explain) for d in ds] == [
        ("a", (0.0, "b", 0.0)),
        ("b", (0.0, "c", 0.0)),
        ("c", (0.0, "a", 0.0)),
    ]


def test_round_robin_runner_up_holds_over_many_tickets_of_one_shape(store: AgentStore) -> None:
    # Given four agents with room for many tickets (Redis switches from scanning to a sorted
    # list after a few tickets of one shape)
    for a in ("d", "b", "a", "c"):
        login(store, a, capacity={"chat": 9})
    # When a dozen tickets are assigned round robin
    ds = assign(store, *(req(f"R{i:02}", strategy="round_robin") for i in range(12)))
    # Then each runner-up is the agent after the winner, wrapping around
    after = {"a": "b", "b": "c", "c": "d", "d": "a"}
    assert [d.explain for d in ds] == [(0.0, after[str(d.agent)], 0.0) for d in ds]
    assert [d.agent for d in ds] == list("abcd" * 3)


def test_a_store_chosen_reassignment_keeps_the_explanation_a_supervisors_has_none(
    store: AgentStore,
) -> None:
    # Given two agents and a ticket assigned to a
    login(store, "a")
    login(store, "b")
    [d] = assign(store, req("X"))
    assert (d.agent, d.explain) == ("a", (1.0, "b", 1.0))
    # When a supervisor moves it to b / Then no strategy chose: nothing to explain
    [r, *_] = store.reassign(T, "X", "b", "sue", False, NOW + 1_000)
    assert (r.kind, r.agent, r.explain) == ("reassigned", "b", ())


def test_round_robin_rotates_by_agent_id_across_batches(store: AgentStore) -> None:
    for a in ("c", "a", "b"):
        login(store, a)
    first = assign(store, *(req(f"R{i}", strategy="round_robin") for i in range(4)))
    second = assign(store, req("R9", strategy="round_robin"))
    assert [d.agent for d in first + second] == ["a", "b", "c", "a", "b"]


def test_agent_ids_are_ordered_by_code_point_not_by_locale(store: AgentStore) -> None:
    # Python's str order (= UTF-8 byte order): "B" < "Z" < "a" < "ä" < "é"
    for a in ("é", "a", "Z", "ä", "B"):
        login(store, a)
    ds = assign(store, *(req(f"R{i}", strategy="round_robin") for i in range(6)))
    assert [d.agent for d in ds] == ["B", "Z", "a", "ä", "é", "B"]
    [d] = assign(store, req("L", strategy="longest_idle"))  # B is full, the rest tie: lowest id
    assert d.agent == "Z"


def test_filtered_counts_the_first_failing_rule_of_each_candidate(store: AgentStore) -> None:
    # Given one agent failing each rule, one eligible, and two that are not candidates at all
    en3: dict[str, Any] = {"skills": {"en": 3}}
    login(store, "x", **en3)  # excluded
    login(store, "y", **en3, capacity={"phone": 1})  # no_channel
    login(store, "z", **en3, capacity={"chat": 1})  # capacity (after P)
    login(store, "w", skills={"en": 1})  # skill
    login(store, "v", **en3, regions=["us"])  # region
    login(store, "u", **en3)  # eligible
    login(store, "s", **en3, status="away")  # not available: not a candidate
    login(store, "r", skills={"fr": 5})  # lacks the skill: not a candidate
    assign(store, req("P", queue="prep", preferred_agent="z"))
    # When
    [d] = assign(store, req("X", skills={"en": 2}, regions=("eu",), cooloff=(("x", NOW + 1),)))
    [e] = assign(store, req("Y", preferred_agent="u"))
    # Then
    assert (d.agent, d.candidates) == ("u", 1)
    assert d.filtered == {"excluded": 1, "no_channel": 1, "capacity": 1, "skill": 1, "region": 1}
    assert (e.agent, e.candidates, e.filtered) == ("u", 1, {"not_preferred": 6})


def test_ticket_without_eligible_agent_waits_in_its_queue(store: AgentStore) -> None:
    login(store, "a", regions=["us"])
    [d] = assign(store, req("X", regions=("eu",), priority=2))
    assert (d.kind, d.agent, d.reason, d.filtered) == (
        "queued",
        None,
        "no eligible agent",
        {"region": 1},
    )
    [e] = store.waiting(T)
    assert (e.ticket_id, e.queue, e.priority, e.ticket_ts) == ("X", "support", 2, NOW)
    assert e.score == waiting_score(2, NOW, None)
    rec = store.ticket(T, "X")
    assert rec is not None and (rec.state, rec.agent, rec.ticket["id"]) == ("waiting", None, "X")


def test_batch_never_exceeds_capacity(store: AgentStore) -> None:
    login(store, "a", capacity={"chat": 2})
    login(store, "b", capacity={"chat": 1})
    ds = assign(store, *(req(f"X{i}", ts=NOW + i) for i in range(6)))
    assert [d.kind for d in ds] == ["assigned"] * 3 + ["queued"] * 3
    assert (view(store, "a").load("chat"), view(store, "b").load("chat")) == (2, 1)


# ---- pull -------------------------------------------------------------------------------------
def test_release_pulls_waiting_tickets_by_priority_then_age_across_queues(
    store: AgentStore,
) -> None:
    # Given a full agent and four waiting tickets in two queues
    login(store, "a", capacity={"chat": 1})
    assign(store, req("H"))
    assign(
        store,
        req("W1", queue="q1", priority=3, ts=NOW - 5_000),
        req("W2", queue="q2", priority=1, ts=NOW - 1_000),
        req("W3", queue="q1", priority=1, ts=NOW - 2_000),
        req("W4", queue="q2", priority=2, ts=NOW - 9_000),
    )
    # When the agent finishes each ticket in turn
    pulled = []
    for done in ("H", "W3", "W2", "W4"):
        released, taken = store.release(T, done, "resolved", NOW + 1)
        assert (released.kind, released.agent) == ("released", "a")
        pulled.append((taken.ticket_id, taken.step))
    # Then it took them best first
    assert pulled == [(t, "initial|pull") for t in ("W3", "W2", "W4", "W1")]


def test_freed_agent_skips_paused_queues(store: AgentStore) -> None:
    login(store, "a", capacity={"chat": 1})
    assign(store, req("H"), req("W1", queue="q1", priority=1), req("W2", queue="q2", priority=3))
    store.set_paused(T, "q1", True, NOW)
    assert outcome(store.release(T, "H", "resolved", NOW)) == [
        ("released", "H", "a"),
        ("assigned", "W2", "a"),
    ]
    # a is full again: only the queue's own decision
    assert outcome(store.set_paused(T, "q1", False, NOW)) == [("resumed", "q1", None)]
    assert waiting_ids(store) == ["W1"]


def test_login_pulls_waiting_work(store: AgentStore) -> None:
    assign(store, req("W1", ts=NOW - 1), req("W2"), req("W3"))
    ds = login(store, "a", capacity={"chat": 2})
    assert outcome(ds) == [("assigned", "W1", "a"), ("assigned", "W2", "a")]
    assert waiting_ids(store) == ["W3"]


def test_resume_drains_every_waiting_ticket_and_leaves_nothing_to_claim(
    store: AgentStore,
) -> None:
    # Given more paused tickets than one scan takes (WAIT_SCAN_LIMIT)
    login(store, "a", capacity={"chat": 1_000})
    login(store, "b", status="busy")
    store.set_paused(T, "support", True, NOW)
    assign(store, *(req(f"X{i:04d}") for i in range(WAIT_SCAN_LIMIT + 2)))
    # When the queue resumes / Then every ticket reaches the available agent, in order
    resumed, *out = store.set_paused(T, "support", False, NOW)
    assert (resumed.kind, resumed.queue) == ("resumed", "support")
    assert [d.ticket_id for d in out] == [f"X{i:04d}" for i in range(WAIT_SCAN_LIMIT + 2)]
    # And a claim (agent pull) finds nothing left, for any agent
    assert store.claim(T, "a", NOW) == []
    assert store.claim(T, "b", NOW) == []


# ---- idempotency ------------------------------------------------------------------------------
def test_assigning_a_known_ticket_is_a_duplicate_without_extra_load(store: AgentStore) -> None:
    login(store, "a")
    assign(store, req("X"))
    again, in_batch = assign(store, req("X"), req("X"))
    for d in (again, in_batch):
        assert (d.kind, d.agent, d.duplicate, d.reason) == ("assigned", "a", True, "duplicate")
    assert view(store, "a").open == {"chat": ("X",)}
    store.release(T, "X", "resolved", NOW)
    [after_close] = assign(store, req("X"))
    assert (after_close.kind, after_close.agent, after_close.duplicate) == ("released", None, True)


def test_releasing_twice_changes_nothing_the_second_time(store: AgentStore) -> None:
    login(store, "a", capacity={"chat": 1})
    assign(store, req("X"), req("W"))
    assert outcome(store.release(T, "X", "resolved", NOW)) == [
        ("released", "X", "a"),
        ("assigned", "W", "a"),
    ]
    assert store.release(T, "X", "resolved", NOW) == []
    with pytest.raises(UnknownTicket):  # a stray release: refused, not registered
        store.release(T, "unknown", "resolved", NOW)
    assert view(store, "a").open == {"chat": ("W",)}
