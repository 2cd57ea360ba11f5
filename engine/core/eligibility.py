"""Which agents may take a request, and why the others may not.

Reason codes (the first failing one is what decisions count in ``filtered``), in rule order:
:data:`REASON_ORDER`. The Redis scripts mirror the rules in this order exactly; they get the
codes generated from here (``engine.adapters.redis.layout``), so no code is spelled in Lua.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.model import AVAILABLE, Agent, Request, cooling

STATUS = "status"  # the agent is not available
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


def reasons(agent: Agent, load: int, req: Request, now_ms: int = 0, recent: int = 0) -> list[str]:
    """Every reason ``agent`` (with ``load`` open tickets on the channel, ``recent`` new
    tickets of the request's queue in its fairness window) cannot take ``req`` at ``now_ms``.

    Each entry is ``code`` or ``code:detail``; an empty list means eligible.
    """
    out: list[str] = []
    if agent.status != AVAILABLE:
        out.append(f"{STATUS}:{agent.status}")
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
