"""End-to-end latency at paced offered loads (dispatcher child process) and the wall time
per dispatcher loop step (the Pipeline in-process at a paced load)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_stack import (
    commandstats,
    create_bench_topics,
    dec,
    login_agents,
    redis_client,
    redis_cpu,
    redis_per_ticket,
    settings_for,
    stats_delta,
    ticket_event,
)
from benchmarks.bench_workers import Child, Watcher, child_env, dispatcher_children, sample_while


def percentile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    i = min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))
    return xs[i]


def measure_latency(
    base: Any, rate: int, duration_s: float, agents: int, logs: Path
) -> dict[str, Any]:
    s = settings_for(base, f"lat{rate}")
    create_bench_topics(s)
    login_agents(s, agents)
    r = redis_client(s.redis_url)
    watcher = Watcher(s, s.topic("dispatch.assignments"), f"{s.redis_prefix}-watch").start()
    children = dispatcher_children(s, 1, logs, f"lat{rate}")
    # Wait until the dispatcher joined its group (a warm-up ticket is decided) before pacing.
    from engine import codec
    from engine.adapters.kafka import KafkaEventLog

    with KafkaEventLog(s.kafka) as log_:
        ev = ticket_event(9_999_999, int(time.time() * 1000), f"w{rate}")
        log_.send(s.topic("tickets.events"), codec.key_of(ev), codec.encode(ev))
        log_.flush()
    if not sample_while(children, watcher, 1, 60):
        raise RuntimeError("dispatcher did not decide the warm-up ticket within 60 s")
    warm_rows = len(watcher.rows)
    before, cpu0 = commandstats(r), redis_cpu(r)
    pacer = Child(
        [
            sys.executable,
            "-m",
            "benchmarks.throughput",
            "_pace",
            "--rate",
            str(rate),
            "--duration",
            str(duration_s),
            "--tag",
            f"p{rate}",
        ],
        child_env(s),
        logs / f"pace{rate}.log",
    )
    try:
        pacer.proc.wait(duration_s + 60)
        report_path = logs / f"pace{rate}.log"
        sent = json.loads(report_path.read_text().strip().splitlines()[-1])
        ok = sample_while(children, watcher, warm_rows + sent["sent"], 30)
        after, cpu1 = commandstats(r), redis_cpu(r)
    finally:
        for c in children:
            c.terminate()
        codes = [c.wait() for c in children]
        watcher.stop()
    lat, to_decision, after_decision = [], [], []
    batches: dict[int, int] = {}
    for recv, rec in watcher.rows[warm_rows:]:
        d = dec(rec.value)
        if d["type"] == "decision.assigned":
            lat.append(recv - d["ticket_ts"])
            to_decision.append(d["ts"] - d["ticket_ts"])
            after_decision.append(recv - d["ts"])
            batches[d["ts"]] = batches.get(d["ts"], 0) + 1
    delta = stats_delta(before, after)
    return {
        "offered_per_s": rate,
        "duration_s": duration_s,
        "sent": sent["sent"],
        "achieved_per_s": sent["achieved_per_s"],
        "pacer_behind_max_ms": sent["behind_max_ms"],
        "complete": ok,
        "exits": codes,
        "decisions": len(watcher.rows) - warm_rows,
        "latency_ms": {
            "p50": percentile(lat, 50),
            "p95": percentile(lat, 95),
            "p99": percentile(lat, 99),
            "max": max(lat) if lat else None,
            "n": len(lat),
        },
        "latencies_ms_sample": lat[:: max(1, len(lat) // 2000)],
        "split_ms": {
            "ticket_ts_to_decision_ts": {q: percentile(to_decision, q) for q in (50, 95, 99)},
            "decision_ts_to_visible": {q: percentile(after_decision, q) for q in (50, 95, 99)},
        },
        "dispatcher_batches": {
            "count": len(batches),
            "mean_size": (sum(batches.values()) / len(batches)) if batches else None,
            "max_size": max(batches.values()) if batches else None,
        },
        "hwm_kb": [c.hwm_kb for c in children],
        "pacer_hwm_kb": pacer.hwm_kb or sent.get("hwm_kb"),
        "redis": redis_per_ticket(delta, max(1, sent["sent"]), cpu1 - cpu0),
    }


def paced_phases(
    base: Any, rate: int, duration_s: float, agents: int, logs: Path
) -> dict[str, Any]:
    """The dispatcher Pipeline in this process at an offered load (pacer child process), with
    wall time per loop step: where a low-load loop spends its time."""
    from consumers.dispatcher import INPUT_TOPICS
    from engine.adapters.kafka import KafkaEventLog, KafkaGroupConsumer
    from engine.adapters.redis import RedisAgentStore, client_from_url
    from engine.clock import WallClock
    from engine.dispatch.pipeline import Pipeline, PipelineTopics
    from engine.dispatch.service import DispatchService
    from engine.policy_file import load_policy

    s = settings_for(base, f"phase{rate}")
    create_bench_topics(s)
    login_agents(s, agents)
    store = RedisAgentStore(client_from_url(s.redis_url), prefix=s.redis_prefix)
    consumer = KafkaGroupConsumer(
        s.kafka, [s.topic(t) for t in INPUT_TOPICS], s.group, max_poll_records=s.batch_max
    )
    producer = KafkaEventLog(s.kafka)
    service = DispatchService(store, load_policy(None))
    pipeline = Pipeline(
        consumer,
        producer,
        service,
        WallClock(),
        PipelineTopics(
            decisions=s.topic("dispatch.assignments"), deadletter=s.topic("dispatch.deadletter")
        ),
        max_records=s.batch_max,
        poll_timeout_ms=s.poll_timeout_ms,
    )
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}

    def timed(obj: Any, name: str, label: str) -> None:
        fn = getattr(obj, name)

        def wrapper(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                totals[label] = totals.get(label, 0.0) + time.perf_counter() - t
                counts[label] = counts.get(label, 0) + 1

        setattr(obj, name, wrapper)

    timed(consumer, "poll", "kafka poll (incl. waiting for records)")
    timed(service, "handle", "service.handle (route + assign script)")
    timed(service, "tick", "service.tick (SMEMBERS + outbox + timers scripts)")
    timed(pipeline, "_publish", "publish (encode + send)")
    timed(producer, "flush", "producer flush (acks=all)")
    timed(pipeline, "_ack", "outbox ack script")
    timed(consumer, "commit", "offset commit (sync)")
    # join the group before pacing
    deadline = time.monotonic() + 60
    while not consumer.assignment() and time.monotonic() < deadline:
        pipeline.run_once()
    for _ in range(20):
        pipeline.run_once()
    totals.clear()
    counts.clear()
    pacer = Child(
        [
            sys.executable,
            "-m",
            "benchmarks.throughput",
            "_pace",
            "--rate",
            str(rate),
            "--duration",
            str(duration_s),
            "--tag",
            f"ph{rate}",
        ],
        child_env(s),
        logs / f"phase-pace{rate}.log",
    )
    loops = records = 0
    started = time.perf_counter()
    end = time.monotonic() + duration_s + 30
    while time.monotonic() < end:
        records += pipeline.run_once()
        loops += 1
        if pacer.proc.poll() is not None and records >= int(rate * duration_s):
            break
    wall = time.perf_counter() - started
    pacer.stop()
    consumer.close()
    producer.close()
    return {
        "offered_per_s": rate,
        "loops": loops,
        "records": records,
        "wall_s": wall,
        "ms_per_loop": {k: v * 1000 / max(1, loops) for k, v in totals.items()},
        "loop_ms": wall * 1000 / max(1, loops),
        "calls": counts,
    }
