"""Throughput and latency of the dispatcher on a real Kafka + Redis (issue 5, item 4).

Reproduce (starts its own Kafka + Redis with ``engine.devstack`` in a temp dir, or uses
``DISPATCH_KAFKA_BOOTSTRAP`` + ``DISPATCH_REDIS_URL`` when both are set)::

    .venv/bin/python -m benchmarks.throughput

Writes ``benchmarks/results/throughput.json``, ``benchmarks/results/throughput*.png`` and
prints a table; ``benchmarks/RESULTS.md`` is written from the JSON (``--no-report`` skips).

Every measurement gets a fresh topic prefix and Redis key prefix, with the same topic
settings (``default_topic_specs(partitions=2)``: 4 partitions for tickets.events and
dispatch.assignments). Loads are bounded in count and time; loopback only.

Measurements
- raw: a separate process runs a kafka-python consume -> produce loop (KafkaGroupConsumer +
  KafkaEventLog, poll batch 500, flush + commit per poll) over N pre-produced tickets.
- dispatcher xK (K = 1, 2): ``python -m engine.cli run dispatcher`` processes over N
  pre-produced tickets, 50 eligible agents logged in beforehand (chat capacity 10000).
  Rate = (N - 1) / (last - first decision timestamp on dispatch.assignments); the raw rate is
  taken the same way on its output topic.
- latency: a paced producer process offers R tickets/s for D s to one dispatcher; a watcher
  reads dispatch.assignments and takes receive wall time - ``ticket_ts`` of each decision.
- Redis: ``INFO commandstats`` deltas over each dispatcher run (EVALSHA/EVAL calls and usec).
- memory: VmHWM of each process from /proc/PID/status, read just before it stops.
- profile: the Pipeline in-process under cProfile over a backlog (``--profile-n``).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
COMMAND = ".venv/bin/python -m benchmarks.throughput"
PARTITIONS_ARG = 2  # default_topic_specs(partitions=2): tickets.events / assignments = 4
TENANT = "default"
REGION = "eu-west"
PAD = 50  # attribute padding so that a ticket.created event is ~250 bytes


# ---------------------------------------------------------------------------------- events
def ticket_event(i: int, ts: int, run: str) -> dict[str, Any]:
    return {
        "v": 1,
        "type": "ticket.created",
        "id": f"t-{run}-{i:07d}",
        "tenant": TENANT,
        "ts": ts,
        "channel": "chat",
        "priority": 3,
        "tier": "standard",
        "skills": {"general": 1},
        "region": REGION,
        "language": "en",
        "customer_id": f"c-{i % 50_000:05d}",
        "attributes": {"source": "bench", "pad": "x" * PAD},
    }


def agent_events(n: int) -> list[dict[str, Any]]:
    return [
        {
            "v": 1,
            "type": "agent.login",
            "id": f"agent-{i:03d}",
            "tenant": TENANT,
            "ts": int(time.time() * 1000),
            "skills": {"general": 3},
            "regions": [REGION],
            "capacity": {"chat": 10_000},
        }
        for i in range(n)
    ]


def dec(value: bytes) -> dict[str, Any]:
    """A decision event (msgpack map, see engine.codec) without schema validation."""
    import msgpack

    out: dict[str, Any] = msgpack.unpackb(value, raw=False)
    return out


def proc_hwm_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def settings_for(base: Any, label: str) -> Any:
    run = uuid.uuid4().hex[:6]
    return replace(
        base,
        topic_prefix=f"bench-{label}-{run}.",
        redis_prefix=f"bench-{label}-{run}",
        group=f"bench-{label}-{run}-dispatchers",
        http_port=0,
    )


def create_bench_topics(s: Any) -> None:
    from engine.adapters.kafka import create_topics, default_topic_specs

    create_topics(s, default_topic_specs(s, partitions=PARTITIONS_ARG))


def preproduce(s: Any, n: int, label: str) -> dict[str, Any]:
    """N ticket.created events onto tickets.events (validated once, then templated)."""
    from engine import codec
    from engine.adapters.kafka import KafkaEventLog

    codec.validate(ticket_event(0, 1, label))
    topic = s.topic("tickets.events")
    started = time.perf_counter()
    sizes = 0
    with KafkaEventLog(s.kafka, linger_ms=20) as log_:
        for i in range(n):
            ev = ticket_event(i, int(time.time() * 1000), label)
            value = codec.encode(ev)
            sizes += len(value)
            log_.send(topic, ev["id"].encode(), value)
        log_.flush()
    return {
        "n": n,
        "mean_bytes": sizes / n,
        "produce_s": time.perf_counter() - started,
    }


def login_agents(s: Any, n_agents: int) -> None:
    """Log agents in through the dispatcher's own service code (same path as agents.events)."""
    from engine.adapters.redis import RedisAgentStore, client_from_url
    from engine.policy_file import load_policy
    from engine.service import DispatchService

    store = RedisAgentStore(client_from_url(s.redis_url), prefix=s.redis_prefix)
    DispatchService(store, load_policy(None)).handle(
        agent_events(n_agents), int(time.time() * 1000)
    )
    assert len(store.agents(TENANT)) == n_agents


# --------------------------------------------------------------------------- Redis stats
def redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url)


def commandstats(r: Any) -> dict[str, dict[str, float]]:
    info = r.info("commandstats")
    return {k.removeprefix("cmdstat_"): dict(v) for k, v in info.items()}


def redis_cpu(r: Any) -> float:
    cpu = r.info("cpu")
    return float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"])


def stats_delta(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]
) -> dict[str, dict[str, float]]:
    out = {}
    for cmd, v in after.items():
        b = before.get(cmd, {})
        calls = v.get("calls", 0) - b.get("calls", 0)
        if calls > 0:
            out[cmd] = {"calls": calls, "usec": v.get("usec", 0) - b.get("usec", 0)}
    return out


def redis_per_ticket(delta: dict[str, dict[str, float]], n: int, cpu_s: float) -> dict[str, Any]:
    scripts = [c for c in ("evalsha", "eval", "evalsha_ro", "eval_ro") if c in delta]
    calls = sum(delta[c]["calls"] for c in scripts)
    usec = sum(delta[c]["usec"] for c in scripts)
    # Commands a client sends outside scripts (the engine: SADD/SMEMBERS of the tenant set,
    # HMGET of a ticket, SCRIPT LOAD); commands run inside scripts also appear in
    # commandstats, so only commands the engine never calls from Lua are counted here.
    # SMEMBERS is counted as a client call (the tenant list, once per loop); scripts use it
    # only for agent changes, so this is an upper bound. SADD is not counted: the scripts
    # run it per ticket, the client once per process and tenant.
    direct = {c: delta[c]["calls"] for c in ("smembers", "script|load", "script") if c in delta}
    trips = calls + sum(direct.values())
    return {
        "script_calls": calls,
        "script_usec": usec,
        "direct_calls": direct,
        "round_trips_per_ticket": trips / n,
        "script_calls_per_ticket": calls / n,
        "server_us_per_ticket": usec / n,
        "redis_cpu_us_per_ticket": cpu_s * 1e6 / n,
    }


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
        log_.send(s.topic("tickets.events"), ev["id"].encode(), codec.encode(ev))
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
    from engine.adapters.memory import WallClock
    from engine.adapters.redis import RedisAgentStore, client_from_url
    from engine.pipeline import Pipeline, PipelineTopics
    from engine.policy_file import load_policy
    from engine.service import DispatchService

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


def run_profile(base: Any, n: int, agents: int, top: int = 25) -> dict[str, Any]:
    from consumers.dispatcher import INPUT_TOPICS
    from engine.adapters.kafka import KafkaEventLog, KafkaGroupConsumer
    from engine.adapters.memory import WallClock
    from engine.adapters.redis import RedisAgentStore, client_from_url
    from engine.pipeline import Pipeline, PipelineTopics
    from engine.policy_file import load_policy
    from engine.service import DispatchService

    s = settings_for(base, "prof")
    create_bench_topics(s)
    preproduce(s, n, "prof")
    login_agents(s, agents)
    client = client_from_url(s.redis_url)
    calls: dict[str, int] = {}
    original = client.execute_command

    def counting(*args: Any, **kw: Any) -> Any:
        name = str(args[0]).lower() if args else "?"
        calls[name] = calls.get(name, 0) + 1
        return original(*args, **kw)

    client.execute_command = counting  # type: ignore[method-assign]
    store = RedisAgentStore(client, prefix=s.redis_prefix)
    consumer = KafkaGroupConsumer(
        s.kafka, [s.topic(t) for t in INPUT_TOPICS], s.group, max_poll_records=s.batch_max
    )
    producer = KafkaEventLog(s.kafka)
    pipeline = Pipeline(
        consumer,
        producer,
        DispatchService(store, load_policy(None)),
        WallClock(),
        PipelineTopics(
            decisions=s.topic("dispatch.assignments"), deadletter=s.topic("dispatch.deadletter")
        ),
        max_records=s.batch_max,
        poll_timeout_ms=s.poll_timeout_ms,
    )
    # Join the group and get the first batch outside the profile.
    done = 0
    deadline = time.monotonic() + 60
    while done == 0 and time.monotonic() < deadline:
        done += pipeline.run_once()
    calls.clear()
    prof = cProfile.Profile()
    started = time.perf_counter()
    first = done
    prof.enable()
    while done < n and time.monotonic() < deadline + 120:
        done += pipeline.run_once()
    prof.disable()
    elapsed = time.perf_counter() - started
    consumer.close()
    producer.close()
    buf = io.StringIO()
    st = pstats.Stats(prof, stream=buf)
    st.sort_stats("cumulative").print_stats(top)
    cum_text = buf.getvalue()
    buf = io.StringIO()
    st = pstats.Stats(prof, stream=buf)
    st.sort_stats("tottime").print_stats(top)
    tot_text = buf.getvalue()
    # Phase totals from the profile (cumulative seconds of the pipeline's own steps).
    phases: dict[str, float] = {}
    wanted = {
        ("consumer.py", "poll"): "kafka poll",
        ("codec.py", "decode"): "decode+validate",
        ("service.py", "handle"): "service.handle (route + Redis assign)",
        ("service.py", "tick"): "service.tick (timers/outbox: Redis)",
        ("pipeline.py", "_publish"): "publish (encode + producer.send)",
        ("producer.py", "flush"): "producer flush",
        ("pipeline.py", "_ack"): "outbox ack (Redis)",
        ("consumer.py", "commit"): "offset commit",
        ("store.py", "_run"): "all Redis script calls (store._run)",
        ("client.py", "execute_command"): "redis-py execute_command",
        ("core.py", "route"): "routing core (route)",
    }
    for (file, _line, func), (_cc, _nc, _tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        key = (os.path.basename(file), func)
        if key in wanted:
            label = wanted[key]
            phases[label] = phases.get(label, 0.0) + ct
    processed = done - first
    return {
        "n": processed,
        "elapsed_s": elapsed,
        "per_s_under_profile": processed / elapsed if elapsed > 0 else None,
        "phases_s": phases,
        "phases_us_per_ticket": {k: v * 1e6 / max(1, processed) for k, v in phases.items()},
        "redis_client_calls": calls,
        "redis_client_calls_per_ticket": sum(calls.values()) / max(1, processed),
        "top_cumulative": cum_text,
        "top_tottime": tot_text,
    }


def redis_scaling(base: Any, tickets: int = 2000) -> dict[str, Any]:
    """EVALSHA server time per ticket against candidate count and batch size: the store's
    assign (the dispatcher's one Redis call per batch) driven directly, in-process."""
    from engine.adapters.redis import RedisAgentStore, client_from_url
    from engine.core.model import Ticket
    from engine.core.routing import route
    from engine.policy_file import load_policy
    from engine.service import DispatchService

    policy = load_policy(None)
    r = redis_client(base.redis_url)
    out: list[dict[str, Any]] = []
    for agents, batch in ((1, 500), (10, 500), (50, 500), (200, 500), (50, 100), (50, 10), (50, 1)):
        s = settings_for(base, f"scale{agents}x{batch}")
        store = RedisAgentStore(client_from_url(s.redis_url), prefix=s.redis_prefix)
        DispatchService(store, policy).handle(agent_events(agents), int(time.time() * 1000))
        n = min(tickets, batch * 300) + 1
        items = []
        for i in range(n):
            ev = ticket_event(i, int(time.time() * 1000), f"s{agents}x{batch}")
            req = route(Ticket.from_event(ev), policy, ev["ts"]).request
            items.append((req, ev))
        store.assign(items[:1], int(time.time() * 1000))  # load the script, register tenant
        # Three rounds over fresh tickets of the same pool; the round with the least server
        # time is kept (the machine is shared: preemption only ever adds time).
        rounds = []
        per_round = (n - 1) // 3
        for k in range(3):
            chunk = items[1 + k * per_round : 1 + (k + 1) * per_round]
            before = commandstats(r)
            started = time.perf_counter()
            for i in range(0, len(chunk), batch):
                store.assign(chunk[i : i + batch], int(time.time() * 1000))
            wall = time.perf_counter() - started
            delta = stats_delta(before, commandstats(r))
            ev_ = delta.get("evalsha", {"calls": 0, "usec": 0})
            done = len(chunk)
            others = {k2: v for k2, v in delta.items() if k2 not in ("evalsha", "info")}
            rounds.append(
                {
                    "agents": agents,
                    "batch": batch,
                    "tickets": done,
                    "evalsha_calls": ev_["calls"],
                    "server_us_per_ticket": ev_["usec"] / done,
                    "nested_commands_us_per_ticket": sum(v["usec"] for v in others.values()) / done,
                    "nested_commands_per_ticket": sum(v["calls"] for v in others.values()) / done,
                    "client_wall_us_per_ticket": wall * 1e6 / done,
                }
            )
        best = min(rounds, key=lambda x: x["server_us_per_ticket"])
        best["server_us_per_ticket_rounds"] = [round(x["server_us_per_ticket"], 1) for x in rounds]
        out.append(best)
    return {"rows": out}


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
            producer.send(topic, ev["id"].encode(), codec.encode(ev))
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


# ------------------------------------------------------------------------------ machine
def machine() -> dict[str, Any]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
    }


def versions(redis_url: str, bootstrap: str) -> dict[str, Any]:
    import kafka
    import redis

    from engine.devstack.maven import KAFKA_VERSION

    r = redis_client(redis_url)
    out = {
        "python": platform.python_version(),
        "kafka-python": kafka.__version__,
        "redis-py": redis.__version__,
        "redis_server": r.info("server")["redis_version"],
        "kafka_broker": f"{KAFKA_VERSION} (engine.devstack)",
    }
    with contextlib.suppress(Exception):
        import crc32c  # noqa: F401

        out["crc32c"] = "installed"
    return out


def revision() -> dict[str, Any]:
    """The commit the engine code came from, and engine files differing from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    dirty = git("status", "--porcelain", "--", "engine", "consumers", "producers")
    return {"commit": git("rev-parse", "HEAD"), "dirty": dirty.splitlines()}


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ------------------------------------------------------------------------------- stack
@contextlib.contextmanager
def stack(keep: bool) -> Iterator[tuple[str, str, str]]:
    bootstrap = os.environ.get("DISPATCH_KAFKA_BOOTSTRAP")
    redis_url = os.environ.get("DISPATCH_REDIS_URL")
    if bootstrap and redis_url:
        yield bootstrap, redis_url, "external (DISPATCH_KAFKA_BOOTSTRAP / DISPATCH_REDIS_URL)"
        return
    from engine.devstack.stack import DevStack

    state = Path(tempfile.mkdtemp(prefix="dispatch-bench-"))
    print(f"starting Kafka + Redis in {state} ...", file=sys.stderr)
    started = time.monotonic()
    with DevStack(state) as st:
        ep = st.endpoints
        print(f"stack up in {time.monotonic() - started:.1f} s: {ep}", file=sys.stderr)
        try:
            yield str(ep.kafka_bootstrap), str(ep.redis_url), f"engine.devstack in {state}"
        finally:
            pass
    if not keep:
        shutil.rmtree(state, ignore_errors=True)


# ------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_raw":
        return worker_raw(argv[1:])
    if argv and argv[0] == "_pace":
        return worker_pace(argv[1:])
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--n", type=int, default=30_000, help="backlog size (20k-50k)")
    p.add_argument("--agents", type=int, default=50)
    p.add_argument("--rates", default="200,1000,3000", help="offered loads, tickets/s")
    p.add_argument("--duration", type=float, default=15.0, help="seconds per offered load")
    p.add_argument("--processes", default="1,2", help="dispatcher process counts")
    p.add_argument("--profile-n", type=int, default=20_000, help="0: no cProfile run")
    p.add_argument("--timeout", type=float, default=240.0, help="per backlog measurement")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--no-report", action="store_true", help="do not write benchmarks/RESULTS.md")
    p.add_argument("--keep-state", action="store_true")
    a = p.parse_args(argv)
    if not 1_000 <= a.n <= 100_000:
        p.error("--n must be within 1000..100000 (bounded load)")
    if a.duration > 60:
        p.error("--duration must be <= 60 s")
    rates = [int(x) for x in a.rates.split(",") if x]
    procs = [int(x) for x in a.processes.split(",") if x]

    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)
    from engine.config import KafkaSettings, Settings, parse_bootstrap

    a.out.mkdir(parents=True, exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix="dispatch-bench-logs-"))
    result: dict[str, Any] = {
        "command": " ".join([COMMAND, *argv]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(),
        "revision": revision(),
        "load_before": loadavg(),
        "settings": {
            "n": a.n,
            "agents": a.agents,
            "rates": rates,
            "duration_s": a.duration,
            "topics": "default_topic_specs(partitions=2): tickets.events 4, dispatch.assignments 4",
            "batch_max": 500,
            "ticket": "chat, priority 3, skills {general: 1}, region eu-west -> queue general"
            " (round_robin); agents: skills {general: 3}, region eu-west, capacity {chat: 10000}",
        },
        "logs": str(logs),
    }
    t0 = time.monotonic()
    with stack(a.keep_state) as (bootstrap, redis_url, where):
        result["stack"] = where
        result["versions"] = versions(redis_url, bootstrap)
        base = Settings(
            kafka=KafkaSettings(bootstrap_servers=parse_bootstrap(bootstrap)), redis_url=redis_url
        )

        def step(name: str, fn: Any, *args: Any) -> Any:
            print(f"[{time.monotonic() - t0:6.1f}s] {name} (load {loadavg()}) ...", file=sys.stderr)
            try:
                res = fn(*args)
            except Exception as exc:  # report what failed, keep the other figures
                print(f"  {name} FAILED: {exc!r}", file=sys.stderr)
                res = {"error": repr(exc)}
            if isinstance(res, dict):
                res["load"] = loadavg()
            print(f"  {name}: {_brief(res)}", file=sys.stderr)
            return res

        result["raw"] = step("raw pass-through", measure_raw, base, a.n, logs, a.timeout)
        result["dispatcher"] = {
            str(k): step(
                f"dispatcher x{k}", measure_dispatcher, base, k, a.n, a.agents, logs, a.timeout
            )
            for k in procs
        }
        result["latency"] = {
            str(rate): step(
                f"latency @{rate}/s", measure_latency, base, rate, a.duration, a.agents, logs
            )
            for rate in rates
        }
        result["redis_scaling"] = step("Redis script cost vs candidates/batch", redis_scaling, base)
        result["phases"] = {
            str(rate): step(
                f"in-process loop phases @{rate}/s",
                paced_phases,
                base,
                rate,
                min(a.duration, 8.0),
                a.agents,
                logs,
            )
            for rate in (200, 1000)
        }
        if a.profile_n:
            result["profile"] = step("cProfile pipeline", run_profile, base, a.profile_n, a.agents)
    result["load_after"] = loadavg()
    result["wall_s"] = time.monotonic() - t0
    result["targets"] = targets(result)
    (a.out / "throughput.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    plots(result, a.out)
    print(table(result))
    if not a.no_report:
        from benchmarks.throughput_report import write_report

        write_report(result, ROOT / "benchmarks" / "RESULTS.md")
    return 0


def _brief(res: Any) -> str:
    if not isinstance(res, dict):
        return str(res)
    keys = ("per_s", "achieved_per_s", "latency_ms", "per_s_under_profile", "error", "complete")
    return ", ".join(f"{k}={res[k]}" for k in keys if k in res)


def targets(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    raw = (r.get("raw") or {}).get("per_s")
    disp = r.get("dispatcher", {})
    for k, d in disp.items():
        per = d.get("per_s")
        if raw and per:
            ratio = per / int(k) / raw
            out[f"ratio_per_process_x{k}"] = {
                "value": ratio,
                "target": ">= 0.8",
                "met": ratio >= 0.8,
            }
    lat = (r.get("latency", {}).get("1000") or {}).get("latency_ms", {}).get("p99")
    if lat is not None:
        out["p99_ms_at_1000"] = {"value": lat, "target": "<= 50", "met": lat <= 50}
    d1 = (disp.get("1") or {}).get("redis")
    if d1:
        rt, us = d1["round_trips_per_ticket"], d1["server_us_per_ticket"]
        out["redis_round_trips_per_ticket"] = {"value": rt, "target": "<= 0.1", "met": rt <= 0.1}
        out["redis_server_us_per_ticket"] = {"value": us, "target": "<= 30", "met": us <= 30}
    return out


def _f(x: Any, fmt: str = "{:,.0f}") -> str:
    return "n/a" if x is None else fmt.format(x)


def table(r: dict[str, Any]) -> str:
    lines = ["", "measurement                 tickets/s   per proc   ratio  peak RSS MiB"]
    raw = r.get("raw", {})
    lines.append(
        f"raw pass-through x1         {_f(raw.get('per_s')):>9}  {_f(raw.get('per_s')):>9}"
        f"   1.00  {_f((raw.get('hwm_kb') or 0) / 1024, '{:.0f}'):>6}"
    )
    for k, d in r.get("dispatcher", {}).items():
        per = d.get("per_s")
        ratio = per / int(k) / raw["per_s"] if per and raw.get("per_s") else None
        hwm = ",".join(_f((h or 0) / 1024, "{:.0f}") for h in d.get("hwm_kb", []))
        lines.append(
            f"dispatcher x{k:<16}{_f(per):>9}  {_f(per / int(k) if per else None):>9}"
            f"  {_f(ratio, '{:.2f}'):>5}  {hwm:>6}"
        )
    lines.append("")
    lines.append(
        "offered/s  achieved/s  p50 ms  p95 ms  p99 ms  max ms  RT/ticket  Redis us/ticket"
    )
    for rate, d in r.get("latency", {}).items():
        lm = d.get("latency_ms", {})
        rd = d.get("redis", {})
        lines.append(
            f"{rate:>9}  {_f(d.get('achieved_per_s')):>10}  {_f(lm.get('p50'), '{:.1f}'):>6}"
            f"  {_f(lm.get('p95'), '{:.1f}'):>6}  {_f(lm.get('p99'), '{:.1f}'):>6}"
            f"  {_f(lm.get('max'), '{:.1f}'):>6}  {_f(rd.get('round_trips_per_ticket'), '{:.3f}'):>9}"
            f"  {_f(rd.get('server_us_per_ticket'), '{:.1f}'):>15}"
        )
    lines.append("")
    for name, t in r.get("targets", {}).items():
        lines.append(
            f"{name:32} {t['value']:.3f}  target {t['target']:8} {'met' if t['met'] else 'MISSED'}"
        )
    return "\n".join(lines)


def plots(r: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    names, vals = ["raw x1"], [(r.get("raw") or {}).get("per_s") or 0]
    for k, d in r.get("dispatcher", {}).items():
        names.append(f"dispatcher x{k}")
        vals.append(d.get("per_s") or 0)
    ax[0].bar(names, vals, color=["#888"] + ["#1f77b4"] * (len(names) - 1))
    ax[0].set_ylabel("tickets / s (backlog)")
    ax[0].set_title("Throughput over a pre-produced backlog")
    for i, v in enumerate(vals):
        ax[0].text(i, v, f"{v:,.0f}", ha="center", va="bottom")
    rates, p50, p95, p99 = [], [], [], []
    for rate, d in r.get("latency", {}).items():
        lm = d.get("latency_ms") or {}
        if lm.get("p50") is None:
            continue
        rates.append(int(rate))
        p50.append(lm["p50"])
        p95.append(lm["p95"])
        p99.append(lm["p99"])
    if not rates:
        rates, p50, p95, p99 = [1], [1], [1], [1]
    ax[1].plot(rates, p50, "o-", label="p50")
    ax[1].plot(rates, p95, "s-", label="p95")
    ax[1].plot(rates, p99, "^-", label="p99")
    ax[1].axhline(50, color="red", ls="--", lw=1, label="p99 target 50 ms")
    ax[1].set_xscale("log")
    ax[1].set_yscale("log")
    ax[1].set_xticks(rates)
    ax[1].set_xticklabels([f"{x:,}" for x in rates])
    ax[1].minorticks_off()
    ax[1].set_xlabel("offered tickets / s")
    ax[1].set_ylabel("produce -> decision visible, ms")
    ax[1].set_title("End-to-end latency, 1 dispatcher")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(out / "throughput.png", dpi=110)
    plt.close(fig)

    rows = (r.get("redis_scaling") or {}).get("rows") or []
    if rows:
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
        by_cand = [x for x in rows if x["batch"] == 500]
        ax[0].plot(
            [x["agents"] for x in by_cand], [x["server_us_per_ticket"] for x in by_cand], "o-"
        )
        ax[0].set_xlabel("candidate agents (batch 500)")
        by_batch = sorted((x for x in rows if x["agents"] == 50), key=lambda x: x["batch"])
        ax[1].plot(
            [x["batch"] for x in by_batch], [x["server_us_per_ticket"] for x in by_batch], "o-"
        )
        ax[1].set_xscale("log")
        ax[1].set_xlabel("tickets per script call (50 candidates)")
        for a_ in ax:
            a_.axhline(30, color="red", ls="--", lw=1, label="target 30 µs")
            a_.set_ylabel("Redis server µs / ticket")
            a_.set_ylim(bottom=0)
            a_.legend()
        fig.suptitle("assign.lua cost per ticket (EVALSHA usec, best of 3)")
        fig.tight_layout()
        fig.savefig(out / "throughput_redis.png", dpi=110)
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for rate, d in r.get("latency", {}).items():
        xs = sorted(d.get("latencies_ms_sample") or [])
        if xs:
            ax.plot(xs, [i / len(xs) for i in range(len(xs))], label=f"{rate}/s")
    if any(d.get("latencies_ms_sample") for d in r.get("latency", {}).values()):
        ax.set_xscale("log")
    ax.set_xlabel("latency ms")
    ax.set_ylabel("CDF")
    ax.set_title("Latency CDF per offered load")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "throughput_latency_cdf.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
