"""Fairness as properties: round robin spreads work evenly, and a freed agent pulls
the tickets she may take in (score, id) order.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.routing import waiting_score
from tests.unit.dispatch.property_world import (
    AGENTS,
    PROPERTY_SETTINGS,
    TICKETS,
    World,
    skill_maps,
    ticket_ix,
)

pytestmark = pytest.mark.unit

# ---- properties ------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(
    n_agents=st.integers(2, 5),
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("create"), ticket_ix),
            st.tuples(st.just("resolve"), ticket_ix),
            st.tuples(st.just("advance"), st.integers(0, 5_000)),
        ),
        max_size=60,
    ),
)
def test_round_robin_spreads_work_evenly_over_identical_agents(
    n_agents: int, ops: list[tuple[Any, ...]]
) -> None:
    # Given identical agents with room for every ticket, on a round-robin queue
    w = World({a: {} for a in AGENTS[:n_agents]}, None)
    for agent_id in w.roster:
        w.replay(
            w.service.handle([w.event("agent.login", agent_id, capacity={"chat": 100})], w.now)
        )
    # When tickets arrive (some twice) and are resolved, as time passes
    for op in ops:
        if op[0] == "create":
            fields = {"channel": "chat", "priority": 3, "tier": "standard"}
            ev = w.event("ticket.created", TICKETS[op[1]], **fields)
            decisions = w.service.handle([ev], w.now)
        elif op[0] == "resolve":
            decisions = w.service.handle([w.event("ticket.resolved", TICKETS[op[1]])], w.now)
        else:
            w.clock.advance(op[1])
            decisions = w.service.tick(w.now)
        w.replay(decisions)
        # Then the number of tickets each agent was given differs by at most one
        counts = [w.assigned_count[a] for a in w.roster]
        assert max(counts) - min(counts) <= 1, counts


@PROPERTY_SETTINGS
@given(
    tickets=st.lists(
        st.tuples(st.integers(1, 5), st.integers(0, 600_000), skill_maps),
        min_size=1,
        max_size=20,
    ),
    agent_skills=skill_maps,
    aging_s=st.sampled_from([None, 60.0]),
)
def test_freed_agent_pulls_eligible_tickets_in_score_then_id_order(
    tickets: list[tuple[int, int, dict[str, int]]],
    agent_skills: dict[str, int],
    aging_s: float | None,
) -> None:
    # Given tickets of random priority, age and skill needs waiting, and a busy agent
    w = World({"a0": {}}, aging_s)
    w.service.handle(
        [w.event("agent.login", "a0", capacity={"chat": 1}, skills=agent_skills)], w.now
    )
    w.service.handle(
        [w.event("ticket.created", "busy", channel="chat", priority=5, tier="standard")], w.now
    )
    for i, (prio, age, skills) in enumerate(tickets):
        ev = w.event(
            "ticket.created",
            f"t{i:02d}",
            channel="chat",
            priority=prio,
            tier="standard",
            skills=skills,
        )
        w.service.handle([{**ev, "ts": w.now - age}], w.now)
    reqs = w.stored_requests()
    expected = sorted(
        (waiting_score(r.priority, r.ticket_ts, aging_s), tid)
        for tid, r in reqs.items()
        if tid != "busy" and all(agent_skills.get(s, 0) >= lv for s, lv in r.skills.items())
    )
    # When the agent resolves each ticket she holds, one after another
    pulled: list[str] = []
    current = "busy"
    while True:
        out = w.service.handle([w.event("ticket.resolved", current)], w.now)
        nxt = [d.ticket_id for d in out if d.kind == "assigned"]
        if not nxt:
            break
        [current] = nxt
        pulled.append(current)
    # Then she served exactly the tickets she may take, best (score, id) first
    assert pulled == [tid for _, tid in expected]
