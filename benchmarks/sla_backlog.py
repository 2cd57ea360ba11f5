"""The SLA benchmark's backlog: tickets with known timings, all in the past, and the SLA
events the tracker must produce for them -- computed with the pure clock
(``engine.core.sla.TicketClock``, as ``tests/sla_scenario.py`` does), not with the tracker's
own code path."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

import yaml

S = 1000
TENANT = "bench-sla"
POLICY_NAME = "bench"
POLICY = f"""
version: 1
sla:
  {POLICY_NAME}:
    first_response_s: 60
    resolution_s: 600
    warn_at: 0.5
    escalate:
      - {{when: breached, target: first_response, notify: ["team:leads"]}}
queues:
  - {{name: general, strategy: round_robin, sla: {POLICY_NAME}}}
"""
# (first response delay, resolution delay) in seconds; None: never happens.
SHAPES: list[tuple[float | None, float | None]] = [
    (20, 200),  # both met, no warning
    (40, 400),  # both warned, then met
    (None, None),  # warnings and breaches (first response breach -> notify escalation)
    (90, 700),  # both breached, answered late: no met
    (10, None),  # first response met, resolution warned and breached
]
LIFECYCLE = {"first_response": "ticket.first_response", "resolved": "ticket.resolved"}
INPUT_TOPICS = ("tickets.events", "dispatch.assignments", "tickets.lifecycle")


def policy() -> Any:
    from engine.core.policy import parse_policy

    return parse_policy(yaml.safe_load(POLICY))


@dataclass
class Backlog:
    """``events``: (event time, event) in time order; ``expected``: SLA event id ->
    (type, target, ts, deadline_ms); ``escalations``: ids of outcomes that escalate."""

    tickets: int
    events: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    expected: dict[str, tuple[str, str, int, int]] = field(default_factory=dict)
    escalations: set[str] = field(default_factory=set)

    def by_topic(self) -> dict[str, int]:
        from engine import codec

        out: dict[str, int] = {}
        for _, ev in self.events:
            t = codec.topic_of(ev["type"])
            out[t] = out.get(t, 0) + 1
        return out

    def expected_by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for typ, target, _ts, _dl in self.expected.values():
            out[f"{typ} {target}"] = out.get(f"{typ} {target}", 0) + 1
        return dict(sorted(out.items()))


def build(n: int, base_ms: int, spacing_ms: int, agents: int = 20, seed: int = 7) -> Backlog:
    """``n`` tickets created ``spacing_ms`` apart from ``base_ms``, each assigned 0.5 s later,
    then answered/resolved per :data:`SHAPES`."""
    from engine.core.sla import ClockEvent, TicketClock, event_id

    rng = random.Random(seed)
    out = Backlog(tickets=n)
    clocks: dict[str, list[ClockEvent]] = {}
    for i in range(n):
        tid = f"b{i:06d}"
        c = base_ms + i * spacing_ms
        fr, res = SHAPES[i % len(SHAPES)]
        agent = f"ag{rng.randrange(agents):03d}"
        common = {"v": 1, "id": tid, "tenant": TENANT}
        created = {"type": "ticket.created", "ts": c, "channel": "chat", "priority": 3}
        out.events.append((c, {**common, **created}))
        assigned = {"type": "decision.assigned", "ts": c + 500, "queue": "general"}
        out.events.append((c + 500, {**common, **assigned, "agent": agent}))
        clock = [ClockEvent("created", c)]
        for kind, delay in (("first_response", fr), ("resolved", res)):
            if delay is None:
                continue
            ts = c + int(delay * S)
            out.events.append((ts, {**common, "type": LIFECYCLE[kind], "ts": ts, "agent": agent}))
            clock.append(ClockEvent(kind, ts))
        clocks[tid] = clock
    out.events.sort(key=lambda te: te[0])
    targets = policy().sla[POLICY_NAME]
    for tid, clock in clocks.items():
        for o in TicketClock(targets, clock).outcomes(2**62):
            eid = event_id(tid, o.target, o.kind, o.cycle)
            out.expected[eid] = (f"sla.{o.kind}", o.target, o.at_ms, o.deadline_ms)
            if any(e.applies(o.target, o.kind) for e in targets.escalations):
                out.escalations.add(eid)
    return out


def _dec(value: bytes) -> dict[str, Any]:
    from benchmarks.bench_stack import dec

    return dec(value)


def check_events(rows: list[tuple[float, Any]], backlog: Backlog) -> dict[str, Any]:
    """Distinct SLA event ids against the expected set; type/target/ts/deadline per id;
    duplicates (same id) must be byte-identical."""
    seen: dict[str, list[bytes]] = {}
    for _, rec in rows:
        seen.setdefault(_dec(rec.value)["event_id"], []).append(rec.value)
    missing = set(backlog.expected) - set(seen)
    unexpected = set(seen) - set(backlog.expected)
    wrong = []
    for eid, values in seen.items():
        ev = _dec(values[0])
        if eid in backlog.expected and (
            len(set(values)) > 1
            or (ev["type"], ev["target"], ev["ts"], ev["deadline_ms"]) != backlog.expected[eid]
        ):
            wrong.append(eid)
    return {
        "expected": len(backlog.expected),
        "distinct": len(seen),
        "records": len(rows),
        "duplicates": len(rows) - len(seen),
        "missing": len(missing),
        "unexpected": len(unexpected),
        "different": len(wrong),
        "examples": sorted(missing)[:3] + sorted(unexpected)[:3] + wrong[:3],
        "valid": not missing and not unexpected and not wrong,
    }


def check_escalations(rows: list[tuple[float, Any]], backlog: Backlog) -> dict[str, Any]:
    """One ``command.notify`` per escalating outcome (event id), nothing else."""
    ids = [_dec(rec.value).get("event_id") for _, rec in rows]
    return {
        "expected": len(backlog.escalations),
        "commands": len(ids),
        "distinct": len(set(ids)),
        "valid": set(ids) == backlog.escalations,
    }


def produce(s: Any, backlog: Backlog) -> dict[str, Any]:
    """Every event of the backlog onto its topic, keyed by ticket id, in event-time order (one
    event of each type schema-validated first)."""
    from engine import codec
    from engine.adapters.kafka import KafkaEventLog

    seen: set[str] = set()
    started = time.perf_counter()
    size = 0
    with KafkaEventLog(s.kafka, linger_ms=20) as log_:
        for _, ev in backlog.events:
            if ev["type"] not in seen:
                codec.validate(ev)
                seen.add(ev["type"])
            value = codec.encode(ev)
            size += len(value)
            log_.send(s.topic(codec.topic_of(ev["type"])), codec.key_of(ev), value)
        log_.flush()
    return {
        "records": len(backlog.events),
        "by_topic": backlog.by_topic(),
        "mean_bytes": size / max(1, len(backlog.events)),
        "produce_s": time.perf_counter() - started,
    }


def end_offsets(s: Any) -> dict[str, int]:
    """Sum of end offsets per input topic (nothing else writes to them during the run)."""
    from kafka import KafkaConsumer, TopicPartition

    from engine.adapters.kafka.options import build as build_client
    from engine.adapters.kafka.options import client_options

    opts = client_options(s.kafka, "bench-sla-offsets")
    opts.update(enable_auto_commit=False, group_id=None)
    consumer = build_client(KafkaConsumer, opts, "end offsets")
    try:
        out = {}
        for logical in INPUT_TOPICS:
            topic = s.topic(logical)
            tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
            out[logical] = sum(consumer.end_offsets(tps).values())
        return out
    finally:
        consumer.close()


class GroupProgress:
    """Committed offsets of a consumer group over the input topics (admin OffsetFetch)."""

    def __init__(self, s: Any) -> None:
        from kafka import KafkaAdminClient

        from engine.adapters.kafka.options import build as build_client
        from engine.adapters.kafka.options import client_options

        self.topics = {s.topic(t) for t in INPUT_TOPICS}
        self.admin = build_client(
            KafkaAdminClient, client_options(s.kafka, "bench-sla-progress"), "admin"
        )
        self.last = 0

    def committed(self, group: str) -> int:
        """Sum of committed offsets (the last answer again if the broker says no this time)."""
        from kafka.errors import KafkaError

        try:
            offsets = self.admin.list_group_offsets(group).get(group, {})
        except KafkaError:
            return self.last
        self.last = sum(max(0, om.offset) for tp, om in offsets.items() if tp.topic in self.topics)
        return self.last

    def close(self) -> None:
        self.admin.close()
