"""Load a routing policy from a YAML file (the I/O half of ``engine.core.policy``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from engine.core.policy import Policy, parse_policy
from engine.errors import PolicyError

DEMO_POLICY = "demo/policy.yaml"


def read_yaml(path: str | Path) -> Any:
    """Parse YAML; syntax errors become a PolicyError naming the line and column."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError([("(file)", f"cannot read {path}: {exc.strerror or exc}")]) from exc
    return parse_yaml_text(text)


def parse_yaml_text(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError([(where, f"YAML syntax error: {problem}")]) from exc


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy at ``path``, or the demo's built-in policy when ``path`` is None."""
    if path is None:
        text = resources.files("engine").joinpath(DEMO_POLICY).read_text(encoding="utf-8")
        return parse_policy(parse_yaml_text(text))
    return parse_policy(read_yaml(path))
