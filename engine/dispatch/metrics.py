"""The dispatcher's Prometheus collectors on an own registry (served by
:func:`engine.endpoints.serve` with /healthz and /readyz).

Seconds everywhere; bounded label sets only (never a ticket or agent id): ``queue``,
``kind``, ``reason``, ``outcome``, ``status``, ``team`` and ``topic`` take values from
the policy, the event schema or the topic list. Nothing happens at import time: build a
:class:`DispatcherMetrics` and serve its registry from a composition root.

Aggregating over replicas: counters and histograms count what *this* replica did, so
``sum`` them (and use ``rate``/``increase``, which absorb restarts to 0). The store
gauges (``dispatch_waiting_tickets``, ``dispatch_oldest_waiting_seconds``,
``dispatch_agents``, ``dispatch_utilisation_ratio``, ``dispatch_queue_utilisation_ratio``)
describe the shared Redis state and are exported identically by every replica: aggregate
them with ``max``, never ``sum``.
``dispatch_consumer_lag`` covers the partitions this replica owns: ``sum`` it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.core.model import ASSIGNED, OFFERED, REASSIGNED, RELEASED, Agent, Decision
from engine.core.policy import Queue
from engine.endpoints import NO_LABEL, lag_by_topic
from engine.logs import get_logger
from engine.ports import (
    REASON_OFFER_REJECTED,
    REASON_OFFER_TIMEOUT,
    STEP_ACCEPTED,
    AgentStore,
    AgentView,
    Observer,
)

log = get_logger(__name__)

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
WAIT_BUCKETS_S = (0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200)
# How often the dispatcher loop re-reads the store and the consumer lag for the gauges.
STATE_REFRESH_S = 5.0
OFFER_RELEASE_REASONS = {REASON_OFFER_REJECTED: "rejected", REASON_OFFER_TIMEOUT: "timed_out"}
OFFER_OUTCOMES = ("accepted", "rejected", "timed_out")
NOTIFICATION_KINDS = ("warning", "breached", "none")
# Open tickets whose queue is not known yet are read from the store (one ``store.ticket``
# each) at most this many per refresh; the rest are counted at the next refresh.
QUEUE_LOOKUPS_PER_REFRESH = 2000

_SHARED = "Shared store state, exported identically by every replica: aggregate with max."


@dataclass(frozen=True)
class StoreSnapshot:
    """Gauge values derived from the store at one moment (all tenants together)."""

    waiting: Mapping[str, int] = field(default_factory=dict)  # queue -> tickets
    oldest_s: Mapping[str, float] = field(default_factory=dict)  # queue -> seconds
    agents: Mapping[str, int] = field(default_factory=dict)  # status -> agents
    utilisation: Mapping[str, float] = field(default_factory=dict)  # team -> open/capacity
    queue_utilisation: Mapping[str, float] = field(default_factory=dict)  # queue -> ratio


class TicketQueues:
    """The queue of each open ticket, ``(tenant, ticket id) -> queue``, kept between refreshes.

    An offered or assigned ticket keeps its queue until it is released (queue moves and
    escalations only change waiting tickets), so each open ticket costs at most one
    ``store.ticket`` read in its life, and none when this replica published its decision
    (:meth:`note`). Entries of tickets no longer open are dropped at each refresh.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[tuple[str, str], str] = {}

    def note(self, decisions: Iterable[Decision]) -> None:
        """Learn queues from published decisions (no store read)."""
        with self._lock:
            for d in decisions:
                key = (d.tenant, d.ticket_id)
                if d.kind in (ASSIGNED, OFFERED, REASSIGNED) and d.queue:
                    self._queues[key] = d.queue
                elif d.kind == RELEASED:
                    self._queues.pop(key, None)

    def resolve(
        self, store: AgentStore, tenant: str, ids: Iterable[str], budget: list[int]
    ) -> dict[str, str]:
        """Queue of each of ``ids`` (open tickets of ``tenant``); unknown ones are read from
        the store while ``budget[0]`` lasts. Forgets this tenant's other tickets."""
        with self._lock:
            known = {tid: q for (t, tid), q in self._queues.items() if t == tenant}
        out: dict[str, str] = {}
        for tid in ids:
            queue = known.get(tid)
            if queue is None and budget[0] > 0:
                budget[0] -= 1
                rec = store.ticket(tenant, tid)
                queue = rec.queue if rec is not None else None
            if queue is not None:
                out[tid] = queue
        with self._lock:
            for key in [k for k in self._queues if k[0] == tenant and k[1] not in out]:
                del self._queues[key]
            self._queues.update(((tenant, tid), q) for tid, q in out.items())
        return out

    def retain_tenants(self, tenants: Iterable[str]) -> None:
        keep = set(tenants)
        with self._lock:
            for key in [k for k in self._queues if k[0] not in keep]:
                del self._queues[key]


def serves(agent: Agent, queue: Queue) -> bool:
    """Whether ``agent`` holds the skills ``queue`` requires: every ``skills`` entry at its
    level, and one of ``match.skills_any`` (if any) at some level. Status, capacity and
    region are not considered (see :func:`queue_channels` for the capacity)."""
    if any(agent.skills.get(s, 0) < level for s, level in queue.skills.items()):
        return False
    return not queue.skills_any or any(agent.skills.get(s, 0) > 0 for s in queue.skills_any)


def queue_channels(queue: Queue) -> frozenset[str] | None:
    """The capacity channels tickets of ``queue`` use: its ``capacity_channel``, else the
    channels its ``match`` names, else ``None`` (any channel)."""
    if queue.capacity_channel:
        return frozenset((queue.capacity_channel,))
    if "channel" in queue.match:
        return frozenset(str(c) for c in queue.match["channel"])
    return None


def snapshot_store(
    store: AgentStore,
    now_ms: int,
    queues: Iterable[str | Queue] = (),
    ticket_queues: TicketQueues | None = None,
) -> StoreSnapshot:
    """Read every pool of ``store``: waiting tickets and the oldest one's age per queue,
    agents per status, per team the open tickets over the capacity of its agents that are
    not offline, and per policy queue (``queues`` given as :class:`Queue`) the
    utilisation of :func:`queue_utilisation`. ``queues`` are reported even when empty."""
    queues = list(queues)
    names = [q if isinstance(q, str) else q.name for q in queues]
    policy_queues = [q for q in queues if isinstance(q, Queue)]
    cache = ticket_queues if ticket_queues is not None else TicketQueues()
    budget = [QUEUE_LOOKUPS_PER_REFRESH]
    waiting = dict.fromkeys(names, 0)
    oldest: dict[str, float] = dict.fromkeys(names, 0.0)
    statuses: dict[str, int] = {}
    load: dict[str, list[int]] = {}  # team -> [open, capacity]
    qload = {q.name: [0, 0] for q in policy_queues}  # queue -> [open, capacity]
    tenants = store.tenants()
    for tenant in tenants:
        for w in store.waiting(tenant):
            waiting[w.queue] = waiting.get(w.queue, 0) + 1
            age_s = max(0, now_ms - w.ticket_ts) / 1000 if w.ticket_ts else 0.0
            oldest[w.queue] = max(oldest.get(w.queue, 0.0), age_s)
        views: list[AgentView] = []
        for view in store.agents(tenant):
            a = view.agent
            statuses[a.status] = statuses.get(a.status, 0) + 1
            if a.status == "offline":
                continue
            views.append(view)
            team = load.setdefault(a.team or NO_LABEL, [0, 0])
            team[0] += sum(len(ids) for ids in view.open.values())
            team[1] += sum(a.capacity.values())
        if policy_queues:
            _queue_load(store, tenant, views, policy_queues, cache, budget, qload)
    if policy_queues:
        cache.retain_tenants(tenants)
    ratio = {team: (o / c if c else 0.0) for team, (o, c) in load.items()}
    qratio = {q: (o / c if c else 0.0) for q, (o, c) in qload.items()}
    return StoreSnapshot(waiting, oldest, statuses, ratio, qratio)


def _queue_load(
    store: AgentStore,
    tenant: str,
    views: list[AgentView],
    queues: list[Queue],
    cache: TicketQueues,
    budget: list[int],
    qload: dict[str, list[int]],
) -> None:
    """Add one pool's open tickets per queue and serving capacity per queue to ``qload``."""
    queue_of = cache.resolve(
        store, tenant, (tid for v in views for ids in v.open.values() for tid in ids), budget
    )
    for view in views:
        a = view.agent
        for ids in view.open.values():
            for tid in ids:
                counts = qload.get(queue_of.get(tid, ""))
                if counts is not None:
                    counts[0] += 1
        for q in queues:
            if serves(a, q):
                channels = queue_channels(q)
                qload[q.name][1] += sum(
                    cap for ch, cap in a.capacity.items() if channels is None or ch in channels
                )


class _StateCollector(Collector):
    """Serves the last store snapshot and consumer lag; never reads the store itself.

    A label value seen once keeps being reported (as 0) after it disappears, so an
    emptied queue reads 0 instead of vanishing. Label sets stay bounded by the policy.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._store = StoreSnapshot()
        self._lag: dict[str, int] = {}
        self._seen: dict[str, set[str]] = {}

    def set_store(self, snap: StoreSnapshot) -> None:
        with self._lock:
            self._store = snap

    def set_lag(self, by_topic: Mapping[str, int]) -> None:
        with self._lock:
            self._lag = dict(by_topic)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            s, lag = self._store, dict(self._lag)
            yield self._family(
                "dispatch_waiting_tickets",
                f"Tickets waiting for an agent, per queue. {_SHARED}",
                "queue",
                s.waiting,
            )
            yield self._family(
                "dispatch_oldest_waiting_seconds",
                f"Age of the oldest waiting ticket (since its timestamp), per queue. {_SHARED}",
                "queue",
                s.oldest_s,
            )
            yield self._family(
                "dispatch_agents", f"Agents per status. {_SHARED}", "status", s.agents
            )
            yield self._family(
                "dispatch_utilisation_ratio",
                "Open tickets over capacity of the team's agents that are not offline. " + _SHARED,
                "team",
                s.utilisation,
            )
            yield self._family(
                "dispatch_queue_utilisation_ratio",
                "Open tickets of the queue (offered or assigned to agents that are not offline) "
                "over the capacity, on the queue's channels (capacity_channel, else the channels "
                "its match names, else all), of the agents that are not offline and hold the "
                "queue's skills (every skills entry at its level, one of skills_any). Capacity "
                "shared by several queues counts in each; above 1 when tickets sit with agents "
                "outside that set (forced moves). " + _SHARED,
                "queue",
                s.queue_utilisation,
            )
            yield self._family(
                "dispatch_consumer_lag",
                "Records not yet committed on the partitions this replica owns, per topic: "
                "aggregate with sum.",
                "topic",
                lag,
            )

    def _family(
        self, name: str, doc: str, label: str, values: Mapping[str, float]
    ) -> GaugeMetricFamily:
        seen = self._seen.setdefault(name, set())
        seen.update(values)
        family = GaugeMetricFamily(name, doc, labels=[label])
        for value in sorted(seen):
            family.add_metric([value], float(values.get(value, 0)))
        return family


class DispatcherMetrics(Observer):
    """What one dispatcher replica exports (see the module docstring for aggregation)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.decisions = Counter(
            "dispatch_decisions",
            "Decisions published by this replica, by kind and queue: aggregate with sum.",
            ["kind", "queue"],
            registry=r,
        )
        self.time_to_assign = Histogram(
            "dispatch_time_to_assign_seconds",
            "Ticket timestamp to its first assignment or offer (re-offers after a decline "
            "and accepted offers not counted): aggregate with sum.",
            ["queue"],
            buckets=WAIT_BUCKETS_S,
            registry=r,
        )
        self.decision_latency = Histogram(
            "dispatch_decision_latency_seconds",
            "Store step time per polled batch: aggregate with sum.",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.dead_letters = Counter(
            "dispatch_dead_letters",
            "Records sent to the dead-letter topic, by reason: aggregate with sum.",
            ["reason"],
            registry=r,
        )
        self.offers = Counter(
            "dispatch_offers",
            "Offers answered, by outcome (accepted, rejected, timed_out): aggregate with sum.",
            ["outcome"],
            registry=r,
        )
        for outcome in OFFER_OUTCOMES:
            self.offers.labels(outcome)
        self.records = Counter(
            "dispatch_records", "Input records consumed: aggregate with sum.", registry=r
        )
        self.duplicates = Counter(
            "dispatch_duplicates",
            "Redelivered or repeated events recognised: aggregate with sum.",
            registry=r,
        )
        self.last_loop = Gauge(
            "dispatch_last_loop_timestamp_seconds",
            "When this replica's loop last completed (per replica).",
            registry=r,
        )
        self.state_refreshed = Gauge(
            "dispatch_state_refresh_timestamp_seconds",
            "When this replica last read the store gauges from the store (per replica).",
            registry=r,
        )
        self.notifications = Counter(
            "dispatch_notifications",
            "notification.sent events published for command.notify, by SLA kind (warning, "
            "breached; none when the command named no kind): aggregate with sum.",
            ["kind"],
            registry=r,
        )
        for kind in NOTIFICATION_KINDS:
            self.notifications.labels(kind)
        self.state = _StateCollector()
        r.register(self.state)
        self.ticket_queues = TicketQueues()

    def on_records(self, n: int) -> None:
        self.records.inc(n)

    def on_decisions(self, decisions: Sequence[Decision], latency_s: float) -> None:
        self.decision_latency.observe(latency_s)
        self.ticket_queues.note(d for d in decisions if not d.duplicate)
        declined: set[tuple[str, str]] = set()
        for d in decisions:
            if d.duplicate:
                self.duplicates.inc()
                continue
            self.decisions.labels(d.kind, d.queue or NO_LABEL).inc()
            if d.kind == RELEASED and d.reason in OFFER_RELEASE_REASONS:
                self.offers.labels(OFFER_RELEASE_REASONS[d.reason]).inc()
                declined.add((d.tenant, d.ticket_id))
            elif d.kind == ASSIGNED and d.step == STEP_ACCEPTED:
                self.offers.labels("accepted").inc()
            elif d.kind in ("assigned", "offered") and (d.tenant, d.ticket_id) not in declined:
                wait_s = max(0, d.ts - d.ticket_ts) / 1000
                self.time_to_assign.labels(d.queue or NO_LABEL).observe(wait_s)

    def on_rejected(self, reason: str) -> None:
        """A record was dead-lettered."""
        self.dead_letters.labels(reason).inc()

    def on_notification(self, event: Mapping[str, Any]) -> None:
        """A ``notification.sent`` event was published."""
        kind = event.get("kind")
        self.notifications.labels(kind if kind in NOTIFICATION_KINDS else "none").inc()

    def refresh_store(
        self, store: AgentStore, now_ms: int, queues: Iterable[str | Queue] = ()
    ) -> None:
        """Re-read the store gauges (call every ``STATE_REFRESH_S``, not per scrape).
        Pass the policy's :class:`Queue` objects for ``dispatch_queue_utilisation_ratio``."""
        self.state.set_store(snapshot_store(store, now_ms, queues, self.ticket_queues))
        self.state_refreshed.set(now_ms / 1000)

    def set_lag(self, lag: Mapping[tuple[str, int], int]) -> None:
        """Consumer lag per ``(topic, partition)`` (``KafkaGroupConsumer.lag()``)."""
        self.state.set_lag(lag_by_topic(lag))
