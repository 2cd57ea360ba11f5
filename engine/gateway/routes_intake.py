"""Intake: tickets and their lifecycle events, from CRMs, web forms and desks.

``POST /v1/tickets`` (one ticket; its ``id`` makes it idempotent: a ticket the store already
knows is answered the same and nothing is published again), ``POST /v1/tickets/batch`` (up
to 1,000, all or nothing), ``POST /v1/tickets/{id}/events`` (lifecycle: only for a ticket
the tenant has, else 404 and nothing is written; a new ticket is known once a dispatcher
routed it, usually within milliseconds of its 202). 202 once the log acknowledged.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool

from engine.gateway import responses
from engine.gateway.auth import Principal, allow
from engine.gateway.deps import MAX_BATCH, MAX_BATCH_BODY_BYTES, MAX_BODY_BYTES, Gateway
from engine.gateway.openapi import ID_PARAM, answers, body_of, request_schema_ref
from engine.gateway.problems import Problem
from engine.gateway.writes import an_object, build_event, json_body, publish

router = APIRouter(prefix="/v1/tickets", tags=["tickets"])

LIFECYCLE = (
    "first_response",
    "replied",
    "waiting",
    "resolved",
    "reopened",
    "closed",
    "rated",
    "cancelled",
)
TicketId = Annotated[str, Path(**ID_PARAM)]
Producer = Annotated[Principal, Depends(allow("producer", "supervisor"))]
ACCEPTED = answers(202, responses.ACCEPTED, "on the log")


def _gw(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def accepted(ident: str, event_type: str, **extra: Any) -> dict[str, Any]:
    return {"id": ident, "type": event_type, "status": "accepted", **extra}


@router.post(
    "",
    status_code=202,
    summary="Create a ticket",
    openapi_extra=body_of(request_schema_ref("ticket.created")),
    responses=ACCEPTED,
)
async def create_ticket(request: Request, who: Producer) -> dict[str, Any]:
    gw = _gw(request)
    fields = an_object(await json_body(request, MAX_BODY_BYTES))
    ev, value = build_event(gw, "ticket.created", who.tenant, fields)
    known = await run_in_threadpool(gw.store.ticket, who.tenant, ev["id"])
    if known is None:
        await run_in_threadpool(publish, gw, [(ev, value)])
    return accepted(ev["id"], ev["type"])


@router.post(
    "/batch",
    status_code=202,
    summary="Create up to 1,000 tickets (all or nothing)",
    openapi_extra=body_of(
        {
            "type": "object",
            "required": ["tickets"],
            "additionalProperties": False,
            "properties": {
                "tickets": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_BATCH,
                    "items": request_schema_ref("ticket.created"),
                }
            },
        }
    ),
    responses=answers(202, responses.BATCH_ACCEPTED, "every ticket on the log"),
)
async def create_tickets(request: Request, who: Producer) -> dict[str, Any]:
    gw = _gw(request)
    doc = an_object(await json_body(request, MAX_BATCH_BODY_BYTES))
    for key in doc:
        if key != "tickets":
            raise Problem(422, "invalid request", 'a batch is {"tickets": [...]}', field=key)
    tickets = doc.get("tickets")
    if not isinstance(tickets, list) or not tickets:
        raise Problem(422, "invalid request", "a non-empty list of tickets", field="tickets")
    if len(tickets) > MAX_BATCH:
        raise Problem(413, "batch too large", f"at most {MAX_BATCH} tickets", field="tickets")
    events = [
        build_event(
            gw, "ticket.created", who.tenant, an_object(t, f"tickets[{i}]"), where=f"tickets[{i}]."
        )
        for i, t in enumerate(tickets)
    ]
    ids = [ev["id"] for ev, _ in events]
    if len(set(ids)) != len(ids):
        raise Problem(422, "invalid request", "ticket ids repeat within the batch", field="tickets")
    await run_in_threadpool(publish, gw, events)
    return {"status": "accepted", "ids": ids}


@router.post(
    "/{ticket_id}/events",
    status_code=202,
    summary="Publish a lifecycle event of a ticket",
    openapi_extra=body_of(
        {"oneOf": [request_schema_ref(f"ticket.{k}", with_kind=True) for k in LIFECYCLE]}
    ),
    responses=ACCEPTED,
)
async def ticket_event(ticket_id: TicketId, request: Request, who: Producer) -> dict[str, Any]:
    gw = _gw(request)
    fields = dict(an_object(await json_body(request, MAX_BODY_BYTES)))
    kind = fields.pop("kind", None)
    if kind not in LIFECYCLE:
        raise Problem(422, "invalid request", f"one of {', '.join(LIFECYCLE)}", field="kind")
    ev, value = build_event(gw, f"ticket.{kind}", who.tenant, fields, ident=ticket_id)
    if await run_in_threadpool(gw.store.ticket, who.tenant, ticket_id) is None:
        raise Problem(
            404,
            "not found",
            f"no ticket {ticket_id!r} (a new ticket is known once a dispatcher routed it)",
            field="ticket_id",
        )
    await run_in_threadpool(publish, gw, [(ev, value)])
    return accepted(ticket_id, ev["type"])
