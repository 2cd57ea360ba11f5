"""Poison messages go to the dead-letter topic with their bytes and a reason; the
dispatcher keeps running and keeps deciding."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest

from engine import codec
from engine.adapters.kafka import KafkaEventLog, create_topics, default_topic_specs
from engine.config import Settings
from producers.sdk import EventProducer
from tests.e2e.harness import DispatcherProc, decode_all, dispatcher_env, read_topic

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _poison() -> dict[str, bytes]:
    ticket = {"v": 1, "type": "ticket.created", "id": "p", "tenant": "x", "ts": 1,
              "channel": "chat", "priority": 3}  # fmt: skip
    missing = dict(ticket, id="p-missing")
    del missing["channel"]
    return {
        "msgpack": b"\xc1\xc1 not msgpack at all",
        "not_a_map": msgpack.packb([1, 2, 3]),
        "missing_field": msgpack.packb(missing),
        "unknown_version": msgpack.packb(dict(ticket, id="p-v9", v=9)),
        "unknown_type": msgpack.packb(dict(ticket, id="p-type", type="ticket.exploded")),
        "invalid": msgpack.packb(dict(ticket, id="p-prio", priority=42)),
        "too_large": msgpack.packb(dict(ticket, id="p-big", attributes={"blob": "x" * 300_000})),
    }


def test_every_poison_message_is_dead_lettered_and_the_dispatcher_keeps_running(
    kafka_bootstrap: str, redis_url: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    # Given a running dispatcher
    prefix = unique_name("poison") + "."
    base = {
        "DISPATCH_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "DISPATCH_REDIS_URL": redis_url,
        "DISPATCH_TOPIC_PREFIX": prefix,
        "DISPATCH_REDIS_PREFIX": prefix.rstrip("."),
        "DISPATCH_GROUP": unique_name("grp"),
        "DISPATCH_HTTP_PORT": "0",
    }
    settings = Settings.from_env(base, dev_env=None)
    create_topics(settings, default_topic_specs(settings, partitions=2))
    proc = DispatcherProc(dispatcher_env(base), tmp_path / "d.log")
    log = KafkaEventLog(settings.kafka)
    producer = EventProducer(log, tenant="x", topic_of=settings.topic)
    poison = _poison()
    try:
        proc.start()
        # When poison arrives between two valid tickets
        producer.login("a1", capacity={"chat": 5}, skills={"general": 1})
        producer.ticket("good-1", channel="chat", priority=3)
        for reason, raw in poison.items():
            log.send(settings.topic("tickets.events"), reason.encode(), raw)
        producer.ticket("good-2", channel="chat", priority=3)
        producer.flush()
        deadline = time.monotonic() + 60
        decided: set[str] = set()
        while time.monotonic() < deadline and decided != {"good-1", "good-2"}:
            recs = read_topic(
                settings, settings.topic("dispatch.assignments"), unique_name("r"), idle_s=1
            )
            decided = {d["id"] for d in decode_all(recs)}
        # Then the dispatcher is still running and decided both valid tickets
        assert proc.alive(), proc.log_tail()
        assert decided == {"good-1", "good-2"}
        # And every poison record is in the dead-letter topic, bytes intact, reason in headers
        dead = read_topic(
            settings, settings.topic("dispatch.deadletter"), unique_name("dlq"), idle_s=2
        )
        by_key = {r.key.decode(): r for r in dead}
        assert set(by_key) == set(poison)
        for reason, raw in poison.items():
            rec = by_key[reason]
            headers = dict(rec.headers)
            assert rec.value == raw
            assert headers["reason"].decode() == reason
            assert headers["source.topic"].decode() == settings.topic("tickets.events")
            assert headers["detail"]
        assert proc.terminate() == 0
    finally:
        proc.cleanup()
        log.close()


def test_codec_reasons_cover_the_poison_table() -> None:
    assert set(_poison()) == set(codec.DECODE_REASONS)
