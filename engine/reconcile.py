"""Reconcile: compare the store's open tickets with the decisions topic.

The compacted ``dispatch.assignments`` topic holds, per ticket id (its key), the
decisions in order; the last one tells where the ticket is. Pure functions here; the
composition root (``consumers/reconcile.py``) reads the topic and the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.ports import AgentView

OPEN_KINDS = frozenset({"assigned", "offered", "reassigned"})
WAITING_KINDS = frozenset({"queued", "escalated"})
CLOSED_KINDS = frozenset({"released", "unassignable"})


@dataclass(frozen=True, slots=True)
class Expected:
    """Where the decisions say a ticket is."""

    state: str  # open | waiting | closed
    agent: str | None
    queue: str
    channel: str


def expected_state(decisions: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Expected]:
    """Fold decisions (in topic order per ticket) into ``{(tenant, ticket): Expected}``.

    Rejected commands change nothing; every other kind sets the ticket's place.
    """
    out: dict[tuple[str, str], Expected] = {}
    for d in decisions:
        kind = str(d["type"]).removeprefix("decision.")
        key = (str(d.get("tenant", "default")), str(d["id"]))
        if kind in OPEN_KINDS:
            state = "open"
        elif kind in WAITING_KINDS:
            state = "waiting"
        elif kind in CLOSED_KINDS:
            state = "closed"
        else:
            continue
        agent = d.get("agent") if state == "open" else None
        out[key] = Expected(state, agent, str(d.get("queue", "")), str(d.get("channel", "")))
    return out


@dataclass
class AgentDrift:
    agent: str
    missing: list[str] = field(default_factory=list)  # decided open, not in the store
    extra: list[str] = field(default_factory=list)  # in the store, not decided open

    @property
    def ok(self) -> bool:
        return not self.missing and not self.extra


def agent_drift(
    tenant: str, expected: Mapping[tuple[str, str], Expected], views: Sequence[AgentView]
) -> list[AgentDrift]:
    """Per agent, the difference between the store's open tickets and the decisions."""
    want: dict[str, set[str]] = {}
    for (t, tid), e in expected.items():
        if t == tenant and e.state == "open" and e.agent:
            want.setdefault(e.agent, set()).add(tid)
    have = {v.agent.id: {tid for ids in v.open.values() for tid in ids} for v in views}
    out = []
    for agent in sorted(set(want) | set(have)):
        w, h = want.get(agent, set()), have.get(agent, set())
        out.append(AgentDrift(agent, sorted(w - h), sorted(h - w)))
    return out
