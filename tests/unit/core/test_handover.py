"""engine.core.handover: the queue settings, which tickets move for which cause, their order,
queue decisions and their record keys."""

from __future__ import annotations

from typing import Any

import pytest

from engine.core import handover as h
from engine.core.model import Decision, Request
from engine.core.policy import parse_policy
from engine.errors import PolicyError

pytestmark = pytest.mark.unit


def policy(**queue: Any) -> Any:
    return parse_policy(
        {"version": 1, "queues": [{"name": "q", "strategy": "round_robin", **queue}]}
    )


@pytest.mark.parametrize(
    ("settings", "on_logout", "away_s"),
    [
        ({}, "keep", None),
        ({"on_logout": "requeue"}, "requeue", None),
        ({"on_logout": "keep", "handover_after_away_s": 300}, "keep", 300),
        ({"handover_after_away_s": 0.5}, "keep", 0.5),
    ],
)
def test_queue_settings_parse(
    settings: dict[str, Any], on_logout: str, away_s: float | None
) -> None:
    q = policy(**settings).queues[0]
    assert (q.on_logout, q.handover_after_away_s) == (on_logout, away_s)


@pytest.mark.parametrize(
    ("settings", "path", "message"),
    [
        ({"on_logout": "drop"}, "queues[0].on_logout", "must be one of requeue, keep"),
        ({"on_logout": 1}, "queues[0].on_logout", "must be one of"),
        ({"handover_after_away_s": 0}, "queues[0].handover_after_away_s", ""),
        ({"handover_after_away_s": -5}, "queues[0].handover_after_away_s", ""),
        ({"handover_after_away_s": "soon"}, "queues[0].handover_after_away_s", ""),
        ({"handover_after_away_s": 10**12}, "queues[0].handover_after_away_s", ""),
    ],
)
def test_bad_settings_are_refused_with_their_path(
    settings: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(PolicyError) as err:
        policy(**settings)
    assert path in str(err.value) and message in str(err.value)


@pytest.mark.parametrize(
    ("settings", "cause", "away_queue", "moves"),
    [
        ({}, h.CAUSE_LOGOUT, "", False),
        ({"on_logout": "requeue"}, h.CAUSE_LOGOUT, "", True),
        ({"on_logout": "requeue"}, h.CAUSE_AWAY, "q", False),
        ({"handover_after_away_s": 60}, h.CAUSE_AWAY, "q", True),
        ({"handover_after_away_s": 60}, h.CAUSE_AWAY, "other", False),
        ({"handover_after_away_s": 60}, h.CAUSE_LOGOUT, "", False),
        ({"on_logout": "requeue"}, "coffee", "", False),
    ],
)
def test_which_tickets_move_for_which_cause(
    settings: dict[str, Any], cause: str, away_queue: str, moves: bool
) -> None:
    q = policy(**settings).queues[0]
    assert h.moves(q, cause, away_queue) is moves


def test_a_queue_the_policy_no_longer_has_keeps_its_tickets() -> None:
    assert h.moves(None, h.CAUSE_LOGOUT) is False


def test_away_queues_in_ms() -> None:
    p = parse_policy(
        {
            "version": 1,
            "queues": [
                {"name": "a", "strategy": "round_robin", "handover_after_away_s": 1.5},
                {"name": "b", "strategy": "round_robin"},
            ],
        }
    )
    assert h.away_queues(p.queues) == [("a", 1500)]


def test_handover_order_is_waiting_order_then_id() -> None:
    def r(tid: str, score: float) -> Request:
        return Request(tid, "t", "q", "round_robin", "chat", 3, 0, score)

    out = h.in_order([r("c", 2.0), r("b", 1.0), r("a", 2.0)])
    assert [x.ticket_id for x in out] == ["b", "a", "c"]


@pytest.mark.parametrize(
    ("kind", "queue", "key_id"),
    [("paused", "billing", "#queue:billing"), ("resumed", "a.b-c", "#queue:a.b-c")],
)
def test_queue_decisions_and_their_record_keys(kind: str, queue: str, key_id: str) -> None:
    d = h.queue_decision(kind, "acme", queue, 5, supervisor="sup", why="x", policy="rev")
    assert (d.ticket_id, d.queue, d.supervisor, d.why, d.policy, d.seq) == (
        queue,
        queue,
        "sup",
        "x",
        "rev",
        0,
    )
    assert h.decision_key_id(d) == key_id
    assert h.is_queue_decision(d.to_event())


def test_a_ticket_decision_is_keyed_by_its_ticket() -> None:
    d = Decision(kind="assigned", ticket_id="queue:billing", tenant="acme", ts=1, queue="billing")
    assert h.decision_key_id(d) == "queue:billing"
    assert not h.is_queue_decision(d.to_event())


def test_only_queue_kinds_make_queue_decisions() -> None:
    with pytest.raises(ValueError, match="not a queue decision kind"):
        h.queue_decision("assigned", "acme", "q", 1, supervisor=None, why="", policy="")
