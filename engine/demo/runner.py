"""`dispatch demo`: a simulated call center on the in-memory adapters, with a wallboard.

Producer, dispatcher and SLA bookkeeping run in one process and one loop, on the
wall clock. Events travel encoded through the in-memory log exactly as they would
through Kafka, so the dispatcher's decode/dead-letter path is exercised too.
"""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from engine import codec
from engine.clock import WallClock
from engine.demo import callcenter as cc
from engine.demo.backend import DemoBackend, EmbeddedBackend
from engine.demo.board import Board, render
from engine.policy_file import load_policy

TICK_S = 0.05
REDRAW_S = 1.0
PLAIN_PROGRESS_S = 5.0


@dataclass(frozen=True)
class DemoOptions:
    duration_s: float = 20.0
    rate: float = 20.0
    agents: int = 60
    seed: int = 7
    bad_ratio: float = 0.002
    policy_path: Path | None = None


class _Producer:
    """Encodes, validates and sends events the way a producer SDK does."""

    def __init__(self, backend: DemoBackend) -> None:
        self.backend = backend

    def send(self, topic: str, body: dict[str, Any], now_ms: int) -> None:
        ev: dict[str, Any] = {"v": codec.SCHEMA_VERSION, "tenant": cc.TENANT, "ts": now_ms, **body}
        self.backend.send(topic, codec.key_of(ev), codec.encode_valid(ev))


def run_demo(
    opts: DemoOptions,
    out: TextIO = sys.stdout,
    board_out: TextIO | None = None,
    backend: DemoBackend | None = None,
) -> dict[str, Any]:
    """Run the demo for ``opts.duration_s`` wall seconds; returns the summary.

    ``backend`` defaults to everything in-process on the in-memory adapters.
    """
    rng = random.Random(opts.seed)
    policy = load_policy(opts.policy_path)
    be: DemoBackend = backend or EmbeddedBackend(policy)
    clock = WallClock()
    board = Board(policy, cc.TENANT)
    producer = _Producer(be)
    logins = cc.roster(opts.agents, rng)
    desks = cc.AgentDesktops(rng, [a["id"] for a in logins])
    start = clock.now_ms()
    for ev in logins:
        producer.send("agents.events", ev, start)
    next_arrival = start + rng.expovariate(opts.rate) * 1000
    end = start + int(opts.duration_s * 1000)
    last_draw = 0.0
    tty = board_out is not None and board_out.isatty()
    try:
        while True:
            now = clock.now_ms()
            if now >= end:
                break
            while next_arrival <= now:
                board.tickets += 1
                if rng.random() < opts.bad_ratio:
                    _send_bad(be, rng, board.tickets)
                else:
                    body = cc.ticket(board.tickets, rng)
                    producer.send("tickets.events", body, int(next_arrival))
                next_arrival += rng.expovariate(opts.rate) * 1000
            for ev in desks.due(now) + desks.breaks(now, per_tick_p=opts.agents * TICK_S / 60):
                topic = "agents.events" if ev["type"].startswith("agent.") else "tickets.lifecycle"
                producer.send(topic, ev, now)
            be.step()
            for raw in be.decisions():
                d = codec.decode(raw)
                board.on_decision(d)
                desks.on_decision(d, now)
            for raw in be.sla_events():
                board.on_sla(codec.decode(raw))
            board.dead_lettered = be.dead_letters()
            elapsed = (now - start) / 1000
            redraw = REDRAW_S if tty else PLAIN_PROGRESS_S
            if board_out is not None and elapsed - last_draw >= redraw:
                last_draw = elapsed
                text = render(board.snapshot(be.store, now), elapsed, opts.duration_s)
                board_out.write(("\x1b[H\x1b[2J" if tty else "") + text + "\n\n")
                board_out.flush()
            time.sleep(max(0.0, TICK_S - (clock.now_ms() - now) / 1000))
        summary = board.snapshot(be.store, clock.now_ms())
    finally:
        be.close()
    summary.update(
        duration_s=opts.duration_s,
        rate=opts.rate,
        agents=opts.agents,
        seed=opts.seed,
    )
    return summary


def _send_bad(backend: DemoBackend, rng: random.Random, n: int) -> None:
    """A poison message, as a misbehaving upstream system would send."""
    if rng.random() < 0.5:
        backend.send("tickets.events", f"bad-{n}".encode(), b"\xc1not msgpack")
    else:
        ev: dict[str, Any] = {
            "v": 1,
            "type": "ticket.created",
            "id": f"bad-{n}",
            "tenant": cc.TENANT,
            "ts": 0,
            "channel": "phone",
            "priority": 9,
        }
        backend.send("tickets.events", f"bad-{n}".encode(), codec.encode(ev))
