"""In-memory :class:`engine.sla.state.SlaStore`: the reference for the Redis one (same
contract tests), used by the embedded demo. Thread-safe; every call is atomic."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from engine.core.sla_track import Feedback
from engine.ports import AgentStats, Key, Settle, Settled


class MemorySlaStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tickets: dict[Key, dict[str, bytes]] = {}
        self._due: dict[Key, int] = {}
        self._lease: dict[Key, int] = {}
        self._wm: dict[str, int] = {}
        self._agents: dict[tuple[str, str], dict[str, float]] = {}

    def apply(self, facts: Mapping[Key, Mapping[str, bytes]]) -> dict[Key, dict[str, bytes]]:
        with self._lock:
            out = {}
            for key, fields in facts.items():
                h = self._tickets.setdefault(key, {})
                for name, value in fields.items():
                    h.setdefault(name, value)
                out[key] = dict(h)
            return out

    def load(self, keys: Sequence[Key]) -> dict[Key, dict[str, bytes]]:
        with self._lock:
            return {k: dict(self._tickets.get(k, {})) for k in keys}

    def settle(self, items: Sequence[Settle]) -> list[Settled]:
        with self._lock:
            return [self._settle(item) for item in items]

    def _settle(self, item: Settle) -> Settled:
        h = self._tickets.setdefault(item.key, {})
        new_marks = [m for m in item.marks if m not in h]
        for m in new_marks:
            h[m] = b"1"
        for eid, final, payload in item.reserve:
            if f"o:{eid}" in h or f"s:{eid}" in h:
                continue
            if final is not None:
                if f"f:{final}" in h:
                    continue
                h[f"f:{final}"] = eid.encode()
            h[f"o:{eid}"] = payload
        unsent = [(name[2:], v) for name, v in sorted(h.items()) if name.startswith("o:")]
        due = item.due_ms
        if unsent:
            due = item.recheck_ms if due is None else min(due, item.recheck_ms)
        if due is None:
            self._due.pop(item.key, None)
        else:
            self._due[item.key] = due
        self._lease.pop(item.key, None)
        return Settled(new_marks, unsent)

    def mark_sent(self, sent: Mapping[Key, Sequence[str]]) -> list[tuple[Key, str]]:
        with self._lock:
            new = []
            for key, eids in sent.items():
                h = self._tickets.setdefault(key, {})
                for eid in eids:
                    h.pop(f"o:{eid}", None)
                    if f"s:{eid}" not in h:
                        h[f"s:{eid}"] = b"1"
                        new.append((key, eid))
            return new

    def claim_due(self, wm_ms: int, now_ms: int, lease_ms: int, limit: int) -> list[Key]:
        with self._lock:
            out: list[Key] = []
            for key, due in sorted(self._due.items(), key=lambda kv: (kv[1], kv[0])):
                if due > wm_ms or len(out) >= limit:
                    break
                if self._lease.get(key, 0) > now_ms:
                    continue
                self._lease[key] = now_ms + lease_ms
                out.append(key)
            return out

    def deadlines(self) -> int:
        with self._lock:
            return len(self._due)

    def advance_watermarks(self, marks: Mapping[str, int]) -> None:
        with self._lock:
            for name, value in marks.items():
                if value > self._wm.get(name, -(2**62)):
                    self._wm[name] = value

    def watermarks(self) -> dict[str, int]:
        with self._lock:
            return dict(self._wm)

    def agent_feedback(self, items: Sequence[Feedback], alpha: float) -> list[AgentStats]:
        with self._lock:
            out = []
            for f in items:
                a = self._agents.setdefault((f.tenant, f.agent), {})
                for name, value in (("csat", f.rating), ("ht", f.handle_s)):
                    if value is not None:
                        old = a.get(name)
                        a[name] = float(value) if old is None else old + alpha * (value - old)
                out.append(AgentStats(a.get("csat"), a.get("ht"), a.get("pub")))
            return out

    def set_published(self, performance: Mapping[tuple[str, str], float]) -> None:
        with self._lock:
            for key, perf in performance.items():
                self._agents.setdefault(key, {})["pub"] = perf
