"""The stream reader on the in-memory log: records reach the hub, the hub goes live once
caught up, outages and junk do not stop it, stop() closes the tail."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from consumers.gateway_streams import StreamReader
from engine import codec
from engine.adapters.memory import MemoryLog, MemoryTail
from engine.errors import LogUnavailable
from engine.gateway.feed import Feed
from engine.gateway.hub import StreamHub, parse_position
from engine.ports import Record
from tests.unit.gateway.stream_helpers import TOPICS, decision, parse_sse, sla, tickets

pytestmark = pytest.mark.unit

WAIT_S = 10.0


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def send(log: MemoryLog, event: dict[str, Any]) -> None:
    event["ts"] = int(time.time() * 1000)  # the hub keeps the last 10 minutes
    topic = TOPICS[1] if event["type"].startswith("sla.") else TOPICS[0]
    log.send(topic, codec.key_of(event), codec.encode(event))


class FlakyTail:
    """A tail whose first ``failures`` starts raise an outage, and that records closes."""

    def __init__(self, inner: MemoryTail, failures: int) -> None:
        self.inner, self.failures, self.closed = inner, failures, 0

    def start(self) -> dict[tuple[str, int], int]:
        if self.failures:
            self.failures -= 1
            raise LogUnavailable("broker down")
        return self.inner.start()

    def poll(self, max_records: int, timeout_ms: int) -> list[Record]:
        return self.inner.poll(max_records, timeout_ms)

    def caught_up(self) -> bool:
        return self.inner.caught_up()

    def close(self) -> None:
        self.closed += 1


def test_the_reader_journals_the_log_and_goes_live_once_caught_up() -> None:
    log = MemoryLog(default_partitions=2)
    for i in range(300):
        send(log, decision(f"old{i}"))
    send(log, sla("old0"))
    log.send(TOPICS[0], b"acme/x", b"\xc1junk")
    hub = StreamHub()
    tail = FlakyTail(log.tail(TOPICS), failures=2)
    reader = StreamReader(tail, Feed(TOPICS), hub, max_records=50, poll_ms=5, retry_s=0.001)
    reader.start()
    try:
        wait_for(lambda: hub.live, "the hub to go live")
        assert reader.failures == 2
        assert hub.journaled("acme") == 301 and reader.records == 302

        async def follow() -> list[str]:
            sub = hub.subscribe("acme", "a1")
            send(log, decision("new", agent="a1"))
            send(log, decision("other", agent="a2"))
            assert await sub.wait(WAIT_S)
            got = tickets(parse_sse(sub.take().frames))
            # the id of everything so far resumes with nothing more to send
            wait_for(lambda: hub.journaled("acme") == 303, "both new decisions")
            position = sub.take().position
            sub.close()
            again = hub.subscribe("acme", "a1", after=parse_position(position or ""))
            assert not again.gap and again.take().events == 0
            return got

        assert asyncio.run(follow()) == ["new"]
    finally:
        reader.stop()
    assert not reader.is_alive() and tail.closed == 1


def test_an_unexpected_error_is_logged_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    log = MemoryLog(default_partitions=1)
    hub = StreamHub()

    class Broken(FlakyTail):
        def poll(self, max_records: int, timeout_ms: int) -> list[Record]:
            if not self.failures:
                self.failures = -1
                raise RuntimeError("a bug")
            return super().poll(max_records, timeout_ms)

    tail = Broken(log.tail(TOPICS), failures=0)
    reader = StreamReader(tail, Feed(TOPICS), hub, poll_ms=5, retry_s=0.001)
    reader.start()
    try:
        wait_for(lambda: hub.live, "the hub to go live")
        send(log, decision("t1"))
        wait_for(lambda: hub.journaled("acme") == 1, "the decision")
    finally:
        reader.stop()
    assert reader.failures == 1
    assert "unexpected error" in caplog.text
