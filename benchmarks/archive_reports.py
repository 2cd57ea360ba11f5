"""Reports on a realistic archive (issue 13): generate tickets with their events, load them
through the archive's own ingestion (``engine.archive.ingest``: the mapping and the
idempotent writer ``dispatch run archiver`` uses), then time every report.

    .venv/bin/python -m benchmarks.archive_reports                        # 1,000,000 tickets, SQLite
    .venv/bin/python -m benchmarks.archive_reports --tickets 20000
    .venv/bin/python -m benchmarks.archive_reports --url postgresql://user@host/db

The archive (SQLite in a temporary directory unless ``--url``/``--db``) must be empty: the
run upgrades it to the newest migration first. Tickets are spread over ``--days`` days
(default 30, created in time order) and ``--agents`` agents of one tenant, plus a second tenant with 2% of the
volume (a report must never read it); each ticket has 8-12 events: created, offers
(some rejected or timed out), assigned/accepted, first response, SLA outcomes, resolved
(a few reopened and resolved again, a few transferred by a supervisor, a few abandoned),
and a rating for 40%. Agents log in and out every day with a break.

Then every report runs ``--repeat`` times (the best and the median are printed): the
trail of a ticket, per agent over a day and a week (all agents, and one agent), per queue
and per channel over a week by day, the KPIs per day over the whole period and per hour
over a day. Progress lines go to stderr, the figures to stdout (``--json`` as JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete

from engine.archive import ingest, marks, reports
from engine.archive.db import make_engine, redacted, upgrade
from engine.archive.reports.period import DAY_MS, HOUR_MS, Period
from engine.archive.schema import REPORT_ROLLUPS, TICKETS
from engine.core.model import Decision

TENANT, NOISE = "bench", "noise"
START = 1_796_083_200_000  # 2026-12-01T00:00Z
MIN = 60_000
CHANNELS = {"chat": "chat", "email": "email", "phone": "phone", "web": "general"}
BATCH_TICKETS = 2000


def _decision(
    kind: str,
    tid: str,
    tenant: str,
    at: int,
    seq: int,
    queue: str,
    channel: str,
    agent: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    d = Decision(
        kind,
        tid,
        tenant,
        at,
        queue,
        agent=agent,
        seq=seq,
        channel=channel,
        strategy="least_loaded",
        priority=3,
        ticket_ts=at,
        candidates=5,
        **extra,
    )
    return {"v": 1, **d.to_event()}


def _life(kind: str, tid: str, tenant: str, at: int, **extra: Any) -> dict[str, Any]:
    return {"v": 1, "type": f"ticket.{kind}", "id": tid, "tenant": tenant, "ts": at, **extra}


def _sla(tid: str, tenant: str, at: int, target: str, met: bool, cycle: int = 0) -> dict[str, Any]:
    kind = "met" if met else "breached"
    return {
        "v": 1,
        "type": f"sla.{kind}",
        "id": tid,
        "tenant": tenant,
        "ts": at,
        "target": target,
        "policy": "standard",
        "deadline_ms": at,
        "cycle": cycle,
        "event_id": f"sla:{tid}:{target}:{cycle}:{kind}",
    }


def ticket_events(
    rng: random.Random, n: int, tenant: str, created: int, agents: list[str]
) -> list[dict[str, Any]]:
    """One ticket's life, in time order."""
    tid = f"T{n}"
    channel = rng.choice(tuple(CHANNELS))
    queue = CHANNELS[channel]
    evs: list[dict[str, Any]] = [
        {
            "v": 1,
            "type": "ticket.created",
            "id": tid,
            "tenant": tenant,
            "ts": created,
            "channel": channel,
            "priority": rng.randint(1, 5),
            "customer_id": f"c{n % 50000}",
        }
    ]
    seq, t = 0, created

    def dec(kind: str, at: int, agent: str | None = None, **extra: Any) -> None:
        nonlocal seq
        seq += 1
        evs.append(_decision(kind, tid, tenant, at, seq, queue, channel, agent, **extra))

    if rng.random() < 0.05:  # abandoned: waits, cancelled
        dec("queued", t, reason="no eligible agent")
        t += rng.randint(1, 20) * MIN
        evs.append(_life("cancelled", tid, tenant, t))
        dec("released", t, reason="cancelled")
        return evs
    agent = rng.choice(agents)
    if channel == "chat":
        for _ in range(rng.choice((0, 0, 0, 0, 1, 2))):  # declined or missed offers
            dec("offered", t, agent)
            t += rng.randint(5, 60) * 1000
            missed = rng.random() < 0.5
            dec("released", t, agent, reason="offer timed out" if missed else "offer rejected")
            agent = rng.choice(agents)
        dec("offered", t, agent)
        t += rng.randint(2, 30) * 1000
        dec("assigned", t, agent, step="accepted")
    else:
        t += rng.randint(0, 10) * MIN
        dec("assigned", t, agent)
    frt = rng.randint(1, 45) * MIN
    evs.append(_life("first_response", tid, tenant, t + frt, agent=agent))
    evs.append(_sla(tid, tenant, t + frt, "first_response", frt <= 30 * MIN))
    t += frt
    if rng.random() < 0.05:  # a supervisor transfers it
        t += rng.randint(1, 60) * MIN
        other = rng.choice(agents)
        if other != agent:
            evs.append(
                {
                    "v": 1,
                    "type": "command.reassign",
                    "id": tid,
                    "tenant": tenant,
                    "ts": t,
                    "supervisor": "supervisor:lead",
                    "to_agent": other,
                    "reason": "workload",
                }
            )
            dec(
                "reassigned",
                t,
                other,
                reason=f"from {agent}",
                supervisor="supervisor:lead",
                why="workload",
            )
            agent = other
    if rng.random() < 0.1:  # still open at the end
        return evs
    t += rng.randint(5, 480) * MIN
    evs.append(_life("resolved", tid, tenant, t, agent=agent))
    dec("released", t, agent, reason="resolved")
    evs.append(_sla(tid, tenant, t, "resolution", t - created <= 8 * 60 * MIN))
    if rng.random() < 0.08:  # reopened, resolved again
        t += rng.randint(10, 600) * MIN
        evs.append(_life("reopened", tid, tenant, t))
        dec("queued", t)
        t += rng.randint(1, 30) * MIN
        dec("assigned", t, agent)
        t += rng.randint(5, 120) * MIN
        evs.append(_life("resolved", tid, tenant, t, agent=agent))
        dec("released", t, agent, reason="resolved")
    if rng.random() < 0.4:
        evs.append(
            _life(
                "rated",
                tid,
                tenant,
                t + rng.randint(1, 120) * MIN,
                rating=rng.choices((1, 2, 3, 4, 5), (1, 1, 2, 4, 6))[0],
            )
        )
    return evs


def agent_events(tenant: str, agents: list[str], days: int) -> Iterator[dict[str, Any]]:
    """Every agent: login at 08:00, a break 12:00-12:30, logout at 17:00, every day."""
    for day in range(days):
        base = START + day * DAY_MS
        for a in agents:
            for at, typ, extra in (
                (8 * 60, "login", {"capacity": {"chat": 3, "email": 5, "phone": 1, "web": 5}}),
                (12 * 60, "status", {"status": "away"}),
                (12 * 60 + 30, "status", {"status": "available"}),
                (17 * 60, "logout", {}),
            ):
                yield {
                    "v": 1,
                    "type": f"agent.{typ}",
                    "id": a,
                    "tenant": tenant,
                    "ts": base + at * MIN,
                    **extra,
                }


def batches(
    tickets: int, days: int, agents: list[str], seed: int
) -> Iterator[list[dict[str, Any]]]:
    rng = random.Random(seed)
    span = days * DAY_MS
    batch: list[dict[str, Any]] = []
    step = span / tickets
    for n in range(tickets):  # created in time order, as a live stream archives them
        tenant = NOISE if n % 50 == 49 else TENANT
        created = START + int(n * step + rng.random() * step)
        batch += ticket_events(rng, n, tenant, created, agents)
        if (n + 1) % BATCH_TICKETS == 0:
            yield batch
            batch = []
    if batch:
        yield batch


def write(engine: Engine, events: list[dict[str, Any]]) -> int:
    """Through the archiver's writer (``ingest.write_batch``: on-conflict-do-nothing inserts
    returning what was new, then the ``tickets`` upsert)."""
    facts = [f for f in (ingest.map_event(ev).fact for ev in events) if f is not None]
    with engine.begin() as conn:
        ingest.write_batch(conn, facts)
    return len(facts)


def write_bulk(engine: Engine, events: list[dict[str, Any]]) -> int:
    """Bulk: the same rows (``ingest.map_event``) and the same ``tickets`` projection
    (``TicketDelta.merge``, folded here: a batch holds every event of its tickets), inserted
    with plain multi-row INSERTs, since the archive starts empty."""
    by_table: dict[str, tuple[Any, list[Any]]] = {}
    deltas: dict[tuple[str, str], ingest.TicketDelta] = {}
    for ev in events:
        fact = ingest.map_event(ev).fact
        if fact is None:
            continue
        by_table.setdefault(fact.table.name, (fact.table, []))[1].append(fact.row)
        if fact.delta is not None:
            have = deltas.get(fact.delta.key)
            if have is None:
                have = deltas[fact.delta.key] = ingest.TicketDelta(*fact.delta.key)
            have.merge(fact.delta)
    rows = 0
    with engine.begin() as conn:
        for table, table_rows in by_table.values():
            conn.execute(table.insert(), table_rows)
            rows += len(table_rows)
        if deltas:
            conn.execute(TICKETS.insert(), [d.row() for d in deltas.values()])
        marks.bump(conn, marks.ticket_hours(conn, deltas))  # as ingest.write_batch does
    return rows


def load(
    engine: Engine, tickets: int, days: int, agents: list[str], seed: int, writer: bool
) -> dict[str, Any]:
    started = time.perf_counter()
    put = write if writer else write_bulk
    rows = write(engine, list(agent_events(TENANT, agents, days)))
    rows += write(engine, list(agent_events(NOISE, agents[:10], days)))
    done, last = 0, started
    for batch in batches(tickets, days, agents, seed):
        rows += put(engine, batch)
        done = min(tickets, done + BATCH_TICKETS)
        now = time.perf_counter()
        if now - last >= 10 or done == tickets:
            rate = done / (now - started)
            print(
                f"loaded {done:,}/{tickets:,} tickets, {rows:,} rows, {now - started:,.0f} s "
                f"({rate:,.0f} tickets/s)",
                file=sys.stderr,
                flush=True,
            )
            last = now
    elapsed = time.perf_counter() - started
    return {
        "tickets": tickets,
        "rows": rows,
        "load_s": round(elapsed, 1),
        "tickets_per_s": round(tickets / elapsed),
        "rows_per_s": round(rows / elapsed),
    }


Case = tuple[str, Period | None, Callable[[Any], reports.Report]]


def cases(days: int, tickets: int) -> list[Case]:
    """(name, period, report); the period of the trail is None (all of the ticket)."""
    whole = Period.of(START, START + min(days, 366) * DAY_MS)
    mid = START + (days // 2) * DAY_MS
    day = Period.of(mid, mid + DAY_MS)
    week = Period.of(mid, mid + 7 * DAY_MS)
    ticket = f"T{tickets // 2 if (tickets // 2) % 50 != 49 else tickets // 2 + 1}"
    now = START + days * DAY_MS
    return [
        (
            f"trail of one ticket ({ticket})",
            None,
            lambda c: reports.trail_report(c, TENANT, ticket),
        ),
        ("agents, 1 day", day, lambda c: reports.agent_report(c, TENANT, day, now_ms=now)),
        ("agents, 7 days", week, lambda c: reports.agent_report(c, TENANT, week, now_ms=now)),
        (
            "one agent, 7 days",
            week,
            lambda c: reports.agent_report(c, TENANT, week, now_ms=now, agent="agent-7"),
        ),
        (
            "queues by day, 7 days",
            week,
            lambda c: reports.queue_report(c, TENANT, week, bucket_ms=DAY_MS),
        ),
        ("channels, 7 days", week, lambda c: reports.channel_report(c, TENANT, week)),
        (
            "kpis by hour, 1 day",
            day,
            lambda c: reports.kpi_report(c, TENANT, day, bucket_ms=HOUR_MS),
        ),
        (
            f"kpis by day, {days} days (all)",
            whole,
            lambda c: reports.kpi_report(c, TENANT, whole, bucket_ms=DAY_MS),
        ),
    ]


def _clear_rollups(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(REPORT_ROLLUPS))


def _stale_day(engine: Engine, period: Period) -> None:
    """Bump the marks of the period's last 24 hours, as an archiver writing into them would."""
    end = period.to_ms - period.to_ms % HOUR_MS
    hours = [(TENANT, h) for h in range(max(period.from_ms, end - DAY_MS), end, HOUR_MS)]
    with engine.begin() as conn:
        marks.bump(conn, hours)


def _timed(engine: Engine, run: Callable[[Any], reports.Report]) -> tuple[float, int]:
    with engine.connect() as conn:
        t0 = time.perf_counter()
        rows = len(run(conn).rows)
        return time.perf_counter() - t0, rows


def time_reports(engine: Engine, days: int, tickets: int, repeat: int) -> list[dict[str, Any]]:
    """Each report: ``cold`` with no roll-up stored (it computes and stores its hours; one
    agent's report computes that agent's and stores none), then ``repeat`` times ``warm``
    (every full hour from its roll-up: the period warmed first, as ``dispatch db warm``
    does), then once with the last day of its period made stale (24 hours computed again,
    the rest from roll-ups)."""
    out = []
    for name, period, run in cases(days, tickets):
        _clear_rollups(engine)
        cold, rows = _timed(engine, run)
        if period is not None:  # a one-agent report keeps nothing: warm as `db warm` does
            with engine.connect() as conn:
                reports.warm(conn, TENANT, period)
        times = [_timed(engine, run)[0] for _ in range(repeat)]
        stale = None
        if period is not None:
            _stale_day(engine, period)
            stale = round(_timed(engine, run)[0], 3)
        out.append(
            {
                "report": name,
                "rows": rows,
                "cold_s": round(cold, 3),
                "best_s": round(min(times), 3),
                "median_s": round(statistics.median(times), 3),
                "stale_day_s": stale,
            }
        )
        print(
            f"{name}: {rows} rows, cold {cold:.3f} s, warm best {min(times):.3f} s, "
            f"last day stale {stale} s",
            file=sys.stderr,
            flush=True,
        )
    return out


def machine() -> dict[str, Any]:
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "memory": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.archive_reports",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--tickets", type=int, default=1_000_000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--agents", type=int, default=200)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--url", default=None, help="archive URL (default: SQLite in a temp dir)")
    p.add_argument("--db", type=Path, default=None, help="SQLite file to create (kept)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument(
        "--writer",
        action="store_true",
        help="load through ingest.write_batch, as the archiver writes (slower)",
    )
    p.add_argument(
        "--reuse",
        action="store_true",
        help="--db/--url already holds a generated archive: only time the reports",
    )
    args = p.parse_args(argv)
    if args.tickets < 1 or args.days < 1 or args.agents < 1 or args.repeat < 1:
        p.error("--tickets, --days, --agents and --repeat must be positive")
    tmp = None
    if args.url:
        url = args.url
    else:
        if args.db is None:
            tmp = tempfile.TemporaryDirectory(prefix="archive-bench-")
            args.db = Path(tmp.name) / "archive.db"
        url = f"sqlite:///{args.db}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        agents = [f"agent-{i}" for i in range(args.agents)]
        print(
            f"archive {redacted(url)} ({engine.dialect.name}): {args.tickets:,} tickets over "
            f"{args.days} days, {args.agents} agents",
            file=sys.stderr,
            flush=True,
        )
        figures = {
            "machine": machine(),
            "database": engine.dialect.name,
            "server_version": ".".join(map(str, engine.dialect.server_version_info or ())),
            "args": {k: str(v) for k, v in vars(args).items() if k not in ("url",)},
        }
        if args.reuse:
            figures["load"] = {
                "tickets": args.tickets,
                "rows": 0,
                "load_s": 0.0,
                "path": "reused",
                "tickets_per_s": 0,
                "rows_per_s": 0,
            }
        else:
            figures["load"] = load(engine, args.tickets, args.days, agents, args.seed, args.writer)
        with engine.begin() as conn:  # planner statistics, as after any bulk load
            conn.exec_driver_sql("ANALYZE")
        figures["reports"] = time_reports(engine, args.days, args.tickets, args.repeat)
        figures["machine"]["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        engine.dispose()
        if tmp is not None:
            tmp.cleanup()
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        load_ = figures["load"]
        print(
            f"load ({load_['path']}): {load_['tickets']:,} tickets, {load_['rows']:,} rows in "
            f"{load_['load_s']} s "
            f"({load_['tickets_per_s']:,} tickets/s, {load_['rows_per_s']:,} rows/s)"
        )
        print(
            "| report | rows | cold s | warm best s | warm median s | last day stale s |\n"
            "|---|---:|---:|---:|---:|---:|"
        )
        for r in figures["reports"]:
            print(
                f"| {r['report']} | {r['rows']} | {r['cold_s']} | {r['best_s']} | "
                f"{r['median_s']} | {r['stale_day_s'] if r['stale_day_s'] is not None else '-'} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
