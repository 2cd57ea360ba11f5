"""The archive reports benchmark on a tiny archive (2,000 tickets, SQLite): it loads, every
report answers, and the generated stream is one the reports read sensibly."""

from __future__ import annotations

import json
import random

import pytest

from benchmarks import archive_reports as bench

pytestmark = [pytest.mark.unit, pytest.mark.slow]


def test_a_ticket_life_is_valid_and_in_time_order() -> None:
    from engine import codec

    rng = random.Random(1)
    for n in range(200):
        evs = bench.ticket_events(rng, n, bench.TENANT, bench.START + n, ["a", "b", "c"])
        assert evs[0]["type"] == "ticket.created"
        for ev in evs:
            codec.validate(ev)
        seqs = [ev["seq"] for ev in evs if ev["type"].startswith("decision.")]
        assert seqs == list(range(1, len(seqs) + 1))


def test_smoke_2000_tickets(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        bench.main(
            ["--tickets", "2000", "--days", "2", "--agents", "20", "--repeat", "1", "--json"]
        )
        == 0
    )
    figures = json.loads(capsys.readouterr().out)
    assert figures["database"] == "sqlite"
    assert figures["load"]["tickets"] == 2000 and figures["load"]["rows"] > 2000 * 6
    by_name = {r["report"].split(" (")[0]: r for r in figures["reports"]}
    assert by_name["agents, 1 day"]["rows"] == 20
    assert by_name["one agent, 7 days"]["rows"] == 1
    assert by_name["kpis by day, 2 days"]["rows"] == 2
    assert by_name["kpis by hour, 1 day"]["rows"] == 24
    assert by_name["channels, 7 days"]["rows"] == 4
    assert by_name["trail of one ticket"]["rows"] >= 4
    assert all(r["best_s"] < 5 for r in figures["reports"])
