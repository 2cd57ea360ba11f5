"""Producer SDK: build, validate and publish ticket, agent, lifecycle and command events.

Works over any :class:`engine.ports.EventLog` (Kafka in production, the in-memory log in
the demo). Events are validated against their JSON Schema before sending, so a
producer's mistake raises here instead of landing in the dead-letter topic.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from engine import codec
from engine.ports import EventLog


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class EventProducer:
    """Publishes events keyed by ``<tenant>/<id>`` (``codec.record_key``: ticket id, agent id,
    queue name), so one entity's events keep their order in one partition."""

    def __init__(
        self,
        log: EventLog,
        *,
        tenant: str = "default",
        topic_of: Callable[[str], str] = lambda logical: logical,
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self.log = log
        self.tenant = tenant
        self.topic_of = topic_of
        self.clock = clock

    def publish(self, event_type: str, id_: str, **fields: Any) -> dict[str, Any]:
        """Validate and send one event; returns it. Raises ``codec.DecodeError`` if invalid."""
        ev: dict[str, Any] = {
            "v": codec.SCHEMA_VERSION,
            "type": event_type,
            "id": id_,
            "tenant": fields.pop("tenant", self.tenant),
            "ts": fields.pop("ts", None) or self.clock(),
            **{k: v for k, v in fields.items() if v is not None},
        }
        value = codec.encode_valid(ev)
        topic = self.topic_of(codec.topic_of(event_type))
        self.log.send(topic, codec.key_of(ev), value)
        return ev

    def send_event(self, ev: Mapping[str, Any]) -> None:
        """Send a complete event dict (``v``, ``tenant`` and ``ts`` filled when absent)."""
        fields = dict(ev)
        self.publish(str(fields.pop("type")), str(fields.pop("id")), **fields)

    def ticket(
        self, ticket_id: str, *, channel: str, priority: int, **fields: Any
    ) -> dict[str, Any]:
        return self.publish(
            "ticket.created", ticket_id, channel=channel, priority=priority, **fields
        )

    def login(self, agent_id: str, *, capacity: Mapping[str, int], **fields: Any) -> dict[str, Any]:
        return self.publish("agent.login", agent_id, capacity=dict(capacity), **fields)

    def logout(self, agent_id: str) -> dict[str, Any]:
        return self.publish("agent.logout", agent_id)

    def status(self, agent_id: str, status: str) -> dict[str, Any]:
        return self.publish("agent.status", agent_id, status=status)

    def lifecycle(
        self, kind: str, ticket_id: str, agent: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        return self.publish(f"ticket.{kind}", ticket_id, agent=agent, **fields)

    def command(self, kind: str, id_: str, **fields: Any) -> dict[str, Any]:
        return self.publish(f"command.{kind}", id_, **fields)

    def flush(self) -> None:
        self.log.flush()
