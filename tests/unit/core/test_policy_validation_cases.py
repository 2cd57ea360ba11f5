"""engine.core.policy: every validation error with its path, case by case."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.unit.core.policy_helpers import HEAD, OK_QUEUE, assert_errors, doc, errors_of, q

pytestmark = pytest.mark.unit

# (case id, document, [(path, message substring), ...] in reporting order)
CASES: list[tuple[str, Any, list[tuple[str, str]]]] = [
    ("root not a mapping", ["queues"], [("(root)", "policy must be a mapping")]),
    ("root empty", None, [("(root)", "policy must be a mapping")]),
    (
        "unknown top-level key",
        doc(head=HEAD + "reporting: {}\n"),
        [("reporting", "unknown key (allowed: aging, calendars, queues, regions, shifts, sla")],
    ),
    (
        "version missing",
        doc(head=HEAD.replace("version: 1\n", "")),
        [("version", "unsupported policy version None (expected 1)")],
    ),
    (
        "version unsupported",
        doc(head=HEAD.replace("version: 1", "version: 2")),
        [("version", "unsupported policy version 2 (expected 1)")],
    ),
    (
        "regions not a mapping",
        doc(head="version: 1\nregions: [eu]\n"),
        [("regions", "must be a mapping of region -> {neighbors: [...]}")],
    ),
    (
        "region spec not a mapping",
        doc(head="version: 1\nregions: {eu: [us]}\n"),
        [("regions.eu", "must be a mapping with 'neighbors'")],
    ),
    (
        "region unknown key",
        doc(head="version: 1\nregions: {eu: {neighbours: []}}\n"),
        [("regions.eu.neighbours", "unknown key (allowed: neighbors)")],
    ),
    (
        "neighbors not a list of strings",
        doc(head="version: 1\nregions: {eu: {neighbors: us}}\n"),
        [("regions.eu.neighbors", "must be a list of region names")],
    ),
    (
        "unknown neighbour region",
        doc(head="version: 1\nregions: {eu: {neighbors: [us, mars]}, us: {neighbors: []}}\n"),
        [("regions.eu.neighbors[1]", "unknown region 'mars'")],
    ),
    (
        "sla not a mapping",
        doc(head="version: 1\nsla: [std]\n"),
        [("sla", "must be a mapping of name -> targets")],
    ),
    (
        "sla policy not a mapping",
        doc(head="version: 1\nsla: {std: 60}\n"),
        [("sla.std", "must be a mapping of targets")],
    ),
    (
        "sla unknown key",
        doc(head="version: 1\nsla: {std: {first_response_s: 60, breach_s: 90}}\n"),
        [("sla.std.breach_s", "unknown key (allowed: calendar, description, escalate")],
    ),
    (
        "sla target not a number",
        doc(head="version: 1\nsla: {std: {first_response_s: fast}}\n"),
        [
            ("sla.std.first_response_s", "must be a number, got 'fast'"),
            ("sla.std", "needs at least one of first_response_s, next_response_s, resolution_s"),
        ],
    ),
    (
        "sla target a boolean",
        doc(head="version: 1\nsla: {std: {first_response_s: 60, resolution_s: true}}\n"),
        [("sla.std.resolution_s", "must be a number, got True")],
    ),
    (
        "sla target zero",
        doc(head="version: 1\nsla: {std: {first_response_s: 60, resolution_s: 0}}\n"),
        [("sla.std.resolution_s", "must be > 0, got 0")],
    ),
    (
        "sla without targets",
        doc(head="version: 1\nsla: {std: {warn_at: 0.5}}\n"),
        [("sla.std", "needs at least one of first_response_s, next_response_s, resolution_s")],
    ),
    (
        "sla warn_at above 1",
        doc(head="version: 1\nsla: {std: {first_response_s: 60, warn_at: 1.5}}\n"),
        [("sla.std.warn_at", "must be <= 1, got 1.5")],
    ),
    (
        "sla warn_at negative",
        doc(head="version: 1\nsla: {std: {first_response_s: 60, warn_at: -0.1}}\n"),
        [("sla.std.warn_at", "must be >= 0, got -0.1")],
    ),
    (
        "aging not a mapping",
        doc(head="version: 1\naging: 600\n"),
        [("aging", "must be a mapping like {per_priority_s: 600}")],
    ),
    (
        "aging unknown key",
        doc(head="version: 1\naging: {per_priority_s: 600, max_s: 10}\n"),
        [("aging.max_s", "unknown key (allowed: per_priority_s)")],
    ),
    (
        "aging not positive",
        doc(head="version: 1\naging: {per_priority_s: 0}\n"),
        [("aging.per_priority_s", "must be > 0, got 0")],
    ),
    ("queues missing", yaml.safe_load(HEAD), [("queues", "must be a non-empty list")]),
    ("queues empty", doc(queues="  []\n"), [("queues", "must be a non-empty list")]),
    ("queues not a list", doc(queues="  {a: 1}\n"), [("queues", "must be a non-empty list")]),
    ("queue not a mapping", doc(queues="  - general\n"), [("queues[0]", "must be a mapping")]),
    (
        "queue unknown key",
        doc(q("priority: 2")),
        [("queues[0].priority", "allowed: capacity_channel, claim_limit, description, fairness")],
    ),
    (
        "queue name missing",
        doc("  - {strategy: round_robin}\n"),
        [("queues[0].name", "required, a queue name")],
    ),
    (
        "queue name empty",
        doc("  - {name: '', strategy: round_robin}\n"),
        [("queues[0].name", "must be a queue name (1-64 chars of letters, digits and . _ -")],
    ),
    (
        "strategy missing",
        doc("  - {name: a}\n"),
        [("queues[0].strategy", "required (one of round_robin, least_loaded, longest_idle")],
    ),
    (
        "unknown strategy (the issue's example)",
        doc(OK_QUEUE + "  - {name: fast, strategy: fastest}\n"),
        [("queues[1].strategy", "unknown strategy 'fastest'")],
    ),
    (
        "match not a mapping",
        doc(q("match: [chat]")),
        [("queues[0].match", "must be a mapping of field -> value or [values]")],
    ),
    (
        "match skills_any not a list of strings",
        doc(q("match: {skills_any: billing}")),
        [("queues[0].match.skills_any", "must be a list of skill names")],
    ),
    (
        "match empty list",
        doc(q("match: {channel: []}")),
        [("queues[0].match.channel", "an empty list matches nothing")],
    ),
    (
        "match value a mapping",
        doc(q("match: {channel: {in: [chat]}}")),
        [("queues[0].match.channel", "must be a value or a list of values")],
    ),
    (
        "skills not a mapping",
        doc(q("skills: [billing]")),
        [("queues[0].skills", "must be a mapping of skill -> level 1..5")],
    ),
    (
        "skill level too high",
        doc(q("skills: {billing: 7}")),
        [("queues[0].skills.billing", "must be an integer 1..5, got 7")],
    ),
    (
        "skill level zero",
        doc(q("skills: {billing: 0}")),
        [("queues[0].skills.billing", "must be an integer 1..5, got 0")],
    ),
    (
        "skill level not an integer",
        doc(q("skills: {billing: 2.5}")),
        [("queues[0].skills.billing", "must be an integer 1..5, got 2.5")],
    ),
    (
        "skill level a boolean",
        doc(q("skills: {billing: true}")),
        [("queues[0].skills.billing", "must be an integer 1..5, got True")],
    ),
    (
        "priority_boost out of range",
        doc(q("priority_boost: 5")),
        [("queues[0].priority_boost", "must be an integer 0..4, got 5")],
    ),
    (
        "sla unknown",
        doc(q("sla: gold")),
        [("queues[0].sla", "unknown sla policy 'gold'")],
    ),
    (
        "capacity_channel not a string",
        doc(q("capacity_channel: 3")),
        [("queues[0].capacity_channel", "must be a channel name (1-64 chars")],
    ),
    (
        "region_ladder not a list",
        doc(q("region_ladder: {after_s: 30, widen: any}")),
        [("queues[0].region_ladder", "must be a list of {after_s, widen}")],
    ),
    (
        "ladder step not a mapping",
        doc(q("region_ladder: [30]")),
        [("queues[0].region_ladder[0]", "must be a mapping {after_s, widen}")],
    ),
    (
        "ladder step unknown key",
        doc(q("region_ladder: [{after_s: 30, widen: any, to: us}]")),
        [("queues[0].region_ladder[0].to", "unknown key (allowed: after_s, widen)")],
    ),
    (
        "ladder step without after_s",
        doc(q("region_ladder: [{widen: any}]")),
        [("queues[0].region_ladder[0].after_s", "required, a number")],
    ),
    (
        "ladder step negative after_s",
        doc(q("region_ladder: [{after_s: -1, widen: any}]")),
        [("queues[0].region_ladder[0].after_s", "must be >= 0, got -1")],
    ),
    (
        "ladder unknown widen mode",
        doc(q("region_ladder: [{after_s: 30, widen: all}]")),
        [("queues[0].region_ladder[0].widen", "unknown widen mode 'all' (one of neighbors, any)")],
    ),
    (
        "ladder out of order",
        doc(q("region_ladder: [{after_s: 120, widen: neighbors}, {after_s: 30, widen: any}]")),
        [("queues[0].region_ladder[1].after_s", "steps must be in increasing after_s order")],
    ),
    (
        "ladder repeated step time",
        doc(q("region_ladder: [{after_s: 30, widen: neighbors}, {after_s: 30, widen: any}]")),
        [("queues[0].region_ladder[1].after_s", "steps must be in increasing after_s order")],
    ),
    (
        "priority_raise not a list",
        doc(q("priority_raise: {after_s: 60}")),
        [("queues[0].priority_raise", "must be a list of {after_s, by}")],
    ),
    (
        "priority_raise step not a mapping",
        doc(q("priority_raise: [60]")),
        [("queues[0].priority_raise[0]", "must be a mapping {after_s, by}")],
    ),
    (
        "priority_raise unknown key",
        doc(q("priority_raise: [{after_s: 60, to: 1}]")),
        [("queues[0].priority_raise[0].to", "unknown key (allowed: after_s, by)")],
    ),
    (
        "priority_raise without after_s",
        doc(q("priority_raise: [{by: 1}]")),
        [("queues[0].priority_raise[0].after_s", "required, a number")],
    ),
    (
        "priority_raise by out of range",
        doc(q("priority_raise: [{after_s: 60, by: 0}]")),
        [("queues[0].priority_raise[0].by", "must be an integer 1..4, got 0")],
    ),
    (
        "overflow not a mapping",
        doc(q("overflow: general")),
        [("queues[0].overflow", "must be a mapping {after_s, to}")],
    ),
    (
        "overflow unknown key",
        doc(OK_QUEUE + q("overflow: {after_s: 60, to: ok, when: busy}")),
        [("queues[1].overflow.when", "unknown key (allowed: after_s, to)")],
    ),
    (
        "overflow without after_s",
        doc(OK_QUEUE + q("overflow: {to: ok}")),
        [("queues[1].overflow.after_s", "required, a number")],
    ),
    (
        "overflow without target",
        doc(q("overflow: {after_s: 60}")),
        [("queues[0].overflow.to", "required, the name of another queue")],
    ),
    (
        "overflow to an unknown queue",
        doc(q("overflow: {after_s: 60, to: nowhere}")),
        [("queues[0].overflow.to", "unknown queue 'nowhere'")],
    ),
    (
        "overflow into itself",
        doc(q("overflow: {after_s: 60, to: a}")),
        [("queues[0].overflow.to", "a queue cannot overflow into itself")],
    ),
    (
        "offer not a mapping",
        doc(q("offer: 15")),
        [("queues[0].offer", "must be a mapping {timeout_s, max_misses, reoffer_after_s}")],
    ),
    (
        "offer unknown key",
        doc(q("offer: {timeout_s: 15, retries: 2}")),
        [("queues[0].offer.retries", "allowed: max_misses, reoffer_after_s, timeout_s")],
    ),
    (
        "offer without timeout",
        doc(q("offer: {max_misses: 2}")),
        [("queues[0].offer.timeout_s", "required, a number")],
    ),
    (
        "offer timeout zero",
        doc(q("offer: {timeout_s: 0}")),
        [("queues[0].offer.timeout_s", "must be > 0, got 0")],
    ),
    (
        "offer max_misses zero",
        doc(q("offer: {timeout_s: 15, max_misses: 0}")),
        [("queues[0].offer.max_misses", "must be an integer 1..1000, got 0")],
    ),
    (
        "sticky not a mapping",
        doc(q("sticky: true")),
        [("queues[0].sticky", "must be a mapping {after_s}")],
    ),
    (
        "sticky unknown key",
        doc(q("sticky: {after_s: 30, agent: a1}")),
        [("queues[0].sticky.agent", "unknown key (allowed: after_s)")],
    ),
    (
        "sticky without after_s",
        doc(q("sticky: {}")),
        [("queues[0].sticky.after_s", "required, a number")],
    ),
    (
        "teams not a mapping",
        doc(head=HEAD + "teams: [billing]\n"),
        [("teams", "must be a mapping of team -> {partners: [...]}")],
    ),
    (
        "team spec not a mapping",
        doc(head=HEAD + "teams: {billing: [support]}\n"),
        [("teams.billing", "must be a mapping with 'partners'")],
    ),
    (
        "team partner not declared",
        doc(head=HEAD + "teams: {billing: {partners: [support]}}\n"),
        [("teams.billing.partners[0]", "unknown team 'support'")],
    ),
    (
        "team name not a name",
        doc(head=HEAD + "teams: {'bill ing': {}}\n"),
        [("teams.bill ing", "must be a team name")],
    ),
    (
        "queue teams not a list",
        doc(q("teams: billing")),
        [("queues[0].teams", "must be a list of team names")],
    ),
    (
        "team ladder without teams",
        doc(q("team_ladder: [{after_s: 30, widen: any}]")),
        [("queues[0].team_ladder", "needs the queue's teams")],
    ),
    (
        "team ladder unknown mode",
        doc(q("teams: [b], team_ladder: [{after_s: 30, widen: neighbors}]")),
        [("queues[0].team_ladder[0].widen", "'neighbors' (one of partners, any)")],
    ),
    (
        "team ladder step after any",
        doc(q("teams: [b],team_ladder: [{after_s: 1, widen: any}, {after_s: 2, widen: partners}]")),
        [("queues[0].team_ladder[1].widen", "an earlier step already widens to any team")],
    ),
    (
        "reoffer_after_s zero",
        doc(q("offer: {timeout_s: 10, reoffer_after_s: 0}")),
        [("queues[0].offer.reoffer_after_s", "must be")],
    ),
    (
        "fairness not a mapping",
        doc(q("fairness: 10")),
        [("queues[0].fairness", "must be a mapping {max_new, window_s}")],
    ),
    (
        "fairness without window",
        doc(q("fairness: {max_new: 10}")),
        [("queues[0].fairness.window_s", "required")],
    ),
    (
        "fairness limit zero",
        doc(q("fairness: {max_new: 0, window_s: 60}")),
        [("queues[0].fairness.max_new", "must be an integer")],
    ),
    (
        "fairness unknown key",
        doc(q("fairness: {max_new: 1, window_s: 60, per: agent}")),
        [("queues[0].fairness.per", "unknown key (allowed: max_new, window_s)")],
    ),
    (
        "shifts not a mapping",
        doc(head=HEAD + "shifts: [email]\n"),
        [("shifts", "must be a mapping like {stop_before_end: {email: 1800}}")],
    ),
    (
        "shifts unknown key",
        doc(head=HEAD + "shifts: {start: 1}\n"),
        [("shifts.start", "unknown key (allowed: stop_before_end)")],
    ),
    (
        "stop_before_end not a mapping",
        doc(head=HEAD + "shifts: {stop_before_end: 1800}\n"),
        [("shifts.stop_before_end", "must be a mapping of channel -> seconds")],
    ),
    (
        "stop_before_end negative",
        doc(head=HEAD + "shifts: {stop_before_end: {email: -1}}\n"),
        [("shifts.stop_before_end.email", "must be")],
    ),
    (
        "stop_before_end channel not a name",
        doc(head=HEAD + "shifts: {stop_before_end: {'e mail': 60}}\n"),
        [("shifts.stop_before_end.e mail", "must be a channel name")],
    ),
    (
        "wrap_up_s not a number",
        doc(q("wrap_up_s: soon")),
        [("queues[0].wrap_up_s", "must be a number")],
    ),
    (
        "duplicate queue name",
        doc(q("") + q("")),
        [("queues[1].name", "duplicate queue name 'a'")],
    ),
]


@pytest.mark.parametrize(
    ("document", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_invalid_policy_reports_path_and_message(
    document: Any, expected: list[tuple[str, str]]
) -> None:
    # Given a policy document with one mistake
    # When it is parsed
    errors = errors_of(document)
    # Then exactly the expected (path, message) errors are reported
    assert_errors(errors, expected)
