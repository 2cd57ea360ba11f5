"""A faster in-memory AgentStore for the simulator that decides exactly like the reference.

:class:`SimAgentStore` subclasses :class:`~engine.adapters.memory.store.MemoryAgentStore`
and replaces three internals whose cost grows with the pool or the waiting queue; every
public method, and so every decision, stays the reference's (``tests/unit`` runs the same
scenarios through both stores and compares every decision, field by field):

* ``_candidates`` keeps, per request shape (channel, skills, regions, running cool-offs,
  preferred agent, teams), each agent's *static* eligibility (skills present, cool-off,
  channel, skill
  levels, region), recomputed only when ``update_agent`` changes an agent. Each call then
  only reads status and load, counts ``filtered`` reasons in the same rule order, and
  reuses an agent's (frozen) ``Candidate`` while its record and load are unchanged.
* waiting queues keep a sorted ``(score, ticket_id)`` list beside the reference's dict
  (kept in step by ``_place`` and ``_unwait``, the only places that touch it), so a pull
  reads the best entries instead of sorting the queue on every call;
* ``_pull`` stops as soon as the agent has no spare capacity on any channel (no waiting
  ticket can then be eligible) instead of scanning ``WAIT_SCAN_LIMIT`` entries per queue.

``_pool`` no longer builds a throw-away pool on every call. It also offers
:meth:`SimAgentStore.forget_closed`, which drops closed tickets' records so that
memory stays bounded over millions of simulated tickets. This module is tied to the
reference's private internals on purpose; it is a simulation accelerator, not an adapter.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Mapping
from itertools import islice
from typing import Any

from engine.adapters.memory.pools import _Pool, _Ticket
from engine.adapters.memory.store import MemoryAgentStore
from engine.core.eligibility import (
    CAPACITY,
    EXCLUDED,
    NO_CHANNEL,
    NOT_PREFERRED,
    REGION,
    SKILL,
    TEAM,
    Candidate,
    first_reason,
    hours_reason,
    off_hours,
)
from engine.core.model import AVAILABLE, QUEUED, Agent, Decision, Request
from engine.ports import CLOSED, STEP_PULLED, WAIT_SCAN_LIMIT, Version

_Shape = tuple[
    str,
    tuple[tuple[str, int], ...],
    tuple[str, ...] | None,
    tuple[str, ...],
    str | None,
    tuple[str, ...] | None,
]
_Row = tuple[str, str | None, str | None, int]  # agent id, pre-load reason, post-load, cap
_EMPTY: dict[str, set[str]] = {}
_MAX_SHAPES = 4096  # cached request shapes per pool before the cache starts over


class SimAgentStore(MemoryAgentStore):
    """:class:`MemoryAgentStore` with faster candidate scans and pulls (same decisions)."""

    def __init__(self) -> None:
        super().__init__()
        self._tables: dict[int, dict[_Shape, list[_Row]]] = {}
        self._order: dict[int, dict[str, list[tuple[float, str]]]] = {}
        self._cands: dict[str, Candidate] = {}  # agent id -> last candidate built (frozen)

    def _pool(self, tenant: str) -> _Pool:
        # The reference builds a throw-away _Pool for setdefault on every call.
        p = self._pools.get(tenant)
        if p is None:
            p = self._pools[tenant] = _Pool()
        return p

    def forget_closed(self, tenant: str) -> int:
        """Drop the records of closed tickets (their ids could then be routed again as new
        tickets); returns how many. The reference keeps them forever for idempotency."""
        with self._lock:
            tickets = self._pool(tenant).tickets
            closed = [tid for tid, t in tickets.items() if t.state == CLOSED]
            for tid in closed:
                del tickets[tid]
            return len(closed)

    def update_agent(
        self,
        tenant: str,
        agent_id: str,
        fields: Mapping[str, Any],
        now_ms: int,
        *,
        create: bool = True,
        version: Version | None = None,
    ) -> list[Decision]:
        with self._lock:
            self._tables.pop(id(self._pool(tenant)), None)
            return super().update_agent(
                tenant, agent_id, fields, now_ms, create=create, version=version
            )

    # ---- waiting order -------------------------------------------------------------------
    def _place(self, p: _Pool, req: Request, now_ms: int, *, new: bool) -> Decision:
        d = super()._place(p, req, now_ms, new=new)
        if d.kind == QUEUED:
            insort(
                self._order.setdefault(id(p), {}).setdefault(req.queue, []),
                (req.score, req.ticket_id),
            )
        return d

    def _unwait(self, p: _Pool, t: _Ticket) -> None:
        entries = p.waiting.get(t.req.queue)
        score = None if entries is None else entries.get(t.req.ticket_id)
        if score is not None:
            lst = self._order[id(p)][t.req.queue]
            key = (score, t.req.ticket_id)
            i = bisect_left(lst, key)
            if i < len(lst) and lst[i] == key:
                del lst[i]
        super()._unwait(p, t)

    def _pull(
        self, p: _Pool, tenant: str, agent_id: str, now_ms: int, limit: int | None
    ) -> list[Decision]:
        out: list[Decision] = []
        agent = p.agents.get(agent_id)
        if agent is None or agent.status != AVAILABLE or off_hours(agent, now_ms):
            return out
        order = self._order.get(id(p), {})
        while limit is None or len(out) < limit:
            agent = p.agents[agent_id]
            open_ = p.open.get(agent_id, _EMPTY)
            if all(len(open_.get(ch, ())) >= cap for ch, cap in agent.capacity.items()):
                break  # no spare capacity anywhere: first_reason fails for every ticket
            best: tuple[float, str] | None = None
            for queue, entries in p.waiting.items():
                if queue in p.paused or not entries:
                    continue
                for score, tid in islice(order[queue], WAIT_SCAN_LIMIT):
                    req = p.tickets[tid].req
                    load = len(open_.get(req.channel, ()))
                    recent = p.recent(req, agent_id, now_ms)
                    if first_reason(agent, load, req, now_ms, recent) is None:
                        if best is None or (score, tid) < best:
                            best = (score, tid)
                        break
            if best is None:
                break
            t = p.tickets[best[1]]
            self._unwait(p, t)
            out.append(self._give(p, t, agent_id, now_ms, step=t.req.step + STEP_PULLED))
        return out

    # ---- candidates ------------------------------------------------------------------------
    def _candidates(
        self, p: _Pool, req: Request, now_ms: int
    ) -> tuple[list[Candidate], dict[str, int]]:
        if req.fair_max:  # load-dependent counts per queue: the reference's scan
            return super()._candidates(p, req, now_ms)
        cool = tuple(aid for aid, until in req.cooloff if until > now_ms)
        shape: _Shape = (
            req.channel,
            tuple(req.skills.items()),
            req.regions,
            cool,
            req.preferred_agent,
            req.teams,
        )
        tables = self._tables.setdefault(id(p), {})
        rows = tables.get(shape)
        if rows is None:
            if len(tables) >= _MAX_SHAPES:  # e.g. many distinct exclusion lists
                tables.clear()
            rows = tables[shape] = _static_rows(p.agents.values(), req, cool)
        agents, open_, ch, built = p.agents, p.open, req.channel, self._cands
        cands: list[Candidate] = []
        filtered: dict[str, int] = {}
        for aid, pre, post, cap in rows:
            a = agents[aid]
            if a.status != AVAILABLE:
                continue
            if a.shift_end_ms or a.wrap_until_ms:  # the rules right after status
                hours = hours_reason(a, req, now_ms)
                if hours is not None:
                    filtered[hours] = filtered.get(hours, 0) + 1
                    continue
            if pre is None:
                load = len(open_.get(aid, _EMPTY).get(ch, ()))
                if load >= cap:
                    pre = CAPACITY
                elif post is None:
                    c = built.get(aid)
                    if c is None or c.agent is not a or c.load != load or c.capacity != cap:
                        c = built[aid] = Candidate(a, load, cap)
                    cands.append(c)
                    continue
                else:
                    pre = post
            filtered[pre] = filtered.get(pre, 0) + 1
        return cands, filtered


def _static_rows(agents: Any, req: Request, cool: tuple[str, ...]) -> list[_Row]:
    """Per agent holding every required skill: the first failing rule before the load
    check (excluded, not_preferred, no_channel), the first after it (skill, region), and
    its capacity on the channel — the order of ``engine.core.eligibility.first_reason``."""
    rows: list[_Row] = []
    a: Agent
    for a in agents:
        if any(s not in a.skills for s in req.skills):
            continue
        cap = a.capacity.get(req.channel, 0)
        pre: str | None = None
        if a.id in cool:
            pre = EXCLUDED
        elif req.preferred_agent is not None and a.id != req.preferred_agent:
            pre = NOT_PREFERRED
        elif cap <= 0:
            pre = NO_CHANNEL
        post: str | None = None
        if any(a.skills.get(s, 0) < lvl for s, lvl in req.skills.items()):
            post = SKILL
        elif req.regions is not None and not any(r in req.regions for r in a.regions):
            post = REGION
        elif req.teams is not None and a.team not in req.teams:
            post = TEAM
        rows.append((a.id, pre, post, cap))
    return rows
