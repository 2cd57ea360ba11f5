"""The SSE routes through the gateway app (TestClient) on the in-memory adapters: who may
read which stream, the wire format, Last-Event-ID, heartbeats, reset, overflow, 503s."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.adapters.memory import MemoryAgentStore, MemoryLog
from engine.adapters.memory.tokens import MemoryTokenStore
from engine.clock import SimClock
from engine.gateway.app import create_app
from engine.gateway.deps import Gateway
from engine.gateway.hub import parse_position
from engine.gateway.streams import streams_router
from engine.gateway.tokens import mint
from engine.policy_file import load_policy
from engine.ports import TokenInfo
from tests.unit.gateway.stream_helpers import (
    NOW_MS,
    Log,
    Reader,
    Replica,
    decision,
    events_of,
    sla,
    tickets,
)

pytestmark = pytest.mark.unit

WAIT_S = 10.0
HEARTBEAT_S = 0.05


class Desk:
    """The app around one replica's hub, its tokens, and a log to feed the replica."""

    def __init__(self, replica: Replica) -> None:
        self.replica, self.log = replica, Log()
        store = MemoryAgentStore()
        for tenant, agent in (("acme", "a1"), ("acme", "a2"), ("beta", "b1")):
            store.update_agent(tenant, agent, {"status": "available"}, NOW_MS)
        self.tokens: dict[str, str] = {}
        tokens = MemoryTokenStore()
        for name, tenant, role, agent in (
            ("producer", "acme", "producer", None),
            ("a1", "acme", "agent", "a1"),
            ("supervisor", "acme", "supervisor", None),
            ("beta-supervisor", "beta", "supervisor", None),
            ("admin", "*", "admin", None),
        ):
            token, digest, token_id = mint()
            tokens.add(digest, TokenInfo(token_id, tenant, role, agent, name))
            self.tokens[name] = token
        gateway = Gateway(
            publisher=MemoryLog(),
            store=store,
            tokens=tokens,
            policy=load_policy(None),
            clock=SimClock(NOW_MS),
        )
        router = streams_router(replica.hub, heartbeat_s=HEARTBEAT_S, retry_ms=1500)
        gateway.extras["routers"] = [router]
        self.client = TestClient(create_app(gateway))

    def auth(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}

    def add(self, *events: tuple[dict[str, Any], int]) -> None:
        """Append events (with their partitions) to the log and let the replica read them."""
        records = [self.log.add(ev, partition) for ev, partition in events]
        self.replica.read(records, batch=len(records))


@pytest.fixture
def desk() -> Iterator[Desk]:
    d = Desk(Replica())
    with d.client:
        yield d


def test_an_agent_streams_its_own_decisions(desk: Desk) -> None:
    with desk.client.stream("GET", "/v1/agents/a1/stream", headers=desk.auth("a1")) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers["cache-control"] == "no-cache"
        desk.add(
            (decision("t1", kind="offered", agent="a1"), 0),
            (decision("t2", agent="a2"), 1),
            (decision("t1", agent="a1", tenant="beta"), 2),
            (sla("t1"), 0),
            (decision("t1", kind="assigned", agent="a1"), 0),
            (decision("t3", kind="reassigned", agent="a2", reason="from a1"), 1),
        )
        blocks = Reader(resp)(3)
    assert blocks[0].retry == 1500 and blocks[0].event is None
    assert parse_position(blocks[0].id or "") == ((0, 0, 0), (0, 0))
    got = events_of(blocks)
    assert [(b.event, b.data["id"], b.data["tenant"]) for b in got] == [
        ("decision.offered", "t1", "acme"),
        ("decision.assigned", "t1", "acme"),
        ("decision.reassigned", "t3", "acme"),
    ]
    assert all(b.id for b in got)


def test_supervisors_stream_any_agent_of_their_tenant(desk: Desk) -> None:
    with desk.client.stream("GET", "/v1/agents/a2/stream", headers=desk.auth("supervisor")) as resp:
        assert resp.status_code == 200
        desk.add((decision("t1", agent="a1"), 0), (decision("t2", agent="a2"), 0))
        assert tickets(Reader(resp)(1)) == ["t2"]


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        ("a1", "/v1/agents/a2/stream", 404),  # another agent of the tenant
        ("supervisor", "/v1/agents/b1/stream", 404),  # an agent of another tenant
        ("supervisor", "/v1/agents/nobody/stream", 404),
        ("beta-supervisor", "/v1/agents/a1/stream", 404),
        ("producer", "/v1/agents/a1/stream", 403),
        ("producer", "/v1/stream", 403),
        ("a1", "/v1/stream", 403),
        ("admin", "/v1/stream", 400),  # an admin names the tenant
        ("a1", "/v1/agents/a%20b/stream", 422),
    ],
)
def test_who_may_not_read_a_stream(desk: Desk, who: str, path: str, status: int) -> None:
    resp = desk.client.get(path, headers=desk.auth(who))
    assert resp.status_code == status
    assert resp.headers["content-type"] == "application/problem+json"
    assert "beta" not in resp.text or who == "beta-supervisor"


def test_no_token_no_stream(desk: Desk) -> None:
    resp = desk.client.get("/v1/stream")
    assert resp.status_code == 401 and resp.headers["www-authenticate"].startswith("Bearer")


def test_the_tenant_stream_has_every_decision_and_sla_event_of_the_tenant(desk: Desk) -> None:
    with desk.client.stream("GET", "/v1/stream", headers=desk.auth("supervisor")) as resp:
        desk.add(
            (decision("t1", kind="queued", agent=None), 0),
            (decision("t9", tenant="beta"), 1),
            (sla("t1"), 1),
            (sla("t9", tenant="beta"), 0),
            (decision("t1", agent="a1"), 0),
        )
        got = events_of(Reader(resp)(3))
    assert [(b.event, b.data["id"]) for b in got] == [
        ("decision.queued", "t1"),
        ("sla.breached", "t1"),
        ("decision.assigned", "t1"),
    ]


def test_an_admin_streams_the_tenant_it_names(desk: Desk) -> None:
    with desk.client.stream("GET", "/v1/stream?tenant=beta", headers=desk.auth("admin")) as resp:
        desk.add((decision("t1"), 0), (decision("t9", tenant="beta", agent="b1"), 0))
        assert tickets(Reader(resp)(1)) == ["t9"]
    with desk.client.stream(
        "GET", "/v1/agents/b1/stream?tenant=beta", headers=desk.auth("admin")
    ) as resp:
        read = Reader(resp)
        assert tickets(read(0, until="heartbeat")) == []  # a new stream starts now: t9 is past
        desk.add((decision("t10", tenant="beta", agent="b1"), 2))
        assert tickets(read(1)) == ["t10"]


def test_last_event_id_resumes_with_exactly_the_missed_events(desk: Desk) -> None:
    with desk.client.stream("GET", "/v1/stream", headers=desk.auth("supervisor")) as resp:
        desk.add(*[(decision(f"t{i}"), i % 3) for i in range(3)])
        first = events_of(Reader(resp)(3))
    desk.add(*[(decision(f"t{i}"), i % 3) for i in range(3, 6)])
    last = first[1].id or ""
    with desk.client.stream(
        "GET", "/v1/stream", headers=desk.auth("supervisor", **{"Last-Event-ID": last})
    ) as resp:
        read = Reader(resp)
        blocks = read(4)
        assert blocks[0].id is None  # a resume does not restate the position it came with
        desk.add((decision("t6"), 0))
        rest = events_of(blocks) + events_of(read(1))
    assert tickets(first[:2]) + tickets(rest) == [f"t{i}" for i in range(7)]
    assert not any(b.event == "reset" for b in rest)


def test_an_id_the_replica_no_longer_reaches_back_to_starts_with_reset(desk: Desk) -> None:
    replica = Replica(start={(0, 0): 10})
    other = Desk(replica)
    with (
        other.client,
        other.client.stream(
            "GET",
            "/v1/stream",
            headers=other.auth("supervisor", **{"Last-Event-ID": "5.0.0-0.0"}),
        ) as resp,
    ):
        blocks = Reader(resp)(1)
    assert blocks[1].event == "reset" and "reload" in blocks[1].data["reason"]


def test_a_last_event_id_this_stream_never_sent_is_a_400(desk: Desk) -> None:
    resp = desk.client.get(
        "/v1/stream", headers=desk.auth("supervisor", **{"Last-Event-ID": "0x12; DROP"})
    )
    assert resp.status_code == 400
    assert resp.json()["field"] == "Last-Event-ID"


def test_a_quiet_stream_gets_heartbeats_with_its_position(desk: Desk) -> None:
    with desk.client.stream("GET", "/v1/agents/a1/stream", headers=desk.auth("a1")) as resp:
        read = Reader(resp)
        desk.add((decision("t1", agent="a2"), 1), (decision("t2", agent="a2"), 1))
        deadline = time.monotonic() + WAIT_S
        while True:
            beats = [b for b in read(0, until="heartbeat") if b.comment]
            if beats and beats[-1].id == "0.2.0-0.0":
                break
            assert time.monotonic() < deadline, beats
    assert all(b.event is None and b.data is None for b in beats)


def test_a_client_that_falls_behind_gets_overflow_and_the_stream_ends() -> None:
    desk = Desk(Replica(queue_max=2))
    with (
        desk.client,
        desk.client.stream("GET", "/v1/stream", headers=desk.auth("supervisor")) as resp,
    ):
        read = Reader(resp)
        read(0, until="heartbeat")  # the stream waits for events
        # five events in one batch: two fit the queue, the third overflows it
        desk.add(*[(decision(f"t{i}"), 0) for i in range(5)])
        blocks = read.to_end()
        assert tickets(blocks) == []  # two were queued, the third overflowed: all dropped
        assert blocks[-1].event == "overflow" and "Last-Event-ID" in blocks[-1].data["reason"]
    assert desk.replica.hub.subscribers == 0


def test_streams_are_refused_until_the_reader_caught_up() -> None:
    desk = Desk(Replica(live=False))
    with desk.client:
        resp = desk.client.get("/v1/stream", headers=desk.auth("supervisor"))
        assert resp.status_code == 503 and resp.headers["retry-after"] == "5"
        desk.replica.hub.set_live()
        with desk.client.stream("GET", "/v1/stream", headers=desk.auth("supervisor")) as ok:
            assert ok.status_code == 200


def test_too_many_streams_is_a_503() -> None:
    desk = Desk(Replica(max_subscribers=1))
    with desk.client, desk.client.stream("GET", "/v1/stream", headers=desk.auth("supervisor")):
        resp = desk.client.get("/v1/stream", headers=desk.auth("supervisor"))
        assert resp.status_code == 503 and resp.json()["title"] == "too many streams"


def test_a_closed_connection_frees_its_subscription(desk: Desk) -> None:
    for _ in range(3):
        with desk.client.stream("GET", "/v1/stream", headers=desk.auth("supervisor")) as resp:
            read = Reader(resp)  # (a dropped iterator would close the response itself)
            read(0, until="heartbeat")
            assert desk.replica.hub.subscribers == 1
    deadline = time.monotonic() + WAIT_S
    while desk.replica.hub.subscribers:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_closing_the_hub_ends_every_stream(desk: Desk) -> None:
    with desk.client.stream("GET", "/v1/stream", headers=desk.auth("supervisor")) as resp:
        read = Reader(resp)
        read(0, until="heartbeat")
        desk.replica.hub.close()
        read.to_end()
    assert desk.replica.hub.subscribers == 0


def test_openapi_documents_the_streams(desk: Desk) -> None:
    doc = desk.client.get("/openapi.json").json()
    for path in ("/v1/stream", "/v1/agents/{agent_id}/stream"):
        op = doc["paths"][path]["get"]
        assert "text/event-stream" in op["responses"]["200"]["content"]
        assert any(p["name"] == "Last-Event-ID" for p in op["parameters"])
        assert "404" in op["responses"] and "503" in op["responses"]


def test_closing_the_hub_lets_uvicorn_shut_down_with_streams_open() -> None:
    """An event stream never ends by itself: closing the hub when shutdown starts ends the
    open ones, so uvicorn's graceful shutdown does not wait for its time-out."""
    import socket
    import threading

    import httpx2
    import uvicorn

    desk = Desk(Replica())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/stream"
    app = desk.client.app
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=60)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + WAIT_S
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with (
            httpx2.Client(timeout=WAIT_S) as client,
            client.stream("GET", url, headers=desk.auth("supervisor")) as resp,
        ):
            read = Reader(resp)
            read(0, until="heartbeat")
            desk.replica.hub.close()
            server.should_exit = True
            thread.join(WAIT_S * 3)  # far below the 60 s graceful time-out
            assert not thread.is_alive(), "uvicorn waited for the open stream"
            read.to_end()
    finally:
        server.should_exit = True
        thread.join(WAIT_S)
        sock.close()
