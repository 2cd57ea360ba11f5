"""engine.core.sla_policy: ``calendars:``, ``sla:`` and ``sla_rules:`` validated with paths;
rules choose a policy by priority x tier."""

from __future__ import annotations

from datetime import date
from textwrap import dedent
from typing import Any

import pytest
import yaml

from engine.core.calendar import ALWAYS, business_ms_between
from engine.core.sla_policy import (
    SlaRule,
    choose_sla,
    parse_sla_rules,
    parse_sla_section,
)
from engine.core.validate import Issues

pytestmark = pytest.mark.unit

# A valid document to which each case adds one mistake.
BASE = dedent(
    """\
    calendars:
      berlin:
        timezone: Europe/Berlin
        weekly: {mon: [["09:00", "17:00"]], fri: [["09:00", "13:00"]]}
        holidays: ["2026-12-25", 2026-12-26]
    sla:
      vip: {first_response_s: 7200, calendar: berlin, pause_on_customer: true}
      std: {first_response_s: 86400, resolution_s: 432000, warn_at: 0.5}
    sla_rules:
      - {match: {priority: [1, 2], tier: vip}, policy: vip}
      - {match: {tier: [gold, vip]}, policy: std}
      - {policy: std}
    """
)


def parse(text: str) -> tuple[Any, list[tuple[str, str]]]:
    doc = yaml.safe_load(text)
    iss = Issues()
    section = parse_sla_section(iss, doc.get("sla", {}), doc.get("calendars", {}))
    rules = parse_sla_rules(iss, doc.get("sla_rules", []), section.policies)
    return (section, rules), iss.errors


def edit(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new)


BERLIN_MON = 'mon: [["09:00", "17:00"]]'
# (case, document, [(path, message substring), ...] in reporting order)
CASES: list[tuple[str, str, list[tuple[str, str]]]] = [
    (
        "calendars not a mapping",
        "calendars: [berlin]\nsla: {}\n",
        [("calendars", "must be a mapping of name -> {timezone, weekly, holidays}")],
    ),
    (
        "calendar not a mapping",
        "calendars: {berlin: Europe/Berlin}\n",
        [("calendars.berlin", "must be a mapping {timezone, weekly, holidays}")],
    ),
    (
        "calendar unknown key",
        edit("timezone: Europe/Berlin", "timezone: Europe/Berlin\n    hours: 8"),
        [("calendars.berlin.hours", "unknown key (allowed: description, holidays, timezone")],
    ),
    (
        "unknown time zone",
        edit("Europe/Berlin", "Mars/Base"),
        [("calendars.berlin.timezone", "unknown time zone 'Mars/Base'")],
    ),
    (
        "time zone missing",
        edit("    timezone: Europe/Berlin\n", ""),
        [("calendars.berlin.timezone", "required, an IANA time zone name like 'Europe/Berlin'")],
    ),
    (
        "weekly missing",
        edit('    weekly: {mon: [["09:00", "17:00"]], fri: [["09:00", "13:00"]]}\n', ""),
        [("calendars.berlin.weekly", "required, a mapping of day (mon..sun)")],
    ),
    (
        "end equal to start (the issue's example)",
        edit(BERLIN_MON, 'mon: [["09:00", "09:00"]]'),
        [("calendars.berlin.weekly.mon[0]", "end must differ from start")],
    ),
    (
        "unquoted time read by YAML as a number",
        edit(BERLIN_MON, 'mon: [["09:00", 17:00]]'),
        [("calendars.berlin.weekly.mon[0]", "quote it: YAML reads an unquoted 17:00 as a number")],
    ),
    (
        "time out of range",
        edit(BERLIN_MON, 'mon: [["09:00", "17:60"]]'),
        [("calendars.berlin.weekly.mon[0]", "must be a time 'HH:MM' (00:00..24:00), got '17:60'")],
    ),
    (
        "interval not a pair",
        edit(BERLIN_MON, 'mon: ["09:00-17:00"]'),
        [("calendars.berlin.weekly.mon[0]", "must be a pair [start, end]")],
    ),
    (
        "day not a list",
        edit(BERLIN_MON, 'mon: ["09:00", "17:00"]'),
        [
            ("calendars.berlin.weekly.mon[0]", "must be a pair [start, end]"),
            ("calendars.berlin.weekly.mon[1]", "must be a pair [start, end]"),
        ],
    ),
    (
        "day a plain string",
        edit(BERLIN_MON, 'mon: "09:00-17:00"'),
        [("calendars.berlin.weekly.mon", "must be a list of [start, end] pairs")],
    ),
    (
        "unknown day",
        edit(BERLIN_MON, 'monday: [["09:00", "17:00"]]'),
        [("calendars.berlin.weekly.monday", "unknown day (one of mon, tue, wed")],
    ),
    (
        "overlapping intervals",
        edit(BERLIN_MON, 'mon: [["09:00", "17:00"], ["16:00", "18:00"]]'),
        [("calendars.berlin.weekly.mon[1]", "overlaps mon[0]")],
    ),
    (
        "overlap with an overnight interval",
        edit(BERLIN_MON, 'mon: [["22:00", "06:00"], ["05:00", "07:00"]]'),
        [("calendars.berlin.weekly.mon[1]", "overlaps mon[0]")],
    ),
    (
        "no business hours at all",
        edit('{mon: [["09:00", "17:00"]], fri: [["09:00", "13:00"]]}', "{mon: []}"),
        [("calendars.berlin.weekly", "no business hours")],
    ),
    (
        "holiday not a date",
        edit('"2026-12-25"', '"25.12.2026"'),
        [("calendars.berlin.holidays[0]", "must be a date 'YYYY-MM-DD', got '25.12.2026'")],
    ),
    (
        "holidays not a list",
        edit('holidays: ["2026-12-25", 2026-12-26]', "holidays: 2026-12-25"),
        [("calendars.berlin.holidays", "must be a list of dates")],
    ),
    ("sla not a mapping", "sla: [vip]\n", [("sla", "must be a mapping of name -> targets")]),
    ("sla policy not a mapping", "sla: {vip: 60}\n", [("sla.vip", "must be a mapping of targets")]),
    (
        "sla unknown key",
        edit("pause_on_customer: true}", "pause_on_customer: true, breach_s: 9}"),
        [("sla.vip.breach_s", "unknown key (allowed: calendar, description, escalate")],
    ),
    (
        "sla without targets",
        edit("first_response_s: 7200, calendar", "calendar"),
        [("sla.vip", "needs at least one of first_response_s, next_response_s, resolution_s")],
    ),
    (
        "sla target not positive",
        edit("first_response_s: 7200", "first_response_s: 0"),
        [
            ("sla.vip.first_response_s", "must be > 0, got 0"),
            ("sla.vip", "needs at least one of"),
        ],
    ),
    (
        "warn_at above 1",
        edit("warn_at: 0.5", "warn_at: 1.5"),
        [("sla.std.warn_at", "must be <= 1, got 1.5")],
    ),
    (
        "unknown calendar",
        edit("calendar: berlin", "calendar: paris"),
        [("sla.vip.calendar", "unknown calendar 'paris' (calendars: berlin)")],
    ),
    (
        "a broken calendar is not reported as unknown",
        edit("Europe/Berlin", "Mars/Base"),
        [("calendars.berlin.timezone", "unknown time zone 'Mars/Base'")],
    ),
    (
        "pause_on_customer not a boolean",
        edit("pause_on_customer: true", "pause_on_customer: 'yes'"),
        [("sla.vip.pause_on_customer", "must be true or false, got 'yes'")],
    ),
    (
        "rules not a list",
        BASE.split("sla_rules:")[0] + "sla_rules: {policy: std}\n",
        [("sla_rules", "must be a list of {match, policy}")],
    ),
    (
        "rule not a mapping",
        edit("  - {policy: std}", "  - std"),
        [("sla_rules[2]", "must be a mapping {match, policy}")],
    ),
    (
        "rule unknown key",
        edit("  - {policy: std}", "  - {policy: std, queue: billing}"),
        [("sla_rules[2].queue", "unknown key (allowed: description, match, policy)")],
    ),
    (
        "rule policy missing",
        edit("  - {policy: std}", "  - {match: {}}"),
        [("sla_rules[2].policy", "required, an SLA policy name")],
    ),
    (
        "rule policy unknown",
        edit("  - {policy: std}", "  - {policy: gold}"),
        [("sla_rules[2].policy", "unknown sla policy 'gold'")],
    ),
    (
        "rule match not a mapping",
        edit("{match: {tier: [gold, vip]}", "{match: vip"),
        [("sla_rules[1].match", "must be a mapping with priority and/or tier")],
    ),
    (
        "rule match on another field",
        edit("tier: [gold, vip]}", "channel: chat}"),
        [("sla_rules[1].match.channel", "unknown key (allowed: priority, tier)")],
    ),
    (
        "rule priority out of range",
        edit("priority: [1, 2]", "priority: [1, 7]"),
        [("sla_rules[0].match.priority[1]", "must be an integer 1..5, got 7")],
    ),
    (
        "rule priority not an integer",
        edit("priority: [1, 2]", "priority: high"),
        [("sla_rules[0].match.priority", "must be an integer 1..5, got 'high'")],
    ),
    (
        "rule priority list empty",
        edit("priority: [1, 2]", "priority: []"),
        [("sla_rules[0].match.priority", "an empty list matches nothing")],
    ),
    (
        "rule tier not a string",
        edit("tier: [gold, vip]", "tier: [gold, 3]"),
        [("sla_rules[1].match.tier[1]", "must be a tier name (1-64 chars")],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_mistake_is_reported_with_its_path(
    text: str, expected: list[tuple[str, str]]
) -> None:
    # Given a document with one mistake
    # When the SLA sections are parsed
    _, errors = parse(text)
    # Then exactly the expected (path, message) pairs are reported, in order
    assert [p for p, _ in errors] == [p for p, _ in expected], errors
    for (_, msg), (_, want) in zip(errors, expected, strict=True):
        assert want in msg, (msg, want)


def test_valid_document_builds_policies_calendars_and_rules() -> None:
    # Given the base document / When parsed
    (section, rules), errors = parse(BASE)
    # Then nothing is wrong and every part is built
    assert errors == []
    vip, std = section.policies["vip"], section.policies["std"]
    berlin = section.calendars["berlin"]
    assert (vip.calendar, vip.calendar_name, vip.pause_on_customer, vip.warn_at) == (
        berlin,
        "berlin",
        True,
        0.8,
    )
    assert (std.calendar, std.calendar_name, std.pause_on_customer, std.warn_at) == (
        ALWAYS,
        None,
        False,
        0.5,
    )
    assert set(berlin.holidays) == {date(2026, 12, 25), date(2026, 12, 26)}
    assert rules == (
        SlaRule("vip", frozenset({1, 2}), frozenset({"vip"})),
        SlaRule("std", None, frozenset({"gold", "vip"})),
        SlaRule("std", None, None),
    )
    # ... and the calendar counts Monday 09:00-17:00 Berlin time (2026-03-02 is a Monday)
    monday = 1_772_438_400_000  # 2026-03-02 08:00 UTC = 09:00 CET
    assert business_ms_between(berlin, monday - 3_600_000, monday + 86_400_000) == 8 * 3_600_000


RULES = (
    SlaRule("vip_p1", frozenset({1}), frozenset({"vip"})),
    SlaRule("vip", None, frozenset({"vip", "platinum"})),
    SlaRule("urgent", frozenset({1, 2}), None),
)


@pytest.mark.parametrize(
    ("priority", "tier", "queue_sla", "expected"),
    [
        (1, "vip", "basic", "vip_p1"),  # first match wins
        (2, "vip", "basic", "vip"),
        (5, "platinum", None, "vip"),
        (1, "standard", "basic", "urgent"),
        (2, "standard", None, "urgent"),
        (3, "standard", "basic", "basic"),  # no rule: the queue's sla
        (3, "standard", None, None),
    ],
)
def test_rules_choose_a_policy_by_priority_and_tier(
    priority: int, tier: str, queue_sla: str | None, expected: str | None
) -> None:
    # Given rules by priority x tier / When a ticket is matched / Then the right policy applies
    assert choose_sla(RULES, priority, tier, queue_sla) == expected


def test_no_rules_fall_back_to_the_queue() -> None:
    # Given no rules / When matching / Then the queue's sla is used
    assert choose_sla((), 1, "vip", "basic") == "basic"
