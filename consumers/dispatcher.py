"""`dispatch run dispatcher`: one replica of the stateless dispatcher.

Composition root: Kafka consumer-group member + idempotent producer + Redis store +
routing policy + metrics/health server, driven by :class:`engine.dispatch.pipeline.Pipeline`.
Any number of replicas share the consumer group. SIGTERM/SIGINT finish the current
batch, commit (synchronously: the loop itself commits at most every
``DISPATCH_COMMIT_INTERVAL_MS``), leave the group and exit 0.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from consumers.loop import run_until_stopped
from consumers.policy_reload import policy_reloader
from engine.adapters.kafka import KafkaEventLog, KafkaGroupConsumer, group_has_offsets
from engine.adapters.redis import RedisAgentStore, client_from_url
from engine.clock import WallClock
from engine.config import Settings
from engine.core.policy import Policy, Queue
from engine.dispatch import faults
from engine.dispatch.metrics import STATE_REFRESH_S, DispatcherMetrics
from engine.dispatch.pipeline import Pipeline, PipelineTopics
from engine.dispatch.service import DispatchService
from engine.endpoints import Health, PolicyMetrics, open_endpoints
from engine.errors import LogError, LogUnavailable, StoreLost, StoreUnavailable
from engine.exitcodes import RET_OK
from engine.logs import get_logger
from engine.policy_file import PolicyWatcher, load_policy
from engine.ports import AgentStore, Clock

log = get_logger(__name__)

INPUT_TOPICS = ("tickets.events", "agents.events", "tickets.lifecycle", "dispatch.commands")


def refresh_state(
    metrics: DispatcherMetrics,
    store: AgentStore,
    consumer: KafkaGroupConsumer,
    clock: Clock,
    queues: Sequence[str | Queue] = (),
) -> None:
    """Re-read the store gauges and the consumer lag. An unavailable store or broker
    keeps the previous values (the loop reports the outage itself)."""
    try:
        metrics.refresh_store(store, clock.now_ms(), queues)
    except StoreUnavailable as exc:
        log.warning("store gauges not refreshed: %s", exc)
    try:
        metrics.set_lag(consumer.lag())
    except (LogUnavailable, LogError) as exc:
        log.warning("consumer lag not refreshed: %s", exc)


class StateGuard:
    """Pauses dispatching while Redis has lost its state (flushed, restarted empty).

    Checked before every batch (one ``EXISTS``): the state marker (``keys.state_key``) is
    there -> go on. Missing while the consumer group has no committed offsets -> a fresh
    deployment: mark it and go on. Missing while the group has committed offsets -> Redis
    lost its data: raise :class:`StoreLost` (the loop marks the replica not ready and
    retries with back-off) until ``dispatch reconcile --repair`` rebuilds the state and sets
    the marker. Without it, events would be applied to an empty store: status changes and
    resolutions dead-lettered as unknown, tickets queued with no agent. A batch already past
    its check when the data goes is still applied to the empty store (the scripts do not
    check the marker)."""

    def __init__(
        self, store: RedisAgentStore, has_offsets: Callable[[], bool], clock: Clock
    ) -> None:
        self.store, self.has_offsets, self.clock = store, has_offsets, clock
        self.paused = False

    def check(self) -> None:
        if self.store.state_marked():
            if self.paused:
                log.warning("the store's state is back (repaired): dispatching resumes")
                self.paused = False
            return
        if not self.has_offsets():
            self.store.mark_state("dispatcher (fresh consumer group)", self.clock.now_ms())
            return
        if not self.paused:
            log.error(
                "Redis has lost the dispatch state (no %s while the group has committed "
                "offsets): dispatching paused until `dispatch reconcile --repair`",
                self.store.state_key,
            )
            self.paused = True
        raise StoreLost("Redis lost the dispatch state: run `dispatch reconcile --repair`")


def run(settings: Settings, stop: threading.Event | None = None) -> int:
    """Run until ``stop`` is set (or a signal arrives). Returns a process exit code."""
    stop = stop or threading.Event()
    policy = load_policy(settings.policy_path)
    metrics, health = DispatcherMetrics(), Health()
    server = open_endpoints(settings, metrics.registry, health)
    store = RedisAgentStore(client_from_url(settings.redis_url), prefix=settings.redis_prefix)
    producer = KafkaEventLog(settings.kafka)
    consumer = KafkaGroupConsumer(
        settings.kafka,
        [settings.topic(t) for t in INPUT_TOPICS],
        settings.group,
        max_poll_records=settings.batch_max,
    )
    faults.configure()  # test-only fault injection and clock skew: a WARNING when set
    clock = faults.skewed(WallClock())
    pipeline = Pipeline(
        consumer,
        producer,
        DispatchService(store, policy),
        clock,
        PipelineTopics(
            decisions=settings.topic("dispatch.assignments"),
            deadletter=settings.topic("dispatch.deadletter"),
            notifications=settings.topic("dispatch.notifications"),
            decision_log=settings.topic("dispatch.decisions.log") if settings.decision_log else "",
        ),
        max_records=settings.batch_max,
        poll_timeout_ms=settings.poll_timeout_ms,
        tick_interval_ms=settings.tick_interval_ms,
        commit_interval_ms=settings.commit_interval_ms,
        observer=metrics,
    )
    log.info(
        "dispatcher starting: group=%s topics=%s policy=%s",
        settings.group,
        ",".join(settings.topic(t) for t in INPUT_TOPICS),
        settings.policy_path or "(built-in demo policy)",
    )
    code: int = RET_OK
    queues = list(policy.queues)
    service = pipeline.service

    def apply(new: Policy) -> None:  # between batches: the loop is not inside run_once
        service.policy = new
        queues[:] = list(new.queues)

    guard = StateGuard(store, lambda: group_has_offsets(settings, settings.group), clock)

    def step() -> None:
        guard.check()
        pipeline.run_once()
        metrics.last_loop.set_to_current_time()

    try:
        refresh = (STATE_REFRESH_S, lambda: refresh_state(metrics, store, consumer, clock, queues))
        periodic = [refresh]
        reload = policy_reloader(
            PolicyWatcher(settings.policy_path, policy),
            apply,
            PolicyMetrics(metrics.registry),
            health,
        )
        if settings.policy_reload_s > 0:
            periodic.append((settings.policy_reload_s, reload))
        code = run_until_stopped(step, health, stop, periodic)
    finally:
        health.ready = False
        _finish(pipeline)
        consumer.close()
        producer.close()
        if server is not None:
            server.shutdown()
            server.server_close()
        s = pipeline.stats
        log.info(
            "dispatcher stopped: %d records, %d decisions, %d dead letters, %d duplicates",
            s.records,
            s.decisions,
            s.dead_letters,
            s.duplicates,
        )
    return code


def _finish(pipeline: Pipeline) -> None:
    """Commit (synchronously) and acknowledge what the loop processed before leaving the
    group; if that fails, the records are redelivered to the next owner (idempotent)."""
    try:
        pipeline.finish()
    except (StoreUnavailable, LogUnavailable, LogError) as exc:
        log.warning("final commit failed, uncommitted records will be redelivered: %s", exc)
