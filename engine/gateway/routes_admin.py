"""Token administration over HTTP, for admin tokens: ``POST /v1/tokens`` (the token is in
the answer once; only its hash is kept), ``GET /v1/tokens`` (revoked ones included, never a
token or its hash), ``DELETE /v1/tokens/{token_id}``. The same as ``dispatch tokens
create|list|revoke``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool

from engine.gateway import responses
from engine.gateway.auth import Principal, admin
from engine.gateway.deps import MAX_BODY_BYTES, Gateway
from engine.gateway.openapi import answers, body_of
from engine.gateway.problems import Problem
from engine.gateway.tokens import TOKEN_ID_HEX, GrantError, grant
from engine.gateway.writes import an_object, json_body

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])
Admin = Annotated[Principal, Depends(admin)]
TokenId = Annotated[
    str, Path(pattern=f"^[0-9a-f]{{{TOKEN_ID_HEX}}}$", description="a token's public id")
]
FIELDS = ("tenant", "role", "agent", "name")


def _gw(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


@router.post(
    "",
    status_code=201,
    summary="Issue a token (shown once)",
    openapi_extra=body_of(responses.TOKEN_REQUEST),
    responses=answers(201, responses.TOKEN_CREATED, "the new token"),
)
async def create_token(request: Request, who: Admin) -> dict[str, Any]:
    gw = _gw(request)
    body = an_object(await json_body(request, MAX_BODY_BYTES))
    for key, value in body.items():
        if key not in FIELDS:
            raise Problem(422, "invalid request", f"unknown field {key!r}", field=key)
        if not isinstance(value, str):
            raise Problem(422, "invalid request", "a string", field=key)
    for key in ("tenant", "role"):
        if key not in body:
            raise Problem(422, "invalid request", f"{key} is required", field=key)
    try:
        token, info = await run_in_threadpool(
            grant,
            gw.tokens,
            body["tenant"],
            body["role"],
            gw.clock.now_ms(),
            agent=body.get("agent") or None,
            name=body.get("name", ""),
        )
    except GrantError as exc:
        field = exc.errors[0].split(":", 1)[0]
        raise Problem(422, "invalid token request", str(exc), field=field) from None
    return {"token": token, **asdict(info)}


@router.get(
    "",
    summary="Every token (revoked ones included)",
    responses=answers(200, responses.TOKENS, "the tokens"),
)
def list_tokens(request: Request, who: Admin) -> dict[str, Any]:
    return {"tokens": [asdict(t) for t in _gw(request).tokens.all()]}


@router.delete(
    "/{token_id}",
    summary="Revoke a token (at once: tokens are checked on every request)",
    responses=answers(200, responses.TOKEN, "the revoked token"),
)
def revoke_token(token_id: TokenId, request: Request, who: Admin) -> dict[str, Any]:
    gw = _gw(request)
    if not gw.tokens.revoke(token_id, gw.clock.now_ms()):
        raise Problem(404, "not found", f"no active token {token_id!r}", field="token_id")
    info = next(t for t in gw.tokens.all() if t.token_id == token_id)
    return asdict(info)
