"""Redis is lost (SIGKILL, restarted empty): `dispatch reconcile --repair` rebuilds the
state from the topics, and load equals the open assignments again; Redis flushed under live
replicas: they pause (not ready, nothing decided) until `dispatch reconcile --repair`, then
resume, and `dispatch audit` is clean."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from consumers import reconcile
from engine.adapters.kafka import (
    KafkaEventLog,
    KafkaGroupConsumer,
    create_topics,
    default_topic_specs,
)
from engine.adapters.redis import RedisAgentStore, client_from_url
from engine.clock import WallClock
from engine.config import Settings
from engine.devstack import RedisServer
from engine.dispatch.pipeline import Pipeline, PipelineTopics
from engine.dispatch.service import DispatchService
from engine.exitcodes import RET_INVALID, RET_OK
from engine.policy_file import load_policy
from producers.sdk import EventProducer
from tests.chaos.rig import Load, Rig

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300)]

TENANT = "loss"
POLICY = """
version: 1
queues:
  - {name: general, match: {}, strategy: least_loaded}
"""


def test_repair_rebuilds_redis_after_it_is_lost(
    kafka_bootstrap: str,
    redis_server: RedisServer,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    # Given a dispatcher that assigned 30 tickets to 5 agents (capacity 4) and parked 10
    prefix = unique_name("loss") + "."
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    settings = Settings.from_env(
        {
            "DISPATCH_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "DISPATCH_REDIS_URL": redis_server.url,
            "DISPATCH_TOPIC_PREFIX": prefix,
            "DISPATCH_REDIS_PREFIX": prefix.rstrip("."),
            "DISPATCH_POLICY": str(policy),
        },
        dev_env=None,
    )
    create_topics(settings, default_topic_specs(settings, partitions=2))
    log = KafkaEventLog(settings.kafka)
    producer = EventProducer(log, tenant=TENANT, topic_of=settings.topic)
    for i in range(5):
        producer.login(f"a{i}", capacity={"chat": 4})
    for n in range(30):
        producer.ticket(f"t{n:02d}", channel="chat", priority=1 + n % 5)
    producer.flush()
    store = RedisAgentStore(client_from_url(settings.redis_url), prefix=settings.redis_prefix)
    inputs = [settings.topic(t) for t in ("tickets.events", "agents.events")]
    consumer = KafkaGroupConsumer(settings.kafka, inputs, unique_name("grp"))
    pipeline = Pipeline(
        consumer,
        log,
        DispatchService(store, load_policy(policy)),
        WallClock(),
        PipelineTopics(
            settings.topic("dispatch.assignments"), settings.topic("dispatch.deadletter")
        ),
    )
    try:
        for _ in range(200):
            pipeline.run_once()
            if pipeline.stats.records >= 35:
                break
        consumer.commit()
    finally:
        consumer.close()
    before = {v.agent.id: v.open for v in store.agents(TENANT)}
    waiting_before = [w.ticket_id for w in store.waiting(TENANT)]
    assert sum(len(ids) for o in before.values() for ids in o.values()) == 20
    assert len(waiting_before) == 10
    out = io.StringIO()
    assert reconcile.run(settings, do_repair=False, out=out) == RET_OK, out.getvalue()

    # When Redis dies and comes back empty
    redis_server.kill()
    redis_server.restart()
    store = RedisAgentStore(client_from_url(settings.redis_url), prefix=settings.redis_prefix)
    assert store.agents(TENANT) == []

    # Then reconcile reports the drift, and --repair rebuilds the same state
    out = io.StringIO()
    assert reconcile.run(settings, do_repair=False, out=out) == RET_INVALID
    assert "missing in Redis" in out.getvalue()
    out = io.StringIO()
    assert reconcile.run(settings, do_repair=True, out=out) == RET_OK, out.getvalue()
    after = {v.agent.id: v.open for v in store.agents(TENANT)}
    assert after == before
    assert [w.ticket_id for w in store.waiting(TENANT)] == waiting_before
    assert {v.agent.status for v in store.agents(TENANT)} == {"available"}
    # And the rebuilt store goes on working: a resolved ticket frees capacity for the best
    # waiting one, with a version above the one the decisions topic already holds
    agent = next(a for a, o in before.items() if o.get("chat"))
    freed = before[agent]["chat"][0]
    decisions = store.release(TENANT, freed, "resolved", WallClock().now_ms())
    assert [d.kind for d in decisions] == ["released", "assigned"]
    assert decisions[1].ticket_id == waiting_before[0]
    assert decisions[1].seq >= 2
    log.close()


def test_replicas_pause_when_redis_is_flushed_until_reconcile_repair(
    make_rig: Callable[..., Rig], own_redis: RedisServer
) -> None:
    # Given two replicas deciding under load on a Redis of the case's own
    rig = make_rig(redis=own_redis.url)
    rig.wait_assigned(rig.start(2))
    tenants = ("acme", "globex")
    rig.login(tenants, 8, {"chat": 3, "phone": 1})
    load = Load(rig, tenants, tickets=700, rate=100, agents=8)
    load.start()
    load.wait_sent(200)
    rig.wait_decided(load.sent[:150])
    # When Redis loses everything (FLUSHALL) under load
    client_from_url(own_redis.url).flushall()
    # Then both replicas stop deciding and say they are not ready
    deadline = time.monotonic() + 20
    while any(r.ready() for r in rig.replicas) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(r.ready() for r in rig.replicas), rig.logs()
    assert all("dispatching paused" in r.log_tail(400) for r in rig.replicas), rig.logs()
    paused_at = len(rig.watcher.snapshot())
    time.sleep(2.0)
    assert len(rig.watcher.snapshot()) == paused_at, "decisions while paused"
    # When `dispatch reconcile --repair` rebuilds the state from the topics
    out = io.StringIO()
    assert reconcile.run(rig.settings, do_repair=True, out=out) == RET_OK, out.getvalue()
    assert "repair: restored 16 agents" in out.getvalue()
    # Then they resume: every ticket decided, the audit clean
    sent = load.finish()
    rig.wait_decided(sent)
    assert all(r.ready() for r in rig.replicas)
    rig.audit_clean()
