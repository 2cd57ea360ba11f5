"""engine.dispatch.metrics: decisions update counters and histograms as documented, the store
gauges read a known store state, and the HTTP server answers /metrics, /healthz and
/readyz. Values are read back from the registry (or the served text), in seconds."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from engine.adapters.memory import MemoryAgentStore
from engine.core.model import Decision
from engine.core.policy import parse_policy
from engine.dispatch.metrics import DispatcherMetrics, snapshot_store
from engine.dispatch.service import DispatchService
from engine.endpoints import NO_LABEL, Health, serve
from engine.ports import AgentStore, WaitingEntry

pytestmark = pytest.mark.unit

T0 = 1_700_000_000_000
POLICY = {
    "version": 1,
    "queues": [
        {"name": "vip", "match": {"tier": "vip"}, "strategy": "least_loaded"},
        {"name": "general", "match": {}, "strategy": "least_loaded"},
    ],
}


def value(m: DispatcherMetrics, name: str, **labels: str) -> float:
    got = m.registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


def decision(kind: str, ticket: str = "t1", **fields: Any) -> Decision:
    base = Decision(kind, ticket, "acme", T0, "general", agent="a1", ticket_ts=T0 - 4_000)
    return replace(base, **fields)


# ---------------------------------------------------------------- decisions


def test_decisions_are_counted_by_kind_and_queue_and_duplicates_apart() -> None:
    m = DispatcherMetrics()
    m.on_decisions(
        [
            decision("assigned"),
            decision("queued", "t2", agent=None, queue=""),
            decision("assigned", duplicate=True),
        ],
        0.002,
    )
    assert value(m, "dispatch_decisions_total", kind="assigned", queue="general") == 1
    assert value(m, "dispatch_decisions_total", kind="queued", queue=NO_LABEL) == 1
    assert value(m, "dispatch_duplicates_total") == 1
    assert value(m, "dispatch_decision_latency_seconds_count") == 1
    assert value(m, "dispatch_decision_latency_seconds_sum") == pytest.approx(0.002)


@pytest.mark.parametrize(
    ("decisions", "observed"),
    [
        ([decision("assigned")], [4.0]),
        ([decision("offered", step="initial")], [4.0]),
        ([decision("offered", step="initial|pull", ts=T0 + 6_000)], [10.0]),
        ([decision("assigned", step="accepted")], []),  # the offer was the first
        ([decision("assigned", duplicate=True)], []),
        ([decision("queued", agent=None), decision("escalated", agent=None)], []),
        # re-offered after a rejection in the same batch: not a first offer
        ([decision("released", reason="offer rejected"), decision("offered", agent="a2")], []),
        # another ticket in the batch is still a first offer
        ([decision("released", reason="offer timed out"), decision("offered", "t2")], [4.0]),
        ([decision("assigned", ticket_ts=T0 + 1_000)], [0.0]),  # clock skew: never negative
    ],
)
def test_time_to_assign_observes_first_assignments_and_offers_only(
    decisions: list[Decision], observed: list[float]
) -> None:
    m = DispatcherMetrics()
    m.on_decisions(decisions, 0.001)
    count = value(m, "dispatch_time_to_assign_seconds_count", queue="general")
    total = value(m, "dispatch_time_to_assign_seconds_sum", queue="general")
    assert (count, total) == (len(observed), pytest.approx(sum(observed)))


def test_offer_outcomes_come_from_accepted_assignments_and_offer_releases() -> None:
    m = DispatcherMetrics()
    m.on_decisions(
        [
            decision("assigned", step="accepted"),
            decision("released", "t2", reason="offer rejected"),
            decision("released", "t3", reason="offer timed out"),
            decision("released", "t4", reason="offer timed out"),
            decision("released", "t5", reason="resolved"),  # not an offer
            decision("released", "t6", reason="offer rejected", duplicate=True),
        ],
        0.001,
    )
    outcomes = {o: value(m, "dispatch_offers_total", outcome=o) for o in ("accepted",)}
    outcomes |= {o: value(m, "dispatch_offers_total", outcome=o) for o in ("rejected",)}
    outcomes |= {o: value(m, "dispatch_offers_total", outcome=o) for o in ("timed_out",)}
    assert outcomes == {"accepted": 1, "rejected": 1, "timed_out": 2}


def test_offer_outcomes_are_exported_at_zero_before_any_offer() -> None:
    m = DispatcherMetrics()
    for outcome in ("accepted", "rejected", "timed_out"):
        assert m.registry.get_sample_value("dispatch_offers_total", {"outcome": outcome}) == 0


def test_dead_letters_are_counted_by_reason() -> None:
    m = DispatcherMetrics()
    m.on_rejected("bad_json")
    m.on_rejected("bad_json")
    m.on_rejected("invalid")
    assert value(m, "dispatch_dead_letters_total", reason="bad_json") == 2
    assert value(m, "dispatch_dead_letters_total", reason="invalid") == 1


# ---------------------------------------------------------------- store gauges


def login(agent: str, team: str, capacity: dict[str, int]) -> dict[str, Any]:
    return {"v": 1, "type": "agent.login", "id": agent, "tenant": "acme", "ts": T0,
            "team": team, "capacity": capacity, "status": "available"}  # fmt: skip


def ticket(ident: str, ts: int, tenant: str = "acme") -> dict[str, Any]:
    return {"v": 1, "type": "ticket.created", "id": ident, "tenant": tenant, "ts": ts,
            "channel": "chat", "priority": 3}  # fmt: skip


@pytest.fixture
def known_store() -> MemoryAgentStore:
    """Team red: a1 (3 chat) and a4 (2 email); team blue: a2 (1 chat) and a3 offline
    (5 chat). Six chat tickets 30 s old: four assigned, two waiting in `general`, one of
    them of another tenant (no agents) and 90 s old."""
    store = MemoryAgentStore()
    service = DispatchService(store, parse_policy(POLICY))
    events = [
        login("a1", "red", {"chat": 3}),
        login("a2", "blue", {"chat": 1}),
        login("a3", "blue", {"chat": 5}),
        {"v": 1, "type": "agent.logout", "id": "a3", "tenant": "acme", "ts": T0},
        login("a4", "red", {"email": 2}),
        *[ticket(f"t{n}", T0 - 30_000) for n in range(5)],
        ticket("x1", T0 - 90_000, tenant="other"),
    ]
    service.handle(events, T0)
    return store


def test_snapshot_reads_waiting_oldest_agents_and_utilisation(
    known_store: MemoryAgentStore,
) -> None:
    snap = snapshot_store(known_store, T0, queues=["vip", "general"])
    assert snap.waiting == {"vip": 0, "general": 2}
    assert snap.oldest_s == {"vip": 0.0, "general": 90.0}
    assert snap.agents == {"available": 3, "offline": 1}
    # red: 3 open over 3 + 2 capacity; blue: 1 over 1 (the offline a3 is left out)
    assert snap.utilisation == {"red": pytest.approx(0.6), "blue": 1.0}


def test_store_gauges_are_exported_and_an_emptied_queue_reads_zero(
    known_store: MemoryAgentStore,
) -> None:
    m = DispatcherMetrics()
    m.refresh_store(known_store, T0, queues=["vip", "general"])
    assert value(m, "dispatch_waiting_tickets", queue="general") == 2
    assert value(m, "dispatch_oldest_waiting_seconds", queue="general") == 90
    assert value(m, "dispatch_agents", status="offline") == 1
    assert value(m, "dispatch_utilisation_ratio", team="red") == pytest.approx(0.6)
    assert value(m, "dispatch_state_refresh_timestamp_seconds") == T0 / 1000
    m.refresh_store(MemoryAgentStore(), T0 + 5_000)
    assert m.registry.get_sample_value("dispatch_waiting_tickets", {"queue": "general"}) == 0
    assert m.registry.get_sample_value("dispatch_agents", {"status": "available"}) == 0


class CountingStore:
    """Counts the reads a scrape would cost."""

    def __init__(self, inner: AgentStore) -> None:
        self.inner, self.reads = inner, 0

    def tenants(self) -> list[str]:
        self.reads += 1
        return self.inner.tenants()

    def waiting(self, tenant: str, queue: str | None = None) -> list[WaitingEntry]:
        self.reads += 1
        return self.inner.waiting(tenant, queue)

    def agents(self, tenant: str) -> Any:
        self.reads += 1
        return self.inner.agents(tenant)


def test_a_scrape_never_reads_the_store(known_store: MemoryAgentStore) -> None:
    m, store = DispatcherMetrics(), CountingStore(known_store)
    m.refresh_store(store, T0)  # type: ignore[arg-type]
    reads = store.reads
    for _ in range(3):
        list(m.registry.collect())
    assert store.reads == reads > 0


def test_consumer_lag_sums_partitions_per_topic_and_revoked_topics_read_zero() -> None:
    m = DispatcherMetrics()
    m.set_lag({("p.tickets.events", 0): 5, ("p.tickets.events", 1): 7, ("p.agents.events", 0): 0})
    assert value(m, "dispatch_consumer_lag", topic="p.tickets.events") == 12
    assert m.registry.get_sample_value("dispatch_consumer_lag", {"topic": "p.agents.events"}) == 0
    m.set_lag({})  # partitions revoked
    assert m.registry.get_sample_value("dispatch_consumer_lag", {"topic": "p.tickets.events"}) == 0


def test_help_text_says_how_to_aggregate_over_replicas() -> None:
    docs = {f.name: f.documentation for f in DispatcherMetrics().registry.collect()}
    for shared in ("waiting_tickets", "oldest_waiting_seconds", "agents", "utilisation_ratio"):
        assert "aggregate with max" in docs[f"dispatch_{shared}"]
    for summed in ("decisions", "offers", "dead_letters", "consumer_lag"):
        assert "aggregate with sum" in docs[f"dispatch_{summed}"]


# ---------------------------------------------------------------- HTTP


@pytest.fixture
def served() -> Iterator[tuple[int, DispatcherMetrics, Health]]:
    m, health = DispatcherMetrics(), Health()
    server = serve(0, m.registry, health, host="127.0.0.1")
    try:
        yield server.server_address[1], m, health
    finally:
        server.shutdown()
        server.server_close()


def get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def test_http_serves_metrics_text(served: tuple[int, DispatcherMetrics, Health]) -> None:
    port, m, _ = served
    m.on_rejected("bad_json")
    m.set_lag({("tickets.events", 0): 3})
    status, body = get(port, "/metrics")
    assert status == 200
    assert 'dispatch_dead_letters_total{reason="bad_json"} 1.0' in body
    assert 'dispatch_consumer_lag{topic="tickets.events"} 3.0' in body
    assert "# TYPE dispatch_waiting_tickets gauge" in body


def test_http_probes_report_liveness_and_readiness(
    served: tuple[int, DispatcherMetrics, Health],
) -> None:
    port, _, health = served
    assert get(port, "/healthz")[0] == 200
    assert get(port, "/readyz")[0] == 503  # not connected yet
    health.ready = True
    assert get(port, "/readyz") == (200, "ready\n")
    health.stale_s = 0.0  # the loop has not turned since
    assert get(port, "/healthz") == (503, "stalled\n")
    assert get(port, "/readyz")[0] == 503
    assert get(port, "/nope")[0] == 404


# ---------------------------------------------------------------- queue utilisation

QUEUE_POLICY = {
    "version": 1,
    "queues": [
        {"name": "billing", "match": {"skills_any": ["billing"]}, "strategy": "least_loaded",
         "skills": {"german": 2}},
        {"name": "phone", "match": {"channel": "phone"}, "strategy": "least_loaded"},
        {"name": "general", "match": {}, "strategy": "least_loaded"},
    ],
}  # fmt: skip


def skilled(agent: str, capacity: dict[str, int], skills: dict[str, int]) -> dict[str, Any]:
    return {**login(agent, "red", capacity), "skills": skills}


def chat(ident: str, channel: str = "chat", **skills: int) -> dict[str, Any]:
    return {**ticket(ident, T0 - 1_000), "channel": channel, "skills": skills}


@pytest.fixture
def queue_store() -> tuple[MemoryAgentStore, Any]:
    """b1 (billing 3, german 2; chat 2, phone 1) holds two billing chats; g1 (no skills;
    chat 2, phone 1) holds a general chat and a phone call; b2 (billing, german; chat 4)
    is offline."""
    policy = parse_policy(QUEUE_POLICY)
    store = MemoryAgentStore()
    service = DispatchService(store, policy)
    service.handle([skilled("b1", {"chat": 2, "phone": 1}, {"billing": 3, "german": 2})], T0)
    service.handle([chat("t1", billing=1), chat("t2", billing=1)], T0)
    service.handle([skilled("g1", {"chat": 2, "phone": 1}, {})], T0)
    service.handle([chat("t3"), chat("t4", channel="phone")], T0)
    service.handle([skilled("b2", {"chat": 4}, {"billing": 1, "german": 3})], T0)
    service.handle([{"v": 1, "type": "agent.logout", "id": "b2", "tenant": "acme", "ts": T0}], T0)
    return store, policy


def test_queue_utilisation_is_open_tickets_over_serving_capacity_on_its_channels(
    queue_store: tuple[MemoryAgentStore, Any],
) -> None:
    store, policy = queue_store
    snap = snapshot_store(store, T0, queues=policy.queues)
    # billing: 2 open over b1's 3 (g1 lacks the skills, b2 is offline)
    # phone: 1 open over the phone capacity of b1 and g1; general: 1 open over 3 + 3
    assert snap.queue_utilisation == {
        "billing": pytest.approx(2 / 3),
        "phone": 0.5,
        "general": pytest.approx(1 / 6),
    }
    assert set(snap.waiting) == {"billing", "phone", "general"}


def test_queue_utilisation_is_exported_per_queue(
    queue_store: tuple[MemoryAgentStore, Any],
) -> None:
    store, policy = queue_store
    m = DispatcherMetrics()
    m.refresh_store(store, T0, queues=policy.queues)
    got = value(m, "dispatch_queue_utilisation_ratio", queue="billing")
    assert got == pytest.approx(2 / 3)
    docs = {f.name: f.documentation for f in m.registry.collect()}
    assert "aggregate with max" in docs["dispatch_queue_utilisation_ratio"]


class TicketCountingStore(CountingStore):
    def __init__(self, inner: AgentStore) -> None:
        super().__init__(inner)
        self.ticket_reads = 0

    def ticket(self, tenant: str, ticket_id: str) -> Any:
        self.ticket_reads += 1
        return self.inner.ticket(tenant, ticket_id)


def test_each_open_ticket_queue_is_read_once_and_not_at_all_after_its_decision(
    queue_store: tuple[MemoryAgentStore, Any],
) -> None:
    store, policy = queue_store
    m, counting = DispatcherMetrics(), TicketCountingStore(store)
    # Given this replica published the decision of t1
    m.on_decisions([decision("assigned", "t1", tenant="acme", queue="billing")], 0.001)
    # When the gauges are refreshed twice
    m.refresh_store(counting, T0, queues=policy.queues)  # type: ignore[arg-type]
    m.refresh_store(counting, T0, queues=policy.queues)  # type: ignore[arg-type]
    # Then only the three other open tickets were read, once each
    assert counting.ticket_reads == 3
    assert value(m, "dispatch_queue_utilisation_ratio", queue="billing") == pytest.approx(2 / 3)


def test_a_released_ticket_leaves_the_queue_utilisation(
    queue_store: tuple[MemoryAgentStore, Any],
) -> None:
    store, policy = queue_store
    m = DispatcherMetrics()
    m.refresh_store(store, T0, queues=policy.queues)
    service = DispatchService(store, policy)
    service.handle(
        [{"v": 1, "type": "ticket.resolved", "id": "t1", "tenant": "acme", "ts": T0}], T0
    )
    m.refresh_store(store, T0, queues=policy.queues)
    assert value(m, "dispatch_queue_utilisation_ratio", queue="billing") == pytest.approx(1 / 3)


def test_queue_names_alone_export_no_queue_utilisation(known_store: MemoryAgentStore) -> None:
    snap = snapshot_store(known_store, T0, queues=["vip", "general"])
    assert snap.queue_utilisation == {}
