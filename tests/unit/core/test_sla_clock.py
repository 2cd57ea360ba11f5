"""engine.core.sla: the per-ticket SLA clock as tables of events and expected outcomes.

Times in the tables are minutes after the ticket's creation (T0), on the 24x7 calendar unless a
case names another; targets are 10 min first response, 5 min next response, 60 min resolution,
warning at 80 %.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.calendar import DAYS, BusinessCalendar
from engine.core.sla import (
    BREACHED,
    KINDS,
    MET,
    WARNING,
    ClockEvent,
    SlaOutcome,
    SlaTargets,
    TicketClock,
    event_id,
    final_key,
)
from engine.core.sla_track import SlaState, TicketMeta, evaluate

pytestmark = pytest.mark.unit

T0 = 1_772_000_000_000  # 2026-02-25 06:13:20 UTC
MIN_MS = 60_000
FR, NR, RES = "first_response", "next_response", "resolution"
STD = SlaTargets("std", first_response_s=600, next_response_s=300, resolution_s=3600)
PAUSING = SlaTargets(
    "pausing", first_response_s=600, next_response_s=300, resolution_s=3600, pause_on_customer=True
)
NO_WARN = SlaTargets("nowarn", first_response_s=600, warn_at=1.0)
ZERO_WARN = SlaTargets("zerowarn", first_response_s=600, warn_at=0.0)
FR_ONLY = SlaTargets("fr", first_response_s=600)


def wall_ms(wall: str, tz: str) -> int:
    local = datetime.fromisoformat(wall).replace(tzinfo=ZoneInfo(tz))
    return (local - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def ev(kind: str, minute: float) -> ClockEvent:
    return ClockEvent(kind, T0 + round(minute * MIN_MS))


def out(target: str, kind: str, at_min: float, deadline_min: float, cycle: int = 0) -> SlaOutcome:
    return SlaOutcome(
        target, kind, T0 + round(at_min * MIN_MS), T0 + round(deadline_min * MIN_MS), cycle
    )


CREATED = ev("created", 0)
LATER = 10_000  # minutes: long after every deadline in the tables

# (case, targets, [(event kind, minute)] after `created`, now in minutes,
#  expected outcomes in time order)
CASES: list[tuple[str, SlaTargets, list[tuple[str, float]], float, list[SlaOutcome]]] = [
    ("first response met early", FR_ONLY, [("first_response", 5)], LATER, [out(FR, MET, 5, 10)]),
    (
        "first response met after the warning",
        FR_ONLY,
        [("first_response", 9)],
        LATER,
        [out(FR, WARNING, 8, 10), out(FR, MET, 9, 10)],
    ),
    (
        "an answer exactly at the deadline is met",
        FR_ONLY,
        [("agent_reply", 10)],
        LATER,
        [out(FR, WARNING, 8, 10), out(FR, MET, 10, 10)],
    ),
    (
        "no answer is breached at the deadline",
        FR_ONLY,
        [],
        LATER,
        [out(FR, WARNING, 8, 10), out(FR, BREACHED, 10, 10)],
    ),
    (
        "a late answer is breached, never met",
        FR_ONLY,
        [("first_response", 15)],
        LATER,
        [out(FR, WARNING, 8, 10), out(FR, BREACHED, 10, 10)],
    ),
    ("nothing before the warning", FR_ONLY, [], 7.9, []),
    ("only the warning before the deadline", FR_ONLY, [], 9, [out(FR, WARNING, 8, 10)]),
    ("warn_at 1 sends no warning", NO_WARN, [], LATER, [out(FR, BREACHED, 10, 10)]),
    ("warn_at 0 sends no warning", ZERO_WARN, [], LATER, [out(FR, BREACHED, 10, 10)]),
    (
        "waiting on the customer pauses the clock",
        SlaTargets("p", first_response_s=600, pause_on_customer=True),
        [("customer_waiting_on", 2), ("customer_waiting_off", 7)],
        LATER,
        [out(FR, WARNING, 13, 15), out(FR, BREACHED, 15, 15)],
    ),
    (
        "waiting does not pause without pause_on_customer",
        FR_ONLY,
        [("customer_waiting_on", 2), ("customer_waiting_off", 7)],
        LATER,
        [out(FR, WARNING, 8, 10), out(FR, BREACHED, 10, 10)],
    ),
    (
        "a clock paused open-ended reaches no deadline",
        SlaTargets("p", first_response_s=600, pause_on_customer=True),
        [("customer_waiting_on", 2)],
        LATER,
        [],
    ),
    (
        "the warning carries the deadline known at that time",
        SlaTargets("p", first_response_s=600, pause_on_customer=True),
        [("customer_waiting_on", 9), ("customer_waiting_off", 29)],
        LATER,
        [out(FR, WARNING, 8, 10), out(FR, BREACHED, 30, 30)],
    ),
    (
        "next response cycles: met, then breached",
        STD,
        [
            ("first_response", 1),
            ("customer_reply", 2),
            ("agent_reply", 4),
            ("customer_reply", 10),
            ("resolved", 40),
        ],
        LATER,
        [
            out(FR, MET, 1, 10),
            out(NR, MET, 4, 7, 1),
            out(NR, WARNING, 14, 15, 2),
            out(NR, BREACHED, 15, 15, 2),
            out(RES, MET, 40, 60),
        ],
    ),
    (
        "a second customer message does not restart the cycle",
        STD,
        [
            ("first_response", 1),
            ("customer_reply", 2),
            ("customer_reply", 4),
            ("agent_reply", 8),
            ("resolved", 9),
        ],
        LATER,
        [
            out(FR, MET, 1, 10),
            out(NR, WARNING, 6, 7, 1),
            out(NR, BREACHED, 7, 7, 1),
            out(RES, MET, 9, 60),
        ],
    ),
    (
        "a customer message before the first response opens no cycle",
        STD,
        [("customer_reply", 1), ("first_response", 3), ("resolved", 4)],
        LATER,
        [out(FR, MET, 3, 10), out(RES, MET, 4, 60)],
    ),
    (
        "resolving answers the customer",
        STD,
        [("resolved", 5)],
        LATER,
        [out(FR, MET, 5, 10), out(RES, MET, 5, 60)],
    ),
    (
        "a reopen starts a new resolution cycle with the full target",
        STD,
        [("first_response", 1), ("resolved", 30), ("reopened", 100)],
        LATER,
        [
            out(FR, MET, 1, 10),
            out(RES, MET, 30, 60),
            out(RES, WARNING, 148, 160, 1),
            out(RES, BREACHED, 160, 160, 1),
        ],
    ),
    (
        "a reopen of an open ticket is ignored",
        STD,
        [("first_response", 1), ("reopened", 2), ("resolved", 30)],
        LATER,
        [out(FR, MET, 1, 10), out(RES, MET, 30, 60)],
    ),
    (
        "closing is final: a later reopen is ignored",
        STD,
        [("first_response", 1), ("closed", 20), ("reopened", 30)],
        LATER,
        [out(FR, MET, 1, 10), out(RES, MET, 20, 60)],
    ),
    (
        "cancelling meets nothing but keeps an earlier breach",
        STD,
        [("cancelled", 20)],
        LATER,
        [out(FR, WARNING, 8, 10), out(FR, BREACHED, 10, 10)],
    ),
    (
        "a pause ends with the resolution and the reopened cycle runs",
        PAUSING,
        [
            ("first_response", 1),
            ("customer_waiting_on", 5),
            ("resolved", 30),
            ("reopened", 40),
            ("resolved", 50),
        ],
        LATER,
        [out(FR, MET, 1, 10), out(RES, MET, 30, 85), out(RES, MET, 50, 100, 1)],
    ),
    (
        "events before creation are ignored",
        FR_ONLY,
        [("first_response", -5)],
        LATER,
        [out(FR, WARNING, 8, 10), out(FR, BREACHED, 10, 10)],
    ),
]


@pytest.mark.parametrize(
    ("targets", "events", "now", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_clock_outcomes(
    targets: SlaTargets, events: list[tuple[str, float]], now: float, expected: list[SlaOutcome]
) -> None:
    # Given a ticket's events under an SLA policy
    clock = TicketClock(targets, [CREATED, *(ev(kind, minute) for kind, minute in events)])
    # When asked what has happened by `now`
    found = clock.outcomes(T0 + round(now * MIN_MS))
    # Then exactly the expected warnings, breaches and met targets are there, in time order
    assert found == sorted(expected, key=lambda o: (o.at_ms, o.target, o.cycle, o.kind))


def test_business_hours_clock_stops_overnight_and_at_the_weekend() -> None:
    # Given a 2 h first-response target in Berlin office hours (a holiday on Monday)
    office = BusinessCalendar(
        "Europe/Berlin",
        {d: [("09:00", "17:00")] for d in ("mon", "tue", "wed", "thu", "fri")},
        [date(2026, 3, 9)],
    )
    sla = SlaTargets("office", first_response_s=7200, warn_at=0.5, calendar=office)
    friday_4pm = wall_ms("2026-03-06 16:00", "Europe/Berlin")
    tuesday = wall_ms("2026-03-10 09:00", "Europe/Berlin")
    # When a ticket created on Friday at 16:00 gets no answer
    clock = TicketClock(sla, [("created", friday_4pm)])
    # Then the warning is at Friday's closing and the breach at Tuesday 10:00
    assert clock.outcomes(tuesday + 7_200_000) == [
        SlaOutcome(FR, WARNING, friday_4pm + 3_600_000, tuesday + 3_600_000, 0),
        SlaOutcome(FR, BREACHED, tuesday + 3_600_000, tuesday + 3_600_000, 0),
    ]


def test_events_in_any_order_and_duplicates_give_the_same_clock() -> None:
    # Given a ticket's events, shuffled and partly repeated
    events = [
        CREATED,
        ev("first_response", 1),
        ev("customer_reply", 2),
        ev("customer_waiting_on", 3),
    ]
    events += [ev("customer_waiting_off", 6), ev("agent_reply", 12), ev("resolved", 20)]
    shuffled = events + events[2:4]
    random.Random(7).shuffle(shuffled)
    # When clocks are built from both
    a, b = TicketClock(PAUSING, events), TicketClock(PAUSING, shuffled)
    # Then they agree
    assert a.runs == b.runs and a.outcomes(T0 + LATER * MIN_MS) == b.outcomes(T0 + LATER * MIN_MS)


def test_next_due_is_the_next_warning_or_breach() -> None:
    # Given an unanswered ticket / When asked what falls due next / Then warning, breach, nothing
    clock = TicketClock(FR_ONLY, [CREATED])
    assert clock.next_due_ms(T0) == T0 + 8 * MIN_MS
    assert clock.next_due_ms(T0 + 8 * MIN_MS) == T0 + 10 * MIN_MS
    assert clock.next_due_ms(T0 + 10 * MIN_MS) is None
    # ... and an answered one has nothing due
    assert clock.with_event("agent_reply", T0 + MIN_MS).next_due_ms(T0) is None


def test_unknown_event_kind_is_refused() -> None:
    # Given an event kind the clock does not know / When building / Then it is refused
    with pytest.raises(ValueError, match=r"unknown clock event kind 'ticket\.rated'"):
        TicketClock(STD, [CREATED, ("ticket.rated", T0)])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("t-1", FR, WARNING, 0), "sla:t-1:first_response:0:warning"),
        (("t-1", FR, BREACHED, 0), "sla:t-1:first_response:0:breached"),
        (("t-1", NR, MET, 3), "sla:t-1:next_response:3:met"),
        (("t-2", RES, MET, 1), "sla:t-2:resolution:1:met"),
    ],
)
def test_event_id_is_built_from_ticket_target_cycle_and_kind(
    args: tuple[str, str, str, int], expected: str
) -> None:
    # Given the same inputs twice / When ids are made / Then they are equal and as documented
    assert event_id(*args) == event_id(*args) == expected


def test_met_and_breached_share_one_final_key() -> None:
    # Given both final kinds of one cycle / Then their ids differ but the final key is one
    assert event_id("t", RES, MET, 1) != event_id("t", RES, BREACHED, 1)
    assert final_key("t", RES, 1) == "sla:t:resolution:1:final" != final_key("t", RES, 2)


# ---- properties ------------------------------------------------------------------------------

SHORT_DAYS = BusinessCalendar(
    "Europe/Berlin", {d: [("07:30", "08:00"), ("09:00", "10:00")] for d in DAYS}
)
POLICIES = [
    STD,
    PAUSING,
    SlaTargets("tight", first_response_s=60, next_response_s=60, warn_at=0.5),
    SlaTargets("hours", 1800, 900, 5400, calendar=SHORT_DAYS, pause_on_customer=True),
]
streams = st.lists(
    st.tuples(st.sampled_from(KINDS[1:]), st.integers(0, 240 * MIN_MS)), max_size=14
).map(lambda evs: [CREATED, *(ClockEvent(k, T0 + t) for k, t in evs)])


@settings(max_examples=300, deadline=None)
@given(sla=st.sampled_from(POLICIES), events=streams, now=st.integers(0, 300 * MIN_MS))
def test_a_late_replay_yields_the_same_outcomes(
    sla: SlaTargets, events: list[ClockEvent], now: int
) -> None:
    # Given a ticket's stream and a watermark `now`
    now_ms = T0 + now
    # When outcomes are computed live (events up to now) and in a replay with the whole stream
    live = TicketClock(sla, [e for e in events if e.ts_ms <= now_ms]).outcomes(now_ms)
    replay = TicketClock(sla, events).outcomes(now_ms)
    # Then both are the same, and each one stays once the watermark moves on
    assert live == replay
    assert set(replay) <= set(TicketClock(sla, events).outcomes(now_ms + 60 * MIN_MS))


@settings(max_examples=300, deadline=None)
@given(sla=st.sampled_from(POLICIES), events=streams)
def test_never_two_final_outcomes_for_one_target_cycle(
    sla: SlaTargets, events: list[ClockEvent]
) -> None:
    # Given any stream / When every outcome is computed
    outcomes = TicketClock(sla, events).outcomes(T0 + 10**9)
    # Then each target cycle has at most one met-or-breached and at most one warning
    finals = Counter((o.target, o.cycle) for o in outcomes if o.kind in (MET, BREACHED))
    warnings = Counter((o.target, o.cycle) for o in outcomes if o.kind == WARNING)
    assert max(finals.values(), default=0) <= 1 and max(warnings.values(), default=0) <= 1
    # ... and every breach lies at its deadline, every met at or before it
    for o in outcomes:
        assert o.at_ms == o.deadline_ms if o.kind == BREACHED else True
        assert o.at_ms <= o.deadline_ms if o.kind in (MET, WARNING) else True


# --- the last valid ts -------------------------------------------------------------------------

LAST_TS = 253_402_300_799_999  # engine.core.bounds.EPOCH_MS_MAX: 9999-12-31T23:59:59.999Z
BERLIN_OFFICE = BusinessCalendar("Europe/Berlin", {d: [("09:00", "17:00")] for d in DAYS[:5]})


@pytest.mark.parametrize("days_before_the_end", [0, 1, 30])
def test_a_ticket_near_the_last_valid_ts_under_business_hours_never_falls_due(
    days_before_the_end: int,
) -> None:
    # Given a ticket created at (or shortly before) the last ts the event schemas accept,
    # under a calendar whose deadlines would lie after 9999-12-31
    created = LAST_TS - days_before_the_end * 86_400_000
    office = SlaTargets(
        "office", first_response_s=3600, resolution_s=30 * 86_400, calendar=BERLIN_OFFICE
    )
    clock = TicketClock(office, [ClockEvent("created", created)])
    # When its outcomes are asked for / Then there is no error, only outcomes it can place
    outcomes = clock.outcomes(2**62)
    assert all(o.at_ms >= created for o in outcomes)
    assert clock.next_due_ms(created) is None or clock.next_due_ms(created) >= created
    # And the tracker's evaluation of that ticket at the last watermark does not raise
    meta = TicketMeta("acme", "T-1", created, 3, "chat", "q", "office")
    state = SlaState(meta, (ClockEvent("created", created),))
    assert evaluate(state, office, LAST_TS).reservations is not None


def test_a_ticket_at_the_last_valid_ts_on_the_24x7_calendar_still_breaches() -> None:
    # Given a ticket at the last valid ts on the 24x7 calendar
    clock = TicketClock(STD, [ClockEvent("created", LAST_TS)])
    # Then its deadlines are plain sums, past year 9999, and still reported
    breach = [o for o in clock.outcomes(2**62) if o.kind == BREACHED and o.target == FR]
    assert [o.at_ms for o in breach] == [LAST_TS + 600_000]
