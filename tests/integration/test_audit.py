"""`dispatch audit` on real Kafka and Redis: a dispatcher pipeline's run audits clean; a
ticket SADDed into a second agent's open set and a stale decision record make it exit 1
naming exactly the checks they break."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from engine import codec
from engine.adapters.kafka import KafkaEventLog, KafkaGroupConsumer
from engine.adapters.redis import RedisAgentStore, client_from_url, keys
from engine.cli.main import main
from engine.clock import WallClock
from engine.config import Settings
from engine.dispatch.pipeline import Pipeline, PipelineTopics
from engine.dispatch.service import DispatchService
from engine.exitcodes import RET_INVALID, RET_OK
from engine.policy_file import load_policy
from producers.sdk import EventProducer
from tests.services import isolated_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TENANT = "audit"
TICKETS = 300
AGENTS = 8
INPUTS = ("tickets.events", "agents.events", "tickets.lifecycle", "dispatch.commands")
POLICY = """
version: 1
aging: {per_priority_s: 60}
queues:
  - {name: billing, match: {skills_any: [billing]}, strategy: least_loaded}
  - {name: general, match: {}, strategy: round_robin}
"""
GUARANTEES = (
    "decided",
    "one_agent",
    "capacity",
    "drift",
    "priority_order",
    "last_record",
    "explained",
)


class Recorder:
    """The pipeline's event log, remembering every decision it published (in order)."""

    def __init__(self, log: KafkaEventLog, topic: str) -> None:
        self.log, self.topic = log, topic
        self.decisions: list[dict[str, Any]] = []
        self.sent: list[tuple[bytes | None, bytes]] = []

    def send(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[Any] = ()
    ) -> None:
        if topic == self.topic:
            self.decisions.append(codec.decode(value))
            self.sent.append((key, value))
        self.log.send(topic, key, value, headers)

    def flush(self) -> None:
        self.log.flush()


def drain(pipeline: Pipeline, records: int) -> None:
    """Run the pipeline until it has processed ``records`` input records in all."""
    for _ in range(2000):
        if pipeline.stats.records >= records:
            return
        pipeline.run_once()
    raise AssertionError(f"processed {pipeline.stats.records} of {records} records")


def audit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["audit", "--json", *args])
    out, _ = capsys.readouterr()
    return code, json.loads(out)


def failed(doc: dict[str, Any]) -> dict[str, int]:
    return {c["name"]: c["violations"] for c in doc["checks"] if c["violations"]}


def test_audit_of_a_dispatcher_run_is_clean_until_redis_and_the_topic_are_broken(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the test's own topics and Redis prefix, a dispatcher pipeline on them
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = isolated_env(
        kafka_bootstrap,
        redis_url,
        unique_name("audit"),
        partitions=2,
        DISPATCH_POLICY=str(policy),
        DISPATCH_STATE_DIR=str(tmp_path / "state"),
    )
    for name in [k for k in os.environ if k.startswith("DISPATCH_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env(env, dev_env=None)
    kafka = KafkaEventLog(settings.kafka)
    log = Recorder(kafka, settings.topic("dispatch.assignments"))
    producer = EventProducer(kafka, tenant=TENANT, topic_of=settings.topic)
    store = RedisAgentStore(client_from_url(redis_url), prefix=settings.redis_prefix)
    consumer = KafkaGroupConsumer(
        settings.kafka, [settings.topic(t) for t in INPUTS], unique_name("dispatchers")
    )
    pipeline = Pipeline(
        consumer,
        log,
        DispatchService(store, load_policy(policy)),
        WallClock(),
        PipelineTopics(
            settings.topic("dispatch.assignments"),
            settings.topic("dispatch.deadletter"),
            settings.topic("dispatch.notifications"),
        ),
    )
    try:
        # And 8 agents (one away, so it pulls nothing) taking 300 tickets, a poison record,
        # a forced and a refused reassign, and five rounds of resolutions
        for i in range(AGENTS):
            skills = {"billing": 2} if i % 2 else {}
            producer.login(f"a{i}", capacity={"chat": 3, "phone": 1}, skills=skills)
        producer.status("a7", "away")
        for n in range(TICKETS):
            producer.ticket(
                f"t{n:03d}",
                channel="phone" if n % 4 == 0 else "chat",
                priority=1 + n * 7 % 5,
                skills={"billing": 1} if n % 3 == 0 else {},
            )
        kafka.send(settings.topic("tickets.events"), b"poison", b"\xc1 not msgpack")
        producer.flush()
        sent = AGENTS + 1 + TICKETS + 1
        drain(pipeline, sent)
        resolved: set[str] = set()
        for round_ in range(5):
            held = {
                d["id"]
                for d in log.decisions
                if d["type"] in ("decision.assigned", "decision.reassigned")
            }
            for tid in sorted(held - resolved):
                producer.lifecycle("resolved", tid)
                resolved.add(tid)
                sent += 1
            if round_ == 2:
                producer.command("force_assign", "t001", to_agent="a0", supervisor="sue")
                producer.command("reassign", "t002", to_agent="nobody", supervisor="sue")
                sent += 2
            producer.flush()
            drain(pipeline, sent)
        for _ in range(5):  # settle: acknowledge the outbox, commit
            pipeline.run_once()
    finally:
        consumer.close()
    views = store.agents(TENANT)
    held_now = {tid for v in views for ids in v.open.values() for tid in ids}
    assert held_now and store.waiting(TENANT), "some tickets stay open and waiting"

    # When the audit runs (the CLI in-process, on the test's settings)
    code, doc = audit(capsys, "--grace-s", "0")

    # Then every guarantee holds, each with something checked
    assert code == RET_OK, json.dumps(failed(doc))
    assert doc["failed"] == [] and doc["tenants"] == [TENANT]
    checks = {c["name"]: c for c in doc["checks"]}
    assert all(checks[n]["checked"] > 0 for n in GUARANTEES), checks
    assert checks["decided"]["checked"] == TICKETS
    assert checks["dead_letters"]["counts"] == {"msgpack": 1}
    assert doc["inputs"]["decisions"] == len(log.decisions)

    # When Redis is broken by hand: a held ticket SADDed into the idle agent's open set
    victim = sorted(held_now)[0]
    client = client_from_url(redis_url)
    client.sadd(keys.pool_key(settings.redis_prefix, TENANT, "open", "chat", "a7"), victim)
    client.sadd(keys.pool_key(settings.redis_prefix, TENANT, "chans", "a7"), "chat")
    # And a stale record lands last: a resolved ticket's first decision published again
    stale = sorted(resolved)[0]
    key, value = next(kv for kv in log.sent if kv[0] == codec.record_key(TENANT, stale))
    assert codec.decode(value)["seq"] == 1
    kafka.send(settings.topic("dispatch.assignments"), key, value)
    kafka.flush()
    kafka.close()
    code, doc = audit(capsys, "--grace-s", "0")

    # Then the audit exits 1 naming exactly those checks, with the tickets as examples
    assert code == RET_INVALID
    assert failed(doc) == {"one_agent": 1, "drift": 1, "last_record": 1}
    assert doc["failed"] == ["one_agent", "drift", "last_record"]
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["one_agent"]["examples"][0]["subject"] == f"{TENANT}/{victim}"
    assert "a7" in checks["one_agent"]["examples"][0]["evidence"]
    assert checks["drift"]["examples"][0]["subject"] == f"{TENANT}/{victim}"
    assert checks["last_record"]["examples"][0]["subject"] == f"{TENANT}/{stale}"

    # And the table says the same to a person; another tenant is not affected
    assert main(["audit", "--grace-s", "0", "--examples", "1"]) == RET_INVALID
    table, _ = capsys.readouterr()
    assert "✗ one_agent" in table and "✗ last_record" in table and "✓ capacity" in table
    assert table.rstrip().endswith("VIOLATED: one_agent, drift, last_record (exit 1)")
    assert main(["audit", "--tenant", "someone-else"]) == RET_OK
