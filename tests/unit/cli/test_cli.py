"""The `dispatch` command: policy check/explain, the demo's JSON summary, and --help everywhere."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.cli import build_parser, main
from engine.exitcodes import HELP, RET_INVALID, RET_OK, RET_USAGE

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
POLICIES = ROOT / "deploy" / "policies"
CALLCENTER = POLICIES / "callcenter.yaml"
BROKEN = POLICIES / "broken.yaml"
TICKET = POLICIES / "examples" / "ticket.json"
AGENTS = POLICIES / "examples" / "agents.json"

BROKEN_PATHS = [
    "reporting",
    "queues[0].strategy",
    "queues[0].sla",
    "queues[0].skills.billing",
    "queues[0].region_ladder[1].after_s",
    "queues[1].priority",
    "queues[0].overflow.to",
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def command_paths() -> list[tuple[str, ...]]:
    """Every command and subcommand of the parser, e.g. ``("policy", "check")``."""
    paths: list[tuple[str, ...]] = []

    def walk(parser: argparse.ArgumentParser, prefix: tuple[str, ...]) -> None:
        paths.append(prefix)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, (*prefix, name))

    walk(build_parser(), ())
    return paths


# ---- policy check -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(POLICIES.glob("*.yaml")), ids=lambda p: p.name)
def test_policy_check_exit_status_says_whether_the_file_is_valid(
    capsys: pytest.CaptureFixture[str], path: Path
) -> None:
    # Given an example policy / When it is checked
    code, out, _ = run(capsys, "policy", "check", str(path))
    # Then only broken.yaml fails
    if path.name == "broken.yaml":
        assert code == RET_INVALID
    else:
        assert code == RET_OK
        assert out.startswith(f"{path}: ok (")


def test_policy_check_prints_one_path_message_line_per_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the deliberately broken policy
    # When it is checked
    code, out, err = run(capsys, "policy", "check", str(BROKEN))
    # Then it exits 1 with one "path: message" line per error on stdout, a count on stderr
    lines = out.splitlines()
    assert code == RET_INVALID == 1
    assert [line.split(": ", 1)[0] for line in lines] == BROKEN_PATHS
    assert all(len(line.split(": ", 1)) == 2 for line in lines)
    assert "queues[0].strategy: unknown strategy 'fastest'" in out
    assert f"{len(BROKEN_PATHS)} error(s)" in err


def test_policy_check_of_a_missing_file_is_an_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given a path with no file / When checked / Then exit 1 with a "(file): ..." line
    code, out, _ = run(capsys, "policy", "check", str(tmp_path / "nope.yaml"))
    assert code == RET_INVALID
    assert out.startswith("(file): cannot read")


def test_policy_check_of_bad_yaml_names_the_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given a file that is not YAML / When checked / Then the error names line and column
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nqueues: [\n", encoding="utf-8")
    code, out, _ = run(capsys, "policy", "check", str(bad))
    assert code == RET_INVALID
    assert out.startswith("line ") and "YAML syntax error" in out


# ---- policy explain ---------------------------------------------------------------------------


def explain_json(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    code, out, _ = run(
        capsys, "policy", "explain", str(CALLCENTER), "--ticket", str(TICKET),
        "--agents", str(AGENTS), "--json", *extra,
    )  # fmt: skip
    assert code == RET_OK
    result: dict[str, Any] = json.loads(out)
    return result


def test_policy_explain_json_has_queue_strategy_winner_and_candidates(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the call-center policy, the example ticket and roster
    # When explained as JSON
    r = explain_json(capsys)
    # Then it names the queue, strategy and winner, and explains every agent
    assert (r["queue"], r["strategy"], r["winner"]) == ("billing_chat", "least_loaded", "ben")
    assert isinstance(r["candidates"], list) and len(r["candidates"]) == 7
    for c in r["candidates"]:
        assert {"agent", "eligible", "reasons", "score"} <= set(c)
        assert isinstance(c["reasons"], list)
        assert c["eligible"] == (not c["reasons"])
        assert (c["score"] is None) == (not c["eligible"])
    why = {c["agent"]: c["reasons"] for c in r["candidates"]}
    assert why == {
        "ana": [],
        "ben": [],
        "chloe": ["status:away"],
        "dev": ["skill:billing 1<3", "team:general"],
        "emil": ["region"],
        "fay": ["no_channel:chat", "team:phones"],
        "gus": ["capacity:2/2"],
    }


def test_policy_explain_later_shows_the_next_ladder_step(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the example 31 s after the ticket was created / When explained
    r = explain_json(capsys, "--now-ms", "1700000031000")
    # Then the neighbours step applies and the eu-central agent becomes eligible
    assert r["step"] == "region:neighbors"
    assert r["request"]["regions"] == ["eu-central", "eu-west"]
    assert r["request"]["next_step_at_ms"] == 1_700_000_060_000  # the team ladder's partners
    assert next(c for c in r["candidates"] if c["agent"] == "emil")["eligible"] is True


def test_policy_explain_text_mode_lists_agents_and_winner(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the same inputs / When explained as text
    code, out, _ = run(
        capsys, "policy", "explain", str(CALLCENTER), "--ticket", str(TICKET),
        "--agents", str(AGENTS),
    )  # fmt: skip
    # Then it shows the queue, one row per agent with its reasons, and the winner
    assert code == RET_OK
    assert out.startswith("queue:    billing_chat  (strategy least_loaded, step initial)")
    assert "status:away" in out and "capacity:2/2" in out
    assert out.rstrip().endswith("winner:   ben")


def test_policy_explain_without_a_matching_queue_has_no_winner(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given a policy with only a vip queue and a standard ticket
    policy = tmp_path / "vip.yaml"
    policy.write_text(
        "version: 1\nqueues: [{name: vip, match: {tier: vip}, strategy: round_robin}]\n",
        encoding="utf-8",
    )
    # When explained
    code, out, _ = run(
        capsys, "policy", "explain", str(policy), "--ticket", str(TICKET),
        "--agents", str(AGENTS), "--json",
    )  # fmt: skip
    # Then there is no queue and no winner, with the reason
    r = json.loads(out)
    assert code == RET_OK
    assert (r["queue"], r["winner"], r["candidates"]) == (None, None, [])
    assert r["reason"] == "no queue matches"


def test_policy_explain_refuses_an_invalid_policy(capsys: pytest.CaptureFixture[str]) -> None:
    # Given the broken policy / When explained / Then exit 1 with the errors on stderr
    code, out, err = run(
        capsys, "policy", "explain", str(BROKEN), "--ticket", str(TICKET),
        "--agents", str(AGENTS),
    )  # fmt: skip
    assert code == RET_INVALID and out == ""
    assert "queues[0].strategy: unknown strategy 'fastest'" in err


def test_policy_explain_rejects_a_malformed_ticket(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given a ticket without a channel / When explained / Then exit 1 with a message
    ticket = tmp_path / "t.json"
    ticket.write_text(json.dumps({"id": "t1", "priority": 3}), encoding="utf-8")
    code, _, err = run(
        capsys, "policy", "explain", str(CALLCENTER), "--ticket", str(ticket),
        "--agents", str(AGENTS),
    )  # fmt: skip
    assert code == RET_INVALID
    assert "ticket: data must contain ['channel'] properties" in err


# ---- demo -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_demo_json_prints_one_summary_object_with_sane_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a short demo run
    # When it runs with --json
    code, out, _ = run(
        capsys, "demo", "--duration", "2", "--rate", "30", "--agents", "20", "--json"
    )
    # Then stdout is exactly one JSON object with sane figures
    assert code == RET_OK
    summary = json.loads(out)
    assert isinstance(summary, dict)
    for key in ("tickets", "assigned", "waiting", "dead_lettered", "sla_attained"):
        assert key in summary, key
    assert summary["tickets"] > 0
    assert summary["assigned"] > 0
    assert summary["assigned"] + summary["waiting"] <= summary["tickets"]
    assert 0 <= summary["dead_lettered"] <= summary["tickets"]
    assert 0.0 <= summary["sla_attained"] <= 1.0
    # the embedded SLA tracker saw first responses (the desks answer within ~1.5 s)
    assert summary["sla_events"].get("first_response", {}).get("met", 0) > 0
    assert (summary["duration_s"], summary["rate"], summary["agents"]) == (2.0, 30.0, 20)


@pytest.mark.parametrize(
    "args",
    [["--duration", "0"], ["--rate", "-1"], ["--agents", "0"]],
)
def test_demo_rejects_non_positive_settings(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    # Given a zero or negative setting / When the demo starts / Then it refuses with exit 2
    code, _, err = run(capsys, "demo", *args)
    assert code == RET_USAGE
    assert "must be > 0" in err


# ---- help ---------------------------------------------------------------------------------------


def test_the_parser_has_the_documented_commands() -> None:
    # Given the parser / When its commands are listed / Then policy and demo are there
    paths = command_paths()
    assert {("demo",), ("policy",), ("policy", "check"), ("policy", "explain")} <= set(paths)


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "dispatch")
def test_every_command_has_help_that_exits_zero(
    capsys: pytest.CaptureFixture[str], path: tuple[str, ...]
) -> None:
    # Given a command / When asked for --help
    with pytest.raises(SystemExit) as info:
        main([*path, "--help"])
    out, _ = capsys.readouterr()
    # Then it prints usage, ends with the one table of exit codes, and exits 0
    assert info.value.code == 0
    assert out.startswith("usage: dispatch")
    assert out.rstrip().endswith(HELP.rstrip())


def test_dispatch_without_a_command_prints_help_and_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given no arguments / When run / Then help on stdout, exit status 2 (usage)
    code, out, _ = run(capsys)
    assert code == RET_USAGE
    assert "usage: dispatch" in out


@pytest.mark.slow
def test_console_script_runs_as_a_real_process() -> None:
    # Given the installed `dispatch` script (or the module when it is not installed)
    script = Path(sys.executable).parent / "dispatch"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "engine.cli"]
    # When it checks the broken policy in a subprocess
    proc = subprocess.run(
        [*cmd, "policy", "check", str(BROKEN)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    # Then it exits 1 with one line per error
    assert proc.returncode == 1, proc.stderr
    assert [line.split(": ", 1)[0] for line in proc.stdout.splitlines()] == BROKEN_PATHS


def test_explain_refuses_out_of_range_input_naming_each_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a ticket with priority 9 and an agent with a bad id, a float capacity, a load < 0
    ticket, agents = tmp_path / "t.json", tmp_path / "a.json"
    ticket.write_text('{"id": "T-1", "channel": "chat", "priority": 9}')
    agents.write_text('[{"id": "ann", "capacity": {"chat": 2.0}, "load": {"chat": -1}}]')
    policy = str(ROOT / "deploy/policies/callcenter.yaml")
    # When explained
    code = main(["policy", "explain", policy, "--ticket", str(ticket), "--agents", str(agents)])
    # Then it refuses with one line per problem, each naming its path, and explains nothing
    out, err = capsys.readouterr()
    assert code == RET_INVALID and out == ""
    assert "ticket.priority must be smaller than or equal to 5" in err
    assert "agents[0].capacity.chat" in err
    assert "agents[0].load.chat" in err
