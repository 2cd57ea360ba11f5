"""Audit: every dispatch guarantee checked against the topics and the store, with counts
and examples of violations (``dispatch audit``). This module: the inputs, the fold and the
store read; the guarantees are in ``audit_checks``, the informational checks in
``audit_info``, the report and its rendering in ``audit_report``.

Pure apart from the ``AgentStore`` port: the composition root (``consumers/audit.py``)
reads the topics and decodes them into :class:`Inputs` (each decision with its partition,
offset and key on ``dispatch.assignments``); :func:`audit` folds the decisions, reads what it
needs from the store (:func:`read_store`: agents with their open tickets, waiting entries,
and the records of open tickets) and runs every check (``audit_checks.check_all``, imported
when called: it imports this module).

The fold. A decision is *versioned* when it bumps its ticket's ``seq``: every decision the
store makes about a ticket it knows, except duplicates (they repeat the current ``seq``) and
``rejected`` ones (a refused supervisor command changes nothing and carries ``seq`` 0), and
except ``unassignable`` (the ticket never entered the store; ``seq`` 0). Per ticket, the
versioned decision with the highest ``seq`` is the ticket's state (``reconcile.expected_state``
folds the same way, later in topic order on a tie).

The audit is exact on a quiet system: every input consumed, every decision flushed (the
outbox re-publishes an orphaned one after ``OUTBOX_GRACE_MS``). On a live one the topics and
the store are read moments apart, so a decision made in between can show up as drift; a real
violation is still there on the next run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from engine.core.handover import is_queue_decision
from engine.dispatch.audit_report import DEFAULT_EXAMPLES, Check, Example, Report, render, when
from engine.dispatch.reconcile import OPEN_KINDS, Expected, expected_state
from engine.ports import AgentStore, AgentView, TicketRecord, WaitingEntry

__all__ = [
    "DEFAULT_EXAMPLES",
    "DEFAULT_GRACE_MS",
    "Check",
    "Example",
    "Folded",
    "Inputs",
    "Placed",
    "Report",
    "StoreState",
    "TicketFold",
    "audit",
    "fold",
    "read_store",
    "render",
    "when",
]

Key = tuple[str, str]  # (tenant, ticket id)
Group = tuple[int, bytes | None]  # (partition, key): the records compaction reduces to one

DEFAULT_GRACE_MS = 30_000
# Waiting tickets whose records are read for the informational "stranded" check, per tenant.
STRANDED_READ_LIMIT = 1_000


@dataclass(frozen=True, slots=True)
class Placed:
    """One decoded decision and where it sits on ``dispatch.assignments``. Records of one
    ``(partition, key)`` are in offset order; with every offset 0, list order is topic order."""

    event: Mapping[str, Any]
    partition: int = 0
    offset: int = 0
    key: bytes | None = None


@dataclass(frozen=True)
class Inputs:
    """What the topics hold, decoded (valid events only)."""

    created: Sequence[Mapping[str, Any]] = ()  # ticket.created events (tickets.events)
    decisions: Sequence[Placed] = ()  # dispatch.assignments, in topic order per partition
    lifecycle: Sequence[Mapping[str, Any]] = ()  # tickets.lifecycle, in topic order
    dead_letters: Sequence[Mapping[str, str]] = ()  # the headers of each dead-lettered record
    # Records of dispatch.assignments that are not valid decisions: (partition, offset, why).
    invalid: Sequence[tuple[int, int, str]] = ()

    def tenants(self) -> set[str]:
        evs = [*self.created, *(p.event for p in self.decisions), *self.lifecycle]
        return {tenant_of(ev) for ev in evs}

    def only(self, tenant: str) -> Inputs:
        """The events of one tenant (dead letters stay: their bytes may not even decode)."""
        return replace(
            self,
            created=[ev for ev in self.created if tenant_of(ev) == tenant],
            decisions=[p for p in self.decisions if tenant_of(p.event) == tenant],
            lifecycle=[ev for ev in self.lifecycle if tenant_of(ev) == tenant],
        )


@dataclass(frozen=True)
class StoreState:
    """One tenant's store, as read for the audit."""

    agents: Sequence[AgentView] = ()
    waiting: Sequence[WaitingEntry] = ()  # in service order
    records: Mapping[str, TicketRecord | None] = field(default_factory=dict)


@dataclass(slots=True)
class TicketFold:
    """What the decisions say of one ticket (see the module docstring for *versioned*)."""

    records: int = 0  # decisions about it, rejected ones excluded
    max_seq: int = 0  # highest seq of its versioned decisions (0: none)
    max_at: tuple[int, int] = (0, 0)  # (partition, offset) of the first record with max_seq
    holder: str | None = None  # the agent holding it after its latest versioned decision
    place_cap: int | None = None  # capacity recorded by the decision that placed it there
    forced: bool = False  # it got there by a supervisor's forced reassign
    tails: dict[Group, tuple[int, int]] = field(default_factory=dict)  # -> (offset, seq)
    groups: set[Group] = field(default_factory=set)  # every group with one of its records


@dataclass
class Folded:
    tickets: dict[Key, TicketFold]
    expected: dict[Key, Expected]  # engine.dispatch.reconcile's fold (highest seq wins)
    tails: dict[Group, Placed]  # the last record of each (partition, key): what compaction keeps
    kinds: list[str] = field(default_factory=list)  # each decision's kind, aligned with them

    def expected_of(self, tenant: str) -> dict[Key, Expected]:
        return {k: e for k, e in self.expected.items() if k[0] == tenant}


def tenant_of(ev: Mapping[str, Any]) -> str:
    return str(ev.get("tenant", "default"))


def key_of(ev: Mapping[str, Any]) -> Key:
    return (str(ev.get("tenant", "default")), str(ev["id"]))


def kind_of(ev: Mapping[str, Any]) -> str:
    return str(ev["type"]).removeprefix("decision.")


def seq_of(ev: Mapping[str, Any]) -> int:
    return int(ev.get("seq") or 0)


def named(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


def says(e: Expected | None) -> str:
    """What the decisions say of a ticket, for evidence."""
    if e is None:
        return "no decision"
    held = f" with {e.agent}" if e.state == "open" else f" in {e.queue}" if e.queue else ""
    return f"{e.state}{held} ({e.kind}, seq {e.seq})"


def versioned(ev: Mapping[str, Any]) -> bool:
    """Whether the decision bumped its ticket's seq (module docstring)."""
    return not ev.get("duplicate") and kind_of(ev) != "rejected" and seq_of(ev) > 0


def fold(decisions: Sequence[Placed]) -> Folded:
    """Fold the decisions per ticket: versions, holder, where each key's records end."""
    tickets: dict[Key, TicketFold] = {}
    history: dict[Key, list[tuple[int, int, Mapping[str, Any]]]] = {}
    tails: dict[Group, Placed] = {}
    kinds: list[str] = []
    for i, p in enumerate(decisions):
        ev = p.event
        kind = kind_of(ev)
        kinds.append(kind)
        group = (p.partition, p.key)
        tail = tails.get(group)
        if tail is None or p.offset >= tail.offset:
            tails[group] = p
        if kind == "rejected" or is_queue_decision(ev):
            continue  # a refused command, a queue's pause/resume: not a ticket's state
        key = (str(ev.get("tenant", "default")), str(ev["id"]))
        t = tickets.get(key)
        if t is None:
            t = tickets[key] = TicketFold()
        t.records += 1
        t.groups.add(group)
        seq = int(ev.get("seq") or 0)
        if seq <= 0 or ev.get("duplicate"):
            continue  # not versioned
        history.setdefault(key, []).append((seq, i, ev))
        last = t.tails.get(group)
        if last is None or p.offset >= last[0]:
            t.tails[group] = (p.offset, seq)
        if seq > t.max_seq:
            t.max_seq, t.max_at = seq, (p.partition, p.offset)
    for key, versions in history.items():
        if len(versions) > 1:
            versions.sort(key=lambda v: (v[0], v[1]))
        t = tickets[key]
        for _, i, ev in versions:
            agent = ev.get("agent")
            kind = kinds[i]
            if kind not in OPEN_KINDS or not agent:
                t.holder, t.place_cap, t.forced = None, None, False
                continue
            if int(ev.get("load") or 0) > 0:  # a placement (an accepted offer records no load)
                t.place_cap = int(ev.get("capacity") or 0)
                t.forced = kind == "reassigned" and bool(ev.get("forced"))
            elif agent != t.holder:
                t.place_cap, t.forced = None, False
            t.holder = str(agent)
    return Folded(tickets, expected_state(p.event for p in decisions), tails, kinds)


def read_store(store: AgentStore, tenants: Iterable[str], folded: Folded) -> dict[str, StoreState]:
    """Per tenant: agents, waiting entries, and the records of every ticket open in the store
    or in the decisions (plus the first waiting ones when some agent has room: "stranded")."""
    open_by_tenant: dict[str, set[str]] = {}
    for (tenant, tid), e in folded.expected.items():
        if e.state == "open":
            open_by_tenant.setdefault(tenant, set()).add(tid)
    out: dict[str, StoreState] = {}
    for tenant in tenants:
        views = store.agents(tenant)
        waiting = store.waiting(tenant)
        want = {tid for v in views for ids in v.open.values() for tid in ids}
        want |= open_by_tenant.get(tenant, set())
        if any(has_room(v) for v in views):
            want |= {w.ticket_id for w in waiting[:STRANDED_READ_LIMIT]}
        records = {tid: store.ticket(tenant, tid) for tid in sorted(want)}
        out[tenant] = StoreState(views, waiting, records)
    return out


def has_room(view: AgentView, channel: str | None = None) -> bool:
    """Available with spare capacity (on ``channel``, or on any channel)."""
    if view.agent.status != "available":
        return False
    caps = view.agent.capacity
    channels = [channel] if channel is not None else list(caps)
    return any(view.load(ch) < caps.get(ch, 0) for ch in channels)


def audit(
    inputs: Inputs,
    store: AgentStore,
    *,
    now_ms: int,
    grace_ms: int = DEFAULT_GRACE_MS,
    examples: int = DEFAULT_EXAMPLES,
    tenant: str | None = None,
) -> Report:
    """Run every check on ``inputs`` and ``store`` (one tenant, or every tenant the store or
    the topics know)."""
    from engine.dispatch.audit_checks import check_all

    if tenant is not None:
        inputs = inputs.only(tenant)
    tenants = [tenant] if tenant is not None else sorted(set(store.tenants()) | inputs.tenants())
    folded = fold(inputs.decisions)
    states = read_store(store, tenants, folded)
    return check_all(inputs, folded, states, now_ms=now_ms, grace_ms=grace_ms, examples=examples)
