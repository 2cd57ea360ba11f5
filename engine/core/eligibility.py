"""Which agents may take a request, and why the others may not.

Reason codes (the first failing one is what decisions count in ``filtered``), in rule order:
:data:`REASON_ORDER`. The Redis scripts mirror the rules in this order exactly; they get the
codes generated from here (``engine.adapters.redis.layout``), so no code is spelled in Lua.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.model import AVAILABLE, Agent, Request, cooling

STATUS = "status"  # the agent is not available
SHIFT = "shift"  # outside the agent's shift (or too close to its end for the channel)
WRAP_UP = "wrap_up"  # the agent is wrapping up a resolved ticket
EXCLUDED = "excluded"  # the agent cools off for the ticket (it rejected or missed its offer)
NOT_PREFERRED = "not_preferred"  # the request wants another agent
NO_CHANNEL = "no_channel"  # no capacity on the request's channel
CAPACITY = "capacity"  # the agent's capacity on the channel is used up
FAIR_SHARE = "fair_share"  # the agent had the queue's most new tickets in its fairness window
SKILL = "skill"  # a required skill missing or below the level
REGION = "region"  # none of the agent's regions is allowed
TEAM = "team"  # the agent's team is not one the request allows
REASON_ORDER = (
    STATUS,
    SHIFT,
    WRAP_UP,
    EXCLUDED,
    NOT_PREFERRED,
    NO_CHANNEL,
    CAPACITY,
    FAIR_SHARE,
    SKILL,
    REGION,
    TEAM,
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An agent with its load and capacity on the request's channel."""

    agent: Agent
    load: int
    capacity: int


def hours_reason(agent: Agent, req: Request, now_ms: int) -> str | None:
    """``shift`` outside the agent's shift or within ``req.shift_stop_ms`` of its end,
    ``wrap_up`` while it wraps up; else ``None``. An agent-wide rule (but for the stop)."""
    if agent.shift_end_ms and not (
        agent.shift_start_ms <= now_ms < agent.shift_end_ms - req.shift_stop_ms
    ):
        return SHIFT
    if now_ms < agent.wrap_until_ms:
        return WRAP_UP
    return None


def off_hours(agent: Agent, now_ms: int) -> bool:
    """Whether no request at all may go to the agent at ``now_ms`` (off shift, wrapping up):
    a freed agent then pulls nothing."""
    if agent.shift_end_ms and not agent.shift_start_ms <= now_ms < agent.shift_end_ms:
        return True
    return now_ms < agent.wrap_until_ms


def reasons(agent: Agent, load: int, req: Request, now_ms: int = 0, recent: int = 0) -> list[str]:
    """Every reason ``agent`` (with ``load`` open tickets on the channel, ``recent`` new
    tickets of the request's queue in its fairness window) cannot take ``req`` at ``now_ms``.

    Each entry is ``code`` or ``code:detail``; an empty list means eligible.
    """
    out: list[str] = []
    if agent.status != AVAILABLE:
        out.append(f"{STATUS}:{agent.status}")
    if agent.shift_end_ms and not (
        agent.shift_start_ms <= now_ms < agent.shift_end_ms - req.shift_stop_ms
    ):
        out.append(f"{SHIFT}:{agent.shift_start_ms}-{agent.shift_end_ms}")
    if now_ms < agent.wrap_until_ms:
        out.append(f"{WRAP_UP}:{agent.wrap_until_ms}")
    if req.cooloff and cooling(req.cooloff, agent.id, now_ms):
        out.append(EXCLUDED)
    if req.preferred_agent is not None and agent.id != req.preferred_agent:
        out.append(NOT_PREFERRED)
    cap = agent.capacity.get(req.channel, 0)
    if cap <= 0:
        out.append(f"{NO_CHANNEL}:{req.channel}")
    elif load >= cap:
        out.append(f"{CAPACITY}:{load}/{cap}")
    if req.fair_max and recent >= req.fair_max:
        out.append(f"{FAIR_SHARE}:{recent}/{req.fair_max}")
    for skill, level in sorted(req.skills.items()):
        have = agent.skills.get(skill, 0)
        if have < level:
            out.append(f"{SKILL}:{skill} {have}<{level}")
    if req.regions is not None and not any(r in req.regions for r in agent.regions):
        out.append(REGION)
    if req.teams is not None and agent.team not in req.teams:
        out.append(f"{TEAM}:{agent.team}" if agent.team else TEAM)
    return out


def first_reason(
    agent: Agent, load: int, req: Request, now_ms: int = 0, recent: int = 0
) -> str | None:
    """The code of the first failing rule at ``now_ms``, or ``None`` when eligible (fast
    path). ``recent``: the agent's new tickets of the request's queue in its fairness window
    (stores count them; only read when the request has a limit)."""
    if agent.status != AVAILABLE:
        return STATUS
    if agent.shift_end_ms or agent.wrap_until_ms:
        why = hours_reason(agent, req, now_ms)
        if why is not None:
            return why
    if req.cooloff and cooling(req.cooloff, agent.id, now_ms):
        return EXCLUDED
    if req.preferred_agent is not None and agent.id != req.preferred_agent:
        return NOT_PREFERRED
    cap = agent.capacity.get(req.channel, 0)
    if cap <= 0:
        return NO_CHANNEL
    if load >= cap:
        return CAPACITY
    if req.fair_max and recent >= req.fair_max:
        return FAIR_SHARE
    for skill, level in req.skills.items():
        if agent.skills.get(skill, 0) < level:
            return SKILL
    if req.regions is not None and not any(r in req.regions for r in agent.regions):
        return REGION
    if req.teams is not None and agent.team not in req.teams:
        return TEAM
    return None
