"""Backlog measurements with child processes: the topic watcher, ``dispatch run dispatcher``
children, the raw kafka-python pass-through, and the ``_raw`` / ``_pace`` worker entry
points (run as ``python -m benchmarks.throughput _raw|_pace``)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_stack import (
    ROOT,
    commandstats,
    create_bench_topics,
    dec,
    login_agents,
    preproduce,
    proc_hwm_kb,
    redis_client,
    redis_cpu,
    redis_per_ticket,
    settings_for,
    stats_delta,
    ticket_event,
)


# ---------------------------------------------------------------------------- decisions
class Watcher:
    """Reads a topic from the start in a thread (no group: assigned partitions); keeps
    (receive wall ms, kafka-python ConsumerRecord with its CreateTime ``timestamp``)."""

    def __init__(self, s: Any, topic: str, group: str) -> None:
        from kafka import KafkaConsumer, TopicPartition

        from engine.adapters.kafka.consumer import CONSUMER_DEFAULTS
        from engine.adapters.kafka.options import build, client_options

        del group
        opts = client_options(s.kafka, "bench-watcher")
        opts.update(
            enable_auto_commit=False,
            group_id=None,
            max_poll_records=5000,
            fetch_max_wait_ms=CONSUMER_DEFAULTS["fetch_max_wait_ms"],
        )
        self.consumer = build(KafkaConsumer, opts, f"watch {topic}")
        parts = self.consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            raise RuntimeError(f"topic {topic} has no partitions")
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)
        self.rows: list[tuple[float, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            batches = self.consumer.poll(timeout_ms=50, max_records=5000)
            if batches:
                now = time.time() * 1000
                for recs in batches.values():
                    self.rows.extend((now, r) for r in recs)

    def wait_count(self, n: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len(self.rows) >= n:
                return True
            time.sleep(0.05)
        return len(self.rows) >= n

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.consumer.close()


def record_ts(rec: Any) -> float | None:
    """The Kafka record timestamp (producer CreateTime, ms)."""
    return getattr(rec, "timestamp", None)


def rate_from_values(rows: list[tuple[float, Any]], n: int, field: str = "ts") -> dict[str, Any]:
    """Rate from first to last decision, using the ``ts`` the dispatcher stamps on each."""
    ts = sorted(dec(r.value)[field] for _, r in rows[:n])
    span = (ts[-1] - ts[0]) / 1000 if len(ts) > 1 else 0.0
    return {"n": len(ts), "span_s": span, "per_s": (len(ts) - 1) / span if span > 0 else None}


def rate_from_receive(rows: list[tuple[float, Any]], n: int) -> dict[str, Any]:
    ts = sorted(t for t, _ in rows[:n])
    span = (ts[-1] - ts[0]) / 1000 if len(ts) > 1 else 0.0
    return {"n": len(ts), "span_s": span, "per_s": (len(ts) - 1) / span if span > 0 else None}


# -------------------------------------------------------------------------- child procs
def child_env(s: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCH_")}
    env.update(
        DISPATCH_KAFKA_BOOTSTRAP=",".join(s.kafka.bootstrap_servers),
        DISPATCH_REDIS_URL=s.redis_url,
        DISPATCH_TOPIC_PREFIX=s.topic_prefix,
        DISPATCH_REDIS_PREFIX=s.redis_prefix,
        DISPATCH_GROUP=s.group,
        DISPATCH_HTTP_PORT="0",
        PYTHONUNBUFFERED="1",
    )
    return env


class Child:
    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        with log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.log_path = log_path
        self.hwm_kb: int | None = None

    def sample(self) -> None:
        hwm = proc_hwm_kb(self.proc.pid)
        if hwm is not None:
            self.hwm_kb = max(self.hwm_kb or 0, hwm)

    def stop(self, timeout_s: float = 30) -> int:
        self.terminate()
        return self.wait(timeout_s)

    def terminate(self) -> None:
        self.sample()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout_s: float = 30) -> int:
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


def dispatcher_children(s: Any, k: int, logs: Path, label: str) -> list[Child]:
    return [
        Child(
            [sys.executable, "-m", "engine.cli", "run", "dispatcher"],
            child_env(s),
            logs / f"{label}-dispatcher-{i}.log",
        )
        for i in range(k)
    ]


def parse_dispatcher_log(path: Path, tickets_topic: str) -> dict[str, Any]:
    """Last assignment (time, tickets.events partitions) and records processed, from the
    dispatcher's own INFO log lines."""
    import ast
    from datetime import datetime

    out: dict[str, Any] = {"log": str(path)}
    for line in path.read_text(errors="replace").splitlines():
        if "received SIGTERM" in line:
            out["stopping"] = True
        if "partitions assigned" in line and not out.get("stopping"):
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            # the first assignment: when this member started taking part
            out.setdefault("assigned_ms", stamp.timestamp() * 1000)
            try:
                parts = ast.literal_eval(line.split("partitions assigned", 1)[1].strip())
                mine = set(out.get("ticket_partitions", [])) | {
                    p for t, p in parts if t == tickets_topic
                }
                out["ticket_partitions"] = sorted(mine)
            except (ValueError, SyntaxError):
                pass
        elif "partitions revoked" in line and "ticket_partitions" in out:
            try:
                parts = ast.literal_eval(line.split("partitions revoked", 1)[1].strip())
                gone = {p for t, p in parts if t == tickets_topic}
                out["ticket_partitions"] = [p for p in out["ticket_partitions"] if p not in gone]
            except (ValueError, SyntaxError):
                pass
        elif "dispatcher stopped:" in line:
            out["records"] = int(line.split("dispatcher stopped:", 1)[1].split()[0])
    return out


def sample_while(children: list[Child], watcher: Watcher, n: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for c in children:
            c.sample()
            if c.proc.poll() is not None:
                raise RuntimeError(f"child exited with {c.proc.returncode}: see {c.log_path}")
        if len(watcher.rows) >= n:
            return True
        time.sleep(0.2)
    return len(watcher.rows) >= n


# ------------------------------------------------------------------------ measurements
def measure_raw(base: Any, n: int, logs: Path, timeout_s: float) -> dict[str, Any]:
    s = settings_for(base, "raw")
    create_bench_topics(s)
    pre = preproduce(s, n, "raw")
    out_topic = s.topic("dispatch.assignments")
    watcher = Watcher(s, out_topic, f"{s.redis_prefix}-watch").start()
    child = Child(
        [sys.executable, "-m", "benchmarks.throughput", "_raw", "--n", str(n)],
        child_env(s),
        logs / "raw.log",
    )
    try:
        ok = sample_while([child], watcher, n, timeout_s)
    finally:
        code = child.stop()
        watcher.stop()
    ts = sorted(record_ts(r) for _, r in watcher.rows[:n])
    span = (ts[-1] - ts[0]) / 1000 if len(ts) > 1 else 0.0
    return {
        "preproduce": pre,
        "complete": ok,
        "exit": code,
        "records": len(watcher.rows),
        "span_s": span,
        "per_s": (len(ts) - 1) / span if span > 0 else None,
        "hwm_kb": child.hwm_kb,
    }


def measure_dispatcher(
    base: Any, k: int, n: int, agents: int, logs: Path, timeout_s: float
) -> dict[str, Any]:
    s = settings_for(base, f"disp{k}")
    create_bench_topics(s)
    pre = preproduce(s, n, f"d{k}")
    login_agents(s, agents)
    r = redis_client(s.redis_url)
    watcher = Watcher(s, s.topic("dispatch.assignments"), f"{s.redis_prefix}-watch").start()
    before, cpu0 = commandstats(r), redis_cpu(r)
    children = dispatcher_children(s, k, logs, f"disp{k}")
    try:
        ok = sample_while(children, watcher, n, timeout_s)
        after, cpu1 = commandstats(r), redis_cpu(r)
    finally:
        for c in children:
            c.terminate()
        codes = [c.wait() for c in children]
        watcher.stop()
    kinds: dict[str, int] = {}
    for _, rec in watcher.rows:
        kind = dec(rec.value)["type"]
        kinds[kind] = kinds.get(kind, 0) + 1
    delta = stats_delta(before, after)
    ts = sorted(record_ts(rec) for _, rec in watcher.rows[:n])
    span = (ts[-1] - ts[0]) / 1000 if len(ts) > 1 else 0.0
    members = [parse_dispatcher_log(c.log_path, s.topic("tickets.events")) for c in children]
    steady: dict[str, Any] = {}
    joined = [m["assigned_ms"] for m in members if m.get("assigned_ms")]
    if len(joined) == k and ts:
        t_all = max(joined)
        after_join = [t for t in ts if t >= t_all]
        window = (ts[-1] - t_all) / 1000
        steady = {
            "all_joined_ms": t_all,
            "decisions_after_join": len(after_join),
            "window_s": window,
            "per_s": len(after_join) / window if window > 0.5 and after_join else None,
        }
    return {
        "processes": k,
        "members": members,
        "after_all_joined": steady,
        "preproduce": pre,
        "complete": ok,
        "exits": codes,
        "decisions": len(watcher.rows),
        "kinds": kinds,
        "span_s": span,
        "per_s": (len(ts) - 1) / span if span > 0 else None,
        "by_decision_ts": rate_from_values(watcher.rows, n),
        "hwm_kb": [c.hwm_kb for c in children],
        "redis": redis_per_ticket(delta, n, cpu1 - cpu0),
        "commandstats_delta": delta,
    }


# ------------------------------------------------------------------------------ workers
def worker_raw(argv: list[str]) -> int:
    """Consume tickets.events -> produce dispatch.assignments, N records, then exit."""
    p = argparse.ArgumentParser(prog="throughput _raw")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--timeout", type=float, default=300)
    a = p.parse_args(argv)
    from engine.adapters.kafka import KafkaEventLog, KafkaGroupConsumer
    from engine.config import Settings

    s = Settings.from_env()
    consumer = KafkaGroupConsumer(
        s.kafka, [s.topic("tickets.events")], s.group, max_poll_records=500
    )
    producer = KafkaEventLog(s.kafka)
    out = s.topic("dispatch.assignments")
    done = 0
    first = last = None
    deadline = time.monotonic() + a.timeout
    while done < a.n and time.monotonic() < deadline:
        recs = consumer.poll(500, 100)
        for rec in recs:
            producer.send(out, rec.key, rec.value)
        if recs:
            producer.flush()
            consumer.commit()
            now = time.perf_counter()
            first = first or now
            last = now
            done += len(recs)
    print(
        json.dumps(
            {"done": done, "loop_s": (last or 0) - (first or 0), "hwm_kb": proc_hwm_kb(os.getpid())}
        )
    )
    # Stay alive until the parent samples VmHWM and stops us.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait(120)
    consumer.close()
    producer.close()
    return 0


def worker_pace(argv: list[str]) -> int:
    """Offer --rate tickets/s for --duration s; `ts` is the wall time at send."""
    p = argparse.ArgumentParser(prog="throughput _pace")
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--tag", default="p")
    a = p.parse_args(argv)
    from engine import codec
    from engine.adapters.kafka import KafkaEventLog
    from engine.config import Settings

    s = Settings.from_env()
    topic = s.topic("tickets.events")
    total = int(a.rate * a.duration)
    producer = KafkaEventLog(s.kafka)
    producer.connect()
    start = time.perf_counter()
    sent = 0
    behind_max = 0.0
    while sent < total:
        now = time.perf_counter()
        due = min(total, int((now - start) * a.rate) + 1)
        behind_max = max(behind_max, (due - sent) / a.rate * 1000)
        while sent < due:
            ev = ticket_event(sent, time.time_ns() // 1_000_000, a.tag)
            producer.send(topic, codec.key_of(ev), codec.encode(ev))
            sent += 1
        next_at = start + sent / a.rate
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(min(delay, 0.002))
    elapsed = time.perf_counter() - start
    producer.flush()
    hwm = proc_hwm_kb(os.getpid())
    producer.close()
    print(
        json.dumps(
            {
                "sent": sent,
                "elapsed_s": elapsed,
                "achieved_per_s": sent / elapsed,
                "behind_max_ms": behind_max,
                "hwm_kb": hwm,
            }
        )
    )
    return 0
