"""Redis faults under a live dispatcher: a restart that keeps the data (append-only file) and
lost replies (a loopback proxy that lets a script run, then drops the connection before its
reply, so redis-py runs it again): nothing lost, nothing applied twice, audit clean.
Redis losing its data is tests/chaos/test_redis_loss.py."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlparse

import pytest

from engine.devstack import RedisServer
from tests.chaos.proxy import LossyProxy
from tests.chaos.rig import Load, Rig

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(180)]

TENANTS = ("acme", "globex")
AGENTS = 8
CAPACITY = {"chat": 3, "phone": 1}


def test_a_redis_restart_keeping_its_data_loses_nothing(
    make_rig: Callable[..., Rig], own_redis: RedisServer
) -> None:
    # Given two replicas on a Redis with an append-only file
    rig = make_rig(redis=own_redis.url)
    rig.wait_assigned(rig.start(2))
    rig.login(TENANTS, AGENTS, CAPACITY)
    load = Load(rig, TENANTS, tickets=900, rate=120, agents=AGENTS)
    load.start()
    # When Redis restarts (SIGTERM, started again on its data and port) under load
    load.wait_sent(300)
    own_redis.restart()
    sent = load.finish()
    # Then the replicas carry on, nothing is lost or applied twice
    rig.wait_decided(sent)
    assert all(r.alive() for r in rig.replicas), rig.logs()
    rig.audit_clean()


def test_a_lost_redis_reply_retried_does_not_apply_twice(
    make_rig: Callable[..., Rig], redis_url: str
) -> None:
    # Given two replicas talking to Redis through a proxy
    target = urlparse(redis_url)
    proxy = LossyProxy((target.hostname or "127.0.0.1", target.port or 6379))
    try:
        rig = make_rig(redis=f"redis://127.0.0.1:{proxy.port}{target.path or '/0'}")
        rig.wait_assigned(rig.start(2))
        rig.login(TENANTS, AGENTS, CAPACITY)
        # When the replies of every 5th script call are lost (the script ran), 25 times
        proxy.drop(every=5, count=25)
        load = Load(rig, TENANTS, tickets=700, rate=150, agents=AGENTS)
        load.start()
        sent = load.finish()
        rig.wait_decided(sent)
        proxy.drop(every=1, count=0)
        # Then the retried scripts changed nothing twice: loads, open sets, waiting queues
        # and decisions agree (audit), and the retries gave duplicates, not new decisions
        assert proxy.dropped >= 10, proxy.dropped
        rig.audit_clean()
        assert any(d.get("duplicate") for d in rig.watcher.snapshot())
    finally:
        proxy.close()
