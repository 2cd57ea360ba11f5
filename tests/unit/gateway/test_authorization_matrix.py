"""The authorization matrix: every route x every role x (own tenant, other tenant), plus no
token and a revoked token, in one table-driven test.

The world (``Stack.seed``): tenant ``acme`` has agents a1, a2 and tickets t-offer (offered
to a1), t-assigned (assigned to a1), t-wait (waiting). Tenant ``globex`` has tokens only. An
agent token is agent a1's, in its tenant -- so a globex agent token names the same ids as an
acme one, and must reach nothing of acme. Admin tokens act in ``?tenant=`` (acme, or globex
for "other").

Expected, per route: a role not allowed -> 403; an allowed role in its own tenant -> the
route's success; in the other tenant -> 404 for a route naming acme's ids (they do not
exist there), else success scoped to the other tenant (nothing of acme in the answer, the
event in the other tenant). No token or a revoked one -> 401. A refused request writes
nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.gateway.auth import ROLE_ADMIN
from tests.unit.gateway.harness import OTHER, TENANT, Stack, check_response

pytestmark = pytest.mark.unit

ROLES = ("producer", "agent", "supervisor", "admin")
ALL = frozenset(ROLES)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    ok: int
    roles: frozenset[str]
    body: Any = None
    scoped: bool = True  # names acme's ids: another tenant gets 404
    writes: bool = False  # a success publishes events
    # POST /v1/tickets of an id the tenant has is a replay: answered the same, nothing written
    replay_in_own: bool = False
    params: dict[str, str] = field(default_factory=dict)
    archive: bool = False  # a report route: the stack archives what it publishes

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


PRODUCERS = frozenset({"producer", "supervisor", "admin"})
READERS = frozenset({"producer", "agent", "supervisor", "admin"})
DESKS = frozenset({"agent", "supervisor", "admin"})
SUPERVISORS = frozenset({"supervisor", "admin"})
ADMINS = frozenset({"admin"})
NEW_TICKET = {"id": "t-offer", "channel": "chat", "priority": 2}  # an id acme has: isolated
_NOW_MS = int(time.time() * 1000)
PERIOD = {"from": str(_NOW_MS - 86_400_000), "to": str(_NOW_MS + 86_400_000)}


def _command(kind: str, **body: Any) -> Route:
    return Route(
        "POST", f"/v1/commands/{kind}", 202, SUPERVISORS, {**body, "reason": "matrix"}, writes=True
    )


ROUTES = [
    Route(
        "POST",
        "/v1/tickets",
        202,
        PRODUCERS,
        NEW_TICKET,
        scoped=False,
        writes=True,
        replay_in_own=True,
    ),
    Route(
        "POST",
        "/v1/tickets/batch",
        202,
        PRODUCERS,
        {"tickets": [NEW_TICKET]},
        scoped=False,
        writes=True,
    ),
    Route(
        "POST",
        "/v1/tickets/t-assigned/events",
        202,
        PRODUCERS,
        {"kind": "first_response"},
        writes=True,
    ),
    Route("GET", "/v1/tickets/t-offer", 200, READERS),
    Route("GET", "/v1/queues", 200, SUPERVISORS, scoped=False),
    Route("GET", "/v1/agents", 200, SUPERVISORS, scoped=False),
    Route(
        "POST",
        "/v1/agents/a1/events",
        202,
        DESKS,
        {"kind": "status", "status": "busy"},
        writes=True,
    ),
    Route("GET", "/v1/agents/a1/work", 200, DESKS),
    Route("POST", "/v1/agents/a1/offers/t-offer/accept", 202, DESKS, {}, writes=True),
    Route("POST", "/v1/agents/a1/offers/t-offer/reject", 202, DESKS, {}, writes=True),
    Route("POST", "/v1/agents/a1/claim", 202, DESKS, None, writes=True),
    _command("reassign", id="t-assigned", to_agent="a2"),
    _command("force_assign", id="t-assigned", to_agent="a2"),
    _command("pause_queue", id="chat"),
    _command("resume_queue", id="chat"),
    _command("raise_priority", id="t-wait", priority=1),
    _command("move_queue", id="t-wait", queue="billing"),
    Route("POST", "/v1/tokens", 201, ADMINS, {"tenant": TENANT, "role": "producer"}, scoped=False),
    Route("GET", "/v1/tokens", 200, ADMINS, scoped=False),
    Route("DELETE", "/v1/tokens/{spare}", 200, ADMINS, scoped=False),
    # the archive (an agent: a ticket it held; its own row of the agents report)
    Route("GET", "/v1/tickets/t-offer/history", 200, READERS, archive=True),
    Route(
        "GET",
        "/v1/reports/agents",
        200,
        DESKS,
        scoped=False,
        params={**PERIOD, "agent": "a1"},
        archive=True,
    ),
    *(
        Route(
            "GET",
            f"/v1/reports/{name}",
            200,
            SUPERVISORS,
            scoped=False,
            params=PERIOD,
            archive=True,
        )
        for name in ("queues", "channels", "kpis")
    ),
]
CASES = [
    pytest.param(route, who, id=f"{route.name}-{who}")
    for route in ROUTES
    for who in (
        *(f"{role}/own" for role in ROLES),
        *(f"{role}/other" for role in ROLES),
        "no-token",
        "revoked",
    )
]


def _call(stack: Stack, route: Route, token: str | None, tenant_param: str | None) -> Any:
    client = stack.with_token(token) if token is not None else stack.client(None)
    path = route.path.replace("{spare}", stack.spare_id)
    params = dict(route.params)
    if tenant_param is not None:
        params["tenant"] = tenant_param
    kwargs: dict[str, Any] = {"params": params or None}
    if route.body is not None:
        kwargs["json"] = route.body
    return client.request(route.method, path, **kwargs)


def test_the_world_is_what_the_matrix_expects() -> None:
    stack = Stack()
    stack.seed()
    states = {t: stack.store.ticket(TENANT, t) for t in ("t-offer", "t-assigned", "t-wait")}
    assert {t: (r.state, r.agent) for t, r in states.items() if r} == {
        "t-offer": ("offered", "a1"),
        "t-assigned": ("assigned", "a1"),
        "t-wait": ("waiting", None),
    }
    assert stack.store.tenants() == [TENANT]


@pytest.mark.parametrize(("route", "who"), CASES)
def test_authorization_matrix(route: Route, who: str) -> None:
    # Given the seeded world, a spare token to revoke and tokens of both tenants
    stack = Stack()
    if route.archive:
        stack.with_archive()
    stack.seed()
    stack.spare_id = _spare(stack)
    stack.token("producer", OTHER)  # the other tenant exists (it has a token)
    role, _, where = who.partition("/")
    tenant = TENANT if where != "other" else OTHER
    tenant_param = None
    if who == "no-token":
        token = None
    elif who == "revoked":
        token = stack.token("supervisor")
        info = [t for t in stack.tokens.all() if t.role == "supervisor"][-1]
        assert stack.tokens.revoke(info.token_id, 1)
    else:
        token = stack.token(role, tenant)
        if role == ROLE_ADMIN and not route.path.startswith("/v1/tokens"):
            tenant_param = tenant
    before = stack.mark()
    acme_before = _acme_state(stack)

    # When the route is called
    response = _call(stack, route, token, tenant_param)

    # Then the answer is the matrix's
    check_response(stack.doc, response)
    if token is None or who == "revoked":
        expected = 401
    elif role not in route.roles:
        expected = 403
    elif where == "other" and route.scoped:
        expected = 404
    else:
        expected = route.ok
    assert response.status_code == expected, response.text
    written = stack.since(before)
    if expected >= 400 or (route.replay_in_own and where == "own"):
        assert written == [], "a refused (or replayed) request wrote events"
    elif route.writes:
        assert written and all(ev["tenant"] == tenant for ev in written)
    if where == "other":
        # Nothing of acme changed, and nothing of acme shows in the answer
        stack.step()
        assert _acme_state(stack) == acme_before
        text = response.text
        for name in ("a1", "a2", "t-assigned", "t-wait"):
            if route.path.startswith("/v1/tokens"):
                break
            if name not in route.path and not _in_body(route, name):
                assert f'"{name}"' not in text, f"{name} leaked into {text}"


def _in_body(route: Route, name: str) -> bool:
    return name in repr(route.body) or name in route.params.values()


def _spare(stack: Stack) -> str:
    stack.token("producer", name="spare")
    return next(t.token_id for t in stack.tokens.all() if t.name == "spare")


def _acme_state(stack: Stack) -> Any:
    tickets = {t: stack.store.ticket(TENANT, t) for t in ("t-offer", "t-assigned", "t-wait")}
    shown = {t: (r.state, r.agent, r.queue, r.priority) for t, r in tickets.items() if r}
    agents = [(v.agent.id, v.agent.status, dict(v.open)) for v in stack.store.agents(TENANT)]
    return shown, agents, [e.ticket_id for e in stack.store.waiting(TENANT)]


def test_an_agent_token_acts_for_its_own_agent_only() -> None:
    stack = Stack()
    stack.seed()
    a1 = stack.client("agent", agent="a1")
    before = stack.mark()
    for method, path, body in (
        ("GET", "/v1/agents/a2/work", None),
        ("POST", "/v1/agents/a2/events", {"kind": "status", "status": "away"}),
        ("POST", "/v1/agents/a2/claim", {}),
        ("POST", "/v1/agents/a2/offers/t-offer/accept", {}),
        ("POST", "/v1/agents/nobody/claim", {}),  # the same answer for an unknown agent
    ):
        r = a1.request(method, path, json=body)
        assert r.status_code == 403, (path, r.text)
    assert stack.since(before) == []
    # and an agent sees only tickets it holds or held
    assert a1.get("/v1/tickets/t-wait").status_code == 404
    assert a1.get("/v1/tickets/t-assigned").status_code == 200
