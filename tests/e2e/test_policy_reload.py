"""Hot policy reload under running dispatchers on real Kafka + Redis: a good new version is
applied by every replica (their /readyz name its revision, new tickets are routed by it), a
bad one is refused with its errors in the log and counted, and the good one keeps serving."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.adapters.kafka import KafkaEventLog
from engine.config import Settings
from engine.devstack.procs import free_port
from engine.policy_file import revision_of
from producers.sdk import EventProducer
from tests.e2e.harness import DispatcherProc, decode_all, dispatcher_env, read_topic
from tests.services import isolated_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

TENANT = "reload"
POLICY_A = "version: 1\nqueues:\n  - {name: alpha, match: {}, strategy: round_robin}\n"
POLICY_B = "version: 1\nqueues:\n  - {name: beta, match: {}, strategy: least_loaded}\n"
POLICY_BAD = "version: 1\nqueues:\n  - {name: beta, match: {}, strategy: fastest}\n"


def get(port: int, path: str) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return str(r.read().decode())
    except OSError:
        return ""


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_replicas_apply_a_good_policy_and_refuse_a_bad_one(
    kafka_bootstrap: str, redis_url: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    # Given two dispatchers watching one policy file (checked every second)
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY_A)
    prefix = unique_name("reload")
    base = isolated_env(kafka_bootstrap, redis_url, prefix, partitions=2)
    settings = Settings.from_env(base, dev_env=None)
    ports = [free_port(), free_port()]
    procs = [
        DispatcherProc(
            dispatcher_env(
                base,
                DISPATCH_POLICY=str(policy),
                DISPATCH_POLICY_RELOAD_S="1",
                DISPATCH_HTTP_PORT=str(port),
                DISPATCH_GROUP=prefix,
            ),
            tmp_path / f"d{i}.log",
        )
        for i, port in enumerate(ports)
    ]
    log = KafkaEventLog(settings.kafka)
    producer = EventProducer(log, tenant=TENANT, topic_of=settings.topic)

    def ready_with(revision: str) -> bool:
        return all(f"policy {revision}" in get(p, "/readyz") for p in ports)

    def queues_of(ids: set[str]) -> set[str]:
        recs = read_topic(settings, settings.topic("dispatch.assignments"), unique_name("r"))
        return {d["queue"] for d in decode_all(recs) if d["id"] in ids}

    try:
        for p in procs:
            p.start()
        wait_for(lambda: ready_with(revision_of(POLICY_A)), "both replicas on policy A")
        producer.login("ann", capacity={"chat": 50}, skills={})
        producer.ticket("T-a", channel="chat", priority=3)
        producer.flush()
        wait_for(lambda: queues_of({"T-a"}) == {"alpha"}, "T-a routed by policy A")
        # When a good new version is written
        policy.write_text(POLICY_B)
        # Then both replicas apply it, and new tickets are routed by it
        wait_for(lambda: ready_with(revision_of(POLICY_B)), "both replicas on policy B")
        producer.ticket("T-b", channel="chat", priority=3)
        producer.flush()
        wait_for(lambda: queues_of({"T-b"}) == {"beta"}, "T-b routed by policy B")
        # When a bad version is written
        policy.write_text(POLICY_BAD)
        wait_for(
            lambda: all(
                'dispatch_policy_reloads_total{result="refused"} 1.0' in get(p, "/metrics")
                for p in ports
            ),
            "both replicas refused the bad version",
        )
        # Then the good one keeps serving: ready, named, and routing new tickets
        assert ready_with(revision_of(POLICY_B))
        producer.ticket("T-c", channel="chat", priority=3)
        producer.flush()
        wait_for(lambda: queues_of({"T-c"}) == {"beta"}, "T-c routed by policy B")
        assert all(p.alive() for p in procs)
        assert all("queues[0].strategy" in p.log_tail(200) for p in procs)
    finally:
        for p in procs:
            p.cleanup()
        log.close()
