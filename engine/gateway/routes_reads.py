"""Reads, from Redis (never the log): where a ticket is, and its latest decision."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool

from engine.gateway.auth import Principal, allow
from engine.gateway.deps import Gateway
from engine.gateway.openapi import ID_PARAM
from engine.gateway.problems import Problem

router = APIRouter(prefix="/v1", tags=["reads"])
TicketId = Annotated[str, Path(**ID_PARAM)]
Reader = Annotated[Principal, Depends(allow("producer", "supervisor", "agent"))]


@router.get("/tickets/{ticket_id}", summary="Where a ticket is")
async def get_ticket(ticket_id: TicketId, request: Request, who: Reader) -> dict[str, Any]:
    gw: Gateway = request.app.state.gateway
    rec = await run_in_threadpool(gw.store.ticket, who.tenant, ticket_id)
    if rec is None or (who.role == "agent" and who.agent not in (rec.agent, rec.last_agent)):
        raise Problem(404, "not found", f"no ticket {ticket_id!r}")
    return {
        "id": rec.ticket_id,
        "state": rec.state,
        "queue": rec.queue,
        "channel": rec.channel,
        "agent": rec.agent,
        "last_agent": rec.last_agent,
        "priority": rec.priority,
        "step": rec.step,
    }
