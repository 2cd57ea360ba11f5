"""Small helpers that collect validation issues with their document paths.

Names, ids, numbers and list sizes are checked against :mod:`engine.core.bounds`, the bounds
the event schemas carry too: a policy cannot name a queue, skill or channel no event could.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.core import bounds


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


def _plain(x: float) -> str:
    """``x`` as written in a document: ``315360000``, not ``3.1536e+08``."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


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
    if not math.isfinite(value):
        iss.add(path, f"must be a finite number, got {value!r}")
        return None
    if minimum is not None and (value <= minimum if exclusive else value < minimum):
        iss.add(path, f"must be {'>' if exclusive else '>='} {_plain(minimum)}, got {value!r}")
        return None
    if maximum is not None and value > maximum:
        iss.add(path, f"must be <= {_plain(maximum)}, got {value!r}")
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


def duration(
    iss: Issues, path: str, value: Any, *, exclusive: bool = False, required: bool = False
) -> float | None:
    """Seconds, from 0 (or above, ``exclusive``) to :data:`bounds.DURATION_MAX_S`."""
    return num(
        iss,
        path,
        value,
        minimum=0,
        maximum=bounds.DURATION_MAX_S,
        exclusive=exclusive,
        required=required,
    )


NAME_RULE = (
    f"1-{bounds.NAME_MAX_CHARS} chars of letters, digits and . _ -, the first a letter or digit"
)
ID_RULE = (
    f"1-{bounds.ID_MAX_CHARS} chars of letters, digits and . _ : @ + -, the first a letter or digit"
)
TENANT_RULE = (
    f"1-{bounds.TENANT_MAX_CHARS} chars of letters, digits, _ and -, the first a letter or digit"
)
RECIPIENT_RULE = (
    f"1-{bounds.RECIPIENT_MAX_CHARS} chars of letters, digits and . _ : @ + -,"
    " the first a letter or digit"
)


def _matching(
    iss: Issues, path: str, value: Any, ok: Callable[[Any], bool], what: str, rule: str
) -> str | None:
    if ok(value):
        return str(value)
    iss.add(path, f"must be {what} ({rule}), got {value!r}"[:300])
    return None


def check_name(iss: Issues, path: str, value: Any, what: str = "a name") -> str | None:
    """A name (queue, skill, region, channel, ...: :data:`bounds.NAME_PATTERN`), or None
    after recording an issue."""
    return _matching(iss, path, value, bounds.is_name, what, NAME_RULE)


def check_id(iss: Issues, path: str, value: Any, what: str = "an id") -> str | None:
    """An entity id (:data:`bounds.ID_PATTERN`), or None after recording an issue."""
    return _matching(iss, path, value, bounds.is_id, what, ID_RULE)


def check_tenant(iss: Issues, path: str, value: Any) -> str | None:
    """A tenant (:data:`bounds.TENANT_PATTERN`), or None after recording an issue."""
    return _matching(iss, path, value, bounds.is_tenant, "a tenant", TENANT_RULE)


def check_recipient(iss: Issues, path: str, value: Any) -> str | None:
    """A notification recipient (:data:`bounds.RECIPIENT_PATTERN`), or None."""
    return _matching(iss, path, value, bounds.is_recipient, "a recipient", RECIPIENT_RULE)


def at_most(iss: Issues, path: str, items: Any, limit: int, what: str = "items") -> bool:
    """Whether the list or mapping ``items`` has at most ``limit`` entries (else an issue)."""
    if len(items) <= limit:
        return True
    iss.add(path, f"at most {limit} {what}, got {len(items)}")
    return False


def str_list(iss: Issues, path: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        iss.add(path, "must be a list of strings")
        return []
    return list(value)


def name_list(
    iss: Issues, path: str, value: Any, limit: int = bounds.LIST_MAX, what: str = "names"
) -> list[str]:
    """A list of at most ``limit`` names; the valid ones (an issue for each other)."""
    if not isinstance(value, list):
        iss.add(path, f"must be a list of {what}")
        return []
    if not at_most(iss, path, value, limit, what):
        return []
    found = [check_name(iss, f"{path}[{i}]", v) for i, v in enumerate(value)]
    return [v for v in found if v is not None]


def skill_map(iss: Issues, path: str, value: Any) -> dict[str, int]:
    """``{skill: level}``: at most :data:`bounds.SKILLS_MAX` skill names, levels 1..5."""
    lo, hi = bounds.SKILL_LEVEL_MIN, bounds.SKILL_LEVEL_MAX
    if not isinstance(value, Mapping):
        iss.add(path, f"must be a mapping of skill -> level {lo}..{hi}")
        return {}
    if not at_most(iss, path, value, bounds.SKILLS_MAX, "skills"):
        return {}
    out: dict[str, int] = {}
    for skill, level in value.items():
        key = check_name(iss, f"{path}.{skill}", skill, "a skill name")
        lvl = pos_int(iss, f"{path}.{skill}", level, lo, hi)
        if key is not None and lvl is not None:
            out[key] = lvl
    return out


def free_form(iss: Issues, path: str, value: Any, what: str = "attributes") -> dict[str, Any]:
    """A free-form map (ticket attributes: :data:`bounds.ATTRIBUTES_MAX`), checked as the
    codec checks events."""
    if not isinstance(value, Mapping):
        iss.add(path, "must be a mapping")
        return {}
    if not at_most(iss, path, value, bounds.ATTRIBUTES_MAX, what):
        return {}
    out: dict[str, Any] = {}
    for key, item in value.items():
        if check_name(iss, f"{path}.{key}", key, "a name") is None:
            continue
        problem = bounds.free_form_problem(item)
        if problem is not None:
            below, _, message = problem.partition(" must ")
            iss.add(f"{path}.{key}{below}", f"must {message}")
            continue
        out[key] = item
    return out
