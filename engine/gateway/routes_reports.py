"""Reads from the archive (issue 13): a ticket's full history and the reports, tenant-scoped
by the token like every route.

``GET /v1/tickets/{id}/history`` (producers, supervisors; an agent only a ticket that was
offered or assigned to it, else 404 like a missing one) and ``GET
/v1/reports/agents|queues|channels|kpis?from=&to=`` (supervisors; ``agents`` also an agent
token, which sees its own row only: naming another agent is 403). The archive is the
gateway's ``extras["archive"]`` (a SQLAlchemy engine on ``DISPATCH_ARCHIVE_URL``); without
one, or when it does not answer, 503. Periods are epoch ms ``[from, to)``, at most
366 days long (400 otherwise; a non-integer 422); the figures are defined in ``docs/reports.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from engine.archive import reports
from engine.archive.reports.figures import COLUMNS, DEFINITIONS
from engine.archive.reports.period import BUCKETS, BadPeriod, Period
from engine.archive.reports.trail import held_by
from engine.core import bounds
from engine.gateway import openapi
from engine.gateway.auth import ROLE_AGENT, Principal, acting_for, allow
from engine.gateway.deps import RETRY_AFTER_S, Gateway
from engine.gateway.openapi import ID_PARAM, answers
from engine.gateway.problems import Problem
from engine.logs import get_logger

log = get_logger(__name__)

router = APIRouter(prefix="/v1", tags=["reports"])
TicketId = Annotated[str, Path(**ID_PARAM)]
Reader = Annotated[Principal, Depends(allow("producer", "supervisor", "agent"))]
Desk = Annotated[Principal, Depends(allow("supervisor", "agent"))]
Supervisor = Annotated[Principal, Depends(allow("supervisor"))]
_MS = {"ge": bounds.EPOCH_MS_MIN, "le": bounds.EPOCH_MS_MAX}
From = Annotated[int, Query(alias="from", description="start (included), epoch ms", **_MS)]
To = Annotated[int, Query(alias="to", description="end (excluded), epoch ms", **_MS)]
OptFrom = Annotated[
    int | None, Query(alias="from", description="start (included), epoch ms", **_MS)
]
OptTo = Annotated[int | None, Query(alias="to", description="end (excluded), epoch ms", **_MS)]
By = Annotated[
    str | None,
    Query(pattern="^(hour|day)$", description="a row per hour or day (UTC)"),
]
NameParam = Query(pattern=bounds.NAME_PATTERN, max_length=bounds.NAME_MAX_CHARS)
AgentParam = Query(
    pattern=bounds.ID_PATTERN,
    max_length=bounds.ID_MAX_CHARS,
    description="one agent (an agent token: its own, the default)",
)

# ---- response schemas -----------------------------------------------------------------------
_STR = {"type": "string"}
_INT = {"type": "integer"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _column(name: str) -> dict[str, Any]:
    if name in ("agent", "queue", "channel", "bucket"):
        schema: dict[str, Any] = _STR
    elif name.endswith("_p90_ms"):
        schema = _nullable(_INT)
    elif (
        name.endswith(("_mean_ms", "_rate", "_mean"))
        or name == "utilisation"
        or (name.startswith("sl_") and not name.endswith("_n"))
    ):
        schema = _nullable({"type": "number"})
    else:
        schema = {"type": "integer", "minimum": 0}
    return {**schema, "description": DEFINITIONS_FLAT.get(name, "")}


DEFINITIONS_FLAT = {k: v for defs in DEFINITIONS.values() for k, v in defs.items()}
_TRAIL_ROW: dict[str, dict[str, Any]] = {
    "at": _STR,
    "ts_ms": _INT,
    "source": {"type": "string", "enum": ["lifecycle", "command", "decision", "sla"]},
    "type": _STR,
    "what": _STR,
    "agent": _nullable(_STR),
    "from_agent": _nullable(_STR),
    "by": _nullable(_STR),
    "queue": _nullable(_STR),
    "reason": _nullable(_STR),
    "why": _nullable(_STR),
    "seq": _nullable(_INT),
    "detail": {"type": "object"},
}


def _report_schema(name: str, description: str) -> dict[str, str]:
    cols = COLUMNS[name]
    props = (
        {c: {**_TRAIL_ROW[c], "description": DEFINITIONS[name][c]} for c in cols}
        if name == "trail"
        else {c: _column(c) for c in cols}
    )
    row = {"type": "object", "additionalProperties": False, "properties": props}
    extra = {"trail": "ticket", "agents": "agent", "queues": "queue", "channels": "channel"}
    body: dict[str, Any] = {
        "type": "object",
        "description": description,
        "required": ["report", "tenant", "from_ms", "to_ms", "columns", "rows"],
        "additionalProperties": False,
        "properties": {
            "report": {"const": name},
            "tenant": _STR,
            "from_ms": _INT,
            "to_ms": _INT,
            "columns": {"type": "array", "items": _STR},
            "rows": {"type": "array", "items": row},
        },
    }
    if name in extra:
        body["properties"][extra[name]] = _STR
    return openapi.register(f"{name.capitalize()}Report", body)


HISTORY = _report_schema("trail", "Every event, decision, command and SLA outcome, in order.")
AGENTS = _report_schema("agents", "Per agent over the period (docs/reports.md).")
QUEUES = _report_schema("queues", "Per queue (and hour/day) of the tickets created.")
CHANNELS = _report_schema("channels", "Per channel (and hour/day) of the tickets created.")
KPIS = _report_schema("kpis", "The five KPIs per hour or day of the tickets created.")


# ---- plumbing -------------------------------------------------------------------------------
def _archive(request: Request) -> Engine:
    gateway: Gateway = request.app.state.gateway
    engine = gateway.extras.get("archive")
    if not isinstance(engine, Engine):
        raise Problem(
            503,
            "no archive",
            "this gateway has no archive database (DISPATCH_ARCHIVE_URL)",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    return engine


def _query(request: Request, run: Callable[[Connection], reports.Report]) -> dict[str, Any]:
    """``run`` on a connection of the archive; a database error is a 503."""
    try:
        with _archive(request).connect() as conn:
            return run(conn).as_json()
    except SQLAlchemyError as exc:
        log.warning("archive query failed: %s", exc.__class__.__name__, exc_info=True)
        raise Problem(
            503,
            "archive unavailable",
            "the archive database did not answer",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        ) from None


def _period(from_ms: int, to_ms: int, max_ms: int | None = None) -> Period:
    try:
        if max_ms is None:
            return Period.of(from_ms, to_ms)
        return Period.of(from_ms, to_ms, max_ms=max_ms)
    except BadPeriod as exc:
        raise Problem(400, "bad period", str(exc), field=exc.field) from None


def _now(request: Request) -> int:
    gateway: Gateway = request.app.state.gateway
    return gateway.clock.now_ms()


# ---- routes ---------------------------------------------------------------------------------
@router.get(
    "/tickets/{ticket_id}/history",
    summary="A ticket's full history from the archive: every event, decision, supervisor "
    "command and SLA outcome, with who, why and when",
    responses=answers(200, HISTORY, "the trail, oldest first"),
)
def get_history(
    ticket_id: TicketId,
    request: Request,
    who: Reader,
    from_ms: OptFrom = None,
    to_ms: OptTo = None,
) -> dict[str, Any]:
    period = None  # all of its history
    if from_ms is not None or to_ms is not None:
        period = _period(
            bounds.EPOCH_MS_MIN if from_ms is None else from_ms,
            bounds.EPOCH_MS_MAX if to_ms is None else to_ms,
            max_ms=bounds.EPOCH_MS_MAX,
        )

    def run(conn: Connection) -> reports.Report:
        if who.role == ROLE_AGENT and not held_by(conn, who.tenant, ticket_id, str(who.agent)):
            raise reports.UnknownTicket(ticket_id)
        return reports.trail_report(conn, who.tenant, ticket_id, period)

    try:
        return _query(request, run)
    except reports.UnknownTicket:
        raise Problem(404, "not found", f"no ticket {ticket_id!r}", field="ticket_id") from None


@router.get(
    "/reports/agents",
    summary="Per agent over [from, to): offers, accepts, rejections, time-outs, transfers, "
    "handled, handle/first response/resolution times, CSAT, FCR, reopens, time by status",
    responses=answers(200, AGENTS, "a row per agent (an agent token: its own)"),
)
def get_agents_report(
    request: Request,
    who: Desk,
    from_ms: From,
    to_ms: To,
    agent: Annotated[str | None, AgentParam] = None,
) -> dict[str, Any]:
    if who.role == ROLE_AGENT:
        acting_for(who, agent or str(who.agent))
        agent = who.agent
    period = _period(from_ms, to_ms)
    now = _now(request)
    return _query(
        request, lambda c: reports.agent_report(c, who.tenant, period, now_ms=now, agent=agent)
    )


def _bucket(by: str | None) -> int | None:
    return BUCKETS[by] if by else None


@router.get(
    "/reports/queues",
    summary="Per queue, of the tickets created in [from, to): volume, time to assign, "
    "abandonment, service level per SLA target, first response, resolution, CSAT, FCR",
    responses=answers(200, QUEUES, "a row per queue (and hour or day with ?by=)"),
)
def get_queues_report(
    request: Request,
    who: Supervisor,
    from_ms: From,
    to_ms: To,
    by: By = None,
    queue: Annotated[str | None, NameParam] = None,
) -> dict[str, Any]:
    period = _period(from_ms, to_ms)
    return _query(
        request,
        lambda c: reports.queue_report(c, who.tenant, period, bucket_ms=_bucket(by), queue=queue),
    )


@router.get(
    "/reports/channels",
    summary="Per channel, of the tickets created in [from, to): the queue report's figures",
    responses=answers(200, CHANNELS, "a row per channel (and hour or day with ?by=)"),
)
def get_channels_report(
    request: Request,
    who: Supervisor,
    from_ms: From,
    to_ms: To,
    by: By = None,
    channel: Annotated[str | None, NameParam] = None,
) -> dict[str, Any]:
    period = _period(from_ms, to_ms)
    return _query(
        request,
        lambda c: reports.channel_report(
            c, who.tenant, period, bucket_ms=_bucket(by), channel=channel
        ),
    )


@router.get(
    "/reports/kpis",
    summary="Volume, first response time, resolution time, CSAT and first-contact "
    "resolution per hour or day (default) of [from, to)",
    responses=answers(200, KPIS, "a row per hour or day"),
)
def get_kpis_report(
    request: Request,
    who: Supervisor,
    from_ms: From,
    to_ms: To,
    by: By = None,
) -> dict[str, Any]:
    period = _period(from_ms, to_ms)
    bucket = _bucket(by) or BUCKETS["day"]
    return _query(request, lambda c: reports.kpi_report(c, who.tenant, period, bucket_ms=bucket))
