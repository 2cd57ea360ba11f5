"""The gateway's ASGI application: ``create_app(gateway)``.

FastAPI (on Starlette): per-route dependencies carry authentication and roles, and it
serves the OpenAPI 3.1 document (``/openapi.json``, built by ``openapi``) from the same
JSON Schemas the codec validates with. ``/healthz``, ``/readyz`` and ``/metrics`` need no
token.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Depends, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from engine.gateway import (
    openapi,
    problems,
    routes_admin,
    routes_agents,
    routes_commands,
    routes_intake,
    routes_reads,
    routes_reports,
)
from engine.gateway.deps import Gateway
from engine.gateway.metrics import GatewayMetrics

DESCRIPTION = """\
The front door of the ticket dispatch engine: create tickets and follow them, answer offers
from an agent desktop, steer as a supervisor. Every request carries
`Authorization: Bearer <token>` (`dispatch tokens create`); the token fixes the tenant and
the role. Writes answer 202 once Kafka acknowledged the event; reads come from Redis.
Errors are `application/problem+json` naming the field at fault.
"""


def create_app(
    gateway: Gateway,
    *,
    registry: CollectorRegistry | None = None,
    ready: Callable[[], bool] = lambda: True,
) -> FastAPI:
    app = FastAPI(
        title="ticket dispatch gateway",
        version="1",
        description=DESCRIPTION,
        dependencies=[Depends(openapi.known_query_only)],
    )
    app.state.gateway = gateway
    metrics = GatewayMetrics(registry or CollectorRegistry())
    app.state.metrics = metrics
    problems.install(app)
    routers = (
        routes_intake.router,
        routes_reads.router,
        routes_agents.router,
        routes_commands.router,
        routes_admin.router,
        routes_reports.router,
    )
    for router in routers:
        app.include_router(router)
    for extra in gateway.extras.get("routers", ()):
        app.include_router(extra)
    openapi.install(app)

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.observe(request.method, path, response.status_code, time.perf_counter() - started)
        return response

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", include_in_schema=False)
    def readyz(response: Response) -> dict[str, str]:
        if ready():
            return {"status": "ready"}
        response.status_code = 503
        return {"status": "not ready"}

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
