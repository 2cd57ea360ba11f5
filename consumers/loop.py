"""The long-running loop both processes share: signals, retries with back-off, health.

``run_until_stopped`` calls ``step`` until ``stop`` is set. A dependency outage (Redis or
Kafka unavailable) marks the process not ready and retries with a growing pause (1 s, 2 s,
... up to 30 s); the step keeps its failed batch, so the retry is the same work. Periodic
housekeeping (gauges, lag, progress logs) runs between steps and handles its own errors.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

from engine.endpoints import Health
from engine.errors import LogError, Unavailable
from engine.exitcodes import RET_OK, RET_UNAVAILABLE
from engine.logs import get_logger

log = get_logger(__name__)

DEPENDENCY_ERRORS = (Unavailable, LogError)
BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0


def install_stop_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop``: the loop finishes its step and returns."""

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: finishing the current batch", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)


def run_until_stopped(
    step: Callable[[], None],
    health: Health,
    stop: threading.Event,
    periodic: Sequence[tuple[float, Callable[[], None]]] = (),
) -> int:
    """Run ``step`` until ``stop``; ``periodic`` are ``(every_s, fn)`` run between steps.
    Returns ``RET_OK``, or ``RET_UNAVAILABLE`` when stopped during an outage."""
    failures = 0
    due = [0.0] * len(periodic)
    while not stop.is_set():
        now = time.monotonic()
        for i, (every_s, fn) in enumerate(periodic):
            if now >= due[i]:
                due[i] = now + every_s
                fn()
        try:
            step()
        except DEPENDENCY_ERRORS as exc:
            failures += 1
            health.ready = False
            log.warning("dependency unavailable (attempt %d): %s", failures, exc)
            if stop.wait(min(MAX_BACKOFF_S, BACKOFF_S * failures)):
                break
            continue
        failures = 0
        health.ready = True
        health.beat()
    return RET_OK if failures == 0 else RET_UNAVAILABLE
