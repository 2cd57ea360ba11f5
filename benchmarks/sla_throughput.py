"""Throughput of the SLA tracker (``dispatch run sla-tracker``) on a real Kafka + Redis.

Reproduce (starts its own Kafka + Redis with ``engine.devstack`` in a temp dir, or uses
``DISPATCH_KAFKA_BOOTSTRAP`` + ``DISPATCH_REDIS_URL`` when both are set)::

    .venv/bin/python -m benchmarks.sla_throughput

One run, bounded in count and time, loopback only:

1. backlog: N tickets' events (``ticket.created`` on tickets.events, ``decision.assigned`` on
   dispatch.assignments, ``ticket.first_response``/``ticket.resolved`` on tickets.lifecycle)
   with known timings hours in the past, so the whole backlog is behind the watermark; policy
   first_response_s 60, resolution_s 600, warn_at 0.5, one escalation (notify on a first
   response breach). Topics: ``default_topic_specs(partitions=2)`` (4 partitions each).
2. raw: a child process, kafka-python consumer group on the three topics (poll batch 500,
   as the tracker), one small record per input record to a scratch topic, flush + commit per
   poll. records/s from its group's committed offsets (admin OffsetFetch every 0.1 s).
3. tracker: one ``python -m engine.cli run sla-tracker`` child (fresh DISPATCH_SLA_GROUP and
   DISPATCH_REDIS_PREFIX). records/s from first commit until lag 0 (same probe); SLA events/s
   on sla.events; every SLA event id checked against the expected set computed with
   ``TicketClock`` (a run with missing, unexpected or different events is marked INVALID);
   Redis ``INFO commandstats``/CPU deltas per input record; VmHWM of the tracker.
4. ``--profile``: a second tracker pass under ``python -m cProfile`` (fresh group/prefix).

Writes ``benchmarks/results/sla_throughput.json``, prints a table and (unless
``--no-report``) rewrites the SLA section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks import sla_backlog
from benchmarks.bench_stack import (
    PARTITIONS_ARG,
    ROOT,
    commandstats,
    loadavg,
    lscpu,
    machine,
    proc_hwm_kb,
    redis_client,
    redis_cpu,
    revision,
    stack,
    stats_delta,
    versions,
)
from benchmarks.bench_workers import Child, Watcher, child_env

OUT = ROOT / "benchmarks" / "results"
COMMAND = ".venv/bin/python -m benchmarks.sla_throughput"
SCRATCH = "bench.scratch"
SAMPLE_S = 0.1


def settings_for(base: Any, label: str) -> Any:
    run = uuid.uuid4().hex[:6]
    return replace(
        base,
        topic_prefix=f"bench-sla-{run}.",
        redis_prefix=f"bench-sla-{label}-{run}",
        group=f"bench-sla-{label}-{run}-raw",
        sla_group=f"bench-sla-{label}-{run}-tracker",
        http_port=0,
    )


def fresh(s: Any, label: str) -> Any:
    """Same topics, a new Redis prefix and new groups."""
    run = uuid.uuid4().hex[:6]
    return replace(
        s,
        redis_prefix=f"bench-sla-{label}-{run}",
        group=f"bench-sla-{label}-{run}-raw",
        sla_group=f"bench-sla-{label}-{run}-tracker",
    )


def follow(
    progress: sla_backlog.GroupProgress,
    group: str,
    total: int,
    child: Child,
    timeout_s: float,
    until: Any = None,
) -> dict[str, Any]:
    """Sample the group's committed offsets until they reach ``total`` (and ``until()`` is
    true, if given). Rate = records committed after the first commit / time since it."""
    t0 = time.monotonic()
    first: tuple[float, int] | None = None
    lag0: float | None = None
    deadline = t0 + timeout_s
    while time.monotonic() < deadline:
        child.sample()
        if child.proc.poll() is not None:
            raise RuntimeError(f"child exited with {child.proc.returncode}: see {child.log_path}")
        done = progress.committed(group)
        now = time.monotonic()
        if done > 0 and first is None:
            first = (now, done)
        if done >= total and lag0 is None:
            lag0 = now
        if lag0 is not None and (until is None or until()):
            break
        time.sleep(SAMPLE_S)
    out: dict[str, Any] = {"complete": lag0 is not None, "total": total}
    if first is not None:
        out["startup_s"] = first[0] - t0
        out["first_commit_records"] = first[1]
    if first is not None and lag0 is not None:
        window = lag0 - first[0]
        out["lag0_s"] = lag0 - t0
        out["window_s"] = window
        out["per_s"] = (total - first[1]) / window if window > 0 else None
        out["per_s_incl_startup"] = total / (lag0 - t0)
    out["end_s"] = time.monotonic() - t0
    return out


def measure_raw(s: Any, total: int, logs: Path, timeout_s: float) -> dict[str, Any]:
    s = fresh(s, "raw")
    progress = sla_backlog.GroupProgress(s)
    child = Child(
        [sys.executable, "-m", "benchmarks.sla_throughput", "_raw", "--n", str(total)],
        child_env(s),
        logs / "sla-raw.log",
    )
    try:
        res = follow(progress, s.group, total, child, timeout_s)
    finally:
        code = child.stop()
        progress.close()
    lines = child.log_path.read_text().strip().splitlines()
    own = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    return {**res, "exit": code, "hwm_kb": child.hwm_kb, "worker": own}


def tracker_env(s: Any, policy: Path, port: int, logs: Path) -> dict[str, str]:
    env = child_env(s)
    env.update(
        DISPATCH_SLA_GROUP=s.sla_group,
        DISPATCH_POLICY=str(policy),
        DISPATCH_HTTP_PORT=str(port),
        DISPATCH_STATE_DIR=str(logs),  # never pick up a developer's .dispatch/dev.env
    )
    return env


def scrape(port: int) -> dict[str, float]:
    """Sum of each ``dispatch_sla_*``/``dispatch_consumer_lag`` series on /metrics."""
    import urllib.request

    out: dict[str, float] = {}
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return out
    for line in text.splitlines():
        if line.startswith(("dispatch_sla_", "dispatch_consumer_lag")):
            name = line.split("{", 1)[0].split(" ", 1)[0]
            out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def measure_tracker(
    s: Any, backlog: sla_backlog.Backlog, total: int, logs: Path, timeout_s: float, profile: bool
) -> dict[str, Any]:
    from engine.devstack.procs import free_port

    label = "prof" if profile else "tracker"
    s = fresh(s, label)
    policy = logs / "sla-policy.yaml"
    policy.write_text(sla_backlog.POLICY)
    port = free_port()
    r = redis_client(s.redis_url)
    events = Watcher(s, s.topic("sla.events"), "")
    commands = Watcher(s, s.topic("dispatch.commands"), "")
    for w in (events, commands):  # only what this pass produces (a profile pass is second)
        w.consumer.seek_to_end()
        w.start()
    progress = sla_backlog.GroupProgress(s)
    pstats_path = logs / "sla-tracker.prof"
    prefix = ["-m", "cProfile", "-o", str(pstats_path)] if profile else []
    argv = [sys.executable, *prefix, "-m", "engine.cli", "run", "sla-tracker"]
    before, cpu0 = commandstats(r), redis_cpu(r)
    child = Child(argv, tracker_env(s, policy, port, logs), logs / f"sla-{label}.log")
    want = len(backlog.expected)
    at: dict[str, float] = {}

    def all_events() -> bool:
        if len(events.rows) >= want and "all_sla" not in at:
            at["all_sla"] = time.monotonic()
        return "all_sla" in at

    started = time.monotonic()
    try:
        res = follow(progress, s.sla_group, total, child, timeout_s, all_events)
        after, cpu1 = commandstats(r), redis_cpu(r)
        metrics = scrape(port)
        time.sleep(3)  # anything unexpected or duplicated would show up now
    finally:
        code = child.stop(60)
        events.stop()
        commands.stop()
        progress.close()
    delta = stats_delta(before, after)
    delta.pop("info", None)
    out: dict[str, Any] = {
        **res,
        "exit": code,
        "hwm_kb": child.hwm_kb,
        "metrics_at_end": metrics,
        "check": sla_backlog.check_events(events.rows, backlog),
        "escalations": sla_backlog.check_escalations(commands.rows, backlog),
        "redis": redis_per_record(delta, total, cpu1 - cpu0),
        "commandstats_delta": delta,
        "log": str(child.log_path),
    }
    if "all_sla" in at:
        out["all_sla_events_s"] = at["all_sla"] - started  # vs lag0_s: the tail after lag 0
    stamps = sorted(rec.timestamp for _, rec in events.rows)
    if len(stamps) > 1:
        span = (stamps[-1] - stamps[0]) / 1000
        out["sla_events"] = {"n": len(stamps), "span_s": span, "per_s": (len(stamps) - 1) / span}
    if profile and code == 0:
        from benchmarks.sla_report import profile_text

        out["profile"] = profile_text(pstats_path)
    return out


def redis_per_record(delta: dict[str, dict[str, float]], n: int, cpu_s: float) -> dict[str, Any]:
    scripts = [c for c in ("evalsha", "eval", "evalsha_ro", "eval_ro") if c in delta]
    calls = sum(delta[c]["calls"] for c in scripts)
    usec = sum(delta[c]["usec"] for c in scripts)
    every = sum(v["calls"] for v in delta.values())
    return {
        "script_calls": calls,
        "script_calls_per_record": calls / n,
        "script_us_per_record": usec / n,
        "commands_per_record_incl_nested": every / n,
        "redis_cpu_us_per_record": cpu_s * 1e6 / n,
    }


def worker_raw(argv: list[str]) -> int:
    """Consume the three input topics -> one small record each to the scratch topic."""
    p = argparse.ArgumentParser(prog="sla_throughput _raw")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--timeout", type=float, default=300)
    a = p.parse_args(argv)
    from engine.adapters.kafka import KafkaEventLog, KafkaGroupConsumer
    from engine.config import Settings

    s = Settings.from_env()
    topics = [s.topic(t) for t in sla_backlog.INPUT_TOPICS]
    consumer = KafkaGroupConsumer(s.kafka, topics, s.group, max_poll_records=s.batch_max)
    producer = KafkaEventLog(s.kafka)
    out = s.topic_prefix + SCRATCH
    done, first, last = 0, 0.0, 0.0
    deadline = time.monotonic() + a.timeout
    while done < a.n and time.monotonic() < deadline:
        recs = consumer.poll(s.batch_max, s.poll_timeout_ms)
        for rec in recs:
            producer.send(out, rec.key, b"%d" % rec.offset)
        if recs:
            producer.flush()
            consumer.commit()
            first = first or time.perf_counter()
            last = time.perf_counter()
            done += len(recs)
    print(json.dumps({"done": done, "loop_s": last - first, "hwm_kb": proc_hwm_kb(os.getpid())}))
    import signal
    import threading

    stop = threading.Event()  # stay alive until the parent samples VmHWM and stops us
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait(120)
    consumer.close()
    producer.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_raw":
        return worker_raw(argv[1:])
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.sla_throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--n", type=int, default=20_000, help="tickets in the backlog")
    p.add_argument("--spacing-ms", type=int, default=10, help="between ticket creations")
    p.add_argument("--timeout", type=float, default=150.0, help="per measurement, seconds")
    p.add_argument("--profile", action="store_true", help="also a pass under cProfile")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--no-report", action="store_true", help="do not touch benchmarks/RESULTS.md")
    p.add_argument("--keep-state", action="store_true")
    a = p.parse_args(argv)
    if not 100 <= a.n <= 100_000:
        p.error("--n must be within 100..100000 (bounded load)")
    if a.timeout > 300:
        p.error("--timeout must be <= 300 s")

    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)
    from engine.adapters.kafka import create_topics, default_topic_specs
    from engine.adapters.kafka.admin import TopicSpec
    from engine.config import KafkaSettings, Settings, parse_bootstrap

    a.out.mkdir(parents=True, exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix="dispatch-bench-sla-"))
    result: dict[str, Any] = {
        "command": " ".join([COMMAND, *argv]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": {**machine(), "lscpu": lscpu()},
        "revision": revision(),
        "load_before": loadavg(),
        "settings": {"n": a.n, "spacing_ms": a.spacing_ms, "policy": sla_backlog.POLICY},
        "logs": str(logs),
    }
    t0 = time.monotonic()

    def say(msg: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f}s] {msg} (load {loadavg()})", file=sys.stderr)

    with stack(a.keep_state) as (bootstrap, redis_url, where):
        result["stack"] = where
        result["versions"] = versions(redis_url, bootstrap)
        base = Settings(
            kafka=KafkaSettings(bootstrap_servers=parse_bootstrap(bootstrap)), redis_url=redis_url
        )
        s = settings_for(base, "sla")
        specs = default_topic_specs(s, partitions=PARTITIONS_ARG)
        create_topics(s, [*specs, TopicSpec(s.topic_prefix + SCRATCH, 2 * PARTITIONS_ARG)])
        result["topics"] = {t.name.removeprefix(s.topic_prefix): t.partitions for t in specs}
        say(f"building and producing {a.n:,} tickets")
        backlog = sla_backlog.build(a.n, int(time.time() * 1000) - 4 * 3600 * 1000, a.spacing_ms)
        result["backlog"] = {
            **sla_backlog.produce(s, backlog),
            "tickets": a.n,
            "expected_sla_events": len(backlog.expected),
            "expected_by_kind": backlog.expected_by_kind(),
            "expected_escalations": len(backlog.escalations),
        }
        offsets = sla_backlog.end_offsets(s)
        total = sum(offsets.values())
        result["backlog"]["end_offsets"] = offsets
        if total != len(backlog.events):
            raise RuntimeError(f"{total} records on the input topics, {len(backlog.events)} sent")
        say(f"raw pass-through over {total:,} records")
        result["raw"] = measure_raw(s, total, logs, a.timeout)
        result["raw"]["load"] = loadavg()
        say(f"sla-tracker over {total:,} records")
        result["tracker"] = measure_tracker(s, backlog, total, logs, a.timeout, False)
        result["tracker"]["load"] = loadavg()
        if a.profile:
            say("sla-tracker under cProfile")
            result["profiled"] = measure_tracker(s, backlog, total, logs, a.timeout, True)
            result["profiled"]["load"] = loadavg()
    result["load_after"] = loadavg()
    result["wall_s"] = time.monotonic() - t0
    raw, tr = result["raw"].get("per_s"), result["tracker"].get("per_s")
    result["ratio_tracker_to_raw"] = tr / raw if raw and tr else None
    (a.out / "sla_throughput.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    from benchmarks.sla_report import summary, write_section

    print(summary(result))
    if not a.no_report:
        write_section(result, ROOT / "benchmarks" / "RESULTS.md")
    return 0 if result["tracker"]["check"]["valid"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
