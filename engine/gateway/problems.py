"""Errors as ``application/problem+json`` (RFC 9457), each naming the field when there is one.

Handlers raise :class:`Problem`; a codec ``DecodeError`` on a request's event becomes a 422
naming the failing field; FastAPI's own validation errors (path and query parameters) are
rendered the same way. Nothing is written when a request is refused.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from engine.codec import DecodeError
from engine.errors import Unavailable
from engine.gateway.deps import RETRY_AFTER_S

MEDIA_TYPE = "application/problem+json"
# "data.priority must be ...", "data.skills.billing must be ...", "data must contain ['x']"
_FIELD = re.compile(r"^data\.([A-Za-z0-9_.\[\]-]+)")
_REQUIRED = re.compile(r"must contain \['([^']+)'\]")


class Problem(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail = status, title, detail
        self.field, self.headers = field, headers or {}


def field_of(err: DecodeError) -> str | None:
    """The request field a codec error names (``priority``, ``skills.billing``), if any."""
    found = _REQUIRED.search(err.detail) or _FIELD.match(err.detail)
    return found.group(1) if found else None


def invalid_event(err: DecodeError, prefix: str = "") -> Problem:
    field = field_of(err)
    return Problem(
        422,
        "invalid event",
        err.detail,
        field=f"{prefix}{field}" if field else prefix.rstrip(".") or None,
    )


def body(problem: Problem) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "about:blank", "title": problem.title, "status": problem.status}
    if problem.detail:
        out["detail"] = problem.detail
    if problem.field:
        out["field"] = problem.field
    return out


def response(problem: Problem) -> JSONResponse:
    return JSONResponse(
        body(problem), status_code=problem.status, media_type=MEDIA_TYPE, headers=problem.headers
    )


def install(app: FastAPI) -> None:
    """Render every refusal as problem+json."""

    async def on_problem(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return response(exc)

    async def on_validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "path", "query")]
        return response(
            Problem(422, "invalid request", str(first.get("msg", "")), field=".".join(loc) or None)
        )

    async def on_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        # Redis (a read, a look-up before a write) or Kafka did not answer: nothing written.
        return response(
            Problem(503, "unavailable", str(exc), headers={"Retry-After": str(RETRY_AFTER_S)})
        )

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(Unavailable, on_unavailable)
    app.add_exception_handler(RequestValidationError, on_validation)
