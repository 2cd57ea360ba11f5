"""engine.core.policy: valid documents and the example policies in deploy/policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.policy import Policy, parse_policy
from engine.errors import PolicyError
from engine.policy_file import load_policy
from tests.unit.core.policy_helpers import POLICIES_DIR, assert_errors, doc, q

pytestmark = pytest.mark.unit


def test_valid_policy_builds_frozen_queues_with_defaults() -> None:
    # Given a minimal valid document
    policy = parse_policy(doc())
    # When its only queue is looked up
    queue = policy.queue("ok")
    # Then the defaults are in place
    assert isinstance(policy, Policy) and queue is not None
    assert (queue.strategy, queue.priority_boost, queue.offer, queue.sticky_after_s) == (
        "round_robin",
        0,
        None,
        None,
    )
    assert policy.regions == {"eu": ("us",), "us": ("eu",)}
    assert policy.sla["std"].warn_at == 0.8
    assert policy.aging_per_priority_s is None


def test_priority_raise_steps_are_sorted_by_time() -> None:
    # Given raise steps written out of order
    policy = parse_policy(
        doc(q("priority_raise: [{after_s: 600, by: 2}, {after_s: 60}]")),
    )
    # When the queue is built / Then they are sorted and `by` defaults to 1
    queue = policy.queue("a")
    assert queue is not None
    assert [(r.after_s, r.by) for r in queue.priority_raise] == [(60.0, 1), (600.0, 2)]


EXAMPLE_FILES = sorted(p for p in POLICIES_DIR.glob("*.yaml") if p.name != "broken.yaml")


def test_example_policy_folder_is_populated() -> None:
    # Given deploy/policies / Then the call-center example and per-feature files exist
    names = {p.name for p in EXAMPLE_FILES}
    assert {"callcenter.yaml", "round_robin.yaml", "skills.yaml", "offers.yaml"} <= names
    assert {"teams.yaml", "shifts.yaml", "fairness.yaml", "grab.yaml", "handover.yaml"} <= names


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_policy_is_valid(path: Path) -> None:
    # Given an example policy / When it is loaded / Then it validates
    policy = load_policy(path)
    assert policy.queues


def test_callcenter_policy_uses_every_strategy_and_feature() -> None:
    # Given the complete call-center example
    policy = load_policy(POLICIES_DIR / "callcenter.yaml")
    queues = policy.queues
    # Then every strategy and every routing feature appears somewhere
    assert {q.strategy for q in queues} == {
        "round_robin",
        "least_loaded",
        "longest_idle",
        "skill_weighted",
        "performance_weighted",
    }
    ladders = [tuple(s.widen for s in q.region_ladder) for q in queues]
    assert ("neighbors", "any") in ladders
    assert any(q.overflow for q in queues)
    assert any(q.offer and q.offer.max_misses for q in queues)
    assert any(q.sticky_after_s is not None for q in queues)
    assert any(q.priority_boost for q in queues)
    assert any(q.priority_raise for q in queues)
    assert any(q.sla for q in queues) and policy.sla
    assert policy.aging_per_priority_s is not None
    # and the call-center modes: teams with a ladder, re-offers, fairness, shifts, wrap-up
    assert policy.teams and any(q.teams and q.team_ladder for q in queues)
    assert any(q.offer and q.offer.reoffer_after_s != 300 for q in queues)
    assert any(q.fairness for q in queues) and any(q.wrap_up_s for q in queues)
    assert policy.shift_stop and policy.calendars


def test_each_call_center_mode_has_its_example() -> None:
    # Given the per-mode examples / Then each uses its mode
    teams = load_policy(POLICIES_DIR / "teams.yaml")
    assert teams.teams["billing"] == ("support",)
    assert [s.widen for s in teams.queues[0].team_ladder] == ["partners", "any"]
    shifts = load_policy(POLICIES_DIR / "shifts.yaml")
    assert shifts.shift_stop == {"email": 1800.0, "phone": 300.0}
    assert {"early", "night"} <= set(shifts.calendars)
    assert any(q.wrap_up_s for q in shifts.queues)
    fairness = load_policy(POLICIES_DIR / "fairness.yaml")
    assert all(q.fairness for q in fairness.queues[:2])
    handover = load_policy(POLICIES_DIR / "handover.yaml")
    assert [(q.on_logout, q.handover_after_away_s) for q in handover.queues] == [
        ("requeue", 120.0),
        ("requeue", None),
        ("keep", 14400.0),
        ("keep", None),
    ]


def test_broken_example_reports_each_deliberate_error() -> None:
    # Given deploy/policies/broken.yaml
    # When it is loaded
    with pytest.raises(PolicyError) as info:
        load_policy(POLICIES_DIR / "broken.yaml")
    # Then exactly its documented mistakes are reported, in this order
    assert_errors(
        info.value.errors,
        [
            ("reporting", "unknown key"),
            ("queues[0].strategy", "unknown strategy 'fastest'"),
            ("queues[0].sla", "unknown sla policy 'platinum'"),
            ("queues[0].skills.billing", "must be an integer 1..5, got 7"),
            ("queues[0].region_ladder[1].after_s", "steps must be in increasing after_s order"),
            ("queues[1].priority", "unknown key"),
            ("queues[0].overflow.to", "unknown queue 'nowhere'"),
        ],
    )
