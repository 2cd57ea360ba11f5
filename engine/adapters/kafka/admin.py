"""Topic administration: the engine's topics, created idempotently, and their description.

Each function opens one short-lived admin client and closes it again; errors are
``LogUnavailable`` (cluster unreachable) or ``LogError`` (e.g. not authorised).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from engine.adapters.kafka.errors import translated
from engine.adapters.kafka.options import build, client_options
from engine.config import Settings
from engine.errors import LogError, LogUnavailable
from engine.logs import get_logger

__all__ = [
    "TopicInfo",
    "TopicSpec",
    "broker_count",
    "create_topics",
    "default_topic_specs",
    "delete_topics",
    "describe",
    "list_topics",
    "replication_factor_for",
]

log = get_logger(__name__)

DAY_MS = 24 * 3600 * 1000
HOUR_MS = 3600 * 1000
DEADLETTER_RETENTION_MS = 30 * DAY_MS
# A dead letter is the original record (up to the broker's limit, 1 MiB by default) plus
# reason headers: its topic takes up to 4 MiB, so the largest record any input topic accepted
# still fits with its headers.
DEADLETTER_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
ASSIGNMENTS_MIN_COMPACTION_LAG_MS = DAY_MS
ASSIGNMENTS_SEGMENT_MS = HOUR_MS
TOPICS_READY_TIMEOUT_MS = 30_000
MAX_DEFAULT_REPLICATION = 3
_ERROR_TOPIC_EXISTS = 36
_ERROR_UNKNOWN_TOPIC = 3


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic to create. ``replication_factor=-1`` takes the broker default."""

    name: str
    partitions: int
    compacted: bool = False
    retention_ms: int | None = None
    replication_factor: int = -1
    configs: Mapping[str, str] = field(default_factory=dict)

    def topic_configs(self) -> dict[str, str]:
        """Kafka topic configs (``cleanup.policy`` ...) of this spec."""
        configs: dict[str, str] = {}
        if self.compacted:
            configs["cleanup.policy"] = "compact"
        if self.retention_ms is not None:
            configs["retention.ms"] = str(self.retention_ms)
        configs.update(self.configs)
        return configs


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """What the cluster reports of one topic: partition count, every config value and the
    replication factor (replicas of its partitions; 0 if unknown)."""

    name: str
    partitions: int
    configs: Mapping[str, str]
    replication_factor: int = 0


def replication_factor_for(brokers: int) -> int:
    """The replication factor ``dispatch topics create`` uses by default: ``min(3, brokers)``
    (3 on a production cluster; what a smaller development cluster can hold)."""
    return max(1, min(MAX_DEFAULT_REPLICATION, brokers))


def default_topic_specs(
    settings: Settings, partitions: int = 6, replication_factor: int = -1
) -> list[TopicSpec]:
    """The engine's topics (with ``settings.topic_prefix``), sized from ``partitions``;
    ``replication_factor`` -1 takes the broker default (``default.replication.factor``).

    Partitions bound consumer parallelism: a group uses at most one member per partition,
    and 12 (= 2 x 6) splits evenly over 1, 2, 3, 4, 6 or 12 replicas.

    - ``tickets.events``, ``tickets.lifecycle``: 2 x partitions. The busiest inputs (every
      ticket, and several lifecycle events per ticket); the dispatcher autoscaler adds
      replicas up to this count.
    - ``agents.events``, ``sla.events``: partitions. Thousands of agents change state far
      less often than tickets arrive; SLA events are a fraction of tickets.
    - ``dispatch.assignments``: 2 x partitions, compacted and keyed by ticket id, so the
      latest decision per ticket is kept for ``dispatch reconcile`` after a Redis loss.
      ``min.compaction.lag.ms`` of one day keeps every recent decision readable (SLA
      tracker catch-up, audits, ``explain``); hourly segments let compaction follow.
    - ``dispatch.commands``: partitions / 2. Supervisor actions are rare.
    - ``dispatch.notifications``: partitions / 2, keyed by ticket id, not compacted (every
      notification is delivered, not just the latest per ticket). One per ``command.notify``.
    - ``dispatch.decisions.log``: 2 x partitions (like ``dispatch.assignments``, keyed the same
      way), not compacted, ``settings.decision_log_retention_days`` of retention
      (``DISPATCH_DECISION_LOG_RETENTION_DAYS``, default 7): every decision, read by the
      archiver (``docs/archive.md``), which must keep up within that window.
    - ``dispatch.deadletter``: 1 partition, 30 days retention, records up to 4 MiB (an input
      record as large as the broker allows, plus the reason headers, still fits). Rare; one
      ordered stream is easiest to inspect and replay.
    """
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    if replication_factor == 0 or replication_factor < -1:
        raise ValueError(f"replication_factor must be >= 1 or -1, got {replication_factor}")
    topics = settings.topics
    wide, narrow = 2 * partitions, max(1, partitions // 2)
    rf = replication_factor
    return [
        TopicSpec(topics.tickets_events, wide, replication_factor=rf),
        TopicSpec(topics.agents_events, partitions, replication_factor=rf),
        TopicSpec(topics.tickets_lifecycle, wide, replication_factor=rf),
        TopicSpec(topics.dispatch_commands, narrow, replication_factor=rf),
        TopicSpec(
            topics.dispatch_assignments,
            wide,
            compacted=True,
            replication_factor=rf,
            configs={
                "min.compaction.lag.ms": str(ASSIGNMENTS_MIN_COMPACTION_LAG_MS),
                "segment.ms": str(ASSIGNMENTS_SEGMENT_MS),
            },
        ),
        TopicSpec(
            topics.dispatch_deadletter,
            1,
            retention_ms=DEADLETTER_RETENTION_MS,
            configs={"max.message.bytes": str(DEADLETTER_MAX_MESSAGE_BYTES)},
            replication_factor=rf,
        ),
        TopicSpec(topics.sla_events, partitions, replication_factor=rf),
        TopicSpec(topics.dispatch_notifications, narrow, replication_factor=rf),
        TopicSpec(
            topics.dispatch_decisions_log,
            wide,
            retention_ms=settings.decision_log_retention_days * DAY_MS,
            replication_factor=rf,
        ),
    ]


@contextmanager
def _admin(settings: Settings) -> Iterator[Any]:
    client = build(KafkaAdminClient, client_options(settings.kafka, "admin"), "connect admin")
    try:
        yield client
    finally:
        client.close()


def group_has_offsets(settings: Settings, group: str, wait_s: float = 15.0) -> bool:
    """Whether consumer group ``group`` has committed an offset on any partition.

    A group coordinator that is not available yet (a new group, a broker that just started
    or moved the coordinator) is asked again for up to ``wait_s``; then ``LogUnavailable``."""
    deadline = time.monotonic() + wait_s
    with _admin(settings) as admin:
        while True:
            try:
                with translated(f"offsets of group {group}"):
                    offsets = admin.list_group_offsets(group).get(group, {})
                return any(meta.offset >= 0 for meta in offsets.values())
            except LogUnavailable:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.25)


def _errors(result: Mapping[str, Any], ignore: int, action: str) -> list[str]:
    """Names whose per-topic error was ``ignore``; raise for any other error."""
    ignored = []
    for topic in result["topics"]:
        code = topic["error_code"]
        if code == ignore:
            ignored.append(topic["name"])
        elif code != 0:
            raise LogError(f"{action} {topic['name']}: {topic['error_message']} (error {code})")
    return ignored


def create_topics(
    settings: Settings, specs: Sequence[TopicSpec], *, timeout_ms: int = TOPICS_READY_TIMEOUT_MS
) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    Existing topics are left as they are (their partitions and configs are not changed).
    Returns once every spec's topic has a leader for every partition.
    """
    if not specs:
        return []
    request = {
        spec.name: {
            "num_partitions": spec.partitions,
            "replication_factor": spec.replication_factor,
            "configs": spec.topic_configs(),
        }
        for spec in specs
    }
    with _admin(settings) as admin, translated("create topics"):
        result = admin.create_topics(request, timeout_ms=timeout_ms, raise_errors=False)
        existing = set(_errors(result, _ERROR_TOPIC_EXISTS, "create topic"))
        admin.wait_for_topics(list(request), timeout_ms=timeout_ms)
    created = [spec.name for spec in specs if spec.name not in existing]
    log.info("topics created: %s; already there: %s", created, sorted(existing))
    return created


def delete_topics(
    settings: Settings, names: Sequence[str], *, timeout_ms: int = TOPICS_READY_TIMEOUT_MS
) -> list[str]:
    """Delete topics (missing ones are fine); return the names deleted."""
    if not names:
        return []
    with _admin(settings) as admin, translated("delete topics"):
        result = admin.delete_topics(list(names), timeout_ms=timeout_ms, raise_errors=False)
    missing = set(_errors(result, _ERROR_UNKNOWN_TOPIC, "delete topic"))
    return [name for name in names if name not in missing]


def broker_count(settings: Settings) -> int:
    """Brokers registered in the cluster (fenced ones included: they are members that are
    down for the moment, and a topic's replicas may be placed on them once they are back)."""
    with _admin(settings) as admin, translated("describe cluster"):
        cluster = admin.describe_cluster()
    return len(cluster["brokers"])


def list_topics(settings: Settings) -> list[str]:
    """Every non-internal topic name in the cluster, sorted."""
    with _admin(settings) as admin, translated("list topics"):
        names: list[str] = admin.list_topics()
    return sorted(name for name in names if not name.startswith("__"))


def describe(settings: Settings, names: Sequence[str]) -> dict[str, TopicInfo]:
    """Partition count and all config values of existing topics (missing ones omitted)."""
    if not names:
        return {}
    with _admin(settings) as admin, translated("describe topics"):
        metadata = admin.describe_topics(list(names))
        found = [t["name"] for t in metadata if t["error_code"] == 0]
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in found]
        configs = admin.describe_configs(resources, config_filter="all") if found else {}
    by_topic = configs.get("topic", {})
    return {
        t["name"]: TopicInfo(
            name=t["name"],
            partitions=len(t["partitions"]),
            configs={k: v["value"] for k, v in by_topic.get(t["name"], {}).items()},
            replication_factor=max((len(p["replica_nodes"]) for p in t["partitions"]), default=0),
        )
        for t in metadata
        if t["error_code"] == 0
    }
