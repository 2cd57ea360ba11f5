"""The audit's checks, one function per guarantee (``engine.dispatch.audit`` has the inputs,
the fold and the report). Each docstring is the check's exact definition.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.dispatch.audit import Folded, Inputs, Key, StoreState, key_of, named, says, seq_of
from engine.dispatch.audit_info import compaction, resolved_open, stranded, tallies
from engine.dispatch.audit_report import Check, Report, when
from engine.dispatch.reconcile import OPEN_KINDS, agent_drift
from engine.ports import ASSIGNED, GRAB_STEP_CLAIMED, OFFERED

ROUTING_KINDS = ("assigned", "offered", "queued", "escalated")
SUPERVISOR_KINDS = ("reassigned", "rejected", "paused", "resumed")

MEANINGS = {
    "decided": "every valid ticket.created older than the grace period has a decision",
    "one_agent": "no ticket is open with two agents (open sets, ticket records, decisions)",
    "capacity": "no unforced placement over capacity, in the decisions and in Redis",
    "drift": "Redis open sets and waiting queues equal the decisions folded by highest seq",
    "priority_order": "no waiting ticket behind a less urgent one that is not older (per queue)",
    "last_record": "each ticket's last versioned record carries its highest seq",
    "explained": "routing decisions name queue, strategy, candidates, filters; "
    "supervisor actions name the supervisor",
    "stranded": "waiting tickets an available agent with room and their skills could take",
    "compaction": "tickets whose key's last record is not their latest state",
    "resolved_open": "tickets whose last lifecycle event closed them, left open or waiting",
    "dead_letters": "dead-lettered records by reason (every tenant)",
    "decisions": "decisions by kind",
    "final_states": "tickets by the kind of their latest decision",
}


def check_all(
    inputs: Inputs,
    folded: Folded,
    states: Mapping[str, StoreState],
    *,
    now_ms: int,
    grace_ms: int,
    examples: int,
) -> Report:
    def new(name: str, informational: bool = False) -> Check:
        return Check(name, MEANINGS[name], informational, limit=examples)

    checks = [new(n) for n in ("decided", "one_agent", "capacity", "drift", "priority_order")]
    checks += [new("last_record"), new("explained")]
    checks += [new(n, True) for n in ("stranded", "compaction", "resolved_open")]
    checks += [new(n, True) for n in ("dead_letters", "decisions", "final_states")]
    c = {ch.name: ch for ch in checks}
    decided(c["decided"], inputs.created, folded, now_ms - grace_ms)
    one_agent(c["one_agent"], folded, states)
    capacity(c["capacity"], inputs, folded, states)
    drift(c["drift"], folded, states)
    priority_order(c["priority_order"], states)
    last_record(c["last_record"], folded)
    explained(c["explained"], inputs, folded)
    stranded(c["stranded"], states)
    compaction(c["compaction"], folded)
    resolved_open(c["resolved_open"], inputs.lifecycle, folded, now_ms - grace_ms)
    tallies(c["dead_letters"], c["decisions"], c["final_states"], inputs, folded)
    figures = {
        "tickets": len({key_of(ev) for ev in inputs.created}),
        "decisions": len(inputs.decisions),
        "lifecycle": len(inputs.lifecycle),
        "dead_letters": len(inputs.dead_letters),
        "agents": sum(len(s.agents) for s in states.values()),
        "waiting": sum(len(s.waiting) for s in states.values()),
    }
    return Report(checks, sorted(states), figures, now_ms, grace_ms)


def _where(rec: Any) -> str:
    if rec is None:
        return "no ticket record"
    return f"record {rec.state}" + (f" with {rec.agent}" if rec.agent else "")


def decided(check: Check, created: Sequence[Mapping[str, Any]], folded: Folded, cut: int) -> None:
    """Every ticket (tenant, id) with a valid ``ticket.created`` whose earliest ``ts`` is at or
    before ``now - grace`` has at least one decision on dispatch.assignments: any kind but
    ``rejected`` (which answers a command), a duplicate included. Younger tickets are counted
    in ``counts["within grace"]``, not checked."""
    first: dict[Key, int] = {}
    for ev in created:
        key, ts = key_of(ev), int(ev.get("ts") or 0)
        first[key] = min(ts, first.get(key, ts))
    young = 0
    for key, ts in sorted(first.items()):
        if ts > cut:
            young += 1
            continue
        check.checked += 1
        t = folded.tickets.get(key)
        if t is None or t.records == 0:
            check.fail(named(key), f"created {when(ts)}, no decision")
    if young:
        check.counts["within grace"] = young


def one_agent(check: Check, folded: Folded, states: Mapping[str, StoreState]) -> None:
    """No ticket is open with two agents. Per ticket open in Redis (in some agent's open set)
    or in the decisions (its latest versioned decision is assigned, offered or reassigned):
    it is in at most one agent's open set of its tenant; the agent whose set holds it is the
    one its ticket record names, in state offered or assigned; and when the decisions leave it
    open with an agent while its record is offered or assigned, both name the same agent.
    (Open in the decisions but not in Redis at all is drift.)"""
    for tenant, st in sorted(states.items()):
        sets: dict[str, list[tuple[str, str]]] = {}  # ticket -> [(agent, channel)]
        for v in st.agents:
            for ch, ids in v.open.items():
                for tid in ids:
                    sets.setdefault(tid, []).append((v.agent.id, ch))
        expected = {tid: e for (t, tid), e in folded.expected_of(tenant).items()}
        tickets = set(sets) | {tid for tid, e in expected.items() if e.state == "open"}
        for tid in sorted(tickets):
            check.checked += 1
            rec = st.records.get(tid)
            holders = sets.get(tid, [])
            problems = []
            if len(holders) > 1:
                named = " and ".join(f"{a} ({ch})" for a, ch in holders)
                problems.append(f"in the open sets of {named}")
            for agent, ch in holders:
                if rec is None or rec.state not in (OFFERED, ASSIGNED) or rec.agent != agent:
                    problems.append(f"in {agent}'s open set on {ch}, {_where(rec)}")
            e = expected.get(tid)
            if (
                e is not None
                and e.state == "open"
                and rec is not None
                and rec.state in (OFFERED, ASSIGNED)
                and rec.agent != e.agent
            ):
                problems.append(f"decisions: {says(e)}; Redis: {_where(rec)}")
            if problems:
                check.fail(f"{tenant}/{tid}", "; ".join(problems))


def capacity(
    check: Check, inputs: Inputs, folded: Folded, states: Mapping[str, StoreState]
) -> None:
    """No placement over capacity. In the decisions: every non-duplicate, unforced assigned,
    offered or reassigned decision that placed a ticket (it records ``load`` > 0; an accepted
    offer records none) has ``load <= capacity``. In Redis: per agent and channel with open
    tickets, ``load <= max(capacity now, highest capacity recorded by the decisions that placed
    its open tickets there) + tickets a forced reassign placed there`` (the recorded capacity
    covers a capacity lowered after the tickets were placed)."""
    for p, kind in zip(inputs.decisions, folded.kinds, strict=True):
        ev = p.event
        if kind not in OPEN_KINDS or ev.get("duplicate") or ev.get("forced"):
            continue
        load, cap = int(ev.get("load") or 0), int(ev.get("capacity") or 0)
        if load <= 0:
            continue
        check.checked += 1
        if load > cap:
            check.fail(
                named(key_of(ev)),
                f"{kind} to {ev.get('agent')} on {ev.get('channel')} at load {load} > "
                f"capacity {cap} (seq {seq_of(ev)}, partition {p.partition} offset {p.offset})",
            )
    for tenant, st in sorted(states.items()):
        for v in st.agents:
            for ch, ids in sorted(v.open.items()):
                check.checked += 1
                now = v.agent.capacity.get(ch, 0)
                caps, forced = [now], 0
                for tid in ids:
                    t = folded.tickets.get((tenant, tid))
                    if t is None or t.holder != v.agent.id:
                        continue
                    forced += t.forced
                    if t.place_cap is not None:
                        caps.append(t.place_cap)
                if len(ids) > max(caps) + forced:
                    check.fail(
                        f"{tenant}/{v.agent.id}",
                        f"{len(ids)} open on {ch} {list(ids[:5])} > capacity {now} "
                        f"(highest recorded {max(caps)}) + {forced} forced",
                    )


def drift(check: Check, folded: Folded, states: Mapping[str, StoreState]) -> None:
    """Redis equals the decisions folded by highest seq (``reconcile.expected_state``): every
    agent's open tickets are exactly those the decisions leave open with it
    (``reconcile.agent_drift``), and the waiting tickets are exactly those the decisions leave
    waiting, each in the queue of its latest decision. One violation per ticket; checked:
    tickets open or waiting in either."""
    for tenant, st in sorted(states.items()):
        expected = folded.expected_of(tenant)
        by_id = {tid: e for (_, tid), e in expected.items()}
        bad: dict[str, list[str]] = {}
        for d in agent_drift(tenant, expected, st.agents):
            for tid in d.missing:
                bad.setdefault(tid, []).append(
                    f"decisions: {says(by_id.get(tid))}; Redis: not in {d.agent}'s open set, "
                    f"{_where(st.records.get(tid))}"
                )
            for tid in d.extra:
                bad.setdefault(tid, []).append(
                    f"Redis: in {d.agent}'s open set; decisions: {says(by_id.get(tid))}"
                )
        want = {tid: e.queue for tid, e in by_id.items() if e.state == "waiting"}
        have = {w.ticket_id: w.queue for w in st.waiting}
        for tid in sorted(set(want) | set(have)):
            if want.get(tid) != have.get(tid):
                where = f"waiting in {have[tid]}" if tid in have else "not waiting"
                bad.setdefault(tid, []).append(f"Redis: {where}; decisions: {says(by_id.get(tid))}")
        opened = {tid for v in st.agents for ids in v.open.values() for tid in ids}
        check.checked += len(
            opened | set(have) | {t for t, e in by_id.items() if e.state in ("open", "waiting")}
        )
        for tid in sorted(bad):
            check.fail(f"{tenant}/{tid}", "; ".join(bad[tid]))


def priority_order(check: Check, states: Mapping[str, StoreState]) -> None:
    """Within each queue's waiting entries in service order (Redis), no ticket stands behind
    another that is less urgent (a larger priority number) and not older (``ticket_ts`` at
    or after its own). Holds under both waiting scores (with and without aging)."""
    for tenant, st in sorted(states.items()):
        newest: dict[str, dict[int, Any]] = {}  # queue -> priority -> newest entry so far
        for e in st.waiting:
            check.checked += 1
            seen = newest.setdefault(e.queue, {})
            ahead = next(
                (
                    a
                    for p, a in sorted(seen.items(), reverse=True)
                    if p > e.priority and a.ticket_ts >= e.ticket_ts
                ),
                None,
            )
            if ahead is not None:
                check.fail(
                    f"{tenant}/{e.ticket_id}",
                    f"queue {e.queue}: priority {e.priority} created {when(e.ticket_ts)} waits "
                    f"behind {ahead.ticket_id} (priority {ahead.priority}, created "
                    f"{when(ahead.ticket_ts)})",
                )
            cur = seen.get(e.priority)
            if cur is None or e.ticket_ts > cur.ticket_ts:
                seen[e.priority] = e


def last_record(check: Check, folded: Folded) -> None:
    """For every ticket with versioned decisions, the last of them on dispatch.assignments
    (highest offset among the ticket's versioned records of one partition and key) carries
    the ticket's highest seq, in at least one (partition, key) the ticket's records use
    (a key change leaves an older key behind). Duplicates, rejected and unassignable
    decisions are not versioned and are ignored here (see ``compaction``)."""
    for key in sorted(folded.tickets):
        t = folded.tickets[key]
        if t.max_seq == 0:
            continue
        check.checked += 1
        if any(seq == t.max_seq for _, seq in t.tails.values()):
            continue
        lasts = [
            f"partition {part} ends at offset {offset} with seq {seq}"
            for (part, _), (offset, seq) in sorted(t.tails.items(), key=lambda g: g[0][0])
        ]
        check.fail(
            named(key),
            f"{'; '.join(lasts)}; seq {t.max_seq} is at partition {t.max_at[0]} "
            f"offset {t.max_at[1]}",
        )


def explained(check: Check, inputs: Inputs, folded: Folded) -> None:
    """Every record on dispatch.assignments is a valid decision (tombstones aside: an
    invalid one is a violation, and no other check sees it); every routing decision
    (assigned, offered, queued, escalated) has a non-empty ``queue`` and ``strategy``, an
    integer ``candidates`` and a ``filtered`` map; every supervisor action (reassigned,
    rejected, a queue paused or resumed) has a non-empty ``supervisor``, but an agent's refused
    claim (grab mode: its step ends ``GRAB_STEP_CLAIMED``) names the agent instead."""
    for part, offset, why in inputs.invalid:
        check.checked += 1
        check.fail(f"partition {part} offset {offset}", f"not a valid decision: {why}")
    for p, kind in zip(inputs.decisions, folded.kinds, strict=True):
        ev = p.event
        missing = []
        if kind in ROUTING_KINDS:
            missing = [f for f in ("queue", "strategy") if not ev.get(f)]
            if not isinstance(ev.get("candidates"), int):
                missing.append("candidates")
            if not isinstance(ev.get("filtered"), Mapping):
                missing.append("filtered")
        elif kind in SUPERVISOR_KINDS:
            claim = str(ev.get("step", "")).endswith(GRAB_STEP_CLAIMED)
            who = "agent" if claim else "supervisor"
            missing = [] if ev.get(who) else [who]
        else:
            continue
        check.checked += 1
        if missing:
            check.fail(
                named(key_of(ev)),
                f"{kind} (seq {seq_of(ev)}, partition {p.partition} offset {p.offset}) "
                f"without {', '.join(missing)}",
            )
