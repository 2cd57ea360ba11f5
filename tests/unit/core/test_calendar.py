"""engine.core.calendar: business time between instants and deadlines, as tables and properties.

Instants are written as local wall times (``"2026-03-02 09:00"``) in the calendar's zone. The
2026 DST changes: Europe/Berlin Sun 29 Mar (02:00 -> 03:00) and Sun 25 Oct (03:00 -> 02:00);
America/New_York Sun 8 Mar (02:00 -> 03:00) and Sun 1 Nov (02:00 -> 01:00).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.calendar import (
    ALWAYS,
    DAYS,
    SHIFT_MAX_MS,
    BusinessCalendar,
    add_business_ms,
    business_ms_between,
    shift_window,
)

pytestmark = pytest.mark.unit

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WEEKDAYS = DAYS[:5]

OFFICE = BusinessCalendar(
    "Europe/Berlin", {d: [("09:00", "17:00")] for d in WEEKDAYS}, [date(2026, 12, 25)]
)
BERLIN_DAILY = BusinessCalendar("Europe/Berlin", {d: [("09:00", "17:00")] for d in DAYS})
BERLIN_NIGHT = BusinessCalendar("Europe/Berlin", {d: [("22:00", "06:00")] for d in DAYS})
BERLIN_EARLY = BusinessCalendar("Europe/Berlin", {"sun": [("01:00", "04:00")]})
GAP_BOUND = BusinessCalendar("Europe/Berlin", {"sun": [("02:30", "05:00")]})
NY_DAILY = BusinessCalendar("America/New_York", {d: [("09:00", "17:00")] for d in DAYS})
NY_NIGHT = BusinessCalendar("America/New_York", {d: [("22:00", "06:00")] for d in DAYS})
NIGHT_HOL = BusinessCalendar(
    "America/New_York", {d: [("22:00", "06:00")] for d in DAYS}, [date(2026, 3, 3)]
)
SPLIT_SHIFTS = BusinessCalendar(
    "America/New_York",
    {"mon": [("08:00", "12:00"), ("13:00", "18:00")], "fri": [("20:00", "24:00")]},
)


def at(cal: BusinessCalendar, wall: str) -> int:
    """Epoch ms of the local wall time ``wall`` in the calendar's zone (first occurrence)."""
    local = datetime.fromisoformat(wall).replace(tzinfo=ZoneInfo(cal.tz))
    return (local - EPOCH) // timedelta(milliseconds=1)


# (case, calendar, start wall time, end wall time, business hours expected)
BETWEEN_CASES = [
    ("inside one business day", OFFICE, "2026-03-02 10:00", "2026-03-02 12:00", 2),
    ("the clock waits for opening", OFFICE, "2026-03-02 07:00", "2026-03-02 10:00", 1),
    ("the clock stops overnight", OFFICE, "2026-03-02 16:00", "2026-03-03 10:00", 2),
    ("the clock stops over the weekend", OFFICE, "2026-03-06 16:00", "2026-03-09 10:00", 2),
    ("a weekend alone is no business time", OFFICE, "2026-03-07 10:00", "2026-03-08 18:00", 0),
    ("a full week is five days", OFFICE, "2026-03-02 00:00", "2026-03-09 00:00", 40),
    ("a holiday is closed", OFFICE, "2026-12-24 16:00", "2026-12-28 10:00", 2),
    ("end before start is zero", OFFICE, "2026-03-02 12:00", "2026-03-02 10:00", 0),
    ("a night shift runs past midnight", NY_NIGHT, "2026-03-02 21:00", "2026-03-03 07:00", 8),
    ("mid-shift across midnight", NY_NIGHT, "2026-03-02 23:00", "2026-03-03 01:00", 2),
    ("a day shift is closed at night", NY_NIGHT, "2026-03-02 07:00", "2026-03-02 21:00", 0),
    ("a holiday cuts the night tail", NIGHT_HOL, "2026-03-02 20:00", "2026-03-03 08:00", 2),
    ("a holiday night opens at midnight", NIGHT_HOL, "2026-03-03 20:00", "2026-03-04 08:00", 6),
    ("split shifts skip lunch", SPLIT_SHIFTS, "2026-03-02 11:00", "2026-03-02 14:00", 2),
    ("an interval may end at 24:00", SPLIT_SHIFTS, "2026-03-06 19:00", "2026-03-07 09:00", 4),
    # DST: wall-clock hours; a jump outside the interval leaves it at its nominal length
    ("Berlin spring-forward day is 8 h", BERLIN_DAILY, "2026-03-29 00:00", "2026-03-30 00:00", 8),
    ("Berlin fall-back day is 8 h", BERLIN_DAILY, "2026-10-25 00:00", "2026-10-26 00:00", 8),
    ("New York spring-forward day is 8 h", NY_DAILY, "2026-03-08 00:00", "2026-03-09 00:00", 8),
    ("New York fall-back day is 8 h", NY_DAILY, "2026-11-01 00:00", "2026-11-02 00:00", 8),
    # ... a jump inside the interval makes it an hour shorter or longer in real time
    ("Berlin spring-forward night is 7 h", BERLIN_NIGHT, "2026-03-28 21:00", "2026-03-29 07:00", 7),
    ("Berlin fall-back night is 9 h", BERLIN_NIGHT, "2026-10-24 21:00", "2026-10-25 07:00", 9),
    ("New York spring-forward night is 7 h", NY_NIGHT, "2026-03-07 21:00", "2026-03-08 07:00", 7),
    ("New York fall-back night is 9 h", NY_NIGHT, "2026-10-31 21:00", "2026-11-01 07:00", 9),
    ("01:00-04:00 spring forward is 2 h", BERLIN_EARLY, "2026-03-29 00:00", "2026-03-29 05:00", 2),
    ("01:00-04:00 fall back is 4 h", BERLIN_EARLY, "2026-10-25 00:00", "2026-10-25 05:00", 4),
    # a bound in the gap moves forward by the gap; one in the repeated hour is its first occurrence
    ("02:30 in the gap is 03:30", GAP_BOUND, "2026-03-29 00:00", "2026-03-29 06:00", 1.5),
    ("02:30 repeated is the first", GAP_BOUND, "2026-10-25 00:00", "2026-10-25 06:00", 3.5),
]


@pytest.mark.parametrize(
    ("cal", "start", "end", "hours"),
    [c[1:] for c in BETWEEN_CASES],
    ids=[c[0] for c in BETWEEN_CASES],
)
def test_business_time_between_two_instants(
    cal: BusinessCalendar, start: str, end: str, hours: float
) -> None:
    # Given a calendar and two instants
    start_ms, end_ms = at(cal, start), at(cal, end)
    # When the business time between them is measured
    elapsed = business_ms_between(cal, start_ms, end_ms)
    # Then only open hours count, in real time
    assert elapsed == hours * HOUR_MS


# (case, calendar, start wall time, business hours to add, deadline wall time)
ADD_CASES = [
    ("same day", OFFICE, "2026-03-02 10:00", 2, "2026-03-02 12:00"),
    ("carries over to the next morning", OFFICE, "2026-03-02 16:00", 2, "2026-03-03 10:00"),
    ("carries over the weekend", OFFICE, "2026-03-06 16:00", 2, "2026-03-09 10:00"),
    ("starts counting at opening", OFFICE, "2026-03-07 12:00", 1, "2026-03-09 10:00"),
    ("8 h ends at closing", OFFICE, "2026-03-02 09:00", 8, "2026-03-02 17:00"),
    ("skips the holiday", OFFICE, "2026-12-24 16:00", 2, "2026-12-28 10:00"),
    ("30 business days across DST", OFFICE, "2026-03-02 09:00", 240, "2026-04-10 17:00"),
    ("night shift from the morning", NY_NIGHT, "2026-03-02 05:00", 2, "2026-03-02 23:00"),
    ("Berlin spring-forward night", BERLIN_NIGHT, "2026-03-28 22:00", 7, "2026-03-29 06:00"),
    ("Berlin fall-back night", BERLIN_NIGHT, "2026-10-24 22:00", 9, "2026-10-25 06:00"),
    ("New York spring-forward night", NY_NIGHT, "2026-03-07 22:00", 7, "2026-03-08 06:00"),
    ("New York fall-back night", NY_NIGHT, "2026-10-31 22:00", 9, "2026-11-01 06:00"),
    ("Berlin by day over the jump", BERLIN_DAILY, "2026-03-28 16:00", 2, "2026-03-29 10:00"),
    ("New York by day over the jump", NY_DAILY, "2026-10-31 16:00", 2, "2026-11-01 10:00"),
    ("nothing to add is the start", OFFICE, "2026-03-07 12:00", 0, "2026-03-07 12:00"),
]


@pytest.mark.parametrize(
    ("cal", "start", "hours", "deadline"), [c[1:] for c in ADD_CASES], ids=[c[0] for c in ADD_CASES]
)
def test_deadline_after_business_time(
    cal: BusinessCalendar, start: str, hours: int, deadline: str
) -> None:
    # Given a calendar and a start instant
    start_ms = at(cal, start)
    # When some business hours are added
    due = add_business_ms(cal, start_ms, hours * HOUR_MS)
    # Then the deadline is the wall time expected in the calendar's zone
    assert due == at(cal, deadline)


def test_always_is_plain_time() -> None:
    # Given the 24x7 calendar / When measuring and adding / Then business time is real time
    assert business_ms_between(ALWAYS, 1_000, 90 * DAY_MS) == 90 * DAY_MS - 1_000
    assert add_business_ms(ALWAYS, 1_000, 90 * DAY_MS) == 90 * DAY_MS + 1_000


def test_long_targets_are_computed_day_by_day(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a 30-business-day target (six weeks of office hours)
    calls: list[date] = []
    original = BusinessCalendar.day_spans

    def counting(self: BusinessCalendar, day: date) -> tuple[tuple[int, int], ...]:
        calls.append(day)
        return original(self, day)

    monkeypatch.setattr(BusinessCalendar, "day_spans", counting)
    # When its deadline and elapsed time are computed
    start = at(OFFICE, "2026-03-02 09:00")
    due = add_business_ms(OFFICE, start, 240 * HOUR_MS)
    assert business_ms_between(OFFICE, start, due) == 240 * HOUR_MS
    # Then each local day is looked at a bounded number of times, never minute by minute
    assert len(calls) <= 2 * (42 + 3)


@pytest.mark.parametrize(
    ("weekly", "message"),
    [
        ({"mon": [("09:00", "09:00")]}, "end must differ from start"),
        ({"mon": [("9:00", "17:00")]}, "must be a time 'HH:MM'"),
        ({"mon": [("24:00", "17:00")]}, "must be a time 'HH:MM' (00:00..23:59)"),
        ({"mon": [("09:00", "24:30")]}, "must be a time 'HH:MM' (00:00..24:00)"),
        ({"mon": [("09:00",)]}, "must be a pair [start, end]"),
        ({"monday": [("09:00", "17:00")]}, "unknown day 'monday'"),
        ({}, "no business hours"),
    ],
)
def test_invalid_calendar_is_rejected(
    weekly: dict[str, list[tuple[str, ...]]], message: str
) -> None:
    # Given weekly hours with a mistake / When a calendar is built / Then it is refused
    with pytest.raises(ValueError, match=re.escape(message)):
        BusinessCalendar("Europe/Berlin", weekly)


def test_unknown_time_zone_is_rejected() -> None:
    # Given a zone the tz database does not know / When building / Then it is refused
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Base'"):
        BusinessCalendar("Mars/Base", {"mon": [("09:00", "17:00")]})


# ---- properties ------------------------------------------------------------------------------

CALENDARS = [OFFICE, BERLIN_NIGHT, NY_DAILY, NY_NIGHT, NIGHT_HOL, SPLIT_SHIFTS, ALWAYS]
YEAR_START = at(ALWAYS, "2026-01-01 00:00")
# Starts anywhere in 2026, and often within a few days of a DST change.
DST_CHANGES = [at(ALWAYS, d) for d in ("2026-03-08", "2026-03-29", "2026-10-25", "2026-11-01")]
instants = st.one_of(
    st.integers(YEAR_START, YEAR_START + 365 * DAY_MS),
    st.builds(
        lambda base, off: base + off,
        st.sampled_from(DST_CHANGES),
        st.integers(-3 * DAY_MS, 3 * DAY_MS),
    ),
)
calendars = st.sampled_from(CALENDARS)


@settings(max_examples=150, deadline=None)
@given(cal=calendars, start=instants, duration=st.integers(1, 40 * DAY_MS))
def test_deadline_is_the_first_instant_with_the_duration_elapsed(
    cal: BusinessCalendar, start: int, duration: int
) -> None:
    # Given a start and a duration / When the deadline is computed
    due = add_business_ms(cal, start, duration)
    # Then exactly that much business time lies before it, and one millisecond less before that
    assert business_ms_between(cal, start, due) == duration
    assert business_ms_between(cal, start, due - 1) == duration - 1


@settings(max_examples=150, deadline=None)
@given(
    cal=calendars,
    a=instants,
    gaps=st.tuples(st.integers(0, 9 * DAY_MS), st.integers(0, 9 * DAY_MS)),
)
def test_business_time_adds_up_and_inverts(
    cal: BusinessCalendar, a: int, gaps: tuple[int, int]
) -> None:
    # Given three instants in order
    b, c = a + gaps[0], a + gaps[0] + gaps[1]
    # When business time is measured over the parts and the whole
    ab, bc, ac = (business_ms_between(cal, x, y) for x, y in ((a, b), (b, c), (a, c)))
    # Then the parts add up, and adding it back lands no later than the end
    assert ab + bc == ac
    assert add_business_ms(cal, a, ac) <= c
    assert business_ms_between(cal, add_business_ms(cal, a, ac), c) == 0


def minute_is_open(cal: BusinessCalendar, instant_ms: int) -> bool:
    """Oracle: is this minute open by the weekly table of its local date (no shared code)?"""
    local = (EPOCH + timedelta(milliseconds=instant_ms)).astimezone(ZoneInfo(cal.tz))
    minute, day = local.hour * 60 + local.minute, local.date()
    if day in set(cal.holidays):
        return False
    today, yesterday = DAYS[day.weekday()], DAYS[(day.weekday() - 1) % 7]
    for name, pairs in cal.weekly.items():
        for s, e in pairs:
            lo, hi = int(s[:2]) * 60 + int(s[3:]), int(e[:2]) * 60 + int(e[3:])
            if name == today and lo <= minute < (hi if hi > lo else 1440):
                return True
            if name == yesterday and hi <= lo and minute < hi:
                return True
    return False


@settings(max_examples=40, deadline=None)
@given(cal=calendars, start=instants, minutes=st.integers(0, 3 * 24 * 60))
def test_business_time_matches_a_minute_by_minute_count(
    cal: BusinessCalendar, start: int, minutes: int
) -> None:
    # Given a whole-minute window of up to three days
    start -= start % MINUTE_MS
    end = start + minutes * MINUTE_MS
    # When counted by the calendar and by looking at every minute's local wall time
    expected = sum(minute_is_open(cal, t) for t in range(start, end, MINUTE_MS))
    # Then both agree, DST changes included
    assert business_ms_between(cal, start, end) == expected * MINUTE_MS


# ---- shift windows (agent schedules) ---------------------------------------------------------

# (case, calendar, at wall time, expected start wall time or None for "at", end wall time)
SHIFT_CASES = [
    ("inside a day shift", OFFICE, "2026-03-02 10:00", None, "2026-03-02 17:00"),
    ("at its start", OFFICE, "2026-03-02 09:00", None, "2026-03-02 17:00"),
    ("before the day's shift", OFFICE, "2026-03-02 07:00", "2026-03-02 09:00", "2026-03-02 17:00"),
    (
        "at its end: the next one",
        OFFICE,
        "2026-03-02 17:00",
        "2026-03-03 09:00",
        "2026-03-03 17:00",
    ),
    ("over the weekend", OFFICE, "2026-03-07 12:00", "2026-03-09 09:00", "2026-03-09 17:00"),
    ("before a holiday", OFFICE, "2026-12-24 18:00", "2026-12-28 09:00", "2026-12-28 17:00"),
    ("a night shift ends in the morning", NY_NIGHT, "2026-03-02 23:00", None, "2026-03-03 06:00"),
    ("after midnight", NY_NIGHT, "2026-03-03 02:00", None, "2026-03-03 06:00"),
    ("the next night", NY_NIGHT, "2026-03-03 07:00", "2026-03-03 22:00", "2026-03-04 06:00"),
    ("split shifts", SPLIT_SHIFTS, "2026-03-02 12:30", "2026-03-02 13:00", "2026-03-02 18:00"),
]


@pytest.mark.parametrize(
    ("cal", "wall", "start", "end"), [c[1:] for c in SHIFT_CASES], ids=[c[0] for c in SHIFT_CASES]
)
def test_shift_window_is_the_open_span_at_or_after_an_instant(
    cal: BusinessCalendar, wall: str, start: str | None, end: str
) -> None:
    # Given a calendar and an instant / When its shift window is asked for
    now = at(cal, wall)
    got = shift_window(cal, now)
    # Then it is the open span containing the instant (from it), else the next open span
    assert got == (now if start is None else at(cal, start), at(cal, end))


def test_a_24x7_shift_window_is_bounded() -> None:
    # Given an always-open calendar / Then its window ends SHIFT_MAX_MS later (computed again)
    assert shift_window(ALWAYS, 1_000) == (1_000, 1_000 + SHIFT_MAX_MS)
