"""What one SLA tracker replica exports on ``/metrics`` (own registry, seconds).

Labels are bounded: ``queue`` and ``policy`` come from the routing policy, ``channel`` from
the agents' capacity vocabulary, ``priority`` is 1..5, ``target``/``kind``/``action`` are
fixed sets, ``rating`` 1..5 goes in histogram buckets. Never a ticket or agent id.

Aggregating over replicas: every observation is made once per ticket fact across *all*
replicas (the tracker marks it in Redis before observing), so ``sum`` the counters and
histograms of every replica; a replica that restarts starts at 0, which ``rate`` and
``increase`` absorb. The shared gauges (``dispatch_sla_deadlines``,
``dispatch_sla_watermark_lag_seconds``) are the same on every replica: aggregate with ``max``.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from engine.core.sla_track import Observation
from engine.endpoints import NO_LABEL, lag_by_topic
from engine.ports import Observer

# First response and resolution: seconds to days.
RESPONSE_BUCKETS_S = (
    10,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    14400,
    28800,
    86400,
    172800,
    604800,
)
CSAT_BUCKETS = (1, 2, 3, 4, 5)
_SUM = "aggregate with sum."


class SlaMetrics(Observer):
    """Collectors of the SLA tracker; :meth:`observe` maps a core :class:`Observation`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.created = Counter(
            "dispatch_tickets_created",
            f"Tickets created (ticket volume), by channel, queue and priority: {_SUM}",
            ["channel", "queue", "priority"],
            registry=r,
        )
        self.first_response = Histogram(
            "dispatch_first_response_seconds",
            "Ticket creation to the first response (wall-clock time, not business hours), "
            f"by queue and priority: {_SUM}",
            ["queue", "priority"],
            buckets=RESPONSE_BUCKETS_S,
            registry=r,
        )
        self.resolution = Histogram(
            "dispatch_resolution_seconds",
            "Ticket creation to its first resolution (wall-clock time), by queue and "
            f"priority: {_SUM}",
            ["queue", "priority"],
            buckets=RESPONSE_BUCKETS_S,
            registry=r,
        )
        self.handle = Histogram(
            "dispatch_handle_seconds",
            f"Last assignment to the first resolution (handle time), by queue: {_SUM}",
            ["queue"],
            buckets=RESPONSE_BUCKETS_S,
            registry=r,
        )
        self.resolved = Counter(
            "dispatch_tickets_resolved",
            "Tickets resolved (first resolution only), by queue; first_contact=true when one "
            "agent resolved it and the customer never had to write again (first-contact "
            f"resolution): {_SUM}",
            ["queue", "first_contact"],
            registry=r,
        )
        self.reopened = Counter(
            "dispatch_tickets_reopened",
            f"Tickets reopened at least once (counted once per ticket), by queue: {_SUM}",
            ["queue"],
            registry=r,
        )
        self.csat = Histogram(
            "dispatch_csat_score",
            "Customer satisfaction ratings 1..5 from ticket.rated, by queue (average = "
            f"sum/count; satisfied share = 1 - bucket le=3 / count): {_SUM}",
            ["queue"],
            buckets=CSAT_BUCKETS,
            registry=r,
        )
        self.sla_events = Counter(
            "dispatch_sla_events",
            "SLA events published on sla.events, by SLA policy, target (first_response, "
            f"next_response, resolution) and kind (warning, breached, met): {_SUM}",
            ["policy", "target", "kind"],
            registry=r,
        )
        self.escalations = Counter(
            "dispatch_sla_escalations",
            "Escalation commands sent to the dispatcher, by SLA policy and action "
            f"(raise_priority, move_queue, notify): {_SUM}",
            ["policy", "action"],
            registry=r,
        )
        self.agent_updates = Counter(
            "dispatch_sla_agent_updates",
            f"agent.update events carrying a new performance score: {_SUM}",
            registry=r,
        )
        self.records = Counter(
            "dispatch_sla_records", f"Input records consumed by the tracker: {_SUM}", registry=r
        )
        self.skipped = Counter(
            "dispatch_sla_skipped",
            "Input records the tracker could not decode, by reason (the dispatcher "
            f"dead-letters them): {_SUM}",
            ["reason"],
            registry=r,
        )
        self.duplicates = Counter(
            "dispatch_sla_duplicates",
            "SLA events published again after a crash or retry (same event id): " + _SUM,
            registry=r,
        )
        self.watermark_lag = Gauge(
            "dispatch_sla_watermark_lag_seconds",
            "Wall clock minus the event-time watermark SLA deadlines fire at (shared: max).",
            registry=r,
        )
        self.deadlines = Gauge(
            "dispatch_sla_deadlines",
            "Tickets with a pending SLA warning, breach or met in Redis (shared: max).",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "dispatch_consumer_lag",
            "Records not yet committed on the partitions this replica owns, per topic: "
            "aggregate with sum.",
            ["topic"],
            registry=r,
        )
        self.last_loop = Gauge(
            "dispatch_last_loop_timestamp_seconds",
            "When this replica's loop last completed (per replica).",
            registry=r,
        )

    def on_records(self, n: int) -> None:
        self.records.inc(n)

    def on_rejected(self, reason: str) -> None:
        """A record the tracker could not decode was skipped."""
        self.skipped.labels(reason).inc()

    def on_observation(self, o: Observation) -> None:
        lb = o.labels
        queue = lb.get("queue") or NO_LABEL
        if o.name == "created":
            self.created.labels(lb.get("channel") or NO_LABEL, queue, lb.get("priority")).inc()
        elif o.name == "first_response":
            self.first_response.labels(queue, lb.get("priority")).observe(o.value)
        elif o.name == "resolution":
            self.resolution.labels(queue, lb.get("priority")).observe(o.value)
        elif o.name == "handle":
            self.handle.labels(queue).observe(o.value)
        elif o.name == "resolved":
            self.resolved.labels(queue, lb.get("first_contact", "false")).inc()
        elif o.name == "reopened":
            self.reopened.labels(queue).inc()
        elif o.name == "csat":
            self.csat.labels(queue).observe(o.value)
        else:
            raise ValueError(f"unknown observation {o.name!r}")

    def on_sla_event(self, policy: str, target: str, kind: str, first: bool) -> None:
        if first:
            self.sla_events.labels(policy, target, kind).inc()
        else:
            self.duplicates.inc()

    def on_escalation(self, policy: str, action: str) -> None:
        self.escalations.labels(policy, action).inc()

    def on_agent_updates(self, n: int) -> None:
        self.agent_updates.inc(n)

    def on_watermark(self, lag_s: float) -> None:
        self.watermark_lag.set(lag_s)

    def on_deadlines(self, n: int) -> None:
        self.deadlines.set(n)

    def set_lag(self, lag: Mapping[tuple[str, int], int]) -> None:
        for topic, n in lag_by_topic(lag).items():
            self.consumer_lag.labels(topic).set(n)
