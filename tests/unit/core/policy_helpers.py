"""Shared by the test_policy_validation_*.py files: documents with one mistake, and error checks."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
import yaml

from engine.core.policy import parse_policy
from engine.errors import PolicyError

POLICIES_DIR = Path(__file__).resolve().parents[3] / "deploy" / "policies"

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
