"""SLA targets and the per-ticket SLA clock: a pure function of event times.

Times are epoch milliseconds (``*_ms``); targets are seconds of business time (``*_s``).

Event kinds (:class:`ClockEvent`) and what they do, applied in time order:
  * ``created`` starts ``first_response`` and ``resolution`` (cycle 0); events before it are
    ignored, and so are duplicates.
  * ``first_response`` / ``agent_reply`` answer the customer: they stop ``first_response`` and
    the open ``next_response`` cycle.
  * ``customer_reply`` after the first response opens a ``next_response`` cycle (1, 2, ...)
    unless one is open already; it runs until the next answer.
  * ``customer_waiting_on`` / ``customer_waiting_off`` bracket time spent waiting on the
    customer; with ``pause_on_customer`` every running clock stops meanwhile.
  * ``resolved`` and ``closed`` also count as an answer and stop every running clock;
    ``closed`` is final. ``cancelled`` stops every clock with no ``met`` outcome.
  * ``reopened`` (after ``resolved``) starts a *new* resolution cycle with the full
    ``resolution_s`` budget counted from the reopen; earlier cycles keep their outcomes.
    ``first_response`` is not restarted.

Outcomes per target and cycle: ``warning`` when ``warn_at`` of the budget is used (only for
0 < warn_at < 1), then exactly one of ``met`` (answered at or before the deadline) or
``breached`` (at the deadline). ``outcomes(now_ms)`` returns those at or before ``now_ms``, and
each depends only on events up to its own ``at_ms``: feed an event-time watermark as ``now_ms``
and a late replay yields the same list. An event older than the watermark that arrives late
can still flip a final outcome, so the caller keeps the first one per :func:`final_key`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from engine.core.calendar import ALWAYS, BusinessCalendar, add_business_ms, business_ms_between

TARGETS = ("first_response", "next_response", "resolution")
WARNING, BREACHED, MET = "warning", "breached", "met"
KINDS = (  # also the tie-break order of events in the same millisecond
    "created",
    "reopened",
    "customer_waiting_off",
    "customer_reply",
    "first_response",
    "agent_reply",
    "customer_waiting_on",
    "resolved",
    "closed",
    "cancelled",
)
_RANK = {k: i for i, k in enumerate(KINDS)}
_ANSWERS = frozenset({"first_response", "agent_reply"})


ESCALATE_ON = (WARNING, BREACHED)


@dataclass(frozen=True, slots=True)
class Escalation:
    """What to do when a ``warning`` or ``breached`` outcome (``on``, the policy's ``when``) of
    one of ``targets``
    (None: any) happens: commands the dispatcher executes."""

    on: str
    targets: frozenset[str] | None = None
    raise_priority: int | None = None
    move_queue: str | None = None
    notify: tuple[str, ...] = ()

    def applies(self, target: str, kind: str) -> bool:
        return kind == self.on and (self.targets is None or target in self.targets)


@dataclass(frozen=True, slots=True)
class SlaTargets:
    """A named SLA policy: targets in seconds of ``calendar`` time, ``warn_at`` a fraction."""

    name: str
    first_response_s: float | None = None
    next_response_s: float | None = None
    resolution_s: float | None = None
    warn_at: float = 0.8
    calendar: BusinessCalendar = ALWAYS
    pause_on_customer: bool = False
    calendar_name: str | None = None
    escalations: tuple[Escalation, ...] = ()

    def budget_ms(self, target: str) -> int | None:
        """Business milliseconds allowed for ``target``, or None when it is not set."""
        seconds: float | None = getattr(self, f"{target}_s")
        return None if seconds is None else round(seconds * 1000)


class ClockEvent(NamedTuple):
    """One ticket event for the clock: ``kind`` (see :data:`KINDS`) at ``ts_ms``."""

    kind: str
    ts_ms: int


class SlaOutcome(NamedTuple):
    """``kind`` (warning|breached|met) of ``target`` ``cycle`` at ``at_ms``; ``deadline_ms`` is
    the deadline as known at ``at_ms``."""

    target: str
    kind: str
    at_ms: int
    deadline_ms: int
    cycle: int


@dataclass(frozen=True, slots=True)
class TargetRun:
    """One clock: ``target`` cycle ``cycle`` running from ``start_ms`` until ``stop_ms`` (None:
    still running); ``pauses`` are ``(on_ms, off_ms | None)`` inside it."""

    target: str
    cycle: int
    start_ms: int
    stop_ms: int | None = None
    cancelled: bool = False
    pauses: tuple[tuple[int, int | None], ...] = ()


def event_id(ticket_id: str, target: str, kind: str, cycle: int) -> str:
    """Deterministic id of an SLA event: the same ticket, target, kind and cycle give the same."""
    return f"sla:{ticket_id}:{target}:{cycle}:{kind}"


def final_key(ticket_id: str, target: str, cycle: int) -> str:
    """Key under which the single final outcome (met or breached) of a cycle is recorded."""
    return f"sla:{ticket_id}:{target}:{cycle}:final"


def deadline_ms(
    cal: BusinessCalendar, start_ms: int, budget_ms: int, pauses: Sequence[tuple[int, int | None]]
) -> int | None:
    """When ``budget_ms`` of business time outside ``pauses`` (sorted, disjoint) has elapsed
    since ``start_ms``; None while an open pause (``off`` None) comes first."""
    t, remaining = start_ms, budget_ms
    for on, off in pauses:
        if off is not None and off <= t:
            continue
        if on > t:
            run = business_ms_between(cal, t, on)
            if run >= remaining:
                return add_business_ms(cal, t, remaining)
            remaining -= run
        if off is None:
            return None
        t = max(t, off)
    return add_business_ms(cal, t, remaining)


@dataclass(frozen=True, slots=True)
class TicketClock:
    """The SLA clocks of one ticket under ``sla``, rebuilt from its events (any order;
    duplicates count once). Raises ValueError for an unknown event kind."""

    sla: SlaTargets
    events: tuple[ClockEvent, ...]
    runs: tuple[TargetRun, ...] = field(init=False)

    def __init__(self, sla: SlaTargets, events: Iterable[ClockEvent | tuple[str, int]]) -> None:
        unique = {ClockEvent(*e) for e in events}
        for e in unique:
            if e.kind not in _RANK:
                raise ValueError(f"unknown clock event kind {e.kind!r} (one of {', '.join(KINDS)})")
        evs = sorted(unique, key=lambda e: (e.ts_ms, _RANK[e.kind]))
        object.__setattr__(self, "sla", sla)
        object.__setattr__(self, "events", tuple(evs))
        object.__setattr__(self, "runs", _fold(self.events, sla.pause_on_customer))

    def with_event(self, kind: str, ts_ms: int) -> TicketClock:
        """A new clock with one more event."""
        return TicketClock(self.sla, (*self.events, ClockEvent(kind, ts_ms)))

    def outcomes(self, now_ms: int) -> list[SlaOutcome]:
        """Every outcome with ``at_ms <= now_ms``, in time order."""
        found = [o for run in self.runs for o in self._run_outcomes(run) if o.at_ms <= now_ms]
        return sorted(found, key=lambda o: (o.at_ms, TARGETS.index(o.target), o.cycle, o.kind))

    def next_due_ms(self, now_ms: int) -> int | None:
        """The earliest warning or breach after ``now_ms`` given the events so far, or None."""
        due = [
            o.at_ms
            for run in self.runs
            for o in self._run_outcomes(run)
            if o.at_ms > now_ms and o.kind != MET
        ]
        return min(due, default=None)

    def deadline(self, run: TargetRun) -> int | None:
        """The deadline of ``run`` (epoch ms), None while it is paused open-ended."""
        budget = self.sla.budget_ms(run.target)
        if budget is None:
            return None
        return deadline_ms(self.sla.calendar, run.start_ms, budget, run.pauses)

    def _run_outcomes(self, run: TargetRun) -> list[SlaOutcome]:
        try:
            return self._outcomes_of(run)
        except OverflowError:
            # A business-hours calendar cannot place an instant after 9999-12-31 (datetime
            # ends there); a ticket whose ts is near that limit has deadlines that never fall
            # due, instead of an exception that would stop the tracker on every retry.
            return []

    def _outcomes_of(self, run: TargetRun) -> list[SlaOutcome]:
        budget = self.sla.budget_ms(run.target)
        dl = self.deadline(run)
        if budget is None or (dl is None and run.stop_ms is None):
            return []
        cal, stop, out = self.sla.calendar, run.stop_ms, []
        if 0 < self.sla.warn_at < 1:
            warn_budget = round(budget * self.sla.warn_at)
            warn = deadline_ms(cal, run.start_ms, warn_budget, run.pauses)
            if warn is not None and (stop is None or stop > warn):
                projected = add_business_ms(cal, warn, budget - warn_budget)
                out.append(SlaOutcome(run.target, WARNING, warn, projected, run.cycle))
        if dl is not None and (stop is None or stop > dl):
            out.append(SlaOutcome(run.target, BREACHED, dl, dl, run.cycle))
        elif stop is not None and dl is not None and not run.cancelled:
            out.append(SlaOutcome(run.target, MET, stop, dl, run.cycle))
        return out


def _fold(events: Sequence[ClockEvent], pause_on_customer: bool) -> tuple[TargetRun, ...]:
    """Apply the event rules (module docstring) and return every clock run."""
    done: list[TargetRun] = []
    running: dict[str, TargetRun] = {}
    pauses: list[tuple[int, int | None]] = []
    cycles = {"next_response": 0, "resolution": 0}
    created = resolved = final = False

    def start(target: str, at: int, cycle: int = 0) -> None:
        running[target] = TargetRun(target, cycle, at)

    def stop(targets: Iterable[str], at: int, cancelled: bool = False) -> None:
        for t in targets:
            if t in running:
                r = running.pop(t)
                done.append(TargetRun(t, r.cycle, r.start_ms, at, cancelled, _clip(pauses, r, at)))

    def unpause(at: int) -> None:
        if pauses and pauses[-1][1] is None:
            pauses[-1] = (pauses[-1][0], at)

    for kind, at in events:
        if final or (created and kind == "created"):
            continue
        if not created:
            if kind == "created":
                created = True
                start("first_response", at)
                start("resolution", at)
            continue
        if kind in _ANSWERS:
            stop(("first_response", "next_response"), at)
        elif kind == "customer_reply":
            if not resolved and "first_response" not in running and "next_response" not in running:
                cycles["next_response"] += 1
                start("next_response", at, cycles["next_response"])
        elif kind == "customer_waiting_on":
            if pause_on_customer and not resolved and not (pauses and pauses[-1][1] is None):
                pauses.append((at, None))
        elif kind == "customer_waiting_off":
            unpause(at)
        elif kind in ("resolved", "closed", "cancelled"):
            stop(TARGETS, at, cancelled=kind == "cancelled")
            unpause(at)
            resolved, final = True, kind != "resolved"
        elif kind == "reopened" and resolved:
            resolved = False
            cycles["resolution"] += 1
            start("resolution", at, cycles["resolution"])
    for target in TARGETS:
        if target in running:
            r = running[target]
            done.append(TargetRun(target, r.cycle, r.start_ms, None, False, _clip(pauses, r, None)))
    return tuple(sorted(done, key=lambda r: (TARGETS.index(r.target), r.cycle)))


def _clip(
    pauses: Sequence[tuple[int, int | None]], run: TargetRun, stop: int | None
) -> tuple[tuple[int, int | None], ...]:
    """The pauses inside ``[run.start_ms, stop)``; a pause still open at ``stop`` ends there."""
    out: list[tuple[int, int | None]] = []
    for on, off in pauses:
        if (off is not None and off <= run.start_ms) or (stop is not None and on >= stop):
            continue
        end = stop if off is None or (stop is not None and off > stop) else off
        out.append((max(on, run.start_ms), end))
    return tuple(out)
