"""Where the demo's events go and its decisions come from.

``EmbeddedBackend``: the in-memory log and store with an in-process dispatcher pipeline.
``engine.demo.real.RealBackend``: Kafka topics, `dispatch run dispatcher` processes, Redis.
"""

from __future__ import annotations

from typing import Protocol

from engine.adapters.memory import MemoryAgentStore, MemoryLog, WallClock
from engine.core.policy import Policy
from engine.pipeline import Pipeline
from engine.ports import AgentStore
from engine.service import DispatchService

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

    def send(self, logical_topic: str, key: bytes, value: bytes) -> None:
        self.log.send(logical_topic, key, value)

    def step(self) -> None:
        while self.pipeline.run_once():
            pass

    def decisions(self) -> list[bytes]:
        out = [r.value for r in self.watcher.poll(100_000, 0)]
        self.watcher.commit()
        return out

    def dead_letters(self) -> int:
        return self.pipeline.stats.dead_letters

    def close(self) -> None:
        self.watcher.close()
