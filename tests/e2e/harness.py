"""Helpers for end-to-end tests: dispatcher processes, topic readers, invariant checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import codec
from engine.adapters.kafka import KafkaGroupConsumer
from engine.config import Settings

REPO = Path(__file__).resolve().parents[2]
READ_IDLE_S = 3.0


@dataclass
class DispatcherProc:
    """A `dispatch run <role>` child process (dispatcher or sla-tracker) with its own log."""

    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    role: str = "dispatcher"

    def start(self) -> None:
        logf = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "-v", "run", self.role],
            cwd=REPO,
            env=self.env,
            stdout=logf,
            stderr=subprocess.STDOUT,
        )
        logf.close()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout_s: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, n: int = 40) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


def dispatcher_env(base: Mapping[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCH_")}
    env.update(base)
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def read_topic(
    settings: Settings, topic: str, group: str, *, idle_s: float = READ_IDLE_S
) -> list[Any]:
    """Every record of ``topic`` from the start (a fresh group), until idle for ``idle_s``."""
    consumer = KafkaGroupConsumer(settings.kafka, [topic], group)
    out = []
    last = time.monotonic()
    try:
        while time.monotonic() - last < idle_s:
            recs = consumer.poll(5000, 200)
            if recs:
                out.extend(recs)
                last = time.monotonic()
    finally:
        consumer.close()
    return out


@dataclass
class Ledger:
    """Per-ticket decision history folded in topic order; records invariant violations."""

    active: dict[str, str | None] = field(default_factory=dict)
    decided: set[str] = field(default_factory=set)
    last_kind: dict[str, str] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    seq: dict[str, int] = field(default_factory=dict)

    def feed(self, decisions: Iterable[Mapping[str, Any]]) -> None:
        for d in decisions:
            kind, tid, agent = d["type"].removeprefix("decision."), d["id"], d.get("agent")
            self.decided.add(tid)
            seq = int(d.get("seq") or 0)
            if seq < self.seq.get(tid, 0):
                continue  # a stale duplicate published late: consumers keep the highest seq
            self.seq[tid] = max(seq, self.seq.get(tid, 0))
            cur = self.active.get(tid)
            load, cap = d.get("load"), d.get("capacity")
            counted = kind in ("assigned", "offered", "reassigned") and not d.get("forced")
            if counted and (load is None or cap is None or load > cap):
                self.violations.append(f"{tid}: {kind} to {agent} at load {load}/{cap}")
            if kind in ("assigned", "offered"):
                if cur is not None and cur != agent:
                    self.violations.append(f"{tid}: {kind} to {agent} while active with {cur}")
                self.active[tid] = agent
            elif kind == "reassigned":
                self.active[tid] = agent
            elif kind == "released":
                self.active[tid] = None
            if kind != "rejected":
                self.last_kind[tid] = kind


def decode_all(records: Iterable[Any]) -> list[dict[str, Any]]:
    return [codec.decode(r.value) for r in records]
