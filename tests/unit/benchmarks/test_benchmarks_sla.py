"""The SLA benchmark's expected outcomes and its RESULTS.md section handling (no services)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import sla_backlog
from benchmarks.bench_report import KEEP_MARKER, kept_sections
from benchmarks.sla_report import BEGIN, END, write_section

pytestmark = pytest.mark.unit


def test_backlog_expected_outcomes_per_shape() -> None:
    b = sla_backlog.build(10, base_ms=1_000_000, spacing_ms=10)
    assert b.by_topic() == {
        "tickets.events": 10,
        "dispatch.assignments": 10,
        "tickets.lifecycle": 14,
    }
    # per 5 tickets: 2 + 4 + 4 + 4 + 3 outcomes; one first-response breach escalates
    assert len(b.expected) == 34
    assert len(b.escalations) == 4
    assert all(b.expected[e][:2] == ("sla.breached", "first_response") for e in b.escalations)
    times = [ts for ts, _ in b.events]
    assert times == sorted(times)


def test_check_events_flags_missing_and_changed() -> None:
    from engine import codec

    b = sla_backlog.build(5, base_ms=1_000_000, spacing_ms=10)

    class Rec:
        def __init__(self, value: bytes) -> None:
            self.value = value

    def rec(eid: str, deadline_shift: int = 0) -> tuple[float, Rec]:
        typ, target, ts, dl = b.expected[eid]
        ev = {"event_id": eid, "type": typ, "target": target, "ts": ts, "deadline_ms": dl}
        ev["deadline_ms"] += deadline_shift
        return 0.0, Rec(codec.encode(ev))

    ids = sorted(b.expected)
    ok = sla_backlog.check_events([rec(e) for e in ids], b)
    assert ok["valid"] and ok["distinct"] == len(ids)
    bad = sla_backlog.check_events([rec(e) for e in ids[1:]] + [rec(ids[1], 1)], b)
    assert not bad["valid"] and bad["missing"] == 1 and bad["different"] == 1


def test_section_is_replaced_and_survives_the_throughput_page(tmp_path: Path) -> None:
    r = json.loads(
        (Path(__file__).resolve().parents[3] / "benchmarks/results/sla_throughput.json").read_text()
    )
    page = tmp_path / "RESULTS.md"
    page.write_text("# Throughput\n\nbody\n")
    write_section(r, page)
    write_section(r, page)
    text = page.read_text()
    assert text.count(BEGIN) == text.count(END) == text.count(KEEP_MARKER) == 1
    assert text.startswith("# Throughput\n")
    assert kept_sections(page).lstrip().startswith(KEEP_MARKER)
    assert BEGIN in kept_sections(page)
