"""Shared by the test_memory_store_*.py files: a DispatchService on MemoryAgentStore
with a SimClock (``Desk``), driven event by event, and its policy.
"""

from __future__ import annotations

from typing import Any

from engine.adapters.memory import MemoryAgentStore
from engine.clock import SimClock
from engine.core.model import Decision
from engine.core.policy import parse_policy
from engine.dispatch.service import DispatchService

T0 = 1_700_000_000_000
S = 1000
TENANT = "acme"

POLICY: dict[str, Any] = {
    "version": 1,
    "regions": {
        "eu": {"neighbors": ["eu2"]},
        "eu2": {"neighbors": ["eu"]},
        "us": {"neighbors": []},
    },
    "queues": [
        {
            "name": "offers",
            "match": {"tier": "offer"},
            "strategy": "round_robin",
            "offer": {"timeout_s": 10, "max_misses": 2},
        },
        {
            "name": "regional",
            "match": {"tier": "regional"},
            "strategy": "round_robin",
            "region_ladder": [
                {"after_s": 30, "widen": "neighbors"},
                {"after_s": 120, "widen": "any"},
            ],
        },
        {
            "name": "experts",
            "match": {"tier": "expert"},
            "strategy": "skill_weighted",
            "skills": {"billing": 4},
            "overflow": {"after_s": 60, "to": "general"},
        },
        {
            "name": "sticky",
            "match": {"tier": "sticky"},
            "strategy": "round_robin",
            "sticky": {"after_s": 60},
        },
        {"name": "vip", "match": {"tier": "vip"}, "strategy": "least_loaded"},
        {"name": "general", "match": {"tier": ["standard", "expert"]}, "strategy": "round_robin"},
    ],
}


class Desk:
    """A dispatch service on the in-memory store, driven event by event on a SimClock."""

    def __init__(self, policy: dict[str, Any] | None = None) -> None:
        self.clock = SimClock(T0)
        self.store = MemoryAgentStore()
        self.service = DispatchService(self.store, parse_policy(policy or POLICY))

    @property
    def now(self) -> int:
        return self.clock.now_ms()

    def send(self, typ: str, oid: str, **fields: Any) -> list[Decision]:
        ev = {"v": 1, "type": typ, "id": oid, "tenant": TENANT, "ts": self.now, **fields}
        return self._published(self.service.handle([ev], self.now))

    def login(self, agent: str, **fields: Any) -> list[Decision]:
        defaults: dict[str, Any] = {"capacity": {"chat": 1}, "regions": ["eu"], "skills": {}}
        return self.send("agent.login", agent, **{**defaults, **fields})

    def create(self, tid: str, **fields: Any) -> list[Decision]:
        defaults: dict[str, Any] = {"channel": "chat", "priority": 3, "tier": "standard"}
        return self.send("ticket.created", tid, **{**defaults, **fields})

    def later(self, seconds: float) -> list[Decision]:
        """Advance the clock and fire due timers."""
        self.clock.advance(int(seconds * S))
        return self._published(self.service.tick(self.now))

    def _published(self, decisions: list[Decision]) -> list[Decision]:
        """Acknowledge the decisions as a dispatcher does after producing them."""
        self.service.acknowledge(decisions)
        return decisions

    def load(self, agent: str, channel: str = "chat") -> int:
        return next(v.load(channel) for v in self.store.agents(TENANT) if v.agent.id == agent)

    def status(self, agent: str) -> str:
        return next(v.agent.status for v in self.store.agents(TENANT) if v.agent.id == agent)

    def misses(self, agent: str) -> int:
        return next(v.misses for v in self.store.agents(TENANT) if v.agent.id == agent)

    def state(self, tid: str) -> tuple[str, str | None]:
        rec = self.store.ticket(TENANT, tid)
        assert rec is not None
        return rec.state, rec.agent

    def waiting_ids(self) -> list[str]:
        return [w.ticket_id for w in self.store.waiting(TENANT)]


def kinds(decisions: list[Decision]) -> list[tuple[str, str, str | None]]:
    return [(d.kind, d.ticket_id, d.agent) for d in decisions]
