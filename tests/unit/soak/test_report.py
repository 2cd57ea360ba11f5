"""The soak's summary: the table a person reads, the same as one JSON object, and the exit
code that follows from it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.exitcodes import RET_FAILED, RET_INTERRUPTED, RET_INVALID, RET_OK, RET_UNAVAILABLE
from engine.soak.options import FAULT_KINDS, SoakOptions
from engine.soak.report import FaultRecord, Summary, clock, render

pytestmark = pytest.mark.unit

CHECKS = ("decided", "one_agent", "capacity", "drift", "priority_order", "last_record")


def _audit(violations: dict[str, int] | None = None) -> dict[str, Any]:
    violations = violations or {}
    checks = [
        {
            "name": name,
            "informational": False,
            "violations": violations.get(name, 0),
            "examples": (
                [{"subject": "soak-a/t-0000001", "evidence": "no decision"}]
                if violations.get(name)
                else []
            ),
        }
        for name in CHECKS
    ]
    checks.append({"name": "stranded", "informational": True, "violations": 0, "found": 4})
    return {"ok": not any(violations.values()), "checks": checks, "inputs": {}}


def _summary(**changes: Any) -> Summary:
    s = Summary(run="soak-1234abcd", options=SoakOptions(minutes=0.5, fault_every_s=3))
    s.elapsed_s = 30.2
    s.faults = [
        FaultRecord(1, 3.0, "kill_replica", "replica 1", "SIGKILL pid 10", 2.5),
        FaultRecord(2, 6.0, "restart_kafka", "kafka", "ready in 4.0 s", 4.0),
        FaultRecord(3, 9.0, "pause_replica", "-", "every replica is paused already", 0.0, False),
        FaultRecord(4, 12.0, "kill_replica", "replica 2", "SIGKILL pid 11", 3.0),
    ]
    s.tickets_sent, s.poison_sent, s.events_sent = 600, 6, 900
    s.decisions, s.decisions_by_kind = 1500, {"assigned": 900, "queued": 600}
    s.dead_letters, s.drain_s, s.drained = 6, 14.2, True
    s.longest_gap_s, s.awaiting_peak = 7.25, 130
    s.audit = _audit()
    for key, value in changes.items():
        setattr(s, key, value)
    return s


def test_faults_are_counted_by_kind_and_failed_injections_are_not() -> None:
    counts = _summary().faults_by_kind()
    assert list(counts) == list(FAULT_KINDS)
    assert counts == {"kill_replica": 2, "pause_replica": 0, "restart_redis": 0,
                      "restart_kafka": 1}  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({}, RET_OK),
        ({"audit": _audit({"drift": 2})}, RET_INVALID),
        ({"crashes": ["replica 1 (pid 9) exited with 1"]}, RET_INVALID),
        ({"audit": None, "audit_error": "a service is unreachable"}, RET_UNAVAILABLE),
        ({"audit": None, "interrupted": True}, RET_INTERRUPTED),
        ({"interrupted": True}, RET_INTERRUPTED),
        ({"interrupted": True, "audit": _audit({"capacity": 1})}, RET_INVALID),
        ({"error": "RuntimeError: boom"}, RET_FAILED),
        ({"error": "RuntimeError: boom", "audit": _audit({"decided": 1})}, RET_INVALID),
        ({"tickets_sent": 100, "poison_sent": 0}, RET_FAILED),  # 100 of 604 planned
        ({"tickets_sent": 150, "poison_sent": 2}, RET_OK),  # a quarter reached Kafka
    ],
)
def test_the_exit_code_follows_from_the_summary(changes: dict[str, Any], code: int) -> None:
    s = _summary(**changes)
    assert s.exit_code() == code
    assert s.ok is (code == RET_OK)
    assert f"(exit {code})" in render(s)


def test_violations_list_every_guarantee_and_the_crashes_but_no_informational_check() -> None:
    v = _summary(audit=_audit({"one_agent": 3})).violations()
    assert v == {"replica_crashes": 0, **{c: 3 if c == "one_agent" else 0 for c in CHECKS}}


def test_the_table_shows_faults_tickets_decisions_dead_letters_and_each_guarantee() -> None:
    text = render(_summary(audit=_audit({"decided": 1})))
    lines = text.splitlines()
    assert lines[0].startswith("soak soak-1234abcd: 0:30 of 0:30 (complete), 2 replica(s)")

    def row(label: str) -> str:
        line = next(ln for ln in lines if ln.strip().startswith(label))
        return line.strip()[len(label) :].split()[0]

    assert row("faults injected") == "3"
    assert row("kill_replica") == "2" and row("restart_kafka") == "1"
    assert row("tickets sent") == "600" and row("decisions") == "1500"
    assert row("dead letters") == "6"
    assert row("most tickets awaiting one") == "130"
    assert "7.2 s" in next(ln for ln in lines if "longest gap in decisions" in ln)
    assert any("✗ decided" in ln and ln.endswith("1") for ln in lines)
    assert any("✓ drift" in ln for ln in lines)
    assert "soak-a/t-0000001: no decision" in text  # the violation's example
    assert "failed injections" in text
    assert lines[-1] == "result: VIOLATIONS (exit 1)"


def test_json_is_one_object_with_the_same_figures() -> None:
    s = _summary()
    data = json.loads(s.to_json())
    assert data["ok"] is True and data["exit_code"] == 0
    assert data["faults"]["kill_replica"] == 2 and data["faults_failed"] == 1
    assert data["tickets_sent"] == 600 and data["decisions"] == 1500
    assert data["dead_letters"] == 6
    assert data["longest_gap_s"] == 7.2 and data["awaiting_peak"] == 130
    assert data["violations"]["decided"] == 0
    assert data["audit"]["checks"][0]["name"] == "decided"
    assert [f["number"] for f in data["fault_log"]] == [1, 2, 3, 4]
    assert data["options"]["minutes"] == 0.5


def test_a_run_without_an_audit_says_why() -> None:
    text = render(_summary(audit=None, audit_error="skipped: interrupted twice", interrupted=True))
    assert "audit not run: skipped: interrupted twice" in text
    assert "(interrupted)" in text.splitlines()[0]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0:00"), (59.9, "0:59"), (61, "1:01"), (3725, "1:02:05"), (-3, "0:00")],
)
def test_clock(seconds: float, shown: str) -> None:
    assert clock(seconds) == shown


@pytest.mark.parametrize(
    ("record", "line"),
    [
        (
            FaultRecord(2, 61.0, "restart_kafka", "kafka", "ready", 4.62),
            "fault 2 at 1:01: restart_kafka kafka: ready (4.6 s)",
        ),
        (
            FaultRecord(3, 5.0, "pause_replica", "replica 1", "SIGSTOP pid 7 for 15 s", 0.001),
            "fault 3 at 0:05: pause_replica replica 1: SIGSTOP pid 7 for 15 s",
        ),
        (
            FaultRecord(4, 5.0, "kill_replica", "-", "no replica running", 0.0, ok=False),
            "fault 4 at 0:05: kill_replica - FAILED: no replica running",
        ),
    ],
)
def test_each_fault_is_one_line_a_person_reads(record: FaultRecord, line: str) -> None:
    assert record.line() == line


def test_a_load_that_never_reached_kafka_fails_the_run_saying_so() -> None:
    # Given 30 s at 20 tickets/s planned, and 12 tickets acknowledged (a stalled producer)
    s = _summary(tickets_sent=12, poison_sent=0)
    # Then the run failed (exit 4) although the audit is clean, and the summary says why
    assert s.exit_code() == RET_FAILED
    assert "the load reached Kafka for only 12 of 604 tickets" in render(s)
    assert json.loads(s.to_json())["error"] == "the load reached Kafka for only 12 of 604 tickets"
