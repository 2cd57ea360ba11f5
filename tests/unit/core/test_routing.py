"""engine.core.routing: queue matching, requirements and the escalation ladder over time."""

from __future__ import annotations

from typing import Any

import pytest

from engine.core.model import Request, Ticket
from engine.core.policy import Policy, parse_policy
from engine.core.routing import PRIORITY_BAND_MS, match_queue, route, waiting_score

pytestmark = pytest.mark.unit

T0 = 1_700_000_000_000
S = 1000


def policy(*queues: dict[str, Any], **top: Any) -> Policy:
    return parse_policy({"version": 1, "queues": list(queues), **top})


def ticket(**fields: Any) -> Ticket:
    base: dict[str, Any] = {"id": "t1", "tenant": "acme", "ts": T0, "channel": "chat"}
    return Ticket.from_event({"priority": 3, **base, **fields})


def request(t: Ticket, p: Policy, elapsed_s: float = 0, **kw: Any) -> Request:
    r = route(t, p, T0 + int(elapsed_s * S), **kw)
    assert r.request is not None, r.reason
    return r.request


MATCHING = policy(
    {"name": "vip", "match": {"tier": "vip"}, "strategy": "skill_weighted"},
    {
        "name": "chat_billing",
        "match": {"channel": ["chat", "email"], "skills_any": ["billing"]},
        "strategy": "least_loaded",
    },
    {"name": "german", "match": {"language": "de", "priority": [1, 2]}, "strategy": "round_robin"},
    {"name": "gold", "match": {"segment": "gold"}, "strategy": "longest_idle"},
    {"name": "general", "match": {}, "strategy": "round_robin"},
)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"tier": "vip", "skills": {"billing": 1}}, "vip"),  # first match wins
        ({"skills": {"billing": 2}}, "chat_billing"),
        ({"channel": "email", "skills": {"billing": 2}}, "chat_billing"),  # list: any of
        ({"channel": "phone", "skills": {"billing": 2}}, "general"),  # not in the list
        ({"skills": {"tech": 2}}, "general"),  # skills_any needs one of the skills
        ({"skills": {"tech": 2, "billing": 1}}, "chat_billing"),
        ({"language": "de", "priority": 2}, "german"),  # every key must match
        ({"language": "de", "priority": 3}, "general"),
        ({"attributes": {"segment": "gold"}}, "gold"),  # non-ticket field: attributes
        ({"attributes": {"segment": "silver"}}, "general"),
        ({"queue": "gold", "tier": "vip"}, "gold"),  # explicit queue wins over matching
        ({"queue": "nowhere", "tier": "vip"}, "vip"),  # unknown explicit queue: match
    ],
)
def test_match_queue_picks_explicit_then_first_matching(
    fields: dict[str, Any], expected: str
) -> None:
    # Given a ticket / When its queue is matched
    q = match_queue(ticket(**fields), MATCHING)
    # Then the expected queue wins
    assert q is not None and q.name == expected


def test_ticket_matching_no_queue_is_unroutable_with_a_reason() -> None:
    # Given a policy without a catch-all queue
    p = policy({"name": "vip", "match": {"tier": "vip"}, "strategy": "round_robin"})
    # When a standard ticket is routed
    r = route(ticket(), p, T0)
    # Then there is no request, and the reason says why
    assert r.request is None and r.reason == "no queue matches"


def test_queue_override_to_an_unknown_queue_is_unroutable() -> None:
    # Given a supervisor move to a queue the policy does not have / When routed
    r = route(ticket(), MATCHING, T0, queue_name="nowhere")
    # Then there is no request
    assert r.request is None


def test_queue_override_routes_to_the_named_queue() -> None:
    # Given a ticket that would match chat_billing / When moved to gold
    req = request(ticket(skills={"billing": 1}), MATCHING, queue_name="gold")
    # Then it routes in gold with gold's strategy
    assert (req.queue, req.strategy) == ("gold", "longest_idle")


@pytest.mark.parametrize(
    ("queue_skills", "ticket_skills", "expected"),
    [
        ({}, {}, {}),
        ({"billing": 2}, {}, {"billing": 2}),
        ({}, {"billing": 2}, {"billing": 2}),
        (
            {"billing": 2, "general": 1},
            {"billing": 4, "tech": 1},
            {"billing": 4, "general": 1, "tech": 1},
        ),
        ({"billing": 3}, {"billing": 1}, {"billing": 3}),  # max level wins
    ],
)
def test_required_skills_merge_queue_and_ticket_taking_the_higher_level(
    queue_skills: dict[str, int], ticket_skills: dict[str, int], expected: dict[str, int]
) -> None:
    # Given a queue and a ticket that both require skills
    p = policy({"name": "q", "strategy": "skill_weighted", "skills": queue_skills})
    # When routed
    req = request(ticket(skills=ticket_skills), p)
    # Then the request needs the union, each at the higher level
    assert dict(req.skills) == expected


LADDER = policy(
    {
        "name": "q",
        "strategy": "round_robin",
        "region_ladder": [{"after_s": 30, "widen": "neighbors"}, {"after_s": 120, "widen": "any"}],
    },
    regions={
        "eu-west": {"neighbors": ["eu-central", "eu-north"]},
        "eu-central": {},
        "eu-north": {},
    },
)


@pytest.mark.parametrize(
    ("elapsed_s", "regions", "step", "wake_s"),
    [
        (0, ("eu-west",), "initial", 30),
        (29.999, ("eu-west",), "initial", 30),
        (30, ("eu-central", "eu-north", "eu-west"), "region:neighbors", 120),
        (119.999, ("eu-central", "eu-north", "eu-west"), "region:neighbors", 120),
        (120, None, "region:neighbors,region:any", None),
        (3600, None, "region:neighbors,region:any", None),
    ],
)
def test_region_ladder_widens_with_elapsed_time(
    elapsed_s: float, regions: tuple[str, ...] | None, step: str, wake_s: float | None
) -> None:
    # Given a ticket from eu-west under a neighbours-then-any ladder
    t = ticket(region="eu-west")
    # When it is routed after `elapsed_s`
    req = request(t, LADDER, elapsed_s)
    # Then its allowed regions, step name and next step time follow the ladder
    assert req.regions == regions
    assert req.step == step
    assert req.wake_ms == (0 if wake_s is None else T0 + int(wake_s * S))


def test_ticket_without_region_may_go_to_any_region_from_the_start() -> None:
    # Given a ticket with no region / When routed
    req = request(ticket(), LADDER)
    # Then no region filter applies and no ladder timer is needed
    assert (req.regions, req.step, req.wake_ms) == (None, "initial", 0)


def test_neighbors_of_a_region_missing_from_the_graph_keep_the_home_region() -> None:
    # Given a ticket from a region the policy does not list / When the neighbours step applies
    req = request(ticket(region="ap-south"), LADDER, 30)
    # Then only the home region is allowed until the 'any' step
    assert req.regions == ("ap-south",)


OVERFLOW = policy(
    {"name": "a", "strategy": "round_robin", "overflow": {"after_s": 60, "to": "b"}},
    {
        "name": "b",
        "match": {"queue": "b"},
        "strategy": "least_loaded",
        "overflow": {"after_s": 120, "to": "c"},
    },
    {"name": "c", "match": {"queue": "c"}, "strategy": "longest_idle"},
)


@pytest.mark.parametrize(
    ("elapsed_s", "queue", "strategy", "step", "wake_s"),
    [
        (0, "a", "round_robin", "initial", 60),
        (59.999, "a", "round_robin", "initial", 60),
        (60, "b", "least_loaded", "overflow:b", 120),
        (120, "c", "longest_idle", "overflow:b,overflow:c", None),
    ],
)
def test_overflow_chain_is_followed_by_time_since_the_ticket_was_created(
    elapsed_s: float, queue: str, strategy: str, step: str, wake_s: float | None
) -> None:
    # Given a -> b after 60 s and b -> c after 120 s (both from the ticket's ts)
    # When the ticket is routed after `elapsed_s`
    req = request(ticket(), OVERFLOW, elapsed_s)
    # Then it is in the queue the chain has reached, with that queue's strategy
    assert (req.queue, req.strategy, req.step) == (queue, strategy, step)
    assert req.wake_ms == (0 if wake_s is None else T0 + int(wake_s * S))


def test_overflow_loop_stops_at_the_first_repeat() -> None:
    # Given a -> b -> a
    p = policy(
        {"name": "a", "strategy": "round_robin", "overflow": {"after_s": 10, "to": "b"}},
        {
            "name": "b",
            "match": {"queue": "b"},
            "strategy": "round_robin",
            "overflow": {"after_s": 20, "to": "a"},
        },
    )
    # When routed long after both hops / Then it stays in b
    req = request(ticket(), p, 3600)
    assert (req.queue, req.step) == ("b", "overflow:b")


PRIORITY = policy(
    {"name": "vip", "match": {"tier": "vip"}, "strategy": "round_robin", "priority_boost": 1},
    {
        "name": "std",
        "strategy": "round_robin",
        "priority_raise": [{"after_s": 60, "by": 1}, {"after_s": 120, "by": 2}],
    },
)


@pytest.mark.parametrize(
    ("fields", "elapsed_s", "override", "priority", "step", "wake_s"),
    [
        ({"tier": "vip", "priority": 3}, 0, None, 2, "initial", None),  # boost
        ({"tier": "vip", "priority": 1}, 0, None, 1, "initial", None),  # never past 1
        ({"tier": "vip", "priority": 5}, 0, 4, 3, "initial", None),  # override, then boost
        ({"priority": 4}, 0, None, 4, "initial", 60),
        ({"priority": 4}, 60, None, 3, "priority:+1", 120),  # first raise
        ({"priority": 4}, 120, None, 1, "priority:+3", None),  # both raises
        ({"priority": 2}, 120, None, 1, "priority:+3", None),  # clamped at 1
        ({"priority": 5}, 0, 2, 2, "initial", 60),  # supervisor raise
    ],
)
def test_priority_boost_and_raise_lower_the_priority_number(
    fields: dict[str, Any],
    elapsed_s: float,
    override: int | None,
    priority: int,
    step: str,
    wake_s: float | None,
) -> None:
    # Given a ticket (optionally with a supervisor's priority) in a boost or raise queue
    # When routed after `elapsed_s`
    req = request(ticket(**fields), PRIORITY, elapsed_s, priority=override)
    # Then the effective priority, step and next step time are as expected
    assert (req.priority, req.step) == (priority, step)
    assert req.wake_ms == (0 if wake_s is None else T0 + int(wake_s * S))


STICKY = policy(
    {
        "name": "sticky",
        "match": {"tier": "gold"},
        "strategy": "round_robin",
        "sticky": {"after_s": 60},
    },
    {"name": "plain", "strategy": "round_robin"},
)


@pytest.mark.parametrize(
    ("fields", "elapsed_s", "preferred", "step", "wake_s"),
    [
        ({"tier": "gold", "preferred_agent": "ann"}, 0, "ann", "sticky", 60),
        ({"tier": "gold", "preferred_agent": "ann"}, 59.999, "ann", "sticky", 60),
        ({"tier": "gold", "preferred_agent": "ann"}, 60, None, "initial", None),
        ({"tier": "gold"}, 0, None, "initial", None),  # nobody preferred
        ({"preferred_agent": "ann"}, 0, None, "initial", None),  # queue is not sticky
    ],
)
def test_sticky_window_holds_the_ticket_for_the_preferred_agent(
    fields: dict[str, Any],
    elapsed_s: float,
    preferred: str | None,
    step: str,
    wake_s: float | None,
) -> None:
    # Given a ticket that may prefer an agent / When routed after `elapsed_s`
    req = request(ticket(**fields), STICKY, elapsed_s)
    # Then the preferred agent applies only inside the sticky window
    assert (req.preferred_agent, req.step) == (preferred, step)
    assert req.wake_ms == (0 if wake_s is None else T0 + int(wake_s * S))


COMBINED = policy(
    {
        "name": "a",
        "strategy": "round_robin",
        "region_ladder": [{"after_s": 30, "widen": "any"}],
        "priority_raise": [{"after_s": 45}],
        "sticky": {"after_s": 10},
        "overflow": {"after_s": 90, "to": "b"},
    },
    {"name": "b", "match": {"queue": "b"}, "strategy": "round_robin"},
)


@pytest.mark.parametrize(
    ("elapsed_s", "wake_s"),
    [(0, 10), (10, 30), (30, 45), (45, 90), (90, None)],
)
def test_wake_time_is_the_next_step_of_any_feature(elapsed_s: float, wake_s: float | None) -> None:
    # Given sticky 10 s, ladder 30 s, raise 45 s and overflow 90 s
    t = ticket(region="eu", preferred_agent="ann")
    # When routed after `elapsed_s`
    req = request(t, COMBINED, elapsed_s)
    # Then the escalation timer is the earliest step still to come
    assert req.wake_ms == (0 if wake_s is None else T0 + int(wake_s * S))


def test_request_carries_channel_offer_and_exclusions() -> None:
    # Given an offer queue that counts load on the email channel
    p = policy(
        {
            "name": "q",
            "strategy": "longest_idle",
            "capacity_channel": "email",
            "offer": {"timeout_s": 15.5, "max_misses": 2},
        },
    )
    # When a chat ticket is routed with agents cooling off
    req = request(ticket(channel="chat"), p, cooloff=(("a1", T0 + 5), ("a2", T0 + 9)))
    # Then the request is on the capacity channel, with the offer and exclusions
    assert req.channel == "email"
    assert (req.offer_timeout_ms, req.offer_max_misses) == (15_500, 2)
    assert req.cooloff == (("a1", T0 + 5), ("a2", T0 + 9))
    assert req.reoffer_ms == 300_000  # the default reoffer_after_s
    assert (req.ticket_id, req.tenant, req.ticket_ts) == ("t1", "acme", T0)


def test_routing_is_a_pure_function_of_its_inputs() -> None:
    # Given one ticket, policy and time / When routed twice / Then the requests are equal
    t = ticket(region="eu-west", skills={"billing": 2})
    assert route(t, LADDER, T0 + 45 * S) == route(t, LADDER, T0 + 45 * S)


# (priority, ts offset s) pairs listed in expected service order.
NO_AGING_ORDER = [(1, 500), (1, 900), (2, 0), (2, 1), (3, -100), (5, 0)]
AGING_60_ORDER = [(3, 0), (1, 150), (2, 100), (1, 200), (5, 0)]


@pytest.mark.parametrize(
    ("aging_s", "order"),
    [(None, NO_AGING_ORDER), (60.0, AGING_60_ORDER)],
    ids=["strict priority then age", "aging 60 s per level"],
)
def test_waiting_score_orders_by_priority_then_age_or_by_aged_time(
    aging_s: float | None, order: list[tuple[int, int]]
) -> None:
    # Given tickets of several priorities and ages
    shuffled = list(reversed(order))
    # When sorted by waiting score
    ranked = sorted(shuffled, key=lambda pt: waiting_score(pt[0], T0 + pt[1] * S, aging_s))
    # Then they come out in the expected service order
    assert ranked == order


@pytest.mark.parametrize(
    ("priority", "age_s", "aging_s", "expected"),
    [
        (3, 0, None, 3 * PRIORITY_BAND_MS + T0),
        (1, 10, None, 1 * PRIORITY_BAND_MS + T0 + 10_000),
        (3, 0, 60.0, T0 + 180_000),
        (1, 10, 0.5, T0 + 10_000 + 500),
    ],
)
def test_waiting_score_formula(
    priority: int, age_s: int, aging_s: float | None, expected: int
) -> None:
    # Given a priority and a timestamp / When scored / Then the documented formula holds
    assert waiting_score(priority, T0 + age_s * S, aging_s) == float(expected)


def test_request_score_uses_effective_priority_and_policy_aging() -> None:
    # Given aging and a boost queue
    p = policy(
        {"name": "q", "strategy": "round_robin", "priority_boost": 2}, aging={"per_priority_s": 60}
    )
    # When a P4 ticket is routed / Then its score is that of a P2 ticket
    req = request(ticket(priority=4), p)
    assert req.score == waiting_score(2, T0, 60.0)


# ---- ladders across overflow ------------------------------------------------------------------

ACROSS = policy(
    {
        "name": "first",
        "strategy": "round_robin",
        "region_ladder": [{"after_s": 30, "widen": "neighbors"}, {"after_s": 60, "widen": "any"}],
        "overflow": {"after_s": 100, "to": "second"},
    },
    {
        "name": "second",
        "match": {"queue": "second"},
        "strategy": "round_robin",
        "region_ladder": [{"after_s": 200, "widen": "any"}],
        "overflow": {"after_s": 150, "to": "third"},
    },
    {"name": "third", "match": {"queue": "third"}, "strategy": "round_robin"},
    regions={"eu": {"neighbors": ["uk"]}, "uk": {"neighbors": ["eu"]}},
)


@pytest.mark.parametrize(
    ("case", "elapsed_s", "queue", "regions", "step", "wake_s"),
    [
        ("home region first", 0, "first", ("eu",), "initial", 30),
        ("neighbours", 30, "first", ("eu", "uk"), "region:neighbors", 60),
        ("any region", 60, "first", None, "region:neighbors,region:any", 100),
        (
            "still any after overflow into a queue with a slower ladder",
            100,
            "second",
            None,
            "overflow:second,region:neighbors,region:any",
            150,
        ),
        (
            "still any after overflow into a queue without a ladder",
            3600,
            "third",
            None,
            "overflow:second,overflow:third,region:neighbors,region:any",
            None,
        ),
    ],
)
def test_region_ladder_keeps_widening_across_overflow(
    case: str,
    elapsed_s: float,
    queue: str,
    regions: tuple[str, ...] | None,
    step: str,
    wake_s: float | None,
) -> None:
    # Given a ticket from eu whose first queue widens to any region before it overflows
    req = request(ticket(region="eu"), ACROSS, elapsed_s)
    # Then what the ladders reached is kept in every later queue
    assert (req.queue, req.regions, req.step) == (queue, regions, step), case
    assert req.wake_ms == (0 if wake_s is None else T0 + int(wake_s * S)), case


def test_overflow_before_a_ladder_step_counts_the_next_queue_ladder_from_creation() -> None:
    # Given first -> second at 100 s, second widening to any at 200 s (from the ticket's ts)
    p = policy(
        {"name": "first", "strategy": "round_robin", "overflow": {"after_s": 100, "to": "second"}},
        {
            "name": "second",
            "match": {"queue": "second"},
            "strategy": "round_robin",
            "region_ladder": [{"after_s": 200, "widen": "any"}],
        },
    )
    # When routed at 150 s and at 200 s / Then the second ladder runs on the ticket's age
    assert request(ticket(region="eu"), p, 150).regions == ("eu",)
    assert request(ticket(region="eu"), p, 150).wake_ms == T0 + 200 * S
    assert request(ticket(region="eu"), p, 200).regions is None


def test_callcenter_us_east_tech_ticket_stays_open_to_any_region_after_overflow() -> None:
    # Given the call-center example and a us-east technical chat
    from engine.policy_file import load_policy
    from tests.unit.core.policy_helpers import POLICIES_DIR

    p = load_policy(POLICIES_DIR / "callcenter.yaml")
    t = ticket(region="us-east", skills={"tech": 2})
    # When it is routed at 61 s (tech_support, ladder at any) and at 1,901 s (overflowed)
    early, late = request(t, p, 61), request(t, p, 1901)
    # Then it is open to any region both times
    assert (early.queue, early.regions) == ("tech_support", None)
    assert late.queue != "tech_support" and late.step.startswith("overflow:")
    assert late.regions is None


# ---- team ladder ----------------------------------------------------------------------------

TEAMS = policy(
    {
        "name": "billing",
        "match": {"tier": "billing"},
        "strategy": "round_robin",
        "teams": ["billing"],
        "team_ladder": [{"after_s": 60, "widen": "partners"}, {"after_s": 300, "widen": "any"}],
        "overflow": {"after_s": 120, "to": "backoffice"},
    },
    {
        "name": "backoffice",
        "match": {"queue": "backoffice"},
        "strategy": "round_robin",
        "teams": ["backoffice"],
        "team_ladder": [{"after_s": 90, "widen": "partners"}, {"after_s": 600, "widen": "any"}],
    },
    {"name": "general", "strategy": "round_robin"},
    teams={
        "billing": {"partners": ["support"]},
        "support": {"partners": []},
        "backoffice": {"partners": ["support", "billing"]},
    },
)


@pytest.mark.parametrize(
    ("case", "tier", "elapsed_s", "queue", "teams", "step", "wake_s"),
    [
        ("own team first", "billing", 0, "billing", ("billing",), "initial", 60),
        ("partners", "billing", 60, "billing", ("billing", "support"), "team:partners", 120),
        (
            "partners carried into the next queue's own teams",
            "billing",
            120,
            "backoffice",
            ("backoffice", "billing", "support"),
            "overflow:backoffice,team:partners",
            600,
        ),
        (
            "any from the next queue's ladder",
            "billing",
            600,
            "backoffice",
            None,
            "overflow:backoffice,team:partners,team:any",
            None,
        ),
        ("a queue without teams takes any team", "standard", 0, "general", None, "initial", None),
    ],
)
def test_team_ladder_widens_own_team_then_partners_then_any(
    case: str,
    tier: str,
    elapsed_s: float,
    queue: str,
    teams: tuple[str, ...] | None,
    step: str,
    wake_s: float | None,
) -> None:
    # Given queues served by teams, with partner teams and ladders measured from the ticket's ts
    req = request(ticket(tier=tier), TEAMS, elapsed_s)
    # Then the allowed teams, the step and the next wake follow both ladders across overflow
    assert (req.queue, req.teams, req.step) == (queue, teams, step), case
    assert req.wake_ms == (0 if wake_s is None else T0 + int(wake_s * S)), case


def test_request_carries_the_queue_fairness_limit_and_reoffer_time() -> None:
    # Given a queue with a fairness limit and an offer with its own cool-off
    p = policy(
        {
            "name": "q",
            "strategy": "round_robin",
            "fairness": {"max_new": 10, "window_s": 3600},
            "offer": {"timeout_s": 20, "reoffer_after_s": 120},
        },
    )
    # When routed / Then the request has both, in ms
    req = request(ticket(), p)
    assert (req.fair_max, req.fair_window_ms, req.reoffer_ms) == (10, 3_600_000, 120_000)
    # And a queue without them has no limit and the default cool-off
    plain = request(ticket(), policy({"name": "q", "strategy": "round_robin"}))
    assert (plain.fair_max, plain.fair_window_ms, plain.reoffer_ms) == (0, 0, 300_000)
