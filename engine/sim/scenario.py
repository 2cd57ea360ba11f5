"""Simulation scenarios: load (YAML or a dict) and validate, reporting every error with its path.

A scenario describes a call center to simulate through the real routing core. Times are
seconds of simulated time from the start of the run (``t = 0``)::

    seed: 7                        # random.Random seed: same seed, same result
    duration_s: 360000             # arrivals stop here; the run then drains open work
    warmup_s: 3600                 # tickets arriving before this are not counted
    service_level_target_s: 20     # "answered within T" for service_level
    batches: 20                    # batch-means batches for confidence intervals
    policy: {...}                  # inline routing policy, or a path to a policy YAML file
    handle_time_s: {dist: exponential, mean: 180}
    abandon_after_s: null          # or a distribution of customer patience
    arrivals:                      # Poisson streams, one per ticket class
      - {rate_per_s: 0.0444, ticket: {channel: phone, priority: 3, skills: {general: 1}}}
    agents:                        # groups of identical agents
      - {count: 10, skills: {general: 1}, regions: [eu], capacity: {phone: 1}}

An arrival class may override ``handle_time_s`` and ``abandon_after_s``. An agent group may
set ``name`` (agent ids are ``<name>-<n>``), ``team``, ``performance`` (0..1, used by
``performance_weighted``), ``handle_time_factor`` (multiplies the handle times it serves)
and ``shift: {start_s, end_s, repeat_s?}`` (logged in from ``start_s`` to ``end_s``, again
every ``repeat_s`` when given).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import yaml

from engine.core.model import MAX_PRIORITY, MIN_PRIORITY, STRATEGIES, TICKET_FIELD_KINDS, Ticket
from engine.core.policy import Policy, parse_policy
from engine.core.routing import match_queue
from engine.core.validate import (
    Issues,
    check_id,
    check_keys,
    check_name,
    check_tenant,
    free_form,
    join,
    num,
    pos_int,
    skill_map,
)
from engine.errors import EngineError, PolicyError
from engine.sim.dists import Dist, parse_dist
from engine.sim.roster import AgentGroup, parse_agents

_TOP_KEYS = (
    "name",
    "description",
    "seed",
    "tenant",
    "duration_s",
    "warmup_s",
    "service_level_target_s",
    "batches",
    "policy",
    "handle_time_s",
    "abandon_after_s",
    "arrivals",
    "agents",
)
_ARRIVAL_KEYS = ("name", "rate_per_s", "ticket", "handle_time_s", "abandon_after_s")
_TICKET_KEYS = (
    "channel",
    "priority",
    "tier",
    "skills",
    "language",
    "region",
    "queue",
    "customer_id",
    "preferred_agent",
    "attributes",
)
_UNSET: Any = object()


class ScenarioError(EngineError, ValueError):
    """A scenario is invalid; ``errors`` holds ``(path, message)`` pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("\n".join(f"{p}: {m}" for p, m in errors))


@dataclass(frozen=True, slots=True)
class ArrivalClass:
    """A Poisson stream of identical tickets: ``rate_per_s`` arrivals per simulated second."""

    name: str
    rate_per_s: float
    ticket: Mapping[str, Any]  # ticket.created fields except id, tenant and ts
    handle: Dist
    patience: Dist | None


@dataclass(frozen=True, slots=True)
class Scenario:
    """A validated scenario (see the module docstring for the meaning of each field)."""

    seed: int
    duration_s: float
    warmup_s: float
    service_level_target_s: float
    policy: Policy
    arrivals: tuple[ArrivalClass, ...]
    agents: tuple[AgentGroup, ...]
    batches: int = 20
    tenant: str = "sim"
    name: str = ""

    def with_strategy(self, strategy: str) -> Scenario:
        """The same scenario with every queue of the policy using ``strategy``."""
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}")
        queues = tuple(replace(q, strategy=strategy) for q in self.policy.queues)
        return replace(self, policy=replace(self.policy, queues=queues))

    def with_seed(self, seed: int) -> Scenario:
        return replace(self, seed=seed)


def load_scenario(path: str) -> Scenario:
    """Read a YAML scenario file; a ``policy`` path is relative to the file's folder."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise ScenarioError([("(root)", f"cannot read scenario {path!r}: {e}")]) from e
    return parse_scenario(doc, base_dir=os.path.dirname(os.path.abspath(path)))


def parse_scenario(doc: Any, base_dir: str | None = None) -> Scenario:
    """Validate decoded YAML/JSON and build a :class:`Scenario`, or raise :class:`ScenarioError`."""
    if not isinstance(doc, Mapping):
        raise ScenarioError([("(root)", "scenario must be a mapping")])
    iss = Issues()
    check_keys(iss, "", doc, _TOP_KEYS)
    seed = doc.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        iss.add("seed", f"must be an integer, got {seed!r}")
        seed = 0
    duration = num(
        iss, "duration_s", doc.get("duration_s"), minimum=0, exclusive=True, required=True
    )
    warmup = num(iss, "warmup_s", doc.get("warmup_s", 0), minimum=0) or 0.0
    if duration is not None and warmup >= duration:
        iss.add("warmup_s", f"must be < duration_s ({duration:g}), got {warmup:g}")
    target = num(iss, "service_level_target_s", doc.get("service_level_target_s", 20), minimum=0)
    batches = pos_int(iss, "batches", doc.get("batches", 20), 2, 1000) or 20
    tenant = check_tenant(iss, "tenant", doc.get("tenant", "sim")) or "sim"
    policy = _policy(iss, doc.get("policy"), base_dir)
    handle = _UNSET
    if "handle_time_s" in doc:
        handle = parse_dist(iss, "handle_time_s", doc["handle_time_s"])
    patience = _patience(iss, "abandon_after_s", doc.get("abandon_after_s"))
    arrivals = _arrivals(iss, doc.get("arrivals"), handle, patience, policy)
    agents = parse_agents(iss, doc.get("agents"))
    if iss.errors or policy is None or duration is None:
        raise ScenarioError(iss.errors)
    name = doc.get("name")
    return Scenario(
        seed=seed,
        duration_s=duration,
        warmup_s=warmup,
        service_level_target_s=20.0 if target is None else target,
        policy=policy,
        arrivals=tuple(arrivals),
        agents=tuple(agents),
        batches=batches,
        tenant=tenant,
        name=name if isinstance(name, str) else "",
    )


def _policy(iss: Issues, raw: Any, base_dir: str | None) -> Policy | None:
    if raw is None:
        iss.add("policy", "required, an inline policy mapping or a path to a policy file")
        return None
    if isinstance(raw, str):
        path = raw if os.path.isabs(raw) or base_dir is None else os.path.join(base_dir, raw)
        try:
            with open(path, encoding="utf-8") as f:
                raw = yaml.safe_load(f)
        except (OSError, yaml.YAMLError) as e:
            iss.add("policy", f"cannot read policy file {path!r}: {e}")
            return None
    try:
        return parse_policy(raw)
    except PolicyError as e:
        for p, msg in e.errors:
            iss.add("policy" if p == "(root)" else join("policy", p), msg)
        return None


def _patience(iss: Issues, path: str, raw: Any) -> Dist | None:
    return None if raw is None else parse_dist(iss, path, raw)


def _arrivals(
    iss: Issues, raw: Any, handle: Any, patience: Dist | None, policy: Policy | None
) -> list[ArrivalClass]:
    out: list[ArrivalClass] = []
    if not isinstance(raw, list) or not raw:
        iss.add("arrivals", "must be a non-empty list of {rate_per_s, ticket}")
        return out
    names: set[str] = set()
    for i, spec in enumerate(raw):
        path = f"arrivals[{i}]"
        if not isinstance(spec, Mapping):
            iss.add(path, "must be a mapping {rate_per_s, ticket}")
            continue
        check_keys(iss, path, spec, _ARRIVAL_KEYS)
        rate = num(iss, f"{path}.rate_per_s", spec.get("rate_per_s"), minimum=0, exclusive=True)
        if "rate_per_s" not in spec:
            iss.add(f"{path}.rate_per_s", "required, a number > 0")
        ticket = _ticket(iss, f"{path}.ticket", spec.get("ticket"))
        h = handle
        if "handle_time_s" in spec:
            h = parse_dist(iss, f"{path}.handle_time_s", spec["handle_time_s"])
        elif handle is _UNSET:
            iss.add(f"{path}.handle_time_s", "required here or at the top level")
            h = None
        pat = patience
        if "abandon_after_s" in spec:
            pat = _patience(iss, f"{path}.abandon_after_s", spec["abandon_after_s"])
        name = spec.get("name", f"class{i}")
        if not isinstance(name, str) or not name or name in names:
            iss.add(f"{path}.name", f"must be a unique non-empty string, got {name!r}")
        names.add(str(name))
        if ticket is not None and policy is not None:
            probe = Ticket.from_event({"id": "probe", "ts": 0, **ticket})
            if match_queue(probe, policy) is None:
                iss.add(f"{path}.ticket", "no queue of the policy matches this ticket")
        if rate is not None and ticket is not None and isinstance(h, Dist):
            out.append(ArrivalClass(str(name), rate, ticket, h, pat))
    return out


def _ticket(iss: Issues, path: str, raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping):
        iss.add(path, "required, a mapping of ticket fields {channel, priority, ...}")
        return None
    n = len(iss.errors)
    check_keys(iss, path, raw, _TICKET_KEYS)
    out: dict[str, Any] = {}
    channel = raw.get("channel")
    if channel is None:
        iss.add(f"{path}.channel", "required, a channel name")
    else:
        check_name(iss, f"{path}.channel", channel, "a channel name")
    out["channel"] = channel
    out["priority"] = pos_int(
        iss, f"{path}.priority", raw.get("priority"), MIN_PRIORITY, MAX_PRIORITY
    )
    out["skills"] = skill_map(iss, f"{path}.skills", raw.get("skills", {}))
    # The same bounds as the ticket.created schema (engine.core.bounds).
    for key in ("tier", "language", "region", "queue", "customer_id", "preferred_agent"):
        value = raw.get(key)
        if value is None:
            continue
        kind = TICKET_FIELD_KINDS.get(key, "id")  # preferred_agent: an agent id
        check = check_name if kind == "name" else check_id
        if check(iss, f"{path}.{key}", value) is not None:
            out[key] = value
    out["attributes"] = free_form(iss, f"{path}.attributes", raw.get("attributes", {}))
    return None if len(iss.errors) > n else out
