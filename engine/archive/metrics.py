"""What one archiver replica exports on ``/metrics`` (own registry, seconds).

Labels are bounded: ``topic`` (the engine's topics), ``table`` (the archive's tables),
``outcome`` and ``reason`` (fixed sets). Aggregating over replicas: ``sum`` the counters
and ``dispatch_archiver_lag_records`` (each replica reports the partitions it owns);
``max`` the age gauge (the oldest unarchived record anywhere) and the retention gauge.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from engine.endpoints import lag_by_topic

_SUM = "aggregate with sum."
BATCH_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ArchiverMetrics:
    """Collectors of ``dispatch run archiver``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.records = Counter(
            "dispatch_archiver_records",
            "Input records by topic and outcome: archived (a new row), existing (archived "
            "before: a redelivery, a replay, the same decision from the other decision topic),"
            f" skipped (no fact: duplicate decisions, tombstones ...), dead_letter: {_SUM}",
            ["topic", "outcome"],
            registry=r,
        )
        self.rows = Counter(
            "dispatch_archiver_rows",
            f"New fact rows written, by table: {_SUM}",
            ["table"],
            registry=r,
        )
        self.dead_letters = Counter(
            "dispatch_archiver_dead_letters",
            f"Records sent to the dead-letter topic, by reason: {_SUM}",
            ["reason"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "dispatch_archiver_batch_seconds",
            f"One batch's database transaction (map, insert, project, commit): {_SUM}",
            buckets=BATCH_BUCKETS_S,
            registry=r,
        )
        self.lag = Gauge(
            "dispatch_archiver_lag_records",
            "Records not yet archived (end offset minus committed offset) on the partitions "
            "this replica owns, per topic: aggregate with sum.",
            ["topic"],
            registry=r,
        )
        self.oldest_age = Gauge(
            "dispatch_archiver_oldest_unarchived_age_seconds",
            "Age (wall clock minus event time) of the oldest record this replica has not "
            "archived yet, 0 when it is caught up: aggregate with max. The retention of "
            "dispatch.decisions.log bounds it: past the retention, records are lost.",
            registry=r,
        )
        self.retention = Gauge(
            "dispatch_archiver_decision_log_retention_seconds",
            "Retention of dispatch.decisions.log as configured "
            "(DISPATCH_DECISION_LOG_RETENTION_DAYS): the alert compares the age with it.",
            registry=r,
        )
        self.last_loop = Gauge(
            "dispatch_last_loop_timestamp_seconds",
            "When this replica's loop last completed (per replica).",
            registry=r,
        )

    def set_lag(self, lag: Mapping[tuple[str, int], int]) -> None:
        for topic, n in lag_by_topic(lag).items():
            self.lag.labels(topic).set(n)
