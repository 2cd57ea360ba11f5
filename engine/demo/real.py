"""`dispatch demo --real`: the demo's call center against Kafka, Redis, dispatcher processes
and one SLA tracker process (after `dispatch dev up`, or any stack named by DISPATCH_* settings).

Each run uses its own topic prefix and Redis key prefix, so runs never mix.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

from engine.adapters.kafka import (
    KafkaEventLog,
    KafkaGroupConsumer,
    create_topics,
    default_topic_specs,
)
from engine.adapters.redis import RedisAgentStore, client_from_url
from engine.config import Settings
from engine.logs import get_logger

log = get_logger(__name__)

DEMO_PARTITIONS = 4
STOP_TIMEOUT_S = 30


class RealBackend:
    """Kafka topics + N dispatcher processes + an SLA tracker process + a Redis store reader
    for the wallboard."""

    def __init__(self, settings: Settings, dispatchers: int, policy_path: Path | None) -> None:
        run_id = uuid.uuid4().hex[:8]
        prefix = f"demo-{run_id}."
        self.settings = replace(settings, topic_prefix=prefix, redis_prefix=f"demo-{run_id}")
        s = self.settings
        log.warning("demo run %s: topics %s*, Redis keys %s:*", run_id, prefix, s.redis_prefix)
        create_topics(s, default_topic_specs(s, partitions=DEMO_PARTITIONS))
        self.store = RedisAgentStore(client_from_url(s.redis_url), prefix=s.redis_prefix)
        self.producer = KafkaEventLog(s.kafka)
        self.watcher = KafkaGroupConsumer(
            s.kafka,
            [s.topic(t) for t in ("dispatch.assignments", "dispatch.deadletter", "sla.events")],
            f"demo-{run_id}-wallboard",
        )
        self._dead = 0
        self._sla: list[bytes] = []
        self.procs = [self._spawn(i, policy_path) for i in range(dispatchers)]
        self.procs.append(self._spawn(0, policy_path, "sla-tracker"))

    def _spawn(
        self, i: int, policy_path: Path | None, role: str = "dispatcher"
    ) -> subprocess.Popen[bytes]:
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCH_")}
        env.update(
            DISPATCH_KAFKA_BOOTSTRAP=",".join(s.kafka.bootstrap_servers),
            DISPATCH_REDIS_URL=s.redis_url,
            DISPATCH_TOPIC_PREFIX=s.topic_prefix,
            DISPATCH_REDIS_PREFIX=s.redis_prefix,
            DISPATCH_GROUP=f"{s.redis_prefix}-dispatchers",
            DISPATCH_SLA_GROUP=f"{s.redis_prefix}-sla-tracker",
            DISPATCH_HTTP_PORT="0",
        )
        if policy_path is not None:
            env["DISPATCH_POLICY"] = str(policy_path.resolve())
        logfile = Path(s.state_dir) / f"{s.redis_prefix}-{role}-{i}.log"
        logfile.parent.mkdir(parents=True, exist_ok=True)
        with logfile.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "engine.cli", "run", role],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        log.warning("%s %d: pid %d, log %s", role, i, proc.pid, logfile)
        return proc

    def send(self, logical_topic: str, key: bytes, value: bytes) -> None:
        self.producer.send(self.settings.topic(logical_topic), key, value)

    def step(self) -> None:
        self.producer.flush()
        for i, p in enumerate(self.procs):
            if p.poll() is not None:
                role = "sla tracker" if i == len(self.procs) - 1 else f"dispatcher {i}"
                raise RuntimeError(f"{role} exited with {p.returncode}")

    def decisions(self) -> list[bytes]:
        out = []
        dlq = self.settings.topic("dispatch.deadletter")
        sla = self.settings.topic("sla.events")
        for rec in self.watcher.poll(50_000, 0):
            if rec.topic == dlq:
                self._dead += 1
            elif rec.topic == sla:
                self._sla.append(rec.value)
            else:
                out.append(rec.value)
        self.watcher.commit()
        return out

    def sla_events(self) -> list[bytes]:
        out, self._sla = self._sla, []
        return out

    def dead_letters(self) -> int:
        return self._dead

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.watcher.close()
        self.producer.close()
