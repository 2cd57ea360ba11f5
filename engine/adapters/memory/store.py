"""In-memory AgentStore: the reference implementation of the store contract.

Used by the embedded demo and the simulator; the Redis store must make the same
decisions for the same inputs (``tests/contract``). Not thread-safe: one lock guards
every public method.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from engine.adapters.memory import handover as _handover
from engine.adapters.memory import pull as grab
from engine.adapters.memory.pools import PoolStore, _by_score, _decision, _Pool, _Ticket
from engine.core import model as m
from engine.core.eligibility import FAIR_SHARE, Candidate, first_reason, off_hours
from engine.core.handover import queue_decision
from engine.core.model import (
    AVAILABLE,
    AWAY,
    Agent,
    Decision,
    Request,
    cooloff_merged,
    cooloff_wake,
    cooloff_with,
)
from engine.core.strategies import choose, explain
from engine.errors import UnknownAgent, UnknownTenant, UnknownTicket
from engine.escaping import timer_member
from engine.ports import (
    ASSIGNED,
    CLOSED,
    GRAB_POOLED,
    OFFERED,
    REASON_DUPLICATE,
    REASON_MOVED_FROM,
    REASON_NO_AGENT,
    REASON_NO_SPARE,
    REASON_NOT_OPEN,
    REASON_OFFER_REJECTED,
    REASON_OFFER_TIMEOUT,
    REASON_PAUSED,
    REASON_SAME_AGENT,
    RELEASE_RESOLVED,
    STEP_ACCEPTED,
    STEP_PULLED,
    TIMER_AGENT,
    TIMER_ESCALATE,
    TIMER_OFFER,
    WAIT_SCAN_LIMIT,
    WAITING,
    Version,
    WaitingEntry,
    reason_unknown_agent,
)

_AGENT_FIELDS = (
    "status",
    "skills",
    "regions",
    "team",
    "capacity",
    "performance",
    "schedule",
    "shift_start_ms",
    "shift_end_ms",
)


class MemoryAgentStore(PoolStore):
    """Dict-backed store; one pool per tenant."""

    # ---- agents -------------------------------------------------------------------
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
            known = self._pools.get(tenant)
            if not create and (known is None or agent_id not in known.agents):
                raise UnknownAgent(f"agent {agent_id!r} of tenant {tenant!r} never logged in")
            p = self._pool(tenant)
            if version is not None:
                if not version.newer_than(p.agent_versions.get(agent_id)):
                    return []  # a late write: the agent already holds a newer change
                p.agent_versions[agent_id] = version
            cur = p.agents.get(agent_id) or Agent(id=agent_id)
            merged = cur.to_mapping()
            merged.update({k: fields[k] for k in _AGENT_FIELDS if k in fields})
            if fields.get("status") == AVAILABLE:
                merged["wrap_until_ms"] = 0  # available again: the wrap-up is over
            p.agents[agent_id] = Agent.from_mapping(merged)
            p.open.setdefault(agent_id, {})
            if fields.get("status") == AVAILABLE:
                p.misses[agent_id] = 0
            _agent_timer(p, p.agents[agent_id], now_ms)
            return self._stamp(self._pull(p, tenant, agent_id, now_ms, limit=None), now_ms)

    # ---- routing --------------------------------------------------------------------
    def assign(
        self, items: Sequence[tuple[Request, Mapping[str, Any]]], now_ms: int
    ) -> list[Decision]:
        with self._lock:
            out: list[Decision] = []
            for req, ticket in items:
                p = self._pool(req.tenant)
                known = p.tickets.get(req.ticket_id)
                if known is not None:
                    out.append(self._state_decision(known, now_ms))
                    continue
                p.tickets[req.ticket_id] = _Ticket(req, dict(ticket), WAITING)
                out.append(self._place(p, req, now_ms, new=True))
            return self._stamp(out, now_ms)

    def restore(
        self,
        tenant: str,
        items: Sequence[tuple[Request, Mapping[str, Any], str, str | None, int]],
        now_ms: int,
    ) -> int:
        with self._lock:
            p = self._pool(tenant)
            n = 0
            for req, ticket, state, agent, seq in items:
                if req.ticket_id in p.tickets:
                    continue
                t = _Ticket(req, dict(ticket), state, seq=seq)
                p.tickets[req.ticket_id] = t
                if state == WAITING:
                    p.waiting.setdefault(req.queue, {})[req.ticket_id] = req.score
                    if req.wake_ms:
                        p.set_timer(timer_member(TIMER_ESCALATE, req.ticket_id), req.wake_ms)
                elif agent is not None:
                    t.agent = agent
                    p.open.setdefault(agent, {}).setdefault(req.channel, set()).add(req.ticket_id)
                n += 1
            return n

    def reroute(
        self,
        requests: Sequence[Request],
        now_ms: int,
        tickets: Sequence[Mapping[str, Any] | None] | None = None,
        *,
        by: str | None = None,
        why: str = "",
    ) -> list[Decision]:
        if tickets is not None and len(tickets) != len(requests):
            raise ValueError("reroute: tickets must align with requests")
        with self._lock:
            out: list[Decision] = []
            for i, req in enumerate(requests):
                p = self._peek(req.tenant)
                t = p.tickets.get(req.ticket_id)
                if t is None or t.state != WAITING:
                    continue
                if tickets is not None and tickets[i] is not None:
                    t.ticket = dict(tickets[i] or {})  # a queue move / priority raise persists
                old = t.req
                self._unwait(p, t)
                req = replace(req, cooloff=old.cooloff)
                t.req = req
                d = self._place(p, req, now_ms, new=False)
                if by is not None:
                    d = replace(d, supervisor=by, why=why)
                if d.kind != m.QUEUED:
                    out.append(d)
                elif req.step != old.step or req.queue != old.queue or req.score != old.score:
                    out.append(replace(d, kind=m.ESCALATED))
            return self._stamp(out, now_ms)

    def reopen(
        self,
        request: Request,
        ticket: Mapping[str, Any],
        now_ms: int,
        *,
        version: Version | None = None,
    ) -> list[Decision]:
        with self._lock:
            p = self._peek(request.tenant)
            t = p.tickets.get(request.ticket_id)
            if t is None or t.state != CLOSED:
                return []
            if version is not None and not version.newer_than(t.version):
                return []
            # A reopened ticket keeps its version: consumers keep the highest seq.
            p.tickets[request.ticket_id] = _Ticket(
                request,
                dict(ticket),
                WAITING,
                seq=t.seq,
                version=version or t.version,
                latest=t.latest,
            )
            return self._stamp([self._place(p, request, now_ms, new=True)], now_ms)

    def _place(self, p: _Pool, req: Request, now_ms: int, *, new: bool) -> Decision:
        """Assign ``req`` to the best candidate, or park it in its waiting queue."""
        t = p.tickets[req.ticket_id]
        cands, filtered = self._candidates(p, req, now_ms)
        win = None
        if req.queue not in p.paused and not req.pull:
            win = choose(req.strategy, cands, skills=req.skills, last=p.rr_last.get(req.queue))
        base = dict(candidates=len(cands), filtered=filtered)
        if win is None:
            t.state = WAITING
            p.waiting.setdefault(req.queue, {})[req.ticket_id] = req.score
            wake = _wake(req, now_ms)
            if filtered.get(FAIR_SHARE):  # also when the first agent's window slides
                fair = min(
                    p.fair_free_at(req, aid, now_ms) for aid in self._fair_held(p, req, now_ms)
                )
                wake = min(wake, fair) if wake else fair
            if wake:
                p.set_timer(timer_member(TIMER_ESCALATE, req.ticket_id), wake)
            reason = REASON_PAUSED if req.queue in p.paused else REASON_NO_AGENT
            if req.pull and req.queue not in p.paused:
                reason = GRAB_POOLED
            return _decision(m.QUEUED, req, now_ms, None, reason=reason, **base)
        base["explain"] = explain(req.strategy, cands, win, skills=req.skills)
        return self._give(p, t, win.agent.id, now_ms, **base)

    def _give(self, p: _Pool, t: _Ticket, agent_id: str, now_ms: int, **extra: Any) -> Decision:
        req = t.req
        offered = req.offer_timeout_ms > 0
        t.state = OFFERED if offered else ASSIGNED
        t.agent = agent_id
        p.open.setdefault(agent_id, {}).setdefault(req.channel, set()).add(req.ticket_id)
        p.agents[agent_id] = replace(p.agents[agent_id], last_assigned_ms=now_ms)
        p.rr_last[req.queue] = agent_id
        if req.fair_max:
            p.count_given(req, agent_id, now_ms)
        p.drop_timer(timer_member(TIMER_ESCALATE, req.ticket_id))
        if offered:
            p.set_timer(
                timer_member(TIMER_OFFER, req.ticket_id, agent_id), now_ms + req.offer_timeout_ms
            )
        kind = m.OFFERED if offered else m.ASSIGNED
        extra["load"] = len(p.open[agent_id][req.channel])
        extra["capacity"] = p.agents[agent_id].capacity.get(req.channel, 0)
        return _decision(kind, req, now_ms, agent_id, **extra)

    def _candidates(
        self, p: _Pool, req: Request, now_ms: int
    ) -> tuple[list[Candidate], dict[str, int]]:
        cands: list[Candidate] = []
        filtered: dict[str, int] = {}
        for a in p.agents.values():
            if a.status != AVAILABLE or any(s not in a.skills for s in req.skills):
                continue
            load = len(p.open.get(a.id, {}).get(req.channel, ()))
            why = first_reason(a, load, req, now_ms, p.recent(req, a.id, now_ms))
            if why is None:
                cands.append(Candidate(a, load, a.capacity.get(req.channel, 0)))
            else:
                filtered[why] = filtered.get(why, 0) + 1
        return cands, filtered

    def _fair_held(self, p: _Pool, req: Request, now_ms: int) -> list[str]:
        """The agents whose first failing rule for ``req`` is its fairness limit."""
        out = []
        for a in p.agents.values():
            if a.status != AVAILABLE or any(s not in a.skills for s in req.skills):
                continue
            load = len(p.open.get(a.id, {}).get(req.channel, ()))
            if first_reason(a, load, req, now_ms, p.recent(req, a.id, now_ms)) == FAIR_SHARE:
                out.append(a.id)
        return out

    def _pull(
        self, p: _Pool, tenant: str, agent_id: str, now_ms: int, limit: int | None
    ) -> list[Decision]:
        """The agent takes the best waiting tickets it is eligible for, while it can."""
        out: list[Decision] = []
        agent = p.agents.get(agent_id)
        if agent is None or agent.status != AVAILABLE or off_hours(agent, now_ms):
            return out
        while limit is None or len(out) < limit:
            agent = p.agents[agent_id]
            open_ = p.open.get(agent_id, {})
            if all(len(open_.get(ch, ())) >= cap for ch, cap in agent.capacity.items()):
                break  # no spare capacity on any channel: no waiting ticket is eligible
            best: tuple[float, str] | None = None
            for queue, entries in p.waiting.items():
                if queue in p.paused or not entries:
                    continue
                top = heapq.nsmallest(WAIT_SCAN_LIMIT, entries.items(), key=_by_score)
                for tid, score in top:
                    req = p.tickets[tid].req
                    if req.pull:
                        continue  # pooled: waits for a claim
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

    def _unwait(self, p: _Pool, t: _Ticket) -> None:
        entries = p.waiting.get(t.req.queue)
        if entries is not None:
            entries.pop(t.req.ticket_id, None)
            if not entries:
                del p.waiting[t.req.queue]
        p.drop_timer(timer_member(TIMER_ESCALATE, t.req.ticket_id))

    def _free(self, p: _Pool, t: _Ticket) -> str | None:
        """Take the ticket off its agent; returns the agent id."""
        agent = t.agent
        if agent is not None:
            t.last_agent = agent
            p.open.get(agent, {}).get(t.req.channel, set()).discard(t.req.ticket_id)
            p.drop_timer(timer_member(TIMER_OFFER, t.req.ticket_id, agent))
        t.agent = None
        return agent

    # ---- lifecycle ---------------------------------------------------------------------
    def release(
        self,
        tenant: str,
        ticket_id: str,
        reason: str,
        now_ms: int,
        *,
        version: Version | None = None,
    ) -> list[Decision]:
        with self._lock:
            p = self._peek(tenant)
            t = p.tickets.get(ticket_id)
            if t is None:
                raise UnknownTicket(f"ticket {ticket_id!r} of tenant {tenant!r} is not known")
            if t.state == CLOSED:
                return []
            if version is not None:
                if not version.newer_than(t.version):
                    return []  # a late release: the ticket was reopened since
                t.version = version
            if t.state == WAITING:
                self._unwait(p, t)
            worked = t.state == ASSIGNED
            agent = self._free(p, t)
            t.state = CLOSED
            out = [_decision(m.RELEASED, t.req, now_ms, agent, reason=reason)]
            a = p.agents.get(agent) if agent is not None else None
            if a is not None and worked and reason == RELEASE_RESOLVED and t.req.wrap_up_ms:
                until = max(a.wrap_until_ms, now_ms + t.req.wrap_up_ms)
                p.agents[a.id] = a = replace(a, wrap_until_ms=until)
                _agent_timer(p, a, now_ms)
            if agent is not None:
                out += self._pull(p, tenant, agent, now_ms, limit=None)
            return self._stamp(out, now_ms)

    def accept(self, tenant: str, ticket_id: str, agent_id: str, now_ms: int) -> list[Decision]:
        with self._lock:
            p = self._peek(tenant)
            t = p.tickets.get(ticket_id)
            if t is None:
                raise UnknownTicket(f"ticket {ticket_id!r} of tenant {tenant!r} is not known")
            if t.state != OFFERED or t.agent != agent_id:
                return []
            t.state = ASSIGNED
            p.misses[agent_id] = 0
            p.drop_timer(timer_member(TIMER_OFFER, ticket_id, agent_id))
            return self._stamp(
                [_decision(m.ASSIGNED, t.req, now_ms, agent_id, step=STEP_ACCEPTED)], now_ms
            )

    def decline(
        self,
        tenant: str,
        ticket_id: str,
        agent_id: str,
        timeout: bool,
        request: Request,
        now_ms: int,
        *,
        why: str = "",
    ) -> list[Decision]:
        with self._lock:
            p = self._peek(tenant)
            t = p.tickets.get(ticket_id)
            if t is None or t.state != OFFERED or t.agent != agent_id:
                return []
            self._free(p, t)
            reason = REASON_OFFER_TIMEOUT if timeout else REASON_OFFER_REJECTED
            out = [_decision(m.RELEASED, t.req, now_ms, agent_id, reason=reason, why=why)]
            if timeout:
                p.misses[agent_id] = p.misses.get(agent_id, 0) + 1
                if t.req.offer_max_misses and p.misses[agent_id] >= t.req.offer_max_misses:
                    p.agents[agent_id] = replace(p.agents[agent_id], status=AWAY)
            cooloff = cooloff_with(
                cooloff_merged(t.req.cooloff, request.cooloff),
                agent_id,
                now_ms + request.reoffer_ms,
                now_ms,
            )
            t.req = replace(request, cooloff=cooloff)
            out.append(self._place(p, t.req, now_ms, new=False))
            out += self._pull(p, tenant, agent_id, now_ms, limit=None)
            return self._stamp(out, now_ms)

    def claim(
        self, tenant: str, agent_id: str, now_ms: int, ticket_id: str | None = None
    ) -> list[Decision]:
        with self._lock:
            p = self._peek(tenant)
            if agent_id not in p.agents:
                raise UnknownAgent(f"agent {agent_id!r} of tenant {tenant!r} never logged in")
            out = grab.claim(self, p, tenant, agent_id, now_ms, ticket_id)
            return self._stamp(out, now_ms)

    def pool(self, tenant: str, agent_id: str, now_ms: int, limit: int) -> list[WaitingEntry]:
        with self._lock:
            p = self._pools.get(tenant)
            if p is None or agent_id not in p.agents:
                raise UnknownAgent(f"agent {agent_id!r} of tenant {tenant!r} never logged in")
            return grab.pool(p, agent_id, now_ms, limit)

    def reassign(
        self,
        tenant: str,
        ticket_id: str,
        to_agent: str,
        supervisor: str,
        force: bool,
        now_ms: int,
        *,
        why: str = "",
    ) -> list[Decision]:
        with self._lock:
            p = self._peek(tenant)
            t = p.tickets.get(ticket_id)
            target = p.agents.get(to_agent)
            refusal = None
            if t is None or t.state == CLOSED:
                refusal = REASON_NOT_OPEN
            elif target is None:
                refusal = reason_unknown_agent(to_agent)
            elif t.agent == to_agent:
                refusal = REASON_SAME_AGENT
            else:
                load = len(p.open.get(to_agent, {}).get(t.req.channel, ()))
                if not force and load >= target.capacity.get(t.req.channel, 0):
                    refusal = REASON_NO_SPARE
            if refusal is not None or t is None:
                req = t.req if t else Request(ticket_id, tenant, "", "", "", 0, 0, 0.0)
                return [
                    _decision(
                        m.REJECTED,
                        req,
                        now_ms,
                        to_agent,
                        reason=refusal or "",
                        supervisor=supervisor,
                        forced=force,
                        why=why,
                    )
                ]
            if t.state == WAITING:
                self._unwait(p, t)
            prev = self._free(p, t)
            d = self._give(p, t, to_agent, now_ms, supervisor=supervisor, forced=force, why=why)
            t.state = ASSIGNED
            p.drop_timer(timer_member(TIMER_OFFER, ticket_id, to_agent))
            out = [replace(d, kind=m.REASSIGNED, reason=REASON_MOVED_FROM + prev if prev else "")]
            if prev is not None:
                out += self._pull(p, tenant, prev, now_ms, limit=None)
            return self._stamp(out, now_ms)

    def set_paused(
        self,
        tenant: str,
        queue: str,
        paused: bool,
        now_ms: int,
        *,
        version: Version | None = None,
    ) -> list[Decision]:
        with self._lock:
            p = self._pools.get(tenant)
            if p is None:
                raise UnknownTenant(f"tenant {tenant!r} has no tickets and no agents")
            if version is not None:
                if not version.newer_than(p.queue_versions.get(queue)):
                    return []
                p.queue_versions[queue] = version
            if paused:
                if queue in p.paused:
                    return []
                p.paused.add(queue)
                return [_queue_decision(m.PAUSED, tenant, queue, now_ms)]
            if queue not in p.paused:
                return []
            p.paused.discard(queue)
            out: list[Decision] = [_queue_decision(m.RESUMED, tenant, queue, now_ms)]
            placed = True
            while placed:  # WAIT_SCAN_LIMIT at a time, until a pass places none
                placed = False
                entries = heapq.nsmallest(
                    WAIT_SCAN_LIMIT, p.waiting.get(queue, {}).items(), key=_by_score
                )
                for tid, _ in entries:
                    t = p.tickets[tid]
                    self._unwait(p, t)
                    d = self._place(p, t.req, now_ms, new=False)
                    if d.kind != m.QUEUED:
                        out.append(d)
                        placed = True
            return self._stamp(out, now_ms)

    # ---- handover (engine.adapters.memory.handover) ---------------------------------------
    def handover(
        self,
        tenant: str,
        agent_id: str,
        requests: Sequence[Request],
        cause: str,
        status: str,
        now_ms: int,
    ) -> list[Decision]:
        return _handover.handover(self, tenant, agent_id, requests, cause, status, now_ms)

    def away_timers(self, tenant: str, timers: Sequence[tuple[str, int]], now_ms: int) -> None:
        _handover.away_timers(self, tenant, timers)

    def _state_decision(self, t: _Ticket, now_ms: int) -> Decision:
        kind = {WAITING: m.QUEUED, OFFERED: m.OFFERED, ASSIGNED: m.ASSIGNED}.get(t.state)
        d = _decision(kind or m.RELEASED, t.req, now_ms, t.agent, reason=REASON_DUPLICATE)
        return replace(d, duplicate=True, seq=t.seq)


def _queue_decision(kind: str, tenant: str, queue: str, now_ms: int) -> Decision:
    """A queue paused or resumed (engine.core.handover.queue_decision; not stamped)."""
    return queue_decision(kind, tenant, queue, now_ms, supervisor=None, why="", policy="")


def _wake(req: Request, now_ms: int) -> int:
    """When a waiting ticket must be routed again: its next escalation step or the end of
    its earliest running cool-off, whichever comes first; 0 = never."""
    cool = cooloff_wake(req.cooloff, now_ms) if req.cooloff else 0
    if not cool:
        return req.wake_ms
    return min(cool, req.wake_ms) if req.wake_ms else cool


def _agent_timer(p: _Pool, a: Agent, now_ms: int) -> None:
    """The agent's timer at the next future one of its shift start, shift end and wrap-up
    end (the dispatcher then computes its next shift and it pulls work), or none."""
    key = timer_member(TIMER_AGENT, "", a.id)
    times = (a.shift_start_ms, a.shift_end_ms, a.wrap_until_ms)
    due = min((at for at in times if at > now_ms), default=0)
    if due:
        p.set_timer(key, due)
    else:
        p.drop_timer(key)
