"""Wallboard figures computed from the decision stream and the store."""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.core.policy import Policy
from engine.ports import AgentStore


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0 when empty)."""
    if not sorted_values:
        return 0.0
    k = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[k]


@dataclass
class Board:
    """Accumulates decisions; ``snapshot`` renders the current figures."""

    policy: Policy
    tenant: str
    tickets: int = 0
    dead_lettered: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    first_assign_s: dict[str, float] = field(default_factory=dict)
    sla: Counter[tuple[str, str]] = field(default_factory=Counter)  # (target, kind)
    _recent: deque[int] = field(default_factory=deque)

    def on_decision(self, d: Mapping[str, Any]) -> None:
        kind = d["type"].removeprefix("decision.")
        self.kinds[kind] += 1
        if kind in ("assigned", "offered") and d["id"] not in self.first_assign_s:
            wait_s = max(0, d["ts"] - d["ticket_ts"]) / 1000
            self.first_assign_s[d["id"]] = wait_s
            self._recent.append(d["ts"])

    def on_sla(self, ev: Mapping[str, Any]) -> None:
        """An SLA event from the tracker (duplicates after a crash carry the same id)."""
        self.sla[(ev["target"], ev["type"].removeprefix("sla."))] += 1

    def snapshot(self, store: AgentStore, now_ms: int) -> dict[str, Any]:
        while self._recent and self._recent[0] < now_ms - 5000:
            self._recent.popleft()
        waits = sorted(self.first_assign_s.values())
        waiting = store.waiting(self.tenant)
        per_queue = Counter(w.queue for w in waiting)
        oldest = {q: 0.0 for q in per_queue}
        for w in waiting:
            oldest[w.queue] = max(oldest[w.queue], (now_ms - w.ticket_ts) / 1000)
        views = store.agents(self.tenant)
        status = Counter(v.agent.status for v in views)
        cap = sum(sum(v.agent.capacity.values()) for v in views if v.agent.status != "offline")
        load = sum(sum(len(ids) for ids in v.open.values()) for v in views)
        assigned = len(self.first_assign_s)
        met = sum(n for (_t, kind), n in self.sla.items() if kind == "met")
        breached = sum(n for (_t, kind), n in self.sla.items() if kind == "breached")
        sla: dict[str, dict[str, int]] = {}
        for (target, kind), n in sorted(self.sla.items()):
            sla.setdefault(target, {})[kind] = n
        return {
            "tickets": self.tickets,
            "assigned": assigned,
            "waiting": len(waiting),
            "waiting_per_queue": dict(sorted(per_queue.items())),
            "oldest_waiting_s": {q: round(s, 1) for q, s in sorted(oldest.items())},
            "dead_lettered": self.dead_lettered,
            "agents_by_status": dict(sorted(status.items())),
            "utilisation": round(load / cap, 3) if cap else 0.0,
            "assigned_per_s": round(len(self._recent) / 5, 1),
            "time_to_assign_p50_s": round(percentile(waits, 0.5), 3),
            "time_to_assign_p95_s": round(percentile(waits, 0.95), 3),
            "sla_attained": round(met / (met + breached), 4) if met + breached else 1.0,
            "sla_events": sla,
            "decisions": dict(sorted(self.kinds.items())),
        }


def render(s: Mapping[str, Any], elapsed_s: float, duration_s: float) -> str:
    """A compact text wallboard."""
    lines = [
        f"ticket dispatch — demo wallboard   t={elapsed_s:5.1f}s / {duration_s:.0f}s",
        f"tickets {s['tickets']:>7}   assigned {s['assigned']:>7}   waiting {s['waiting']:>5}"
        f"   dead-lettered {s['dead_lettered']:>4}",
        f"assigned/s {s['assigned_per_s']:>7}   time to assign p50 {s['time_to_assign_p50_s']:.2f}s"
        f"  p95 {s['time_to_assign_p95_s']:.2f}s   SLA met {s['sla_attained'] * 100:5.1f}%",
        "SLA events: "
        + (
            "  ".join(
                f"{t} " + "/".join(f"{k} {n}" for k, n in kinds.items())
                for t, kinds in s["sla_events"].items()
            )
            or "none yet"
        ),
        f"utilisation {s['utilisation'] * 100:5.1f}%   agents "
        + "  ".join(f"{k} {v}" for k, v in s["agents_by_status"].items()),
        "waiting per queue: "
        + (
            "  ".join(
                f"{q} {n} (oldest {s['oldest_waiting_s'][q]:.0f}s)"
                for q, n in s["waiting_per_queue"].items()
            )
            or "none"
        ),
        "decisions: " + "  ".join(f"{k} {v}" for k, v in s["decisions"].items()),
    ]
    return "\n".join(lines)
