"""Smoke test of the multi-node stack (``multinode_stack``: 3 Kafka nodes, a 3-master Redis
Cluster): topics with replication factor 3, nothing lost when a broker dies, and the Redis
store with tenants spread over the cluster's masters."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.crc import key_slot

from engine.adapters.kafka import KafkaEventLog, KafkaGroupConsumer, describe, read_topic
from engine.adapters.redis import RedisAgentStore, client_from_url, keys
from engine.cli.topics import main as topics_main
from engine.config import Settings
from engine.core.model import Request
from engine.devstack import DevStack
from engine.errors import LogError, Unavailable
from tests.services import delete_prefix

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

WAIT_S = 60.0
RECORDS = 60
NOW = 1_800_000_000_000


class Poller(threading.Thread):
    """A group member's poll → commit loop; outage errors are retried after a pause."""

    def __init__(self, consumer: KafkaGroupConsumer) -> None:
        super().__init__(daemon=True)
        self.consumer = consumer
        self.values: list[bytes] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.values.extend(r.value for r in self.consumer.poll(200, 100))
                self.consumer.commit()
            except (Unavailable, LogError):
                self._halt.wait(0.2)

    def wait_for(self, wanted: set[bytes]) -> bool:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if wanted <= set(self.values):
                return True
            time.sleep(0.05)
        return False

    def finish(self) -> None:
        self._halt.set()
        self.join(WAIT_S)
        self.consumer.close()


def produce(log_: KafkaEventLog, topic: str, values: list[bytes]) -> None:
    for value in values:
        log_.send(topic, value, value)
    log_.flush()  # acks=all: every record is on min.insync.replicas (2) brokers


@pytest.fixture
def settings(
    multinode_stack: DevStack,
    unique_name: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Settings:
    endpoints = multinode_stack.endpoints
    assert endpoints.kafka_bootstrap and endpoints.redis_url
    monkeypatch.setenv("DISPATCH_KAFKA_BOOTSTRAP", endpoints.kafka_bootstrap)
    monkeypatch.setenv("DISPATCH_REDIS_URL", endpoints.redis_url)
    monkeypatch.setenv("DISPATCH_TOPIC_PREFIX", unique_name("mn") + ".")
    monkeypatch.setenv("DISPATCH_STATE_DIR", str(tmp_path))  # no stray dev.env
    return Settings.load()


def test_three_brokers_lose_nothing_when_one_dies(
    multinode_stack: DevStack, settings: Settings, unique_name: Callable[[str], str]
) -> None:
    # Given the engine's topics created by the CLI on 3 brokers: replication factor 3
    assert topics_main(["create", "--partitions", "2"]) == 0
    names = list(settings.topics.by_logical().values())
    info = describe(settings, names)
    assert {i.replication_factor for i in info.values()} == {3}
    assert {i.configs["min.insync.replicas"] for i in info.values()} == {"2"}
    topic = settings.topics.tickets_events
    # and a group member that read the first records
    producer = KafkaEventLog(settings.kafka)
    member = Poller(KafkaGroupConsumer(settings.kafka, [topic], unique_name("g")))
    member.start()
    victim = 2
    try:
        first = [f"first-{i}".encode() for i in range(RECORDS)]
        produce(producer, topic, first)
        assert member.wait_for(set(first)), "records before the crash did not arrive"

        # When one broker is SIGKILLed
        assert multinode_stack.kill("kafka", victim) == [f"kafka node {victim}"]
        # Then producing with acks=all and consuming still succeed on the other two
        second = [f"second-{i}".encode() for i in range(RECORDS)]
        produce(producer, topic, second)
        assert member.wait_for(set(second)), "records after the crash did not arrive"
    finally:
        # And the broker comes back on its data
        multinode_stack.start("kafka", victim)
        member.finish()
        producer.close()
    # Nothing was lost or written twice: the topic holds every record exactly once (read
    # partition by partition to the end offsets, without a group)
    stored = read_topic(settings.kafka, topic, timeout_s=WAIT_S)
    assert sorted(r.value for r in stored) == sorted(first + second)


def req(tenant: str, tid: str) -> Request:
    return Request(tid, tenant, "support", "least_loaded", "chat", 3, NOW, float(NOW))


@pytest.fixture
def cluster_client(multinode_stack: DevStack) -> Iterator[Any]:
    url = multinode_stack.endpoints.redis_url
    assert url is not None and url.startswith("redis+cluster://")
    client = client_from_url(url)
    yield client
    client.close()


def test_the_agent_store_spreads_tenants_over_the_redis_cluster(
    multinode_stack: DevStack, cluster_client: Any, unique_name: Callable[[str], str]
) -> None:
    # Given a store on the Redis Cluster and eight tenants
    prefix = unique_name("mn")
    store = RedisAgentStore(cluster_client, prefix=prefix)
    tenants = [f"tenant{i}" for i in range(8)]
    try:
        # When each tenant gets an agent and a ticket
        for tenant in tenants:
            store.update_agent(tenant, "a", {"status": "available", "capacity": {"chat": 2}}, NOW)
            [decision] = store.assign([(req(tenant, f"{tenant}-t1"), {"id": "t1"})], NOW)
            assert (decision.kind, decision.agent) == ("assigned", "a")
        # Then the tenants' pools sit on several slots, served by several masters
        pool_keys = [keys.pool_key(prefix, t, "agents") for t in tenants]
        slots = {key_slot(k.encode()) for k in pool_keys}
        masters = {cluster_client.get_node_from_key(k).name for k in pool_keys}
        assert len(slots) == len(tenants) and len(masters) >= 2
        assert store.tenants() == tenants

        # When the master of the first tenant restarts (SIGTERM, on its append-only file)
        node = cluster_client.get_node_from_key(pool_keys[0])
        [number] = [
            n.node
            for n in multinode_stack.status()
            if n.name == "redis" and n.endpoint == node.name
        ]
        multinode_stack.restart("redis", number)
        # Then its tenant's state is still there, and the store keeps working
        [view] = store.agents(tenants[0])
        assert view.open == {"chat": (f"{tenants[0]}-t1",)}
        [again] = store.assign([(req(tenants[0], f"{tenants[0]}-t2"), {"id": "t2"})], NOW)
        assert (again.kind, again.agent) == ("assigned", "a")
    finally:
        multinode_stack.start("redis")
        delete_prefix(cluster_client, prefix)
