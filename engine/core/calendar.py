"""Business-hours calendars: how much business time lies between two instants.

Instants are epoch milliseconds (UTC); durations are milliseconds of business time. A calendar
names an IANA time zone (the system tzdata, through :mod:`zoneinfo`), weekly opening hours as
wall-clock ``"HH:MM"`` pairs per weekday and holidays as whole local dates.

Semantics
  * An interval ``("22:00", "06:00")`` whose end is not after its start runs across midnight,
    into the next day. ``"24:00"`` is allowed as an end.
  * Every local date owns the business time on its own wall clock: its own intervals up to
    midnight plus the after-midnight part of the previous day's overnight intervals. A holiday
    removes all business time on that local date, including such an overnight tail.
  * Business time is *real* time inside the intervals. Each wall-clock bound is mapped to an
    instant; a DST jump that falls *inside* an interval makes it one hour shorter (spring
    forward) or longer (fall back) in real time, while a 09:00-17:00 day whose jump happens at
    02:00 is still 8 h. A bound that does not exist (inside a spring-forward gap) is read with
    the offset before the jump, i.e. moved forward by the gap (02:30 -> 03:30), and an
    ambiguous bound (inside a fall-back hour) means its first occurrence, as ``zoneinfo`` does
    with ``fold=0``. Overlaps that this creates are merged, so no instant counts twice.
  * Work is done a local day at a time, never minute by minute; a 24x7 calendar without
    holidays (such as :data:`ALWAYS`) is plain subtraction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.core.validate import Issues, check_keys, check_name

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_ONE_DAY = timedelta(days=1)

Span = tuple[int, int]  # [start, end) in minutes of a local day, or in epoch ms


def parse_hhmm(value: Any, *, is_end: bool) -> int:
    """Minutes after midnight of ``"HH:MM"``; ``"24:00"`` only as an end. Raises ValueError."""
    top = "24:00" if is_end else "23:59"
    if not isinstance(value, str):
        hint = ""
        if isinstance(value, int) and not isinstance(value, bool):
            hint = f" (quote it: YAML reads an unquoted {value // 60}:{value % 60:02d} as a number)"
        raise ValueError(f"must be a time 'HH:MM' (00:00..{top}), got {value!r}{hint}")
    hh, sep, mm = value.partition(":")
    ok = sep == ":" and len(hh) == 2 and len(mm) == 2 and (hh + mm).isdigit()
    minutes = int(hh) * 60 + int(mm) if ok else -1
    if not ok or int(mm) > 59 or not 0 <= minutes <= (1440 if is_end else 1439):
        raise ValueError(f"must be a time 'HH:MM' (00:00..{top}), got {value!r}")
    return minutes


def parse_interval(pair: Any) -> Span:
    """``("09:00", "17:00")`` as minutes ``(540, 1020)``; the end may be before the start."""
    if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
        raise ValueError(f'must be a pair [start, end] like ["09:00", "17:00"], got {pair!r}')
    start, end = parse_hhmm(pair[0], is_end=False), parse_hhmm(pair[1], is_end=True)
    if start == end:
        raise ValueError("end must differ from start")
    return start, end


def zone(name: Any) -> ZoneInfo:
    """The IANA time zone ``name`` from the system tzdata. Raises ValueError."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"must be an IANA time zone name like 'Europe/Berlin', got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def _merge(spans: list[Span]) -> tuple[Span, ...]:
    out: list[Span] = []
    for start, end in sorted(spans):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """Opening hours in ``tz``: ``weekly`` maps mon..sun to ``[("09:00", "17:00"), ...]``
    (missing days are closed), ``holidays`` are closed local dates. Raises ValueError."""

    tz: str
    weekly: Mapping[str, Sequence[Sequence[str]]]
    holidays: Collection[date] = ()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _days: tuple[tuple[Span, ...], ...] = field(init=False, repr=False, compare=False)
    _closed: frozenset[date] = field(init=False, repr=False, compare=False)
    _always: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        per_day: list[list[Span]] = [[] for _ in DAYS]
        for day, pairs in self.weekly.items():
            if day not in DAYS:
                raise ValueError(f"unknown day {day!r} (one of {', '.join(DAYS)})")
            i = DAYS.index(day)
            for start, end in map(parse_interval, pairs):
                if end > start:
                    per_day[i].append((start, end))
                else:  # overnight: the tail belongs to the next local date
                    per_day[i].append((start, MINUTES_PER_DAY))
                    per_day[(i + 1) % 7].append((0, end))
        days = tuple(_merge(spans) for spans in per_day)
        if not any(days):
            raise ValueError("no business hours: the calendar would never run")
        closed = frozenset(self.holidays)
        full = ((0, MINUTES_PER_DAY),)
        object.__setattr__(self, "_zone", zone(self.tz))
        object.__setattr__(self, "_days", days)
        object.__setattr__(self, "_closed", closed)
        object.__setattr__(self, "_always", not closed and all(d == full for d in days))

    def __hash__(self) -> int:
        return hash((self.tz, self._days, self._closed))

    def local_date(self, at_ms: int) -> date:
        """The local date in this calendar's zone of the instant ``at_ms`` (epoch ms)."""
        return (_EPOCH + at_ms * _ONE_MS).astimezone(self._zone).date()

    def day_spans(self, day: date) -> tuple[Span, ...]:
        """Business time on local date ``day`` as merged ``[start_ms, end_ms)`` instants."""
        if day in self._closed or not self._days[day.weekday()]:
            return ()
        return _day_spans(self._zone, self._days[day.weekday()], day)


@lru_cache(maxsize=4096)
def _day_spans(tz: ZoneInfo, minutes: tuple[Span, ...], day: date) -> tuple[Span, ...]:
    """Wall-clock ``minutes`` of local date ``day`` as instants, clipped to the day, merged."""
    lo, hi = _instant(tz, day, 0), _instant(tz, day, MINUTES_PER_DAY)
    spans = [(_instant(tz, day, s), _instant(tz, day, e)) for s, e in minutes]
    return _merge([(max(s, lo), min(e, hi)) for s, e in spans])


def _instant(tz: ZoneInfo, day: date, minute: int) -> int:
    """Epoch ms of wall time ``minute`` after midnight of ``day`` (fold=0: see module doc)."""
    if minute >= MINUTES_PER_DAY:
        day, minute = day + _ONE_DAY, minute - MINUTES_PER_DAY
    wall = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=tz)
    return (wall - _EPOCH) // _ONE_MS


ALWAYS = BusinessCalendar("UTC", {d: [("00:00", "24:00")] for d in DAYS})
"""24x7: business time is real time."""


def _spans_from(cal: BusinessCalendar, start_ms: int) -> Iterator[Span]:
    """Business spans ending after ``start_ms``, clipped to it, in time order, day by day."""
    day = cal.local_date(start_ms) - _ONE_DAY
    while True:
        for s, e in cal.day_spans(day):
            if e > start_ms:
                yield max(s, start_ms), e
        day += _ONE_DAY


def business_ms_between(cal: BusinessCalendar, start_ms: int, end_ms: int) -> int:
    """Milliseconds of business time in ``[start_ms, end_ms)``; 0 when ``end_ms <= start_ms``."""
    if end_ms <= start_ms:
        return 0
    if cal._always:
        return end_ms - start_ms
    total = 0
    last_day = cal.local_date(end_ms) + _ONE_DAY
    day = cal.local_date(start_ms) - _ONE_DAY
    while day <= last_day:
        for s, e in cal.day_spans(day):
            total += max(0, min(e, end_ms) - max(s, start_ms))
        day += _ONE_DAY
    return total


def add_business_ms(cal: BusinessCalendar, start_ms: int, duration_ms: int) -> int:
    """The first instant (epoch ms) by which ``duration_ms`` of business time has elapsed
    since ``start_ms``; ``start_ms`` itself when ``duration_ms <= 0``.

    For ``duration_ms > 0`` the result ``t`` satisfies ``business_ms_between(cal, start_ms, t)
    == duration_ms`` and is the earliest such instant (a deadline never lands in closed hours).
    """
    if duration_ms <= 0:
        return start_ms
    if cal._always:
        return start_ms + duration_ms
    remaining = duration_ms
    for s, e in _spans_from(cal, start_ms):
        if e - s >= remaining:
            return s + remaining
        remaining -= e - s
    raise AssertionError("unreachable: a calendar has business hours every week")


SHIFT_MAX_MS = 31 * 24 * 3600 * 1000  # a shift window never reaches further (see shift_window)


def shift_window(cal: BusinessCalendar, at_ms: int) -> tuple[int, int]:
    """The calendar's open span containing ``at_ms``, or else the next one: ``(start, end)``
    epoch ms, ``start <= at_ms`` only when open at ``at_ms`` (then ``start == at_ms``).
    Adjacent spans are one (a ``["22:00", "06:00"]`` shift ends at 06:00, not at midnight); a
    span longer than :data:`SHIFT_MAX_MS` (e.g. 24x7) ends there, to be computed again then."""
    if cal._always:
        return at_ms, at_ms + SHIFT_MAX_MS
    spans = _spans_from(cal, at_ms)
    start, end = next(spans)
    for s, e in spans:
        if s > end or e - start >= SHIFT_MAX_MS:
            break
        end = e
    return start, min(end, start + SHIFT_MAX_MS)


def parse_calendars(iss: Issues, raw: Any, path: str = "calendars") -> dict[str, BusinessCalendar]:
    """Validate ``{name: {timezone, weekly, holidays}}``; every problem goes to ``iss``."""
    out: dict[str, BusinessCalendar] = {}
    if not isinstance(raw, Mapping):
        iss.add(path, "must be a mapping of name -> {timezone, weekly, holidays}")
        return out
    for name, spec in raw.items():
        if check_name(iss, f"{path}.{name}", name, "a calendar name") is None:
            continue
        cal = _calendar(iss, f"{path}.{name}", spec)
        if cal is not None:
            out[str(name)] = cal
    return out


def _calendar(iss: Issues, path: str, spec: Any) -> BusinessCalendar | None:
    if not isinstance(spec, Mapping):
        iss.add(path, "must be a mapping {timezone, weekly, holidays}")
        return None
    before = len(iss.errors)
    check_keys(iss, path, spec, ("timezone", "weekly", "holidays", "description"))
    tz = spec.get("timezone")
    try:
        zone(tz)
    except ValueError as exc:
        msg = "required, an IANA time zone name like 'Europe/Berlin'" if tz is None else str(exc)
        iss.add(f"{path}.timezone", msg)
    weekly = _weekly(iss, f"{path}.weekly", spec.get("weekly"))
    holidays = _holidays(iss, f"{path}.holidays", spec.get("holidays", []))
    if len(iss.errors) > before:
        return None
    try:
        return BusinessCalendar(str(tz), weekly, holidays)
    except ValueError as exc:
        iss.add(f"{path}.weekly", str(exc))
        return None


def _weekly(iss: Issues, path: str, raw: Any) -> dict[str, list[tuple[str, str]]]:
    if not isinstance(raw, Mapping):
        iss.add(path, 'required, a mapping of day (mon..sun) -> [["09:00", "17:00"], ...]')
        return {}
    out: dict[str, list[tuple[str, str]]] = {}
    for day, pairs in raw.items():
        p = f"{path}.{day}"
        if day not in DAYS:
            iss.add(p, f"unknown day (one of {', '.join(DAYS)})")
            continue
        if not isinstance(pairs, list):
            iss.add(p, 'must be a list of [start, end] pairs like [["09:00", "17:00"]]')
            continue
        seen: list[tuple[int, Span]] = []
        for j, pair in enumerate(pairs):
            try:
                span = parse_interval(pair)
            except ValueError as exc:
                iss.add(f"{p}[{j}]", str(exc))
                continue
            for k, other in seen:
                if _overlaps(span, other):
                    iss.add(f"{p}[{j}]", f"overlaps {day}[{k}]")
            seen.append((j, span))
            out.setdefault(str(day), []).append((pair[0], pair[1]))
    return out


def _overlaps(a: Span, b: Span) -> bool:
    def parts(s: Span) -> list[Span]:
        return [s] if s[1] > s[0] else [(s[0], MINUTES_PER_DAY), (0, s[1])]

    return any(x[0] < y[1] and y[0] < x[1] for x in parts(a) for y in parts(b))


def _holidays(iss: Issues, path: str, raw: Any) -> list[date]:
    if not isinstance(raw, list):
        iss.add(path, "must be a list of dates 'YYYY-MM-DD'")
        return []
    out: list[date] = []
    for j, value in enumerate(raw):
        day = value if type(value) is date else None
        if isinstance(value, str):
            try:
                day = date.fromisoformat(value) if len(value) == 10 else None
            except ValueError:
                day = None
        if day is None:
            iss.add(f"{path}[{j}]", f"must be a date 'YYYY-MM-DD', got {value!r}")
        else:
            out.append(day)
    return out
