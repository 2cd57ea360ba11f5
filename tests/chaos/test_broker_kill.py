"""A Kafka broker SIGKILLed under load and started again on its data (as `dispatch dev
restart kafka` does), on a single-node stack of the case's own (the session's broker is
shared, so it is never killed): replicas and producers reconnect, nothing is lost, and
`dispatch audit` is clean. The multi-node variant is tests/chaos/test_multinode.py."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.devstack import DevStack
from engine.errors import DevstackError
from tests.chaos.rig import Load, Rig
from tests.services import kafka_cache_root, unavailable

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(240)]

TENANTS = ("acme", "globex")
AGENTS = 8
CAPACITY = {"chat": 3, "phone": 1}
DOWN_S = 3.0
RESUME_S = 45.0  # from the broker's return to every ticket decided


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[DevStack]:
    """A one-node KRaft broker of the case's own, stopped after it."""
    stack = DevStack(
        tmp_path / "own-kafka",
        redis=False,
        cache_root=kafka_cache_root(),
        quick_start=True,
    )
    try:
        stack.start()
    except DevstackError as exc:
        unavailable(f"no Kafka broker of the case's own: {exc}")
    try:
        yield stack
    finally:
        stack.stop()


def test_a_broker_killed_and_restarted_on_its_data_loses_nothing(
    make_rig: Callable[..., Rig], own_kafka: DevStack
) -> None:
    # Given two replicas on a broker of the case's own
    bootstrap = own_kafka.endpoints.kafka_bootstrap
    assert bootstrap is not None
    rig = make_rig(kafka=bootstrap)
    rig.wait_assigned(rig.start(2))
    rig.login(TENANTS, AGENTS, CAPACITY)
    load = Load(rig, TENANTS, tickets=800, rate=100, agents=AGENTS)
    load.start()
    # When the broker is SIGKILLed under load and started again on its data
    load.wait_sent(250)
    assert own_kafka.kill("kafka") == ["kafka node 1"]
    time.sleep(DOWN_S)
    own_kafka.start("kafka")
    back = time.monotonic()
    sent = load.finish()
    # Then the replicas reconnect and every ticket is decided, within seconds
    rig.wait_decided(sent, timeout_s=RESUME_S)
    took = time.monotonic() - back
    assert all(r.alive() for r in rig.replicas), rig.logs()
    assert took < RESUME_S, took
    rig.audit_clean()
