"""The archive's routes (``GET /v1/tickets/{id}/history``, ``GET /v1/reports/...``) on the
in-memory stack with an archive fed from its log: a ticket's steps show with who and why,
reports are scoped to the token's tenant (and an agent token to its own agent), and
unknown tickets, hostile ids and bad periods are refused as documented. Every response
is checked against the OpenAPI document."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.unit.gateway.harness import OTHER, Stack, check_response, ok, problem

pytestmark = pytest.mark.unit

NOW = int(time.time() * 1000)
DAY = 86_400_000
PERIOD = {"from": NOW - DAY, "to": NOW + DAY}


@pytest.fixture
def stack() -> Stack:
    s = Stack()
    s.with_archive()
    s.seed()
    return s


def checked(stack: Stack, response: Any) -> Any:
    check_response(stack.doc, response)
    return response


def test_history_shows_each_step_with_who_and_why(stack: Stack) -> None:
    a1 = stack.client("agent", agent="a1")
    sue = stack.client("supervisor", name="sue")
    crm = stack.client("producer")
    ok(checked(stack, a1.post("/v1/agents/a1/offers/t-offer/accept", json={})), 202)
    stack.step()
    body = {"id": "t-offer", "to_agent": "a2", "reason": "a1 ends the shift"}
    ok(checked(stack, sue.post("/v1/commands/reassign", json=body)), 202)
    stack.step()
    ok(checked(stack, crm.post("/v1/tickets/t-offer/events", json={"kind": "resolved"})), 202)
    stack.step()
    history = ok(checked(stack, crm.get("/v1/tickets/t-offer/history")))
    assert (history["report"], history["ticket"], history["tenant"]) == (
        "trail",
        "t-offer",
        "acme",
    )
    steps = [(r["what"], r["agent"], r["by"]) for r in history["rows"]]
    assert steps[0] == ("ticket created", None, None)
    assert ("offered", "a1", None) in steps
    assert ("offer accepted", "a1", None) in steps
    assert ("supervisor reassign", "a2", "supervisor:sue") in steps
    assert ("transferred", "a2", "supervisor:sue") in steps
    assert steps[-2:] == [("ticket resolved", None, None), ("released", "a2", None)]
    transfer = next(r for r in history["rows"] if r["what"] == "transferred")
    assert (transfer["from_agent"], transfer["why"]) == ("a1", "a1 ends the shift")
    times = [r["ts_ms"] for r in history["rows"]]
    assert times == sorted(times)
    # bounded: nothing before the accept
    accepted = next(r["ts_ms"] for r in history["rows"] if r["what"] == "offer accepted")
    later = ok(crm.get("/v1/tickets/t-offer/history", params={"from": accepted}))
    assert later["rows"] and all(r["ts_ms"] >= accepted for r in later["rows"])


def test_reports_for_a_supervisor(stack: Stack) -> None:
    sue = stack.client("supervisor")
    agents = ok(checked(stack, sue.get("/v1/reports/agents", params=PERIOD)))
    rows = {r["agent"]: r for r in agents["rows"]}
    assert rows["a1"]["offered"] == 1 and rows["a1"]["assigned"] == 1  # t-offer, t-assigned
    assert rows["a1"]["logged_in_ms"] >= 0 and rows["a2"]["offered"] == 0
    queues = ok(checked(stack, sue.get("/v1/reports/queues", params={**PERIOD, "by": "hour"})))
    assert sum(r["created"] for r in queues["rows"]) == 3
    assert all(r["bucket_ms"] % 3_600_000 == 0 for r in queues["rows"])
    channels = ok(checked(stack, sue.get("/v1/reports/channels", params=PERIOD)))
    assert sorted(r["channel"] for r in channels["rows"]) == ["chat", "email", "phone"]
    kpis = ok(checked(stack, sue.get("/v1/reports/kpis", params=PERIOD)))
    assert sum(r["created"] for r in kpis["rows"]) == 3
    one = ok(sue.get("/v1/reports/channels", params={**PERIOD, "channel": "phone"}))
    assert [r["channel"] for r in one["rows"]] == ["phone"]


def test_an_agent_sees_its_own_row_and_the_tickets_it_held(stack: Stack) -> None:
    a1 = stack.client("agent", agent="a1")
    own = ok(checked(stack, a1.get("/v1/reports/agents", params=PERIOD)))
    assert [r["agent"] for r in own["rows"]] == ["a1"]
    problem(checked(stack, a1.get("/v1/reports/agents", params={**PERIOD, "agent": "a2"})), 403)
    problem(checked(stack, a1.get("/v1/reports/queues", params=PERIOD)), 403)
    problem(checked(stack, a1.get("/v1/reports/kpis", params=PERIOD)), 403)
    assert ok(checked(stack, a1.get("/v1/tickets/t-assigned/history")))["rows"]
    # t-wait was never offered nor assigned to a1: like a missing ticket
    problem(checked(stack, a1.get("/v1/tickets/t-wait/history")), 404, "ticket_id")
    producer = stack.client("producer")
    problem(checked(stack, producer.get("/v1/reports/agents", params=PERIOD)), 403)


def test_another_tenant_sees_nothing(stack: Stack) -> None:
    other = stack.client("supervisor", OTHER)
    problem(checked(stack, other.get("/v1/tickets/t-offer/history")), 404, "ticket_id")
    for name in ("agents", "queues", "channels", "kpis"):
        body = ok(checked(stack, other.get(f"/v1/reports/{name}", params=PERIOD)))
        assert (body["tenant"], body["rows"]) == (OTHER, [])


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/v1/tickets/nope/history", {}, 404, "ticket_id"),
        ("/v1/tickets/t{1}/history", {}, 422, "ticket_id"),
        ("/v1/tickets/a|b/history", {}, 422, "ticket_id"),
        ("/v1/tickets/t-offer/history", {"from": "x"}, 422, "from"),
        ("/v1/tickets/t-offer/history", {"from": 5, "to": 5}, 400, "to"),
        ("/v1/reports/kpis", {"to": NOW}, 422, "from"),
        ("/v1/reports/kpis", {"from": NOW, "to": NOW - 1}, 400, "to"),
        ("/v1/reports/kpis", {"from": 0, "to": NOW}, 400, "to"),  # longer than 366 days
        ("/v1/reports/kpis", {"from": "1.5", "to": NOW}, 422, "from"),
        ("/v1/reports/kpis", {"from": -1, "to": NOW}, 422, "from"),
        ("/v1/reports/kpis", {"from": 0, "to": 10**20}, 422, "to"),
        ("/v1/reports/kpis", {**PERIOD, "by": "week"}, 422, "by"),
        ("/v1/reports/kpis", {**PERIOD, "bye": "day"}, 422, "bye"),
        ("/v1/reports/queues", {**PERIOD, "queue": "a:b"}, 422, "queue"),
        ("/v1/reports/agents", {**PERIOD, "agent": "x'; drop table decisions"}, 422, "agent"),
    ],
)
def test_bad_requests_are_refused(
    stack: Stack, path: str, params: dict[str, Any], status: int, field: str
) -> None:
    sue = stack.client("supervisor")
    problem(checked(stack, sue.get(path, params=params)), status, field)


def test_without_an_archive_the_routes_answer_503() -> None:
    stack = Stack()
    stack.seed()
    sue = stack.client("supervisor")
    for path, params in (
        ("/v1/tickets/t-offer/history", {}),
        ("/v1/reports/agents", PERIOD),
        ("/v1/reports/kpis", PERIOD),
    ):
        r = checked(stack, sue.get(path, params=params))
        problem(r, 503)
        assert r.headers["Retry-After"] == "5"


def test_an_archive_that_fails_is_a_503(stack: Stack) -> None:
    from sqlalchemy import text

    assert stack.archive is not None
    with stack.archive.engine.begin() as conn:
        conn.execute(text("DROP TABLE decisions"))
    r = checked(stack, stack.client("supervisor").get("/v1/reports/agents", params=PERIOD))
    assert problem(r, 503)["title"] == "archive unavailable"
