"""`dispatch audit`: its help explains every check, bad arguments exit 2, and the verdict
becomes the exit code (no services: the composition root's work is replaced)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import consumers.audit
from engine.cli.main import main
from engine.dispatch.audit import Check, Report
from engine.dispatch.audit_checks import MEANINGS
from engine.exitcodes import RET_INVALID, RET_OK, RET_UNAVAILABLE, RET_USAGE

pytestmark = pytest.mark.unit


def test_help_explains_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    # Given the audit command / When asked for --help
    with pytest.raises(SystemExit):
        main(["audit", "--help"])
    out, _ = capsys.readouterr()
    # Then every check is named at the start of a line of its own
    lines = out.splitlines()
    named = {ln.split()[0] for ln in lines if ln.startswith("  ") and ln[2] != " "}
    assert set(MEANINGS) - {"decisions", "final_states"} <= named
    assert "--grace-s" in out and "--tenant" in out and "--examples" in out


@pytest.mark.parametrize("args", [["--examples", "-1"], ["--grace-s", "-5"], ["--grace-s", "x"]])
def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    # Given a negative count or duration / When run / Then usage error, exit 2
    with pytest.raises(SystemExit) as info:
        main(["audit", *args])
    assert info.value.code == RET_USAGE


def _report(violations: int) -> Report:
    check = Check("decided", MEANINGS["decided"], checked=3, violations=violations)
    return Report([check], ["acme"], {"tickets": 3}, now_ms=0, grace_ms=30_000)


@pytest.mark.parametrize(("violations", "code"), [(0, RET_OK), (2, RET_INVALID)])
def test_the_verdict_is_the_exit_code_and_json_is_one_object(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    violations: int,
    code: int,
) -> None:
    # Given an audit that finds `violations` (its reads replaced)
    seen: dict[str, Any] = {}

    def fake(settings: Any, **kwargs: Any) -> Report:
        seen.update(kwargs)
        return _report(violations)

    monkeypatch.setattr(consumers.audit, "run_audit", fake)
    # When run with --json, one tenant, a grace period and an example count
    got = main(["audit", "--json", "--tenant", "acme", "--grace-s", "2.5", "--examples", "7"])
    out, _ = capsys.readouterr()
    # Then the options reach the audit, stdout is one JSON object, and the exit code says
    assert (seen["tenant"], seen["grace_ms"], seen["examples"]) == ("acme", 2500, 7)
    doc = json.loads(out)
    assert doc["ok"] is (violations == 0)
    assert doc["checks"][0]["violations"] == violations
    assert got == code


def test_an_unreachable_redis_exits_3_before_any_topic_is_read(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    # Given settings naming a closed port for Redis and for Kafka
    for name, value in {
        "DISPATCH_REDIS_URL": "redis://127.0.0.1:1/0",
        "DISPATCH_KAFKA_BOOTSTRAP": "127.0.0.1:1",
        "DISPATCH_STATE_DIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)
    read: list[str] = []
    monkeypatch.setattr(consumers.audit, "read_inputs", lambda *a: read.append("topics"))
    # When the audit runs
    code = main(["audit"])
    _, err = capsys.readouterr()
    # Then it stops at Redis, unreachable: exit 3, one line, no topic read
    assert code == RET_UNAVAILABLE
    assert "unreachable: redis" in err
    assert read == []
