"""Event streams on a real broker: decisions produced to dispatch.assignments reach SSE
clients of a real uvicorn server whose hub start_streams feeds; a reconnect with
Last-Event-ID, to the same replica or another one, gets exactly the missed events."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
import uvicorn

from consumers.gateway_streams import start_streams, streams_router
from engine import codec
from engine.adapters.kafka import KafkaEventLog, create_topics, default_topic_specs, delete_topics
from engine.adapters.memory import MemoryAgentStore, MemoryLog
from engine.adapters.memory.tokens import MemoryTokenStore
from engine.clock import WallClock
from engine.config import KafkaSettings, Settings
from engine.gateway.app import create_app
from engine.gateway.deps import Gateway
from engine.gateway.hub import StreamHub
from engine.gateway.tokens import mint
from engine.policy_file import load_policy
from engine.ports import TokenInfo
from tests.unit.gateway.stream_helpers import Reader, Sse, decision, events_of, sla, tickets

pytestmark = pytest.mark.integration

WAIT_S = 60.0


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def settings(kafka_bootstrap: str, unique_name: Callable[[str], str]) -> Iterator[Settings]:
    s = Settings(
        kafka=KafkaSettings(bootstrap_servers=(kafka_bootstrap,)),
        topic_prefix=unique_name("sse") + ".",
    )
    create_topics(s, default_topic_specs(s, partitions=2))  # assignments 4, sla.events 2
    yield s
    delete_topics(s, list(s.topics.by_logical().values()))


class Replica:
    """A gateway replica: start_streams' hub and reader, the app, a uvicorn server."""

    def __init__(self, settings: Settings, tokens: MemoryTokenStore) -> None:
        self.hub, self._stop_streams = start_streams(settings)
        gateway = Gateway(
            publisher=MemoryLog(),
            store=MemoryAgentStore(),
            tokens=tokens,
            policy=load_policy(None),
            clock=WallClock(),
        )
        gateway.extras.setdefault("routers", []).append(streams_router(self.hub, heartbeat_s=0.2))
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(create_app(gateway), log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._sock = sock
        self._thread.start()
        wait_for(lambda: self.server.started, "uvicorn to start")
        wait_for(lambda: self.hub.live, "the streams to catch up")

    def close(self) -> None:
        self._stop_streams()
        self.server.should_exit = True
        self._thread.join(WAIT_S)
        self._sock.close()


@pytest.fixture
def tokens() -> tuple[MemoryTokenStore, dict[str, str]]:
    store, named = MemoryTokenStore(), {}
    for name, tenant, role, agent in (
        ("a1", "acme", "agent", "a1"),
        ("supervisor", "acme", "supervisor", None),
    ):
        token, digest, token_id = mint()
        store.add(digest, TokenInfo(token_id, tenant, role, agent, name))
        named[name] = token
    return store, named


@pytest.fixture
def replicas(
    settings: Settings, tokens: tuple[MemoryTokenStore, dict[str, str]]
) -> Iterator[Callable[[], Replica]]:
    made: list[Replica] = []

    def make() -> Replica:
        made.append(Replica(settings, tokens[0]))
        return made[-1]

    yield make
    for replica in made:
        replica.close()


def produce(settings: Settings, *events: dict[str, Any]) -> None:
    with KafkaEventLog(settings.kafka) as log_:
        for ev in events:
            ev["ts"] = int(time.time() * 1000)
            topic = settings.topic(codec.topic_of(ev["type"]))
            log_.send(topic, codec.key_of(ev), codec.encode_valid(ev))
        log_.flush()


def stream(
    client: httpx2.Client, replica: Replica, path: str, token: str, last: str | None = None
) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if last is not None:
        headers["Last-Event-ID"] = last
    return client.stream("GET", replica.url + path, headers=headers)


def test_decisions_reach_sse_clients_and_a_reconnect_resumes_exactly(
    settings: Settings,
    tokens: tuple[MemoryTokenStore, dict[str, str]],
    replicas: Callable[[], Replica],
) -> None:
    token = tokens[1]["a1"]
    produce(settings, *[decision(f"history{i}", agent="a1") for i in range(3)])
    first = replicas()
    assert first.hub.journaled("acme") == 3  # the last minutes were read at start
    path = "/v1/agents/a1/stream"
    with httpx2.Client(timeout=WAIT_S) as client:
        with stream(client, first, path, token) as resp:
            assert resp.status_code == 200
            read = Reader(resp, WAIT_S)
            assert read(0, until="retry")[0].id  # a new stream: from now, with its position
            produce(
                settings,
                *[decision(f"t{i}", kind="offered", agent="a1") for i in range(4)],
                decision("t9", agent="a2"),
                decision("t9", agent="a1", tenant="beta"),
                sla("t1"),
            )
            got = events_of(read(4))
        assert sorted(tickets(got)) == ["t0", "t1", "t2", "t3"]
        assert {b.event for b in got} == {"decision.offered"}
        # the connection is gone: the server notices and frees the subscription
        wait_for(lambda: first.hub.subscribers == 0, "the closed stream to be dropped")

        produce(settings, *[decision(f"t{i}", agent="a1") for i in (4, 5)])
        last = got[1].id or ""
        missed = sorted([*tickets(got[2:]), "t4", "t5"])

        def resume(replica: Replica) -> list[Sse]:
            with stream(client, replica, path, token, last) as resp:
                read = Reader(resp, WAIT_S)
                blocks = read(4)
                blocks += read(0, until="heartbeat")  # and nothing more
            return blocks

        again = resume(first)
        assert sorted(tickets(again)) == missed
        assert not any(b.event == "reset" for b in again)
        # another replica, reading the same partitions in its own order: the same events
        other = replicas()
        elsewhere = resume(other)
        assert sorted(tickets(elsewhere)) == missed
        assert not any(b.event == "reset" for b in elsewhere)


def test_a_wallboard_follows_the_tenant_across_partitions(
    settings: Settings,
    tokens: tuple[MemoryTokenStore, dict[str, str]],
    replicas: Callable[[], Replica],
) -> None:
    replica = replicas()
    events = [decision(f"t{i:02d}", agent=f"a{i % 3}") for i in range(20)]
    with (
        httpx2.Client(timeout=WAIT_S) as client,
        stream(client, replica, "/v1/stream", tokens[1]["supervisor"]) as resp,
    ):
        read = Reader(resp, WAIT_S)
        read(0, until="retry")
        produce(settings, *events, sla("t00"), decision("x", tenant="beta"))
        got = events_of(read(21))
    assert sorted(tickets(got)) == sorted([*(f"t{i:02d}" for i in range(20)), "t00"])
    assert sum(b.event == "sla.breached" for b in got) == 1
    hub: StreamHub = replica.hub
    assert hub.journaled("acme") == 21 and hub.journaled("beta") == 1
