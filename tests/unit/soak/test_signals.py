"""SIGINT/SIGTERM during a soak: the first ends the run early (drain, audit and summary
still happen), the second skips the drain and the audit; the old handlers come back."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from engine.cli.soak import _signals_end

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("first", [signal.SIGINT, signal.SIGTERM])
def test_the_first_signal_stops_the_run_and_the_second_aborts_it(first: signal.Signals) -> None:
    stop, abort = threading.Event(), threading.Event()
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    # Given the soak's handlers / When a first signal arrives
    with _signals_end(stop, abort):
        os.kill(os.getpid(), first)
        # Then the run stops early but still drains and audits
        assert stop.wait(2) and not abort.is_set()
        # When another arrives / Then the drain and the audit are skipped too
        os.kill(os.getpid(), signal.SIGINT)
        assert abort.wait(2)
    # And afterwards the previous handlers are back
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
