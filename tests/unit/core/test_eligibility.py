"""engine.core.eligibility: every rule, its reason text and the first-failing-rule order."""

from __future__ import annotations

from typing import Any

import pytest

from engine.core.eligibility import REASON_ORDER, first_reason, reasons
from engine.core.model import Agent, Request

pytestmark = pytest.mark.unit


def agent(**fields: Any) -> Agent:
    base: dict[str, Any] = {
        "id": "ann",
        "status": "available",
        "skills": {"billing": 3, "tech": 1},
        "regions": ["eu-west"],
        "capacity": {"chat": 2, "phone": 1},
    }
    return Agent.from_mapping({**base, **fields})


def req(**fields: Any) -> Request:
    base: dict[str, Any] = {
        "ticket_id": "t1",
        "tenant": "acme",
        "queue": "q",
        "strategy": "round_robin",
        "channel": "chat",
        "priority": 3,
        "ticket_ts": 0,
        "score": 0.0,
        "skills": {"billing": 2},
        "regions": ("eu-west", "eu-central"),
    }
    return Request(**{**base, **fields})


# (case, agent fields, load on the channel, request fields, expected reasons)
CASES: list[tuple[str, dict[str, Any], int, dict[str, Any], list[str]]] = [
    ("eligible", {}, 0, {}, []),
    ("eligible with one slot left", {}, 1, {}, []),
    ("busy", {"status": "busy"}, 0, {}, ["status:busy"]),
    ("away", {"status": "away"}, 0, {}, ["status:away"]),
    ("offline", {"status": "offline"}, 0, {}, ["status:offline"]),
    ("cooling off after a miss", {}, 0, {"cooloff": (("ann", 5), ("bob", 9))}, ["excluded"]),
    ("cool-off over", {}, 0, {"cooloff": (("ann", 0), ("bob", 9))}, []),
    ("someone else preferred", {}, 0, {"preferred_agent": "bob"}, ["not_preferred"]),
    ("is the preferred agent", {}, 0, {"preferred_agent": "ann"}, []),
    ("no capacity on the channel", {}, 0, {"channel": "email"}, ["no_channel:email"]),
    ("zero capacity on the channel", {"capacity": {"chat": 0}}, 0, {}, ["no_channel:chat"]),
    ("at capacity", {}, 2, {}, ["capacity:2/2"]),
    ("over capacity (forced)", {}, 3, {}, ["capacity:3/2"]),
    ("skill too low", {"skills": {"billing": 1}}, 0, {}, ["skill:billing 1<2"]),
    ("skill missing", {"skills": {"tech": 5}}, 0, {}, ["skill:billing 0<2"]),
    ("skill exactly at level", {"skills": {"billing": 2}}, 0, {}, []),
    (
        "several skills short, sorted by name",
        {"skills": {}},
        0,
        {"skills": {"tech": 1, "billing": 2}},
        ["skill:billing 0<2", "skill:tech 0<1"],
    ),
    ("no skills required", {"skills": {}}, 0, {"skills": {}}, []),
    ("outside the allowed regions", {"regions": ["us-east"]}, 0, {}, ["region"]),
    ("no region at all", {"regions": []}, 0, {}, ["region"]),
    ("one of several regions allowed", {"regions": ["us-east", "eu-central"]}, 0, {}, []),
    ("any region allowed", {"regions": ["us-east"]}, 0, {"regions": None}, []),
    ("team allowed", {"team": "billing"}, 0, {"teams": ("billing", "support")}, []),
    ("other team", {"team": "sales"}, 0, {"teams": ("billing",)}, ["team:sales"]),
    ("no team at all", {}, 0, {"teams": ("billing",)}, ["team"]),
    ("any team allowed", {"team": "sales"}, 0, {"teams": None}, []),
    ("no team and any team allowed", {}, 0, {"teams": None}, []),
    (
        "everything wrong, in rule order",
        {"status": "away", "skills": {}, "regions": ["us-east"]},
        2,
        {"cooloff": (("ann", 1),), "preferred_agent": "bob"},
        ["status:away", "excluded", "not_preferred", "capacity:2/2", "skill:billing 0<2", "region"],
    ),
]


@pytest.mark.parametrize(
    ("agent_fields", "load", "req_fields", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_reasons_list_every_failing_rule(
    agent_fields: dict[str, Any], load: int, req_fields: dict[str, Any], expected: list[str]
) -> None:
    # Given an agent with a load and a request
    # When its eligibility is explained
    why = reasons(agent(**agent_fields), load, req(**req_fields))
    # Then every failing rule is listed with its detail, in rule order
    assert why == expected


@pytest.mark.parametrize(
    ("agent_fields", "load", "req_fields", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_first_reason_is_the_code_of_the_first_failing_rule(
    agent_fields: dict[str, Any], load: int, req_fields: dict[str, Any], expected: list[str]
) -> None:
    # Given the same agent and request
    # When only the first failing rule is asked for (the store's fast path)
    code = first_reason(agent(**agent_fields), load, req(**req_fields))
    # Then it is the code of the first reason, or None when eligible
    assert code == (expected[0].split(":")[0] if expected else None)


def test_reason_codes_are_documented_in_rule_order() -> None:
    # Given an agent failing every rule (load on a channel it has capacity for)
    why = reasons(
        agent(
            status="away",
            skills={},
            regions=["x"],
            shift_start_ms=5,
            shift_end_ms=10,
            wrap_until_ms=100,
        ),
        5,
        req(
            cooloff=(("ann", 1),),
            preferred_agent="bob",
            teams=("billing",),
            fair_max=1,
            fair_window_ms=1,
        ),
        0,
        1,
    )
    codes = [w.split(":")[0] for w in why]
    # When compared with REASON_ORDER (no_channel and capacity are exclusive)
    # Then the rules apply in the documented order
    assert codes == [c for c in REASON_ORDER if c != "no_channel"]


# Rules that depend on the time and on the store's counts: (case, agent fields, load, request
# fields, now ms, recent (new tickets of the queue in the fairness window), expected reasons)
TIMED: list[tuple[str, dict[str, Any], int, dict[str, Any], int, int, list[str]]] = [
    ("cooling off", {}, 0, {"cooloff": (("ann", 1000),)}, 999, 0, ["excluded"]),
    ("cool-off ends", {}, 0, {"cooloff": (("ann", 1000),)}, 1000, 0, []),
    ("another agent cools off", {}, 0, {"cooloff": (("bob", 1000),)}, 0, 0, []),
    ("under the fairness limit", {}, 0, {"fair_max": 2, "fair_window_ms": 60}, 0, 1, []),
    (
        "at the fairness limit",
        {},
        0,
        {"fair_max": 2, "fair_window_ms": 60},
        0,
        2,
        ["fair_share:2/2"],
    ),
    ("no fairness limit", {}, 0, {}, 0, 50, []),
    ("on shift", {"shift_start_ms": 100, "shift_end_ms": 200}, 0, {}, 100, 0, []),
    (
        "before the shift",
        {"shift_start_ms": 100, "shift_end_ms": 200},
        0,
        {},
        99,
        0,
        ["shift:100-200"],
    ),
    (
        "shift over",
        {"shift_start_ms": 100, "shift_end_ms": 200},
        0,
        {},
        200,
        0,
        ["shift:100-200"],
    ),
    (
        "too close to the end for the channel",
        {"shift_start_ms": 100, "shift_end_ms": 200},
        0,
        {"shift_stop_ms": 30},
        170,
        0,
        ["shift:100-200"],
    ),
    (
        "just in time for the channel",
        {"shift_start_ms": 100, "shift_end_ms": 200},
        0,
        {"shift_stop_ms": 30},
        169,
        0,
        [],
    ),
    ("no schedule: always on shift", {}, 0, {"shift_stop_ms": 30}, 10**12, 0, []),
    ("wrapping up", {"wrap_until_ms": 500}, 0, {}, 499, 0, ["wrap_up:500"]),
    ("wrap-up over", {"wrap_until_ms": 500}, 0, {}, 500, 0, []),
    (
        "off shift and wrapping up, before every other rule but status",
        {"shift_start_ms": 100, "shift_end_ms": 200, "wrap_until_ms": 500, "status": "busy"},
        3,
        {"cooloff": (("ann", 1000),)},
        300,
        0,
        ["status:busy", "shift:100-200", "wrap_up:500", "excluded", "capacity:3/2"],
    ),
    (
        "at capacity and at the fairness limit",
        {},
        2,
        {"fair_max": 1, "fair_window_ms": 60},
        0,
        1,
        ["capacity:2/2", "fair_share:1/1"],
    ),
    (
        "fairness before skills",
        {"skills": {}},
        0,
        {"fair_max": 1, "fair_window_ms": 60},
        0,
        3,
        ["fair_share:3/1", "skill:billing 0<2"],
    ),
]


@pytest.mark.parametrize(
    ("agent_fields", "load", "req_fields", "now", "recent", "expected"),
    [c[1:] for c in TIMED],
    ids=[c[0] for c in TIMED],
)
def test_timed_and_counted_rules(
    agent_fields: dict[str, Any],
    load: int,
    req_fields: dict[str, Any],
    now: int,
    recent: int,
    expected: list[str],
) -> None:
    # Given an agent, a request, the time and the agent's recent tickets of the queue
    a, r = agent(**agent_fields), req(**req_fields)
    # When explained and when only the first failing rule is asked for
    why = reasons(a, load, r, now, recent)
    code = first_reason(a, load, r, now, recent)
    # Then both agree with the table
    assert why == expected
    assert code == (expected[0].split(":")[0] if expected else None)
