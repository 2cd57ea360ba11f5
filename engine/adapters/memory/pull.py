"""Grab mode in the in-memory store (``AgentStore.claim`` and ``.pool``): the reference
the Redis script ``lua/pull.lua`` (library ``lua/lib/60_pull.lua``) mirrors.

Functions over a pool, called by :class:`engine.adapters.memory.store.MemoryAgentStore`
under its lock.
"""

from __future__ import annotations

import heapq
from dataclasses import replace
from typing import TYPE_CHECKING

from engine.adapters.memory.pools import _by_score, _decision, _Pool, _Ticket
from engine.core import model as m
from engine.core.eligibility import off_hours
from engine.core.model import AVAILABLE, Decision, Request
from engine.core.pull import claim_reason
from engine.ports import (
    ASSIGNED,
    GRAB_CLAIMED,
    GRAB_MAY_NOT_CLAIM,
    GRAB_STEP_CLAIMED,
    OFFERED,
    REASON_NOT_OPEN,
    REASON_PAUSED,
    WAIT_SCAN_LIMIT,
    WAITING,
    WaitingEntry,
)

if TYPE_CHECKING:
    from engine.adapters.memory.store import MemoryAgentStore


def held(p: _Pool, agent_id: str, queue: str) -> int:
    """The agent's open tickets (offered or assigned) of ``queue``: what a claim limit counts."""
    return sum(
        1
        for ids in p.open.get(agent_id, {}).values()
        for tid in ids
        if tid in p.tickets and p.tickets[tid].req.queue == queue
    )


def why_not(p: _Pool, agent_id: str, req: Request, now_ms: int) -> str | None:
    """Why the agent may not claim ``req`` now (``None``: it may)."""
    agent = p.agents[agent_id]
    load = len(p.open.get(agent_id, {}).get(req.channel, ()))
    recent = p.recent(req, agent_id, now_ms)
    count = held(p, agent_id, req.queue) if req.claim_limit else 0
    return claim_reason(agent, load, req, now_ms, recent, count)


def _scan(
    p: _Pool, agent_id: str, now_ms: int, *, pooled_only: bool, limit: int
) -> list[tuple[float, str]]:
    """Per unpaused queue, the first ``WAIT_SCAN_LIMIT`` entries: the claimable ones
    (pooled ones only with ``pooled_only``; at most ``limit`` per queue), best first."""
    found: list[tuple[float, str]] = []
    for queue, entries in p.waiting.items():
        if queue in p.paused or not entries:
            continue
        n = 0
        for tid, score in heapq.nsmallest(WAIT_SCAN_LIMIT, entries.items(), key=_by_score):
            req = p.tickets[tid].req
            if pooled_only and not req.pull:
                continue
            if why_not(p, agent_id, req, now_ms) is None:
                found.append((score, tid))
                n += 1
                if n >= limit:
                    break
    found.sort()
    return found


def _take(store: MemoryAgentStore, p: _Pool, t: _Ticket, agent_id: str, now_ms: int) -> Decision:
    """Give ``t`` to the claimer: assigned, never offered (the agent chose it)."""
    store._unwait(p, t)
    req = t.req
    t.req = replace(req, offer_timeout_ms=0)
    try:
        return store._give(p, t, agent_id, now_ms, step=req.step + GRAB_STEP_CLAIMED)
    finally:
        t.req = req


def claim(
    store: MemoryAgentStore,
    p: _Pool,
    tenant: str,
    agent_id: str,
    now_ms: int,
    ticket_id: str | None,
) -> list[Decision]:
    """``AgentStore.claim`` on pool ``p`` (the agent is known); unstamped decisions."""
    if ticket_id is None:
        agent = p.agents[agent_id]
        if agent.status != AVAILABLE or off_hours(agent, now_ms):
            return []
        best = _scan(p, agent_id, now_ms, pooled_only=False, limit=1)
        if not best:
            return []
        return [_take(store, p, p.tickets[best[0][1]], agent_id, now_ms)]
    t = p.tickets.get(ticket_id)
    if t is None or t.state not in (WAITING, OFFERED, ASSIGNED):
        req = t.req if t else Request(ticket_id, tenant, "", "", "", 0, 0, 0.0)
        return [_refusal(req, agent_id, now_ms, REASON_NOT_OPEN)]
    if t.agent == agent_id:
        return []  # already its (a re-run claim)
    if t.state != WAITING:
        return [_refusal(t.req, agent_id, now_ms, GRAB_CLAIMED)]
    if t.req.queue in p.paused:
        return [_refusal(t.req, agent_id, now_ms, REASON_PAUSED)]
    why = why_not(p, agent_id, t.req, now_ms)
    if why is not None:
        return [_refusal(t.req, agent_id, now_ms, GRAB_MAY_NOT_CLAIM + why)]
    return [_take(store, p, t, agent_id, now_ms)]


def _refusal(req: Request, agent_id: str, now_ms: int, reason: str) -> Decision:
    """A refused claim: rejected, naming the claimer; its step ends ``GRAB_STEP_CLAIMED`` like
    every claim's outcome (the audit tells it from a supervisor's refused move by it)."""
    step = req.step + GRAB_STEP_CLAIMED
    return _decision(m.REJECTED, req, now_ms, agent_id, reason=reason, step=step)


def pool(p: _Pool, agent_id: str, now_ms: int, limit: int) -> list[WaitingEntry]:
    """``AgentStore.pool`` on pool ``p`` (the agent is known)."""
    if limit <= 0:
        return []
    out = []
    for score, tid in _scan(p, agent_id, now_ms, pooled_only=True, limit=limit)[:limit]:
        req = p.tickets[tid].req
        out.append(WaitingEntry(tid, req.queue, score, req.priority, req.ticket_ts))
    return out
