"""engine.core.policy and engine.policy_file: how errors are reported (all at once, YAML, files)."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest
import yaml

from engine.core.policy import parse_policy
from engine.errors import PolicyError
from engine.policy_file import load_policy, parse_yaml_text
from tests.unit.core.policy_helpers import OK_QUEUE, assert_errors, doc, errors_of, q

pytestmark = pytest.mark.unit


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
