"""Names that hold separators, braces or '%' stay inside their own keys on both stores: a
tenant whose name ends in '}:t:k' cannot touch the ticket 'k}:t:z' of the tenant 'acme', and a
ticket id with '|' still gets its escalation timer. The Redis scripts escape key parts exactly
as Python does."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import escaping
from engine.adapters.redis import scripts
from engine.core.model import Request
from engine.core.routing import waiting_score
from engine.ports import AgentStore
from tests.contract.agent_store_helpers import NOW

pytestmark = pytest.mark.contract

VICTIM, ATTACKER = "acme", "acme}:t:k"


def request(tenant: str, tid: str, **extra: Any) -> Request:
    score = waiting_score(3, NOW, None)
    return Request(tid, tenant, "support", "least_loaded", "chat", 3, NOW, score, **extra)


def login(store: AgentStore, tenant: str, agent: str) -> None:
    fields = {"status": "available", "regions": ["eu"], "capacity": {"chat": 2}}
    store.update_agent(tenant, agent, fields, NOW)


def assign(store: AgentStore, r: Request) -> None:
    store.assign([(r, {"id": r.ticket_id, "tenant": r.tenant, "ts": NOW})], NOW)


def test_a_tenant_named_like_a_key_cannot_close_another_tenants_ticket(store: AgentStore) -> None:
    # Given the victim's ticket 'k}:t:z', assigned to its agent
    login(store, VICTIM, "ann")
    assign(store, request(VICTIM, "k}:t:z"))
    # and the attacker's ticket 'z', which with concatenated keys shared the victim's hash
    login(store, ATTACKER, "eve")
    assign(store, request(ATTACKER, "z"))
    # When the attacker resolves its own ticket
    store.release(ATTACKER, "z", "resolved", NOW + 1)
    # Then the victim's ticket is still assigned and its agent still carries it
    rec = store.ticket(VICTIM, "k}:t:z")
    assert rec is not None and (rec.state, rec.agent) == ("assigned", "ann")
    (ann,) = store.agents(VICTIM)
    assert ann.load("chat") == 1
    assert [v.agent.id for v in store.agents(ATTACKER)] == ["eve"]


@pytest.mark.parametrize("tid", ["a|b", "x|y|z", "50%|", "{t}", "é:1"])
def test_ids_with_separators_get_and_fire_their_timers(store: AgentStore, tid: str) -> None:
    # Given a ticket with an odd id waiting with an escalation due, and an offered one
    login(store, VICTIM, "ann|x")
    store.update_agent(VICTIM, "ann|x", {"status": "away"}, NOW)
    assign(store, request(VICTIM, tid, wake_ms=NOW + 5))
    store.update_agent(VICTIM, "ann|x", {"status": "available"}, NOW)
    # (the agent pulled it: an offered ticket keeps an offer timer with both odd ids)
    assign(store, request(VICTIM, tid + "2", offer_timeout_ms=10))
    # When the timers are due and claimed
    timers = store.claim_timers(VICTIM, NOW + 1_000, 1_000, 10)
    # Then each names its ticket and agent exactly
    assert {(t.kind, t.ticket_id, t.agent) for t in timers} <= {
        ("esc", tid, ""),
        ("offer", tid + "2", "ann|x"),
    }
    assert ("offer", tid + "2", "ann|x") in {(t.kind, t.ticket_id, t.agent) for t in timers}
    for t in timers:
        store.timer_done(t)
    assert store.claim_timers(VICTIM, NOW + 10_000, 1_000, 10) == []


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=16))
def test_the_scripts_escape_key_parts_exactly_as_python(redis_client: Any, text: str) -> None:
    # Given the scripts' escaping (prelude + the library's base section) on a real Redis
    chunk = (
        scripts.source("read").split("-- ==== lib/10_")[0]
        + "\nreturn {esc(ARGV[4]), esc_timer(ARGV[4]), offer_timer(ARGV[4], ARGV[4])}"
    )
    # When Lua escapes the UTF-8 bytes of any string
    got = redis_client.eval(chunk, 0, "p:{t}:", "0", "1", text.encode("utf-8"))
    # Then it is what Python computes
    assert [g.decode() for g in got] == [
        escaping.escape(text),
        escaping.timer_member("esc", text),
        escaping.timer_member("offer", text, text),
    ]
