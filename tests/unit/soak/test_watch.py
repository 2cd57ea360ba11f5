"""The ledger of tickets awaiting a decision: decisions may be seen before the flush that
acknowledged their ticket returned, from another thread."""

from __future__ import annotations

import threading

import pytest

from engine.soak.watch import Ledger

pytestmark = pytest.mark.unit


def test_a_ticket_awaits_its_decision_until_seen() -> None:
    ledger = Ledger()
    ledger.sent([("a", "t1"), ("a", "t2"), ("b", "t1")])
    assert ledger.awaiting() == 3 and ledger.peak == 3
    ledger.decided(("a", "t1"))
    assert ledger.awaiting() == 2
    ledger.decided(("b", "t1"))
    ledger.decided(("a", "t2"))
    assert ledger.awaiting() == 0 and ledger.peak == 3


def test_a_decision_seen_before_the_flush_returned_counts() -> None:
    # Given a decision seen before its ticket's flush returned / When the flush returns
    ledger = Ledger()
    ledger.decided(("a", "t1"))
    ledger.sent([("a", "t1")])
    # Then the ticket does not await anything
    assert ledger.awaiting() == 0


def test_tenants_keep_their_own_ticket_ids() -> None:
    ledger = Ledger()
    ledger.sent([("a", "t1"), ("b", "t1")])
    ledger.decided(("a", "t1"))
    assert ledger.awaiting() == 1


def test_two_threads_never_lose_a_ticket() -> None:
    # Given one thread sending 20,000 tickets while another sees their decisions
    ledger = Ledger()
    keys = [("t", f"{n}") for n in range(20_000)]

    def decide() -> None:
        for k in keys:
            ledger.decided(k)

    decider = threading.Thread(target=decide)
    decider.start()
    for i in range(0, len(keys), 100):
        ledger.sent(keys[i : i + 100])
    decider.join()
    # Then, all decided, none awaits
    assert ledger.awaiting() == 0
