"""engine.core.policy: every validation error with its path, all reported at once."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
import yaml

from engine.core.policy import Policy, PolicyError, parse_policy
from engine.policy_file import load_policy, parse_yaml_text

pytestmark = pytest.mark.unit

POLICIES_DIR = Path(__file__).resolve().parents[2] / "deploy" / "policies"

# A valid document to which each case adds one mistake.
HEAD = dedent(
    """\
    version: 1
    regions:
      eu: {neighbors: [us]}
      us: {neighbors: [eu]}
    sla:
      std: {first_response_s: 60}
    """
)
OK_QUEUE = "  - {name: ok, match: {}, strategy: round_robin}\n"


def doc(queues: str = OK_QUEUE, head: str = HEAD) -> Any:
    return yaml.safe_load(head + "queues:\n" + queues)


def q(body: str) -> str:
    """One queue item named ``a`` with round_robin plus ``body`` (flow-style keys)."""
    extra = f", {body}" if body else ""
    return f"  - {{name: a, strategy: round_robin{extra}}}\n"


def errors_of(document: Any) -> list[tuple[str, str]]:
    with pytest.raises(PolicyError) as info:
        parse_policy(document)
    return info.value.errors


def assert_errors(actual: list[tuple[str, str]], expected: list[tuple[str, str]]) -> None:
    assert len(actual) == len(expected), actual
    for (path, msg), (want_path, want_sub) in zip(actual, expected, strict=True):
        assert path == want_path, actual
        assert want_sub in msg, (path, msg)


# (case id, document, [(path, message substring), ...] in reporting order)
CASES: list[tuple[str, Any, list[tuple[str, str]]]] = [
    ("root not a mapping", ["queues"], [("(root)", "policy must be a mapping")]),
    ("root empty", None, [("(root)", "policy must be a mapping")]),
    (
        "unknown top-level key",
        doc(head=HEAD + "reporting: {}\n"),
        [("reporting", "unknown key (allowed: aging, calendars, queues, regions, sla, sla_rules")],
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
        [("regions.eu.neighbors", "must be a list of strings")],
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
        [("queues[0].priority", "unknown key (allowed: capacity_channel, description, match")],
    ),
    (
        "queue name missing",
        doc("  - {strategy: round_robin}\n"),
        [("queues[0].name", "required, a non-empty string")],
    ),
    (
        "queue name empty",
        doc("  - {name: '', strategy: round_robin}\n"),
        [("queues[0].name", "required, a non-empty string")],
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
        [("queues[0].match.skills_any", "must be a list of strings")],
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
        [("queues[0].capacity_channel", "must be a string")],
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
        [("queues[0].offer", "must be a mapping {timeout_s, max_misses}")],
    ),
    (
        "offer unknown key",
        doc(q("offer: {timeout_s: 15, retries: 2}")),
        [("queues[0].offer.retries", "unknown key (allowed: max_misses, timeout_s)")],
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


def test_issue_example_message_reads_as_documented() -> None:
    # Given the second queue names a strategy that does not exist
    document = doc(OK_QUEUE + "  - {name: fast, strategy: fastest}\n")
    # When it is parsed
    with pytest.raises(PolicyError) as info:
        parse_policy(document)
    # Then the error text starts with the issue's example line
    assert str(info.value).startswith("queues[1].strategy: unknown strategy 'fastest'")


def test_every_error_is_reported_at_once() -> None:
    # Given a document with mistakes in every section
    document = yaml.safe_load(
        dedent(
            """\
            version: 3
            extra: 1
            regions: {eu: {neighbors: [mars]}}
            sla: {std: {}}
            aging: {per_priority_s: -5}
            queues:
              - {name: a, strategy: fastest, skills: {x: 9}, sla: gold}
              - {name: a, strategy: round_robin, overflow: {after_s: 5, to: zz}}
            """
        )
    )
    # When it is parsed
    errors = errors_of(document)
    # Then every one of them is listed, none stops the others
    assert_errors(
        errors,
        [
            ("extra", "unknown key"),
            ("version", "unsupported policy version 3"),
            ("regions.eu.neighbors[0]", "unknown region 'mars'"),
            ("sla.std", "needs at least one of"),
            ("aging.per_priority_s", "must be > 0, got -5"),
            ("queues[0].strategy", "unknown strategy 'fastest'"),
            ("queues[0].sla", "unknown sla policy 'gold'"),
            ("queues[0].skills.x", "must be an integer 1..5, got 9"),
            ("queues[1].name", "duplicate queue name 'a'"),
            ("queues[1].overflow.to", "unknown queue 'zz'"),
        ],
    )


def test_cross_queue_error_path_counts_invalid_items() -> None:
    # Given a non-mapping first item and a second queue overflowing into nowhere
    document = doc("  - general\n" + q("overflow: {after_s: 60, to: nowhere}"))
    # When it is parsed
    errors = errors_of(document)
    # Then the overflow error names the second item
    assert_errors(
        errors,
        [("queues[0]", "must be a mapping"), ("queues[1].overflow.to", "unknown queue")],
    )


def test_ladder_widening_back_to_neighbors_after_any_is_rejected() -> None:
    # Given a ladder that widens to any region, then back to neighbours
    document = doc(
        q("region_ladder: [{after_s: 30, widen: any}, {after_s: 120, widen: neighbors}]")
    )
    # When it is parsed / Then the dead step is reported
    errors = errors_of(document)
    assert [p for p, _ in errors] == ["queues[0].region_ladder[1].widen"]


@pytest.mark.parametrize(
    ("text", "path_prefix", "message"),
    [
        ("version: 1\nqueues: [\n", "line ", "YAML syntax error"),
        ("version: 1\n  queues: x\n bad", "line ", "YAML syntax error"),
    ],
)
def test_yaml_syntax_error_names_line_and_column(text: str, path_prefix: str, message: str) -> None:
    # Given malformed YAML / When it is read
    with pytest.raises(PolicyError) as info:
        parse_yaml_text(text)
    # Then the single error names where the parser stopped
    [(path, msg)] = info.value.errors
    assert path.startswith(path_prefix) and ", column " in path
    assert message in msg


def test_unreadable_file_is_a_policy_error(tmp_path: Path) -> None:
    # Given a path that does not exist / When it is loaded
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path / "missing.yaml")
    # Then the error says the file cannot be read
    [(path, msg)] = info.value.errors
    assert path == "(file)" and "cannot read" in msg


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
