"""The load generator: one thread that sends tickets at a bounded rate (``load.Pacer``),
agent logins, breaks and logouts, the desktops' answers to offers and their resolutions
(``load.Desks``) and a share of poison records, all through the producer SDK
(``producers/sdk.py``). Decisions come from a :class:`~engine.soak.watch.Watcher` thread of
its own, so nothing the consumer side waits for can hold up the load.

Counters are plain attributes written by this thread only (the runner reads them). A Kafka
outage (a broker restart) blocks or fails a flush: the thread logs it, counts what was not
acknowledged, and goes on; the pacer then drops the backlog instead of bursting.
"""

from __future__ import annotations

import random
import threading
import time

from engine.adapters.kafka import KafkaEventLog
from engine.config import Settings
from engine.demo import callcenter as cc
from engine.errors import LogError, Unavailable
from engine.logs import get_logger
from engine.soak.load import POISON_KINDS, Desks, Pacer, poison
from engine.soak.options import SoakOptions
from engine.soak.watch import Key, Ledger, Watcher
from producers.sdk import EventProducer, wall_ms

log = get_logger(__name__)

TICK_S = 0.05
OUTAGE_SLEEP_S = 0.5
WATCHER_JOIN_S = 10.0
BREAKS_PER_AGENT_PER_MIN = 1.0
CHURN_SHARE = 0.2  # of the breaks, this share are a logout and a login instead


class Traffic(threading.Thread):
    """Sends the load until :meth:`stop`; :meth:`drain` ends it (no tickets, breaks or
    resolutions: only offers are accepted) and lets the dispatchers settle."""

    def __init__(self, settings: Settings, opts: SoakOptions, seed: int) -> None:
        super().__init__(name="soak-traffic", daemon=True)
        self.settings = settings
        self.opts = opts
        self.rng = random.Random(seed)
        self._halt = threading.Event()
        self._drain = threading.Event()
        self.error: BaseException | None = None
        self.ledger = Ledger()
        self.watcher = Watcher(settings, self.ledger, self._drain)
        # counters (written here only)
        self.tickets_sent = 0
        self.undelivered = 0
        self.poison_sent = 0
        self.events_sent = 0
        self.outages = 0
        self.started = threading.Event()  # agents logged in, tickets about to flow
        # state of this thread
        self._pending: list[Key] = []  # tickets sent since the last flush
        self._pending_other = [0, 0]  # poison, events
        self._numbers: dict[str, int] = dict.fromkeys(opts.tenants, 0)
        self.desks: dict[str, Desks] = {}

    # ---- control and figures (from the runner's thread) ----------------------------------
    def drain(self) -> None:
        self._drain.set()

    def stop(self) -> None:
        self._halt.set()

    def quiet_s(self) -> float:
        """Seconds since the last decision was seen."""
        return self.watcher.quiet_s()

    @property
    def awaiting(self) -> int:
        """Tickets acknowledged by Kafka without a decision seen yet."""
        return self.ledger.awaiting()

    # ---- the thread ----------------------------------------------------------------------
    def run(self) -> None:
        s = self.settings
        self.log = KafkaEventLog(s.kafka)
        self.producers = {
            t: EventProducer(self.log, tenant=t, topic_of=s.topic) for t in self.opts.tenants
        }
        self.watcher.start()
        try:
            self._login()
            self.started.set()
            self._loop()
        except BaseException as exc:  # surfaced by the runner as a failed run
            log.exception("soak traffic failed")
            self.error = exc
        finally:
            self.started.set()
            self.watcher.stop()
            self.watcher.join(WATCHER_JOIN_S)
            self.log.close()
            if self.error is None and self.watcher.error is not None:
                self.error = self.watcher.error

    def _login(self) -> None:
        for tenant in self.opts.tenants:
            logins = cc.roster(self.opts.agents, self.rng)
            self.desks[tenant] = Desks(self.rng, logins)
            for ev in logins:
                self.producers[tenant].send_event(ev)
        self.log.flush()
        self.events_sent += self.opts.agents * len(self.opts.tenants)

    def _loop(self) -> None:
        pacer = Pacer(self.opts.rate, time.monotonic())
        p_break = min(0.5, self.opts.agents * BREAKS_PER_AGENT_PER_MIN * TICK_S / 60)
        draining = False
        while not self._halt.is_set():
            tick = time.monotonic()
            if self._drain.is_set() and not draining:
                draining = True
                for desks in self.desks.values():
                    desks.drain()
            now_ms = wall_ms()
            for d in self.watcher.decisions_seen():
                tenant_desks = self.desks.get(str(d.get("tenant")))
                if tenant_desks is not None:
                    tenant_desks.on_decision(d, now_ms)
            try:
                if not draining:
                    for _ in range(pacer.due(tick)):
                        self._send_ticket()
                for tenant, desks in self.desks.items():
                    for ev in (
                        desks.due(now_ms)
                        + desks.breaks(now_ms, p_break * (1 - CHURN_SHARE))
                        + desks.churn(now_ms, p_break * CHURN_SHARE)
                    ):
                        self.producers[tenant].send_event(ev)
                        self._pending_other[1] += 1
                self._flush()
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
        self.ledger.sent(self._pending)
        self.tickets_sent += len(self._pending)
        self.poison_sent += self._pending_other[0]
        self.events_sent += self._pending_other[1]
        self._pending.clear()
        self._pending_other = [0, 0]

    def _outage(self, exc: Exception) -> None:
        self.outages += 1
        self.undelivered += len(self._pending)
        self._pending.clear()
        self._pending_other = [0, 0]
        log.warning("soak load: kafka unavailable, going on: %s", exc)
        self._halt.wait(OUTAGE_SLEEP_S)
