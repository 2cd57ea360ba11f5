"""Shared pieces of the throughput benchmarks: constants, the ticket/agent events, a
Kafka + Redis stack (``engine.devstack`` or an external one), topics, the pre-produced
backlog, Redis ``INFO`` deltas, machine/version/revision facts."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
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
            log_.send(topic, codec.key_of(ev), value)
        log_.flush()
    return {
        "n": n,
        "mean_bytes": sizes / n,
        "produce_s": time.perf_counter() - started,
    }


def login_agents(s: Any, n_agents: int) -> None:
    """Log agents in through the dispatcher's own service code (same path as agents.events)."""
    from engine.adapters.redis import RedisAgentStore, client_from_url
    from engine.dispatch.service import DispatchService
    from engine.policy_file import load_policy

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


def lscpu() -> dict[str, str]:
    want = ("Model name", "CPU(s)", "Thread(s) per core", "Core(s) per socket")
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return {}
    rows = (ln.split(":", 1) for ln in text.splitlines() if ":" in ln)
    return {k.strip(): v.strip() for k, v in rows if k.strip() in want}


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
