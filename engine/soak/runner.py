"""One soak run from start to summary (:func:`run_soak`).

1. Services: the run's own local Kafka + Redis, or the loopback ones the environment names
   (``services``); topics behind the run's prefix ``soak-<id>.``, Redis keys under
   ``soak-<id>``, consumer groups ``soak-<id>-*``: nothing else is touched.
2. ``replicas`` dispatcher processes, each ready on ``/readyz``.
3. The load (``traffic``) and the faults (``faults``, on the seeded plan) for ``minutes``,
   with a progress line every few seconds.
4. The end (also on the first SIGINT/SIGTERM): faults stop, paused replicas resume, the
   load stops and the dispatchers drain — until every ticket sent has a decision, no
   decision came for ``QUIET_S`` and the outbox grace has passed since the last fault, or
   ``drain_s`` — then the replicas stop (SIGTERM) and the audit runs on the run's topics
   and keys with no grace (``engine.dispatch.audit``, as ``dispatch audit --grace-s 0``).
   A second signal skips the drain and the audit.
5. The stack stops; the work dir (logs, data) is kept after violations or a failure (its path
   is in the summary), removed otherwise.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from engine.config import Settings
from engine.errors import Unavailable
from engine.exitcodes import RET_FAILED, RET_INVALID, RET_UNAVAILABLE
from engine.logs import get_logger
from engine.ports import OUTBOX_GRACE_MS
from engine.soak.faults import FaultThread, Injector
from engine.soak.loopback import refusals
from engine.soak.options import SERVICE_FAULTS, OptionError, SoakOptions
from engine.soak.replicas import ReplicaSet
from engine.soak.report import Summary, clock
from engine.soak.schedule import plan_faults
from engine.soak.services import KAFKA_ENV, REDIS_ENV, Services, open_services
from engine.soak.traffic import Traffic

log = get_logger(__name__)

KEEP_ON = (RET_INVALID, RET_UNAVAILABLE, RET_FAILED)  # exit codes that keep logs and data
QUIET_S = 3.0
SETTLE_AFTER_FAULT_S = OUTBOX_GRACE_MS / 1000 + 3.0  # an orphaned decision is re-published
LOOP_S = 0.5
MAX_PROGRESS_S = 10.0
AUDIT_EXAMPLES = 5
THREAD_JOIN_S = 30.0


@dataclass
class Signals:
    """Set by the command line's signal handlers: ``stop`` ends the run early (drain and
    audit still run), ``abort`` skips them too."""

    stop: threading.Event = field(default_factory=threading.Event)
    abort: threading.Event = field(default_factory=threading.Event)


class Printer:
    """Progress and fault lines on ``err``, one at a time; once the load started
    (``t0`` set), stamped with the time since (the clock the fault lines use too)."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.lock = threading.Lock()
        self.t0: float | None = None

    def __call__(self, line: str) -> None:
        stamp = "" if self.t0 is None else f" {clock(time.monotonic() - self.t0)}"
        with self.lock:
            print(f"soak{stamp}: {line}", file=self.err, flush=True)


def run_settings(
    services: Services, run: str, work_dir: Path, policy: Path | None
) -> dict[str, str]:
    """The ``DISPATCH_*`` variables of the run's processes (nothing inherited)."""
    env = {
        "DISPATCH_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "DISPATCH_REDIS_URL": services.redis_url,
        "DISPATCH_TOPIC_PREFIX": f"{run}.",
        "DISPATCH_REDIS_PREFIX": run,
        "DISPATCH_GROUP": f"{run}-dispatchers",
        "DISPATCH_SLA_GROUP": f"{run}-sla-tracker",
        "DISPATCH_STATE_DIR": str(work_dir),
        "DISPATCH_POLICY_RELOAD_S": "0",
    }
    if policy is not None:
        env["DISPATCH_POLICY"] = str(policy.resolve())
    return env


def child_env(settings_env: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if not k.startswith("DISPATCH_")}
    env.update(settings_env)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_soak(
    opts: SoakOptions,
    *,
    environ: Mapping[str, str],
    err: TextIO,
    signals: Signals | None = None,
) -> Summary:
    """Run the soak; the summary says what happened (``Summary.exit_code()``). Raises
    ``OptionError`` for a non-loopback target, ``DevstackError`` / ``Unavailable`` when
    the services cannot be started or reached."""
    refused = refusals(environ.get(KAFKA_ENV) or None, environ.get(REDIS_ENV) or None)
    if refused:
        raise OptionError("\n".join(refused))
    signals = signals or Signals()
    run = f"soak-{uuid.uuid4().hex[:8]}"
    say = Printer(err)
    summary = Summary(run=run, options=opts)
    work_dir = Path(tempfile.mkdtemp(prefix=f"dispatch-{run}-"))
    services: Services | None = None
    replicas: ReplicaSet | None = None
    try:
        say(f"run {run}: work dir {work_dir}")
        services = open_services(
            environ, work_dir, kafka_brokers=opts.kafka_brokers, redis_cluster=opts.redis_cluster
        )
        say(f"kafka {services.kafka_bootstrap}, redis {services.redis_url}")
        settings_env = run_settings(services, run, work_dir, opts.policy_path)
        settings = Settings.from_env(settings_env, dev_env=None)
        _create_topics(settings, opts.partitions)
        replicas = ReplicaSet(opts.replicas, child_env(settings_env, environ), work_dir / "logs")
        replicas.start_all(cancel=signals.stop)
        say(f"{opts.replicas} dispatcher replica(s) ready: "
            + ", ".join(f"pid {r.pid}" for r in replicas.replicas))  # fmt: skip
        _soak(opts, settings, services, replicas, summary, say, signals)
    except BaseException:
        summary.kept_dir = str(work_dir)
        say(f"logs and data kept in {work_dir}")
        raise
    finally:
        if replicas is not None:
            summary.crashes += replicas.stop_all()
        if services is not None:
            services.close()
        if summary.exit_code() in KEEP_ON and summary.kept_dir is None:
            summary.kept_dir = str(work_dir)
        if summary.kept_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    return summary


def _create_topics(settings: Settings, partitions: int) -> None:
    from engine.adapters.kafka import create_topics, default_topic_specs

    create_topics(settings, default_topic_specs(settings, partitions=partitions))


def _soak(
    opts: SoakOptions,
    settings: Settings,
    services: Services,
    replicas: ReplicaSet,
    summary: Summary,
    say: Printer,
    signals: Signals,
) -> None:
    kinds = []
    for kind in opts.faults:
        why = (
            services.restartable(kind.removeprefix("restart_")) if kind in SERVICE_FAULTS else None
        )
        if why:
            summary.skipped_faults[kind] = why
            say(f"{kind} skipped: {why}")
        else:
            kinds.append(kind)
    plan = plan_faults(opts.duration_s, opts.fault_every_s, kinds, opts.seed)
    traffic = Traffic(settings, opts, opts.seed)
    traffic.start()
    traffic.started.wait(60)
    t0 = say.t0 = time.monotonic()
    injector = Injector(replicas, services, opts.pause_s, say, t0)
    faults = FaultThread(injector, plan)
    faults.start()
    say(f"load {opts.rate:g} tickets/s for {clock(opts.duration_s)}, {len(plan)} faults planned")
    progress_every = min(MAX_PROGRESS_S, max(2.0, opts.duration_s / 10))
    next_progress = t0 + progress_every
    try:
        while time.monotonic() - t0 < opts.duration_s:
            if signals.stop.wait(LOOP_S):
                summary.interrupted = True
                say("signal: ending the run early (a second one skips the drain and the audit)")
                break
            if traffic.error is not None or faults.error is not None:
                break
            for line in replicas.crashed():
                summary.crashes.append(line)
                say(f"CRASH {line}; started again")
            if time.monotonic() >= next_progress:
                next_progress += progress_every
                say(_progress(traffic, injector))
    finally:
        summary.elapsed_s = time.monotonic() - t0
        faults.stop()
        faults.join(THREAD_JOIN_S + opts.pause_s)
        injector.resume_now()
        summary.faults = list(injector.records)
        traffic.drain()
    if not signals.abort.is_set() and traffic.error is None:
        _drain(opts, traffic, injector, replicas, summary, say, signals)
    traffic.stop()
    traffic.join(THREAD_JOIN_S)
    _collect(traffic, summary)
    summary.crashes += replicas.crashed()
    for error in (traffic.error, faults.error):
        if error is not None:
            summary.error = f"{type(error).__name__}: {error}"
    if signals.abort.is_set():
        summary.audit_error = "skipped: interrupted twice"
        return
    summary.crashes += replicas.stop_all()
    say("auditing the run's topics and Redis keys")
    try:
        _audit(settings, summary)
    except Unavailable as exc:
        summary.audit_error = f"a service is unreachable: {exc}"


def _progress(traffic: Traffic, injector: Injector) -> str:
    faults = len([r for r in injector.records if r.ok])
    return (
        f"progress: tickets sent {traffic.tickets_sent}, "
        f"decisions {traffic.watcher.decisions}, dead letters {traffic.watcher.dead_letters}, "
        f"awaiting a decision {traffic.awaiting}, faults {faults}"
    )


def _drain(
    opts: SoakOptions,
    traffic: Traffic,
    injector: Injector,
    replicas: ReplicaSet,
    summary: Summary,
    say: Callable[[str], None],
    signals: Signals,
) -> None:
    started = time.monotonic()
    say(f"load stopped; draining (at most {opts.drain_s:g} s)")
    while time.monotonic() - started < opts.drain_s:
        if signals.abort.wait(LOOP_S):
            break
        for line in replicas.crashed():
            summary.crashes.append(line)
            say(f"CRASH {line}; started again")
        settled = time.monotonic() - injector.last_end >= SETTLE_AFTER_FAULT_S
        if traffic.awaiting == 0 and traffic.quiet_s() >= QUIET_S and settled:
            summary.drained = True
            break
    summary.drain_s = time.monotonic() - started
    summary.undecided = traffic.awaiting
    say(
        f"drain {'quiet' if summary.drained else 'NOT quiet'} after {summary.drain_s:.1f} s: "
        f"{summary.undecided} ticket(s) without a decision seen"
    )


def _collect(traffic: Traffic, summary: Summary) -> None:
    summary.tickets_sent = traffic.tickets_sent
    summary.tickets_undelivered = traffic.undelivered
    summary.poison_sent = traffic.poison_sent
    summary.events_sent = traffic.events_sent
    summary.decisions = traffic.watcher.decisions
    summary.decisions_by_kind = dict(traffic.watcher.by_kind)
    summary.dead_letters = traffic.watcher.dead_letters
    summary.longest_gap_s = traffic.watcher.longest_gap_s
    summary.awaiting_peak = traffic.ledger.peak


def _audit(settings: Settings, summary: Summary) -> None:
    from consumers.audit import run_audit  # the composition root imports the drivers

    report = run_audit(settings, grace_ms=0, examples=AUDIT_EXAMPLES)
    summary.audit = report.to_dict()
    dead = report.inputs.get("dead_letters")
    if dead is not None:
        summary.dead_letters = int(dead)
