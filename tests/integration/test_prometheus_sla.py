"""A ticket stream with known timings through a dispatcher and two SLA tracker replicas on real
Kafka + Redis, read back through a real Prometheus: PromQL returns exactly the SLA events,
ticket volume, first-response / resolution / handle times, CSAT, first-contact resolution,
reopens and escalations the timings imply, and the SLA alert rules evaluate."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from engine import codec
from engine.adapters.kafka import KafkaEventLog
from engine.adapters.redis import RedisAgentStore, client_from_url
from engine.config import Settings
from tests import sla_scenario
from tests.processes import RoleProcess, role_env
from tests.prometheus_server import PrometheusServer
from tests.services import isolated_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
RULE_FILES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.rules.yml"))
TICKETS = 36  # six of each shape
SPACING_MS = 150
TENANT = "prom-sla"
TRACKER = 'job="sla-tracker"'


def test_known_timings_give_the_expected_sla_metrics_in_prometheus(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    engine_process: Callable[..., RoleProcess],
    prometheus: Callable[..., PrometheusServer],
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(sla_scenario.POLICY)
    env = isolated_env(
        kafka_bootstrap,
        redis_url,
        unique_name("psla"),
        partitions=2,
        DISPATCH_POLICY=str(policy),
        DISPATCH_GROUP=unique_name("grp"),
        DISPATCH_SLA_GROUP=unique_name("sla"),
    )
    settings = Settings.from_env(env, dev_env=None)
    # Given a dispatcher and two SLA tracker replicas, all scraped every second (every
    # figure below is a sum over the replicas: each fact must be counted exactly once)
    dispatcher = engine_process("dispatcher", role_env(env))
    trackers = [engine_process("sla-tracker", role_env(env)) for _ in range(2)]
    prom = prometheus(
        [("dispatcher", dispatcher.target), *[("sla-tracker", t.target) for t in trackers]],
        rule_files=RULE_FILES,
    )
    prom.wait_targets_up()

    # When a stream with known timings plays in real time (no agents: the dispatcher
    # queues every ticket; assignments come from the stream's own decisions)
    start = time.time_ns() // 1_000_000 + 3_000
    stream = sla_scenario.build(TICKETS, start, SPACING_MS, TENANT)
    log = KafkaEventLog(settings.kafka)

    def send(ev: dict) -> None:
        log.send(settings.topic(codec.topic_of(ev["type"])), codec.key_of(ev), codec.encode(ev))
        log.flush()

    try:
        sla_scenario.play(stream, send, lambda: time.time_ns() // 1_000_000, time.sleep)
    finally:
        log.close()

    # Then every SLA outcome the clock predicts is counted once, by target and kind
    expected = Counter((target, typ[4:]) for typ, target, _ts, _dl in stream.expected.values())
    last = max(ts for _typ, _target, ts, _dl in stream.expected.values())
    time.sleep(max(0.0, (last - time.time_ns() // 1_000_000) / 1000))
    q = f"sum by (target, kind) (dispatch_sla_events_total{{{TRACKER}}})"
    prom.wait_for(
        q,
        lambda s: {(lb["target"], lb["kind"]): v for lb, v in s} == dict(expected),
        timeout_s=30,
    )
    breaches = expected[("first_response", "breached")]
    assert breaches > 0 and expected[("resolution", "met")] > 0

    # And the five figures: volume, first response, resolution, CSAT, first-contact rate
    shapes = [sla_scenario.SHAPES[i % len(sla_scenario.SHAPES)] for i in range(TICKETS)]
    answered = [fr for fr, _res, _re in shapes if fr is not None]
    resolved = [res for _fr, res, _re in shapes if res is not None]
    ratings = [1 + i % 5 for i, (_f, r, _o) in enumerate(shapes) if r is not None and i % 2 == 0]
    # (the last resolution comes after the last SLA outcome: wait for each figure)
    for query, value in (
        ("sum(dispatch_tickets_created_total{%s})", TICKETS),
        ("sum(dispatch_first_response_seconds_count{%s})", len(answered)),
        ("sum(dispatch_first_response_seconds_sum{%s})", sum(answered)),
        ("sum(dispatch_resolution_seconds_count{%s})", len(resolved)),
        ("sum(dispatch_resolution_seconds_sum{%s})", sum(resolved)),
        # handle time: from the stream's assignment 0.5 s after creation to the resolution
        ("sum(dispatch_handle_seconds_sum{%s})", sum(r - 0.5 for r in resolved)),
        ("sum(dispatch_csat_score_count{%s})", len(ratings)),
        ("sum(dispatch_csat_score_sum{%s})", sum(ratings)),
    ):
        prom.wait_value(query % TRACKER, value, timeout_s=20)
    fcr = (
        f'sum(dispatch_tickets_resolved_total{{{TRACKER}, first_contact="true"}})'
        f" / sum(dispatch_tickets_resolved_total{{{TRACKER}}})"
    )
    assert prom.value(fcr) == 1.0  # one agent each, no customer replies
    reopens = sum(1 for _f, _r, reopen in shapes if reopen)
    assert prom.value(f"sum(dispatch_tickets_reopened_total{{{TRACKER}}})") == reopens
    escalations = f"sum by (action) (dispatch_sla_escalations_total{{{TRACKER}}})"
    got = {lb["action"]: v for lb, v in prom.query(escalations)}
    assert got == {"raise_priority": breaches, "notify": breaches}
    # the dispatcher side: every ticket was queued (no agents), and queued again when
    # reopened; the notify commands executed
    queued = prom.value('sum(dispatch_decisions_total{job="dispatcher", kind="queued"})')
    assert queued == TICKETS + reopens
    prom.wait_value('sum(dispatch_notifications_total{job="dispatcher"})', breaches, timeout_s=10)

    # And the dispatcher executed the escalations: each ticket still waiting whose first
    # response breached was raised to priority 1; the others kept priority 3
    store = RedisAgentStore(client_from_url(redis_url), prefix=settings.redis_prefix)
    want = {
        f"s{i:04d}": 1 if fr is None else 3
        for i, (fr, res, _re) in enumerate(shapes)
        if res is None
    }
    deadline = time.monotonic() + 15
    while (got_prio := {w.ticket_id: w.priority for w in store.waiting(TENANT)}) != want:
        assert time.monotonic() < deadline, (got_prio, want)
        time.sleep(0.5)

    # And the SLA rules evaluate on these series without error
    prom.wait_for(
        "count(up)",
        lambda _: all(r["health"] == "ok" for g in prom.rule_groups() for r in g["rules"]),
        10,
    )
    level = prom.value('dispatch:sla_service_level:ratio_1h{policy="fast", target="resolution"}')
    met, total = (
        expected[("resolution", "met")],
        sum(n for (t, k), n in expected.items() if t == "resolution" and k != "warning"),
    )
    assert level is not None and 0 < level <= 1, (level, met / total)
    assert [t.stop() for t in trackers] == [0, 0] and dispatcher.stop() == 0
