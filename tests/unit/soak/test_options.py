"""`dispatch soak` arguments: ranges enforced with a message naming the option (exit 2),
fault kinds by short or full name, --help explaining the run and its exit codes."""

from __future__ import annotations

import pytest

from engine.cli.main import main
from engine.exitcodes import RET_USAGE
from engine.soak.options import (
    FAULT_KINDS,
    KILL_REPLICA,
    RESTART_KAFKA,
    OptionError,
    SoakOptions,
    parse_faults,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("kill,pause,redis,kafka", FAULT_KINDS),
        ("kafka, kill", (KILL_REPLICA, RESTART_KAFKA)),
        ("restart_kafka,kafka", (RESTART_KAFKA,)),
    ],
)
def test_fault_kinds_by_short_or_full_name(text: str, kinds: tuple[str, ...]) -> None:
    assert parse_faults(text) == kinds


@pytest.mark.parametrize("text", ["", ",", "kill,nuke", "KILL"])
def test_unknown_or_no_fault_kinds_are_refused(text: str) -> None:
    with pytest.raises(OptionError, match="--faults"):
        parse_faults(text)


def test_fractional_minutes_are_a_duration_in_seconds() -> None:
    assert SoakOptions(minutes=0.5).duration_s == 30.0


@pytest.mark.parametrize(
    ("field", "value", "option"),
    [
        ("minutes", 0, "--minutes"),
        ("minutes", float("nan"), "--minutes"),
        ("minutes", float("inf"), "--minutes"),
        ("replicas", 0, "--replicas"),
        ("replicas", 99, "--replicas"),
        ("rate", 0, "--rate"),
        ("rate", 1e9, "--rate"),
        ("fault_every_s", 0.1, "--fault-every"),
        ("pause_s", 0, "--pause-s"),
        ("drain_s", -1, "--drain-s"),
        ("agents", 0, "--agents"),
        ("poison_ratio", 0.9, "--poison"),
        ("partitions", 0, "--partitions"),
        ("kafka_brokers", 0, "--kafka-brokers"),
        ("kafka_brokers", 10, "--kafka-brokers"),
        ("redis_cluster", 2, "--redis-cluster"),
        ("redis_cluster", 17, "--redis-cluster"),
    ],
)
def test_out_of_range_options_name_the_option(field: str, value: float, option: str) -> None:
    with pytest.raises(OptionError, match=option):
        SoakOptions(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--minutes", "0"], "--minutes"),
        (["--minutes", "nan"], "--minutes"),
        (["--rate", "-3"], "--rate"),
        (["--faults", "kill,meteor"], "--faults"),
        (["--policy", "/nonexistent/policy.yaml"], "--policy"),
        (["--fault-every", "0"], "--fault-every"),
    ],
)
def test_bad_values_exit_2_with_one_line_naming_the_option(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    # Given a bad value / When the soak is started / Then exit 2 before anything starts
    assert main(["soak", *args]) == RET_USAGE
    err = capsys.readouterr().err
    assert message in err and err.startswith("dispatch soak: ")


@pytest.mark.parametrize("args", [["--minutes", "five"], ["--replicas", "2.5"], ["--bogus"]])
def test_unparseable_arguments_exit_2(args: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["soak", *args])
    assert info.value.code == RET_USAGE


def test_a_non_loopback_target_is_refused_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the environment names a remote Kafka
    monkeypatch.setenv("DISPATCH_KAFKA_BOOTSTRAP", "kafka.prod.example:9092")
    monkeypatch.delenv("DISPATCH_REDIS_URL", raising=False)
    # When a soak is started / Then it refuses with exit 2, naming the variable
    assert main(["soak", "--minutes", "0.1"]) == RET_USAGE
    err = capsys.readouterr().err
    assert "DISPATCH_KAFKA_BOOTSTRAP" in err and "loopback" in err


def test_help_explains_the_faults_the_end_and_the_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["soak", "--help"])
    out = capsys.readouterr().out
    for needle in ("--minutes", "--fault-every", "--seed", "--replicas", "--json", "SIGSTOP",
                   "SIGKILL", "loopback", "audit", "exit codes", "130"):  # fmt: skip
        assert needle in out


def test_the_default_pause_outlasts_the_consumers_session_time_out() -> None:
    # Given the consumer settings the dispatchers run with
    from engine.adapters.kafka.consumer import CONSUMER_DEFAULTS
    from engine.soak.options import DEFAULT_PAUSE_S, SESSION_TIMEOUT_S

    # Then the soak's copy of the session time-out is right, and a pause outlasts it
    assert CONSUMER_DEFAULTS["session_timeout_ms"] == SESSION_TIMEOUT_S * 1000
    assert DEFAULT_PAUSE_S > SESSION_TIMEOUT_S
