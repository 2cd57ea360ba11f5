"""Small helpers that collect validation issues with their document paths."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Issues:
    """Accumulates ``(path, message)`` pairs instead of failing on the first."""

    errors: list[tuple[str, str]] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.errors.append((path or "(root)", message))


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def check_keys(iss: Issues, path: str, raw: Mapping[Any, Any], allowed: Iterable[str]) -> None:
    allowed_set = set(allowed)
    for key in raw:
        if key not in allowed_set:
            iss.add(
                join(path, str(key)), f"unknown key (allowed: {', '.join(sorted(allowed_set))})"
            )


def num(
    iss: Issues,
    path: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive: bool = False,
    required: bool = False,
) -> float | None:
    """A number within bounds, or ``None`` (recording an issue when invalid)."""
    if value is None:
        if required:
            iss.add(path, "required, a number")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        iss.add(path, f"must be a number, got {value!r}")
        return None
    if minimum is not None and (value <= minimum if exclusive else value < minimum):
        iss.add(path, f"must be {'>' if exclusive else '>='} {minimum:g}, got {value!r}")
        return None
    if maximum is not None and value > maximum:
        iss.add(path, f"must be <= {maximum:g}, got {value!r}")
        return None
    return float(value)


def pos_int(iss: Issues, path: str, value: Any, lo: int, hi: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        iss.add(path, f"must be an integer {lo}..{hi}, got {value!r}")
        return None
    if not lo <= value <= hi:
        iss.add(path, f"must be an integer {lo}..{hi}, got {value!r}")
        return None
    return value


def str_list(iss: Issues, path: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        iss.add(path, "must be a list of strings")
        return []
    return list(value)


def skill_map(iss: Issues, path: str, value: Any) -> dict[str, int]:
    """``{skill: level}`` with levels 1..5."""
    if not isinstance(value, Mapping):
        iss.add(path, "must be a mapping of skill -> level 1..5")
        return {}
    out: dict[str, int] = {}
    for skill, level in value.items():
        lvl = pos_int(iss, f"{path}.{skill}", level, 1, 5)
        if lvl is not None:
            out[str(skill)] = lvl
    return out
