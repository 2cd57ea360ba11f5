"""Server-Sent Events: an agent's decisions as they are made, and a tenant's for wallboards.

- ``GET /v1/agents/{agent_id}/stream``: the offers, assignments, releases and
  reassignments naming the agent (a reassignment also reaches the agent it was taken
  from). ``agent`` tokens read their own agent's only; supervisors any agent of their
  tenant; admins any, with ``?tenant=``. An agent the token may not see, or that its
  tenant does not have, is a 404.
- ``GET /v1/stream``: every decision and SLA event of the tenant (supervisors, admins).

Wire format (``text/event-stream``): first a ``retry:`` hint and, on a new stream, the
position it starts from (an ``id:`` without data: EventSource keeps it and dispatches
nothing). Then every event as ``id: <position>``, ``event: <type>`` (``decision.offered``,
``sla.breached``, ...) and ``data: <the event as JSON>``; every ``heartbeat_s`` without
events a comment with the current position as ``id:``. ``Last-Event-ID`` resumes on any
replica (the design is in ``engine.gateway.hub``). ``event: reset`` comes first when the
replica no longer holds everything since that id: reload state, then follow.
``event: overflow`` ends the stream of a client that fell ``QUEUE_MAX`` events behind; it
reconnects with its Last-Event-ID and resumes. 503 with ``Retry-After`` while the replica
catches up with the log after a start, and when every stream slot is taken.

Build the routes with :func:`streams_router` around the replica's hub
(``consumers.gateway_streams.start_streams`` starts one, fed from Kafka).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from engine.errors import Unavailable
from engine.gateway.auth import ROLE_AGENT, Principal, allow
from engine.gateway.deps import RETRY_AFTER_S, Gateway
from engine.gateway.hub import (
    OPEN,
    OVERFLOW,
    NotReady,
    StreamHub,
    Subscription,
    TooManyStreams,
    parse_position,
)
from engine.gateway.openapi import ID_PARAM
from engine.gateway.problems import Problem

__all__ = ["HEARTBEAT_S", "RETRY_MS", "EventStreamResponse", "streams_router"]

HEARTBEAT_S = 15.0
RETRY_MS = 2_000
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
RESET = json.dumps(
    {"reason": "the events since Last-Event-ID are no longer all held: reload, then follow"}
)

AgentId = Annotated[str, Path(**ID_PARAM)]
Desk = Annotated[Principal, Depends(allow(ROLE_AGENT, "supervisor"))]
Wallboard = Annotated[Principal, Depends(allow("supervisor"))]
LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        description="resume after this event id (any replica): sent by EventSource itself",
    ),
]


class EventStreamResponse(StreamingResponse):
    """``text/event-stream`` that ends its subscription when the response ends, however
    it ends (a generator suspended at a ``yield`` when its client disconnects would only
    run its ``finally`` once collected)."""

    media_type = "text/event-stream"

    def __init__(
        self, content: AsyncIterator[str], subscription: Subscription | None = None
    ) -> None:
        super().__init__(content, headers=HEADERS)
        self.subscription = subscription

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self.subscription is not None:
                self.subscription.close()


def _stream_doc(what: str) -> dict[int | str, dict[str, object]]:
    return {
        200: {
            "description": f"{what}: `id`, `event` (the event type), `data` (the event as JSON)",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    }


def streams_router(
    hub: StreamHub, *, heartbeat_s: float = HEARTBEAT_S, retry_ms: int = RETRY_MS
) -> APIRouter:
    """The two stream routes, served from ``hub``."""
    router = APIRouter(prefix="/v1", tags=["streams"])

    @router.get(
        "/agents/{agent_id}/stream",
        summary="Stream an agent's offers, assignments, releases and reassignments",
        response_class=EventStreamResponse,
        status_code=200,
        responses=_stream_doc("the agent's decisions"),
    )
    async def agent_stream(
        agent_id: AgentId, request: Request, who: Desk, last_event_id: LastEventId = None
    ) -> EventStreamResponse:
        if not who.may_act_for(agent_id):
            raise Problem(404, "not found", f"no agent {agent_id!r}")
        if who.role != ROLE_AGENT:
            gw: Gateway = request.app.state.gateway
            try:
                agents = await run_in_threadpool(gw.store.agents, who.tenant)
            except Unavailable as exc:
                raise _unavailable("store unavailable", str(exc)) from exc
            if all(view.agent.id != agent_id for view in agents):
                raise Problem(404, "not found", f"no agent {agent_id!r}")
        return _open(hub, who.tenant, agent_id, last_event_id, heartbeat_s, retry_ms)

    @router.get(
        "/stream",
        summary="Stream every decision and SLA event of the tenant (wallboards)",
        response_class=EventStreamResponse,
        status_code=200,
        responses=_stream_doc("the tenant's decisions and SLA events"),
    )
    async def tenant_stream(
        who: Wallboard, last_event_id: LastEventId = None
    ) -> EventStreamResponse:
        return _open(hub, who.tenant, None, last_event_id, heartbeat_s, retry_ms)

    return router


def _unavailable(title: str, detail: str) -> Problem:
    return Problem(503, title, detail, headers={"Retry-After": str(RETRY_AFTER_S)})


def _open(
    hub: StreamHub,
    tenant: str,
    agent: str | None,
    last_event_id: str | None,
    heartbeat_s: float,
    retry_ms: int,
) -> EventStreamResponse:
    after = None
    if last_event_id is not None and last_event_id.strip():
        try:
            after = parse_position(last_event_id.strip())
        except ValueError:
            raise Problem(
                400, "invalid Last-Event-ID", "not an id of this stream", field="Last-Event-ID"
            ) from None
    try:
        sub = hub.subscribe(tenant, agent, after=after)
    except NotReady as exc:
        raise _unavailable("stream not ready", str(exc)) from exc
    except TooManyStreams as exc:
        raise _unavailable("too many streams", str(exc)) from exc
    return EventStreamResponse(_events(sub, heartbeat_s, retry_ms, hub.queue_max), sub)


async def _events(
    sub: Subscription, heartbeat_s: float, retry_ms: int, queue_max: int
) -> AsyncIterator[str]:
    try:
        head = f"retry: {retry_ms}\n"
        if sub.first_id is not None:
            head += f"id: {sub.first_id}\n"
        yield head + "\n"
        if sub.gap:
            yield f"event: reset\ndata: {RESET}\n\n"
        idle = False
        while True:
            taken = sub.take()
            if taken.frames:
                yield taken.frames
            if taken.state != OPEN:
                if taken.state == OVERFLOW:
                    yield _overflow(queue_max)
                return
            if taken.events:
                idle = False
                continue
            if idle and taken.position is not None:
                yield f": heartbeat\nid: {taken.position}\n\n"
            idle = not await sub.wait(heartbeat_s)
    finally:
        sub.close()


def _overflow(queue_max: int) -> str:
    reason = (
        f"more than {queue_max} events were waiting for this client:"
        " reconnect with Last-Event-ID to resume"
    )
    return f"event: overflow\ndata: {json.dumps({'reason': reason})}\n\n"
