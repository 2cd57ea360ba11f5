"""Replicas coming and going under load: a zombie (SIGSTOP past the session time-out, then
SIGCONT), a rolling restart of 3, scaling 1 -> 3 -> 1, and one replica whose clock is
minutes ahead. Each ends with `dispatch audit` clean."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest

from engine.adapters.kafka.consumer import CONSUMER_DEFAULTS
from tests.chaos.rig import Load, Rig

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(180)]

TENANTS = ("acme", "globex", "initech")
AGENTS = 8
CAPACITY = {"chat": 3, "phone": 1}
SESSION_S = CONSUMER_DEFAULTS["session_timeout_ms"] / 1000


def test_a_zombie_replica_does_not_roll_agent_state_back(make_rig: Callable[..., Rig]) -> None:
    # Given two replicas and agents whose status flips often
    rig = make_rig()
    zombie, other = rig.start(2)
    rig.wait_assigned([zombie, other])
    rig.login(TENANTS, AGENTS, CAPACITY)
    load = Load(rig, TENANTS, tickets=1200, rate=60, agents=AGENTS, flip_every=6)
    load.start()
    load.wait_sent(120)
    # When one replica is frozen past the consumer session time-out, then resumed while
    # the load goes on (its last batch in hand is stale by then)
    zombie.proc.send_signal(signal.SIGSTOP)
    time.sleep(SESSION_S + 4)
    zombie.proc.send_signal(signal.SIGCONT)
    sent = load.finish()
    # Then it rejoined instead of dying, nothing is lost, the audit is clean
    assert zombie.alive(), zombie.log_tail()
    rig.wait_decided(sent)
    rig.audit_clean()
    # And every agent's status in Redis is its last event's
    for tenant in TENANTS:
        assert rig.stored_status(tenant) == rig.last_status(tenant), tenant


def test_a_rolling_restart_of_three_replicas_under_load(make_rig: Callable[..., Rig]) -> None:
    # Given three replicas
    rig = make_rig()
    rig.wait_assigned(rig.start(3))
    rig.login(TENANTS, AGENTS, CAPACITY)
    load = Load(rig, TENANTS, tickets=1200, rate=80, agents=AGENTS)
    load.start()
    # When each in turn is stopped (SIGTERM) and a new one started, under load
    for n in range(3):
        load.wait_sent(150 + 300 * n)
        assert rig.stop(rig.replicas[0]) == 0
        rig.start(1)
    sent = load.finish()
    # Then nothing is lost or decided twice
    rig.wait_decided(sent)
    rig.audit_clean()


def test_scaling_one_to_three_to_one_under_load(make_rig: Callable[..., Rig]) -> None:
    # Given one replica
    rig = make_rig()
    [first] = rig.start(1)
    rig.wait_assigned([first])
    rig.login(TENANTS, AGENTS, CAPACITY)
    load = Load(rig, TENANTS, tickets=1200, rate=80, agents=AGENTS)
    load.start()
    # When two more join, then leave again, under load
    load.wait_sent(250)
    added = rig.start(2)
    load.wait_sent(700)
    assert [rig.stop(r) for r in added] == [0, 0]
    sent = load.finish()
    # Then the one left decides everything, nothing lost or decided twice
    rig.wait_decided(sent)
    rig.audit_clean()
    assert rig.replicas == [first]


SKEW_MS = 5 * 60_000


def test_one_replica_minutes_ahead_breaks_no_guarantee(make_rig: Callable[..., Rig]) -> None:
    # Given two replicas, one with its clock 5 minutes ahead (test-only setting)
    rig = make_rig()
    [skewed] = rig.start(1, DISPATCH_CLOCK_SKEW_MS=str(SKEW_MS))
    rig.wait_assigned([skewed, *rig.start(1)])
    assert "TEST-ONLY CLOCK SKEW" in skewed.log_tail(400)
    rig.login(TENANTS, AGENTS, CAPACITY)
    # When tickets (some escalating on region ladders) flow through both
    load = Load(rig, TENANTS, tickets=600, rate=150, agents=AGENTS)
    load.start()
    sent = load.finish()
    # Then both decided (the skewed one's decisions carry its time) and the audit is clean
    rig.wait_decided(sent)
    ahead = time.time() * 1000 + SKEW_MS / 2
    stamps = [d["ts"] for d in rig.watcher.snapshot()]
    assert any(ts > ahead for ts in stamps) and any(ts < ahead for ts in stamps)
    rig.audit_clean()
