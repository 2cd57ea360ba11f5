"""The fault injectors, run one after another on their own thread (:class:`FaultThread`)
at the times of the seeded plan (``schedule``). Each fault is reported as one
:class:`FaultRecord` and one line a person reads (``say``).

- ``kill_replica``: SIGKILL a replica (a crash: no commit, no leave) and start it again at
  once; a second line says when the new process answered ``/readyz``.
- ``pause_replica``: SIGSTOP a replica for ``pause_s`` (past the consumer session time-out,
  so the group moves its partitions while it sleeps), then SIGCONT on a timer: a zombie
  that wakes up with a batch in hand. The thread goes on meanwhile.
- ``restart_redis`` / ``restart_kafka``: stop the service (SIGTERM) and start it again on its
  data and ports (``dispatch dev restart``); returns once it is ready.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from engine.errors import DevstackError
from engine.logs import get_logger
from engine.soak.options import (
    KILL_REPLICA,
    PAUSE_REPLICA,
    RESTART_KAFKA,
    RESTART_REDIS,
    SESSION_TIMEOUT_S,
)
from engine.soak.replicas import Replica, ReplicaSet
from engine.soak.report import FaultRecord
from engine.soak.schedule import PlannedFault, pick_one
from engine.soak.services import Services

log = get_logger(__name__)

Say = Callable[[str], None]


class Injector:
    """Injects one planned fault at a time; remembers when the last one ended."""

    def __init__(
        self, replicas: ReplicaSet, services: Services, pause_s: float, say: Say, t0: float
    ) -> None:
        self.replicas = replicas
        self.services = services
        self.pause_s = pause_s
        self.say = say
        self.t0 = t0  # monotonic start of the load
        self.records: list[FaultRecord] = []
        self.last_end = t0
        self._timers: list[threading.Timer] = []

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def inject(self, planned: PlannedFault) -> FaultRecord:
        at = self.elapsed()
        started = time.monotonic()
        try:
            target, detail, ok = self._dispatch(planned)
        except (DevstackError, OSError, RuntimeError) as exc:
            target, detail, ok = planned.kind.removeprefix("restart_"), f"failed: {exc}", False
        record = FaultRecord(
            planned.number, at, planned.kind, target, detail, time.monotonic() - started, ok
        )
        self.records.append(record)
        self.last_end = max(self.last_end, time.monotonic())
        self.say(record.line())
        return record

    def _dispatch(self, planned: PlannedFault) -> tuple[str, str, bool]:
        if planned.kind == KILL_REPLICA:
            return self._kill(planned.pick)
        if planned.kind == PAUSE_REPLICA:
            return self._pause(planned.pick)
        if planned.kind in (RESTART_REDIS, RESTART_KAFKA):
            service = planned.kind.removeprefix("restart_")
            nodes = self.services.nodes(service)
            if len(nodes) == 1:
                self.services.restart(service)
                return service, "stopped and started again on its data and port, ready", True
            node = pick_one(nodes, planned.pick)
            self.services.restart(service, node)
            return (
                f"{service} node {node}",
                f"one of {len(nodes)} nodes stopped and started again on its data and port, ready",
                True,
            )
        raise ValueError(f"unknown fault kind {planned.kind!r}")

    def _kill(self, pick: float) -> tuple[str, str, bool]:
        r = pick_one(self.replicas.running(), pick)
        if r is None:
            return "-", "no replica running", False
        was_paused = r.paused
        old = self.replicas.kill_and_restart(r)
        watch = threading.Thread(
            target=self._watch_ready, args=(r, r.pid, time.monotonic()), daemon=True
        )
        watch.start()
        paused = " (it was paused)" if was_paused else ""
        return (
            f"replica {r.number}",
            f"SIGKILL pid {old}{paused}; started again as pid {r.pid}",
            True,
        )

    def _watch_ready(self, r: Replica, pid: int, since: float) -> None:
        """Say when a replica started after a SIGKILL answers /readyz (off the fault thread,
        so the plan keeps its pace)."""
        ready = self.replicas.wait_ready(r)
        if r.pid != pid:
            return  # killed again meanwhile
        waited = time.monotonic() - since
        self.last_end = max(self.last_end, time.monotonic())
        state = f"ready {waited:.1f} s" if ready else f"NOT ready {waited:.0f} s"
        self.say(f"replica {r.number} (pid {pid}) {state} after it was started again")

    def _pause(self, pick: float) -> tuple[str, str, bool]:
        awake = self.replicas.running(paused=False)
        # a zombie needs partitions to hold on to: prefer replicas that are ready (in the group)
        r = pick_one([c for c in awake if c.ready()] or awake, pick)
        if r is None:
            return "-", "every replica is paused already", False
        self.replicas.pause(r)
        timer = threading.Timer(self.pause_s, self._resume, args=(r, r.pid, self.elapsed()))
        timer.daemon = True
        timer.start()
        self._timers.append(timer)
        past = "past" if self.pause_s > SESSION_TIMEOUT_S else "within"
        return (
            f"replica {r.number}",
            f"SIGSTOP pid {r.pid} for {self.pause_s:g} s ({past} the "
            f"{SESSION_TIMEOUT_S:g} s session time-out)",
            True,
        )

    def _resume(self, r: Replica, pid: int, since: float) -> None:
        if r.pid == pid and self.replicas.resume(r):
            self.last_end = max(self.last_end, time.monotonic())
            self.say(
                f"SIGCONT replica {r.number} (pid {pid}) after {self.elapsed() - since:.1f} s "
                "stopped"
            )

    def resume_now(self) -> None:
        """The run ends: cancel the pending SIGCONT timers and resume every paused replica."""
        for timer in self._timers:
            timer.cancel()
        for r in self.replicas.running(paused=True):
            if self.replicas.resume(r):
                self.say(f"SIGCONT replica {r.number} (pid {r.pid}): the run ends")
        self.last_end = max(self.last_end, time.monotonic())


class FaultThread(threading.Thread):
    """Injects the planned faults at their times (or as soon as the previous one ended)
    until the plan is done or :meth:`stop` is called."""

    def __init__(self, injector: Injector, plan: Sequence[PlannedFault]) -> None:
        super().__init__(name="soak-faults", daemon=True)
        self.injector = injector
        self.plan = list(plan)
        self._halt = threading.Event()
        self.error: BaseException | None = None

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        try:
            for planned in self.plan:
                wait = planned.at_s - self.injector.elapsed()
                if self._halt.wait(max(0.0, wait)):
                    return
                self.injector.inject(planned)
        except BaseException as exc:  # surfaced by the runner as a failed run
            log.exception("fault thread failed")
            self.error = exc
