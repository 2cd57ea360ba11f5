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

Code: this module is the CLI; ``bench_stack`` (stack, topics, backlog, Redis stats, machine),
``bench_workers`` (child processes, raw and dispatcher backlog runs, ``_raw``/``_pace``
workers), ``bench_latency`` (paced latency, loop phases), ``bench_profile`` (cProfile, Redis
script cost), ``bench_report`` (targets, table, RESULTS.md), ``bench_plots`` (PNGs).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_latency import measure_latency, paced_phases
from benchmarks.bench_plots import plots
from benchmarks.bench_profile import redis_scaling, run_profile
from benchmarks.bench_report import brief, table, targets, write_report
from benchmarks.bench_stack import loadavg, machine, revision, stack, versions
from benchmarks.bench_workers import measure_dispatcher, measure_raw, worker_pace, worker_raw

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
COMMAND = ".venv/bin/python -m benchmarks.throughput"


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
            print(f"  {name}: {brief(res)}", file=sys.stderr)
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
        write_report(result, ROOT / "benchmarks" / "RESULTS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
