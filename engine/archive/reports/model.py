"""What every report returns: named columns and rows, for the CLI and the HTTP API alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.archive.reports.period import Period

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Report:
    """``rows`` in a fixed order, each with exactly ``columns`` (values: int, float, str or
    None; times in epoch ms, durations in ms, rates 0 … 1)."""

    name: str
    tenant: str
    period: Period
    columns: tuple[str, ...]
    rows: list[Row]
    params: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "report": self.name,
            "tenant": self.tenant,
            "from_ms": self.period.from_ms,
            "to_ms": self.period.to_ms,
            **dict(self.params),
            "columns": list(self.columns),
            "rows": [{c: r.get(c) for c in self.columns} for r in self.rows],
        }


def ratio(part: int | None, whole: int | None) -> float | None:
    """``part / whole`` rounded to 4 places; None when there is nothing to divide by."""
    if not whole:
        return None
    return round((part or 0) / whole, 4)


def mean(total: int | float | None, count: int | None) -> float | None:
    """A mean from an exact sum and count (identical on every database); 3 places."""
    if not count:
        return None
    return round(float(total or 0) / count, 3)


def ints(values: Sequence[Any]) -> list[int | None]:
    return [None if v is None else int(v) for v in values]
