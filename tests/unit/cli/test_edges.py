"""The command line's edges are the same everywhere: an unreachable service is exit 3 in
every command, bad settings exit 1, and the engine logs under one namespace."""

from __future__ import annotations

import argparse
import ast
import importlib
import logging
from pathlib import Path

import pytest

from engine import logs
from engine.errors import ConfigError, LogError, StoreUnavailable
from engine.exitcodes import RET_FAILED, RET_INVALID, RET_UNAVAILABLE

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
# the module (engine.cli re-exports its main function under the same name)
cli_main = importlib.import_module("engine.cli.main")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (StoreUnavailable("redis: connection refused"), RET_UNAVAILABLE),
        (ConfigError("DISPATCH_HTTP_PORT", "not a port"), RET_INVALID),
        (LogError("topic authorisation failed"), RET_FAILED),
    ],
)
def test_an_engine_error_becomes_its_exit_code_and_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: Exception,
    code: int,
) -> None:
    # Given a command whose work raises an engine error
    def failing(_args: argparse.Namespace) -> int:
        raise error

    real = cli_main.build_parser

    def parser() -> argparse.ArgumentParser:
        p = real()
        p.set_defaults(func=failing)
        return p

    monkeypatch.setattr(cli_main, "build_parser", parser)
    # When it runs
    got = cli_main.main([])
    # Then the exit code is the shared one and stderr says why in one line, no traceback
    _out, err = capsys.readouterr()
    assert got == code
    assert str(error) in err and "Traceback" not in err


def python_sources() -> list[Path]:
    return sorted(
        p
        for top in ("engine", "consumers", "producers")
        for p in (ROOT / top).rglob("*.py")
        if p != ROOT / "engine" / "logs.py"
    )


@pytest.mark.parametrize("path", python_sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_names_a_logger_outside_the_dispatch_namespace(path: Path) -> None:
    # Given a module of the engine
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # When its calls are listed
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "getLogger"
    ]
    # Then none asks the logging module for a logger itself (engine.logs.get_logger does)
    assert calls == [], f"{path.name} calls logging.getLogger; use engine.logs.get_logger"


def test_every_engine_logger_is_under_dispatch() -> None:
    # Given modules of three packages / When they ask for their logger
    names = [logs.get_logger(m).name for m in ("engine.dispatch.pipeline", "consumers.loop")]
    # Then every one lives under the one namespace the command line configures
    assert names == ["dispatch.dispatch.pipeline", "dispatch.consumers.loop"]
    assert all(logging.getLogger(n).parent is not None for n in names)
