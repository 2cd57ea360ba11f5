"""The load generator: one thread that sends tickets at a bounded rate (``load.Pacer``),
agent logins, breaks and logouts, the desktops' answers to offers and their resolutions
(``load.Desks``) and a share of poison records, all through the producer SDK
(``producers/sdk.py``); and that watches ``dispatch.assignments`` and
``dispatch.deadletter`` to count decisions and dead letters and to feed the desktops.

Counters are plain attributes written by this thread only (the runner reads them). A Kafka
outage (a broker restart) blocks or fails a flush: the thread logs it, counts what was not
acknowledged, and goes on; the pacer then drops the backlog instead of bursting.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

from engine import codec
from engine.adapters.kafka import KafkaEventLog, KafkaGroupConsumer
from engine.config import Settings
from engine.demo import callcenter as cc
from engine.errors import LogError, Unavailable
from engine.logs import get_logger
from engine.ports import Record
from engine.soak.load import POISON_KINDS, Desks, Pacer, poison
from engine.soak.options import SoakOptions
from producers.sdk import EventProducer, wall_ms

log = get_logger(__name__)

TICK_S = 0.05
POLL_RECORDS = 5_000
OUTAGE_SLEEP_S = 0.5
BREAKS_PER_AGENT_PER_MIN = 1.0
CHURN_SHARE = 0.2  # of the breaks, this share are a logout and a login instead

Key = tuple[str, str]


class Traffic(threading.Thread):
    """Sends the load and watches the decisions until :meth:`stop`; :meth:`drain` ends the
    load (no tickets, breaks or resolutions: only offers are accepted) and lets the
    dispatchers settle."""

    def __init__(self, settings: Settings, opts: SoakOptions, seed: int) -> None:
        super().__init__(name="soak-traffic", daemon=True)
        self.settings = settings
        self.opts = opts
        self.rng = random.Random(seed)
        self._halt = threading.Event()
        self._drain = threading.Event()
        self.error: BaseException | None = None
        # counters (written here only)
        self.tickets_sent = 0
        self.undelivered = 0
        self.poison_sent = 0
        self.events_sent = 0
        self.decisions = 0
        self.by_kind: Counter[str] = Counter()
        self.dead_letters = 0
        self.outages = 0
        self.last_decision = time.monotonic()
        self.longest_gap_s = 0.0  # the longest wait between two decisions while the load ran
        self.awaiting_count = 0  # tickets acknowledged by Kafka without a decision seen yet
        self.awaiting_peak = 0
        self.started = threading.Event()  # agents logged in, tickets about to flow
        # state of this thread
        self._decided: set[Key] = set()
        self._awaiting: set[Key] = set()
        self._pending: list[Key] = []  # tickets sent since the last flush
        self._pending_other = [0, 0]  # poison, events
        self._numbers: Counter[str] = Counter()

    # ---- control (from the runner's thread) ----------------------------------------------
    def drain(self) -> None:
        self._drain.set()

    def stop(self) -> None:
        self._halt.set()

    def quiet_s(self) -> float:
        """Seconds since the last decision was seen."""
        return time.monotonic() - self.last_decision

    # ---- the thread ----------------------------------------------------------------------
    def run(self) -> None:
        s = self.settings
        self.log = KafkaEventLog(s.kafka)
        self.watcher = KafkaGroupConsumer(
            s.kafka,
            [s.topic("dispatch.assignments"), s.topic("dispatch.deadletter")],
            f"{s.redis_prefix}-watcher",
        )
        self.producers = {
            t: EventProducer(self.log, tenant=t, topic_of=s.topic) for t in self.opts.tenants
        }
        try:
            self._login()
            self.started.set()
            self._loop()
        except BaseException as exc:  # surfaced by the runner as a failed run
            log.exception("soak traffic failed")
            self.error = exc
        finally:
            self.started.set()
            self.watcher.close()
            self.log.close()

    def _login(self) -> None:
        self.desks: dict[str, Desks] = {}
        for tenant in self.opts.tenants:
            logins = cc.roster(self.opts.agents, self.rng)
            self.desks[tenant] = Desks(self.rng, logins)
            for ev in logins:
                self.producers[tenant].send_event(ev)
        self.log.flush()
        self.events_sent += self.opts.agents * len(self.opts.tenants)

    def _loop(self) -> None:
        pacer = Pacer(self.opts.rate, time.monotonic())
        self.last_decision = time.monotonic()
        p_break = min(0.5, self.opts.agents * BREAKS_PER_AGENT_PER_MIN * TICK_S / 60)
        draining = False
        while not self._halt.is_set():
            tick = time.monotonic()
            if self._drain.is_set() and not draining:
                draining = True
                for desks in self.desks.values():
                    desks.drain()
            try:
                if not draining:
                    for _ in range(pacer.due(tick)):
                        self._send_ticket()
                now_ms = wall_ms()
                for tenant, desks in self.desks.items():
                    for ev in (
                        desks.due(now_ms)
                        + desks.breaks(now_ms, p_break * (1 - CHURN_SHARE))
                        + desks.churn(now_ms, p_break * CHURN_SHARE)
                    ):
                        self.producers[tenant].send_event(ev)
                        self._pending_other[1] += 1
                self._flush()
                self._watch(self.watcher.poll(POLL_RECORDS, int(TICK_S * 1000)))
            except (Unavailable, LogError) as exc:
                self._outage(exc)
            spent = time.monotonic() - tick
            if spent < TICK_S:
                self._halt.wait(TICK_S - spent)

    def _send_ticket(self) -> None:
        tenant = self.rng.choice(self.opts.tenants)
        self._numbers[tenant] += 1
        n = self._numbers[tenant]
        if self.rng.random() < self.opts.poison_ratio:
            logical, key, value = poison(self.rng.choice(POISON_KINDS), n, tenant, wall_ms())
            self.log.send(self.settings.topic(logical), key, value)
            self._pending_other[0] += 1
            return
        ev = cc.ticket(n, self.rng)
        self.producers[tenant].send_event(ev)
        self._pending.append((tenant, ev["id"]))

    def _flush(self) -> None:
        self.log.flush()
        for key in self._pending:
            if key not in self._decided:
                self._awaiting.add(key)
        self.tickets_sent += len(self._pending)
        self.poison_sent += self._pending_other[0]
        self.events_sent += self._pending_other[1]
        self._pending.clear()
        self._pending_other = [0, 0]
        self.awaiting_count = len(self._awaiting)
        self.awaiting_peak = max(self.awaiting_peak, self.awaiting_count)

    def _outage(self, exc: Exception) -> None:
        self.outages += 1
        self.undelivered += len(self._pending)
        self._pending.clear()
        self._pending_other = [0, 0]
        log.warning("soak load: kafka unavailable, going on: %s", exc)
        self._halt.wait(OUTAGE_SLEEP_S)

    def _watch(self, records: list[Record]) -> None:
        dlq = self.settings.topic("dispatch.deadletter")
        now_ms = wall_ms()
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
            if not self._drain.is_set():
                self.longest_gap_s = max(self.longest_gap_s, now - self.last_decision)
            self.last_decision = now
            key = (str(d.get("tenant")), str(d["id"]))
            if kind != "decision.rejected":
                self._decided.add(key)
                self._awaiting.discard(key)
            desks = self.desks.get(key[0])
            if desks is not None:
                desks.on_decision(d, now_ms)
        self.awaiting_count = len(self._awaiting)
        self.awaiting_peak = max(self.awaiting_peak, self.awaiting_count)
