"""engine.core.pull: grab mode's policy keys, routing of pull queues (pool, push fallback)
and the claim rule. Table-driven, pure."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from engine.core.eligibility import CAPACITY, SKILL, STATUS
from engine.core.model import Agent, Request, Ticket
from engine.core.policy import parse_policy
from engine.core.pull import CLAIM_LIMIT, PULL, PUSH, STEP_PUSH_AFTER, claim_reason
from engine.core.routing import route
from tests.unit.core.policy_helpers import assert_errors, doc, errors_of, q

pytestmark = pytest.mark.unit

INVALID: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("unknown mode", "mode: grab", [("queues[0].mode", "unknown mode 'grab' (one of push, pull)")]),
    ("mode not a string", "mode: [pull]", [("queues[0].mode", "unknown mode")]),
    ("claim_limit zero", "mode: pull, claim_limit: 0", [("queues[0].claim_limit", "1..1000")]),
    ("claim_limit float", "mode: pull, claim_limit: 2.0", [("queues[0].claim_limit", "got 2.0")]),
    ("claim_limit huge", "mode: pull, claim_limit: 100001", [("queues[0].claim_limit", "1..1000")]),
    ("claim_limit bool", "mode: pull, claim_limit: true", [("queues[0].claim_limit", "integer")]),
    ("push_after_s zero", "mode: pull, push_after_s: 0", [("queues[0].push_after_s", "> 0")]),
    ("push_after_s text", "mode: pull, push_after_s: soon", [("queues[0].push_after_s", "number")]),
    (
        "push_after_s past 10 years",
        "mode: pull, push_after_s: 1000000000000",
        [("queues[0].push_after_s", "must be <= 315360000")],
    ),
    ("push_after_s NaN", "mode: pull, push_after_s: .nan", [("queues[0].push_after_s", "finite")]),
    (
        "claim_limit on a push queue",
        "claim_limit: 2",
        [("queues[0].claim_limit", "only for a queue with mode: pull")],
    ),
    (
        "push_after_s on an explicit push queue",
        "mode: push, push_after_s: 60",
        [("queues[0].push_after_s", "only for a queue with mode: pull")],
    ),
    # an unknown mode reports itself, not the keys that need mode: pull
    ("unknown mode with a limit", "mode: Pull, claim_limit: 2", [("queues[0].mode", "unknown")]),
]


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_grab_keys_report_their_path(body: str, expected: list[tuple[str, str]]) -> None:
    # Given a queue with one bad grab-mode key / When validated / Then the error names its path
    assert_errors(errors_of(doc(q(body))), expected)


def test_grab_keys_default_to_push_and_parse_when_valid() -> None:
    # Given a push queue without the keys and a pull queue with both
    policy = parse_policy(doc(q("mode: pull, claim_limit: 3, push_after_s: 90") + OK))
    # Then the pull queue carries them and the other one is push without limits
    pulled, pushed = policy.queue("a"), policy.queue("ok")
    assert pulled is not None and pushed is not None
    assert (pulled.mode, pulled.claim_limit, pulled.push_after_s) == (PULL, 3, 90.0)
    assert (pushed.mode, pushed.claim_limit, pushed.push_after_s) == (PUSH, None, None)


OK = "  - {name: ok, match: {}, strategy: round_robin}\n"
T0 = 1_800_000_000_000
POLICY = parse_policy(
    {
        "version": 1,
        "queues": [
            {"name": "pool", "match": {"tier": "pool"}, "strategy": "round_robin",
             "mode": "pull", "claim_limit": 2},
            {"name": "late", "match": {"tier": "late"}, "strategy": "round_robin",
             "mode": "pull", "push_after_s": 60},
            {"name": "spill", "match": {"tier": "spill"}, "strategy": "round_robin",
             "overflow": {"after_s": 100, "to": "late"}},
            {"name": "push", "strategy": "least_loaded"},
        ],
    }
)  # fmt: skip

# (case, tier, age s) -> (queue, pull, claim_limit, step, wake after ts s or None)
ROUTES: list[tuple[str, str, int, tuple[str, bool, int, str, int | None]]] = [
    ("pull queue pools forever", "pool", 0, ("pool", True, 2, "initial", None)),
    ("pull queue, old ticket: still pooled", "pool", 10**6, ("pool", True, 2, "initial", None)),
    ("fallback not due: pooled, wakes at it", "late", 59, ("late", True, 0, "initial", 60)),
    ("fallback due: pushed", "late", 60, ("late", False, 0, STEP_PUSH_AFTER, None)),
    ("push queue", "standard", 0, ("push", False, 0, "initial", None)),
    ("overflow into a pull queue: pooled", "spill", 100, ("late", True, 0, "overflow:late", 160)),
    (
        "fallback measured from entering the queue",
        "spill",
        160,
        ("late", False, 0, f"overflow:late,{STEP_PUSH_AFTER}", None),
    ),
    ("before the overflow: push", "spill", 99, ("spill", False, 0, "initial", 100)),
]


@pytest.mark.parametrize(
    ("tier", "age_s", "expected"), [c[1:] for c in ROUTES], ids=[c[0] for c in ROUTES]
)
def test_routing_pools_pull_tickets_until_the_fallback(
    tier: str, age_s: int, expected: tuple[str, bool, int, str, int | None]
) -> None:
    # Given a ticket of a tier, created age_s ago
    ticket = Ticket(id="t1", tenant="x", ts=T0, channel="chat", priority=3, tier=tier)
    # When it is routed
    req = route(ticket, POLICY, T0 + age_s * 1000).request
    # Then its queue, pooling, claim limit, step and next wake are as expected
    assert req is not None
    queue, pull, limit, step, wake_s = expected
    wake = T0 + wake_s * 1000 if wake_s is not None else 0
    assert (req.queue, req.pull, req.claim_limit, req.step, req.wake_ms) == (
        queue,
        pull,
        limit,
        step,
        wake,
    )


AGENT = Agent(id="ann", status="available", skills={"en": 2}, capacity={"chat": 2})
REQ = Request("t1", "x", "pool", "round_robin", "chat", 3, T0, 1.0, pull=True, claim_limit=2)

# (case, agent changes, request changes, load, held) -> refusal code or None
CLAIMS: list[tuple[str, dict[str, Any], dict[str, Any], int, int, str | None]] = [
    ("eligible, below the limit", {}, {}, 0, 1, None),
    ("at the claim limit", {}, {}, 1, 2, CLAIM_LIMIT),
    ("no limit: any number held", {}, {"claim_limit": 0}, 1, 50, None),
    ("capacity comes before the limit", {}, {}, 2, 2, CAPACITY),
    ("not available", {"status": "busy"}, {}, 0, 0, STATUS),
    ("missing skill", {}, {"skills": {"fr": 1}}, 0, 0, SKILL),
    ("off shift", {"shift_start_ms": T0 + 1, "shift_end_ms": T0 + 9}, {}, 0, 0, "shift"),
    ("wrapping up", {"wrap_until_ms": T0 + 5}, {}, 0, 0, "wrap_up"),
    ("another region only", {"regions": ("us",)}, {"regions": ("eu",)}, 0, 0, "region"),
    ("another team only", {"team": "b"}, {"teams": ("a",)}, 0, 0, "team"),
]


@pytest.mark.parametrize(
    ("agent_over", "req_over", "load", "held", "expected"),
    [c[1:] for c in CLAIMS],
    ids=[c[0] for c in CLAIMS],
)
def test_claim_rule_is_eligibility_then_the_claim_limit(
    agent_over: dict[str, Any],
    req_over: dict[str, Any],
    load: int,
    held: int,
    expected: str | None,
) -> None:
    # Given an agent and a pooled request, each changed by the case
    agent, req = replace(AGENT, **agent_over), replace(REQ, **req_over)
    # When the claim rule is asked / Then the first failing rule (or None) comes back
    assert claim_reason(agent, load, req, T0, 0, held) == expected
