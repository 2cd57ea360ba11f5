"""The dispatcher's side of handover (``engine.core.handover``): after an agent event, set or
clear the agent's away timers and, on a logout, hand its open tickets over; when an away timer
falls due, hand over that queue's tickets. Decisions of supervisor commands the store does not
make (queue pause/resume, refused moves) are completed here too.

Reads go through the store (the agent's open tickets, each ticket's record); the move itself
is one atomic store call (``AgentStore.handover``), which re-checks that each ticket is still
with the agent and that the agent is still logged out / away.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from engine.core import handover as h
from engine.core.model import AWAY, OFFLINE, REJECTED, Decision, Request, Ticket
from engine.core.policy import Policy
from engine.core.routing import route
from engine.escaping import timer_member
from engine.logs import get_logger
from engine.ports import TIMER_HANDOVER, AgentStore, TicketRecord

log = get_logger(__name__)

# The reason of a refused queue move / priority raise (a ``rejected`` decision).
REASON_NOT_WAITING = "ticket is not waiting (only a waiting ticket moves)"
REASON_NO_QUEUE = "no such queue in the policy"
REASON_NO_CHANGE = "nothing to change"


def after_agent(
    store: AgentStore,
    policy: Policy,
    tenant: str,
    agent_id: str,
    status: str | None,
    now_ms: int,
) -> list[Decision]:
    """After an agent event that set ``status`` (``None``: no status change): away timers set
    (away) or cleared (any other status) for the queues with ``handover_after_away_s``; a
    logout hands over the tickets of the queues with ``on_logout: requeue``."""
    if status is None:
        return []
    away = h.away_queues(policy.queues)
    if away:
        timers = [
            (timer_member(TIMER_HANDOVER, q, agent_id), now_ms + ms if status == AWAY else 0)
            for q, ms in away
        ]
        store.away_timers(tenant, timers, now_ms)
    if status == OFFLINE and any(q.on_logout == h.REQUEUE for q in policy.queues):
        return hand_over(store, policy, tenant, agent_id, h.CAUSE_LOGOUT, now_ms)
    return []


def hand_over(
    store: AgentStore,
    policy: Policy,
    tenant: str,
    agent_id: str,
    cause: str,
    now_ms: int,
    away_queue: str = "",
) -> list[Decision]:
    """Re-route the agent's open tickets that leave it for ``cause`` (``h.moves``): each
    routed again from its stored event (its own ``ts``: it keeps its age and climbs its
    ladders as a waiting ticket would), in waiting-queue order."""
    view = next((v for v in store.agents(tenant) if v.agent.id == agent_id), None)
    if view is None:
        return []
    requests: list[Request] = []
    for tid in sorted({tid for ids in view.open.values() for tid in ids}):
        rec = store.ticket(tenant, tid)
        if rec is None or rec.agent != agent_id:
            continue
        if not h.moves(policy.queue(rec.queue), cause, away_queue):
            continue
        req = _request(rec, agent_id, policy, now_ms)
        if req is not None:
            requests.append(req)
    if not requests:
        return []
    status = h.CAUSE_STATUS[cause]
    return store.handover(tenant, agent_id, h.in_order(requests), cause, status, now_ms)


def _request(rec: TicketRecord, agent_id: str, policy: Policy, now_ms: int) -> Request | None:
    ticket = dict(rec.ticket)
    if ticket.get("preferred_agent") == agent_id:
        del ticket["preferred_agent"]  # sticky to the agent that left: no longer
    try:
        r = route(Ticket.from_event(ticket), policy, now_ms, cooloff=rec.cooloff)
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("ticket %r cannot be routed for a handover: %r", rec.ticket_id, exc)
        return None
    if r.request is None:
        log.warning("ticket %r matches no queue now: it stays with its agent", rec.ticket_id)
    return r.request


def away_due(
    store: AgentStore, policy: Policy, tenant: str, agent_id: str, queue: str, now_ms: int
) -> list[Decision]:
    """An away timer fell due: the agent's tickets of ``queue`` are handed over if it is
    still away (the store checks)."""
    return hand_over(store, policy, tenant, agent_id, h.CAUSE_AWAY, now_ms, away_queue=queue)


def queue_decisions(
    decisions: Sequence[Decision], ev: Mapping[str, Any], revision: str
) -> list[Decision]:
    """The store's decisions of a pause/resume with the command's supervisor, reason and the
    policy revision on the queue decision (the drained tickets' carry their own)."""
    who, why = ev.get("supervisor") or None, str(ev.get("reason") or "")
    return [
        replace(d, supervisor=who, why=why, policy=revision) if d.kind in h.QUEUE_KINDS else d
        for d in decisions
    ]


def refused_move(
    ev: Mapping[str, Any], rec: TicketRecord | None, reason: str, now_ms: int, revision: str
) -> Decision:
    """A ``rejected`` decision for a queue move / priority raise that changes nothing, with
    who asked and why."""
    return Decision(
        kind=REJECTED,
        ticket_id=str(ev["id"]),
        tenant=str(ev.get("tenant", "default")),
        ts=now_ms,
        queue=rec.queue if rec is not None else "",
        agent=rec.agent if rec is not None else None,
        channel=rec.channel if rec is not None else "",
        priority=rec.priority if rec is not None else 0,
        step=rec.step if rec is not None else "",
        supervisor=str(ev.get("supervisor") or "") or None,
        reason=reason,
        why=str(ev.get("reason") or ""),
        policy=revision,
    )
