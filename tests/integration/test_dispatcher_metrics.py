"""A real dispatcher (``consumers.dispatcher.run``, in-process, over Kafka and Redis)
processes a small known stream; its /metrics text shows the expected counters,
histogram counts and store gauges, refreshed by the loop (not by the scrape)."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from consumers import dispatcher
from engine.adapters.kafka import KafkaEventLog, create_topics, default_topic_specs
from engine.adapters.redis import RedisAgentStore, client_from_url
from engine.config import Settings
from engine.devstack.procs import free_port
from engine.dispatch.metrics import STATE_REFRESH_S
from producers.sdk import EventProducer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

TENANT = "metrics"
POLICY = """
version: 1
queues:
  - {name: chat, match: {channel: chat}, strategy: least_loaded, offer: {timeout_s: 600}}
  - {name: general, match: {}, strategy: least_loaded}
"""
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for(port: int, check: Callable[[Samples], bool], timeout_s: float = 60) -> Samples:
    deadline = time.monotonic() + timeout_s
    while True:
        got = scrape(port)
        if check(got):
            return got
        assert time.monotonic() < deadline, f"metrics never matched: {got}"
        time.sleep(0.2)


@pytest.fixture
def settings(
    kafka_bootstrap: str, redis_url: str, unique_name: Callable[[str], str], tmp_path: Path
) -> Settings:
    prefix = unique_name("met") + "."
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
def running(settings: Settings) -> Iterator[int]:
    """A dispatcher running ``settings`` on a thread; yields its HTTP port."""
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(settings, stop), daemon=True)
    thread.start()
    try:
        yield settings.http_port
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive()


def test_dispatcher_exports_the_counts_and_gauges_of_a_known_stream(
    settings: Settings, running: int
) -> None:
    # Given two agents (a0: 1 chat + 2 email, team red; a1: 1 chat, team blue), three
    # chat tickets (offered: 2, waiting: 1), three email tickets (assigned: 2, waiting:
    # 1) and one undecodable record
    log = KafkaEventLog(settings.kafka)
    producer = EventProducer(log, tenant=TENANT, topic_of=settings.topic)
    producer.login("a0", capacity={"chat": 1, "email": 2}, team="red")
    producer.login("a1", capacity={"chat": 1}, team="blue")
    producer.flush()
    store = RedisAgentStore(client_from_url(settings.redis_url), prefix=settings.redis_prefix)
    deadline = time.monotonic() + 60
    while len(store.agents(TENANT)) < 2:  # tickets.events may be read before agents.events
        assert time.monotonic() < deadline, "the agents never logged in"
        time.sleep(0.1)
    for n in range(3):
        producer.ticket(f"c{n}", channel="chat", priority=3)
    for n in range(3):
        producer.ticket(f"e{n}", channel="email", priority=3)
    log.send(settings.topic("tickets.events"), b"junk", b"\xc1 not msgpack")
    producer.flush()

    # When the dispatcher has decided them
    got = wait_for(
        running,
        lambda s: (
            sample(s, "dispatch_decisions_total", kind="queued", queue="general") == 1
            and sample(s, "dispatch_decisions_total", kind="queued", queue="chat") == 1
            and sample(s, "dispatch_waiting_tickets", queue="general") == 1
        ),
    )

    # Then counters, time to assign and store gauges say so
    assert sample(got, "dispatch_decisions_total", kind="offered", queue="chat") == 2
    assert sample(got, "dispatch_decisions_total", kind="assigned", queue="general") == 2
    assert sum(v for (n, _), v in got.items() if n == "dispatch_dead_letters_total") == 1
    assert sample(got, "dispatch_time_to_assign_seconds_count", queue="chat") == 2
    assert sample(got, "dispatch_time_to_assign_seconds_count", queue="general") == 2
    assert sample(got, "dispatch_records_total") == 9
    assert sample(got, "dispatch_waiting_tickets", queue="chat") == 1
    assert sample(got, "dispatch_agents", status="available") == 2
    # red: c? + e0 + e1 = 3 open over 3; blue: 1 over 1
    assert sample(got, "dispatch_utilisation_ratio", team="red") == 1.0
    assert sample(got, "dispatch_utilisation_ratio", team="blue") == 1.0
    assert sample(got, "dispatch_oldest_waiting_seconds", queue="chat") > 0

    # When one offer is accepted and the other rejected
    offered = {}
    for ticket in ("c0", "c1", "c2"):
        rec = store.ticket(TENANT, ticket)
        assert rec is not None
        if rec.state == "offered":
            offered[ticket] = rec.agent
    (accepted, agent_x), (rejected, agent_y) = sorted(offered.items())
    producer.lifecycle("accepted", accepted, agent=agent_x)
    producer.lifecycle("rejected", rejected, agent=agent_y, reason="busy")
    # ... and the SLA tracker asks for a notification about an email ticket
    producer.publish("command.notify", "e0", supervisor="sla-tracker", notify=["role:supervisor"],
                     kind="warning", target="first_response")  # fmt: skip
    producer.flush()

    # Then the outcomes are counted; the rejected ticket waits (the other agent is full)
    # while its decliner is offered the waiting one: a first offer, timed
    got = wait_for(
        running,
        lambda s: (
            sample(s, "dispatch_offers_total", outcome="rejected") == 1
            and sample(s, "dispatch_offers_total", outcome="accepted") == 1
            and sample(s, "dispatch_decisions_total", kind="offered", queue="chat") == 3
            and sample(s, "dispatch_notifications_total", kind="warning") == 1
        ),
    )
    assert sample(got, "dispatch_offers_total", outcome="timed_out") == 0
    assert sample(got, "dispatch_time_to_assign_seconds_count", queue="chat") == 3
    assert sample(got, "dispatch_duplicates_total") == 0

    # And after the next refresh the consumer has no lag on any input topic
    time.sleep(STATE_REFRESH_S)
    got = wait_for(
        running,
        lambda s: (
            any(n == "dispatch_consumer_lag" for n, _ in s)
            and sum(v for (n, _), v in s.items() if n == "dispatch_consumer_lag") == 0
        ),
        timeout_s=2 * STATE_REFRESH_S + 5,
    )
    topics = {dict(labels)["topic"] for n, labels in got if n == "dispatch_consumer_lag"}
    assert settings.topic("tickets.events") in topics
    assert sample(got, "dispatch_waiting_tickets", queue="chat") == 1
    # chat: the accepted and the re-offered chat over the chat capacity of a0 and a1;
    # general (any channel): e0 and e1 over all of a0's and a1's capacity (1 + 2 + 1)
    assert sample(got, "dispatch_queue_utilisation_ratio", queue="chat") == 1.0
    assert sample(got, "dispatch_queue_utilisation_ratio", queue="general") == 0.5
    log.close()
