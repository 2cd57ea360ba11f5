"""Agent groups of a scenario (definition and validation) and the per-agent facts the
simulator looks up while it runs (speed, skills, capacity units, best skill sums)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.core import bounds
from engine.core.validate import (
    Issues,
    at_most,
    check_keys,
    check_name,
    name_list,
    num,
    pos_int,
    skill_map,
)

_GROUP_KEYS = (
    "name",
    "count",
    "skills",
    "regions",
    "team",
    "capacity",
    "performance",
    "handle_time_factor",
    "shift",
)


@dataclass(frozen=True, slots=True)
class Shift:
    """Logged in over ``[start_s, end_s)``, repeated every ``repeat_s`` seconds if set."""

    start_s: float
    end_s: float
    repeat_s: float | None = None


@dataclass(frozen=True, slots=True)
class AgentGroup:
    """``count`` identical agents; ids are ``<name>-0001`` ..."""

    name: str
    count: int
    skills: Mapping[str, int]
    regions: tuple[str, ...]
    capacity: Mapping[str, int]
    team: str = ""
    performance: float = 0.5
    handle_time_factor: float = 1.0
    shift: Shift | None = None

    def agent_ids(self) -> list[str]:
        width = max(4, len(str(self.count)))
        return [f"{self.name}-{k:0{width}d}" for k in range(1, self.count + 1)]


class Roster:
    """Per-agent facts of a scenario, by agent id."""

    def __init__(self, groups: tuple[AgentGroup, ...]) -> None:
        self.group: dict[str, AgentGroup] = {}
        self.skills: dict[str, Mapping[str, int]] = {}
        for g in groups:
            for aid in g.agent_ids():
                self.group[aid] = g
                self.skills[aid] = g.skills
        self._best: dict[tuple[tuple[str, int], ...], int] = {}

    def factor(self, agent: str) -> float:
        """Multiplier of the handle times ``agent`` serves."""
        return self.group[agent].handle_time_factor

    def units(self, agent: str) -> int:
        """Capacity units: the sum of the agent's per-channel capacities."""
        return sum(self.group[agent].capacity.values())

    def is_best_skilled(self, agent: str, skills: Mapping[str, int]) -> bool:
        """Whether ``agent``'s skill-level sum over ``skills`` is the highest among the
        agents that meet every required level."""
        mine = sum(self.skills[agent].get(s, 0) for s in skills)
        key = tuple(skills.items())
        best = self._best.get(key)
        if best is None:
            sums = [
                sum(have.get(s, 0) for s in skills)
                for have in self.skills.values()
                if all(have.get(s, 0) >= lvl for s, lvl in skills.items())
            ]
            best = self._best[key] = max(sums, default=0)
        return mine >= best


def parse_agents(iss: Issues, raw: Any) -> list[AgentGroup]:
    """Validate the scenario's ``agents`` list (errors under ``agents[i]``)."""
    out: list[AgentGroup] = []
    if not isinstance(raw, list) or not raw:
        iss.add("agents", "must be a non-empty list of agent groups {count, skills, capacity}")
        return out
    names: set[str] = set()
    for i, spec in enumerate(raw):
        path = f"agents[{i}]"
        if not isinstance(spec, Mapping):
            iss.add(path, "must be a mapping {count, skills, capacity, ...}")
            continue
        n = len(iss.errors)
        check_keys(iss, path, spec, _GROUP_KEYS)
        # Agent ids are "<name>-<n>": a name keeps them within the agent id bounds.
        name = spec.get("name", f"g{i}")
        if check_name(iss, f"{path}.name", name, "a group name") is not None and name in names:
            iss.add(f"{path}.name", f"must be unique, got {name!r} twice")
        names.add(str(name))
        count = pos_int(iss, f"{path}.count", spec.get("count"), 1, 100_000)
        skills = skill_map(iss, f"{path}.skills", spec.get("skills", {}))
        regions = name_list(
            iss, f"{path}.regions", spec.get("regions", []), bounds.REGIONS_MAX, "region names"
        )
        capacity = _capacity(iss, f"{path}.capacity", spec.get("capacity"))
        team = spec.get("team", "")
        if team != "":
            check_name(iss, f"{path}.team", team, "a team name")
        perf = num(iss, f"{path}.performance", spec.get("performance", 0.5), minimum=0, maximum=1)
        factor = num(
            iss,
            f"{path}.handle_time_factor",
            spec.get("handle_time_factor", 1.0),
            minimum=0,
            exclusive=True,
        )
        shift = _shift(iss, f"{path}.shift", spec.get("shift"))
        if len(iss.errors) == n and count is not None:
            out.append(
                AgentGroup(
                    str(name),
                    count,
                    skills,
                    tuple(regions),
                    capacity,
                    str(team),
                    0.5 if perf is None else perf,
                    factor or 1.0,
                    shift,
                )
            )
    return out


def _capacity(iss: Issues, path: str, raw: Any) -> dict[str, int]:
    if not isinstance(raw, Mapping) or not raw:
        iss.add(path, "required, a mapping of channel -> concurrent tickets, e.g. {phone: 1}")
        return {}
    if not at_most(iss, path, raw, bounds.CAPACITY_CHANNELS_MAX, "channels"):
        return {}
    out: dict[str, int] = {}
    for ch, n in raw.items():
        key = check_name(iss, f"{path}.{ch}", ch, "a channel name")
        lo, hi = bounds.CAPACITY_PER_CHANNEL_MIN, bounds.CAPACITY_PER_CHANNEL_MAX
        v = pos_int(iss, f"{path}.{ch}", n, lo, hi)
        if key is not None and v is not None:
            out[key] = v
    if out and not any(out.values()):
        iss.add(path, "at least one channel needs capacity > 0")
    return out


def _shift(iss: Issues, path: str, raw: Any) -> Shift | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        iss.add(path, "must be a mapping {start_s, end_s, repeat_s?}")
        return None
    check_keys(iss, path, raw, ("start_s", "end_s", "repeat_s"))
    start = num(iss, f"{path}.start_s", raw.get("start_s"), minimum=0, required=True)
    end = num(iss, f"{path}.end_s", raw.get("end_s"), minimum=0, required=True)
    repeat = num(iss, f"{path}.repeat_s", raw.get("repeat_s"), minimum=0, exclusive=True)
    if start is None or end is None:
        return None
    if end <= start:
        iss.add(f"{path}.end_s", f"must be > start_s ({start:g}), got {end:g}")
        return None
    if repeat is not None and repeat < end - start:
        iss.add(f"{path}.repeat_s", f"must be >= the shift length ({end - start:g}s)")
        return None
    return Shift(start, end, repeat)
