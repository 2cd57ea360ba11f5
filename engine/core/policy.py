"""Routing policy: a versioned document (loaded from YAML elsewhere) validated here.

``parse_policy`` takes plain data and returns a frozen :class:`Policy`, or raises
:class:`PolicyError` listing *every* problem with its path in the document,
e.g. ``queues[1].strategy: unknown strategy 'fastest'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.core import bounds
from engine.core.calendar import BusinessCalendar
from engine.core.handover import DEFAULT_ON_LOGOUT, parse_away, parse_on_logout
from engine.core.model import (
    DEFAULT_REOFFER_S,
    MAX_PRIORITY,
    MIN_PRIORITY,
    STRATEGIES,
    TICKET_FIELD_KINDS,
)
from engine.core.pull import PUSH, pull_settings
from engine.core.sla import SlaTargets
from engine.core.sla_policy import (
    SlaRule,
    check_escalation_queues,
    choose_sla,
    parse_sla_rules,
    parse_sla_section,
)
from engine.core.validate import (
    Issues,
    at_most,
    check_id,
    check_keys,
    check_name,
    check_tenant,
    duration,
    name_list,
    pos_int,
    skill_map,
)
from engine.errors import PolicyError

POLICY_VERSION = 1
WIDEN_ANY = "any"
REGION_WIDEN = ("neighbors", WIDEN_ANY)  # region_ladder modes, narrowest first
WIDEN_MODES = REGION_WIDEN
TEAM_WIDEN = ("partners", WIDEN_ANY)  # team_ladder modes, narrowest first


@dataclass(frozen=True, slots=True)
class LadderStep:
    after_s: float
    widen: str  # "neighbors" | "any"


@dataclass(frozen=True, slots=True)
class Overflow:
    after_s: float
    to: str


@dataclass(frozen=True, slots=True)
class Offer:
    timeout_s: float
    max_misses: int = 3
    reoffer_after_s: float = DEFAULT_REOFFER_S  # the agent's cool-off for the ticket


@dataclass(frozen=True, slots=True)
class Fairness:
    """At most ``max_new`` new tickets of the queue per agent in any ``window_s``."""

    max_new: int
    window_s: float


@dataclass(frozen=True, slots=True)
class PriorityRaise:
    after_s: float
    by: int = 1


@dataclass(frozen=True, slots=True)
class Queue:
    name: str
    strategy: str
    match: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    skills_any: tuple[str, ...] = ()
    skills: Mapping[str, int] = field(default_factory=dict)
    region_ladder: tuple[LadderStep, ...] = ()
    priority_boost: int = 0
    priority_raise: tuple[PriorityRaise, ...] = ()
    sla: str | None = None
    overflow: Overflow | None = None
    offer: Offer | None = None
    sticky_after_s: float | None = None
    capacity_channel: str | None = None
    teams: tuple[str, ...] = ()  # the teams that serve the queue; () = any team
    team_ladder: tuple[LadderStep, ...] = ()
    fairness: Fairness | None = None
    wrap_up_s: float = 0.0  # after a resolve, the agent wraps up this long before new work
    mode: str = PUSH  # pull: grab mode (engine.core.pull)
    claim_limit: int | None = None  # pull: open tickets of the queue an agent may hold
    push_after_s: float | None = None  # pull: pooled this long unclaimed -> routed by push
    # handover (engine.core.handover): a logout requeues the agent's open tickets of the queue
    # ("requeue") or keeps them ("keep"); after this long away they are re-routed (None: never)
    on_logout: str = DEFAULT_ON_LOGOUT
    handover_after_away_s: float | None = None


SlaPolicy = SlaTargets  # the old name: targets, warn_at, calendar, pause_on_customer


@dataclass(frozen=True, slots=True)
class Policy:
    version: int
    queues: tuple[Queue, ...]
    regions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sla: Mapping[str, SlaPolicy] = field(default_factory=dict)
    aging_per_priority_s: float | None = None
    calendars: Mapping[str, BusinessCalendar] = field(default_factory=dict)
    sla_rules: tuple[SlaRule, ...] = ()
    revision: str = ""  # the loaded file's content digest: decisions and /readyz name it
    teams: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # team -> partners
    # shifts.stop_before_end: channel -> seconds before the end of an agent's shift from which
    # it gets no new ticket of that channel
    shift_stop: Mapping[str, float] = field(default_factory=dict)

    def queue(self, name: str) -> Queue | None:
        for q in self.queues:
            if q.name == name:
                return q
        return None

    def sla_for(self, priority: int, tier: str, queue: str | None) -> SlaTargets | None:
        """The SLA policy of a ticket: the first ``sla_rules`` entry matching its priority and
        tier, else the ``sla`` of its queue; None when neither names one."""
        q = self.queue(queue) if queue else None
        name = choose_sla(self.sla_rules, priority, tier, q.sla if q else None)
        return self.sla.get(name) if name else None


_TOP_KEYS = (
    "version",
    "regions",
    "queues",
    "calendars",
    "sla",
    "sla_rules",
    "aging",
    "teams",
    "shifts",
)
_QUEUE_KEYS = (
    "name",
    "match",
    "strategy",
    "skills",
    "region_ladder",
    "priority_boost",
    "priority_raise",
    "sla",
    "overflow",
    "offer",
    "sticky",
    "capacity_channel",
    "description",
    "teams",
    "team_ladder",
    "fairness",
    "wrap_up_s",
    "mode",
    "claim_limit",
    "push_after_s",
    "on_logout",
    "handover_after_away_s",
)


def parse_policy(doc: Any) -> Policy:
    """Validate ``doc`` (decoded YAML/JSON) and build a :class:`Policy`."""
    iss = Issues()
    if not isinstance(doc, Mapping):
        raise PolicyError([("(root)", "policy must be a mapping")])
    check_keys(iss, "", doc, _TOP_KEYS)
    version = doc.get("version")
    if version != POLICY_VERSION:
        iss.add("version", f"unsupported policy version {version!r} (expected {POLICY_VERSION})")
    regions = _regions(iss, doc.get("regions", {}))
    teams = _teams(iss, doc.get("teams", {}))
    shift_stop = _shifts(iss, doc.get("shifts", {}))
    section = parse_sla_section(iss, doc.get("sla", {}), doc.get("calendars", {}))
    sla = section.policies
    sla_rules = parse_sla_rules(iss, doc.get("sla_rules", []), sla)
    aging = _aging(iss, doc.get("aging"))
    raw_queues = doc.get("queues")
    queues: list[Queue] = []
    if not isinstance(raw_queues, list) or not raw_queues:
        iss.add("queues", "must be a non-empty list")
    elif at_most(iss, "queues", raw_queues, bounds.POLICY_QUEUES_MAX, "queues"):
        indices: list[int] = []
        for i, rq in enumerate(raw_queues):
            q = _queue(iss, f"queues[{i}]", rq, sla)
            if q is not None:
                queues.append(q)
                indices.append(i)
        _cross_check(iss, indices, queues)
        check_escalation_queues(iss, sla, [q.name for q in queues])
    if iss.errors:
        raise PolicyError(iss.errors)
    return Policy(
        POLICY_VERSION,
        tuple(queues),
        regions,
        sla,
        aging,
        section.calendars,
        sla_rules,
        teams=teams,
        shift_stop=shift_stop,
    )


def _regions(iss: Issues, raw: Any) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    if not isinstance(raw, Mapping):
        iss.add("regions", "must be a mapping of region -> {neighbors: [...]}")
        return out
    for region, spec in raw.items():
        path = f"regions.{region}"
        check_name(iss, path, region, "a region name")
        if not isinstance(spec, Mapping):
            iss.add(path, "must be a mapping with 'neighbors'")
            continue
        check_keys(iss, path, spec, ("neighbors",))
        neighbors = spec.get("neighbors", [])
        out[str(region)] = tuple(
            name_list(iss, f"{path}.neighbors", neighbors, bounds.REGIONS_MAX, "region names")
        )
    for region, neighbors in out.items():
        for j, n in enumerate(neighbors):
            if n not in out:
                iss.add(f"regions.{region}.neighbors[{j}]", f"unknown region '{n}'")
    return out


def _teams(iss: Issues, raw: Any) -> dict[str, tuple[str, ...]]:
    """``{team: {partners: [team, ...]}}``: the teams a ``partners`` step of a team ladder adds."""
    out: dict[str, tuple[str, ...]] = {}
    if not isinstance(raw, Mapping):
        iss.add("teams", "must be a mapping of team -> {partners: [...]}")
        return out
    for team, spec in raw.items():
        path = f"teams.{team}"
        check_name(iss, path, team, "a team name")
        if not isinstance(spec, Mapping):
            iss.add(path, "must be a mapping with 'partners'")
            continue
        check_keys(iss, path, spec, ("partners", "description"))
        partners = spec.get("partners", [])
        out[str(team)] = tuple(
            name_list(iss, f"{path}.partners", partners, bounds.LIST_MAX, "team names")
        )
    for team, partners in out.items():
        for j, n in enumerate(partners):
            if n not in out:
                iss.add(f"teams.{team}.partners[{j}]", f"unknown team '{n}'")
    return out


def _shifts(iss: Issues, raw: Any) -> dict[str, float]:
    """``{stop_before_end: {channel: seconds}}``: how long before the end of an agent's shift
    it stops getting new tickets of a channel (long ones, like e-mail)."""
    out: dict[str, float] = {}
    if not isinstance(raw, Mapping):
        iss.add("shifts", "must be a mapping like {stop_before_end: {email: 1800}}")
        return out
    check_keys(iss, "shifts", raw, ("stop_before_end",))
    stops = raw.get("stop_before_end", {})
    if not isinstance(stops, Mapping):
        iss.add("shifts.stop_before_end", "must be a mapping of channel -> seconds")
        return out
    if not at_most(iss, "shifts.stop_before_end", stops, bounds.LIST_MAX, "channels"):
        return out
    for channel, seconds in stops.items():
        path = f"shifts.stop_before_end.{channel}"
        if check_name(iss, path, channel, "a channel name") is None:
            continue
        value = duration(iss, path, seconds, required=True)
        if value is not None:
            out[str(channel)] = value
    return out


def _aging(iss: Issues, raw: Any) -> float | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        iss.add("aging", "must be a mapping like {per_priority_s: 600}")
        return None
    check_keys(iss, "aging", raw, ("per_priority_s",))
    return duration(iss, "aging.per_priority_s", raw.get("per_priority_s"), exclusive=True)


def _queue(iss: Issues, path: str, raw: Any, sla: Mapping[str, SlaPolicy]) -> Queue | None:
    if not isinstance(raw, Mapping):
        iss.add(path, "must be a mapping")
        return None
    check_keys(iss, path, raw, _QUEUE_KEYS)
    qname = raw.get("name")
    if qname is None:
        iss.add(f"{path}.name", "required, a queue name")
    if qname is None or check_name(iss, f"{path}.name", qname, "a queue name") is None:
        qname = f"<queue {path}>"
    strategy = raw.get("strategy")
    if strategy not in STRATEGIES:
        msg = "required" if strategy is None else f"unknown strategy {strategy!r}"
        iss.add(f"{path}.strategy", f"{msg} (one of {', '.join(STRATEGIES)})")
    match, skills_any = _match(iss, f"{path}.match", raw.get("match", {}))
    boost = pos_int(iss, f"{path}.priority_boost", raw.get("priority_boost", 0), 0, 4)
    sla_name = raw.get("sla")
    if sla_name is not None and sla_name not in sla:
        iss.add(f"{path}.sla", f"unknown sla policy {sla_name!r}")
    cap_ch = raw.get("capacity_channel")
    if cap_ch is not None:
        cap_ch = check_name(iss, f"{path}.capacity_channel", cap_ch, "a channel name")
    q_teams = tuple(
        name_list(iss, f"{path}.teams", raw.get("teams", []), bounds.LIST_MAX, "team names")
    )
    team_ladder = _ladder(
        iss, f"{path}.team_ladder", raw.get("team_ladder", []), TEAM_WIDEN, "team"
    )
    if team_ladder and not q_teams:
        iss.add(f"{path}.team_ladder", "needs the queue's teams: a ladder widens from them")
    return Queue(
        name=qname,
        strategy=str(strategy),
        match=match,
        skills_any=skills_any,
        skills=skill_map(iss, f"{path}.skills", raw.get("skills", {})),
        region_ladder=_ladder(
            iss, f"{path}.region_ladder", raw.get("region_ladder", []), REGION_WIDEN, "region"
        ),
        priority_boost=boost or 0,
        priority_raise=_raises(iss, f"{path}.priority_raise", raw.get("priority_raise", [])),
        sla=sla_name if isinstance(sla_name, str) else None,
        overflow=_overflow(iss, f"{path}.overflow", raw.get("overflow")),
        offer=_offer(iss, f"{path}.offer", raw.get("offer")),
        sticky_after_s=_sticky(iss, f"{path}.sticky", raw.get("sticky")),
        capacity_channel=cap_ch,
        teams=q_teams,
        team_ladder=team_ladder,
        fairness=_fairness(iss, f"{path}.fairness", raw.get("fairness")),
        wrap_up_s=duration(iss, f"{path}.wrap_up_s", raw.get("wrap_up_s", 0)) or 0.0,
        **pull_settings(iss, path, raw),
        on_logout=parse_on_logout(iss, f"{path}.on_logout", raw.get("on_logout")),
        handover_after_away_s=parse_away(
            iss, f"{path}.handover_after_away_s", raw.get("handover_after_away_s")
        ),
    )


def _match(iss: Issues, path: str, raw: Any) -> tuple[dict[str, tuple[Any, ...]], tuple[str, ...]]:
    if not isinstance(raw, Mapping):
        iss.add(path, "must be a mapping of field -> value or [values]")
        return {}, ()
    out: dict[str, tuple[Any, ...]] = {}
    skills_any: tuple[str, ...] = ()
    for key, value in raw.items():
        p = f"{path}.{key}"
        if key == "skills_any":
            skills_any = tuple(name_list(iss, p, value, bounds.SKILLS_MAX, "skill names"))
            continue
        if check_name(iss, p, key, "a ticket field or attribute name") is None:
            continue
        if isinstance(value, Mapping):
            iss.add(p, "must be a value or a list of values")
            continue
        values = value if isinstance(value, list) else [value]
        if isinstance(value, list):
            if not value:
                iss.add(p, "an empty list matches nothing")
            if not at_most(iss, p, value, bounds.LIST_MAX, "values"):
                continue
        kind = TICKET_FIELD_KINDS.get(key, "attribute")
        for j, v in enumerate(values):
            _match_value(iss, f"{p}[{j}]" if isinstance(value, list) else p, kind, v)
        out[str(key)] = tuple(values)
    return out, skills_any


def _match_value(iss: Issues, path: str, kind: str, value: Any) -> None:
    """A value a ticket's field of ``kind`` can have (None: the field is absent), so that a
    queue cannot wait for tickets no producer may send."""
    if value is None:
        return
    if kind == "name":
        check_name(iss, path, value)
    elif kind == "id":
        check_id(iss, path, value)
    elif kind == "tenant":
        check_tenant(iss, path, value)
    elif kind == "priority":
        pos_int(iss, path, value, MIN_PRIORITY, MAX_PRIORITY)
    elif isinstance(value, list | Mapping) or bounds.free_form_problem(value) is not None:
        iss.add(
            path,
            f"must be a string of at most {bounds.TEXT_MAX_CHARS} chars, a finite"
            f" number or a boolean, got {value!r}"[:300],
        )


def _ladder(
    iss: Issues, path: str, raw: Any, modes: tuple[str, ...], what: str
) -> tuple[LadderStep, ...]:
    if not isinstance(raw, list):
        iss.add(path, "must be a list of {after_s, widen}")
        return ()
    if not at_most(iss, path, raw, bounds.LIST_MAX, "steps"):
        return ()
    steps: list[LadderStep] = []
    last = -1.0
    for i, step in enumerate(raw):
        p = f"{path}[{i}]"
        if not isinstance(step, Mapping):
            iss.add(p, "must be a mapping {after_s, widen}")
            continue
        check_keys(iss, p, step, ("after_s", "widen"))
        after = duration(iss, f"{p}.after_s", step.get("after_s"), required=True)
        widen = step.get("widen")
        if widen not in modes:
            iss.add(f"{p}.widen", f"unknown widen mode {widen!r} (one of {', '.join(modes)})")
        elif any(s.widen == WIDEN_ANY for s in steps):
            iss.add(f"{p}.widen", f"never applies: an earlier step already widens to any {what}")
        if after is not None:
            if after <= last:
                iss.add(f"{p}.after_s", "steps must be in increasing after_s order")
            last = after
            steps.append(LadderStep(after, str(widen)))
    return tuple(steps)


def _raises(iss: Issues, path: str, raw: Any) -> tuple[PriorityRaise, ...]:
    if not isinstance(raw, list):
        iss.add(path, "must be a list of {after_s, by}")
        return ()
    if not at_most(iss, path, raw, bounds.LIST_MAX, "steps"):
        return ()
    out: list[PriorityRaise] = []
    for i, step in enumerate(raw):
        p = f"{path}[{i}]"
        if not isinstance(step, Mapping):
            iss.add(p, "must be a mapping {after_s, by}")
            continue
        check_keys(iss, p, step, ("after_s", "by"))
        after = duration(iss, f"{p}.after_s", step.get("after_s"), required=True)
        by = pos_int(iss, f"{p}.by", step.get("by", 1), 1, 4)
        if after is not None and by is not None:
            out.append(PriorityRaise(after, by))
    return tuple(sorted(out, key=lambda r: r.after_s))


def _overflow(iss: Issues, path: str, raw: Any) -> Overflow | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        iss.add(path, "must be a mapping {after_s, to}")
        return None
    check_keys(iss, path, raw, ("after_s", "to"))
    after = duration(iss, f"{path}.after_s", raw.get("after_s"), required=True)
    to = raw.get("to")
    if not isinstance(to, str) or not to:
        iss.add(f"{path}.to", "required, the name of another queue")
        return None
    return Overflow(after or 0.0, to)


def _offer(iss: Issues, path: str, raw: Any) -> Offer | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        iss.add(path, "must be a mapping {timeout_s, max_misses, reoffer_after_s}")
        return None
    check_keys(iss, path, raw, ("timeout_s", "max_misses", "reoffer_after_s"))
    timeout = duration(
        iss, f"{path}.timeout_s", raw.get("timeout_s"), exclusive=True, required=True
    )
    misses = pos_int(iss, f"{path}.max_misses", raw.get("max_misses", 3), 1, 1000)
    reoffer = duration(
        iss,
        f"{path}.reoffer_after_s",
        raw.get("reoffer_after_s", DEFAULT_REOFFER_S),
        exclusive=True,
    )
    if timeout is None or misses is None or reoffer is None:
        return None
    return Offer(timeout, misses, reoffer)


def _fairness(iss: Issues, path: str, raw: Any) -> Fairness | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        iss.add(path, "must be a mapping {max_new, window_s}")
        return None
    check_keys(iss, path, raw, ("max_new", "window_s"))
    max_new = pos_int(iss, f"{path}.max_new", raw.get("max_new"), 1, bounds.COUNT_MAX)
    window = duration(iss, f"{path}.window_s", raw.get("window_s"), exclusive=True, required=True)
    if max_new is None or window is None:
        return None
    return Fairness(max_new, window)


def _sticky(iss: Issues, path: str, raw: Any) -> float | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        iss.add(path, "must be a mapping {after_s}")
        return None
    check_keys(iss, path, raw, ("after_s",))
    return duration(iss, f"{path}.after_s", raw.get("after_s"), required=True)


def _cross_check(iss: Issues, indices: list[int], queues: list[Queue]) -> None:
    """Checks across queues; ``indices`` are the queues' positions in the document."""
    names = [q.name for q in queues]
    seen: set[str] = set()
    for i, q in zip(indices, queues, strict=True):
        if q.name in seen:
            iss.add(f"queues[{i}].name", f"duplicate queue name {q.name!r}")
        seen.add(q.name)
        if q.overflow is not None:
            if q.overflow.to not in names:
                iss.add(f"queues[{i}].overflow.to", f"unknown queue {q.overflow.to!r}")
            elif q.overflow.to == q.name:
                iss.add(f"queues[{i}].overflow.to", "a queue cannot overflow into itself")
