"""Clocks: the wall clock and a simulated clock for tests, demos and simulation."""

from __future__ import annotations

import time


class WallClock:
    """Epoch milliseconds from the system clock, never going backwards in-process."""

    def __init__(self) -> None:
        self._last = 0

    def now_ms(self) -> int:
        now = time.time_ns() // 1_000_000
        self._last = max(self._last, now)
        return self._last


class SimClock:
    """A clock that only moves when told to."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError("a clock does not go backwards")
        self._now += ms

    def set(self, now_ms: int) -> None:
        self.advance(now_ms - self._now)
