"""Who is asking: the bearer token, resolved per request, as a per-route dependency.

``principal`` turns ``Authorization: Bearer <token>`` into a :class:`Principal` (401 without
a valid, unrevoked token). ``allow(*roles)`` is the dependency a route declares; the tenant
of every request is the token's (an admin token names one with ``?tenant=``). A request for
an id the token's tenant does not have is answered 404 like a missing one: nobody learns
what another tenant holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request

from engine.core import bounds
from engine.gateway.problems import Problem
from engine.gateway.tokens import ALL_TENANTS, digest

ROLE_AGENT, ROLE_ADMIN = "agent", "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    token_id: str
    tenant: str  # the tenant the request acts in (an admin's ?tenant=)
    role: str
    agent: str | None = None
    name: str = ""

    @property
    def who(self) -> str:
        """The identity recorded in commands and manual changes."""
        return f"{self.role}:{self.name or self.token_id}"

    def may_act_for(self, agent_id: str) -> bool:
        """An agent token acts only for its own agent; other roles that reach an agent route
        act for any agent of their tenant."""
        return self.role != ROLE_AGENT or self.agent == agent_id


UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="dispatch"'}


def principal(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    tenant: Annotated[str | None, Query(description="admin tokens only: the tenant")] = None,
) -> Principal:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Problem(
            401, "unauthorized", "send Authorization: Bearer <token>", headers=UNAUTHORIZED
        )
    info = request.app.state.gateway.tokens.find(digest(token.strip()))
    if info is None or info.revoked_ms is not None:
        raise Problem(401, "unauthorized", "unknown or revoked token", headers=UNAUTHORIZED)
    acting = info.tenant
    if info.tenant == ALL_TENANTS:
        if tenant is None:
            raise Problem(
                400, "tenant required", "an admin token names it: ?tenant=", field="tenant"
            )
        if not bounds.TENANT_RE.fullmatch(tenant):
            raise Problem(422, "invalid tenant", bounds.TENANT_PATTERN, field="tenant")
        acting = tenant
    elif tenant is not None and tenant != info.tenant:
        raise Problem(403, "forbidden", "this token acts in its own tenant only", field="tenant")
    return Principal(info.token_id, acting, info.role, info.agent, info.name)


def allow(*roles: str) -> Callable[..., Principal]:
    """The dependency of a route that these roles (and admin) may call."""
    permitted = {*roles, ROLE_ADMIN}

    def dependency(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.role not in permitted:
            raise Problem(403, "forbidden", f"role {who.role!r} may not do this")
        return who

    return dependency
