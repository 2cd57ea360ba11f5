"""The period a report covers: ``[from_ms, to_ms)`` in epoch milliseconds (UTC), validated.

``parse_instant`` reads what people type (``2026-12-01``, ``2026-12-01T09:30``,
``2026-12-01T09:30:00+08:00``, or epoch ms ``1764547200000``); ``Period.of`` checks that the
period is not empty, inside the event time bounds (``engine.core.bounds``) and at most
:data:`MAX_PERIOD_MS` long, so no report scans or buckets an unbounded range.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from engine.core import bounds

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MAX_PERIOD_DAYS = 366
MAX_PERIOD_MS = MAX_PERIOD_DAYS * DAY_MS
BUCKETS = {"hour": HOUR_MS, "day": DAY_MS}
_EPOCH_MS = re.compile(r"^[0-9]{1,15}$")


class BadPeriod(ValueError):
    """A period or instant that cannot be reported on; ``field`` names the culprit."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def parse_instant(text: str, field: str = "from") -> int:
    """Epoch ms of an ISO 8601 date or date-time (no offset: UTC) or of epoch ms digits."""
    raw = text.strip()
    if _EPOCH_MS.match(raw):
        return check_ms(int(raw), field)
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    except ValueError:
        raise BadPeriod(
            f"{field}: {text!r} is not a date (2026-12-01), a date-time (2026-12-01T09:30Z) "
            "or epoch milliseconds",
            field,
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return check_ms(int(when.timestamp() * 1000), field)


def check_ms(value: int, field: str) -> int:
    if not bounds.EPOCH_MS_MIN <= value <= bounds.EPOCH_MS_MAX:
        raise BadPeriod(
            f"{field}: {value} is outside {bounds.EPOCH_MS_MIN} … {bounds.EPOCH_MS_MAX} "
            "(epoch ms, 1970 to the end of year 9999)",
            field,
        )
    return value


@dataclass(frozen=True, slots=True)
class Period:
    """``[from_ms, to_ms)``: an event at ``from_ms`` is in, one at ``to_ms`` is not."""

    from_ms: int
    to_ms: int

    @classmethod
    def of(cls, from_ms: int, to_ms: int, *, max_ms: int = MAX_PERIOD_MS) -> Period:
        check_ms(from_ms, "from")
        check_ms(to_ms, "to")
        if to_ms <= from_ms:
            raise BadPeriod(f"to ({to_ms}) must be after from ({from_ms})", "to")
        if to_ms - from_ms > max_ms:
            raise BadPeriod(
                f"the period is longer than {max_ms // DAY_MS} days: report on shorter periods",
                "to",
            )
        return cls(from_ms, to_ms)

    @classmethod
    def everything(cls) -> Period:
        """All of event time (the trail of one ticket is not bounded by default)."""
        return cls(bounds.EPOCH_MS_MIN, bounds.EPOCH_MS_MAX + 1)


def bucket_ms(name: str) -> int:
    try:
        return BUCKETS[name]
    except KeyError:
        raise BadPeriod(f"by: {name!r} is not one of {', '.join(BUCKETS)}", "by") from None


def iso(ms: int) -> str:
    """``2026-12-01T09:30:00.000Z`` for epoch ms."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
