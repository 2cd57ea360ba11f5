"""Two dispatcher processes, one SIGKILLed mid-stream: the guarantees hold (see architecture.md)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine import codec
from engine.adapters.kafka import (
    KafkaEventLog,
    KafkaGroupConsumer,
)
from engine.adapters.redis import RedisAgentStore, client_from_url
from engine.config import Settings
from engine.dispatch.reconcile import agent_drift, expected_state
from producers.sdk import EventProducer
from tests.e2e.harness import DispatcherProc, Ledger, decode_all, dispatcher_env, read_topic
from tests.services import isolated_env

pytestmark = [pytest.mark.e2e, pytest.mark.chaos, pytest.mark.timeout(600)]

TICKETS = 10_000
AGENTS = 40
RATE_PER_S = 800
TENANT = "e2e"
POLICY = """
version: 1
regions: {north: {neighbors: [south]}, south: {neighbors: [north]}}
queues:
  - name: billing
    match: {skills_any: [billing]}
    strategy: least_loaded
    region_ladder: [{after_s: 2, widen: neighbors}]
  - name: general
    match: {}
    strategy: round_robin
"""


def _agents(rng: random.Random) -> list[dict]:
    out = []
    for i in range(AGENTS):
        skills = {"general": 1 + i % 3}
        if i % 2 == 0:
            skills["billing"] = 1 + i % 4
        out.append(
            {
                "id": f"a{i:02d}",
                "capacity": {"chat": 3, "phone": 1},
                "skills": skills,
                "regions": ["north" if i % 3 else "south"],
                "team": "t",
            }
        )
    return out


class Desks(threading.Thread):
    """Agent desktops: resolve every ticket a short while after it reaches an agent."""

    def __init__(self, settings: Settings, producer: EventProducer, group: str) -> None:
        super().__init__(daemon=True)
        self.consumer = KafkaGroupConsumer(
            settings.kafka, [settings.topic("dispatch.assignments")], group
        )
        self.producer = producer
        self.stop = threading.Event()
        self.resolved: set[str] = set()
        self.pending: list[tuple[float, str, str]] = []
        self.lock = threading.Lock()
        self.rng = random.Random(3)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # surfaced by the test, which fails fast
            self.error = exc
            raise

    def _run(self) -> None:
        while not self.stop.is_set():
            for rec in self.consumer.poll(2000, 100):
                d = codec.decode(rec.value)
                if d["type"] in ("decision.assigned", "decision.reassigned") and d.get("agent"):
                    due = time.monotonic() + self.rng.uniform(0.05, 0.4)
                    self.pending.append((due, d["id"], d["agent"]))
            now = time.monotonic()
            due = [p for p in self.pending if p[0] <= now]
            self.pending = [p for p in self.pending if p[0] > now]
            for _, tid, agent in due:
                if tid not in self.resolved:
                    self.producer.lifecycle("resolved", tid, agent)
                    self.resolved.add(tid)
            if due:
                self.producer.flush()
        self.consumer.close()


def test_two_dispatchers_with_one_killed_keep_every_invariant(
    kafka_bootstrap: str, redis_url: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    # Given two dispatcher processes on 4-partition topics and 40 agents logged in
    base = isolated_env(
        kafka_bootstrap,
        redis_url,
        unique_name("e2e"),
        partitions=4,
        DISPATCH_GROUP=unique_name("dispatchers"),
        DISPATCH_HTTP_PORT="0",
    )
    settings = Settings.from_env(base, dev_env=None)
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = dispatcher_env(base, DISPATCH_POLICY=str(policy))
    procs = [DispatcherProc(env, tmp_path / f"d{i}.log") for i in range(2)]
    store = RedisAgentStore(client_from_url(redis_url), prefix=base["DISPATCH_REDIS_PREFIX"])
    log = KafkaEventLog(settings.kafka)
    producer = EventProducer(log, tenant=TENANT, topic_of=settings.topic)
    rng = random.Random(11)
    capacity_violations: list[str] = []
    try:
        for p in procs:
            p.start()
        agents = _agents(rng)
        for a in agents:
            producer.login(a.pop("id"), **a)
        producer.flush()
        desks = Desks(settings, producer, unique_name("desks"))
        desks.start()

        # When 10,000 tickets arrive while agents come and go, and one dispatcher dies
        t0 = time.monotonic()
        for n in range(TICKETS):
            producer.ticket(
                f"t{n:05d}",
                channel=rng.choice(["chat", "phone"]),
                priority=rng.randint(1, 5),
                skills={"billing": rng.randint(1, 3)} if rng.random() < 0.4 else {},
                region=rng.choice(["north", "south"]),
            )
            if n % 500 == 250:
                who = f"a{rng.randrange(AGENTS):02d}"
                producer.status(who, "away")
                producer.status(who, "available")
            if n == 3000:
                procs[0].kill()
            if n == 5000:
                procs[0].start()
            if n % 200 == 0:
                producer.flush()
                _check_capacity(store, capacity_violations)
                lag = n / RATE_PER_S - (time.monotonic() - t0)
                if lag > 0:
                    time.sleep(lag)
        producer.flush()

        # Then every ticket is eventually resolved
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and len(desks.resolved) < TICKETS:
            assert desks.error is None, f"agent desktops failed: {desks.error!r}"
            _check_capacity(store, capacity_violations)
            time.sleep(0.5)
        time.sleep(2)
        desks.stop.set()
        desks.join(30)
        codes = [p.terminate() for p in procs]
    finally:
        for p in procs:
            p.cleanup()
        log.close()

    assert codes == [0, 0], "\n\n".join(p.log_tail() for p in procs)
    decisions = decode_all(
        read_topic(settings, settings.topic("dispatch.assignments"), unique_name("check"))
    )
    assert max(d.get("load", 0) for d in decisions) >= 2, "decisions carry the agent's load"
    ledger = Ledger()
    ledger.feed(decisions)
    ids = {f"t{n:05d}" for n in range(TICKETS)}
    assert ids - ledger.decided == set(), "tickets without any decision (lost)"
    assert ids - desks.resolved == set(), "tickets never assigned"
    assert ledger.violations == []
    assert capacity_violations == []
    # No drift: the store's open tickets equal the decisions (all resolved by now).
    drift = [
        d for d in agent_drift(TENANT, expected_state(decisions), store.agents(TENANT)) if not d.ok
    ]
    assert drift == []
    assert all(v.load(ch) == 0 for v in store.agents(TENANT) for ch in ("chat", "phone"))
    assert store.waiting(TENANT) == []
    dead = read_topic(settings, settings.topic("dispatch.deadletter"), unique_name("dlq"), idle_s=1)
    assert dead == []


def _check_capacity(store: RedisAgentStore, violations: list[str]) -> None:
    """Sampled from Redis: no agent over capacity; each waiting queue in priority-then-age
    order (the policy has no aging)."""
    for v in store.agents(TENANT):
        for ch, ids in v.open.items():
            if len(ids) > v.agent.capacity.get(ch, 0):
                violations.append(f"{v.agent.id} {ch}: {len(ids)} > {v.agent.capacity.get(ch, 0)}")
    for queue in ("billing", "general"):
        order = [(w.priority, w.ticket_ts, w.ticket_id) for w in store.waiting(TENANT, queue)]
        if order != sorted(order):
            violations.append(f"waiting queue {queue} out of priority order: {order[:10]}")
