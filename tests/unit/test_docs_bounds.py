"""docs/events.md and docs/policy.md state the bounds of engine.core.bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import schemagen
from engine.core import bounds as b

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_events_doc_table_is_the_generated_one() -> None:
    # Given docs/events.md / Then its bounds table is exactly what bounds.py generates
    text = (DOCS / "events.md").read_text("utf-8")
    assert schemagen.docs_with_table(text) == text
    assert schemagen.bounds_table() in text


@pytest.mark.parametrize(
    "value",
    [
        b.TENANT_PATTERN,
        b.ID_PATTERN,
        b.EVENT_ID_PATTERN,
        b.NAME_PATTERN,
        b.RECIPIENT_PATTERN,
        f"at most {b.TEXT_MAX_CHARS}",
        f"0 … {b.EPOCH_MS_MAX}",
        f"{b.PRIORITY_MIN} … {b.PRIORITY_MAX}",
        f"{b.SKILL_LEVEL_MIN} … {b.SKILL_LEVEL_MAX}",
        f"{b.CAPACITY_PER_CHANNEL_MIN} … {b.CAPACITY_PER_CHANNEL_MAX}",
        f"{b.RATING_MIN} … {b.RATING_MAX}",
        f"0 … {b.SEQ_MAX}",
        f"0 … {b.COUNT_MAX}",
        f"at most {b.SKILLS_MAX} entries",
        f"at most {b.REGIONS_MAX} items",
        f"at most {b.CAPACITY_CHANNELS_MAX} entries",
        f"1-{b.NOTIFY_MAX} items",
        f"at most {b.FILTERED_REASONS_MAX} entries",
        f"at most {b.ATTRIBUTES_MAX} keys",
        f"at most {b.DURATION_MAX_S} s",
        f"at most {b.POLICY_QUEUES_MAX} |",
    ],
)
def test_the_events_doc_states_each_bound(value: str) -> None:
    # Given a bound of bounds.py / Then docs/events.md states it
    assert value in (DOCS / "events.md").read_text("utf-8")


@pytest.mark.parametrize(
    "value",
    [
        f"1-{b.NAME_MAX_CHARS} letters, digits, `.`, `_` or `-`",
        f"ids of 1-{b.ID_MAX_CHARS}",
        f"1-{b.TENANT_MAX_CHARS} letters, digits, `_` or `-`",
        f"a string of at most {b.TEXT_MAX_CHARS} chars",
        f"1-{b.RECIPIENT_MAX_CHARS} letters",
        f"at most {b.NOTIFY_MAX} per escalation",
        f"most {b.DURATION_MAX_S} s",
        f"at most {b.POLICY_QUEUES_MAX} queues, {b.SKILLS_MAX} skills per queue,"
        f" {b.REGIONS_MAX} neighbours",
        f"{b.LIST_MAX} items in any other",
    ],
)
def test_the_policy_doc_states_the_policy_bounds(value: str) -> None:
    # Given a bound the policy validator applies / Then docs/policy.md states it
    text = " ".join((DOCS / "policy.md").read_text("utf-8").split())
    assert value in text
