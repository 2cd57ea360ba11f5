"""Agents changing under a live replica: capacity lowered below the current load (no new
work until the load drops under it) and every agent logging out at once (nothing offered to
an offline agent; work resumes when agents return). Each ends with `dispatch audit` clean."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.chaos.rig import Rig, agent_ids

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(120)]

TENANT = "acme"
PLACED = ("decision.assigned", "decision.offered", "decision.reassigned")


def until(what: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (got := what()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert got, f"not true after {timeout_s:.0f} s: {what}"
    return got


def placed(rig: Rig, ids: set[str]) -> list[dict[str, Any]]:
    return [d for d in rig.watcher.snapshot() if d["id"] in ids and d["type"] in PLACED]


def loads(rig: Rig) -> dict[str, tuple[int, int]]:
    """agent -> (open chat tickets, chat capacity) in Redis."""
    return {
        v.agent.id: (v.load("chat"), v.agent.capacity.get("chat", 0))
        for v in rig.store.agents(TENANT)
    }


def test_capacity_lowered_below_load_gives_no_new_work_until_the_load_drops(
    make_rig: Callable[..., Rig],
) -> None:
    # Given 4 agents of chat capacity 3, each holding 3 tickets
    rig = make_rig(partitions=2)
    rig.wait_assigned(rig.start(1))
    producer = rig.producer(TENANT)
    agents = agent_ids(4)
    for a in agents:
        producer.login(a, capacity={"chat": 3})
    for n in range(12):
        producer.ticket(f"c{n:02d}", channel="chat", priority=3)
    rig.log.flush()
    first = {f"c{n:02d}" for n in range(12)}
    until(lambda: len(placed(rig, first)) == 12)
    # When every agent's capacity drops to 1
    for a in agents:
        producer.publish("agent.update", a, capacity={"chat": 1})
    rig.log.flush()
    until(lambda: set(loads(rig).values()) == {(3, 1)})
    # Then new tickets wait: nobody is offered work above the new capacity
    new = {f"n{n}" for n in range(6)}
    for tid in sorted(new):
        producer.ticket(tid, channel="chat", priority=3)
    rig.log.flush()
    rig.wait_decided((TENANT, t) for t in new)
    # And when a00's load falls to 1 (= capacity) still nothing; at 0, one new ticket
    held = sorted(d["id"] for d in placed(rig, first) if d["agent"] == "a00")
    for tid in held[:2]:
        producer.lifecycle("resolved", tid, "a00")
    rig.log.flush()
    until(lambda: loads(rig)["a00"] == (1, 1))
    time.sleep(1.0)  # a tick or more: a wrong pull would have happened by now
    assert placed(rig, new) == []
    producer.lifecycle("resolved", held[2], "a00")
    rig.log.flush()
    [got] = until(lambda: placed(rig, new))
    assert got["agent"] == "a00" and got["load"] <= 1
    assert loads(rig)["a00"] == (1, 1)
    rig.audit_clean()


def test_every_agent_logging_out_at_once_strands_nothing(make_rig: Callable[..., Rig]) -> None:
    # Given 6 agents of chat capacity 2 holding 8 tickets
    rig = make_rig(partitions=2)
    rig.wait_assigned(rig.start(1))
    producer = rig.producer(TENANT)
    agents = agent_ids(6)
    for a in agents:
        producer.login(a, capacity={"chat": 2})
    first = {f"c{n}" for n in range(8)}
    for tid in sorted(first):
        producer.ticket(tid, channel="chat", priority=3)
    rig.log.flush()
    until(lambda: len(placed(rig, first)) == 8)
    # When all of them log out in one go
    for a in agents:
        producer.logout(a)
    rig.log.flush()
    until(lambda: set(rig.stored_status(TENANT).values()) == {"offline"})
    # Then new tickets wait: nothing goes to an offline agent
    new = {f"n{n}" for n in range(10)}
    for tid in sorted(new):
        producer.ticket(tid, channel="chat", priority=3)
    rig.log.flush()
    rig.wait_decided((TENANT, t) for t in new)
    time.sleep(1.0)
    assert placed(rig, new) == []
    assert rig.stored_status(TENANT) == rig.last_status(TENANT)
    # And when two come back, the waiting tickets flow to them again
    for a in agents[:2]:
        producer.login(a, capacity={"chat": 6})
    rig.log.flush()
    got = until(lambda: placed(rig, new))
    assert {d["agent"] for d in got} <= set(agents[:2])
    rig.audit_clean()
