"""The fault suite's rig: real ``dispatch run dispatcher`` replicas on one case's own topics,
consumer group and Redis prefix, a bounded load, a decision watcher and the final audit.

- :class:`Rig` (``Rig.create(...)``; close it): the case's settings, its replicas
  (:meth:`Rig.start` starts N in parallel and waits for ``/readyz``; ``stop``/``kill``/
  ``pause``/``resume`` act on one), a watcher of ``dispatch.assignments``
  (:class:`Watcher`), :meth:`Rig.wait_decided` and :meth:`Rig.audit_clean` (``dispatch audit``
  in-process, as tests/integration/test_audit.py runs it, retried while the system settles).
- :class:`Load`: a thread producing tickets of several tenants at a bounded rate, flipping
  agents' status and resolving assigned tickets, until its count is reached or it is told
  to stop.

Everything is on loopback: the brokers and Redis come from tests/services.py or from a
stack the case starts itself.
"""

from __future__ import annotations

import io
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consumers.audit import run_audit
from engine import codec
from engine.adapters.kafka import KafkaEventLog, KafkaTail, read_topic
from engine.adapters.redis import RedisAgentStore, client_from_url
from engine.config import Settings
from engine.dispatch.audit_report import Report, render
from engine.errors import EngineError
from producers.sdk import EventProducer
from tests.processes import RoleProcess, role_env, start_role
from tests.services import isolated_env

POLICY = """
version: 1
regions: {north: {neighbors: [south]}, south: {neighbors: [north]}}
queues:
  - name: billing
    match: {skills_any: [billing]}
    strategy: least_loaded
    region_ladder: [{after_s: 1, widen: neighbors}]
  - name: general
    match: {}
    strategy: round_robin
"""
Key = tuple[str, str]  # (tenant, ticket or agent id)
STATUS_OF = {"agent.login": "available", "agent.logout": "offline"}


def agent_ids(n: int) -> list[str]:
    return [f"a{i:02d}" for i in range(n)]


class Watcher(threading.Thread):
    """Follows ``dispatch.assignments`` from the beginning (no group): every decision, the
    tickets decided, and assignments handed to a callback (the agents' desks)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True, name="decision-watcher")
        self.settings = settings
        self.lock = threading.Lock()
        self.decisions: list[dict[str, Any]] = []
        self.decided: dict[Key, float] = {}  # first decision seen, monotonic time
        self.assigned: list[tuple[str, str, str]] = []  # (tenant, ticket, agent) to resolve
        self.halt = threading.Event()
        self.errors = 0

    def run(self) -> None:
        tail: KafkaTail | None = None
        while not self.halt.is_set():
            try:
                if tail is None:
                    tail = KafkaTail(
                        self.settings.kafka,
                        [self.settings.topic("dispatch.assignments")],
                        since_ms=None,
                        fetch_max_wait_ms=100,
                    )
                    tail.start()
                records = tail.poll(2000, 200)
            except EngineError:  # a broker outage: start again from the beginning
                self.errors += 1
                if tail is not None:
                    tail.close()
                tail = None
                with self.lock:
                    self.decisions.clear()
                self.halt.wait(0.5)
                continue
            now = time.monotonic()
            with self.lock:
                for rec in records:
                    d = codec.decode(rec.value)
                    self.decisions.append(d)
                    key = (d["tenant"], d["id"])
                    if d["type"] != "decision.rejected":
                        self.decided.setdefault(key, now)
                    if d["type"] in ("decision.assigned", "decision.reassigned") and d.get("agent"):
                        self.assigned.append((d["tenant"], d["id"], d["agent"]))
        if tail is not None:
            tail.close()

    def take_assigned(self) -> list[tuple[str, str, str]]:
        with self.lock:
            out, self.assigned = self.assigned, []
        return out

    def missing(self, keys: Iterable[Key]) -> set[Key]:
        with self.lock:
            return {k for k in keys if k not in self.decided}

    def when_decided(self, key: Key) -> float | None:
        with self.lock:
            return self.decided.get(key)

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.decisions)

    def stop(self) -> None:
        self.halt.set()
        self.join(15)


@dataclass
class Rig:
    """One case's world: settings on its own topics/group/prefix, replicas, watcher."""

    settings: Settings
    env: dict[str, str]  # a replica's environment
    log_dir: Path
    store: RedisAgentStore
    log: KafkaEventLog
    watcher: Watcher
    replicas: list[RoleProcess] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        kafka_bootstrap: str,
        redis_url: str,
        prefix: str,
        tmp_path: Path,
        *,
        partitions: int = 4,
        policy: str = POLICY,
        **extra: str,
    ) -> Rig:
        tmp_path.mkdir(parents=True, exist_ok=True)
        policy_path = tmp_path / "policy.yaml"
        policy_path.write_text(policy)
        base = isolated_env(
            kafka_bootstrap,
            redis_url,
            prefix,
            partitions=partitions,
            DISPATCH_GROUP=f"{prefix}-dispatchers",
            DISPATCH_POLICY=str(policy_path),
            DISPATCH_STATE_DIR=str(tmp_path / "state"),
            **extra,
        )
        settings = Settings.from_env(base, dev_env=None)
        store = RedisAgentStore(client_from_url(redis_url), prefix=settings.redis_prefix)
        watcher = Watcher(settings)
        watcher.start()
        log = KafkaEventLog(settings.kafka)
        return cls(settings, role_env(base), tmp_path / "logs", store, log, watcher)

    # ---- replicas -------------------------------------------------------------------------
    def start(self, n: int = 1, **extra: str) -> list[RoleProcess]:
        """Start ``n`` replicas at once (``extra``: more DISPATCH_* for them); wait ready."""
        env = {**self.env, **extra}
        with ThreadPoolExecutor(max_workers=n) as pool:
            futures = [pool.submit(start_role, "dispatcher", env, self.log_dir) for _ in range(n)]
        started = [f.result() for f in futures if f.exception() is None]
        self.replicas += started  # stopped by close() even if another one failed to start
        errors = [e for f in futures if (e := f.exception()) is not None]
        if errors:
            raise errors[0]
        return started

    def wait_assigned(self, replicas: Sequence[RoleProcess], timeout_s: float = 30.0) -> None:
        """Until each of ``replicas`` logged a partition assignment (joined the group)."""
        deadline = time.monotonic() + timeout_s
        waiting = list(replicas)
        while waiting and time.monotonic() < deadline:
            waiting = [r for r in waiting if "partitions assigned" not in r.log_tail(400)]
            time.sleep(0.2)
        assert not waiting, f"not assigned partitions in {timeout_s:.0f} s:\n{self.logs()}"

    def stop(self, replica: RoleProcess) -> int:
        """SIGTERM (finish the batch, commit, leave the group); the exit code."""
        code = replica.stop()
        self.replicas.remove(replica)
        return code

    def kill(self, replica: RoleProcess) -> None:
        """SIGKILL, as a crash."""
        replica.proc.kill()
        replica.proc.wait(10)
        self.replicas.remove(replica)

    def close(self) -> None:
        for replica in list(self.replicas):
            if replica.proc.poll() is None:
                replica.proc.send_signal(18)  # SIGCONT, in case a case left it stopped
            replica.stop()
        self.replicas.clear()
        self.watcher.stop()
        self.log.close()

    def logs(self) -> str:
        return "\n\n".join(f"--- {r.log_path}\n{r.log_tail()}" for r in self.replicas)

    # ---- producing ------------------------------------------------------------------------
    def producer(self, tenant: str) -> EventProducer:
        return EventProducer(self.log, tenant=tenant, topic_of=self.settings.topic)

    def login(self, tenants: Sequence[str], agents: int, capacity: Mapping[str, int]) -> None:
        for tenant in tenants:
            p = self.producer(tenant)
            for i, a in enumerate(agent_ids(agents)):
                skills = {"billing": 2} if i % 2 == 0 else {}
                region = "north" if i % 3 else "south"
                p.login(a, capacity=dict(capacity), skills=skills, regions=[region])
        self.log.flush()

    # ---- waiting and checking -------------------------------------------------------------
    def wait_decided(self, keys: Iterable[Key], timeout_s: float = 90.0) -> None:
        """Until every (tenant, ticket) of ``keys`` has a decision; fails with the rest."""
        keys = set(keys)
        deadline = time.monotonic() + timeout_s
        missing = self.watcher.missing(keys)
        while missing and time.monotonic() < deadline:
            time.sleep(0.3)
            missing = self.watcher.missing(missing)
        assert not missing, (
            f"{len(missing)} of {len(keys)} tickets without a decision after {timeout_s:.0f} s "
            f"(e.g. {sorted(missing)[:5]}):\n{self.logs()}"
        )

    def latency(self, tenant: str, tid: str, timeout_s: float = 30.0) -> float:
        """Produce one ticket and wait for its decision: the seconds it took."""
        started = time.monotonic()
        self.producer(tenant).ticket(tid, channel="chat", priority=3)
        self.log.flush()
        self.wait_decided([(tenant, tid)], timeout_s)
        decided = self.watcher.when_decided((tenant, tid))
        assert decided is not None
        return decided - started

    def dead_letters(self) -> list[dict[str, str]]:
        """The headers of every record on ``dispatch.deadletter``."""
        records = read_topic(self.settings.kafka, self.settings.topic("dispatch.deadletter"))
        return [{k: v.decode(errors="replace") for k, v in r.headers} for r in records]

    def audit(self) -> Report:
        return run_audit(self.settings, grace_ms=0, examples=5, err=io.StringIO())

    def audit_clean(self, timeout_s: float = 45.0) -> Report:
        """``dispatch audit`` until it is clean (a live system settles: an orphaned decision
        is re-published after the outbox grace); fails with the last report."""
        deadline = time.monotonic() + timeout_s
        report = self.audit()
        while not report.ok and time.monotonic() < deadline:
            time.sleep(2)
            report = self.audit()
        assert report.ok, f"audit not clean after {timeout_s:.0f} s:\n{render(report)}"
        return report

    def last_status(self, tenant: str) -> dict[str, str]:
        """Each agent's status as its last event on ``agents.events`` says."""
        out: dict[str, str] = {}
        for rec in read_topic(self.settings.kafka, self.settings.topic("agents.events")):
            try:
                ev = codec.decode(rec.value)
            except codec.DecodeError:
                continue
            if ev.get("tenant") != tenant:
                continue
            status = STATUS_OF.get(ev["type"]) or ev.get("status")
            if status:
                out[ev["id"]] = status
        return out

    def stored_status(self, tenant: str) -> dict[str, str]:
        return {v.agent.id: v.agent.status for v in self.store.agents(tenant)}


class Load(threading.Thread):
    """Tickets for ``tenants`` (round robin) at ``rate`` per second up to ``tickets``; every
    ``flip_every`` tickets one agent goes away and comes back; assigned tickets are resolved
    after ``resolve_after_s``. ``step(n)`` runs in the thread after ticket n (fault
    scripts that must hit an exact point of the load); ``stop()`` ends it early."""

    def __init__(
        self,
        rig: Rig,
        tenants: Sequence[str],
        *,
        tickets: int,
        rate: float,
        agents: int,
        flip_every: int = 40,
        resolve_after_s: float | None = 0.3,
        seed: int = 7,
        prefix: str = "t",
        step: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(daemon=True, name="load")
        self.rig, self.tenants, self.total, self.rate = rig, list(tenants), tickets, rate
        self.agents = agent_ids(agents)
        self.flip_every, self.resolve_after_s = flip_every, resolve_after_s
        self.rng = random.Random(seed)
        self.prefix, self.step = prefix, step
        self.producers = {t: rig.producer(t) for t in tenants}
        self.sent: list[Key] = []
        self.sent_at: dict[Key, float] = {}  # monotonic time each ticket was produced
        self.resolved: set[Key] = set()
        self.halt = threading.Event()
        self.error: BaseException | None = None
        self._pending: list[tuple[float, str, str, str]] = []

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # surfaced by finish()
            self.error = exc

    def _run(self) -> None:
        t0 = time.monotonic()
        for n in range(self.total):
            if self.halt.is_set():
                break
            tenant = self.tenants[n % len(self.tenants)]
            p = self.producers[tenant]
            tid = f"{self.prefix}{n:05d}"
            p.ticket(
                tid,
                channel="phone" if n % 5 == 0 else "chat",
                priority=1 + n * 7 % 5,
                skills={"billing": 1} if n % 3 == 0 else {},
                region="north" if n % 2 else "south",
            )
            self.sent.append((tenant, tid))
            self.sent_at[(tenant, tid)] = time.monotonic()
            if self.flip_every and n % self.flip_every == self.flip_every // 2:
                who = self.rng.choice(self.agents)
                p.status(who, "away")
                p.status(who, "available")
            self._resolve(time.monotonic())
            if n % 20 == 19:
                self.rig.log.flush()
            if self.step is not None:
                self.step(n)
            ahead = (n + 1) / self.rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
        self.rig.log.flush()

    def _resolve(self, now: float) -> None:
        if self.resolve_after_s is None:
            return
        for tenant, tid, agent in self.rig.watcher.take_assigned():
            self._pending.append((now + self.resolve_after_s, tenant, tid, agent))
        due = [p for p in self._pending if p[0] <= now]
        self._pending = [p for p in self._pending if p[0] > now]
        for _, tenant, tid, agent in due:
            if (tenant, tid) not in self.resolved:
                self.producers[tenant].lifecycle("resolved", tid, agent)
                self.resolved.add((tenant, tid))

    def stop(self) -> None:
        self.halt.set()

    def finish(self, timeout_s: float = 120.0) -> list[Key]:
        """Wait for the thread; the (tenant, ticket) of every ticket produced."""
        self.join(timeout_s)
        assert not self.is_alive(), "the load did not finish in time"
        if self.error is not None:
            raise self.error
        return list(self.sent)

    def wait_sent(self, n: int, timeout_s: float = 60.0) -> None:
        """Until ``n`` tickets are produced."""
        deadline = time.monotonic() + timeout_s
        while len(self.sent) < n and self.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.sent) >= n, f"the load produced {len(self.sent)} of {n} tickets"
