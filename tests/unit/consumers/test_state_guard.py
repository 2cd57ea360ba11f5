"""The dispatcher's state guard (consumers.dispatcher.StateGuard): a fresh consumer group
marks the store and goes on; a store without its marker while the group has committed
offsets (Redis lost its data) pauses every batch until the marker is back (a repair)."""

from __future__ import annotations

import pytest

from consumers.dispatcher import StateGuard
from engine.clock import SimClock
from engine.errors import StoreLost, StoreUnavailable

pytestmark = pytest.mark.unit


class Store:
    """The two calls of the Redis store the guard uses, in memory."""

    state_key = "dispatch:state"

    def __init__(self, marked: bool) -> None:
        self.marker: str | None = "earlier" if marked else None
        self.reads = 0

    def state_marked(self) -> bool:
        self.reads += 1
        return self.marker is not None

    def mark_state(self, by: str, now_ms: int) -> None:
        self.marker = f"{by} at {now_ms}"


def test_a_fresh_group_marks_the_store_and_goes_on() -> None:
    store = Store(marked=False)
    guard = StateGuard(store, lambda: False, SimClock(5))  # type: ignore[arg-type]
    guard.check()
    assert store.marker == "dispatcher (fresh consumer group) at 5"
    guard.check()
    assert store.reads == 2


def test_a_lost_store_pauses_until_the_marker_is_back(caplog: pytest.LogCaptureFixture) -> None:
    # Given a group with committed offsets and a store without its marker (flushed)
    store = Store(marked=False)
    guard = StateGuard(store, lambda: True, SimClock(5))  # type: ignore[arg-type]
    # Then every batch is refused as an outage (the loop: not ready, back-off, retry)
    for _ in range(3):
        with pytest.raises(StoreLost, match="reconcile --repair"):
            guard.check()
    assert isinstance(StoreLost("x"), StoreUnavailable)
    assert store.marker is None, "a lost store is never marked by a dispatcher"
    assert caplog.text.count("dispatching paused") == 1
    # When a repair sets the marker, the next batch goes on
    store.mark_state("dispatch reconcile --repair", 9)
    guard.check()
    assert "dispatching resumes" in caplog.text
