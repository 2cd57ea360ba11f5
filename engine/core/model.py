"""Domain model: tickets, agents, routing requests and decisions.

Pure data. Times are epoch milliseconds (``*_ms``) or seconds (``*_s``) as named.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.core import bounds

# Agent statuses; only ``available`` agents are routed to.
AVAILABLE = "available"
BUSY = "busy"
AWAY = "away"
OFFLINE = "offline"
STATUSES = (AVAILABLE, BUSY, AWAY, OFFLINE)
STRATEGIES = (
    "round_robin",
    "least_loaded",
    "longest_idle",
    "skill_weighted",
    "performance_weighted",
)
MIN_PRIORITY = bounds.PRIORITY_MIN  # most urgent
MAX_PRIORITY = bounds.PRIORITY_MAX
DEFAULT_TIER = "standard"

# Decision kinds published on dispatch.assignments (``decision.<kind>``).
ASSIGNED = "assigned"
OFFERED = "offered"
QUEUED = "queued"
ESCALATED = "escalated"
REASSIGNED = "reassigned"
RELEASED = "released"
UNASSIGNABLE = "unassignable"
REJECTED = "rejected"
HANDED_OVER = "handed_over"  # an open ticket taken off an agent who logged out or stayed away
PAUSED = "paused"  # a queue paused (a queue decision: engine.core.handover.queue_decision)
RESUMED = "resumed"  # a queue resumed
DECISION_KINDS = (
    ASSIGNED,
    OFFERED,
    QUEUED,
    ESCALATED,
    REASSIGNED,
    RELEASED,
    UNASSIGNABLE,
    REJECTED,
    HANDED_OVER,
    PAUSED,
    RESUMED,
)
# Request.step before any escalation step applies.
INITIAL_STEP = "initial"
# How long an agent that rejected or missed a ticket's offer cools off for that ticket, unless
# the queue's offer says otherwise (policy ``offer.reoffer_after_s``).
DEFAULT_REOFFER_S = 300

# A ticket's cool-offs: ``((agent id, until ms), ...)`` sorted by agent id. An agent is cooling
# off for the ticket while ``now < until``; expired entries are ignored.
Cooloff = tuple[tuple[str, int], ...]


def cooling(cooloff: Cooloff, agent_id: str, now_ms: int) -> bool:
    """Whether ``agent_id`` is still cooling off for the ticket at ``now_ms``."""
    for aid, until in cooloff:
        if aid == agent_id:
            return now_ms < until
    return False


def cooloff_with(cooloff: Cooloff, agent_id: str, until_ms: int, now_ms: int) -> Cooloff:
    """``cooloff`` with ``agent_id`` cooling off until ``until_ms`` (the later of two ends) and
    the entries expired at ``now_ms`` dropped; sorted by agent id."""
    ends = {aid: until for aid, until in cooloff if until > now_ms}
    ends[agent_id] = max(until_ms, ends.get(agent_id, 0))
    return tuple(sorted((aid, until) for aid, until in ends.items() if until > now_ms))


def cooloff_merged(a: Cooloff, b: Cooloff) -> Cooloff:
    """Both lists in one: the later end of an agent in both; sorted by agent id."""
    ends = dict(a)
    for aid, until in b:
        ends[aid] = max(until, ends.get(aid, 0))
    return tuple(sorted(ends.items()))


def cooloff_wake(cooloff: Cooloff, now_ms: int) -> int:
    """The earliest end of a cool-off still running at ``now_ms``; 0 when none."""
    return min((until for _, until in cooloff if until > now_ms), default=0)


@dataclass(frozen=True, slots=True)
class Ticket:
    """A unit of work to route (a ``ticket.created`` event)."""

    id: str
    tenant: str
    ts: int
    channel: str
    priority: int
    tier: str = DEFAULT_TIER
    skills: Mapping[str, int] = field(default_factory=dict)
    language: str | None = None
    region: str | None = None
    customer_id: str | None = None
    queue: str | None = None
    preferred_agent: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_event(cls, ev: Mapping[str, Any]) -> Ticket:
        return cls(
            id=str(ev["id"]),
            tenant=str(ev.get("tenant", "default")),
            ts=int(ev["ts"]),
            channel=str(ev["channel"]),
            priority=int(ev["priority"]),
            tier=str(ev.get("tier") or DEFAULT_TIER),
            skills={str(k): int(v) for k, v in (ev.get("skills") or {}).items()},
            language=ev.get("language"),
            region=ev.get("region"),
            customer_id=ev.get("customer_id"),
            queue=ev.get("queue"),
            preferred_agent=ev.get("preferred_agent"),
            attributes=dict(ev.get("attributes") or {}),
        )

    def field_value(self, name: str) -> Any:
        """Value of a matchable field; unknown names fall back to ``attributes``."""
        if name in _TICKET_FIELDS:
            return getattr(self, name)
        return self.attributes.get(name)


# The ticket fields a policy may match on, and what their values are (bounds of each kind:
# engine.core.bounds); any other name matches an attribute.
TICKET_FIELD_KINDS: Mapping[str, str] = {
    "id": "id",
    "tenant": "tenant",
    "channel": "name",
    "priority": "priority",
    "tier": "name",
    "language": "name",
    "region": "name",
    "customer_id": "id",
    "queue": "name",
}
_TICKET_FIELDS = frozenset(TICKET_FIELD_KINDS)


@dataclass(frozen=True, slots=True)
class Agent:
    """An agent's routable state. ``load`` is derived by stores from open tickets."""

    id: str
    status: str = OFFLINE
    skills: Mapping[str, int] = field(default_factory=dict)
    regions: tuple[str, ...] = ()
    team: str = ""
    capacity: Mapping[str, int] = field(default_factory=dict)
    last_assigned_ms: int = 0
    performance: float = 0.5
    # Working hours: ``schedule`` names a calendar of the policy; the dispatcher computes the
    # current or next shift from it as [shift_start_ms, shift_end_ms) (0, 0: no schedule, always
    # on shift). Outside it the agent gets no new work.
    schedule: str = ""
    shift_start_ms: int = 0
    shift_end_ms: int = 0
    wrap_until_ms: int = 0  # after a resolved ticket: no new work before this (wrap-up)

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> Agent:
        return cls(
            id=str(m["id"]),
            status=str(m.get("status", AVAILABLE)),
            skills={str(k): int(v) for k, v in (m.get("skills") or {}).items()},
            regions=tuple(str(r) for r in (m.get("regions") or ())),
            team=str(m.get("team") or ""),
            capacity={str(k): int(v) for k, v in (m.get("capacity") or {}).items()},
            last_assigned_ms=int(m.get("last_assigned_ms") or 0),
            performance=float(m.get("performance", 0.5)),
            schedule=str(m.get("schedule") or ""),
            shift_start_ms=int(m.get("shift_start_ms") or 0),
            shift_end_ms=int(m.get("shift_end_ms") or 0),
            wrap_until_ms=int(m.get("wrap_until_ms") or 0),
        )

    def to_mapping(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "skills": dict(self.skills),
            "regions": list(self.regions),
            "team": self.team,
            "capacity": dict(self.capacity),
            "last_assigned_ms": self.last_assigned_ms,
            "performance": self.performance,
            "schedule": self.schedule,
            "shift_start_ms": self.shift_start_ms,
            "shift_end_ms": self.shift_end_ms,
            "wrap_until_ms": self.wrap_until_ms,
        }


@dataclass(frozen=True, slots=True)
class Request:
    """What the router asks a store to do for one ticket, at one escalation step.

    ``regions`` is ``None`` when any region is allowed, ``teams`` when any team is. ``score``
    orders the
    waiting queue (smaller is served first). ``cooloff`` lists agents that must not get the
    ticket before a time (they rejected or missed its offer: :data:`Cooloff`); a rejection or
    miss adds the agent until ``now + reoffer_ms``.
    """

    ticket_id: str
    tenant: str
    queue: str
    strategy: str
    channel: str
    priority: int
    ticket_ts: int
    score: float
    skills: Mapping[str, int] = field(default_factory=dict)
    regions: tuple[str, ...] | None = None
    preferred_agent: str | None = None
    cooloff: Cooloff = ()
    step: str = INITIAL_STEP
    offer_timeout_ms: int = 0
    offer_max_misses: int = 0
    wake_ms: int = 0  # when the route changes next (escalation timer); 0 = never
    teams: tuple[str, ...] | None = None  # the agent's team must be one of them
    reoffer_ms: int = DEFAULT_REOFFER_S * 1000  # the cool-off after a rejected or missed offer
    fair_max: int = 0  # at most this many new tickets of the queue per agent in the window
    fair_window_ms: int = 0  # (0: no limit)
    shift_stop_ms: int = 0  # no new ticket of this channel this close to the end of a shift
    wrap_up_ms: int = 0  # after the ticket is resolved, its agent wraps up this long
    pull: bool = False  # grab mode: waits in its queue's pool for a claim (engine.core.pull)
    claim_limit: int = 0  # claims: open tickets of the queue an agent may hold (0: no limit)
    policy: str = ""  # the revision of the policy that computed it (Policy.revision)


@dataclass(frozen=True, slots=True)
class Decision:
    """One outcome published on ``dispatch.assignments`` (keyed by ticket id)."""

    kind: str
    ticket_id: str
    tenant: str
    ts: int
    queue: str
    agent: str | None = None
    strategy: str = ""
    channel: str = ""
    priority: int = 0
    ticket_ts: int = 0
    candidates: int = 0
    filtered: Mapping[str, int] = field(default_factory=dict)
    step: str = ""
    supervisor: str | None = None
    forced: bool = False
    reason: str = ""
    duplicate: bool = False
    seq: int = 0  # the ticket's version after this decision (stores count per ticket)
    load: int = 0  # assigned/offered: the agent's open tickets on the channel, this included
    capacity: int = 0  # assigned/offered: the agent's capacity on the channel
    why: str = ""  # the reason given with the command that caused it (with ``supervisor``)
    policy: str = ""  # the revision of the policy that made it (Policy.revision; "" unknown)
    # The strategy's pick (assigned/offered/reassigned by the store): (score,) or (score,
    # runner-up agent, its score); scores are strategies.pick_score (higher is better)
    explain: tuple[Any, ...] = ()

    def to_event(self) -> dict[str, Any]:
        ev: dict[str, Any] = {
            "v": 1,
            "type": f"decision.{self.kind}",
            "id": self.ticket_id,
            "tenant": self.tenant,
            "ts": self.ts,
            "queue": self.queue,
            "agent": self.agent,
            "strategy": self.strategy,
            "channel": self.channel,
            "priority": self.priority,
            "ticket_ts": self.ticket_ts,
            "candidates": self.candidates,
            "filtered": dict(self.filtered),
            "step": self.step,
            "supervisor": self.supervisor,
            "forced": self.forced,
            "seq": self.seq,
        }
        if self.agent is not None and self.kind in (ASSIGNED, OFFERED, REASSIGNED):
            ev["load"] = self.load
            ev["capacity"] = self.capacity
        if self.duplicate:
            ev["duplicate"] = True
        if self.reason:
            ev["reason"] = self.reason
        if self.why:
            ev["why"] = self.why
        if self.policy:
            ev["policy"] = self.policy
        if self.explain:
            ev["explain"] = explain_map(self.explain)
        return ev

    @classmethod
    def from_event(cls, ev: Mapping[str, Any]) -> Decision:
        kind = str(ev["type"]).removeprefix("decision.")
        return cls(
            kind=kind,
            ticket_id=str(ev["id"]),
            tenant=str(ev.get("tenant", "default")),
            ts=int(ev["ts"]),
            queue=str(ev.get("queue", "")),
            agent=ev.get("agent"),
            strategy=str(ev.get("strategy", "")),
            channel=str(ev.get("channel", "")),
            priority=int(ev.get("priority", 0)),
            ticket_ts=int(ev.get("ticket_ts", 0)),
            candidates=int(ev.get("candidates", 0)),
            filtered=dict(ev.get("filtered") or {}),
            step=str(ev.get("step", "")),
            supervisor=ev.get("supervisor"),
            forced=bool(ev.get("forced", False)),
            reason=str(ev.get("reason", "")),
            duplicate=bool(ev.get("duplicate", False)),
            seq=int(ev.get("seq", 0)),
            load=int(ev.get("load", 0)),
            capacity=int(ev.get("capacity", 0)),
            why=str(ev.get("why", "")),
            policy=str(ev.get("policy", "")),
            explain=explain_tuple(ev.get("explain")),
        )


def explain_map(explain: Sequence[Any]) -> dict[str, Any]:
    """A decision's ``explain`` as its event map: score, and runner_up and runner_up_score when
    there was a runner-up."""
    out: dict[str, Any] = {"score": explain[0]}
    if len(explain) >= 3:
        out["runner_up"] = explain[1]
        out["runner_up_score"] = explain[2]
    return out


def explain_tuple(ev: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """An event's ``explain`` map back as Decision.explain (unknown keys are ignored)."""
    if not ev or "score" not in ev:
        return ()
    if "runner_up" in ev:
        return (float(ev["score"]), str(ev["runner_up"]), float(ev["runner_up_score"]))
    return (float(ev["score"]),)
