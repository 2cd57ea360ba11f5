"""A dispatcher replica SIGKILLed at each critical point of its loop (the test-only fault hook,
``DISPATCH_FAULT``), then restarted, while a second replica and the load go on: nothing lost,
nothing decided twice, and `dispatch audit` clean."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine.dispatch import faults
from tests.chaos.rig import Load, Rig

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(180)]

TENANTS = ("acme", "globex")
AGENTS = 8
CAPACITY = {"chat": 3, "phone": 1}


@pytest.mark.parametrize(
    ("point", "nth"),
    [(faults.AFTER_STORE, 3), (faults.AFTER_PRODUCE, 4), (faults.MID_BATCH, 2)],
)
def test_a_replica_killed_at_a_crash_point_loses_nothing(
    make_rig: Callable[..., Rig], point: str, nth: int
) -> None:
    # Given two replicas, one armed to SIGKILL itself at the nth pass of the point
    rig = make_rig()
    [armed] = rig.start(1, DISPATCH_FAULT=f"{point}@{nth}")
    rig.wait_assigned([armed, *rig.start(1)])
    rig.login(TENANTS, AGENTS, CAPACITY)
    # When tickets, status flips and resolutions flow
    load = Load(rig, TENANTS, tickets=700, rate=150, agents=AGENTS)
    load.start()
    # Then the armed replica dies at that point
    code = armed.proc.wait(60)
    assert code == -9, armed.log_tail()
    assert f"fault point {point!r} reached (pass {nth}): SIGKILL" in armed.log_tail(200)
    rig.replicas.remove(armed)
    # And, restarted (unarmed) while the load goes on, nothing is lost nor decided twice
    rig.start(1)
    sent = load.finish()
    rig.wait_decided(sent)
    rig.audit_clean()
    if point != faults.MID_BATCH:  # its stored part may be resolutions only: no decisions
        # (the batch it died in was redelivered, its decisions recognised as done)
        assert any(d.get("duplicate") for d in rig.watcher.snapshot()), "no redelivery seen"
