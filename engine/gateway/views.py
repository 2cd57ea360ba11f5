"""What the read routes answer, built from store records: pure functions, no I/O.

``ticket_view`` (a ticket with its SLA clocks per target and its latest decision),
``work_view`` (an agent's open tickets and pending offers), ``queue_views`` (waiting,
oldest age, eligible agents available) and ``agent_views`` (status, load per channel). The
response schemas they follow are in ``engine.gateway.responses``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.core.model import AVAILABLE, Decision
from engine.core.policy import Policy, Queue
from engine.core.sla import TargetRun, TicketClock
from engine.core.sla_track import SlaState
from engine.ports import OFFERED, AgentView, TicketRecord, WaitingEntry

# SLA clock states: running, paused (waiting on the customer), or the run's outcome.
RUNNING, PAUSED, MET, BREACHED, CANCELLED = "running", "paused", "met", "breached", "cancelled"


def decision_view(d: Decision) -> dict[str, Any]:
    """A decision exactly as the dispatcher publishes it on ``dispatch.assignments``: what
    was decided, by whom (``supervisor``) and why (queue, strategy, candidates, filters,
    step, reason)."""
    return {"v": 1, **d.to_event()}


def ticket_view(rec: TicketRecord, sla: Mapping[str, Any] | None, *, now_ms: int) -> dict[str, Any]:
    ticket = rec.ticket
    return {
        "id": rec.ticket_id,
        "state": rec.state,
        "queue": rec.queue,
        "channel": rec.channel,
        "agent": rec.agent,
        "last_agent": rec.last_agent,
        "priority": rec.priority,
        "step": rec.step,
        "created_ms": _int_or_none(ticket.get("ts")),
        "tier": ticket.get("tier") if isinstance(ticket.get("tier"), str) else None,
        "sla": sla,
        "latest_decision": decision_view(rec.latest) if rec.latest is not None else None,
    }


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def sla_view(state: SlaState, policy: Policy, now_ms: int) -> dict[str, Any] | None:
    """The ticket's SLA clocks per target and cycle, as the SLA tracker computes them from
    the facts it stored (None before the tracker saw the ticket)."""
    meta = state.meta
    if meta is None:
        return None
    targets = policy.sla.get(meta.policy) if meta.policy else None
    if targets is None:
        return {"policy": meta.policy, "clocks": []}
    try:
        clock = TicketClock(targets, state.events)
    except ValueError:  # a fact of a kind this build does not know: show no clocks
        return {"policy": meta.policy, "clocks": []}
    return {"policy": meta.policy, "clocks": [_run(clock, r, now_ms) for r in clock.runs]}


def _run(clock: TicketClock, run: TargetRun, now_ms: int) -> dict[str, Any]:
    try:
        deadline = clock.deadline(run)
    except OverflowError:  # a calendar cannot place it before year 10000: never due
        deadline = None
    if run.stop_ms is None:
        paused = any(off is None for _on, off in run.pauses)
        if deadline is None:
            state = PAUSED if paused else RUNNING
        else:
            state = BREACHED if now_ms >= deadline else RUNNING
    elif run.cancelled:
        state = CANCELLED
    else:
        state = BREACHED if deadline is not None and run.stop_ms > deadline else MET
    remaining = None
    if run.stop_ms is None and deadline is not None:
        remaining = deadline - now_ms
    return {
        "target": run.target,
        "cycle": run.cycle,
        "state": state,
        "started_ms": run.start_ms,
        "stopped_ms": run.stop_ms,
        "deadline_ms": deadline,
        "remaining_ms": remaining,
    }


def work_view(
    view: AgentView, tickets: Sequence[TicketRecord], pool: Sequence[WaitingEntry] = ()
) -> dict[str, Any]:
    """An agent's open tickets (assigned or offered to it) and, among them, its pending
    offers; ``tickets`` are the records of its open ticket ids. ``pool``: the pooled tickets
    (grab mode) it may claim now, best first."""
    a = view.agent
    open_, offers = [], []
    for rec in sorted(tickets, key=lambda r: (r.channel, r.ticket_id)):
        item = {
            "id": rec.ticket_id,
            "state": rec.state,
            "queue": rec.queue,
            "channel": rec.channel,
            "priority": rec.priority,
        }
        open_.append(item)
        if rec.state == OFFERED:
            offers.append(item)
    return {
        "id": a.id,
        "status": a.status,
        "capacity": dict(a.capacity),
        "load": {ch: view.load(ch) for ch in sorted(view.open)},
        "open": open_,
        "offers": offers,
        "pool": [
            {"id": e.ticket_id, "queue": e.queue, "priority": e.priority, "ticket_ts": e.ticket_ts}
            for e in pool
        ],
    }


def agent_row(view: AgentView) -> dict[str, Any]:
    a = view.agent
    return {
        "id": a.id,
        "status": a.status,
        "team": a.team,
        "skills": dict(a.skills),
        "regions": list(a.regions),
        "capacity": dict(a.capacity),
        "load": {ch: view.load(ch) for ch in sorted(set(view.open) | set(a.capacity))},
        "performance": a.performance,
        "missed_offers": view.misses,
    }


def _channels(q: Queue) -> tuple[str, ...] | None:
    """The channels a queue's tickets use (None: any): its capacity channel, else the
    channels it matches."""
    if q.capacity_channel:
        return (q.capacity_channel,)
    matched = q.match.get("channel")
    return tuple(str(c) for c in matched) if matched else None


def eligible_available(q: Queue, agents: Sequence[AgentView]) -> int:
    """Agents that could take one of the queue's tickets now: available, holding the
    queue's skills at their levels (and one of ``skills_any``), with spare capacity on a
    channel of the queue (any channel when the queue does not restrict it). Ticket-level
    requirements (the ticket's own skills, regions, a preferred agent) are not counted."""
    channels = _channels(q)
    n = 0
    for v in agents:
        a = v.agent
        if a.status != AVAILABLE:
            continue
        if any(a.skills.get(s, 0) < level for s, level in q.skills.items()):
            continue
        if q.skills_any and not any(s in a.skills for s in q.skills_any):
            continue
        chans = channels if channels is not None else tuple(a.capacity)
        if any(v.load(ch) < a.capacity.get(ch, 0) for ch in chans):
            n += 1
    return n


def queue_views(
    policy: Policy, waiting: Sequence[WaitingEntry], agents: Sequence[AgentView], now_ms: int
) -> list[dict[str, Any]]:
    """Every queue of the policy (and any other queue something waits in): waiting count,
    the oldest waiting ticket's age and the eligible agents available."""
    by_queue: dict[str, list[WaitingEntry]] = {}
    for e in waiting:
        by_queue.setdefault(e.queue, []).append(e)
    out = []
    names = [q.name for q in policy.queues] + sorted(
        set(by_queue) - {q.name for q in policy.queues}
    )
    for name in names:
        entries = by_queue.get(name, [])
        oldest = min((e.ticket_ts for e in entries), default=None)
        q = policy.queue(name)
        out.append(
            {
                "name": name,
                "strategy": q.strategy if q is not None else None,
                "waiting": len(entries),
                "oldest_ts": oldest,
                "oldest_age_s": max(0, now_ms - oldest) / 1000 if oldest is not None else None,
                "eligible_available": eligible_available(q, agents) if q is not None else 0,
            }
        )
    return out
