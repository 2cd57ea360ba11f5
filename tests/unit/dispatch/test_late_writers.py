"""Late writers and stray events through the dispatcher, on the in-memory adapters.

* A zombie replica's late batch (its partitions already processed further by the new owner)
  cannot roll agent state back: each state change carries its record's position.
* Events naming unknown tickets, agents or tenants are dead-lettered with a reason and
  register nothing; the loop's work follows due pools, not every tenant ever seen.
* The last record of a ticket on the decisions topic is its newest decision, even when another
  replica's newer decision lands before this replica's older one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from engine import codec
from engine.adapters.memory import MemoryAgentStore, MemoryLog
from engine.clock import SimClock
from engine.core.model import Decision, Request
from engine.core.policy import parse_policy
from engine.dispatch.pipeline import Pipeline, PipelineTopics
from engine.dispatch.service import DispatchService
from engine.ports import Timer
from tests.unit.event_examples import DROP, example

pytestmark = pytest.mark.unit

T0 = 1_700_000_000_000
INPUTS = ("tickets.events", "agents.events", "tickets.lifecycle", "dispatch.commands")
POLICY = parse_policy(
    {"version": 1, "queues": [{"name": "general", "match": {}, "strategy": "least_loaded"}]}
)


def event(typ: str, oid: str, offset: int, **fields: Any) -> codec.Event:
    """An event as the pipeline hands it to the service: decoded, with its record position."""
    ev = codec.decode(codec.encode(example(typ, id=oid, tenant="acme", ts=T0, **fields)))
    ev.origin = (0, offset)
    return ev


def agent_fields() -> dict[str, Any]:
    return {"capacity": {"chat": 2}, "skills": {}, "regions": []}


# a plain chat ticket any agent with chat capacity may take
PLAIN = {"skills": {}, "region": DROP, "queue": DROP, "preferred_agent": DROP}


def test_a_zombie_replicas_late_batch_does_not_roll_agents_back() -> None:
    # Given one store, and the events of one agents.events partition: login (0), away (1),
    # available (2)
    store = MemoryAgentStore()
    new_owner, zombie = DispatchService(store, POLICY), DispatchService(store, POLICY)
    login = event("agent.login", "ann", 0, **agent_fields())
    away = event("agent.status", "ann", 1, status="away")
    back = event("agent.status", "ann", 2, status="available")
    # When the new owner processes the whole partition, then the zombie (stopped past its
    # session time-out while holding offsets 0-1) resumes and applies its batch
    new_owner.handle([login, away, back], T0)
    zombie.handle([login, away], T0 + 1)
    # Then the agent is available, as its last event says, and takes work
    (view,) = store.agents("acme")
    assert view.agent.status == "available"
    decisions = new_owner.handle([event("ticket.created", "T-1", 0, **PLAIN)], T0 + 2)
    assert [(d.kind, d.agent) for d in decisions] == [("assigned", "ann")]


def rig(store: MemoryAgentStore | None = None) -> tuple[Pipeline, MemoryLog]:
    log = MemoryLog()
    pipeline = Pipeline(
        log.consumer(INPUTS, "dispatchers"),
        log,
        DispatchService(store or MemoryAgentStore(), POLICY),
        SimClock(T0),
        PipelineTopics(),
        poll_timeout_ms=0,
        commit_interval_ms=0,
    )
    return pipeline, log


def send(log: MemoryLog, *events: dict[str, Any]) -> None:
    for ev in events:
        log.send(codec.topic_of(ev["type"]), codec.key_of(ev), codec.encode(ev))


def test_stray_lifecycle_events_and_commands_are_dead_lettered_and_register_nothing() -> None:
    # Given a dispatcher whose store knows one tenant with an agent
    pipeline, log = rig()
    send(log, example("agent.login", id="ann", tenant="acme", **agent_fields()))
    pipeline.run_once()
    # When events name tickets, agents and tenants nobody created
    strays = [
        example("ticket.resolved", id="T-404", tenant="acme"),
        example("ticket.accepted", id="T-404", tenant="acme", agent="ann"),
        example("agent.logout", id="ghost", tenant="acme"),
        example("agent.status", id="ann", tenant="nobody", status="away"),
        example("command.pause_queue", id="general", tenant="nobody"),
        example("command.claim", id="ghost", tenant="acme"),
    ]
    send(log, *strays)
    pipeline.run_once()
    # Then each is in the dead-letter topic with the reason, and nothing was registered
    reasons = [dict(r.headers)["reason"].decode() for r in log.records("dispatch.deadletter")]
    assert reasons == [
        "unknown_ticket",
        "unknown_ticket",
        "unknown_agent",
        "unknown_agent",
        "unknown_tenant",
        "unknown_agent",
    ]
    store = pipeline.service.store
    assert store.tenants() == ["acme"]
    assert [v.agent.id for v in store.agents("acme")] == ["ann"]


class CountingStore(MemoryAgentStore):
    """Counts the per-pool timer claims a tick makes."""

    def __init__(self) -> None:
        super().__init__()
        self.claims: list[str] = []

    def claim_timers(self, tenant: str, now_ms: int, lease_ms: int, limit: int) -> list[Timer]:
        self.claims.append(tenant)
        return super().claim_timers(tenant, now_ms, lease_ms, limit)


def test_a_tick_works_on_the_pools_that_have_something_due_not_on_every_tenant() -> None:
    # Given 300 tenants with an agent each and nothing pending, and one with a due timer
    store = CountingStore()
    service = DispatchService(store, POLICY)
    for i in range(300):
        store.update_agent(f"t{i}", "ann", {"status": "away"}, T0)
    service.acknowledge([])
    store.update_agent("busy", "bob", {"status": "away", "capacity": {"chat": 1}}, T0)
    req = Request("W", "busy", "general", "least_loaded", "chat", 3, T0, 0.0, wake_ms=T0 + 10)
    for d in store.assign([(req, {"id": "W", "tenant": "busy", "ts": T0})], T0):
        service.acknowledge([d])
    # When the dispatcher ticks after the timer fell due
    service.tick(T0 + 20)
    # Then it claimed timers of that one pool only
    assert store.claims == ["busy"]


class RacingStore(MemoryAgentStore):
    """Right after this replica routes T-1, another replica resolves it and publishes its
    decision at once: the newer decision lands on the log before this replica's older one."""

    def __init__(self, log: MemoryLog) -> None:
        super().__init__()
        self.log = log
        self.raced = False

    def assign(
        self, items: Sequence[tuple[Request, Mapping[str, Any]]], now_ms: int
    ) -> list[Decision]:
        out = super().assign(items, now_ms)
        if not self.raced:
            self.raced = True
            for d in self.release("acme", "T-1", "resolved", now_ms):
                key = codec.record_key(d.tenant, d.ticket_id)
                self.log.send("dispatch.assignments", key, codec.encode(d.to_event()))
        return out


def test_the_last_record_of_a_ticket_is_its_newest_decision_whatever_landed_first() -> None:
    # Given a replica whose older decision reaches the log after another's newer one
    log = MemoryLog()
    store = RacingStore(log)
    pipeline = Pipeline(
        log.consumer(INPUTS, "dispatchers"),
        log,
        DispatchService(store, POLICY),
        SimClock(T0),
        PipelineTopics(),
        poll_timeout_ms=0,
        commit_interval_ms=0,
    )
    send(log, example("agent.login", id="ann", tenant="acme", **agent_fields()))
    pipeline.run_once()
    send(log, example("ticket.created", id="T-1", tenant="acme", **PLAIN))
    # When it processes the ticket and settles
    pipeline.run_once()
    # Then the ticket's records end with its newest decision (the release, seq 2)
    records = [codec.decode(r.value) for r in log.records("dispatch.assignments")]
    mine = [(d["type"], d["seq"]) for d in records if d["id"] == "T-1"]
    assert mine[-1] == ("decision.released", 2)
    assert ("decision.assigned", 1) in mine
    assert pipeline.stats.republished == 1


def test_a_refused_command_never_becomes_a_tickets_last_record_on_the_compacted_topic() -> None:
    # Given an assigned ticket
    pipeline, log = rig()
    send(log, example("agent.login", id="ann", tenant="acme", **agent_fields()))
    send(log, example("ticket.created", id="T-1", tenant="acme", **PLAIN))
    pipeline.run_once()
    # When a supervisor's move to an unknown agent is refused
    send(log, example("command.reassign", id="T-1", tenant="acme", to_agent="ghost"))
    pipeline.run_once()
    # Then the refusal has a key of its own: compaction keeps the assignment as T-1's last
    keyed = [(r.key, codec.decode(r.value)["type"]) for r in log.records("dispatch.assignments")]
    assert (b"acme/T-1/rejected", "decision.rejected") in keyed
    assert [t for k, t in keyed if k == b"acme/T-1"][-1] == "decision.assigned"
