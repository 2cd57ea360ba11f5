"""MemoryAgentStore's handover: an agent's open tickets re-routed (``AgentStore.handover``) and
its away timers (``AgentStore.away_timers``). The reference the Redis script
``lua/handover.lua`` mirrors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from engine.adapters.memory.pools import _decision
from engine.core import model as m
from engine.core.model import Decision, Request
from engine.ports import ASSIGNED, OFFERED, WAITING

if TYPE_CHECKING:
    from engine.adapters.memory.store import MemoryAgentStore


def handover(
    store: MemoryAgentStore,
    tenant: str,
    agent_id: str,
    requests: Sequence[Request],
    cause: str,
    status: str,
    now_ms: int,
) -> list[Decision]:
    """Move the agent's open tickets named by ``requests`` (in that order), while the agent's
    status is ``status``: each is taken off the agent (a ``handed_over`` decision naming the
    agent, ``reason`` the cause) and placed again with its request (its cool-offs kept)."""
    with store._lock:
        p = store._peek(tenant)
        a = p.agents.get(agent_id)
        if a is None or a.status != status:
            return []  # unknown, or back (or gone another way) since: it keeps its tickets
        out: list[Decision] = []
        for req in requests:
            t = p.tickets.get(req.ticket_id)
            if t is None or t.state not in (OFFERED, ASSIGNED) or t.agent != agent_id:
                continue
            prev = store._free(p, t)
            out.append(_decision(m.HANDED_OVER, t.req, now_ms, prev, reason=cause))
            t.state = WAITING
            t.req = replace(req, cooloff=t.req.cooloff)
            out.append(store._place(p, t.req, now_ms, new=False))
        return store._stamp(out, now_ms)


def away_timers(store: MemoryAgentStore, tenant: str, timers: Sequence[tuple[str, int]]) -> None:
    """Set each timer member at its due time; due 0 removes it."""
    with store._lock:
        p = store._pools.get(tenant)
        if p is None:
            return
        for member, due in timers:
            if due:
                p.set_timer(member, due)
            else:
                p.drop_timer(member)
