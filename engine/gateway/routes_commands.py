"""Supervisor commands: ``POST /v1/commands/{kind}``.

One route per kind (reassign, force_assign, pause_queue, resume_queue, raise_priority,
move_queue), each with the body of its ``command.<kind>`` schema. Every command needs a
``reason``; the ``supervisor`` is the token's identity (``<role>:<name>``), never the
body's: the dispatcher records both in the decision the command causes. What the gateway
can check before writing it checks (the ticket, agent and queue exist in the tenant; the
ticket is in a state the command applies to); the rest the dispatcher decides (a refused
command becomes a ``rejected`` decision with its reason).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from engine.gateway import responses
from engine.gateway.auth import Principal, allow
from engine.gateway.deps import MAX_BODY_BYTES, Gateway
from engine.gateway.openapi import answers, body_of, request_schema_ref
from engine.gateway.problems import Problem
from engine.gateway.routes_agents import agent_view
from engine.gateway.writes import an_object, build_event, json_body, publish
from engine.ports import CLOSED, WAITING

router = APIRouter(prefix="/v1/commands", tags=["commands"])
Supervisor = Annotated[Principal, Depends(allow("supervisor"))]

COMMANDS = (
    "reassign",
    "force_assign",
    "pause_queue",
    "resume_queue",
    "raise_priority",
    "move_queue",
)
SUMMARIES = {
    "reassign": "Move a ticket to another agent with spare capacity",
    "force_assign": "Move a ticket to another agent, past its capacity",
    "pause_queue": "Hold a queue's waiting tickets",
    "resume_queue": "Release a paused queue's waiting tickets",
    "raise_priority": "Set a waiting ticket's priority",
    "move_queue": "Move a waiting ticket to another queue",
}


def check(gw: Gateway, tenant: str, kind: str, ev: dict[str, Any]) -> None:
    """404 for what the tenant does not have, 409 for a ticket the command cannot apply to,
    422 for a queue the policy does not have."""
    if kind in ("pause_queue", "resume_queue"):
        if gw.policy.queue(ev["id"]) is None:
            raise Problem(404, "not found", f"no queue {ev['id']!r}", field="id")
        if tenant not in gw.store.tenants():
            raise Problem(404, "not found", "the tenant has no tickets or agents yet")
        return
    rec = gw.store.ticket(tenant, ev["id"])
    if rec is None:
        raise Problem(404, "not found", f"no ticket {ev['id']!r}", field="id")
    if kind in ("reassign", "force_assign"):
        if rec.state == CLOSED:
            raise Problem(409, "ticket closed", f"{ev['id']!r} is closed", field="id")
        try:
            agent_view(gw, tenant, ev["to_agent"])
        except Problem:
            raise Problem(
                404, "not found", f"no agent {ev['to_agent']!r}", field="to_agent"
            ) from None
        return
    if rec.state != WAITING:  # raise_priority, move_queue: only a waiting ticket moves
        raise Problem(
            409, "not waiting", f"{ev['id']!r} is {rec.state}: only a waiting ticket moves"
        )
    if kind == "move_queue" and gw.policy.queue(ev["queue"]) is None:
        raise Problem(422, "unknown queue", f"no queue {ev['queue']!r}", field="queue")


def _route(kind: str) -> Callable[..., Any]:
    event_type = f"command.{kind}"

    async def command(request: Request, who: Supervisor) -> dict[str, Any]:
        gw: Gateway = request.app.state.gateway
        fields = an_object(await json_body(request, MAX_BODY_BYTES))
        reason = fields.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise Problem(422, "reason required", "say why (at most 1000 chars)", field="reason")
        ev, value = build_event(gw, event_type, who.tenant, fields, forced={"supervisor": who.who})
        await run_in_threadpool(check, gw, who.tenant, kind, ev)
        await run_in_threadpool(publish, gw, [(ev, value)])
        return {"id": ev["id"], "type": event_type, "status": "accepted"}

    command.__name__ = f"command_{kind}"
    return command


for _kind in COMMANDS:
    router.add_api_route(
        f"/{_kind}",
        _route(_kind),
        methods=["POST"],
        status_code=202,
        summary=SUMMARIES[_kind],
        openapi_extra=body_of(
            request_schema_ref(
                f"command.{_kind}",
                name="".join(p.capitalize() for p in _kind.split("_")) + "CommandRequest",
                server_set=("supervisor",),
                require=("reason",),
            )
        ),
        responses=answers(202, responses.ACCEPTED, "on the log"),
    )
