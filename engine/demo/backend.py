"""Where the demo's events go and its decisions come from.

``EmbeddedBackend``: the in-memory log and stores with an in-process dispatcher pipeline and
SLA tracker. ``engine.demo.real.RealBackend``: Kafka topics, `dispatch run dispatcher` and
`dispatch run sla-tracker` processes, Redis.
"""

from __future__ import annotations

from typing import Protocol

from engine.adapters.memory import MemoryAgentStore, MemoryLog
from engine.adapters.memory.sla import MemorySlaStore
from engine.clock import WallClock
from engine.core.policy import Policy
from engine.dispatch.pipeline import Pipeline
from engine.dispatch.service import DispatchService
from engine.ports import AgentStore
from engine.sla.pipeline import INPUT_TOPICS as SLA_INPUT_TOPICS
from engine.sla.pipeline import SlaPipeline
from engine.sla.service import SlaTracker

# Everything is in one process: events are never late, so the watermark may follow closely.
EMBEDDED_GRACE_MS = 250

INPUT_TOPICS = ("tickets.events", "agents.events", "tickets.lifecycle", "dispatch.commands")


class DemoBackend(Protocol):
    @property
    def store(self) -> AgentStore:
        """Read by the wallboard (waiting tickets, agents)."""
        ...

    def send(self, logical_topic: str, key: bytes, value: bytes) -> None: ...

    def step(self) -> None:
        """Let in-process dispatchers work (no-op when they are processes)."""

    def decisions(self) -> list[bytes]:
        """Decision records published since the last call."""
        ...

    def sla_events(self) -> list[bytes]:
        """SLA events (sla.events) published since the last call."""
        ...

    def dead_letters(self) -> int: ...

    def close(self) -> None: ...


class EmbeddedBackend:
    """Everything in this process, on the in-memory adapters."""

    def __init__(self, policy: Policy) -> None:
        self.log = MemoryLog()
        self.store = MemoryAgentStore()
        service = DispatchService(self.store, policy)
        consumer = self.log.consumer(INPUT_TOPICS, "dispatchers")
        self.pipeline = Pipeline(consumer, self.log, service, WallClock(), poll_timeout_ms=0)
        self.watcher = self.log.consumer(["dispatch.assignments"], "wallboard")
        self.sla_store = MemorySlaStore()
        self.sla = SlaPipeline(
            self.log.consumer(SLA_INPUT_TOPICS, "sla-tracker"),
            self.log,
            SlaTracker(self.sla_store, policy),
            WallClock(),
            grace_ms=EMBEDDED_GRACE_MS,
            poll_timeout_ms=0,
        )
        self.sla_watcher = self.log.consumer(["sla.events"], "wallboard-sla")

    def send(self, logical_topic: str, key: bytes, value: bytes) -> None:
        self.log.send(logical_topic, key, value)

    def step(self) -> None:
        while self.pipeline.run_once():
            pass
        while self.sla.run_once():
            pass

    def decisions(self) -> list[bytes]:
        out = [r.value for r in self.watcher.poll(100_000, 0)]
        self.watcher.commit()
        return out

    def sla_events(self) -> list[bytes]:
        out = [r.value for r in self.sla_watcher.poll(100_000, 0)]
        self.sla_watcher.commit()
        return out

    def dead_letters(self) -> int:
        return self.pipeline.stats.dead_letters

    def close(self) -> None:
        self.watcher.close()
        self.sla_watcher.close()
