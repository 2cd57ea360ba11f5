"""engine.core.policy and the simulator's scenarios: the bounds of engine.core.bounds.

A policy cannot name a queue, skill, region, channel, calendar or SLA policy that no event
could carry, nor a recipient or duration the SLA tracker could not put into an event; every
problem names its path.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from engine.core import bounds as b
from engine.core.policy import parse_policy
from engine.sim import ScenarioError, parse_scenario
from engine.sim.presets import mmn_doc
from tests.unit.core.policy_helpers import errors_of

pytestmark = pytest.mark.unit


def policy(**top: Any) -> dict[str, Any]:
    """A valid policy with one queue ``a``, updated by ``top`` (queue keys go in ``queue``)."""
    queue = {"name": "a", "strategy": "round_robin", **top.pop("queue", {})}
    doc: dict[str, Any] = {
        "version": 1,
        "regions": {"eu": {"neighbors": ["us"]}, "us": {"neighbors": ["eu"]}},
        "sla": {"std": {"first_response_s": 60}},
        "queues": [queue],
    }
    doc.update(top)
    return doc


def sla(**spec: Any) -> dict[str, Any]:
    return {"std": {"first_response_s": 60, **spec}}


def escalate(**entry: Any) -> dict[str, Any]:
    return sla(escalate=[{"when": "breached", **entry}])


LONG_NAME = "n" * b.NAME_MAX_CHARS
TOO_LONG_NAME = "n" * (b.NAME_MAX_CHARS + 1)

# (case, accepted document, rejected document, path of the error, text in the message)
POLICY_CASES: list[tuple[str, Any, Any, str, str]] = [
    (
        "queue name",
        policy(queue={"name": LONG_NAME}),
        policy(queue={"name": "a b"}),
        "queues[0].name",
        "must be a queue name",
    ),
    (
        "queue name length",
        policy(queue={"name": "q.1_x-y"}),
        policy(queue={"name": TOO_LONG_NAME}),
        "queues[0].name",
        "1-64 chars",
    ),
    (
        "queue count",
        policy(queues=[{"name": f"q{i}", "strategy": "round_robin"} for i in range(256)]),
        policy(queues=[{"name": f"q{i}", "strategy": "round_robin"} for i in range(257)]),
        "queues",
        "at most 256 queues",
    ),
    (
        "skill name",
        policy(queue={"skills": {"billing-2": 5}}),
        policy(queue={"skills": {"bill:ing": 5}}),
        "queues[0].skills.bill:ing",
        "must be a skill name",
    ),
    (
        "skill count",
        policy(queue={"skills": {f"s{i}": 1 for i in range(64)}}),
        policy(queue={"skills": {f"s{i}": 1 for i in range(65)}}),
        "queues[0].skills",
        "at most 64 skills",
    ),
    (
        "skill level",
        policy(queue={"skills": {"de": 1}}),
        policy(queue={"skills": {"de": 1.0}}),
        "queues[0].skills.de",
        "must be an integer 1..5",
    ),
    (
        "capacity_channel",
        policy(queue={"capacity_channel": "email"}),
        policy(queue={"capacity_channel": "e:mail"}),
        "queues[0].capacity_channel",
        "must be a channel name",
    ),
    (
        "match key",
        policy(queue={"match": {"crm_case": "C-1"}}),
        policy(queue={"match": {"crm case": "C-1"}}),
        "queues[0].match.crm case",
        "must be a ticket field or attribute name",
    ),
    (
        "match channel value",
        policy(queue={"match": {"channel": "phone"}}),
        policy(queue={"match": {"channel": "phone line"}}),
        "queues[0].match.channel",
        "must be a name",
    ),
    (
        "match value in a list",
        policy(queue={"match": {"region": ["eu", "us"]}}),
        policy(queue={"match": {"region": ["eu", "us|eu"]}}),
        "queues[0].match.region[1]",
        "must be a name",
    ),
    (
        "match priority",
        policy(queue={"match": {"priority": [1, 5]}}),
        policy(queue={"match": {"priority": [1, 6]}}),
        "queues[0].match.priority[1]",
        "must be an integer 1..5",
    ),
    (
        "match customer id",
        policy(queue={"match": {"customer_id": "crm:C-1@acme"}}),
        policy(queue={"match": {"customer_id": "C 1"}}),
        "queues[0].match.customer_id",
        "must be an id",
    ),
    (
        "match tenant",
        policy(queue={"match": {"tenant": "acme_eu"}}),
        policy(queue={"match": {"tenant": "acme}:t"}}),
        "queues[0].match.tenant",
        "must be a tenant",
    ),
    (
        "match attribute value",
        policy(queue={"match": {"note": "x" * b.TEXT_MAX_CHARS}}),
        policy(queue={"match": {"note": "x" * (b.TEXT_MAX_CHARS + 1)}}),
        "queues[0].match.note",
        "at most 1000 chars",
    ),
    (
        "match attribute number",
        policy(queue={"match": {"score": 0.5}}),
        policy(queue={"match": {"score": float("nan")}}),
        "queues[0].match.score",
        "a finite number",
    ),
    (
        "match values",
        policy(queue={"match": {"tier": [f"t{i}" for i in range(64)]}}),
        policy(queue={"match": {"tier": [f"t{i}" for i in range(65)]}}),
        "queues[0].match.tier",
        "at most 64 values",
    ),
    (
        "skills_any",
        policy(queue={"match": {"skills_any": ["billing"]}}),
        policy(queue={"match": {"skills_any": ["bill ing"]}}),
        "queues[0].match.skills_any[0]",
        "must be a name",
    ),
    (
        "region name",
        policy(regions={"eu-west.1": {"neighbors": []}}),
        policy(regions={"eu west": {"neighbors": []}}),
        "regions.eu west",
        "must be a region name",
    ),
    (
        "neighbours",
        policy(regions={f"r{i}": {"neighbors": [f"r{j}" for j in range(32)]} for i in range(32)}),
        policy(regions={f"r{i}": {"neighbors": [f"r{j}" for j in range(33)]} for i in range(33)}),
        "regions.r0.neighbors",
        "at most 32 region names",
    ),
    (
        "duration",
        policy(queue={"sticky": {"after_s": b.DURATION_MAX_S}}),
        policy(queue={"sticky": {"after_s": b.DURATION_MAX_S + 1}}),
        "queues[0].sticky.after_s",
        "must be <= 315360000",
    ),
    (
        "infinite duration",
        policy(queue={"offer": {"timeout_s": 0.5}}),
        policy(queue={"offer": {"timeout_s": float("inf")}}),
        "queues[0].offer.timeout_s",
        "must be a finite number",
    ),
    (
        "NaN duration",
        policy(aging={"per_priority_s": 600}),
        policy(aging={"per_priority_s": float("nan")}),
        "aging.per_priority_s",
        "must be a finite number",
    ),
    (
        "ladder steps",
        policy(queue={"region_ladder": [{"after_s": i, "widen": "neighbors"} for i in range(64)]}),
        policy(queue={"region_ladder": [{"after_s": i, "widen": "neighbors"} for i in range(65)]}),
        "queues[0].region_ladder",
        "at most 64 steps",
    ),
    (
        "SLA policy name",
        policy(sla={"p1-vip": {"first_response_s": 60}}),
        policy(sla={"p1 vip": {"first_response_s": 60}}),
        "sla.p1 vip",
        "must be an SLA policy name",
    ),
    (
        "SLA target",
        policy(sla=sla(resolution_s=b.DURATION_MAX_S)),
        policy(sla=sla(resolution_s=1e12)),
        "sla.std.resolution_s",
        "must be <= 315360000",
    ),
    (
        "calendar name",
        policy(
            calendars={"office-de": {"timezone": "UTC", "weekly": {"mon": [["09:00", "17:00"]]}}}
        ),
        policy(
            calendars={"office:de": {"timezone": "UTC", "weekly": {"mon": [["09:00", "17:00"]]}}}
        ),
        "calendars.office:de",
        "must be a calendar name",
    ),
    (
        "recipient",
        policy(sla=escalate(notify=["team:vip-leads", "role:supervisor", "mail:ops@example.com"])),
        policy(sla=escalate(notify=["team:vip leads"])),
        "sla.std.escalate[0].notify[0]",
        "must be a recipient",
    ),
    (
        "recipients",
        policy(sla=escalate(notify=[f"team:t{i}" for i in range(b.NOTIFY_MAX)])),
        policy(sla=escalate(notify=[f"team:t{i}" for i in range(b.NOTIFY_MAX + 1)])),
        "sla.std.escalate[0].notify",
        "at most 32 recipients",
    ),
    (
        "move_queue",
        policy(sla=escalate(move_queue="a")),
        policy(sla=escalate(move_queue="a|b")),
        "sla.std.escalate[0].move_queue",
        "must be a queue name",
    ),
    (
        "SLA rule tier",
        policy(sla_rules=[{"match": {"tier": "vip"}, "policy": "std"}]),
        policy(sla_rules=[{"match": {"tier": "v}ip"}, "policy": "std"}]),
        "sla_rules[0].match.tier",
        "must be a tier name",
    ),
]


@pytest.mark.parametrize(
    ("ok", "bad", "path", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in POLICY_CASES],
)
def test_policy_bounds_accept_the_edge_and_name_the_path_beyond(
    ok: Any, bad: Any, path: str, message: str
) -> None:
    # Given a policy at the edge of a bound / Then it is valid
    parse_policy(ok)
    # Given the same policy just beyond / Then the error names the path and the rule
    errors = errors_of(bad)
    assert any(p == path and message in m for p, m in errors), errors


def test_policy_errors_are_all_reported_with_their_paths() -> None:
    # Given a policy with several names out of bounds
    doc = yaml.safe_load(
        """
        version: 1
        queues:
          - {name: ok, strategy: round_robin}
          - {name: ok, strategy: round_robin}
          - {name: "bad name", strategy: round_robin, skills: {"x y": 1}, capacity_channel: "a:b"}
        """
    )
    # When it is parsed / Then each problem is reported under its own path
    paths = {p for p, _m in errors_of(doc)}
    assert paths == {
        "queues[1].name",  # duplicate
        "queues[2].name",
        "queues[2].skills.x y",
        "queues[2].capacity_channel",
    }


# --- the simulator's scenarios ---------------------------------------------------------------


def scenario(**changes: Any) -> dict[str, Any]:
    doc = mmn_doc(3, 2.0, aht_s=60.0, duration_s=3600.0, warmup_s=60.0, seed=3)
    for dotted, value in changes.items():
        node: Any = doc
        keys: list[Any] = [int(k) if k.isdigit() else k for k in dotted.split("__")]
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return doc


# (case, accepted changes, rejected changes, path, text in the message)
SCENARIO_CASES: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    ("tenant", {"tenant": "t" * 64}, {"tenant": "acme}:x"}, "tenant", "must be a tenant"),
    (
        "ticket channel",
        {"arrivals__0__ticket__channel": "phone"},
        {"arrivals__0__ticket__channel": "pho ne"},
        "arrivals[0].ticket.channel",
        "must be a channel name",
    ),
    (
        "ticket customer id",
        {"arrivals__0__ticket__customer_id": "crm:C-1"},
        {"arrivals__0__ticket__customer_id": "C|1"},
        "arrivals[0].ticket.customer_id",
        "must be an id",
    ),
    (
        "ticket attributes",
        {"arrivals__0__ticket__attributes": {"a": {"b": [1]}}},
        {"arrivals__0__ticket__attributes": {"a": {"b": {"c": [1]}}}},
        "arrivals[0].ticket.attributes.a.b.c",
        "nested at most 2 deep",
    ),
    (
        "agent group name",
        {"agents__0__name": "g" * 64},
        {"agents__0__name": "a|b"},
        "agents[0].name",
        "must be a group name",
    ),
    (
        "agent capacity",
        {"agents__0__capacity": {"phone": b.CAPACITY_PER_CHANNEL_MAX}},
        {"agents__0__capacity": {"phone": b.CAPACITY_PER_CHANNEL_MAX + 1}},
        "agents[0].capacity.phone",
        "must be an integer 0..1000",
    ),
    (
        "agent capacity channels",
        {"agents__0__capacity": {"phone": 1, **{f"c{i}": 1 for i in range(15)}}},
        {"agents__0__capacity": {"phone": 1, **{f"c{i}": 1 for i in range(16)}}},
        "agents[0].capacity",
        "at most 16 channels",
    ),
    (
        "agent regions",
        {"agents__0__regions": [f"r{i}" for i in range(32)]},
        {"agents__0__regions": [f"r{i}" for i in range(33)]},
        "agents[0].regions",
        "at most 32 region names",
    ),
    (
        "agent team",
        {"agents__0__team": "team-1"},
        {"agents__0__team": "team 1"},
        "agents[0].team",
        "must be a team name",
    ),
]


@pytest.mark.parametrize(
    ("ok", "bad", "path", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in SCENARIO_CASES],
)
def test_scenario_bounds_are_the_event_bounds(
    ok: dict[str, Any], bad: dict[str, Any], path: str, message: str
) -> None:
    # Given a scenario at the edge of a bound / Then it is valid
    parse_scenario(scenario(**ok))
    # Given the same scenario just beyond / Then the error names the path and the rule
    with pytest.raises(ScenarioError) as info:
        parse_scenario(scenario(**bad))
    assert any(p == path and message in m for p, m in info.value.errors), info.value.errors
