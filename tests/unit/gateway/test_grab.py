"""Grab mode over HTTP and on the streams: GET /v1/agents/{id}/work lists the pool an agent may
claim, claims of a pooled ticket (first wins: 409 once the store shows it taken, a rejected
decision on the loser's stream when two race), and pool changes on every agent stream."""

from __future__ import annotations

import asyncio

import pytest
import yaml

from engine import codec
from engine.core.policy import parse_policy
from engine.gateway.hub import agents_of
from engine.gateway.pool_events import claim_refused_to, is_pool_event
from engine.ports import GRAB_CLAIMED, GRAB_POOLED
from producers.sdk import EventProducer
from tests.unit.gateway.harness import OTHER, TENANT, Stack, check_response, ok, problem
from tests.unit.gateway.stream_helpers import Log, Replica, decision, events_of, parse_sse

pytestmark = pytest.mark.unit

GRAB_POLICY = """
version: 1
queues:
  - {name: leads, match: {skills_any: [sales]}, strategy: round_robin, mode: pull,
     claim_limit: 1, skills: {sales: 1}}
  - {name: chat, match: {channel: chat}, strategy: least_loaded}
  - {name: general, match: {}, strategy: least_loaded}
"""


@pytest.fixture
def stack() -> Stack:
    s = Stack(parse_policy(yaml.safe_load(GRAB_POLICY)))
    producer = EventProducer(s.log, tenant=TENANT)
    producer.login("a1", capacity={"chat": 2, "email": 2}, skills={"sales": 2})
    producer.login("a2", capacity={"chat": 2, "email": 2}, skills={"sales": 1})
    producer.login("a3", capacity={"chat": 2, "email": 2})  # no sales skill
    s.step()
    producer.ticket("L1", channel="email", priority=3, skills={"sales": 1})
    producer.ticket("L2", channel="email", priority=1, skills={"sales": 1})
    producer.ticket("C1", channel="chat", priority=3)  # push: assigned at once
    s.step()
    return s


def decisions(stack: Stack) -> list[codec.Event]:
    return stack.events(("dispatch.assignments",))


def test_get_work_lists_the_pool_the_agent_may_claim(stack: Stack) -> None:
    # Given pooled leads and a pushed chat
    kinds = {(d["id"], d["type"], d.get("reason")) for d in decisions(stack)}
    assert ("L1", "decision.queued", GRAB_POOLED) in kinds
    # When each agent reads its work
    works = {a: stack.client("agent", agent=a).get(f"/v1/agents/{a}/work") for a in ("a1", "a3")}
    for r in works.values():
        check_response(stack.doc, r)
    # Then an agent with the skill sees both leads, best (priority 1) first; the other none
    assert [(p["id"], p["queue"], p["priority"]) for p in ok(works["a1"])["pool"]] == [
        ("L2", "leads", 1),
        ("L1", "leads", 3),
    ]
    assert ok(works["a3"])["pool"] == []
    # And a supervisor reads any agent's pool; an agent token only its own; another tenant
    # does not find the agent
    assert len(ok(stack.client("supervisor").get("/v1/agents/a2/work"))["pool"]) == 2
    problem(stack.client("agent", agent="a1").get("/v1/agents/a2/work"), 403)
    problem(stack.client("supervisor", OTHER).get("/v1/agents/a1/work"), 404)


def test_a_claimed_ticket_is_the_agents_and_a_second_claim_is_409(stack: Stack) -> None:
    a1, a2 = (stack.client("agent", agent=a) for a in ("a1", "a2"))
    ok(a1.post("/v1/agents/a1/claim", json={"ticket": "L1"}), 202)
    stack.step()
    work = ok(a1.get("/v1/agents/a1/work"))
    assert "L1" in [t["id"] for t in work["open"]]
    assert work["pool"] == []  # claim_limit 1: nothing more to claim
    # When another agent claims it now / Then 409 naming the ticket, nothing written
    mark = stack.mark()
    body = problem(a2.post("/v1/agents/a2/claim", json={"ticket": "L1"}), 409, "ticket")
    assert body["title"] == GRAB_CLAIMED and "another agent" in body["detail"]
    assert stack.since(mark) == []
    # And a2 still sees L2 in its pool
    assert [p["id"] for p in ok(a2.get("/v1/agents/a2/work"))["pool"]] == ["L2"]


def test_two_racing_claims_one_wins_the_other_gets_a_rejected_decision(stack: Stack) -> None:
    a1, a2 = (stack.client("agent", agent=a) for a in ("a1", "a2"))
    # Both claims pass the gateway's check (the dispatcher has not decided yet)
    ok(a1.post("/v1/agents/a1/claim", json={"ticket": "L2"}), 202)
    ok(a2.post("/v1/agents/a2/claim", json={"ticket": "L2"}), 202)
    stack.step()
    about = [(d["type"], d["agent"], d.get("reason")) for d in decisions(stack) if d["id"] == "L2"]
    # Then exactly one won (whichever the dispatcher applied first) and the other was told
    [(_, winner, _)] = [a for a in about if a[0] == "decision.assigned"]
    loser = {"a1": "a2", "a2": "a1"}[winner]
    assert [a for a in about if a[0] == "decision.rejected"] == [
        ("decision.rejected", loser, GRAB_CLAIMED)
    ]
    rec = ok(stack.client("supervisor").get("/v1/tickets/L2"))
    assert (rec["state"], rec["agent"]) == ("assigned", winner)


def test_pool_changes_reach_every_agent_stream_and_a_lost_claim_its_claimer() -> None:
    pooled = decision("L1", kind="queued", agent=None, reason=GRAB_POOLED)
    claimed = decision("L1", kind="assigned", agent="a1", step="initial|claim")
    lost = decision("L1", kind="rejected", agent="a2", step="initial|claim", reason=GRAB_CLAIMED)
    pushed = decision("L3", kind="offered", agent="a1", step="push_after")
    plain = decision("C1", kind="queued", agent=None, reason="no eligible agent")
    assert [is_pool_event(e) for e in (pooled, claimed, lost, pushed, plain)] == [
        True,
        True,
        False,
        True,
        False,
    ]
    assert (claim_refused_to(lost), agents_of(lost)) == ("a2", ("a2",))
    assert claim_refused_to(decision("T", kind="rejected", agent="sup")) is None

    async def scenario() -> None:
        r = Replica()
        streams = {a: r.hub.subscribe("acme", a) for a in ("a1", "a2", "a3")}
        log = Log()
        for ev in (pooled, plain, claimed, lost):
            log.add(ev, 0)
        r.read(log.in_order())
        got = {
            a: [(b.event, b.data["id"]) for b in events_of(parse_sse(s.take().frames))]
            for a, s in streams.items()
        }
        assert got["a3"] == [("decision.queued", "L1"), ("decision.assigned", "L1")]
        assert got["a1"] == got["a3"]
        assert got["a2"] == [*got["a3"], ("decision.rejected", "L1")]

    asyncio.run(scenario())
