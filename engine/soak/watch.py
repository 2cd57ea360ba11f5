"""What the dispatchers decided, seen from outside: :class:`Watcher`, a thread that follows
``dispatch.assignments`` and ``dispatch.deadletter`` from their beginning without a
consumer group (``KafkaTail``: no rebalance can hold it up while the soak kills and pauses
members or restarts brokers), counts decisions and dead letters, and hands each decision to
the load thread (``decisions()``) for the agent desktops; and :class:`Ledger`, the tickets
sent that have no decision yet (shared by both threads, under a lock).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from typing import Any

from engine import codec
from engine.adapters.kafka import KafkaTail
from engine.config import Settings
from engine.errors import LogError, Unavailable
from engine.logs import get_logger
from engine.ports import Record

log = get_logger(__name__)

POLL_RECORDS = 5_000
POLL_TIMEOUT_MS = 200
RETRY_S = 1.0

Key = tuple[str, str]  # (tenant, ticket id)


class Ledger:
    """Tickets acknowledged by Kafka and decisions seen, in either order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._decided: set[Key] = set()
        self._awaiting: set[Key] = set()
        self.peak = 0

    def sent(self, keys: list[Key]) -> None:
        with self._lock:
            self._awaiting.update(k for k in keys if k not in self._decided)
            self.peak = max(self.peak, len(self._awaiting))

    def decided(self, key: Key) -> None:
        with self._lock:
            self._decided.add(key)
            self._awaiting.discard(key)

    def awaiting(self) -> int:
        """Tickets sent without a decision seen yet."""
        with self._lock:
            return len(self._awaiting)


class Watcher(threading.Thread):
    """Follows the decisions and dead letters until :meth:`stop`. ``draining`` (an event the
    load thread sets) stops the gap measurement: gaps are a figure of the load."""

    def __init__(self, settings: Settings, ledger: Ledger, draining: threading.Event) -> None:
        super().__init__(name="soak-watcher", daemon=True)
        self.settings = settings
        self.ledger = ledger
        self.draining = draining
        self._halt = threading.Event()
        self._out: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self.decisions = 0
        self.by_kind: Counter[str] = Counter()
        self.dead_letters = 0
        self.last_decision = time.monotonic()
        self.longest_gap_s = 0.0

    def stop(self) -> None:
        self._halt.set()

    def quiet_s(self) -> float:
        return time.monotonic() - self.last_decision

    def decisions_seen(self) -> list[dict[str, Any]]:
        """The decisions seen since the last call (for the desktops)."""
        out = []
        while True:
            try:
                out.append(self._out.get_nowait())
            except queue.Empty:
                return out

    def run(self) -> None:
        s = self.settings
        topics = [s.topic("dispatch.assignments"), s.topic("dispatch.deadletter")]
        tail = KafkaTail(s.kafka, topics, since_ms=None, role="soak-watcher")
        try:
            self.last_decision = time.monotonic()
            started = False
            while not self._halt.is_set():
                try:
                    if not started:
                        tail.start()
                        started = True
                    self._handle(tail.poll(POLL_RECORDS, POLL_TIMEOUT_MS))
                except (Unavailable, LogError) as exc:
                    log.warning("soak watcher: kafka unavailable, retrying: %s", exc)
                    self._halt.wait(RETRY_S)
        except BaseException as exc:  # surfaced by the runner as a failed run
            log.exception("soak watcher failed")
            self.error = exc
        finally:
            tail.close()

    def _handle(self, records: list[Record]) -> None:
        dlq = self.settings.topic("dispatch.deadletter")
        for rec in records:
            if rec.topic == dlq:
                self.dead_letters += 1
                continue
            try:
                d: dict[str, Any] = dict(codec.decode(rec.value))
            except codec.DecodeError:
                continue
            kind = str(d["type"])
            if not kind.startswith("decision."):
                continue
            self.decisions += 1
            self.by_kind[kind.removeprefix("decision.")] += 1
            now = time.monotonic()
            if not self.draining.is_set():
                self.longest_gap_s = max(self.longest_gap_s, now - self.last_decision)
            self.last_decision = now
            if kind != "decision.rejected":
                self.ledger.decided((str(d.get("tenant")), str(d["id"])))
            self._out.put(d)
