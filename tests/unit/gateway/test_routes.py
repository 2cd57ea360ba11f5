"""The gateway's routes on the in-memory adapters, with an in-process dispatcher and SLA
tracker: what each answers, what it writes (events that decode with the codec), and that a
refused request writes nothing. Every response is checked against the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.errors import StoreUnavailable
from engine.gateway.deps import MAX_BATCH, MAX_BODY_BYTES
from tests.unit.gateway.harness import TENANT, DownLog, Stack, check_response, ok, problem

pytestmark = pytest.mark.unit


@pytest.fixture
def stack() -> Stack:
    s = Stack()
    s.seed()
    return s


@pytest.fixture
def sup(stack: Stack) -> Iterator[TestClient]:
    yield stack.client("supervisor", name="sue")


def checked(stack: Stack, response: Any) -> Any:
    check_response(stack.doc, response)
    return response


# ---- tickets -----------------------------------------------------------------------------
def test_create_publishes_one_valid_event_and_a_replay_creates_nothing(stack: Stack) -> None:
    crm = stack.client("producer")
    mark = stack.mark()
    body = {"id": "T-1", "channel": "chat", "priority": 2, "attributes": {"crm": "x"}}
    first = ok(checked(stack, crm.post("/v1/tickets", json=body)), 202)
    assert first == {"id": "T-1", "type": "ticket.created", "status": "accepted"}
    [ev] = stack.since(mark)
    assert (ev["type"], ev["tenant"], ev["id"], ev["channel"]) == (
        "ticket.created",
        TENANT,
        "T-1",
        "chat",
    )
    assert isinstance(ev["ts"], int)
    stack.step()
    # a replay, once the ticket is known: the same answer, nothing written
    mark = stack.mark()
    assert ok(crm.post("/v1/tickets", json=body), 202) == first
    assert stack.since(mark) == []


def test_the_gateway_sets_type_tenant_and_version(stack: Stack) -> None:
    crm = stack.client("producer")
    for name, value in (("tenant", "globex"), ("type", "ticket.closed"), ("v", 2)):
        body = {"id": "T-2", "channel": "chat", "priority": 2, name: value}
        problem(checked(stack, crm.post("/v1/tickets", json=body)), 422, name)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "chat", "priority": 2}, "id"),
        ({"id": "T-3", "priority": 2}, "channel"),
        ({"id": "T-3", "channel": "chat", "priority": 9}, "priority"),
        ({"id": "T-3", "channel": "chat", "priority": 2.0}, "priority"),
        ({"id": "T-3", "channel": "chat", "priority": "2"}, "priority"),
        ({"id": "bad id", "channel": "chat", "priority": 2}, "id"),
        ({"id": "T-3", "channel": "chat", "priority": 2, "skills": {"x": 9}}, "skills.x"),
        ([1, 2], None),
    ],
)
def test_an_invalid_ticket_is_refused_naming_the_field(
    stack: Stack, body: Any, field: str | None
) -> None:
    mark = stack.mark()
    r = checked(stack, stack.client("producer").post("/v1/tickets", json=body))
    problem(r, 422, field)
    assert stack.since(mark) == []


def test_not_json_too_large_and_wrong_media_type(stack: Stack) -> None:
    crm = stack.client("producer")
    mark = stack.mark()
    problem(checked(stack, crm.post("/v1/tickets", content=b"{nope")), 400)
    problem(
        checked(
            stack,
            crm.post("/v1/tickets", content=b"id=1", headers={"Content-Type": "text/plain"}),
        ),
        415,
    )
    huge = {"id": "T-4", "channel": "chat", "priority": 2, "attributes": {"a": "x" * 1000}}
    huge["pad"] = "y" * MAX_BODY_BYTES
    problem(checked(stack, crm.post("/v1/tickets", json=huge)), 413)
    problem(checked(stack, crm.post("/v1/tickets", content=b"\xff\xfe")), 400)
    assert stack.since(mark) == []


def test_a_batch_is_all_or_nothing(stack: Stack) -> None:
    crm = stack.client("producer")
    mark = stack.mark()
    good = [{"id": f"B-{i}", "channel": "email", "priority": 3} for i in range(3)]
    bad = [*good, {"id": "B-9", "channel": "email", "priority": 0}]
    problem(
        checked(stack, crm.post("/v1/tickets/batch", json={"tickets": bad})),
        422,
        "tickets[3].priority",
    )
    dup = [*good, good[0]]
    problem(checked(stack, crm.post("/v1/tickets/batch", json={"tickets": dup})), 422, "tickets")
    many = [{"id": f"M-{i}", "channel": "email", "priority": 3} for i in range(MAX_BATCH + 1)]
    problem(checked(stack, crm.post("/v1/tickets/batch", json={"tickets": many})), 413, "tickets")
    problem(checked(stack, crm.post("/v1/tickets/batch", json={"tickets": []})), 422, "tickets")
    wrapped = {"tickets": good, "extra": 1}
    problem(checked(stack, crm.post("/v1/tickets/batch", json=wrapped)), 422, "extra")
    sup = stack.client("supervisor")
    problem(checked(stack, sup.get("/v1/queues", params={"tennant": "x"})), 422, "tennant")
    problem(checked(stack, crm.post("/v1/tickets", content=b"null")), 422)
    assert stack.since(mark) == []
    body = ok(checked(stack, crm.post("/v1/tickets/batch", json={"tickets": good})), 202)
    assert body == {"status": "accepted", "ids": ["B-0", "B-1", "B-2"]}
    assert sorted(e["id"] for e in stack.since(mark)) == ["B-0", "B-1", "B-2"]


def test_lifecycle_events_need_a_known_ticket(stack: Stack) -> None:
    crm = stack.client("producer")
    mark = stack.mark()
    problem(
        checked(stack, crm.post("/v1/tickets/nope/events", json={"kind": "resolved"})),
        404,
        "ticket_id",
    )
    problem(
        checked(stack, crm.post("/v1/tickets/t-wait/events", json={"kind": "bogus"})), 422, "kind"
    )
    problem(
        checked(stack, crm.post("/v1/tickets/t-wait/events", json={"kind": "rated", "rating": 7})),
        422,
        "rating",
    )
    problem(
        checked(stack, crm.post("/v1/tickets/t-wait/events", json={"kind": "resolved", "id": "x"})),
        422,
        "id",
    )
    assert stack.since(mark) == []
    ok(checked(stack, crm.post("/v1/tickets/t-assigned/events", json={"kind": "resolved"})), 202)
    [ev] = stack.since(mark)
    assert (ev["type"], ev["id"]) == ("ticket.resolved", "t-assigned")
    stack.step()
    assert stack.store.ticket(TENANT, "t-assigned").state == "closed"  # type: ignore[union-attr]


# ---- reads -------------------------------------------------------------------------------
def test_get_ticket_shows_sla_clocks_and_the_latest_decision(stack: Stack, sup: TestClient) -> None:
    t = ok(checked(stack, sup.get("/v1/tickets/t-assigned")))
    assert (t["state"], t["agent"], t["queue"], t["priority"]) == ("assigned", "a1", "general", 3)
    d = t["latest_decision"]
    assert (d["type"], d["agent"], d["queue"], d["strategy"], d["candidates"]) == (
        "decision.assigned",
        "a1",
        "general",
        "least_loaded",
        1,
    )
    sla = t["sla"]
    assert sla["policy"] == "standard"
    clocks = {c["target"]: c for c in sla["clocks"]}
    assert set(clocks) == {"first_response", "resolution"}
    fr = clocks["first_response"]
    assert fr["state"] == "running" and fr["deadline_ms"] == fr["started_ms"] + 60_000
    # a first response stops its clock: met
    ok(sup.post("/v1/tickets/t-assigned/events", json={"kind": "first_response"}), 202)
    stack.step()
    t = ok(checked(stack, sup.get("/v1/tickets/t-assigned")))
    fr = {c["target"]: c for c in t["sla"]["clocks"]}["first_response"]
    assert fr["state"] == "met" and fr["stopped_ms"] is not None and fr["remaining_ms"] is None


def test_get_ticket_of_nothing_is_404(stack: Stack, sup: TestClient) -> None:
    problem(checked(stack, sup.get("/v1/tickets/nope")), 404, "ticket_id")
    problem(checked(stack, sup.get("/v1/tickets/bad%20id")), 422, "ticket_id")


def test_queues_and_agents(stack: Stack, sup: TestClient) -> None:
    queues = {q["name"]: q for q in ok(checked(stack, sup.get("/v1/queues")))["queues"]}
    assert list(queues) == ["chat", "billing", "general"]
    assert (queues["general"]["waiting"], queues["chat"]["waiting"]) == (1, 0)
    assert queues["general"]["oldest_age_s"] >= 0
    assert queues["billing"]["eligible_available"] == 1  # a2 only has billing
    assert queues["chat"]["eligible_available"] == 2
    agents = {a["id"]: a for a in ok(checked(stack, sup.get("/v1/agents")))["agents"]}
    assert agents["a1"]["load"] == {"chat": 1, "email": 1}
    assert agents["a1"]["capacity"] == {"chat": 2, "email": 2}
    assert agents["a2"]["skills"] == {"billing": 3}


# ---- agents --------------------------------------------------------------------------------
def test_an_agent_desktop_logs_in_sees_its_offer_and_accepts(stack: Stack) -> None:
    a3 = stack.client("agent", agent="a3")
    problem(checked(stack, a3.get("/v1/agents/a3/work")), 404, "agent_id")
    problem(
        checked(stack, a3.post("/v1/agents/a3/events", json={"kind": "status", "status": "busy"})),
        404,
    )
    login = {"kind": "login", "capacity": {"chat": 1}, "skills": {"tech": 3}}
    ok(checked(stack, a3.post("/v1/agents/a3/events", json=login)), 202)
    stack.step()
    crm = stack.client("producer")
    ok(
        crm.post(
            "/v1/tickets",
            json={"id": "T-a3", "channel": "chat", "priority": 3, "preferred_agent": "a3"},
        )
    )
    stack.step()
    work = ok(checked(stack, a3.get("/v1/agents/a3/work")))
    assert [o["id"] for o in work["offers"]] == ["T-a3"]
    assert work["load"] == {"chat": 1} and work["status"] == "available"
    mark = stack.mark()
    ok(checked(stack, a3.post("/v1/agents/a3/offers/T-a3/accept")), 202)
    [ev] = stack.since(mark)
    assert (ev["type"], ev["id"], ev["agent"]) == ("ticket.accepted", "T-a3", "a3")
    stack.step()
    work = ok(a3.get("/v1/agents/a3/work"))
    assert work["offers"] == [] and [o["state"] for o in work["open"]] == ["assigned"]
    # accepting again: the same answer, nothing written
    mark = stack.mark()
    ok(checked(stack, a3.post("/v1/agents/a3/offers/T-a3/accept")), 202)
    assert stack.since(mark) == []
    # rejecting an assigned ticket is a conflict
    problem(checked(stack, a3.post("/v1/agents/a3/offers/T-a3/reject")), 409, "ticket_id")
    t = ok(a3.get("/v1/tickets/T-a3"))
    assert (t["state"], t["latest_decision"]["step"]) == ("assigned", "accepted")


def test_a_rejected_offer_goes_elsewhere(stack: Stack) -> None:
    a1 = stack.client("agent", agent="a1")
    mark = stack.mark()
    problem(checked(stack, a1.post("/v1/agents/a1/offers/t-wait/reject")), 404, "ticket_id")
    problem(
        checked(stack, a1.post("/v1/agents/a1/offers/t-offer/reject", json={"agent": "a2"})),
        422,
        "agent",
    )
    assert stack.since(mark) == []
    ok(
        checked(stack, a1.post("/v1/agents/a1/offers/t-offer/reject", json={"reason": "lunch"})),
        202,
    )
    [ev] = stack.since(mark)
    assert (ev["type"], ev["agent"], ev["reason"]) == ("ticket.rejected", "a1", "lunch")


def test_claims(stack: Stack) -> None:
    a2 = stack.client("agent", agent="a2")
    mark = stack.mark()
    problem(checked(stack, a2.post("/v1/agents/a2/claim", json={"ticket": "nope"})), 404, "ticket")
    problem(
        checked(stack, a2.post("/v1/agents/a2/claim", json={"ticket": "t-offer"})), 409, "ticket"
    )
    problem(
        checked(stack, a2.post("/v1/agents/a2/claim", json={"supervisor": "me"})), 422, "supervisor"
    )
    assert stack.since(mark) == []
    ok(checked(stack, a2.post("/v1/agents/a2/claim")), 202)
    ok(checked(stack, a2.post("/v1/agents/a2/claim", json={"ticket": "t-wait"})), 202)
    evs = stack.since(mark)
    assert [(e["type"], e["id"], e.get("ticket"), e.get("supervisor")) for e in evs] == [
        ("command.claim", "a2", None, None),
        ("command.claim", "a2", "t-wait", None),
    ]
    # a supervisor claiming for an agent is recorded as the claimer
    mark = stack.mark()
    ok(stack.client("supervisor", name="sue").post("/v1/agents/a2/claim", json={"reason": "help"}))
    [ev] = stack.since(mark)
    assert (ev["supervisor"], ev["reason"]) == ("supervisor:sue", "help")


# ---- commands ------------------------------------------------------------------------------
def test_a_reassign_records_the_token_identity_and_the_reason(
    stack: Stack, sup: TestClient
) -> None:
    mark = stack.mark()
    body = {"id": "t-assigned", "to_agent": "a2", "reason": "a1 is overloaded"}
    ok(checked(stack, sup.post("/v1/commands/reassign", json=body)), 202)
    [ev] = stack.since(mark)
    assert (ev["type"], ev["supervisor"], ev["reason"], ev["to_agent"]) == (
        "command.reassign",
        "supervisor:sue",
        "a1 is overloaded",
        "a2",
    )
    stack.step()
    t = ok(checked(stack, sup.get("/v1/tickets/t-assigned")))
    d = t["latest_decision"]
    assert (t["agent"], d["type"], d["supervisor"]) == (
        "a2",
        "decision.reassigned",
        "supervisor:sue",
    )


@pytest.mark.parametrize(
    ("kind", "body", "status", "field"),
    [
        ("reassign", {"id": "t-assigned", "to_agent": "a2"}, 422, "reason"),
        ("reassign", {"id": "t-assigned", "to_agent": "a2", "reason": "  "}, 422, "reason"),
        ("reassign", {"id": "t-assigned", "to_agent": "a2", "reason": 5}, 422, "reason"),
        (
            "reassign",
            {"id": "t-assigned", "to_agent": "a2", "reason": "r", "supervisor": "mallory"},
            422,
            "supervisor",
        ),
        ("reassign", {"id": "nope", "to_agent": "a2", "reason": "r"}, 404, "id"),
        ("reassign", {"id": "t-assigned", "to_agent": "zz", "reason": "r"}, 404, "to_agent"),
        ("reassign", {"id": "t-assigned", "reason": "r"}, 422, "to_agent"),
        (
            "force_assign",
            {"id": "t-assigned", "to_agent": "a2", "reason": "x" * 1001},
            422,
            "reason",
        ),
        ("pause_queue", {"id": "nosuch", "reason": "r"}, 404, "id"),
        ("raise_priority", {"id": "t-assigned", "priority": 1, "reason": "r"}, 409, None),
        ("raise_priority", {"id": "t-wait", "priority": 0, "reason": "r"}, 422, "priority"),
        ("move_queue", {"id": "t-wait", "queue": "nosuch", "reason": "r"}, 422, "queue"),
        ("move_queue", {"id": "t-offer", "queue": "billing", "reason": "r"}, 409, None),
    ],
)
def test_commands_are_checked_before_anything_is_written(
    stack: Stack, sup: TestClient, kind: str, body: dict[str, Any], status: int, field: str | None
) -> None:
    mark = stack.mark()
    problem(checked(stack, sup.post(f"/v1/commands/{kind}", json=body)), status, field)
    assert stack.since(mark) == []


def test_queue_commands(stack: Stack, sup: TestClient) -> None:
    mark = stack.mark()
    ok(
        checked(
            stack, sup.post("/v1/commands/pause_queue", json={"id": "chat", "reason": "drill"})
        ),
        202,
    )
    ok(
        checked(
            stack, sup.post("/v1/commands/resume_queue", json={"id": "chat", "reason": "done"})
        ),
        202,
    )
    ok(
        checked(
            stack,
            sup.post(
                "/v1/commands/raise_priority", json={"id": "t-wait", "priority": 1, "reason": "vip"}
            ),
        ),
        202,
    )
    ok(
        checked(
            stack,
            sup.post(
                "/v1/commands/move_queue", json={"id": "t-wait", "queue": "billing", "reason": "r"}
            ),
        ),
        202,
    )
    assert sorted(e["type"] for e in stack.since(mark)) == [
        "command.move_queue",
        "command.pause_queue",
        "command.raise_priority",
        "command.resume_queue",
    ]
    stack.step()
    t = ok(sup.get("/v1/tickets/t-wait"))
    assert (t["queue"], t["priority"], t["state"]) == ("billing", 1, "waiting")


# ---- tokens --------------------------------------------------------------------------------
def test_token_administration(stack: Stack) -> None:
    root = stack.client("admin", name="root")
    made = ok(
        checked(
            stack, root.post("/v1/tokens", json={"tenant": TENANT, "role": "agent", "agent": "a9"})
        ),
        201,
    )
    assert made["token"].startswith("dsp_") and made["role"] == "agent" and made["agent"] == "a9"
    listed = ok(checked(stack, root.get("/v1/tokens")))["tokens"]
    assert made["token_id"] in [t["token_id"] for t in listed]
    assert all("token" not in t for t in listed)
    a9 = stack.with_token(made["token"])
    assert a9.get("/v1/agents/a9/work").status_code == 404  # a valid token, no agent yet
    revoked = ok(checked(stack, root.delete(f"/v1/tokens/{made['token_id']}")))
    assert revoked["revoked_ms"] is not None
    problem(checked(stack, a9.get("/v1/agents/a9/work")), 401)
    problem(checked(stack, root.delete(f"/v1/tokens/{made['token_id']}")), 404, "token_id")
    for body, field in (
        ({"tenant": TENANT, "role": "agent"}, "agent"),
        ({"tenant": TENANT, "role": "king"}, "role"),
        ({"tenant": "a b", "role": "producer"}, "tenant"),
        ({"tenant": TENANT, "role": "admin"}, "tenant"),
        ({"tenant": TENANT, "role": "producer", "name": "has space"}, "name"),
        ({"tenant": TENANT, "role": "producer", "extra": "x"}, "extra"),
        ({"role": "producer"}, "tenant"),
    ):
        problem(checked(stack, root.post("/v1/tokens", json=body)), 422, field)


def test_an_admin_acts_in_a_named_known_tenant(stack: Stack) -> None:
    root = stack.client("admin")
    problem(checked(stack, root.get("/v1/queues")), 400, "tenant")
    problem(checked(stack, root.get("/v1/queues", params={"tenant": "ghost"})), 404, "tenant")
    problem(checked(stack, root.get("/v1/queues", params={"tenant": "a b"})), 422, "tenant")
    mark = stack.mark()
    body = {"id": "T-ghost", "channel": "chat", "priority": 1}
    problem(checked(stack, root.post("/v1/tickets", json=body, params={"tenant": "ghost"})), 404)
    assert stack.since(mark) == []
    ok(checked(stack, root.get("/v1/queues", params={"tenant": TENANT})))


def test_a_tenant_token_cannot_name_another_tenant(stack: Stack, sup: TestClient) -> None:
    problem(checked(stack, sup.get("/v1/queues", params={"tenant": "globex"})), 403, "tenant")


# ---- the log and the store unavailable -------------------------------------------------------
def test_503_with_retry_after_while_the_log_is_down() -> None:
    down = DownLog()
    stack = Stack(publisher=down)
    crm = stack.client("producer")
    r = checked(
        stack, crm.post("/v1/tickets", json={"id": "T-5", "channel": "chat", "priority": 1})
    )
    problem(r, 503)
    assert r.headers["Retry-After"] == "5" and down.calls == 1


def test_503_while_the_store_is_down(
    stack: Stack, sup: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_a: Any, **_k: Any) -> Any:
        raise StoreUnavailable("redis: connection refused")

    monkeypatch.setattr(stack.store, "ticket", fail)
    r = checked(stack, sup.get("/v1/tickets/t-wait"))
    problem(r, 503)
    assert r.headers["Retry-After"] == "5"


def test_health_and_metrics(stack: Stack) -> None:
    anon = stack.client(None)
    assert anon.get("/healthz").json() == {"status": "alive"}
    assert anon.get("/readyz").status_code == 200
    problem(anon.get("/v1/queues"), 401)
    text = anon.get("/metrics").text
    assert 'dispatch_gateway_requests_total{method="GET",route="/v1/queues",status="4xx"}' in text
