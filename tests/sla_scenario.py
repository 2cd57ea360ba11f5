"""A ticket stream with known timings for the SLA tracker tests on real Kafka + Redis, and
the SLA events it must produce -- computed with the pure clock (``TicketClock``), not with
the tracker's own code path."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from engine.core.policy import Policy, parse_policy
from engine.core.sla import ClockEvent, TicketClock, event_id

S = 1000
# Short targets so that a stream plays out in real time within seconds.
POLICY = """
version: 1
sla:
  fast:
    first_response_s: 4
    resolution_s: 12
    warn_at: 0.5
    escalate:
      - {when: breached, target: first_response, raise_priority: 1, notify: [team:leads]}
queues:
  - {name: general, strategy: round_robin, sla: fast}
"""
# (first response delay, resolution delay, reopen) in seconds; None: never happens.
SHAPES: list[tuple[float | None, float | None, bool]] = [
    (1, 5, False),  # both met
    (3, 8, False),  # warnings, then met
    (None, None, False),  # warnings and breaches
    (5, 14, False),  # breached, then answered late: no met
    (1, 5, True),  # reopened at 7 s, resolved again at 9 s: cycle 1 met
    (2, None, False),  # first response met, resolution breached
]
LIFECYCLE = {
    "first_response": "ticket.first_response",
    "resolved": "ticket.resolved",
    "reopened": "ticket.reopened",
}


def policy() -> Policy:
    return parse_policy(yaml.safe_load(POLICY))


@dataclass
class Stream:
    """``events``: (ts, event) in time order; ``expected``: event id -> (type, target, ts,
    deadline); ``tickets``: per ticket the clock events; ``first_response_s`` etc. known."""

    events: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    expected: dict[str, tuple[str, str, int, int]] = field(default_factory=dict)
    clocks: dict[str, list[ClockEvent]] = field(default_factory=dict)


def build(
    n: int, base_ms: int, spacing_ms: int, tenant: str, seed: int = 7, agents: int = 5
) -> Stream:
    rng = random.Random(seed)
    out = Stream()
    for i in range(n):
        tid = f"s{i:04d}"
        c = base_ms + i * spacing_ms
        fr, res, reopen = SHAPES[i % len(SHAPES)]
        agent = f"ag{rng.randrange(agents)}"
        common = {"v": 1, "id": tid, "tenant": tenant}
        out.events.append(
            (c, {**common, "type": "ticket.created", "ts": c, "channel": "chat", "priority": 3})
        )
        assigned = {"queue": "general", "agent": agent}
        out.events.append(
            (c + 500, {**common, "type": "decision.assigned", "ts": c + 500, **assigned})
        )
        clock = [ClockEvent("created", c)]
        steps: list[tuple[str, float]] = []
        if fr is not None:
            steps.append(("first_response", fr))
        if res is not None:
            steps.append(("resolved", res))
        if reopen:
            steps += [("reopened", 7), ("resolved", 9)]
        for kind, delay in steps:
            ts = c + int(delay * S)
            out.events.append((ts, {**common, "type": LIFECYCLE[kind], "ts": ts, "agent": agent}))
            clock.append(ClockEvent(kind, ts))
        if res is not None and i % 2 == 0:
            ts = c + int(res * S) + 200
            rated = {**common, "type": "ticket.rated", "ts": ts, "rating": 1 + i % 5}
            out.events.append((ts, rated))
        out.clocks[tid] = clock
    out.events.sort(key=lambda te: te[0])
    targets = policy().sla["fast"]
    for tid, clock in out.clocks.items():
        for o in TicketClock(targets, clock).outcomes(2**62):
            eid = event_id(tid, o.target, o.kind, o.cycle)
            out.expected[eid] = (f"sla.{o.kind}", o.target, o.at_ms, o.deadline_ms)
    return out


def play(
    stream: Stream,
    send: Callable[[dict[str, Any]], None],
    now_ms: Callable[[], int],
    sleep: Callable[[float], None],
    on_progress: Callable[[int], None] = lambda _n: None,
) -> None:
    """Send each event at its own time (real time), calling ``on_progress(i)`` before the
    i-th."""
    for i, (ts, ev) in enumerate(stream.events):
        on_progress(i)
        wait = ts - now_ms()
        if wait > 0:
            sleep(wait / 1000)
        send(ev)
