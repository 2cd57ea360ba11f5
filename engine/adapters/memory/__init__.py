"""In-process adapters: the embedded demo, the simulator and contract tests use them."""

from engine.adapters.memory.log import MemoryConsumer, MemoryLog, MemoryTail
from engine.adapters.memory.store import MemoryAgentStore

__all__ = ["MemoryAgentStore", "MemoryConsumer", "MemoryLog", "MemoryTail"]
