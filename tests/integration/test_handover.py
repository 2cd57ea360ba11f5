"""Handover and queue decisions through a real dispatcher (``consumers.dispatcher.run``,
in-process) over a real Kafka broker and Redis: an agent's logout hands its open tickets over
to another agent, and a pause/resume is a decision with who and why under the queue's key;
every decision names the policy revision."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from consumers import dispatcher
from engine import codec
from engine.adapters.kafka import KafkaEventLog, create_topics, default_topic_specs, read_topic
from engine.adapters.redis import RedisAgentStore, client_from_url
from engine.config import Settings
from engine.devstack.procs import free_port
from engine.policy_file import revision_of
from producers.sdk import EventProducer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

TENANT = "handover"
POLICY = """
version: 1
queues:
  - {name: chat, match: {channel: chat}, strategy: least_loaded, on_logout: requeue}
  - {name: general, match: {}, strategy: round_robin}
"""


@pytest.fixture
def settings(
    kafka_bootstrap: str, redis_url: str, unique_name: Callable[[str], str], tmp_path: Path
) -> Settings:
    prefix = unique_name("ho") + "."
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    s = Settings.from_env(
        {
            "DISPATCH_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "DISPATCH_REDIS_URL": redis_url,
            "DISPATCH_TOPIC_PREFIX": prefix,
            "DISPATCH_REDIS_PREFIX": prefix.rstrip("."),
            "DISPATCH_POLICY": str(policy),
            "DISPATCH_GROUP": unique_name("grp"),
            "DISPATCH_HTTP_PORT": str(free_port()),
        },
        dev_env=None,
    )
    create_topics(s, default_topic_specs(s, partitions=2))
    return s


@pytest.fixture
def running(settings: Settings) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(settings, stop), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive()


def until(what: str, check: Callable[[], Any], timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.1)


def decisions(settings: Settings) -> list[tuple[bytes | None, dict[str, Any]]]:
    records = read_topic(settings.kafka, settings.topic("dispatch.assignments"))
    return [(r.key, dict(codec.decode(r.value))) for r in records]


def test_logout_hands_over_and_pause_resume_are_decisions(
    settings: Settings, running: None
) -> None:
    revision = revision_of(POLICY)
    log = KafkaEventLog(settings.kafka)
    producer = EventProducer(log, tenant=TENANT, topic_of=settings.topic)
    store = RedisAgentStore(client_from_url(settings.redis_url), prefix=settings.redis_prefix)

    # Given ann holding two chats and bob logged in with room
    producer.login("ann", capacity={"chat": 2})
    producer.flush()
    until("ann logged in", lambda: store.agents(TENANT))
    producer.ticket("c1", channel="chat", priority=3)
    producer.ticket("c2", channel="chat", priority=3)
    producer.flush()

    def held_by(agent: str) -> bool:
        recs = [store.ticket(TENANT, t) for t in ("c1", "c2")]
        return all(r is not None and r.agent == agent for r in recs)

    until("ann holds both chats", lambda: held_by("ann"))
    producer.login("bob", capacity={"chat": 2})
    producer.flush()
    until("bob logged in", lambda: len(store.agents(TENANT)) == 2)

    # When a supervisor pauses and resumes a queue, and ann logs out
    producer.command("pause_queue", "general", supervisor="sup", reason="training")
    producer.command("resume_queue", "general", supervisor="sup", reason="done")
    producer.logout("ann")
    producer.flush()

    # Then both chats move to bob, and ann's load is 0, bob's 2 (no drift)
    until("bob holds both chats", lambda: held_by("bob"))
    loads = {v.agent.id: v.load("chat") for v in store.agents(TENANT)}
    assert loads == {"ann": 0, "bob": 2}

    # And the decisions topic says so: a handed_over per ticket naming ann and the cause,
    # then the assignment to bob, every one naming the policy revision
    def published() -> list[tuple[bytes | None, dict[str, Any]]] | None:
        got = decisions(settings)
        kinds = {ev["type"] for _, ev in got}
        wanted = {"decision.handed_over", "decision.paused", "decision.resumed"}
        return got if wanted <= kinds and len(got) >= 8 else None

    got = until("the decisions are published", published)
    by_ticket: dict[str, list[dict[str, Any]]] = {}
    for _, ev in got:
        by_ticket.setdefault(ev["id"], []).append(ev)
    for tid in ("c1", "c2"):
        trail = sorted(by_ticket[tid], key=lambda ev: ev["seq"])
        assert [(ev["type"], ev["agent"]) for ev in trail][-2:] == [
            ("decision.handed_over", "ann"),
            ("decision.assigned", "bob"),
        ]
        assert trail[-2]["reason"] == "logout"
        assert trail[-1]["ticket_ts"] == trail[0]["ticket_ts"]  # its own age
        assert {ev["policy"] for ev in trail} == {revision}
    # And pause/resume are queue decisions with who and why, under the queue's key
    queue_key = codec.record_key(TENANT, "#queue:general")
    queue = [(key, ev) for key, ev in got if ev["type"] in ("decision.paused", "decision.resumed")]
    assert [(key, ev["type"], ev["supervisor"], ev["why"], ev["seq"]) for key, ev in queue] == [
        (queue_key, "decision.paused", "sup", "training", 0),
        (queue_key, "decision.resumed", "sup", "done", 0),
    ]
    assert {ev["policy"] for _, ev in queue} == {revision}
