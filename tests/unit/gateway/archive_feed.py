"""An archive for the gateway tests: an in-memory SQLite with the archive's schema, fed from
the in-memory log by the archive's own ingestion (what ``dispatch run archiver`` does from
Kafka), so the report routes read what the dispatcher and the SLA tracker published."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.pool import StaticPool

from engine import codec
from engine.adapters.memory import MemoryLog
from engine.archive import ingest
from engine.archive.db import make_engine
from engine.archive.schema import METADATA

TOPICS = (
    "tickets.events",
    "tickets.lifecycle",
    "dispatch.assignments",
    "dispatch.commands",
    "sla.events",
    "agents.events",
)


class ArchiveFeed:
    """``catch_up()`` archives every record published since the last call."""

    def __init__(self, log: MemoryLog) -> None:
        self.engine: Engine = make_engine(
            "sqlite://",
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},  # the routes run in a thread pool
        )
        METADATA.create_all(self.engine)
        self._consumer = log.consumer(TOPICS, "archive-feed")

    def catch_up(self) -> int:
        """Archive what is new; returns how many records were read."""
        read = 0
        while records := self._consumer.poll(10_000, 0):
            read += len(records)
            facts = []
            for record in records:
                mapped = ingest.map_event(codec.decode(record.value))
                if mapped.fact is not None:
                    facts.append(mapped.fact)
            with self.engine.begin() as conn:
                ingest.write_batch(conn, facts)
            self._consumer.commit()
        return read
