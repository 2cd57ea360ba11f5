"""`dispatch reconcile [--repair]`: compare Redis with the decisions topic; rebuild.

Reads ``dispatch.assignments`` from the beginning (compacted: the latest decisions per
ticket survive), folds them into where each ticket should be (highest ``seq`` wins), and
compares every agent's open tickets in Redis with that. ``--repair`` recreates what Redis
lost: agents from ``agents.events``, then open and waiting tickets from
``tickets.events`` as decided (same agent, same version), then lets available agents pull
waiting work and publishes those decisions. Tickets already in Redis are never touched.
``--repair`` then sets the store's state marker (``keys.state_key``): dispatchers that
paused because Redis lost its data resume (``consumers.dispatcher.StateGuard``); it repairs
even without drift when the marker is missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from engine import codec
from engine.adapters.kafka import KafkaEventLog, read_topic
from engine.adapters.redis import RedisAgentStore, client_from_url
from engine.clock import WallClock
from engine.config import Settings
from engine.core.model import Decision, Request, Ticket
from engine.core.routing import route
from engine.dispatch.reconcile import (
    AgentDrift,
    Expected,
    agent_drift,
    agent_fields,
    expected_state,
)
from engine.dispatch.service import agent_hours
from engine.exitcodes import RET_INVALID, RET_OK
from engine.logs import get_logger
from engine.policy_file import load_policy
from engine.ports import ASSIGNED, OFFERED, WAITING, AgentStore

log = get_logger(__name__)


@dataclass
class Report:
    tenants: dict[str, list[AgentDrift]] = field(default_factory=dict)
    restored_agents: int = 0
    restored_tickets: int = 0
    unrecoverable: list[str] = field(default_factory=list)
    published: list[Decision] = field(default_factory=list)

    @property
    def drift(self) -> int:
        return sum(1 for ds in self.tenants.values() for d in ds if not d.ok)


def _decoded(records: Iterable[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in records:
        try:
            out.append(codec.decode(r.value))
        except codec.DecodeError:
            continue  # tombstones and foreign records are not decisions
    return out


def compare(store: AgentStore, expected: dict[tuple[str, str], Expected]) -> Report:
    report = Report()
    for tenant in sorted({t for t, _ in expected} | set(store.tenants())):
        report.tenants[tenant] = agent_drift(tenant, expected, store.agents(tenant))
    return report


def repair(
    settings: Settings, store: AgentStore, expected: dict[tuple[str, str], Expected]
) -> Report:
    kafka = settings.kafka
    agents = agent_fields(_decoded(read_topic(kafka, settings.topic("agents.events"))))
    tickets = {
        (str(ev.get("tenant", "default")), str(ev["id"])): ev
        for ev in _decoded(read_topic(kafka, settings.topic("tickets.events")))
    }
    policy = load_policy(settings.policy_path)
    now = WallClock().now_ms()
    report = Report()
    for (tenant, agent_id), fields in sorted(agents.items()):
        if agent_id not in {v.agent.id for v in store.agents(tenant)}:
            # Not yet available: pulling waits until the tickets are back.
            hours = agent_hours(policy, fields.get("schedule") or "", now)
            store.update_agent(tenant, agent_id, {**fields, **hours, "status": "offline"}, now)
            report.restored_agents += 1
    items: dict[str, list[tuple[Request, dict[str, Any], str, str | None, int]]] = {}
    for (tenant, tid), exp in sorted(expected.items()):
        if exp.state == "closed" or store.ticket(tenant, tid) is not None:
            continue
        ev = tickets.get((tenant, tid))
        r = route(Ticket.from_event(ev), policy, now, queue_name=exp.queue) if ev else None
        if ev is None or r is None or r.request is None:
            report.unrecoverable.append(f"{tenant}/{tid}")
            continue
        state = (
            WAITING if exp.state == "waiting" else OFFERED if exp.kind == "offered" else ASSIGNED
        )
        items.setdefault(tenant, []).append((r.request, ev, state, exp.agent, exp.seq))
    for tenant, batch in items.items():
        report.restored_tickets += store.restore(tenant, batch, now)
    decisions: list[Decision] = []
    for (tenant, agent_id), fields in sorted(agents.items()):
        decisions += store.update_agent(tenant, agent_id, {"status": fields.get("status")}, now)
    if decisions:
        producer = KafkaEventLog(kafka)
        try:
            for d in decisions:
                topic = settings.topic("dispatch.assignments")
                producer.send(
                    topic, codec.record_key(d.tenant, d.ticket_id), codec.encode(d.to_event())
                )
            producer.flush()
            for d in decisions:
                store.outbox_ack(d.tenant, [(d.ticket_id, d.seq, d.duplicate)])
        finally:
            producer.close()
    report.published = decisions
    return report


def run(settings: Settings, *, do_repair: bool, out: TextIO) -> int:
    store = RedisAgentStore(client_from_url(settings.redis_url), prefix=settings.redis_prefix)
    decisions = _decoded(read_topic(settings.kafka, settings.topic("dispatch.assignments")))
    expected = expected_state(decisions)
    before = compare(store, expected)
    _print(before, out, f"{len(decisions)} decisions, {len(expected)} tickets")
    marked = store.state_marked()
    if not marked:
        print(
            f"reconcile: no state marker ({store.state_key}): if Redis lost its data, "
            "dispatchers pause until `dispatch reconcile --repair`",
            file=out,
        )
    if not do_repair or (before.drift == 0 and marked):
        return RET_OK if before.drift == 0 else RET_INVALID
    done = repair(settings, store, expected)
    store.mark_state("dispatch reconcile --repair", WallClock().now_ms())
    print(
        f"repair: restored {done.restored_agents} agents and {done.restored_tickets} tickets, "
        f"published {len(done.published)} decisions; {len(done.unrecoverable)} unrecoverable",
        file=out,
    )
    for tid in done.unrecoverable[:50]:
        print(f"  unrecoverable (no ticket.created left in the topic): {tid}", file=out)
    after = compare(store, expected_state(decisions + [d.to_event() for d in done.published]))
    _print(after, out, "after repair")
    return RET_OK if after.drift == 0 else RET_INVALID


def _print(report: Report, out: TextIO, title: str) -> None:
    print(f"reconcile ({title}): {report.drift} agent(s) with drift", file=out)
    for tenant, drifts in report.tenants.items():
        for d in drifts:
            if not d.ok:
                print(
                    f"  {tenant}/{d.agent}: missing in Redis {len(d.missing)} "
                    f"{d.missing[:5]}, extra in Redis {len(d.extra)} {d.extra[:5]}",
                    file=out,
                )
