"""The test-only fault hook (engine.dispatch.faults): off unless DISPATCH_FAULT is set, then
a SIGKILL at the nth pass of the named point, and each point sits where its name says in the
dispatcher's loop (store done / produced / part of a batch stored)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import codec
from engine.adapters.memory import MemoryAgentStore, MemoryLog
from engine.clock import SimClock
from engine.core.policy import parse_policy
from engine.dispatch import faults
from engine.dispatch.pipeline import Pipeline
from engine.dispatch.service import DispatchService
from tests.unit.event_examples import DROP, example

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
T0 = 1_700_000_000_000
INPUTS = ("tickets.events", "agents.events", "tickets.lifecycle", "dispatch.commands")
POLICY = {"version": 1, "queues": [{"name": "general", "match": {}, "strategy": "least_loaded"}]}


class Crash(BaseException):
    """Stands for the SIGKILL: a BaseException, so no ``except Exception`` swallows it."""


@pytest.fixture
def crashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """faults.kill replaced by one that records the point's name and raises Crash."""
    seen: list[str] = []

    def crash() -> None:
        seen.append("killed")
        raise Crash

    monkeypatch.setattr(faults, "kill", crash)
    yield seen
    faults.configure({})  # disarm for the other tests of this process


def test_parse_accepts_a_point_and_an_optional_pass_and_rejects_the_rest() -> None:
    assert faults.parse("after_store") == ("after_store", 1)
    assert faults.parse("mid_batch@7") == ("mid_batch", 7)
    for bad in ("nowhere", "after_store@0", "after_store@x", "after_store@-1", ""):
        with pytest.raises(ValueError, match="DISPATCH_FAULT"):
            faults.parse(bad)
    assert faults.parse_skew("-300000") == -300_000
    with pytest.raises(ValueError, match="DISPATCH_CLOCK_SKEW_MS"):
        faults.parse_skew("5m")


def test_unset_every_point_is_a_no_op(crashes: list[str]) -> None:
    faults.configure({})
    for _ in range(5):
        for point in faults.POINTS:
            faults.fault_point(point)
    assert crashes == []
    clock = SimClock(T0)
    assert faults.skewed(clock) is clock


def test_armed_it_kills_at_the_nth_pass_of_its_point_only(
    crashes: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    faults.configure({"DISPATCH_FAULT": "after_produce@3"})
    assert "TEST-ONLY FAULT INJECTION ARMED" in caplog.text
    faults.fault_point("after_produce")
    faults.fault_point("after_store")  # another point does not count
    faults.fault_point("mid_batch")
    faults.fault_point("after_produce")
    assert crashes == []
    with pytest.raises(Crash):
        faults.fault_point("after_produce")
    assert crashes == ["killed"]


def test_the_real_hook_sigkills_the_process() -> None:
    code = (
        "from engine import logs; logs.configure('INFO'); from engine.dispatch import faults\n"
        "faults.configure()\n"
        "faults.fault_point('mid_batch'); print('first pass', flush=True)\n"
        "faults.fault_point('mid_batch'); print('survived', flush=True)\n"
    )
    env = {**os.environ, "DISPATCH_FAULT": "mid_batch@2"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, timeout=60
    )
    assert done.returncode == -signal.SIGKILL
    assert done.stdout.decode() == "first pass\n"
    assert "TEST-ONLY FAULT INJECTION ARMED" in done.stderr.decode()
    assert "fault point 'mid_batch' reached (pass 2): SIGKILL" in done.stderr.decode()


def test_a_skewed_clock_is_off_by_the_setting(caplog: pytest.LogCaptureFixture) -> None:
    faults.configure({"DISPATCH_CLOCK_SKEW_MS": "-120000"})
    try:
        clock = faults.skewed(SimClock(T0))
        assert clock.now_ms() == T0 - 120_000
        assert "TEST-ONLY CLOCK SKEW" in caplog.text
    finally:
        faults.configure({})


# ---- where each point sits in the loop ------------------------------------------------------


def make() -> tuple[Pipeline, MemoryLog, MemoryAgentStore]:
    log = MemoryLog()
    store = MemoryAgentStore()
    pipeline = Pipeline(
        log.consumer(INPUTS, "dispatchers"),
        log,
        DispatchService(store, parse_policy(POLICY)),
        SimClock(T0),
        poll_timeout_ms=0,
        commit_interval_ms=0,
    )
    return pipeline, log, store


def send(log: MemoryLog, *events: dict[str, object]) -> None:
    for ev in events:
        log.send(codec.topic_of(str(ev["type"])), codec.key_of(ev), codec.encode(ev))


def login(agent: str) -> dict[str, object]:
    return example("agent.login", id=agent, capacity={"chat": 5}, skills={}, regions=[])


def created(ticket: str) -> dict[str, object]:
    return example(
        "ticket.created", id=ticket, skills={}, region=DROP, queue=DROP, preferred_agent=DROP
    )


def decisions(log: MemoryLog) -> list[str]:
    return [codec.decode(r.value)["id"] for r in log.records("dispatch.assignments")]


def test_after_store_the_decision_is_stored_and_not_produced(crashes: list[str]) -> None:
    pipeline, log, store = make()
    send(log, login("A-1"))
    pipeline.run_once()
    faults.configure({"DISPATCH_FAULT": "after_store"})
    send(log, created("T-1"))
    with pytest.raises(Crash):
        pipeline.run_once()
    [view] = store.agents("acme")
    assert view.open == {"chat": ("T-1",)}
    assert decisions(log) == []
    assert log.lag("dispatchers", INPUTS) == 1


def test_after_produce_the_decision_is_produced_and_not_committed(crashes: list[str]) -> None:
    pipeline, log, _ = make()
    send(log, login("A-1"))
    pipeline.run_once()
    faults.configure({"DISPATCH_FAULT": "after_produce"})
    send(log, created("T-1"))
    with pytest.raises(Crash):
        pipeline.run_once()
    assert decisions(log) == ["T-1"]
    assert log.lag("dispatchers", INPUTS) == 1


def test_mid_batch_part_of_the_batch_is_stored_and_nothing_produced(crashes: list[str]) -> None:
    pipeline, log, store = make()
    send(log, login("A-1"))
    pipeline.run_once()
    faults.configure({"DISPATCH_FAULT": "mid_batch"})
    # one partition, one batch: two tickets, then the agent's status, then two more
    first = [dict(created(t), tenant="acme") for t in ("T-1", "T-2")]
    for ev in first:
        log.send("tickets.events", b"k", codec.encode(ev))
    log.send("tickets.events", b"k", codec.encode(example("ticket.resolved", id="T-1")))
    for t in ("T-3", "T-4"):
        log.send("tickets.events", b"k", codec.encode(created(t)))
    with pytest.raises(Crash):
        pipeline.run_once()
    [view] = store.agents("acme")
    assert view.open == {"chat": ("T-1", "T-2")}  # the resolve and T-3, T-4: not applied
    assert decisions(log) == []
