"""Reads, from Redis (never the log): a ticket with its SLA clocks and latest decision, the
queues, the agents.

``GET /v1/tickets/{id}`` (producers, supervisors; an agent only a ticket it holds or held),
``GET /v1/queues`` and ``GET /v1/agents`` (supervisors). Every read is scoped to the token's
tenant: an id of another tenant is not found, like a missing one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from engine.gateway import responses, views
from engine.gateway.auth import ROLE_AGENT, Principal, allow
from engine.gateway.deps import Gateway
from engine.gateway.openapi import ID_PARAM, answers
from engine.gateway.problems import Problem
from engine.sla.state import decode_state

router = APIRouter(prefix="/v1", tags=["reads"])
TicketId = Annotated[str, Path(**ID_PARAM)]
Reader = Annotated[Principal, Depends(allow("producer", "supervisor", "agent"))]
Supervisor = Annotated[Principal, Depends(allow("supervisor"))]


def _gw(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


@router.get(
    "/tickets/{ticket_id}",
    summary="A ticket: state, queue, agent, effective priority, SLA clocks, latest decision",
    responses=answers(200, responses.TICKET, "the ticket"),
)
def get_ticket(ticket_id: TicketId, request: Request, who: Reader) -> dict[str, Any]:
    gw = _gw(request)
    rec = gw.store.ticket(who.tenant, ticket_id)
    if rec is None or (who.role == ROLE_AGENT and who.agent not in (rec.agent, rec.last_agent)):
        raise Problem(404, "not found", f"no ticket {ticket_id!r}", field="ticket_id")
    now = gw.clock.now_ms()
    sla = None
    if gw.sla is not None:
        key = (who.tenant, ticket_id)
        fields = gw.sla.load([key]).get(key) or {}
        if fields:
            sla = views.sla_view(decode_state(key, fields), gw.policy, now)
    return views.ticket_view(rec, sla, now_ms=now)


@router.get(
    "/queues",
    summary="Queues: waiting tickets, the oldest one's age, eligible agents available",
    responses=answers(200, responses.QUEUES, "every queue of the policy"),
)
def get_queues(request: Request, who: Supervisor) -> dict[str, Any]:
    gw = _gw(request)
    waiting = gw.store.waiting(who.tenant)
    agents = gw.store.agents(who.tenant)
    return {"queues": views.queue_views(gw.policy, waiting, agents, gw.clock.now_ms())}


@router.get(
    "/agents",
    summary="Agents: status, load and capacity per channel",
    responses=answers(200, responses.AGENTS, "every agent of the tenant"),
)
def get_agents(request: Request, who: Supervisor) -> dict[str, Any]:
    return {"agents": [views.agent_row(v) for v in _gw(request).store.agents(who.tenant)]}
