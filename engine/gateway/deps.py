"""What the gateway needs, built by the composition root (Kafka + Redis in production, the
in-memory adapters in the embedded demo and the tests)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.core.policy import Policy
from engine.ports import AgentStore, Clock, Publisher, SlaStore, TokenStore

# Request size limits: a single event, and a batch of tickets.
MAX_BODY_BYTES = 256 * 1024
MAX_BATCH_BODY_BYTES = 8 * 1024 * 1024
MAX_BATCH = 1000
PUBLISH_TIMEOUT_S = 5.0
RETRY_AFTER_S = 5  # what a 503 asks clients to wait


@dataclass
class Gateway:
    publisher: Publisher  # writes: answered 202 once the log acknowledged them
    store: AgentStore  # reads: tickets, agents, queues (never the log)
    tokens: TokenStore
    policy: Policy
    clock: Clock
    topic: Callable[[str], str] = lambda logical: logical  # logical -> full topic name
    sla: SlaStore | None = None
    publish_timeout_s: float = PUBLISH_TIMEOUT_S
    extras: dict[str, Any] = field(default_factory=dict)  # e.g. the stream hub
