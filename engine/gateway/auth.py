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
from engine.gateway.deps import Gateway
from engine.gateway.problems import Problem
from engine.gateway.tokens import ALL_TENANTS, digest
from engine.ports import TokenInfo

ROLE_PRODUCER, ROLE_AGENT, ROLE_SUPERVISOR, ROLE_ADMIN = "producer", "agent", "supervisor", "admin"


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


def _token(request: Request, authorization: str | None) -> TokenInfo:
    """The stored token of ``Authorization: Bearer <token>``; 401 if missing, unknown or
    revoked (read from the store on every request: a revocation applies at once)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(
            401, "unauthorized", "send Authorization: Bearer <token>", headers=UNAUTHORIZED
        )
    gateway: Gateway = request.app.state.gateway
    info = gateway.tokens.find(digest(token.strip()))
    if info is None or info.revoked_ms is not None:
        raise Problem(401, "unauthorized", "unknown or revoked token", headers=UNAUTHORIZED)
    return info


def known_tenant(gateway: Gateway, tenant: str) -> bool:
    """A tenant exists once a token names it or the store holds a ticket or agent of it."""
    if any(t.tenant == tenant and t.revoked_ms is None for t in gateway.tokens.all()):
        return True
    return tenant in gateway.store.tenants()


def principal(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    tenant: Annotated[
        str | None,
        Query(
            description="admin tokens only: the tenant to act in",
            pattern=bounds.TENANT_PATTERN,
            max_length=bounds.TENANT_MAX_CHARS,
        ),
    ] = None,
) -> Principal:
    info = _token(request, authorization)
    acting = info.tenant
    if info.tenant == ALL_TENANTS:
        if tenant is None:
            raise Problem(
                400, "tenant required", "an admin token names it: ?tenant=", field="tenant"
            )
        if not known_tenant(request.app.state.gateway, tenant):
            raise Problem(404, "unknown tenant", f"no tenant {tenant!r}", field="tenant")
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


def admin(
    request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> Principal:
    """The dependency of the token administration routes: admin tokens only (no tenant)."""
    info = _token(request, authorization)
    if info.role != ROLE_ADMIN:
        raise Problem(403, "forbidden", f"role {info.role!r} may not manage tokens")
    return Principal(info.token_id, info.tenant, info.role, info.agent, info.name)


def acting_for(who: Principal, agent_id: str) -> None:
    """403 unless ``who`` may act for ``agent_id`` (an agent token: its own agent only).
    Asked before any look-up, so the answer says nothing about what exists."""
    if not who.may_act_for(agent_id):
        raise Problem(403, "forbidden", "an agent token acts for its own agent only")
