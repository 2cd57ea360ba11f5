"""Grab mode through real Kafka and Redis: two dispatcher pipelines (one consumer group) on a
mixed center (a pull queue with a claim limit beside a push queue); agents claim the same
pooled tickets -- their claims keyed by agent, so both replicas may apply claims of one ticket
at once -- and every ticket is won exactly once, the others hearing 'already claimed'."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from engine import codec
from engine.adapters.kafka import KafkaEventLog, KafkaGroupConsumer
from engine.adapters.redis import RedisAgentStore, client_from_url
from engine.clock import WallClock
from engine.config import Settings
from engine.dispatch.pipeline import Pipeline, PipelineTopics
from engine.dispatch.service import DispatchService
from engine.policy_file import load_policy
from engine.ports import GRAB_CLAIMED, GRAB_POOLED
from producers.sdk import EventProducer
from tests.services import isolated_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TENANT = "grab"
AGENTS = ("ann", "bob", "cid")
POOLED = 12
INPUTS = ("tickets.events", "agents.events", "tickets.lifecycle", "dispatch.commands")
POLICY = """
version: 1
queues:
  - {name: leads, match: {skills_any: [sales]}, strategy: round_robin, mode: pull,
     claim_limit: 4}
  - {name: chat, match: {}, strategy: least_loaded}
"""


class Recorder:
    """The pipelines' event log, remembering every decision published."""

    def __init__(self, log: KafkaEventLog, topic: str) -> None:
        self.log, self.topic = log, topic
        self.decisions: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def send(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[Any] = ()
    ) -> None:
        if topic == self.topic:
            with self.lock:
                self.decisions.append(codec.decode(value))
        with self.lock:
            self.log.send(topic, key, value, headers)

    def flush(self) -> None:
        self.log.flush()


def test_two_agents_claiming_the_same_ticket_one_wins(
    kafka_bootstrap: str, redis_url: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    # Given the test's topics (2 partitions) and Redis prefix, and two dispatcher pipelines
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = isolated_env(kafka_bootstrap, redis_url, unique_name("grab"), partitions=2)
    settings = Settings.from_env(env, dev_env=None)
    kafka = KafkaEventLog(settings.kafka)
    log = Recorder(kafka, settings.topic("dispatch.assignments"))
    producer = EventProducer(kafka, tenant=TENANT, topic_of=settings.topic)
    store = RedisAgentStore(client_from_url(redis_url), prefix=settings.redis_prefix)
    group = unique_name("dispatchers")
    pipelines = [
        Pipeline(
            KafkaGroupConsumer(settings.kafka, [settings.topic(t) for t in INPUTS], group),
            log,
            DispatchService(store, load_policy(policy)),
            WallClock(),
            PipelineTopics(
                settings.topic("dispatch.assignments"),
                settings.topic("dispatch.deadletter"),
                settings.topic("dispatch.notifications"),
            ),
        )
        for _ in range(2)
    ]
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop(p: Pipeline) -> None:
        try:
            while not stop.is_set():
                p.run_once()
        except Exception as exc:  # surfaced by the test (after the stop: shutdown noise)
            if not stop.is_set():
                errors.append(exc)

    threads = [threading.Thread(target=loop, args=(p,), daemon=True) for p in pipelines]
    for t in threads:
        t.start()

    def wait_for(what: str, cond: Callable[[], bool], timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while not cond():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)

    def about(kind: str, **match: Any) -> list[dict[str, Any]]:
        with log.lock:
            return [
                d
                for d in log.decisions
                if d["type"] == f"decision.{kind}" and all(d.get(k) == v for k, v in match.items())
            ]

    try:
        # And three sales agents with room, pooled leads and one chat (push)
        for a in AGENTS:
            producer.login(a, capacity={"email": 10, "chat": 2}, skills={"sales": 1})
        for n in range(POOLED):
            producer.ticket(f"L{n:02d}", channel="email", priority=3, skills={"sales": 1})
        producer.ticket("C1", channel="chat", priority=3)
        producer.flush()
        wait_for("leads pooled", lambda: len(about("queued", reason=GRAB_POOLED)) == POOLED)
        wait_for("the chat pushed", lambda: len(about("assigned", id="C1")) == 1)
        pool = store.pool(TENANT, "ann", WallClock().now_ms(), 100)
        assert [e.ticket_id for e in pool] == [f"L{n:02d}" for n in range(POOLED)]

        # When every agent claims every lead (their commands on both partitions)
        for n in range(POOLED):
            for a in AGENTS:
                producer.command("claim", a, ticket=f"L{n:02d}")
        producer.flush()
        total = POOLED * len(AGENTS)
        wait_for(
            "every claim decided",
            lambda: len(about("assigned", step="initial|claim")) + len(about("rejected")) >= total,
        )
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        for p, t in zip(pipelines, threads, strict=True):
            if not t.is_alive():
                p.consumer.close()
    assert errors == []

    # Then each lead was won exactly once; every other claim of it heard the conflict or,
    # for a winner at its claim limit (4), 'may not claim: claim_limit'
    # (a replica re-publishes a decision another one made meanwhile: the same seq, at least
    # once, as consumers expect)
    published = about("assigned", step="initial|claim")
    won = list({(d["id"], d["seq"]): d for d in published}.values())
    assert sorted(d["id"] for d in won) == [f"L{n:02d}" for n in range(POOLED)]
    for d in about("rejected"):
        assert d["reason"] in (GRAB_CLAIMED, "may not claim: claim_limit"), d
        assert d["agent"] != next(w["agent"] for w in won if w["id"] == d["id"])
    per_agent = {a: sum(1 for d in won if d["agent"] == a) for a in AGENTS}
    assert all(n <= 4 for n in per_agent.values()), per_agent
    # And Redis agrees: each lead is in its winner's open set, the pool is empty
    held = {tid: v.agent.id for v in store.agents(TENANT) for ids in v.open.values() for tid in ids}
    assert {d["id"]: d["agent"] for d in won}.items() <= held.items()
    assert store.pool(TENANT, "ann", WallClock().now_ms(), 100) == []
