"""The guarantees of docs/architecture.md as properties: random rosters and event streams through
DispatchService on MemoryAgentStore with a SimClock, every invariant checked after every step.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.eligibility import first_reason, hours_reason, reasons
from engine.core.handover import CAUSE_LOGOUT, moves
from engine.core.model import Agent, Decision, cooling
from engine.core.routing import waiting_score
from engine.ports import ASSIGNED, CLOSED, OFFERED, WAITING
from tests.unit.dispatch.property_world import (
    AGENTS,
    PROPERTY_SETTINGS,
    TENANT,
    World,
    grab_operations,
    operations,
    rosters,
)

pytestmark = pytest.mark.unit

# ---- invariants ------------------------------------------------------------------------------


def open_sets(w: World) -> dict[str, dict[str, tuple[str, ...]]]:
    return {v.agent.id: dict(v.open) for v in w.store.agents(TENANT)}


def check_single_holder_and_replay(w: World) -> None:
    holders: dict[str, str] = {}
    for agent_id, by_channel in open_sets(w).items():
        for channel, ids in by_channel.items():
            for tid in ids:
                assert tid not in holders, f"{tid} held by {holders[tid]} and {agent_id}"
                holders[tid] = agent_id
                held = w.held.get(tid)
                assert held is not None and (held.agent, held.channel) == (agent_id, channel)
    assert holders == {tid: h.agent for tid, h in w.held.items()}


def check_capacity(w: World) -> None:
    for view in w.store.agents(TENANT):
        a = view.agent
        for channel in set(view.open) | set(a.capacity):
            cap = a.capacity.get(channel, 0)
            mine = [h for h in w.held.values() if h.agent == a.id and h.channel == channel]
            forced = sum(h.forced for h in mine)
            assert view.load(channel) == len(mine)
            assert view.load(channel) <= cap + forced, (a.id, channel, view.load(channel), cap)
            assert len(mine) - forced <= cap


def check_nothing_lost(w: World) -> None:
    waiting = {e.ticket_id for e in w.store.waiting(TENANT)}
    for tid in w.created:
        rec = w.store.ticket(TENANT, tid)
        if rec is None:
            continue  # every ticket.created for it was unassignable (no queue matched)
        assert rec.state in (WAITING, OFFERED, ASSIGNED, CLOSED), rec
        assert (tid in waiting) == (rec.state == WAITING), rec
        if rec.state in (OFFERED, ASSIGNED):
            assert w.held.get(tid) is not None and w.held[tid].agent == rec.agent, rec
        else:
            assert tid not in w.held, rec
    assert waiting <= set(w.created)


def check_waiting_order(w: World) -> None:
    entries = w.store.waiting(TENANT)
    assert [(e.score, e.ticket_id) for e in entries] == sorted(
        (e.score, e.ticket_id) for e in entries
    )
    for e in entries:
        assert e.score == waiting_score(e.priority, e.ticket_ts, w.aging_s)


def check_no_idle_agent_skips_work(w: World) -> None:
    """No available agent with room may take a ticket that is still waiting: in particular a
    ticket whose cool-off for a free agent has ended is not left waiting, and an agent whose
    shift started or whose wrap-up ended has pulled its work (their timers fire at the tick)."""
    reqs = w.stored_requests()
    waiting = [e for e in w.store.waiting(TENANT) if e.queue not in w.paused]
    for e in waiting:  # grab mode: pooled until claimed, unless its push fallback is due
        req, q = reqs[e.ticket_id], w.service.policy.queue(reqs[e.ticket_id].queue)
        after = q.push_after_s if q is not None and req.pull else None
        # (no queue of this policy overflows into a pull queue: the fallback counts from ts)
        assert after is None or w.now < req.ticket_ts + after * 1000, f"{req} past fallback"
    waiting = [e for e in waiting if not reqs[e.ticket_id].pull]
    for view in w.store.agents(TENANT):
        for e in waiting:
            req = reqs[e.ticket_id]
            recent = w.recent(req, view.agent.id)
            why = first_reason(view.agent, view.load(req.channel), req, w.now, recent)
            assert why is not None, f"{view.agent.id} idles while {e.ticket_id} waits"


def check_hours_cooloffs_and_fair_shares(w: World, decisions: list[Decision]) -> None:
    """Routing (not a supervisor) never gives a ticket to an agent off shift, too close to its
    shift's end for the channel, wrapping up or cooling off for that ticket, and never more
    new tickets of a queue with a fairness limit per window than the limit."""
    reqs = w.stored_requests()
    agents: dict[str, Agent] = {v.agent.id: v.agent for v in w.store.agents(TENANT)}
    for d in decisions:
        if d.kind not in ("assigned", "offered") or d.duplicate or d.step == "accepted":
            continue
        req, agent = reqs[d.ticket_id], agents[str(d.agent)]
        assert hours_reason(agent, req, w.now) is None, (d, agent)
        assert not cooling(req.cooloff, agent.id, w.now), (d, req.cooloff)
        if req.fair_max:
            given = w.given.setdefault((req.queue, agent.id), {})
            given[d.ticket_id] = w.now
            in_window = [t for t, at in given.items() if at > w.now - req.fair_window_ms]
            assert len(in_window) <= req.fair_max, (d, in_window)


def check_pulls_took_the_most_urgent(w: World, decisions: list[Decision]) -> None:
    """Among waiting tickets an agent may take, none is more urgent than one it just pulled."""
    reqs = w.stored_requests()
    agents: dict[str, Agent] = {v.agent.id: v.agent for v in w.store.agents(TENANT)}
    waiting = [e for e in w.store.waiting(TENANT) if e.queue not in w.paused]
    last: dict[str, tuple[float, str]] = {}
    for d in decisions:
        if d.kind not in ("assigned", "offered") or not d.step.endswith("|pull"):
            continue
        key = (waiting_score(d.priority, d.ticket_ts, w.aging_s), d.ticket_id)
        agent_id = str(d.agent)
        assert key > last.get(agent_id, (float("-inf"), "")), "pulls out of order"
        last[agent_id] = key
        for e in waiting:
            req = reqs[e.ticket_id]
            if (e.score, e.ticket_id) >= key or req.channel != d.channel or req.pull:
                continue  # (a pooled ticket is claimed, never pulled)
            recent = w.recent(req, agent_id)
            why = reasons(agents[agent_id], 0, req, w.now, recent)
            why = [r for r in why if not r.startswith("capacity")]
            assert why, f"{agent_id} pulled {d.ticket_id} before more urgent {e.ticket_id}"


def check_claims(w: World, op: tuple[Any, ...], decisions: list[Decision]) -> None:
    """Grab mode: a pooled ticket is only ever claimed, never pushed or pulled; two claims of
    one ticket never both win (the loser gets a rejected decision naming it); a claimed
    ticket is assigned, never offered, and within the claim limit."""
    won: dict[str, str] = {}
    reqs = w.stored_requests()
    for d in decisions:
        if d.kind in ("assigned", "offered") and not d.duplicate and d.step != "accepted":
            claimed = d.step.endswith("|claim")
            assert claimed or not reqs[d.ticket_id].pull, f"pooled ticket given: {d}"
        if d.step.endswith("|claim") and d.kind != "rejected" and not d.duplicate:
            assert d.kind == "assigned", d
            assert d.ticket_id not in won, f"{d.ticket_id} claimed by {won} and {d.agent}"
            won[d.ticket_id] = str(d.agent)
            req = reqs[d.ticket_id]
            if req.claim_limit:
                mine = [
                    t for t, h in w.held.items() if h.agent == d.agent and reqs[t].queue == d.queue
                ]
                assert len(mine) <= req.claim_limit, (d, mine)
    known = {v.agent.id for v in w.store.agents(TENANT)}
    racers = {w.agent_id(i) for i in op[2:]} if op[0] == "race" else set()
    if len(racers) == 2 and racers <= known and won:  # the other one hears it lost
        losers = [d for d in decisions if d.kind == "rejected" and d.agent not in won.values()]
        assert losers, decisions


def open_tickets(w: World, agent_id: str) -> dict[str, str]:
    """The agent's open tickets, each with its queue."""
    ids = [tid for tids in open_sets(w).get(agent_id, {}).values() for tid in tids]
    return {tid: rec.queue for tid in ids if (rec := w.store.ticket(TENANT, tid)) is not None}


def check_logout_handover(w: World, agent_id: str, before: dict[str, str]) -> None:
    """Handover loses nothing: each ticket the agent held before its logout is, in a queue with
    ``on_logout: requeue``, afterwards with another agent or waiting; in a ``keep`` queue still
    with it. (Loads equal open tickets: check_capacity.)"""
    policy = w.service.policy
    for tid, queue in before.items():
        rec = w.store.ticket(TENANT, tid)
        assert rec is not None, tid
        if moves(policy.queue(queue), CAUSE_LOGOUT):
            assert rec.state == WAITING or rec.agent not in (None, agent_id), rec
        else:
            assert (rec.state, rec.agent) in ((OFFERED, agent_id), (ASSIGNED, agent_id)), rec


def check_all(w: World, op: tuple[Any, ...], decisions: list[Decision]) -> None:
    w.replay(decisions)
    check_single_holder_and_replay(w)
    check_capacity(w)
    check_nothing_lost(w)
    check_waiting_order(w)
    check_no_idle_agent_skips_work(w)
    check_hours_cooloffs_and_fair_shares(w, decisions)
    check_claims(w, op, decisions)
    if op[0] != "advance":  # one event: its pulls come last, against an unchanged queue
        check_pulls_took_the_most_urgent(w, decisions)


# ---- properties ------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(
    roster=rosters,
    logged_out=st.lists(st.booleans(), min_size=len(AGENTS), max_size=len(AGENTS)),
    aging_s=st.sampled_from([None, 20.0]),
    ops=st.lists(operations, min_size=20, max_size=80),
)
def test_dispatch_guarantees_hold_after_every_event(
    roster: list[dict[str, Any]],
    logged_out: list[bool],
    aging_s: float | None,
    ops: list[tuple[Any, ...]],
) -> None:
    # Given a random roster, most agents logged in
    w = World({AGENTS[i]: p for i, p in enumerate(roster)}, aging_s)
    for i in range(len(w.roster)):
        if not logged_out[i]:
            check_all(w, ("login",), w.apply(("login", i)))
    # When a random stream of tickets, lifecycle events, agent changes, commands,
    # duplicates and clock advances is applied
    for op in ops:
        agent = w.agent_id(op[1]) if op[0] == "logout" else ""
        before = open_tickets(w, agent) if agent else {}
        decisions = w.apply(op)
        # Then after every step the guarantees hold
        check_all(w, op, decisions)
        if agent:  # and a logout handed over (or kept) every ticket of its agent
            check_logout_handover(w, agent, before)


@PROPERTY_SETTINGS
@given(roster=rosters, ops=st.lists(grab_operations, min_size=20, max_size=60))
def test_grab_mode_guarantees_hold_after_every_event(
    roster: list[dict[str, Any]], ops: list[tuple[Any, ...]]
) -> None:
    # Given a random roster, all logged in, and a center with pull queues (one with a claim
    # limit, one falling back to push after 10 s) beside push queues
    w = World({AGENTS[i]: p for i, p in enumerate(roster)}, None)
    for i in range(len(w.roster)):
        check_all(w, ("login",), w.apply(("login", i)))
    # When tickets arrive and agents claim (the best, a named ticket, two at once), resolve,
    # change status, and time passes
    for op in ops:
        decisions = w.apply(op)
        # Then a pooled ticket is only ever claimed, two claims never both win, and no free
        # eligible agent leaves a ticket waiting whose push fallback is due (nor any other)
        check_all(w, op, decisions)
