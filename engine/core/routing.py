"""Route a ticket: pick its queue and compute the request for the current escalation step.

Everything here is a function of (ticket, policy, now_ms): the same inputs give the
same request, so a replayed backlog routes exactly as it did live.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.model import (
    DEFAULT_REOFFER_S,
    INITIAL_STEP,
    MAX_PRIORITY,
    MIN_PRIORITY,
    Cooloff,
    Request,
    Ticket,
)
from engine.core.policy import REGION_WIDEN, TEAM_WIDEN, WIDEN_ANY, LadderStep, Policy, Queue
from engine.core.pull import PULL, STEP_PUSH_AFTER

MS_PER_S = 1000
# Without aging, each priority level is a band wider than any epoch-ms timestamp,
# so waiting order is strictly priority first, then age.
PRIORITY_BAND_MS = 10**13


@dataclass(frozen=True, slots=True)
class Route:
    """The routing outcome: a request, or ``None`` with a reason when no queue matched."""

    request: Request | None
    reason: str = ""


def match_queue(ticket: Ticket, policy: Policy) -> Queue | None:
    """The ticket's explicit ``queue`` if it exists, else the first queue whose match holds."""
    if ticket.queue:
        explicit = policy.queue(ticket.queue)
        if explicit is not None:
            return explicit
    for q in policy.queues:
        if queue_matches(q, ticket):
            return q
    return None


def queue_matches(q: Queue, ticket: Ticket) -> bool:
    for name, allowed in q.match.items():
        if ticket.field_value(name) not in allowed:
            return False
    return not q.skills_any or any(s in ticket.skills for s in q.skills_any)


def waiting_score(priority: int, ticket_ts_ms: int, aging_per_priority_s: float | None) -> float:
    """Order key of the waiting queue: smaller is served first.

    Without aging: strictly priority, then age. With aging, each priority level is
    worth ``aging_per_priority_s`` of waiting, so old tickets rise above newer urgent ones.
    """
    if aging_per_priority_s is None:
        return float(priority * PRIORITY_BAND_MS + ticket_ts_ms)
    return float(ticket_ts_ms + priority * int(aging_per_priority_s * MS_PER_S))


def ladder_step(ladder: tuple[LadderStep, ...], elapsed_ms: int, reached: set[str]) -> int | None:
    """Add to ``reached`` the widen modes of the ``ladder`` steps due at ``elapsed_ms``; the
    time of the next step that would widen further (``None``: none left).

    Modes are ordered (``neighbors`` < ``any``, ``partners`` < ``any``): a step never narrows
    what an earlier one, or an earlier queue's ladder, reached."""
    for step in ladder:
        at = int(step.after_s * MS_PER_S)
        if elapsed_ms >= at:
            reached.add(step.widen)
        elif WIDEN_ANY not in reached and step.widen not in reached:
            return at
    return None


def route(
    ticket: Ticket,
    policy: Policy,
    now_ms: int,
    *,
    queue_name: str | None = None,
    priority: int | None = None,
    cooloff: Cooloff = (),
) -> Route:
    """Compute the request for ``ticket`` at ``now_ms``.

    ``queue_name`` and ``priority`` override the ticket's own (supervisor moves and
    SLA escalations); ``cooloff`` lists agents that missed or rejected it, with when they may
    be offered it again.
    """
    q = policy.queue(queue_name) if queue_name else match_queue(ticket, policy)
    if q is None:
        return Route(None, reason="no queue matches")
    elapsed_ms = max(0, now_ms - ticket.ts)
    pending: list[int] = []
    steps: list[str] = []

    # Overflow chain: each hop measured from the ticket's own timestamp.
    seen = {q.name}
    left: list[tuple[Queue, int]] = []  # the queues the ticket overflowed from, and when
    while q.overflow is not None:
        at = int(q.overflow.after_s * MS_PER_S)
        if elapsed_ms < at:
            pending.append(at)
            break
        nxt = policy.queue(q.overflow.to)
        if nxt is None or nxt.name in seen:
            break
        steps.append(f"overflow:{nxt.name}")
        seen.add(nxt.name)
        left.append((q, at))
        q = nxt

    base_priority = ticket.priority if priority is None else priority
    raised = 0
    for r in q.priority_raise:
        at = int(r.after_s * MS_PER_S)
        if elapsed_ms >= at:
            raised += r.by
        else:
            pending.append(at)
            break
    if raised:
        steps.append(f"priority:+{raised}")
    eff = min(MAX_PRIORITY, max(MIN_PRIORITY, base_priority - raised - q.priority_boost))

    # Ladders keep what they reached across overflow: each queue the ticket left counts its
    # steps up to the hop, the current one up to now (all measured from the ticket's ts).
    regions: tuple[str, ...] | None = None
    if ticket.region:
        reached: set[str] = set()
        for prev, at in left:
            ladder_step(prev.region_ladder, at, reached)
        wake = ladder_step(q.region_ladder, elapsed_ms, reached)
        if wake is not None:
            pending.append(wake)
        steps += [f"region:{mode}" for mode in REGION_WIDEN if mode in reached]
        if WIDEN_ANY in reached:
            regions = None
        elif reached:
            regions = tuple(sorted({ticket.region, *policy.regions.get(ticket.region, ())}))
        else:
            regions = (ticket.region,)

    teams: tuple[str, ...] | None = None
    if q.teams:
        team_reached: set[str] = set()
        for prev, at in left:
            ladder_step(prev.team_ladder, at, team_reached)
        wake = ladder_step(q.team_ladder, elapsed_ms, team_reached)
        if wake is not None:
            pending.append(wake)
        steps += [f"team:{mode}" for mode in TEAM_WIDEN if mode in team_reached]
        if WIDEN_ANY not in team_reached:
            own = set(q.teams)
            if team_reached:
                for team in q.teams:
                    own.update(policy.teams.get(team, ()))
            teams = tuple(sorted(own))

    preferred = None
    if ticket.preferred_agent and q.sticky_after_s is not None:
        at = int(q.sticky_after_s * MS_PER_S)
        if elapsed_ms < at:
            preferred = ticket.preferred_agent
            steps.append("sticky")
            pending.append(at)

    # Grab mode: pooled until claimed, or (push_after_s) until that long after the ticket
    # entered the queue (created, or overflowed into it); then routed by push.
    pull = q.mode == PULL
    if pull and q.push_after_s is not None:
        at = (left[-1][1] if left else 0) + int(q.push_after_s * MS_PER_S)
        if elapsed_ms < at:
            pending.append(at)
        else:
            pull = False
            steps.append(STEP_PUSH_AFTER)

    skills = dict(q.skills)
    for s, lvl in ticket.skills.items():
        skills[s] = max(lvl, skills.get(s, 0))

    req = Request(
        ticket_id=ticket.id,
        tenant=ticket.tenant,
        queue=q.name,
        strategy=q.strategy,
        channel=q.capacity_channel or ticket.channel,
        priority=eff,
        ticket_ts=ticket.ts,
        score=waiting_score(eff, ticket.ts, policy.aging_per_priority_s),
        skills=skills,
        regions=regions,
        preferred_agent=preferred,
        cooloff=cooloff,
        step=",".join(steps) or INITIAL_STEP,
        offer_timeout_ms=int(q.offer.timeout_s * MS_PER_S) if q.offer else 0,
        offer_max_misses=q.offer.max_misses if q.offer else 0,
        wake_ms=ticket.ts + min(pending) if pending else 0,
        teams=teams,
        reoffer_ms=int((q.offer.reoffer_after_s if q.offer else DEFAULT_REOFFER_S) * MS_PER_S),
        fair_max=q.fairness.max_new if q.fairness else 0,
        fair_window_ms=int(q.fairness.window_s * MS_PER_S) if q.fairness else 0,
        shift_stop_ms=int(policy.shift_stop.get(ticket.channel, 0) * MS_PER_S),
        wrap_up_ms=int(q.wrap_up_s * MS_PER_S),
        pull=pull,
        claim_limit=(q.claim_limit or 0) if q.mode == PULL else 0,
        policy=policy.revision,
    )
    return Route(req)
