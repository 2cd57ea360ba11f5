"""engine/core stays pure: only the standard library, engine.core itself and the exception
root engine.errors (itself standard-library only); no clocks or I/O."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import engine.core

pytestmark = pytest.mark.unit

CORE_DIR = Path(engine.core.__file__).parent
CORE_PACKAGE = "engine.core"
# The one module outside the core it may import: the exception root (checked pure below).
ERRORS_MODULE = "engine.errors"
# Standard-library modules the core must not use either: time is passed in, and the
# core does no I/O and draws no random numbers.
FORBIDDEN_STDLIB = frozenset({"time", "socket", "os", "random"})


def _absolute(node: ast.ImportFrom, module: str) -> str:
    """The absolute module name of a ``from`` import inside ``module``."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")[: -node.level]
    return ".".join([*base, node.module] if node.module else base)


def imported_modules(source: str, module: str) -> list[str]:
    """Every module name ``source`` (the text of ``module``) imports, at any depth."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(_absolute(node, module))
    return names


def violations(source: str, module: str) -> list[str]:
    """Imports that are neither standard library nor ``engine.core``, plus forbidden stdlib."""
    bad = []
    for name in imported_modules(source, module):
        top = name.split(".")[0]
        if name in (CORE_PACKAGE, ERRORS_MODULE) or name.startswith(CORE_PACKAGE + "."):
            continue
        if top in sys.stdlib_module_names and top not in FORBIDDEN_STDLIB:
            continue
        bad.append(name)
    return bad


def core_modules() -> list[Path]:
    return sorted(CORE_DIR.rglob("*.py"))


def module_name(path: Path) -> str:
    rel = path.relative_to(CORE_DIR).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([CORE_PACKAGE, *parts])


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import dataclasses", []),
        ("from collections.abc import Mapping", []),
        ("from __future__ import annotations", []),
        ("from engine.core.model import Ticket", []),
        ("from engine.core import model", []),
        ("from . import model", []),
        ("from .model import Ticket", []),
        ("import kafka", ["kafka"]),
        ("import redis.asyncio", ["redis.asyncio"]),
        ("import msgpack", ["msgpack"]),
        ("from prometheus_client import Counter", ["prometheus_client"]),
        ("import yaml", ["yaml"]),
        ("import fastjsonschema", ["fastjsonschema"]),
        ("from engine.ports import Clock", ["engine.ports"]),
        ("from engine import codec", ["engine"]),
        ("from engine.errors import PolicyError", []),
        ("from .. import config", ["engine"]),
        ("import time", ["time"]),
        ("from time import monotonic", ["time"]),
        ("import socket", ["socket"]),
        ("import os.path", ["os.path"]),
        ("from random import Random", ["random"]),
        ("def f():\n    import redis\n", ["redis"]),
        ("try:\n    import kafka\nexcept ImportError:\n    pass\n", ["kafka"]),
    ],
)
def test_import_checker_flags_every_impure_import(source: str, expected: list[str]) -> None:
    # Given a module text inside engine.core
    # When its imports are checked
    found = violations(source, "engine.core.sample")
    # Then exactly the impure ones are reported
    assert found == expected


def test_core_package_has_modules_to_check() -> None:
    # Given the engine/core folder / When listing it / Then the routing core is there
    names = {module_name(p) for p in core_modules()}
    assert {"engine.core.model", "engine.core.policy", "engine.core.routing"} <= names


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: p.name)
def test_core_module_imports_only_stdlib_and_core(path: Path) -> None:
    # Given a module of engine/core
    source = path.read_text(encoding="utf-8")
    # When its imports are listed
    bad = violations(source, module_name(path))
    # Then none reaches a driver, a clock, I/O or the rest of the engine
    assert bad == [], f"{path.name} imports {bad}"


def test_the_exception_root_the_core_imports_is_pure_too() -> None:
    # Given engine/errors.py, which the core may import
    path = CORE_DIR.parent / "errors.py"
    # When its imports are checked as if it were part of the core
    bad = violations(path.read_text(encoding="utf-8"), ERRORS_MODULE)
    # Then it imports nothing but the standard library
    assert bad == []
