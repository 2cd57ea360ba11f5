"""The audit's informational checks: they count and show examples, and never fail
(``engine.dispatch.audit_checks`` has the guarantees). Each docstring says why it is not a
violation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from engine.core.handover import is_queue_decision
from engine.dispatch.audit import (
    Folded,
    Inputs,
    Key,
    StoreState,
    has_room,
    key_of,
    kind_of,
    named,
    says,
    seq_of,
    versioned,
)
from engine.dispatch.audit_report import Check, when

RELEASE_EVENTS = ("ticket.resolved", "ticket.closed", "ticket.cancelled")


def stranded(check: Check, states: Mapping[str, StoreState]) -> None:
    """Informational. Waiting tickets (whose records were read: the first
    ``STRANDED_READ_LIMIT`` per tenant, when some agent has room) that an available agent
    with spare capacity on the ticket's channel, every skill of the ticket event at its level,
    and without a cool-off entry for the ticket (running or not: the audit has no clock) could
    take. Not a violation: the store does not expose
    paused queues, the queue's own skills, the region ladder step or a preferred agent, and an
    agent pulls from the first ``WAIT_SCAN_LIMIT`` entries of each queue only."""
    for tenant, st in sorted(states.items()):
        roomy = [v for v in st.agents if has_room(v)]
        for e in st.waiting:
            rec = st.records.get(e.ticket_id)
            if rec is None:
                continue
            check.checked += 1
            skills = {str(k): int(v) for k, v in (rec.ticket.get("skills") or {}).items()}
            able = [
                v.agent.id
                for v in roomy
                if has_room(v, rec.channel)
                and all(v.agent.id != aid for aid, _ in rec.cooloff)
                and all(v.agent.skills.get(s, 0) >= lvl for s, lvl in skills.items())
            ]
            if able:
                check.note(
                    f"{tenant}/{e.ticket_id}",
                    f"waiting in {e.queue} on {rec.channel} while {', '.join(able[:3])} "
                    f"{'has' if len(able) == 1 else 'have'} room",
                )


def compaction(check: Check, folded: Folded) -> None:
    """Informational. A compacted topic keeps only the last record of each (partition,
    key). Tickets none of whose keys ends with a record of theirs that carries their latest
    state (not rejected, seq equal to their highest): after compaction the decisions no
    longer say where they are. Causes: a rejected command, a stale duplicate or another
    tenant's ticket with the same id (same key) published after the latest decision."""
    survives: dict[Key, int] = {}
    for p in folded.tails.values():
        if kind_of(p.event) != "rejected" and not is_queue_decision(p.event):
            key = key_of(p.event)
            survives[key] = max(survives.get(key, -1), seq_of(p.event))
    for key in sorted(folded.tickets):
        t = folded.tickets[key]
        check.checked += 1
        if survives.get(key, -1) >= t.max_seq:
            continue
        lasts = []
        for group in sorted(t.groups, key=lambda g: (g[0], g[1] or b"")):
            ev = folded.tails[group].event
            lasts.append(
                f"partition {group[0]} key {group[1]!r} ends with {kind_of(ev)} of "
                f"{named(key_of(ev))} seq {seq_of(ev)}"
                + (" (duplicate)" if ev.get("duplicate") else "")
            )
        check.note(named(key), f"latest seq {t.max_seq}; " + "; ".join(lasts))


def resolved_open(
    check: Check, lifecycle: Sequence[Mapping[str, Any]], folded: Folded, cut: int
) -> None:
    """Informational. Tickets whose last ``ticket.resolved/closed/cancelled/reopened``
    event (topic order) closes them, at or before ``now - grace``, while their latest
    decision leaves them open or waiting. Not a violation: the dispatcher ignores a release
    of a ticket it has not seen yet (tickets.events and tickets.lifecycle are not ordered
    with each other), so a resolution that overtakes its ticket.created leaves it open."""
    last: dict[Key, Mapping[str, Any]] = {}
    for ev in lifecycle:
        if ev["type"] in RELEASE_EVENTS or ev["type"] == "ticket.reopened":
            last[key_of(ev)] = ev
    for key in sorted(last):
        ev = last[key]
        if ev["type"] == "ticket.reopened" or int(ev.get("ts") or 0) > cut:
            continue
        check.checked += 1
        e = folded.expected.get(key)
        if e is not None and e.state in ("open", "waiting"):
            check.note(named(key), f"{ev['type']} at {when(int(ev['ts']))}; {says(e)}")


def tallies(dead: Check, decisions: Check, finals: Check, inputs: Inputs, folded: Folded) -> None:
    """Informational counts: dead letters by their ``reason`` header (examples: where each
    came from), decisions by kind (and how many were duplicates), tickets by the kind of
    their latest decision (``reconcile.expected_state``)."""
    for h in inputs.dead_letters:
        dead.checked += 1
        dead.counts[h.get("reason", "?")] = dead.counts.get(h.get("reason", "?"), 0) + 1
        dead.note(
            f"{h.get('source.topic', '?')}[{h.get('source.partition', '?')}]"
            f"@{h.get('source.offset', '?')}",
            f"{h.get('reason', '?')}: {h.get('detail', '')}"[:200],
        )
    kinds: Counter[str] = Counter(folded.kinds)
    for p, kind in zip(inputs.decisions, folded.kinds, strict=True):
        if p.event.get("duplicate"):
            kinds["(duplicates)"] += 1
        elif kind != "rejected" and not versioned(p.event):
            kinds["(unversioned)"] += 1
    decisions.checked = len(inputs.decisions)
    decisions.counts = dict(kinds)
    finals.checked = len(folded.expected)
    finals.counts = dict(Counter(e.kind for e in folded.expected.values()))
