"""The loop both processes share: outages are retried with back-off, health follows."""

from __future__ import annotations

import threading

import pytest

from consumers import loop
from engine.endpoints import Health
from engine.errors import StoreUnavailable
from engine.exitcodes import RET_OK, RET_UNAVAILABLE

pytestmark = pytest.mark.unit


def test_an_outage_is_retried_and_health_recovers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loop, "BACKOFF_S", 0.001)
    stop, health = threading.Event(), Health()
    calls, ready_seen, ticks = [], [], []

    def step() -> None:
        calls.append(1)
        ready_seen.append(health.ready)
        if len(calls) <= 2:
            raise StoreUnavailable("redis: down")
        if len(calls) == 4:
            stop.set()

    code = loop.run_until_stopped(step, health, stop, [(3600, lambda: ticks.append(1))])
    assert code == RET_OK
    assert len(calls) == 4
    assert ready_seen == [False, False, False, True]  # ready again after the first success
    assert health.ready and ticks == [1]  # periodic work ran once (first turn only)


def test_stopping_during_an_outage_reports_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loop, "BACKOFF_S", 0.001)
    stop, health = threading.Event(), Health()

    def step() -> None:
        stop.set()
        raise StoreUnavailable("redis: down")

    assert loop.run_until_stopped(step, health, stop) == RET_UNAVAILABLE
    assert not health.ready
