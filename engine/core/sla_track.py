"""What the SLA tracker does for one ticket, as a pure function of its stored facts.

The tracker stores, per ticket, the facts it has read (see :class:`SlaState`): the
``ticket.created`` essentials, clock events (kind, event time), assignments and ratings,
plus its own bookkeeping (reserved/sent SLA event ids, the one final outcome reserved per
target and cycle, marks of observations already made). :func:`evaluate` turns that state
and the *event-time watermark* ``wm_ms`` into

* the SLA outcomes to reserve and publish (at or before ``wm_ms``, never a second final
  outcome for a target cycle: the first one reserved wins),
* the observations (metrics, agent performance feedback) not yet made whose facts are all
  at or before ``wm_ms`` -- each under a mark, so that it is made once across replicas,
* when to look at the ticket again (the next pending outcome).

Everything depends on event times only: replaying a backlog late gives the same result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from engine.core.sla import (
    BREACHED,
    WARNING,
    ClockEvent,
    SlaOutcome,
    SlaTargets,
    TicketClock,
    event_id,
    final_key,
)

TRACKER = "sla-tracker"  # the supervisor name on escalation commands
NEVER = 2**62
# Lifecycle event type -> clock event kind (ticket.replied/ticket.waiting: see clock_kind).
CLOCK_KINDS = {
    "ticket.created": "created",
    "ticket.first_response": "first_response",
    "ticket.resolved": "resolved",
    "ticket.reopened": "reopened",
    "ticket.closed": "closed",
    "ticket.cancelled": "cancelled",
}
ANSWER_KINDS = ("first_response", "agent_reply")
RESOLVE_KINDS = ("resolved", "closed")
ASSIGNING_DECISIONS = ("decision.assigned", "decision.reassigned")


def clock_kind(ev: Mapping[str, Any]) -> str | None:
    """The clock event kind of a ticket event, or None if it does not move a clock."""
    typ = ev["type"]
    if typ == "ticket.replied":
        return "agent_reply" if ev.get("by") == "agent" else "customer_reply"
    if typ == "ticket.waiting":
        return "customer_waiting_on" if ev.get("waiting") else "customer_waiting_off"
    return CLOCK_KINDS.get(typ)


@dataclass(frozen=True, slots=True)
class TicketMeta:
    """What the tracker keeps of ``ticket.created``; ``policy`` is the SLA policy name."""

    tenant: str
    ticket_id: str
    ts: int
    priority: int
    channel: str
    queue: str
    policy: str | None
    tier: str = "standard"


@dataclass(frozen=True, slots=True)
class SlaState:
    """Every fact stored for one ticket (any arrival order; duplicates already merged)."""

    meta: TicketMeta | None = None
    events: tuple[ClockEvent, ...] = ()
    assignments: tuple[tuple[int, str], ...] = ()  # (decision ts, agent)
    ratings: tuple[tuple[int, int, str | None], ...] = ()  # (ts, rating 1..5, agent)
    reserved: frozenset[str] = frozenset()  # SLA event ids reserved (sent or not)
    finals: Mapping[str, str] = field(default_factory=dict)  # final_key -> event id
    marks: frozenset[str] = frozenset()


class Observation(NamedTuple):
    """One metric observation: ``name`` (created, first_response, resolution, handle,
    resolved, reopened, csat), bounded ``labels``, ``value`` (seconds, rating or 1)."""

    name: str
    labels: Mapping[str, str]
    value: float = 1.0


class Feedback(NamedTuple):
    """A fact about ``agent``'s work: a customer ``rating`` or a ``handle_s``."""

    tenant: str
    agent: str
    rating: int | None = None
    handle_s: float | None = None


class Reservation(NamedTuple):
    """An SLA outcome to publish under ``event_id``; ``final`` is its final_key (None for a
    warning); ``messages`` are ``(topic, key, event)`` -- the SLA event and escalations."""

    event_id: str
    final: str | None
    outcome: SlaOutcome
    messages: tuple[tuple[str, str, Mapping[str, Any]], ...]


class Evaluation(NamedTuple):
    reservations: list[Reservation]
    observations: dict[str, list[Observation]]  # mark -> observations
    feedback: dict[str, Feedback]  # mark -> feedback
    next_due_ms: int | None


def evaluate(state: SlaState, targets: SlaTargets | None, wm_ms: int) -> Evaluation:
    """Outcomes to reserve, observations to make and the next due time (module docstring)."""
    meta = state.meta
    if meta is None:
        return Evaluation([], {}, {}, None)
    reservations: list[Reservation] = []
    due: int | None = None
    if targets is not None:
        clock = TicketClock(targets, state.events)
        finals = dict(state.finals)
        for o in clock.outcomes(NEVER):
            eid = event_id(meta.ticket_id, o.target, o.kind, o.cycle)
            fk = final_key(meta.ticket_id, o.target, o.cycle) if o.kind != WARNING else None
            if eid in state.reserved or (fk is not None and fk in finals):
                continue  # published already, or the cycle's first final outcome won
            if o.at_ms > wm_ms:
                due = o.at_ms if due is None else min(due, o.at_ms)
                continue
            if fk is not None:
                finals[fk] = eid
            reservations.append(Reservation(eid, fk, o, _messages(meta, targets, o, eid)))
    obs, feedback = _observations(state, meta, wm_ms)
    pending_obs = [ts for ts in _observation_times(state) if ts > wm_ms]
    if pending_obs:
        first = min(pending_obs)
        due = first if due is None else min(due, first)
    return Evaluation(reservations, obs, feedback, due)


def sla_event(meta: TicketMeta, policy: str, o: SlaOutcome, eid: str) -> dict[str, Any]:
    """The ``sla.<kind>`` event of outcome ``o``: stamped with its event time ``o.at_ms``,
    so a replay builds the same bytes."""
    return {
        "v": 1,
        "type": f"sla.{o.kind}",
        "id": meta.ticket_id,
        "tenant": meta.tenant,
        "ts": o.at_ms,
        "target": o.target,
        "policy": policy,
        "deadline_ms": o.deadline_ms,
        "event_id": eid,
        "cycle": o.cycle,
        "queue": meta.queue,
        "priority": meta.priority,
    }


def escalation_commands(
    meta: TicketMeta, targets: SlaTargets, o: SlaOutcome, eid: str
) -> list[tuple[str, dict[str, Any]]]:
    """``(action, command event)`` for every escalation of ``targets`` matching ``o``."""
    if o.kind not in (WARNING, BREACHED):
        return []
    reason = f"sla {o.kind}: {o.target} ({targets.name})"
    base = {
        "v": 1,
        "id": meta.ticket_id,
        "tenant": meta.tenant,
        "ts": o.at_ms,
        "supervisor": TRACKER,
        "reason": reason,
        "event_id": eid,
    }
    out: list[tuple[str, dict[str, Any]]] = []
    for esc in targets.escalations:
        if not esc.applies(o.target, o.kind):
            continue
        if esc.raise_priority is not None:
            cmd = {**base, "type": "command.raise_priority", "priority": esc.raise_priority}
            out.append(("raise_priority", cmd))
        if esc.move_queue is not None:
            cmd = {**base, "type": "command.move_queue", "queue": esc.move_queue}
            out.append(("move_queue", cmd))
        if esc.notify:
            cmd = {
                **base,
                "type": "command.notify",
                "notify": list(esc.notify),
                "target": o.target,
                "kind": o.kind,
                "policy": targets.name,
            }
            out.append(("notify", cmd))
    return out


def performance(csat: float | None, handle_s: float | None, reference_s: float) -> float | None:
    """An agent's performance 0..1 from recent average CSAT (1..5) and handle time: 70 %
    satisfaction ``(csat - 1) / 4``, 30 % speed ``ref / (ref + handle)`` (0.5 at the
    reference handle time); either part alone when the other is unknown."""
    sat = None if csat is None else min(1.0, max(0.0, (csat - 1) / 4))
    speed = None if handle_s is None else reference_s / (reference_s + max(0.0, handle_s))
    if sat is None:
        return None if speed is None else round(speed, 4)
    if speed is None:
        return round(sat, 4)
    return round(0.7 * sat + 0.3 * speed, 4)


def _messages(
    meta: TicketMeta, targets: SlaTargets, o: SlaOutcome, eid: str
) -> tuple[tuple[str, str, Mapping[str, Any]], ...]:
    msgs: list[tuple[str, str, Mapping[str, Any]]] = [
        ("sla.events", meta.ticket_id, sla_event(meta, targets.name, o, eid))
    ]
    for _action, cmd in escalation_commands(meta, targets, o, eid):
        msgs.append(("dispatch.commands", meta.ticket_id, cmd))
    return tuple(msgs)


def _first(state: SlaState, kinds: tuple[str, ...]) -> int | None:
    times = [e.ts_ms for e in state.events if e.kind in kinds and e.ts_ms >= _created(state)]
    return min(times, default=None)


def _created(state: SlaState) -> int:
    return state.meta.ts if state.meta is not None else NEVER


def _observation_times(state: SlaState) -> list[int]:
    """Event times of facts whose observations are still to be made (for next due)."""
    times = [_created(state)]
    for kinds in (ANSWER_KINDS, RESOLVE_KINDS, ("reopened",)):
        t = _first(state, kinds)
        if t is not None:
            times.append(t)
    times += [ts for ts, _r, _a in state.ratings]
    return times


def _observations(
    state: SlaState, meta: TicketMeta, wm_ms: int
) -> tuple[dict[str, list[Observation]], dict[str, Feedback]]:
    obs: dict[str, list[Observation]] = {}
    fb: dict[str, Feedback] = {}
    q, prio = {"queue": meta.queue}, str(meta.priority)

    def todo(mark: str, ts: int | None) -> bool:
        return ts is not None and ts <= wm_ms and mark not in state.marks

    if todo("m:vol", meta.ts):
        obs["m:vol"] = [Observation("created", {**q, "channel": meta.channel, "priority": prio})]
    answered = _first(state, ANSWER_KINDS)
    if todo("m:frt", answered) and answered is not None:
        value = (answered - meta.ts) / 1000
        obs["m:frt"] = [Observation("first_response", {**q, "priority": prio}, value)]
    resolved = _first(state, RESOLVE_KINDS)
    if todo("m:res", resolved) and resolved is not None:
        obs["m:res"], handle = _resolution(state, meta, resolved)
        if handle is not None:
            fb["m:res"] = Feedback(meta.tenant, handle[0], handle_s=handle[1])
    if todo("m:reopen", _first(state, ("reopened",))):
        obs["m:reopen"] = [Observation("reopened", q)]
    for ts, rating, agent in state.ratings:
        mark = f"m:rate:{ts}"
        if todo(mark, ts):
            obs[mark] = [Observation("csat", q, float(rating))]
            who = agent or _agent_at(state, ts)
            if who:
                fb[mark] = Feedback(meta.tenant, who, rating=rating)
    return obs, fb


def _resolution(
    state: SlaState, meta: TicketMeta, resolved: int
) -> tuple[list[Observation], tuple[str, float] | None]:
    q, prio = {"queue": meta.queue}, str(meta.priority)
    before = [(ts, a) for ts, a in state.assignments if ts <= resolved]
    customer_wrote = any(
        e.kind == "customer_reply" and meta.ts <= e.ts_ms <= resolved for e in state.events
    )
    first_contact = len({a for _ts, a in before}) <= 1 and not customer_wrote
    out = [
        Observation("resolution", {**q, "priority": prio}, (resolved - meta.ts) / 1000),
        Observation("resolved", {**q, "first_contact": "true" if first_contact else "false"}),
    ]
    handle = None
    if before:
        ts, agent = max(before)
        handle = (agent, max(0, resolved - ts) / 1000)
        out.append(Observation("handle", q, handle[1]))
    return out, handle


def _agent_at(state: SlaState, ts: int) -> str | None:
    before = [(t, a) for t, a in state.assignments if t <= ts]
    return max(before)[1] if before else None
