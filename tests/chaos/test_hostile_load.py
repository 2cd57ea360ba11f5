"""Hostile input at volume against live replicas: 10 % bad records of every class among good
ones (all good ones decided, every bad one dead-lettered and counted, no replica dies), and a
flood of events from thousands of made-up tenants (registers nobody, barely slows a valid
ticket). Each ends with `dispatch audit` clean."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import msgpack
import pytest

from tests.chaos.rig import Load, Rig

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(180)]

TENANTS = ("acme", "globex")
AGENTS = 8
CAPACITY = {"chat": 3, "phone": 1}
HUGE = 50_000


def ticket(tid: str, **fields: object) -> dict[str, object]:
    ev: dict[str, object] = {"v": 1, "type": "ticket.created", "id": tid, "tenant": "acme"}
    ev.update(ts=int(time.time() * 1000), channel="chat", priority=3)
    ev.update(fields)
    return ev


def bad_record(kind: str, n: int) -> tuple[str, bytes, bytes]:
    """(logical topic, key, value) of one bad record of ``kind``."""
    key = f"acme/bad{n}".encode()
    now = int(time.time() * 1000)
    if kind == "undecodable":
        return "tickets.events", key, b"\xc1\xc1 not msgpack " + bytes([n % 256])
    if kind == "invalid":
        return "tickets.events", key, msgpack.packb(ticket(f"bad{n}", priority=42))
    if kind == "float_ts":
        return "tickets.events", key, msgpack.packb(ticket(f"bad{n}", ts=float(2**70)))
    if kind == "huge_capacity":
        login = {"v": 1, "type": "agent.login", "id": f"bad{n}", "tenant": "acme", "ts": now}
        login["capacity"] = {"chat": float(2**70)}
        return "agents.events", key, msgpack.packb(login)
    if kind == "huge_skills":
        skills = {f"s{i}": 1 for i in range(HUGE)}
        return "tickets.events", key, msgpack.packb(ticket(f"bad{n}", skills=skills))
    if kind == "unknown_ticket":
        ev = {"v": 1, "type": "ticket.resolved", "id": f"never{n}", "tenant": "acme", "ts": now}
        return "tickets.lifecycle", key, msgpack.packb(ev)
    if kind == "unknown_agent":
        ev = {"v": 1, "type": "agent.status", "id": f"nobody{n}", "tenant": "acme", "ts": now}
        ev["status"] = "available"
        return "agents.events", key, msgpack.packb(ev)
    assert kind == "unknown_tenant"
    ev = {"v": 1, "type": "ticket.cancelled", "id": "t1", "tenant": f"ghost{n}", "ts": now}
    return "tickets.lifecycle", f"ghost{n}/t1".encode(), msgpack.packb(ev)


KINDS = (
    "undecodable",
    "invalid",
    "float_ts",
    "huge_capacity",
    "huge_skills",
    "unknown_ticket",
    "unknown_agent",
    "unknown_tenant",
)


def test_poison_at_volume_is_dead_lettered_and_the_good_records_all_decided(
    make_rig: Callable[..., Rig],
) -> None:
    # Given two replicas
    rig = make_rig()
    rig.wait_assigned(rig.start(2))
    rig.login(TENANTS, AGENTS, CAPACITY)
    bad: list[str] = []

    def poison(n: int) -> None:  # after every 9 good tickets, one bad record
        if n % 9 == 8:
            kind = KINDS[len(bad) % len(KINDS)]
            topic, key, value = bad_record(kind, len(bad))
            rig.log.send(rig.settings.topic(topic), key, value)
            bad.append(kind)

    # When 10 % of the records are bad, of every class, among 720 good tickets
    load = Load(rig, TENANTS, tickets=720, rate=150, agents=AGENTS, step=poison)
    load.start()
    sent = load.finish()
    # Then every good ticket is decided, soon after it was sent, and no replica died
    rig.wait_decided(sent)
    lags = sorted(rig.watcher.decided[k] - load.sent_at[k] for k in sent)
    assert lags[int(len(lags) * 0.95)] < 5.0, f"p95 decision lag {lags[int(len(lags) * 0.95)]}"
    assert all(r.alive() for r in rig.replicas), rig.logs()
    # And every bad record is in the dead-letter topic with a reason, counted by the audit
    assert len(bad) == 80 and set(bad) == set(KINDS)
    deadline = time.monotonic() + 30
    while len(rig.dead_letters()) < len(bad) and time.monotonic() < deadline:
        time.sleep(0.5)
    dead = rig.dead_letters()
    assert len(dead) == len(bad) and all(d.get("reason") for d in dead)
    report = rig.audit_clean()
    counts = report.check("dead_letters").counts
    assert sum(counts.values()) == len(bad), counts
    assert {"unknown_ticket", "unknown_agent"} <= set(counts), counts
    assert not set(rig.store.tenants()) - set(TENANTS)


FLOOD = 3000
PROBES = 5


def test_a_flood_of_unknown_tenants_registers_nobody_and_barely_slows_a_valid_ticket(
    make_rig: Callable[..., Rig],
) -> None:
    # Given one replica, an agent and the decision time of a valid ticket
    rig = make_rig(partitions=2)
    rig.wait_assigned(rig.start(1))
    rig.login(["acme"], 2, {"chat": 50})
    before = [rig.latency("acme", f"before{i}") for i in range(PROBES)]
    # When 3,000 events of 3,000 made-up tenants arrive (stray resolutions and logouts)
    for i in range(FLOOD):
        ev = {"v": 1, "id": f"x{i}", "tenant": f"ghost{i}", "ts": int(time.time() * 1000)}
        if i % 2:
            ev["type"] = "agent.logout"
            rig.log.send(
                rig.settings.topic("agents.events"), f"ghost{i}/x".encode(), msgpack.packb(ev)
            )
        else:
            ev["type"] = "ticket.resolved"
            rig.log.send(
                rig.settings.topic("tickets.lifecycle"), f"ghost{i}/x".encode(), msgpack.packb(ev)
            )
    rig.log.flush()
    deadline = time.monotonic() + 60
    while len(rig.dead_letters()) < FLOOD and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(rig.dead_letters()) == FLOOD
    # Then nobody was registered, and a valid ticket is decided about as fast as before
    assert rig.store.tenants() == ["acme"]
    after = [rig.latency("acme", f"after{i}") for i in range(PROBES)]
    slow_before, slow_after = statistics.median(before), statistics.median(after)
    assert slow_after < 0.5 + 2 * slow_before, (before, after)
    rig.audit_clean()
