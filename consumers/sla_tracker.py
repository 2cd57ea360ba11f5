"""`dispatch run sla-tracker`: one replica of the stateless SLA tracker.

Composition root: its own consumer group (DISPATCH_SLA_GROUP, default ``sla-tracker``) on
tickets.events, dispatch.assignments and tickets.lifecycle; SLA state in Redis; SLA events
on sla.events, escalation commands on dispatch.commands, performance updates on
agents.events; /metrics, /healthz, /readyz on DISPATCH_HTTP_PORT. Any number of replicas.
SIGTERM/SIGINT finish the current batch, commit, leave the group and exit 0.
"""

from __future__ import annotations

import threading

from consumers.loop import install_stop_signals, run_until_stopped
from consumers.policy_reload import policy_reloader
from engine.adapters.kafka import KafkaEventLog, KafkaGroupConsumer
from engine.adapters.redis import client_from_url
from engine.adapters.redis.sla_store import RedisSlaStore
from engine.clock import WallClock
from engine.config import Settings
from engine.core.policy import Policy
from engine.endpoints import Health, PolicyMetrics, open_endpoints
from engine.errors import LogError, LogUnavailable
from engine.logs import get_logger
from engine.policy_file import PolicyWatcher, load_policy
from engine.sla.metrics import SlaMetrics
from engine.sla.pipeline import INPUT_TOPICS, OUTPUT_TOPICS, SlaPipeline
from engine.sla.service import SlaTracker

log = get_logger(__name__)

LAG_EVERY_S = 5.0
STATS_EVERY_S = 30.0

__all__ = ["install_stop_signals", "run"]


def run(settings: Settings, stop: threading.Event | None = None) -> int:
    """Run until ``stop`` is set (or a signal arrives). Returns a process exit code."""
    stop = stop or threading.Event()
    policy = load_policy(settings.policy_path)
    metrics, health = SlaMetrics(), Health()
    server = open_endpoints(settings, metrics.registry, health)
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
        observer=metrics,
    )
    log.info(
        "sla tracker starting: group=%s policy=%s sla policies=%s",
        settings.sla_group,
        settings.policy_path or "(built-in demo policy)",
        ",".join(sorted(policy.sla)) or "(none: no SLA events will be produced)",
    )

    def step() -> None:
        pipeline.run_once()
        metrics.last_loop.set_to_current_time()

    def refresh_lag() -> None:
        try:
            metrics.set_lag(consumer.lag())
        except (LogUnavailable, LogError) as exc:
            log.warning("consumer lag not refreshed: %s", exc)

    def progress() -> None:
        log.info(
            "sla tracker: %d records, %d sla events, watermark %s",
            pipeline.records,
            pipeline.sla_events,
            pipeline.watermark,
        )

    tracker = pipeline.tracker

    def apply(new: Policy) -> None:  # between batches
        tracker.policy = new

    watcher = PolicyWatcher(settings.policy_path, policy)
    reload = policy_reloader(watcher, apply, PolicyMetrics(metrics.registry), health)
    try:
        periodic = [(LAG_EVERY_S, refresh_lag), (STATS_EVERY_S, progress)]
        if settings.policy_reload_s > 0:
            periodic.append((settings.policy_reload_s, reload))
        return run_until_stopped(step, health, stop, periodic)
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
