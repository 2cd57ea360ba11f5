"""Which agents may take a request, and why the others may not.

Reason codes (the first failing one is what decisions count in ``filtered``):
``status``, ``excluded``, ``not_preferred``, ``no_channel``, ``capacity``, ``skill``, ``region``.
The Redis script mirrors this order exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.model import Agent, Request

REASON_ORDER = ("status", "excluded", "not_preferred", "no_channel", "capacity", "skill", "region")


@dataclass(frozen=True, slots=True)
class Candidate:
    """An agent with its load and capacity on the request's channel."""

    agent: Agent
    load: int
    capacity: int


def reasons(agent: Agent, load: int, req: Request) -> list[str]:
    """Every reason ``agent`` (with ``load`` open tickets on the channel) cannot take ``req``.

    Each entry is ``code`` or ``code:detail``; an empty list means eligible.
    """
    out: list[str] = []
    if agent.status != "available":
        out.append(f"status:{agent.status}")
    if agent.id in req.exclude:
        out.append("excluded")
    if req.preferred_agent is not None and agent.id != req.preferred_agent:
        out.append("not_preferred")
    cap = agent.capacity.get(req.channel, 0)
    if cap <= 0:
        out.append(f"no_channel:{req.channel}")
    elif load >= cap:
        out.append(f"capacity:{load}/{cap}")
    for skill, level in sorted(req.skills.items()):
        have = agent.skills.get(skill, 0)
        if have < level:
            out.append(f"skill:{skill} {have}<{level}")
    if req.regions is not None and not any(r in req.regions for r in agent.regions):
        out.append("region")
    return out


def first_reason(agent: Agent, load: int, req: Request) -> str | None:
    """The code of the first failing rule, or ``None`` when eligible (fast path)."""
    if agent.status != "available":
        return "status"
    if agent.id in req.exclude:
        return "excluded"
    if req.preferred_agent is not None and agent.id != req.preferred_agent:
        return "not_preferred"
    cap = agent.capacity.get(req.channel, 0)
    if cap <= 0:
        return "no_channel"
    if load >= cap:
        return "capacity"
    for skill, level in req.skills.items():
        if agent.skills.get(skill, 0) < level:
            return "skill"
    if req.regions is not None and not any(r in req.regions for r in agent.regions):
        return "region"
    return None
