"""The run's Kafka and Redis: its own local stack, or the loopback services the environment
names, with a way to restart each on its data (the service faults).

- Neither ``DISPATCH_KAFKA_BOOTSTRAP`` nor ``DISPATCH_REDIS_URL`` set: the soak starts Kafka
  and Redis as ``dispatch dev up`` does (``engine.devstack``, free loopback ports, Redis
  persisted to an append-only file) in its work dir and stops them afterwards.
- One or both set: they must be loopback (``loopback.refusals``); the missing one is
  started as above. A named service can be restarted only when it belongs to the dev stack
  recorded in ``DISPATCH_STATE_DIR`` (default ``.dispatch``); otherwise its restarts are
  skipped (``restartable`` says why).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from engine.devstack import DevStack, default_cache_root
from engine.errors import DevstackError
from engine.logs import get_logger
from engine.soak.loopback import refusals
from engine.soak.options import OptionError

log = get_logger(__name__)

KAFKA_ENV = "DISPATCH_KAFKA_BOOTSTRAP"
REDIS_ENV = "DISPATCH_REDIS_URL"
CACHE_ENV = "DISPATCH_KAFKA_CACHE"


@dataclass
class Services:
    """Where the run's Kafka and Redis are, and who can restart them."""

    kafka_bootstrap: str
    redis_url: str
    own: DevStack | None = None  # started by this run; stopped by close()
    recorded: DevStack | None = None  # a `dispatch dev up` stack the environment names
    why_not: dict[str, str] = field(default_factory=dict)  # service -> why it cannot restart

    def restartable(self, service: str) -> str | None:
        """None if ``service`` can be restarted, else why not."""
        return self.why_not.get(service)

    def _owner(self, service: str) -> DevStack:
        for stack in (self.own, self.recorded):
            if stack is not None and service in _services_of(stack):
                return stack
        raise DevstackError(self.why_not.get(service, f"{service} is not ours to restart"))

    def nodes(self, service: str) -> list[int]:
        """The node numbers of ``service`` (Kafka ``node.id``s, Redis nodes from 1)."""
        stack = self._owner(service)
        if service == "kafka":
            assert stack.kafka_cluster is not None
            return [n.node_id for n in stack.kafka_cluster.nodes]
        assert stack.redis_nodes is not None
        return list(range(1, len(stack.redis_nodes.nodes) + 1))

    def restart(self, service: str, node: int | None = None) -> float:
        """Restart ``service`` (every node, or one) on its data and ports; returns the
        seconds it took until ready."""
        stack = self._owner(service)
        started = time.monotonic()
        stack.restart(service, node)
        if stack is self.recorded:
            stack.write_state()
        return time.monotonic() - started

    def close(self) -> list[str]:
        """Stop what this run started (its data goes with the work dir)."""
        if self.own is None:
            return []
        stopped = self.own.stop()
        self.own = None
        return stopped


def _services_of(stack: DevStack) -> set[str]:
    out = set()
    if stack.kafka_cluster is not None and stack.kafka_cluster.nodes:
        out.add("kafka")
    if stack.redis_nodes is not None and stack.redis_nodes.nodes:
        out.add("redis")
    return out


def open_services(
    environ: Mapping[str, str], work_dir: Path, *, kafka_brokers: int = 1, redis_cluster: int = 0
) -> Services:
    """Check the named services are loopback and start the missing ones (``kafka_brokers``
    Kafka nodes, a Redis Cluster of ``redis_cluster`` masters or one server). Raises
    :class:`OptionError` for a non-loopback target or a shape asked of a named service,
    ``DevstackError`` when a local service does not start."""
    kafka = (environ.get(KAFKA_ENV) or "").strip() or None
    redis = (environ.get(REDIS_ENV) or "").strip() or None
    refused = refusals(kafka, redis)
    if kafka is not None and kafka_brokers > 1:
        refused.append(f"--kafka-brokers shapes the soak's own Kafka: unset {KAFKA_ENV}")
    if redis is not None and redis_cluster:
        refused.append(f"--redis-cluster shapes the soak's own Redis: unset {REDIS_ENV}")
    if refused:
        raise OptionError("\n".join(refused))
    own = None
    if kafka is None or redis is None:
        cache = environ.get(CACHE_ENV)
        own = DevStack(
            work_dir / "stack",
            kafka=kafka is None,
            redis=redis is None,
            kafka_brokers=kafka_brokers,
            redis_cluster=redis_cluster,
            redis_persist=True,  # a restart keeps Redis's data, as with `dispatch dev up`
            cache_root=Path(cache).expanduser() if cache else default_cache_root(),
            detach=True,  # own session: a Ctrl-C reaches the soak, which stops them in order
            quick_start=True,
        )
        try:
            endpoints = own.start()
        except BaseException:
            own.stop()
            raise
        kafka = kafka or endpoints.kafka_bootstrap
        redis = redis or endpoints.redis_url
    assert kafka is not None and redis is not None
    services = Services(kafka, redis, own=own)
    _adopt_recorded(services, environ)
    return services


def _adopt_recorded(services: Services, environ: Mapping[str, str]) -> None:
    """A named service may be restarted if `dispatch dev up` recorded it at this address."""
    ours = _services_of(services.own) if services.own else set()
    named = {"kafka", "redis"} - ours
    if not named:
        return
    state_dir = Path(environ.get("DISPATCH_STATE_DIR") or ".dispatch")
    try:
        recorded = DevStack.from_state(state_dir)
    except DevstackError:
        recorded = None
    endpoints = recorded.endpoints if recorded else None
    for service in sorted(named):
        same = endpoints is not None and (
            endpoints.kafka_bootstrap == services.kafka_bootstrap
            if service == "kafka"
            else endpoints.redis_url == services.redis_url
        )
        if same:
            services.recorded = recorded
        else:
            variable = KAFKA_ENV if service == "kafka" else REDIS_ENV
            services.why_not[service] = (
                f"{variable} is not the dev stack recorded in {state_dir} "
                "(the soak restarts only services it started or `dispatch dev up` recorded)"
            )
    log.info("soak services: kafka %s, redis %s", services.kafka_bootstrap, services.redis_url)
