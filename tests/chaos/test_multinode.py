"""The crash and broker-kill cases on the multi-node stack (``multinode_stack``: 3 KRaft
brokers, replication factor 3, ``min.insync.replicas`` 2; a 3-master Redis Cluster), with
tenants spread over several Redis Cluster slots and masters: a replica SIGKILLed at a crash
point, and one broker SIGKILLed and kept down under load, lose nothing; `dispatch audit`
clean."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from redis.crc import key_slot

from engine.adapters.kafka import describe
from engine.adapters.redis import client_from_url, keys
from engine.devstack import DevStack
from engine.dispatch import faults
from tests.chaos.rig import Load, Rig

pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(300)]

TENANTS = tuple(f"tenant{i}" for i in range(6))
AGENTS = 6
CAPACITY = {"chat": 3, "phone": 1}
VICTIM = 2  # the Kafka node killed


def multinode_rig(make_rig: Callable[..., Rig], stack: DevStack) -> Rig:
    endpoints = stack.endpoints
    assert endpoints.kafka_bootstrap and endpoints.redis_url
    assert endpoints.redis_url.startswith("redis+cluster://")
    rig = make_rig(kafka=endpoints.kafka_bootstrap, redis=endpoints.redis_url)
    info = describe(rig.settings, [rig.settings.topic("tickets.events")])
    assert {i.replication_factor for i in info.values()} == {3}
    # the tenants' pools sit on several slots, served by several masters
    client = client_from_url(endpoints.redis_url)
    try:
        pools = [keys.pool_key(rig.settings.redis_prefix, t, "agents") for t in TENANTS]
        assert len({key_slot(k.encode()) for k in pools}) == len(TENANTS)
        assert len({client.get_node_from_key(k).name for k in pools}) >= 2
    finally:
        client.close()
    return rig


def test_multinode_a_replica_killed_mid_stream_loses_nothing(
    make_rig: Callable[..., Rig], multinode_stack: DevStack
) -> None:
    # Given two replicas on 3 brokers and a Redis Cluster, one armed to die after the store
    rig = multinode_rig(make_rig, multinode_stack)
    [armed] = rig.start(1, DISPATCH_FAULT=f"{faults.AFTER_STORE}@3")
    rig.wait_assigned([armed, *rig.start(1)])
    rig.login(TENANTS, AGENTS, CAPACITY)
    load = Load(rig, TENANTS, tickets=600, rate=120, agents=AGENTS)
    load.start()
    # When it dies there under load, and is restarted
    assert armed.proc.wait(60) == -9, armed.log_tail()
    rig.replicas.remove(armed)
    rig.start(1)
    sent = load.finish()
    # Then nothing is lost nor decided twice
    rig.wait_decided(sent)
    rig.audit_clean()


def test_multinode_one_broker_killed_under_load_loses_nothing(
    make_rig: Callable[..., Rig], multinode_stack: DevStack
) -> None:
    # Given two replicas on 3 brokers and a Redis Cluster
    rig = multinode_rig(make_rig, multinode_stack)
    rig.wait_assigned(rig.start(2))
    rig.login(TENANTS, AGENTS, CAPACITY)
    load = Load(rig, TENANTS, tickets=600, rate=100, agents=AGENTS)
    load.start()
    try:
        # When one broker is SIGKILLed under load and stays down
        load.wait_sent(200)
        assert multinode_stack.kill("kafka", VICTIM) == [f"kafka node {VICTIM}"]
        sent = load.finish()
        # Then the other two carry everything: every ticket decided, audit clean
        rig.wait_decided(sent)
        assert all(r.alive() for r in rig.replicas), rig.logs()
        rig.audit_clean()
    finally:
        # And the broker comes back on its data (the stack is shared by the session)
        multinode_stack.start("kafka", VICTIM)
    rig.audit_clean()
