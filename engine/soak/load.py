"""The load's pure parts: a pacer that bounds it, the agent desktops' behaviour and the
poison records. The thread that sends it all is ``traffic``.

Bounded means: by any moment ``t`` seconds after the start, at most ``rate * t`` tickets were
released (:class:`Pacer`), and after a stall (a broker restart blocking the producer) at most
``burst_s`` seconds' worth is released at once: a backlog is dropped, never replayed.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from typing import Any

from engine import codec

DEFAULT_BURST_S = 1.0
ACCEPT_P = 0.85  # an offer is accepted; then REJECT_P rejected; otherwise ignored (times out)
REJECT_P = 0.08
DRAIN_ACCEPT_MS = 200
HANDLE_MS = {"phone": 6_000, "chat": 10_000, "email": 15_000}  # mean handle time by channel
MAX_HANDLE_MS = 60_000
BREAK_MS = (2_000, 6_000)
RELOGIN_MS = (1_000, 4_000)
POISON_KINDS = ("undecodable", "invalid", "unknown_ticket")


class Pacer:
    """A token bucket that starts empty: ``due(now_s)`` is how many tickets to send now."""

    def __init__(self, rate: float, start_s: float, burst_s: float = DEFAULT_BURST_S) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.rate = rate
        self.cap = max(1.0, rate * burst_s)
        self.tokens = 0.0
        self.last_s = start_s
        self.released = 0

    def due(self, now_s: float) -> int:
        if now_s > self.last_s:
            self.tokens = min(self.cap, self.tokens + (now_s - self.last_s) * self.rate)
            self.last_s = now_s
        n = int(self.tokens)
        self.tokens -= n
        self.released += n
        return n


@dataclass(order=True)
class _Due:
    at_ms: int
    seq: int
    event: dict[str, Any] = field(compare=False)


class Desks:
    """The agents of one tenant at their desktops. Feed them decisions
    (:meth:`on_decision`); collect what they do (:meth:`due`): accept most offers (reject
    some, ignore a few so they time out), answer and resolve assigned tickets after a handle
    time, take breaks (:meth:`breaks`) and log out and back in (:meth:`churn`).

    ``drain()``: the load stops. From then on every offer is accepted and nothing else is
    done (no resolutions, breaks or logouts), so the dispatchers reach a quiet state."""

    def __init__(self, rng: random.Random, logins: list[dict[str, Any]]) -> None:
        self.rng = rng
        self.logins = {a["id"]: a for a in logins}
        self.agent_ids = sorted(self.logins)
        self._due: list[_Due] = []
        self._seq = 0
        self._owner: dict[str, str] = {}
        self._away: set[str] = set()
        self.draining = False

    def _later(self, at_ms: int, ev: dict[str, Any]) -> None:
        self._seq += 1
        heapq.heappush(self._due, _Due(at_ms, self._seq, ev))

    def drain(self) -> None:
        self.draining = True
        kept = [d for d in self._due if d.event["type"] == "ticket.accepted"]
        self._due = kept
        heapq.heapify(self._due)

    def on_decision(self, d: dict[str, Any], now_ms: int) -> None:
        kind, tid, agent = d["type"].removeprefix("decision."), d["id"], d.get("agent")
        if kind == "offered" and agent:
            self._owner[tid] = agent
            r = self.rng.random()
            if self.draining or r < ACCEPT_P:
                delay = DRAIN_ACCEPT_MS if self.draining else self.rng.randint(300, 2000)
                self._later(now_ms + delay, _life("ticket.accepted", tid, agent))
            elif r < ACCEPT_P + REJECT_P:
                self._later(now_ms + 500, _life("ticket.rejected", tid, agent))
        elif kind in ("assigned", "reassigned") and agent:
            self._owner[tid] = agent
            if self.draining:
                return
            mean = HANDLE_MS.get(str(d.get("channel")), 10_000)
            handle = min(MAX_HANDLE_MS, int(self.rng.expovariate(1 / mean)))
            self._later(now_ms + min(1500, handle // 3), _life("ticket.first_response", tid, agent))
            self._later(now_ms + max(500, handle), _life("ticket.resolved", tid, agent))
        elif kind == "released":
            self._owner.pop(tid, None)

    def breaks(self, now_ms: int, p: float) -> list[dict[str, Any]]:
        """With probability ``p``, one agent goes away for a few seconds."""
        if self.draining or self.rng.random() >= p:
            return []
        agent = self.rng.choice(self.agent_ids)
        if agent in self._away:
            return []
        self._away.add(agent)
        self._later(now_ms + self.rng.randint(*BREAK_MS), _status(agent, "available"))
        return [_status(agent, "away")]

    def churn(self, now_ms: int, p: float) -> list[dict[str, Any]]:
        """With probability ``p``, one agent logs out and back in a little later."""
        if self.draining or self.rng.random() >= p:
            return []
        agent = self.rng.choice(self.agent_ids)
        if agent in self._away:
            return []
        self._away.add(agent)
        self._later(now_ms + self.rng.randint(*RELOGIN_MS), dict(self.logins[agent]))
        return [{"type": "agent.logout", "id": agent}]

    def due(self, now_ms: int) -> list[dict[str, Any]]:
        out = []
        while self._due and self._due[0].at_ms <= now_ms:
            ev = heapq.heappop(self._due).event
            typ, tid = ev["type"], ev.get("id", "")
            if typ.startswith("agent."):
                self._away.discard(tid)
            elif typ != "ticket.accepted" and self._owner.get(tid) != ev.get("agent"):
                continue  # released, reassigned or declined meanwhile
            out.append(ev)
        return out

    def pending(self) -> int:
        return len(self._due)


def _life(typ: str, tid: str, agent: str) -> dict[str, Any]:
    return {"type": typ, "id": tid, "agent": agent}


def _status(agent: str, status: str) -> dict[str, Any]:
    return {"type": "agent.status", "id": agent, "status": status}


def poison(kind: str, n: int, tenant: str, ts_ms: int) -> tuple[str, bytes, bytes]:
    """``(logical topic, key, value)`` of a record a misbehaving producer would send: bytes
    that are not msgpack, a ticket with an out-of-range priority, or a resolution of a
    ticket that never existed (dead-lettered ``unknown_ticket``)."""
    ident = f"poison-{n}"
    key = codec.record_key(tenant, ident)
    if kind == "undecodable":
        return "tickets.events", key, b"\xc1not msgpack"
    base = {"v": codec.SCHEMA_VERSION, "id": ident, "tenant": tenant, "ts": ts_ms}
    if kind == "invalid":
        ev = {**base, "type": "ticket.created", "channel": "phone", "priority": 9}
        return "tickets.events", key, codec.encode(ev)
    if kind == "unknown_ticket":
        ev = {**base, "type": "ticket.resolved", "agent": "agent-000"}
        return "tickets.lifecycle", key, codec.encode_valid(ev)
    raise ValueError(f"unknown poison kind {kind!r}; one of {', '.join(POISON_KINDS)}")
