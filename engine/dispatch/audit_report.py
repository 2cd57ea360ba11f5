"""The audit's report: one :class:`Check` per guarantee (or informational count), rendered as
a table a person reads or as one JSON object (``engine.dispatch.audit``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DEFAULT_EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class Example:
    subject: str  # tenant/ticket, tenant/agent, or a record's place
    evidence: str


@dataclass
class Check:
    """One guarantee: how many items were checked, how many violate it, a few examples.
    An informational check never fails: it counts what it ``found`` instead."""

    name: str
    meaning: str
    informational: bool = False
    checked: int = 0
    violations: int = 0
    found: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    examples: list[Example] = field(default_factory=list)
    limit: int = DEFAULT_EXAMPLES

    @property
    def ok(self) -> bool:
        return self.violations == 0

    def fail(self, subject: str, evidence: str) -> None:
        self.violations += 1
        self._example(subject, evidence)

    def note(self, subject: str, evidence: str) -> None:
        self.found += 1
        self._example(subject, evidence)

    def _example(self, subject: str, evidence: str) -> None:
        if len(self.examples) < self.limit:
            self.examples.append(Example(subject, evidence))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "meaning": self.meaning,
            "informational": self.informational,
            "ok": self.ok,
            "checked": self.checked,
            "violations": self.violations,
        }
        if self.informational:
            out["found"] = self.found
        if self.counts:
            out["counts"] = dict(sorted(self.counts.items()))
        out["examples"] = [{"subject": e.subject, "evidence": e.evidence} for e in self.examples]
        return out


@dataclass
class Report:
    checks: list[Check]
    tenants: list[str]
    inputs: dict[str, int]
    now_ms: int
    grace_ms: int
    elapsed_s: float | None = None  # set by the caller that timed the reads

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.ok]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ok": self.ok,
            "failed": self.failed(),
            "tenants": self.tenants,
            "now_ms": self.now_ms,
            "grace_s": self.grace_ms / 1000,
            "inputs": self.inputs,
            "checks": [c.to_dict() for c in self.checks],
        }
        if self.elapsed_s is not None:
            out["elapsed_s"] = round(self.elapsed_s, 3)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


def render(report: Report) -> str:
    """The report as a table a person reads: one line per check, then its examples."""
    ins = report.inputs
    head = (
        f"audit of {len(report.tenants)} tenant(s) {', '.join(report.tenants) or '-'}: "
        f"{ins.get('tickets', 0)} tickets, {ins.get('decisions', 0)} decisions, "
        f"{ins.get('lifecycle', 0)} lifecycle events, {ins.get('dead_letters', 0)} dead letters"
    )
    if report.elapsed_s is not None:
        head += f" ({report.elapsed_s:.1f} s)"
    lines = [head]
    width = max(len(c.name) for c in report.checks)
    for c in report.checks:
        if c.informational and not c.found and c.counts:
            mark, tally = "·", f"{c.checked:>8} counted{'':>18}"
        elif c.informational:
            mark, tally = "·", f"{c.checked:>8} checked {c.found:>6} found     "
        else:
            mark = "✓" if c.ok else "✗"
            tally = f"{c.checked:>8} checked {c.violations:>6} violations"
        lines.append(f"{mark} {c.name:<{width}} {tally}  {c.meaning}")
        if c.counts:
            lines.append("    " + ", ".join(f"{k} {v}" for k, v in sorted(c.counts.items())))
        for e in c.examples:
            lines.append(f"    {e.subject}: {e.evidence}")
    failed = report.failed()
    lines.append("all guarantees hold" if not failed else f"VIOLATED: {', '.join(failed)} (exit 1)")
    return "\n".join(lines)


def when(ms: int) -> str:
    """Epoch milliseconds as UTC ISO 8601 (evidence a person can read)."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
