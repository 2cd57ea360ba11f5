"""Explain a routing decision: matched queue, per-agent filters and scores, the winner."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.core.eligibility import Candidate, reasons
from engine.core.model import Agent, Ticket
from engine.core.policy import Policy
from engine.core.routing import route
from engine.core.strategies import choose, score


def explain(
    ticket: Ticket,
    policy: Policy,
    roster: Sequence[tuple[Agent, Mapping[str, int]]],
    now_ms: int,
    *,
    rr_last: str | None = None,
) -> dict[str, Any]:
    """Why ``ticket`` would go where it goes, given agents with their loads per channel.

    Returns ``queue``, ``strategy``, ``step``, ``request`` (the effective requirements),
    ``candidates`` (every agent with ``eligible``, ``reasons`` and ``score``) and
    ``winner`` (agent id or ``None``).
    """
    r = route(ticket, policy, now_ms)
    req = r.request
    if req is None:
        return {
            "queue": None,
            "strategy": None,
            "step": None,
            "reason": r.reason,
            "request": None,
            "candidates": [],
            "winner": None,
        }
    rows: list[dict[str, Any]] = []
    eligible: list[Candidate] = []
    for agent, loads in sorted(roster, key=lambda p: p[0].id):
        load = int(loads.get(req.channel, 0))
        why = reasons(agent, load, req, now_ms)
        cand = Candidate(agent, load, agent.capacity.get(req.channel, 0))
        if not why:
            eligible.append(cand)
        rows.append(
            {
                "agent": agent.id,
                "eligible": not why,
                "reasons": why,
                "score": score(req.strategy, cand, req.skills) if not why else None,
                "load": load,
                "capacity": cand.capacity,
            }
        )
    win = choose(req.strategy, eligible, skills=req.skills, last=rr_last)
    return {
        "queue": req.queue,
        "strategy": req.strategy,
        "step": req.step,
        "request": {
            "channel": req.channel,
            "priority": req.priority,
            "skills": dict(req.skills),
            "regions": list(req.regions) if req.regions is not None else None,
            "preferred_agent": req.preferred_agent,
            "elapsed_s": max(0, now_ms - ticket.ts) / 1000,
            "next_step_at_ms": req.wake_ms or None,
        },
        "candidates": rows,
        "winner": win.agent.id if win else None,
    }
