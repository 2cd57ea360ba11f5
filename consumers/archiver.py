"""`dispatch run archiver`: one replica of the archiver (docs/archive.md).

Composition root: its own consumer group (DISPATCH_ARCHIVER_GROUP, default ``archiver``) on
tickets.events, tickets.lifecycle, agents.events, dispatch.commands, dispatch.assignments,
dispatch.decisions.log and sla.events; rows in the archive database (DISPATCH_ARCHIVE_URL,
default the SQLite file ``<state dir>/archive.db``); malformed records on
dispatch.deadletter; /metrics, /healthz, /readyz on DISPATCH_HTTP_PORT. Any number of
replicas. The database must be at the newest migration (``dispatch db upgrade``): otherwise
the process exits 1. SIGTERM/SIGINT finish the current batch (its transaction and offsets
are committed together), leave the group and exit 0.
"""

from __future__ import annotations

import threading

from consumers.loop import run_until_stopped
from engine.adapters.kafka import KafkaEventLog, KafkaGroupConsumer
from engine.archive.archiver import INPUT_TOPICS, Archiver
from engine.archive.db import SchemaOutdated, engine_for, redacted
from engine.archive.metrics import ArchiverMetrics
from engine.clock import WallClock
from engine.config import Settings
from engine.endpoints import Health, open_endpoints
from engine.errors import LogError, LogUnavailable
from engine.exitcodes import RET_INVALID
from engine.logs import get_logger

log = get_logger(__name__)

LAG_EVERY_S = 5.0
STATS_EVERY_S = 30.0
DAY_S = 86400


def run(settings: Settings, stop: threading.Event | None = None) -> int:
    """Run until ``stop`` is set (or a signal arrives). Returns a process exit code."""
    stop = stop or threading.Event()
    metrics, health = ArchiverMetrics(), Health()
    metrics.retention.set(settings.decision_log_retention_days * DAY_S)
    server = open_endpoints(settings, metrics.registry, health)
    engine = engine_for(settings)
    producer = KafkaEventLog(settings.kafka)
    topics = [settings.topic(t) for t in INPUT_TOPICS]
    consumer = KafkaGroupConsumer(
        settings.kafka, topics, settings.archiver_group, max_poll_records=settings.batch_max
    )
    archiver = Archiver(
        consumer,
        producer,
        engine,
        WallClock(),
        deadletter_topic=settings.topic("dispatch.deadletter"),
        group=settings.archiver_group,
        max_records=settings.batch_max,
        poll_timeout_ms=settings.poll_timeout_ms,
        metrics=metrics,
    )
    log.info(
        "archiver starting: group=%s archive=%s topics=%s",
        settings.archiver_group,
        redacted(engine.url),
        ",".join(topics),
    )
    health.info["archive"] = redacted(engine.url)

    def step() -> None:
        archiver.run_once()
        metrics.last_loop.set_to_current_time()

    def refresh_lag() -> None:
        try:
            archiver.refresh_lag(consumer.lag())
        except (LogUnavailable, LogError) as exc:
            log.warning("consumer lag not refreshed: %s", exc)

    def progress() -> None:
        s = archiver.stats
        log.info(
            "archiver: %d records, %d new rows, %d already archived, %d dead letters",
            s.records,
            s.rows,
            s.existing,
            s.dead_letters,
        )

    try:
        periodic = [(LAG_EVERY_S, refresh_lag), (STATS_EVERY_S, progress)]
        return run_until_stopped(step, health, stop, periodic)
    except SchemaOutdated as exc:
        log.error("%s", exc)
        return RET_INVALID
    finally:
        health.ready = False
        archiver.finish()
        consumer.close()
        producer.close()
        engine.dispose()
        if server is not None:
            server.shutdown()
            server.server_close()
        s = archiver.stats
        log.info(
            "archiver stopped: %d records, %d new rows, %d already archived, %d dead letters",
            s.records,
            s.rows,
            s.existing,
            s.dead_letters,
        )
