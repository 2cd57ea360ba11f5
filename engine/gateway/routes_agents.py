"""Agent desktops: presence and profile events, the agent's work, offers, claims.

``POST /v1/agents/{id}/events`` (login, logout, status, update), ``GET
/v1/agents/{id}/work``, ``POST /v1/agents/{id}/offers/{ticket}/accept`` and ``/reject``,
``POST /v1/agents/{id}/claim``. An agent token acts for its own agent only (403 for any
other id, asked before anything is looked up); supervisors act for any agent of their
tenant. An agent or ticket the tenant does not have is 404, and nothing is written.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool

from engine.gateway import responses, views
from engine.gateway.auth import ROLE_AGENT, Principal, acting_for, allow
from engine.gateway.deps import MAX_BODY_BYTES, Gateway
from engine.gateway.openapi import ID_PARAM, answers, body_of, request_schema_ref
from engine.gateway.pool import claim_conflict, claimable
from engine.gateway.problems import Problem
from engine.gateway.writes import an_object, build_event, json_body, optional_body, publish
from engine.ports import ASSIGNED, OFFERED, AgentView, TicketRecord

router = APIRouter(prefix="/v1/agents", tags=["agents"])

AGENT_EVENTS = ("login", "logout", "status", "update")
AgentId = Annotated[str, Path(**ID_PARAM)]
TicketId = Annotated[str, Path(**ID_PARAM)]
Desk = Annotated[Principal, Depends(allow("agent", "supervisor"))]
ACCEPTED = answers(202, responses.ACCEPTED, "on the log")


def _gw(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def agent_view(gw: Gateway, tenant: str, agent_id: str) -> AgentView:
    """The agent, or 404 (an agent of another tenant is not found either)."""
    for view in gw.store.agents(tenant):
        if view.agent.id == agent_id:
            return view
    raise Problem(404, "not found", f"no agent {agent_id!r}", field="agent_id")


def _accepted(ident: str, event_type: str) -> dict[str, Any]:
    return {"id": ident, "type": event_type, "status": "accepted"}


@router.post(
    "/{agent_id}/events",
    status_code=202,
    summary="Publish an agent event: login, logout, status, update",
    openapi_extra=body_of(
        {"oneOf": [request_schema_ref(f"agent.{k}", with_kind=True) for k in AGENT_EVENTS]}
    ),
    responses=ACCEPTED,
)
async def agent_event(agent_id: AgentId, request: Request, who: Desk) -> dict[str, Any]:
    acting_for(who, agent_id)
    gw = _gw(request)
    fields = dict(an_object(await json_body(request, MAX_BODY_BYTES)))
    kind = fields.pop("kind", None)
    if kind not in AGENT_EVENTS:
        raise Problem(422, "invalid request", f"one of {', '.join(AGENT_EVENTS)}", field="kind")
    ev, value = build_event(gw, f"agent.{kind}", who.tenant, fields, ident=agent_id)
    if kind != "login":  # only a login registers an agent
        await run_in_threadpool(agent_view, gw, who.tenant, agent_id)
    await run_in_threadpool(publish, gw, [(ev, value)])
    return _accepted(agent_id, ev["type"])


@router.get(
    "/{agent_id}/work",
    summary="An agent's open tickets, pending offers and the pooled tickets it may claim",
    responses=answers(200, responses.WORK, "the agent's work"),
)
def agent_work(agent_id: AgentId, request: Request, who: Desk) -> dict[str, Any]:
    acting_for(who, agent_id)
    gw = _gw(request)
    view = agent_view(gw, who.tenant, agent_id)
    records = []
    for ids in view.open.values():
        for tid in ids:
            rec = gw.store.ticket(who.tenant, tid)
            if rec is not None and rec.agent == agent_id:
                records.append(rec)
    pool = claimable(gw, who.tenant, agent_id)
    return views.work_view(view, records, pool)


def _offer(gw: Gateway, tenant: str, agent_id: str, ticket_id: str) -> TicketRecord:
    """The ticket offered to (or, once accepted, assigned to) ``agent_id``; else 404."""
    rec = gw.store.ticket(tenant, ticket_id)
    if rec is None or rec.agent != agent_id or rec.state not in (OFFERED, ASSIGNED):
        raise Problem(
            404, "not found", f"no offer of {ticket_id!r} to {agent_id!r}", field="ticket_id"
        )
    return rec


def _offer_body(name: str, event_type: str) -> dict[str, Any]:
    ref = request_schema_ref(
        event_type, name=name, path_id=True, path_fields=("agent",), server_set=()
    )
    return body_of(ref, required=False)


@router.post(
    "/{agent_id}/offers/{ticket_id}/accept",
    status_code=202,
    summary="Accept an offer (a ticket already accepted is answered the same)",
    openapi_extra=_offer_body("OfferAcceptRequest", "ticket.accepted"),
    responses=ACCEPTED,
)
async def accept_offer(
    agent_id: AgentId, ticket_id: TicketId, request: Request, who: Desk
) -> dict[str, Any]:
    acting_for(who, agent_id)
    gw = _gw(request)
    fields = await optional_body(request, MAX_BODY_BYTES)
    ev, value = build_event(
        gw, "ticket.accepted", who.tenant, fields, ident=ticket_id, forced={"agent": agent_id}
    )
    rec = await run_in_threadpool(_offer, gw, who.tenant, agent_id, ticket_id)
    if rec.state == OFFERED:  # assigned: accepted already, nothing to write
        await run_in_threadpool(publish, gw, [(ev, value)])
    return _accepted(ticket_id, ev["type"])


@router.post(
    "/{agent_id}/offers/{ticket_id}/reject",
    status_code=202,
    summary="Reject an offer: the ticket is offered to someone else",
    openapi_extra=_offer_body("OfferRejectRequest", "ticket.rejected"),
    responses=ACCEPTED,
)
async def reject_offer(
    agent_id: AgentId, ticket_id: TicketId, request: Request, who: Desk
) -> dict[str, Any]:
    acting_for(who, agent_id)
    gw = _gw(request)
    fields = await optional_body(request, MAX_BODY_BYTES)
    ev, value = build_event(
        gw, "ticket.rejected", who.tenant, fields, ident=ticket_id, forced={"agent": agent_id}
    )
    rec = await run_in_threadpool(_offer, gw, who.tenant, agent_id, ticket_id)
    if rec.state != OFFERED:
        raise Problem(
            409,
            "not an offer",
            f"{ticket_id!r} is assigned to {agent_id!r}: a supervisor reassigns it",
            field="ticket_id",
        )
    await run_in_threadpool(publish, gw, [(ev, value)])
    return _accepted(ticket_id, ev["type"])


@router.post(
    "/{agent_id}/claim",
    status_code=202,
    summary="Claim the best waiting ticket the agent may take, or the one named (202: the"
    " outcome comes as a decision on the agent's stream; 409: already claimed)",
    openapi_extra=body_of(
        request_schema_ref(
            "command.claim", name="ClaimRequest", path_id=True, server_set=("supervisor",)
        ),
        required=False,
    ),
    responses=ACCEPTED,
)
async def claim(agent_id: AgentId, request: Request, who: Desk) -> dict[str, Any]:
    acting_for(who, agent_id)
    gw = _gw(request)
    fields = await optional_body(request, MAX_BODY_BYTES)
    # An agent claims for itself; anyone else (a supervisor) is recorded as the claimer.
    forced = {} if who.role == ROLE_AGENT else {"supervisor": who.who}
    ev, value = build_event(
        gw,
        "command.claim",
        who.tenant,
        fields,
        ident=agent_id,
        forced=forced,
        server_set=("supervisor",),
    )
    await run_in_threadpool(agent_view, gw, who.tenant, agent_id)
    wanted = ev.get("ticket")
    if wanted is not None:
        rec = await run_in_threadpool(gw.store.ticket, who.tenant, wanted)
        claim_conflict(rec, wanted, agent_id)
    await run_in_threadpool(publish, gw, [(ev, value)])
    return _accepted(agent_id, ev["type"])
