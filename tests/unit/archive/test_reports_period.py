"""Periods and instants as people type them, and the three output formats."""

from __future__ import annotations

import json

import pytest

from engine.archive.reports.model import Report, mean, ratio
from engine.archive.reports.period import (
    DAY_MS,
    MAX_PERIOD_MS,
    BadPeriod,
    Period,
    bucket_ms,
    iso,
    parse_instant,
)
from engine.archive.reports.render import render
from engine.core import bounds

pytestmark = pytest.mark.unit

T0 = 1_796_083_200_000  # 2026-12-01T00:00:00Z


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2026-12-01", T0),
        ("2026-12-01T00:00", T0),
        ("2026-12-01T09:30Z", T0 + 9 * 3_600_000 + 30 * 60_000),
        ("2026-12-01T09:30:00+08:00", T0 + 3_600_000 + 30 * 60_000),
        ("2026-12-01T00:00:00.250Z", T0 + 250),
        (str(T0), T0),
        (" 0 ", 0),
        ("9999-12-31T23:59:59.999Z", bounds.EPOCH_MS_MAX),
    ],
)
def test_instants(text: str, ms: int) -> None:
    assert parse_instant(text) == ms


@pytest.mark.parametrize(
    "text",
    ["", "yesterday", "2026-13-01", "2026-12-01T25:00", "1.5", "-5", "1e12", "{1}", "1969-12-31"],
)
def test_bad_instants_name_the_field(text: str) -> None:
    with pytest.raises(BadPeriod) as err:
        parse_instant(text, "to")
    assert err.value.field == "to" and str(err.value).startswith("to:")


def test_periods() -> None:
    assert Period.of(T0, T0 + 1) == Period(T0, T0 + 1)
    assert Period.of(T0, T0 + MAX_PERIOD_MS).to_ms - T0 == 366 * DAY_MS
    for f, t, field in (
        (T0, T0, "to"),
        (T0, T0 - 1, "to"),
        (T0, T0 + MAX_PERIOD_MS + 1, "to"),
        (-1, T0, "from"),
        (0, bounds.EPOCH_MS_MAX + 1, "to"),
    ):
        with pytest.raises(BadPeriod) as err:
            Period.of(f, t)
        assert err.value.field == field
    assert bucket_ms("hour") == 3_600_000 and bucket_ms("day") == DAY_MS
    with pytest.raises(BadPeriod):
        bucket_ms("week")
    assert iso(T0) == "2026-12-01T00:00:00.000Z"


def test_means_and_ratios_never_divide_by_zero() -> None:
    assert (mean(10, 0), mean(None, 0), ratio(1, 0), ratio(None, None)) == (None,) * 4
    assert (mean(10, 4), ratio(1, 3), ratio(0, 5)) == (2.5, 0.3333, 0.0)


def test_the_three_formats() -> None:
    report = Report(
        "kpis",
        "acme",
        Period(T0, T0 + DAY_MS),
        ("bucket", "created", "csat_mean", "detail"),
        [
            {"bucket": "2026-12-01", "created": 3, "csat_mean": 3.5, "detail": {"a": 1}},
            {"bucket": "2026-12-02", "created": 0, "csat_mean": None, "detail": {}},
        ],
    )
    table = render(report, "table").splitlines()
    assert table[0].split() == ["bucket", "created", "csat_mean", "detail"]
    assert table[2].split() == ["2026-12-01", "3", "3.5", '{"a":', "1}"]
    assert render(report, "csv").splitlines() == [
        "bucket,created,csat_mean,detail",
        '2026-12-01,3,3.5,"{""a"": 1}"',
        "2026-12-02,0,,{}",
    ]
    doc = json.loads(render(report, "json"))
    assert doc["rows"][1] == {"bucket": "2026-12-02", "created": 0, "csat_mean": None, "detail": {}}
    assert (doc["from_ms"], doc["to_ms"], doc["columns"][0]) == (T0, T0 + DAY_MS, "bucket")
    empty = Report("kpis", "acme", Period(T0, T0 + 1), ("bucket",), [])
    assert render(empty, "table").splitlines()[-1] == "(no rows)"
