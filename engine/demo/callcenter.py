"""A simulated call center: the agents' roster, the ticket stream and agent behaviour.

Deterministic for a seed. Produces events as plain dicts; the runner encodes them.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from typing import Any

REGIONS = ("eu-west", "eu-central", "us-east")
SKILLS = ("billing", "tech", "sales", "general")
CHANNELS = (("phone", 0.45), ("chat", 0.35), ("email", 0.2))
CAPACITY = {"phone": 1, "chat": 3, "email": 5}
MEAN_HANDLE_S = {"phone": 6.0, "chat": 10.0, "email": 15.0}
TENANT = "demo"


def weighted(rng: random.Random, pairs: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([p[0] for p in pairs], [p[1] for p in pairs])[0]


def roster(n: int, rng: random.Random) -> list[dict[str, Any]]:
    """``agent.login`` events for ``n`` agents with mixed skills, regions and capacities."""
    out = []
    for i in range(n):
        skills = {"general": rng.randint(1, 5)}
        for s in rng.sample(SKILLS[:3], rng.randint(1, 2)):
            skills[s] = rng.randint(1, 5)
        out.append(
            {
                "type": "agent.login",
                "id": f"agent-{i:03d}",
                "skills": skills,
                "regions": [REGIONS[i % len(REGIONS)]],
                "team": f"team-{i % 4}",
                "capacity": dict(CAPACITY),
                "performance": round(rng.uniform(0.4, 1.0), 2),
            }
        )
    return out


def ticket(n: int, rng: random.Random) -> dict[str, Any]:
    """One ``ticket.created`` event body (``ts``, ``v`` and ``tenant`` added by the runner)."""
    channel = weighted(rng, CHANNELS)
    skill = rng.choice(SKILLS)
    ev: dict[str, Any] = {
        "type": "ticket.created",
        "id": f"t-{n:07d}",
        "channel": channel,
        "priority": rng.choices([1, 2, 3, 4, 5], [0.05, 0.15, 0.5, 0.2, 0.1])[0],
        "tier": "vip" if rng.random() < 0.1 else "standard",
        "skills": {skill: rng.randint(1, 3)},
        "region": rng.choice(REGIONS),
        "customer_id": f"c-{rng.randint(1, 50_000)}",
        "language": "en",
    }
    return ev


@dataclass(order=True)
class _Due:
    at_ms: int
    seq: int
    event: dict[str, Any] = field(compare=False)


class AgentDesktops:
    """Agent behaviour: accept most offers, resolve assigned tickets after a handle time,
    take short breaks. Feed it decisions; collect the lifecycle and agent events it emits."""

    def __init__(self, rng: random.Random, agent_ids: list[str]) -> None:
        self.rng = rng
        self.agent_ids = agent_ids
        self._due: list[_Due] = []
        self._seq = 0
        self._owner: dict[str, str] = {}

    def _later(self, at_ms: int, ev: dict[str, Any]) -> None:
        self._seq += 1
        heapq.heappush(self._due, _Due(at_ms, self._seq, ev))

    def on_decision(self, d: dict[str, Any], now_ms: int) -> None:
        kind, tid, agent = d["type"].removeprefix("decision."), d["id"], d.get("agent")
        if kind == "offered" and agent:
            self._owner[tid] = agent
            r = self.rng.random()
            if r < 0.85:
                delay = self.rng.randint(300, 2000)
                self._later(now_ms + delay, _life("ticket.accepted", tid, agent))
            elif r < 0.93:
                self._later(now_ms + 500, _life("ticket.rejected", tid, agent))
            # else: the agent ignores it; the offer times out
        elif kind in ("assigned", "reassigned") and agent:
            self._owner[tid] = agent
            handle_ms = int(self.rng.expovariate(1 / MEAN_HANDLE_S[d["channel"]]) * 1000)
            self._later(
                now_ms + min(1500, handle_ms // 3), _life("ticket.first_response", tid, agent)
            )
            self._later(now_ms + max(500, handle_ms), _life("ticket.resolved", tid, agent))

    def breaks(self, now_ms: int, per_tick_p: float) -> list[dict[str, Any]]:
        """Occasionally an agent goes away for a few seconds."""
        out = []
        if self.agent_ids and self.rng.random() < per_tick_p:
            agent = self.rng.choice(self.agent_ids)
            out.append({"type": "agent.status", "id": agent, "status": "away"})
            back = {"type": "agent.status", "id": agent, "status": "available"}
            self._later(now_ms + self.rng.randint(2000, 6000), back)
        return out

    def due(self, now_ms: int) -> list[dict[str, Any]]:
        out = []
        while self._due and self._due[0].at_ms <= now_ms:
            ev = heapq.heappop(self._due).event
            tid = ev.get("id", "")
            if ev["type"] == "ticket.resolved" and self._owner.get(tid) != ev.get("agent"):
                continue  # reassigned or declined meanwhile
            out.append(ev)
        return out


def _life(typ: str, tid: str, agent: str) -> dict[str, Any]:
    return {"type": typ, "id": tid, "agent": agent}
