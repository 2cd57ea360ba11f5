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
    kind: str = ""
    seq: int = 0


def expected_state(decisions: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Expected]:
    """Fold decisions into ``{(tenant, ticket): Expected}``: per ticket, the decision with
    the highest ``seq`` (the store's version; a re-published or stale duplicate cannot win),
    the later one in topic order on a tie. Rejected commands change nothing."""
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
        seq = int(d.get("seq") or 0)
        prev = out.get(key)
        if prev is not None and seq < prev.seq:
            continue
        agent = d.get("agent") if state == "open" else None
        queue, channel = str(d.get("queue", "")), str(d.get("channel", ""))
        out[key] = Expected(state, agent, queue, channel, kind, seq)
    return out


AGENT_FIELDS = ("status", "skills", "regions", "team", "capacity", "performance", "schedule")


def agent_fields(events: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Fold ``agents.events`` (in order) into each agent's latest fields."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for ev in events:
        key = (str(ev.get("tenant", "default")), str(ev["id"]))
        fields = out.setdefault(key, {})
        fields.update({k: ev[k] for k in AGENT_FIELDS if k in ev})
        if ev["type"] == "agent.login" and "status" not in ev:
            fields["status"] = "available"
        elif ev["type"] == "agent.logout":
            fields["status"] = "offline"
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
