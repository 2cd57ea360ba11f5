"""Test-only fault injection: crash points and a skewed clock for the fault suite.

**Never set these in production.** They exist so that ``tests/chaos`` can kill a real
``dispatch run dispatcher`` at an exact point of its loop and run one replica on a wrong
clock (docs/architecture.md, "Fault suite"). Both are read from the environment once, when
the process starts (:func:`configure`; the first :func:`fault_point` call does it otherwise),
and a process that has either set says so in a WARNING.

``DISPATCH_FAULT=<point>[@<nth>]``: when the loop reaches ``<point>`` for the ``<nth>`` time
(default 1) the process SIGKILLs itself: no ``finally``, no commit, no flush, exactly as a
crash or an OOM kill. The points (:data:`POINTS`):

- ``after_store``: the store's scripts returned decisions that are not produced yet (they
  are in the store's outbox only);
- ``after_produce``: the batch's decisions are flushed to Kafka, its offsets not committed;
- ``mid_batch``: part of a batch is applied to the store (one store call of several
  returned), the rest is not, nothing is produced.

``DISPATCH_CLOCK_SKEW_MS=<ms>`` (may be negative): the dispatcher's clock runs that far
ahead of (behind) the wall clock (:func:`skewed`).

Unset (the default), :func:`fault_point` is one comparison and the clock is the wall clock.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping

from engine.logs import get_logger
from engine.ports import Clock

log = get_logger(__name__)

FAULT_ENV = "DISPATCH_FAULT"
SKEW_ENV = "DISPATCH_CLOCK_SKEW_MS"
AFTER_STORE = "after_store"
AFTER_PRODUCE = "after_produce"
MID_BATCH = "mid_batch"
POINTS = (AFTER_STORE, AFTER_PRODUCE, MID_BATCH)
MAX_SKEW_MS = 7 * 24 * 3600 * 1000


class _Armed:
    """The point to crash at, the pass that crashes, the passes so far."""

    def __init__(self, point: str, nth: int) -> None:
        self.point, self.nth, self.seen = point, nth, 0


_configured = False
_armed: _Armed | None = None
_skew_ms = 0


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


# Replaced by the unit tests to observe the crash without dying.
kill: Callable[[], None] = _kill_self


def parse(spec: str) -> tuple[str, int]:
    """``"<point>[@<nth>]"`` -> (point, nth); ``ValueError`` naming the variable if bad."""
    point, _, nth_text = spec.strip().partition("@")
    if point not in POINTS:
        raise ValueError(f"{FAULT_ENV}: unknown point {point!r}, expected one of {POINTS}")
    try:
        nth = int(nth_text) if nth_text else 1
    except ValueError:
        raise ValueError(f"{FAULT_ENV}: @<nth> must be an integer, got {nth_text!r}") from None
    if nth < 1:
        raise ValueError(f"{FAULT_ENV}: @<nth> must be >= 1, got {nth}")
    return point, nth


def parse_skew(text: str) -> int:
    try:
        skew = int(text)
    except ValueError:
        raise ValueError(f"{SKEW_ENV}: expected integer milliseconds, got {text!r}") from None
    if abs(skew) > MAX_SKEW_MS:
        raise ValueError(f"{SKEW_ENV}: at most {MAX_SKEW_MS} ms either way, got {skew}")
    return skew


def configure(environ: Mapping[str, str] | None = None) -> None:
    """Read ``DISPATCH_FAULT`` and ``DISPATCH_CLOCK_SKEW_MS`` (once per process: later calls
    read them again, which only tests do). A bad value raises ``ValueError``."""
    global _configured, _armed, _skew_ms
    env = os.environ if environ is None else environ
    spec = env.get(FAULT_ENV, "").strip()
    skew = env.get(SKEW_ENV, "").strip()
    _armed = _Armed(*parse(spec)) if spec else None
    _skew_ms = parse_skew(skew) if skew else 0
    _configured = True
    if _armed is not None:
        log.warning(
            "TEST-ONLY FAULT INJECTION ARMED (%s=%s): this process will SIGKILL itself at "
            "pass %d of %r. Never set this in production.",
            FAULT_ENV,
            spec,
            _armed.nth,
            _armed.point,
        )
    if _skew_ms:
        log.warning(
            "TEST-ONLY CLOCK SKEW (%s=%d): this process's clock is off by %+d ms. Never set "
            "this in production.",
            SKEW_ENV,
            _skew_ms,
            _skew_ms,
        )


def fault_point(name: str) -> None:
    """A crash point: a no-op unless ``DISPATCH_FAULT`` names it, then SIGKILL at its nth
    pass."""
    if not _configured:
        configure()
    armed = _armed
    if armed is None or armed.point != name:
        return
    armed.seen += 1
    if armed.seen == armed.nth:
        # logging's stream handlers flush every record: this line is in the log
        log.critical("fault point %r reached (pass %d): SIGKILL", name, armed.seen)
        kill()


class SkewedClock:
    """``clock`` moved by ``skew_ms`` (never backwards in-process, as the wall clock)."""

    def __init__(self, clock: Clock, skew_ms: int) -> None:
        self.clock, self.skew_ms = clock, skew_ms

    def now_ms(self) -> int:
        return self.clock.now_ms() + self.skew_ms


def skewed(clock: Clock) -> Clock:
    """``clock`` itself, or a :class:`SkewedClock` if ``DISPATCH_CLOCK_SKEW_MS`` is set."""
    if not _configured:
        configure()
    return SkewedClock(clock, _skew_ms) if _skew_ms else clock
