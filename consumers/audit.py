"""`dispatch audit [--tenant T] [--json]`: every guarantee checked against Kafka and Redis.

Composition root: reads ``tickets.events``, ``tickets.lifecycle``, ``dispatch.assignments``
and ``dispatch.deadletter`` from the beginning (``read_topic``: up to their end offsets at
the time of the call), decodes them (invalid records are skipped: they were dead-lettered),
reads Redis through ``RedisAgentStore`` and runs the pure checks of
``engine.dispatch.audit``. Progress goes to ``err`` while a topic takes more than a second.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from engine import codec
from engine.adapters.kafka import read_topic
from engine.adapters.redis import RedisAgentStore, client_from_url
from engine.clock import WallClock
from engine.config import Settings
from engine.dispatch.audit import Inputs, Placed, Report, audit, render
from engine.exitcodes import RET_INVALID, RET_OK
from engine.logs import get_logger
from engine.ports import Record

log = get_logger(__name__)

PROGRESS_EVERY_S = 1.0


class Progress:
    """``read_topic`` progress on a stream, at most once a second, after the first second."""

    def __init__(self, err: TextIO, topic: str) -> None:
        self.err, self.topic = err, topic
        self.started = self.last = time.monotonic()
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S:
            return
        self.last, self.shown = now, True
        pct = 100 * done // total if total else 100
        print(f"audit: reading {self.topic}: {pct}% ({done}/{total} offsets)", file=self.err)

    def finish(self, n: int) -> None:
        if self.shown:
            took = time.monotonic() - self.started
            print(f"audit: read {n} records of {self.topic} in {took:.1f} s", file=self.err)


def _read(settings: Settings, logical: str, err: TextIO) -> list[Record]:
    topic = settings.topic(logical)
    progress = Progress(err, topic)
    records = read_topic(settings.kafka, topic, progress=progress)
    progress.finish(len(records))
    return records


def _events(
    records: Iterable[Record],
    keep: Callable[[str], bool],
    invalid: list[tuple[int, int, str]] | None = None,
) -> list[tuple[Record, Any]]:
    """Decoded events of the types ``keep`` accepts. Invalid records (dead-lettered, on the
    input topics) and tombstones are skipped; with ``invalid``, every non-empty record that
    is not a valid event of a kept type is listed there as (partition, offset, why)."""
    out = []
    for r in records:
        try:
            ev = codec.decode(r.value)
        except codec.DecodeError as exc:
            if invalid is not None and r.value:
                invalid.append((r.partition, r.offset, str(exc)[:200]))
            continue
        if keep(ev["type"]):
            out.append((r, ev))
        elif invalid is not None:
            invalid.append((r.partition, r.offset, f"type {ev['type']}"))
    return out


def read_inputs(settings: Settings, err: TextIO) -> Inputs:
    """Decode the four topics the audit reads."""
    created = _events(_read(settings, "tickets.events", err), lambda t: t == "ticket.created")
    lifecycle = _events(_read(settings, "tickets.lifecycle", err), lambda t: True)
    invalid: list[tuple[int, int, str]] = []
    decisions = _events(
        _read(settings, "dispatch.assignments", err), lambda t: t.startswith("decision."), invalid
    )
    dead = [
        {k: v.decode(errors="replace") for k, v in r.headers}
        for r in _read(settings, "dispatch.deadletter", err)
    ]
    return Inputs(
        created=[ev for _, ev in created],
        decisions=[Placed(ev, r.partition, r.offset, r.key) for r, ev in decisions],
        lifecycle=[ev for _, ev in lifecycle],
        dead_letters=dead,
        invalid=invalid,
    )


def run_audit(
    settings: Settings,
    *,
    tenant: str | None = None,
    grace_ms: int,
    examples: int,
    err: TextIO = sys.stderr,
) -> Report:
    started = time.monotonic()
    store = RedisAgentStore(client_from_url(settings.redis_url), prefix=settings.redis_prefix)
    store.tenants()  # an unreachable Redis fails now, not after minutes of reading topics
    inputs = read_inputs(settings, err)
    report = audit(
        inputs,
        store,
        now_ms=WallClock().now_ms(),
        grace_ms=grace_ms,
        examples=examples,
        tenant=tenant,
    )
    report.elapsed_s = time.monotonic() - started
    log.info("audit took %.2f s: %s", report.elapsed_s, report.failed() or "clean")
    return report


def run(
    settings: Settings,
    *,
    tenant: str | None,
    as_json: bool,
    grace_ms: int,
    examples: int,
    out: TextIO,
    err: TextIO = sys.stderr,
) -> int:
    report = run_audit(settings, tenant=tenant, grace_ms=grace_ms, examples=examples, err=err)
    print(report.to_json() if as_json else render(report), file=out)
    return RET_OK if report.ok else RET_INVALID
