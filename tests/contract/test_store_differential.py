"""Differential contract test: the Redis store decides exactly as the in-memory reference.

Random operation sequences (agent rosters and updates, ticket batches routed by a policy with
every strategy, offers, escalation ladders, overflow and stickiness, team ladders, fairness
limits, releases with wrap-up, offer answers and time-outs with cool-offs and decline
reasons, agent shifts and their timers, reassignments, pauses, reroutes, reopens, timers,
grab mode (claims of the best or a named ticket, pool reads, pull queues with a claim limit
and a push fallback), handovers on logout and away with their away timers; decisions naming
a policy revision) are applied to a MemoryAgentStore and a RedisAgentStore; every answer
and every snapshot (agents, waiting, tickets) must be equal after every operation.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from engine.adapters.memory.store import MemoryAgentStore
from tests.contract.differential import NOW, TENANTS, Twin, operations

pytestmark = pytest.mark.contract


def test_memory_and_redis_stores_make_identical_decisions(redis_store_factory: Any) -> None:
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(ops=operations())
    def run(ops: list[tuple[Any, ...]]) -> None:
        twin = Twin(MemoryAgentStore(), redis_store_factory())
        for tenant in TENANTS:  # both stores know both pools from the start
            twin.both("update_agent", tenant, "a0", {"status": "busy"}, NOW)
        for op in ops:
            twin.apply(op)
        assert twin.stores[1].tenants() == twin.stores[0].tenants()

    run()


def test_grab_mode_memory_and_redis_agree(redis_store_factory: Any) -> None:
    """Grab mode in focus: pull-queue tickets, claims of the best and of named tickets (known,
    claimed, closed, unknown), pool reads, push fallbacks fired by timers, releases."""

    @settings(
        max_examples=100,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(ops=operations(grab=True))
    def run(ops: list[tuple[Any, ...]]) -> None:
        twin = Twin(MemoryAgentStore(), redis_store_factory())
        for tenant in TENANTS:
            twin.both("update_agent", tenant, "a0", {"status": "busy"}, NOW)
        for op in ops:
            twin.apply(op)

    run()
