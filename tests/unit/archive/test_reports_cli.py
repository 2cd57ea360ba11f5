"""``dispatch report``: the figures of the known stream in every format, and a clear
error with the right exit code for every bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from engine.archive.db import make_engine, upgrade
from engine.cli.main import main
from engine.exitcodes import RET_INVALID, RET_OK, RET_UNAVAILABLE, RET_USAGE
from tests.unit.archive import reports_stream as s
from tests.unit.archive.reports_stream import MIN, T0

pytestmark = pytest.mark.unit

DAY = ["--from", "2026-12-01", "--to", "2026-12-02"]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("archive") / "archive.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    s.load(engine, s.acme() + s.globex())
    engine.dispose()
    return f"sqlite:///{path}"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["report", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_agents_as_json(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "agents", "--url", url, "--tenant", "acme", *DAY, "--format", "json")
    assert code == RET_OK
    doc = json.loads(out)
    assert (doc["report"], doc["tenant"], doc["from_ms"], doc["to_ms"]) == (
        "agents",
        "acme",
        T0,
        T0 + 24 * 60 * MIN,
    )
    bob = next(r for r in doc["rows"] if r["agent"] == "bob")
    assert (bob["handled"], bob["handle_p90_ms"], bob["csat_mean"]) == (3, 30 * MIN, 3.5)


def test_kpis_as_csv_by_hour(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "kpis", "--url", url, "--tenant", "acme", *DAY, "--by", "hour", "--format", "csv"
    )
    assert code == RET_OK
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["bucket"], r["created"]) for r in rows] == [
        ("2026-12-01T00:00:00.000Z", "3"),
        ("2026-12-01T01:00:00.000Z", "1"),
    ]
    assert rows[0]["fcr_rate"] == "0.5" and rows[1]["frt_mean_ms"] == ""


def test_trail_as_a_table(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "trail", "t2", "--url", url, "--tenant", "acme")
    assert code == RET_OK
    lines = out.splitlines()
    assert lines[0] == "trail of ticket t2, tenant acme, all of its history"
    assert lines[1].split()[:5] == ["at", "ts_ms", "source", "type", "what"]
    assert len(lines) == 3 + 14  # title, header, rule, 14 entries
    assert "supervisor:sue" in lines[8] and "shift ends" in lines[8]


def test_queues_one_queue_and_channels(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "queues",
        "--url",
        url,
        "--tenant",
        "acme",
        *DAY,
        "--queue",
        "general",
        "--format",
        "json",
    )
    assert code == RET_OK
    [general] = json.loads(out)["rows"]
    assert (general["queue"], general["abandoned"], general["abandonment_rate"]) == (
        "general",
        1,
        1.0,
    )
    code, out, _ = run(
        capsys, "channels", "--url", url, "--tenant", "globex", *DAY, "--format", "json"
    )
    assert code == RET_OK
    assert [(r["channel"], r["created"]) for r in json.loads(out)["rows"]] == [("chat", 1)]


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["agents", *DAY], RET_USAGE, "the archive holds acme, globex"),
        (["agents", "--tenant", "acme", "--from", "2026-13-01"], RET_USAGE, "is not a date"),
        (["agents", "--tenant", "acme", "--from", "1.5"], RET_USAGE, "is not a date"),
        (["agents", "--tenant", "acme", "--from", "99999999999999999"], RET_USAGE, "not a date"),
        (
            ["agents", "--tenant", "acme", "--from", "2026-12-02", "--to", "2026-12-01"],
            RET_USAGE,
            "must be after from",
        ),
        (
            ["kpis", "--tenant", "acme", "--from", "2000-01-01", "--to", "2026-12-01"],
            RET_USAGE,
            "longer than 366 days",
        ),
        (["trail", "nope", "--tenant", "acme"], RET_INVALID, "no ticket 'nope'"),
        (["trail", "t2", "--tenant", "globex"], RET_INVALID, "no ticket 't2'"),
        (["agents", "--tenant", "initech", *DAY], RET_INVALID, "nothing of tenant 'initech'"),
        (["trail", "t{1}", "--tenant", "acme"], RET_USAGE, "not a valid ticket id"),
        (["trail", "a|b", "--tenant", "acme"], RET_USAGE, "not a valid ticket id"),
        (["agents", "--tenant", "acme}x", *DAY], RET_USAGE, "not a valid tenant"),
        (["agents", "--tenant", "acme", "--agent", "bob' OR 1=1"], RET_USAGE, "agent id"),
        (["queues", "--tenant", "acme", "--queue", "a:b"], RET_USAGE, "not a valid queue"),
        (["kpis", "--tenant", "acme", "--by", "week"], RET_USAGE, "invalid choice"),
    ],
)
def test_bad_input_is_refused_clearly(
    url: str, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, message: str
) -> None:
    try:
        got, _, err = run(capsys, *argv[:1], "--url", url, *argv[1:])
    except SystemExit as exc:  # argparse
        got, err = int(exc.code or 0), capsys.readouterr().err
    assert got == code, err
    assert message in err


def test_no_archive_and_no_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "agents", "--url", f"sqlite:///{tmp_path / 'none.db'}")
    assert code == RET_INVALID and "no archive at" in err
    assert not (tmp_path / "none.db").exists()  # a report never creates one
    code, _, err = run(capsys, "agents", "--url", "postgresql://x@127.0.0.1:1/nothing")
    assert code == RET_UNAVAILABLE and "unreachable" in err


def test_an_outdated_archive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "old.db"
    make_engine(f"sqlite:///{path}").dispose()
    import sqlite3

    sqlite3.connect(path).close()  # a database file without the archive's schema
    code, _, err = run(capsys, "agents", "--url", f"sqlite:///{path}", "--tenant", "acme")
    assert code == RET_INVALID and "dispatch db upgrade" in err


def test_help_defines_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    from engine.archive.reports.figures import COLUMNS

    for name, columns in COLUMNS.items():
        with pytest.raises(SystemExit):
            main(["report", name, "--help"])
        out = capsys.readouterr().out
        for column in columns:
            assert f"  {column} " in out, (name, column)
        assert "exit codes:" in out


def test_the_docs_define_every_figure() -> None:
    from engine.archive.reports.figures import COLUMNS

    docs = (Path(__file__).resolve().parents[3] / "docs" / "reports.md").read_text("utf-8")
    for name, columns in COLUMNS.items():
        for column in columns:
            if column.startswith("sl_"):
                column = column.removesuffix("_n").removeprefix("sl_")
            assert f"`{column}" in docs or f"{column}`" in docs, (name, column)
