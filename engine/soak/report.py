"""The soak's summary: what was injected and sent, what the dispatchers decided, what the
audit found; as a table a person reads (:func:`render`) or one JSON object
(:meth:`Summary.to_dict`). Pure: the audit arrives as ``Report.to_dict()``."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from engine.exitcodes import RET_FAILED, RET_INTERRUPTED, RET_INVALID, RET_OK, RET_UNAVAILABLE
from engine.soak.options import FAULT_KINDS, SoakOptions

CRASHES = "replica_crashes"  # the summary's own guarantee: no replica dies unasked
MIN_LOAD_SHARE = 0.25  # fewer tickets than this share of rate x time: the run proves little


@dataclass(frozen=True, slots=True)
class FaultRecord:
    """One injected fault: when (seconds into the load), what, on which target, how long
    the injection took and what happened, in words."""

    number: int
    at_s: float
    kind: str
    target: str
    detail: str
    took_s: float
    ok: bool = True

    def line(self) -> str:
        state = "" if self.ok else " FAILED"
        took = f" ({self.took_s:.1f} s)" if self.took_s >= 0.05 else ""
        return (
            f"fault {self.number} at {clock(self.at_s)}: {self.kind} {self.target}{state}: "
            f"{self.detail}{took}"
        )


@dataclass
class Summary:
    run: str  # the run's topic / Redis prefix
    options: SoakOptions
    elapsed_s: float = 0.0  # seconds of load actually run
    interrupted: bool = False
    faults: list[FaultRecord] = field(default_factory=list)
    skipped_faults: dict[str, str] = field(default_factory=dict)  # kind -> why not injected
    tickets_sent: int = 0
    tickets_undelivered: int = 0
    poison_sent: int = 0
    events_sent: int = 0  # agent and lifecycle events
    decisions: int = 0  # records seen on dispatch.assignments (redeliveries included)
    decisions_by_kind: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    undecided: int = 0  # tickets sent without a decision seen when the drain ended
    awaiting_peak: int = 0  # most tickets acknowledged and not yet decided at one time
    longest_gap_s: float = 0.0  # the longest wait between two decisions under load
    drain_s: float = 0.0
    drained: bool = False
    crashes: list[str] = field(default_factory=list)  # replicas that exited unasked
    audit: dict[str, Any] | None = None  # engine.dispatch.audit Report.to_dict()
    audit_error: str | None = None
    error: str | None = None  # the soak itself failed (its load or fault thread)
    kept_dir: str | None = None  # logs kept for a failed run

    def faults_by_kind(self) -> dict[str, int]:
        counts = Counter(f.kind for f in self.faults if f.ok)
        return {kind: counts.get(kind, 0) for kind in FAULT_KINDS}

    def violations(self) -> dict[str, int]:
        """Violations per guarantee: every failing check of the audit plus replica crashes."""
        out = {CRASHES: len(self.crashes)}
        for check in (self.audit or {}).get("checks", []):
            if not check.get("informational"):
                out[check["name"]] = int(check["violations"])
        return out

    @property
    def ok(self) -> bool:
        return self.exit_code() == RET_OK

    def planned_tickets(self) -> int:
        """Tickets the load was to send in the time it ran (poison records included)."""
        return int(self.options.rate * self.elapsed_s)

    def load_failed(self) -> str | None:
        """Why the load was too thin to prove anything, or None."""
        planned, sent = self.planned_tickets(), self.tickets_sent + self.poison_sent
        if planned >= 20 and sent < MIN_LOAD_SHARE * planned:
            return f"the load reached Kafka for only {sent} of {planned} tickets"
        return None

    def exit_code(self) -> int:
        if any(self.violations().values()):
            return RET_INVALID
        if self.error is not None or self.load_failed():
            return RET_FAILED
        if self.audit is None:
            return RET_INTERRUPTED if self.interrupted else RET_UNAVAILABLE
        return RET_INTERRUPTED if self.interrupted else RET_OK

    def to_dict(self) -> dict[str, Any]:
        o = self.options
        return {
            "ok": self.ok,
            "exit_code": self.exit_code(),
            "run": self.run,
            "interrupted": self.interrupted,
            "options": {
                "minutes": o.minutes,
                "replicas": o.replicas,
                "rate": o.rate,
                "fault_every_s": o.fault_every_s,
                "faults": list(o.faults),
                "seed": o.seed,
                "pause_s": o.pause_s,
                "agents": o.agents,
                "tenants": list(o.tenants),
                "partitions": o.partitions,
                "kafka_brokers": o.kafka_brokers,
                "redis_cluster": o.redis_cluster,
            },
            "elapsed_s": round(self.elapsed_s, 1),
            "faults": self.faults_by_kind(),
            "faults_failed": sum(1 for f in self.faults if not f.ok),
            "faults_skipped": dict(self.skipped_faults),
            "fault_log": [
                {
                    "number": f.number,
                    "at_s": round(f.at_s, 1),
                    "kind": f.kind,
                    "target": f.target,
                    "detail": f.detail,
                    "took_s": round(f.took_s, 2),
                    "ok": f.ok,
                }
                for f in self.faults
            ],
            "tickets_planned": self.planned_tickets(),
            "tickets_sent": self.tickets_sent,
            "tickets_undelivered": self.tickets_undelivered,
            "poison_sent": self.poison_sent,
            "events_sent": self.events_sent,
            "decisions": self.decisions,
            "decisions_by_kind": dict(sorted(self.decisions_by_kind.items())),
            "dead_letters": self.dead_letters,
            "undecided_after_drain": self.undecided,
            "awaiting_peak": self.awaiting_peak,
            "longest_gap_s": round(self.longest_gap_s, 1),
            "drained": self.drained,
            "drain_s": round(self.drain_s, 1),
            "replica_crashes": list(self.crashes),
            "violations": self.violations(),
            "audit": self.audit,
            "audit_error": self.audit_error,
            "error": self.error or self.load_failed(),
            "kept_dir": self.kept_dir,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


def clock(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour on)."""
    total = max(0, int(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _shape(o: SoakOptions) -> str:
    parts = []
    if o.kafka_brokers > 1:
        parts.append(f"{o.kafka_brokers} Kafka nodes")
    if o.redis_cluster:
        parts.append(f"a {o.redis_cluster}-master Redis Cluster")
    return f", {' and '.join(parts)}" if parts else ""


def _row(label: str, value: object, note: str = "") -> str:
    return f"  {label:<28}{value!s:>10}  {note}".rstrip()


def render(s: Summary) -> str:
    """The summary table."""
    o = s.options
    state = "interrupted" if s.interrupted else "complete"
    lines = [
        f"soak {s.run}: {clock(s.elapsed_s)} of {clock(o.duration_s)} ({state}), "
        f"{o.replicas} replica(s), {o.rate:g} tickets/s, a fault every {o.fault_every_s:g} s, "
        f"seed {o.seed}{_shape(o)}",
        "",
        _row("faults injected", sum(s.faults_by_kind().values())),
    ]
    lines += [_row(f"  {kind}", n) for kind, n in s.faults_by_kind().items()]
    failed = [f for f in s.faults if not f.ok]
    if failed:
        lines.append(_row("  failed injections", len(failed), failed[0].detail[:60]))
    for kind, why in s.skipped_faults.items():
        lines.append(_row(f"  {kind}", "skipped", why))
    planned = s.planned_tickets()
    share = (
        f"{100 * (s.tickets_sent + s.poison_sent) / planned:.0f} % of {planned}" if planned else ""
    )
    lines += [
        _row(
            "tickets sent", s.tickets_sent, f"(with the poison, {share} planned)" if share else ""
        ),
        _row("poison records sent", s.poison_sent),
        _row("agent/lifecycle events", s.events_sent),
    ]
    if s.tickets_undelivered:
        lines.append(_row("tickets not acknowledged", s.tickets_undelivered, "(not counted)"))
    lines.append(_row("decisions", s.decisions))
    lines += [_row(f"  {k}", n) for k, n in sorted(s.decisions_by_kind.items())]
    lines += [
        _row("longest gap in decisions", f"{s.longest_gap_s:.1f} s", "while the load ran"),
        _row("most tickets awaiting one", s.awaiting_peak),
        _row("dead letters", s.dead_letters),
        _row("drain", f"{s.drain_s:.1f} s", "quiet" if s.drained else "NOT quiet (bounded)"),
    ]
    if s.undecided:
        lines.append(_row("tickets without a decision", s.undecided, "when the drain ended"))
    lines += ["", "  violations per guarantee"]
    if s.audit is None:
        lines.append(f"  audit not run: {s.audit_error or 'interrupted'}")
    else:
        ins = s.audit.get("inputs", {})
        lines.append(
            f"  (audit of {ins.get('tickets', 0)} tickets, {ins.get('decisions', 0)} decisions, "
            f"{ins.get('lifecycle', 0)} lifecycle events in {s.audit.get('elapsed_s', 0):.1f} s)"
        )
    for name, n in s.violations().items():
        lines.append(_row(f"  {'✓' if n == 0 else '✗'} {name}", n))
    for check in (s.audit or {}).get("checks", []):
        if check.get("violations"):
            lines += [f"      {e['subject']}: {e['evidence']}" for e in check.get("examples", [])]
    lines += [f"      {c}" for c in s.crashes[:5]]
    failure = s.error or s.load_failed()
    if failure:
        lines.append(f"  the soak failed: {failure}")
    if s.kept_dir:
        lines.append(f"  logs kept in {s.kept_dir}")
    code = s.exit_code()
    verdict = {
        RET_OK: "clean",
        RET_INVALID: "VIOLATIONS",
        RET_UNAVAILABLE: "services unreachable",
        RET_FAILED: "FAILED",
        RET_INTERRUPTED: "interrupted",
    }[code]
    lines += ["", f"result: {verdict} (exit {code})"]
    return "\n".join(lines)
