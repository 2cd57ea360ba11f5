"""A real Prometheus scrapes a running ``dispatch run dispatcher`` process that handled a
small known stream over Kafka and Redis: PromQL answers with the expected counts and
store gauges, the rule files of deploy/prometheus load and evaluate, and the target goes
down when the dispatcher stops on SIGTERM.

The SLA tracker (``dispatch run sla-tracker``, job ``sla-tracker``) can join with
``engine_process("sla-tracker", env)`` and one more ``(job, target)`` pair."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.adapters.kafka import KafkaEventLog
from engine.adapters.redis import RedisAgentStore, client_from_url
from engine.config import Settings
from producers.sdk import EventProducer
from tests.processes import RoleProcess, role_env
from tests.prometheus_server import PrometheusServer, Sample
from tests.services import isolated_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
RULE_FILES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.rules.yml"))
RULE_GROUPS = {"ticket-dispatch.dispatcher", "ticket-dispatch.sla", "ticket-dispatch.archive"}
TENANT = "prom"
POLICY = """
version: 1
queues:
  - {name: chat, match: {channel: chat}, strategy: least_loaded}
  - {name: email, match: {channel: email}, strategy: least_loaded}
"""
GAUGE_TIMEOUT_S = 20.0  # store gauges: refreshed every 5 s by the loop, scraped every 1 s


def per(label: str, got: list[Sample]) -> dict[str, float]:
    """``{value of label: sample value}`` of a query's samples."""
    return {labels.get(label, ""): value for labels, value in got}


@pytest.fixture
def env(
    kafka_bootstrap: str, redis_url: str, unique_name: Callable[[str], str], tmp_path: Path
) -> dict[str, str]:
    """DISPATCH_* settings of one test: own topics, consumer group and Redis prefix."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = isolated_env(
        kafka_bootstrap,
        redis_url,
        unique_name("prom"),
        partitions=2,
        DISPATCH_POLICY=str(policy),
        DISPATCH_GROUP=unique_name("grp"),
    )
    return env


def settings_of(env: dict[str, str]) -> Settings:
    return Settings.from_env(env, dev_env=None)


def test_prometheus_scrapes_a_running_dispatcher_and_evaluates_the_rules(
    env: dict[str, str],
    engine_process: Callable[..., RoleProcess],
    prometheus: Callable[..., PrometheusServer],
) -> None:
    settings = settings_of(env)
    # Given a dispatcher process scraped every second by Prometheus with the repo's rules
    dispatcher = engine_process("dispatcher", role_env(env))
    prom = prometheus([("dispatcher", dispatcher.target)], rule_files=RULE_FILES)
    prom.wait_targets_up()
    assert prom.targets_up() == {("dispatcher", dispatcher.target): True}
    assert prom.value('up{job="dispatcher"}') == 1

    # When three agents log in (two take one chat each, one takes three emails) and
    # ten tickets arrive: 4 chat (2 assigned, 2 queued), 6 email (3 assigned, 3 queued)
    log = KafkaEventLog(settings.kafka)
    producer = EventProducer(log, tenant=TENANT, topic_of=settings.topic)
    try:
        producer.login("a0", capacity={"chat": 1})
        producer.login("a1", capacity={"chat": 1})
        producer.login("a2", capacity={"email": 3})
        producer.flush()
        store = RedisAgentStore(client_from_url(settings.redis_url), prefix=settings.redis_prefix)
        deadline = time.monotonic() + 30
        while len(store.agents(TENANT)) < 3:  # tickets.events may be read before agents
            assert time.monotonic() < deadline, "the agents never logged in"
            time.sleep(0.1)
        for n in range(4):
            producer.ticket(f"c{n}", channel="chat", priority=3)
        for n in range(6):
            producer.ticket(f"e{n}", channel="email", priority=3)
        producer.flush()

        # Then Prometheus sees the decisions and the store gauges
        prom.wait_value('sum(dispatch_decisions_total{job="dispatcher", kind="assigned"})', 5)
        prom.wait_for(
            'max by (queue) (dispatch_waiting_tickets{job="dispatcher"})',
            lambda s: per("queue", s) == {"chat": 2, "email": 3},
            GAUGE_TIMEOUT_S,
        )
        queued = prom.query('sum by (queue) (dispatch_decisions_total{kind="queued"})')
        assert per("queue", queued) == {"chat": 2, "email": 3}
        assert prom.value('max(dispatch_agents{job="dispatcher", status="available"})') == 3

        # When one assigned chat ticket and one assigned email ticket are resolved (which
        # ones were assigned depends on the partitions' interleaving)
        for tickets in (["c0", "c1", "c2", "c3"], ["e0", "e1", "e2", "e3", "e4", "e5"]):
            records = [store.ticket(TENANT, t) for t in tickets]
            rec = next(r for r in records if r is not None and r.agent)
            producer.lifecycle("resolved", rec.ticket_id, agent=rec.agent)
        producer.flush()
    finally:
        log.close()

    # Then the freed capacity takes a waiting ticket of each queue
    prom.wait_value('sum(dispatch_decisions_total{job="dispatcher", kind="assigned"})', 7)
    prom.wait_for(
        'max by (queue) (dispatch_waiting_tickets{job="dispatcher"})',
        lambda s: per("queue", s) == {"chat": 1, "email": 2},
        GAUGE_TIMEOUT_S,
    )
    assigned = prom.query('sum by (queue) (dispatch_decisions_total{kind="assigned"})')
    assert per("queue", assigned) == {"chat": 3, "email": 4}
    prom.wait_value('sum(dispatch_records_total{job="dispatcher"})', 15, timeout_s=5)
    assert prom.value('sum(dispatch_dead_letters_total{job="dispatcher"})') in (None, 0)
    assert prom.value('max(dispatch_agents{job="dispatcher", status="available"})') == 3
    prom.wait_value('sum(dispatch_time_to_assign_seconds_count{job="dispatcher"})', 7, timeout_s=5)

    # And the repo's rule files loaded and every rule evaluated without error; no
    # dispatcher alert fires on this healthy stream
    groups = prom.rule_groups()
    assert {g["name"] for g in groups} == RULE_GROUPS
    assert {Path(g["file"]).name for g in groups} == {p.name for p in RULE_FILES}
    prom.wait_for(
        "count(up)",  # any cheap query: poll until every rule was evaluated once
        lambda _: all(r["health"] == "ok" for g in prom.rule_groups() for r in g["rules"]),
        10,
    )
    firing = prom.query('ALERTS{alertstate="firing"}')
    assert firing == []

    # When the dispatcher stops on SIGTERM, it exits cleanly and its target goes down
    assert dispatcher.stop() == 0
    prom.wait_value('up{job="dispatcher"}', 0, timeout_s=10)
