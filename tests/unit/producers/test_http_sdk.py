"""The HTTP SDK (producers/http.py) against the gateway served by uvicorn on a loopback port
(engine.gateway.server.BackgroundServer), on the in-memory adapters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.gateway.server import BackgroundServer
from producers.http import GatewayClient, GatewayError
from tests.unit.gateway.harness import TENANT, DownLog, Stack

pytestmark = pytest.mark.unit


@pytest.fixture
def served() -> Iterator[tuple[Stack, str]]:
    stack = Stack()
    stack.seed()
    server = BackgroundServer(stack.app).start()
    try:
        yield stack, server.url
    finally:
        server.stop()


def test_a_crm_an_agent_desktop_and_a_supervisor(served: tuple[Stack, str]) -> None:
    stack, url = served
    crm = GatewayClient(url, stack.token("producer"))
    assert crm.create_ticket("H-1", channel="chat", priority=2, preferred_agent="a1") == {
        "id": "H-1",
        "type": "ticket.created",
        "status": "accepted",
    }
    assert crm.create_tickets([{"id": "H-2", "channel": "email", "priority": 4}])["ids"] == ["H-2"]
    stack.step()
    desk = GatewayClient(url, stack.token("agent", agent="a1"))
    offers = [o["id"] for o in desk.work("a1")["offers"]]
    assert "H-1" in offers
    desk.accept("a1", "H-1")
    stack.step()
    assert desk.ticket("H-1")["state"] == "assigned"
    boss = GatewayClient(url, stack.token("supervisor", name="sue"))
    boss.reassign("H-1", "a2", reason="a1 goes home")
    stack.step()
    seen = crm.ticket("H-1")
    assert seen["agent"] == "a2"
    assert seen["latest_decision"]["supervisor"] == "supervisor:sue"
    assert {q["name"] for q in boss.queues()} == {"chat", "billing", "general"}
    assert [a["id"] for a in boss.agents()] == ["a1", "a2"]
    crm.ticket_event("H-1", "resolved")
    desk.claim("a1")
    boss.pause_queue("chat", reason="drill")
    boss.resume_queue("chat", reason="done")
    boss.raise_priority("t-wait", 1, reason="vip")
    stack.step()
    boss.move_queue("t-wait", "billing", reason="billing question")
    desk.status("a1", "away")
    desk.logout("a1")


def test_refusals_raise_with_the_problem(served: tuple[Stack, str]) -> None:
    stack, url = served
    crm = GatewayClient(url, stack.token("producer"))
    with pytest.raises(GatewayError) as caught:
        crm.create_ticket("H-3", channel="chat", priority=9)
    assert (caught.value.status, caught.value.field) == (422, "priority")
    assert "priority" in str(caught.value) and not caught.value.retryable
    with pytest.raises(GatewayError) as caught:
        crm.ticket("nope")
    assert caught.value.status == 404
    with pytest.raises(GatewayError) as caught:
        GatewayClient(url, "dsp_wrong").ticket("t-wait")
    assert caught.value.status == 401
    with pytest.raises(GatewayError) as caught:
        GatewayClient("http://127.0.0.1:9", "x", timeout_s=2).ticket("t-wait")
    assert caught.value.status == 0 and caught.value.retryable


def test_a_503_carries_retry_after() -> None:
    stack = Stack(publisher=DownLog())
    server = BackgroundServer(stack.app).start()
    try:
        crm = GatewayClient(server.url, stack.token("producer"))
        with pytest.raises(GatewayError) as caught:
            crm.create_ticket("H-4", channel="chat", priority=1)
    finally:
        server.stop()
    assert (caught.value.status, caught.value.retry_after, caught.value.retryable) == (503, 5, True)


def test_admin_tokens(served: tuple[Stack, str]) -> None:
    stack, url = served
    root = GatewayClient(url, stack.token("admin"), tenant=TENANT)
    made = root.create_token(TENANT, "agent", agent="a2", name="desk-2")
    assert made["token"].startswith("dsp_")
    assert made["token_id"] in [t["token_id"] for t in root.tokens()]
    assert GatewayClient(url, made["token"]).work("a2")["id"] == "a2"
    root.revoke_token(made["token_id"])
    with pytest.raises(GatewayError) as caught:
        GatewayClient(url, made["token"]).work("a2")
    assert caught.value.status == 401
    assert root.queues()  # the admin acts in its tenant
