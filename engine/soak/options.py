"""What one soak run is asked to do: :class:`SoakOptions`, validated on construction."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

# Fault kinds, in the order the summary lists them.
KILL_REPLICA = "kill_replica"
PAUSE_REPLICA = "pause_replica"
RESTART_REDIS = "restart_redis"
RESTART_KAFKA = "restart_kafka"
FAULT_KINDS: tuple[str, ...] = (KILL_REPLICA, PAUSE_REPLICA, RESTART_REDIS, RESTART_KAFKA)
SERVICE_FAULTS: frozenset[str] = frozenset({RESTART_REDIS, RESTART_KAFKA})
# Short names accepted by --faults.
FAULT_ALIASES: dict[str, str] = {
    "kill": KILL_REPLICA,
    "pause": PAUSE_REPLICA,
    "redis": RESTART_REDIS,
    "kafka": RESTART_KAFKA,
    **{kind: kind for kind in FAULT_KINDS},
}

MAX_MINUTES = 24 * 60.0
MAX_REPLICAS = 8
MAX_RATE_PER_S = 2_000.0
MAX_AGENTS = 1_000
MAX_PARTITIONS = 64
MAX_KAFKA_BROKERS = 9  # engine.devstack.kafka.MAX_BROKERS
REDIS_CLUSTER_MASTERS = (3, 16)  # engine.devstack.redis MIN/MAX_CLUSTER_MASTERS
SESSION_TIMEOUT_S = 10.0  # engine.adapters.kafka.consumer CONSUMER_DEFAULTS session_timeout_ms
DEFAULT_PAUSE_S = SESSION_TIMEOUT_S + 5.0
MAX_PAUSE_S = 600.0
MIN_FAULT_EVERY_S = 0.5
DEFAULT_DRAIN_S = 90.0


class OptionError(ValueError):
    """An option out of its range; the message names the option."""


def parse_faults(text: str) -> tuple[str, ...]:
    """``kill,pause,redis,kafka`` (or the full kind names) -> kinds in canonical order."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in FAULT_ALIASES]
    if unknown or not names:
        raise OptionError(
            f"--faults: expected a comma-separated subset of kill, pause, redis, kafka; "
            f"got {text!r}"
        )
    chosen = {FAULT_ALIASES[n] for n in names}
    return tuple(k for k in FAULT_KINDS if k in chosen)


def _check(name: str, value: float, low: float, high: float) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise OptionError(f"{name}: expected {low:g}..{high:g}, got {value!r}")


@dataclass(frozen=True)
class SoakOptions:
    """One run: ``minutes`` of load at ``rate`` tickets/s over ``replicas`` dispatchers, a
    fault every ``fault_every_s`` (kinds ``faults``, seeded by ``seed``), then at most
    ``drain_s`` for the dispatchers to settle before the audit."""

    minutes: float = 5.0
    replicas: int = 2
    rate: float = 20.0
    fault_every_s: float = 30.0
    seed: int = 7
    faults: tuple[str, ...] = FAULT_KINDS
    pause_s: float = DEFAULT_PAUSE_S
    drain_s: float = DEFAULT_DRAIN_S
    agents: int = 40
    poison_ratio: float = 0.01
    partitions: int = 4
    policy_path: Path | None = None
    kafka_brokers: int = 1  # nodes of the run's own Kafka
    redis_cluster: int = 0  # masters of the run's own Redis Cluster; 0: one redis-server
    tenants: tuple[str, ...] = field(default=("soak-a", "soak-b"))

    def __post_init__(self) -> None:
        _check("--minutes", self.minutes, 0.05, MAX_MINUTES)  # 3 s: the shortest useful run
        _check("--replicas", self.replicas, 1, MAX_REPLICAS)
        _check("--rate", self.rate, 0.1, MAX_RATE_PER_S)
        _check("--fault-every", self.fault_every_s, MIN_FAULT_EVERY_S, MAX_MINUTES * 60)
        _check("--pause-s", self.pause_s, 0.1, MAX_PAUSE_S)
        _check("--drain-s", self.drain_s, 0, 3600)
        _check("--agents", self.agents, 1, MAX_AGENTS)
        _check("--poison", self.poison_ratio, 0, 0.5)
        _check("--partitions", self.partitions, 1, MAX_PARTITIONS)
        _check("--kafka-brokers", self.kafka_brokers, 1, MAX_KAFKA_BROKERS)
        low, high = REDIS_CLUSTER_MASTERS
        if self.redis_cluster and not low <= self.redis_cluster <= high:
            raise OptionError(
                f"--redis-cluster: 0 (one redis-server) or {low}..{high} masters, "
                f"got {self.redis_cluster}"
            )
        if not self.faults or any(k not in FAULT_KINDS for k in self.faults):
            raise OptionError(f"--faults: unknown kinds in {self.faults!r}")
        if not self.tenants:
            raise OptionError("a soak needs at least one tenant")

    @property
    def duration_s(self) -> float:
        return self.minutes * 60.0
