"""`dispatch run sla-tracker`: one replica of the stateless SLA tracker.

Composition root: its own consumer group (DISPATCH_SLA_GROUP, default ``sla-tracker``) on
tickets.events, dispatch.assignments and tickets.lifecycle; SLA state in Redis; SLA events
on sla.events, escalation commands on dispatch.commands, performance updates on
agents.events; /metrics, /healthz, /readyz on DISPATCH_HTTP_PORT. Any number of replicas.
SIGTERM/SIGINT finish the current batch, commit, leave the group and exit 0.
"""

from __future__ import annotations

import logging
import threading
import time

from consumers.dispatcher import BACKOFF_S, install_stop_signals
from engine.adapters.kafka import KafkaEventLog, KafkaGroupConsumer, LogError, LogUnavailable
from engine.adapters.memory import WallClock
from engine.adapters.redis import StoreUnavailable, client_from_url
from engine.adapters.redis.sla_store import RedisSlaStore
from engine.config import Settings
from engine.exitcodes import RET_OK, RET_UNAVAILABLE
from engine.metrics import Health, serve
from engine.policy_file import load_policy
from engine.sla_metrics import SlaMetrics
from engine.sla_pipeline import INPUT_TOPICS, OUTPUT_TOPICS, SlaPipeline
from engine.sla_service import SlaTracker

log = logging.getLogger("dispatch.sla_tracker")

LAG_EVERY_S = 5.0
STATS_EVERY_S = 30.0

__all__ = ["install_stop_signals", "run"]


def run(settings: Settings, stop: threading.Event | None = None) -> int:
    """Run until ``stop`` is set (or a signal arrives). Returns a process exit code."""
    stop = stop or threading.Event()
    policy = load_policy(settings.policy_path)
    metrics, health = SlaMetrics(), Health()
    server = serve(settings.http_port, metrics.registry, health) if settings.http_port else None
    store = RedisSlaStore(client_from_url(settings.redis_url), prefix=settings.redis_prefix)
    producer = KafkaEventLog(settings.kafka)
    consumer = KafkaGroupConsumer(
        settings.kafka,
        [settings.topic(t) for t in INPUT_TOPICS],
        settings.sla_group,
        max_poll_records=settings.batch_max,
    )
    pipeline = SlaPipeline(
        consumer,
        producer,
        SlaTracker(store, policy),
        WallClock(),
        topics={t: settings.topic(t) for t in (*INPUT_TOPICS, *OUTPUT_TOPICS)},
        max_records=settings.batch_max,
        poll_timeout_ms=settings.poll_timeout_ms,
        metrics=metrics,
    )
    log.info(
        "sla tracker starting: group=%s policy=%s sla policies=%s",
        settings.sla_group,
        settings.policy_path or "(built-in demo policy)",
        ",".join(sorted(policy.sla)) or "(none: no SLA events will be produced)",
    )
    try:
        return _loop(pipeline, consumer, metrics, health, stop)
    finally:
        health.ready = False
        consumer.close()
        producer.close()
        if server is not None:
            server.shutdown()
            server.server_close()
        log.info(
            "sla tracker stopped: %d records, %d sla events published (%d repeated)",
            pipeline.records,
            pipeline.sla_events,
            pipeline.duplicates,
        )


def _loop(
    pipeline: SlaPipeline,
    consumer: KafkaGroupConsumer,
    metrics: SlaMetrics,
    health: Health,
    stop: threading.Event,
) -> int:
    failures = 0
    next_lag = next_stats = 0.0
    while not stop.is_set():
        try:
            if time.monotonic() >= next_lag:
                next_lag = time.monotonic() + LAG_EVERY_S
                metrics.set_lag(consumer.lag())
            pipeline.run_once()
        except (StoreUnavailable, LogUnavailable, LogError) as exc:
            failures += 1
            health.ready = False
            log.warning("dependency unavailable (attempt %d): %s", failures, exc)
            if stop.wait(min(30.0, BACKOFF_S * failures)):
                break
            continue
        failures = 0
        health.ready = True
        health.beat()
        metrics.last_loop.set_to_current_time()
        if time.monotonic() >= next_stats:
            next_stats = time.monotonic() + STATS_EVERY_S
            log.info(
                "sla tracker: %d records, %d sla events, watermark %s",
                pipeline.records,
                pipeline.sla_events,
                pipeline.watermark,
            )
    return RET_OK if failures == 0 else RET_UNAVAILABLE
