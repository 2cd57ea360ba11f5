"""The load's bounds (the pacer), the desktops' behaviour and the poison records."""

from __future__ import annotations

import random

import pytest

from engine import codec
from engine.demo import callcenter as cc
from engine.soak.load import POISON_KINDS, Desks, Pacer, poison

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("rate", [0.1, 1, 20, 333.3, 2000])
def test_the_pacer_never_releases_more_than_rate_times_elapsed(rate: float) -> None:
    # Given a pacer ticking at irregular moments over 10 s
    rng = random.Random(5)
    pacer = Pacer(rate, start_s=100.0)
    now = 100.0
    while now < 110.0:
        now += rng.uniform(0.001, 0.2)
        pacer.due(now)
        # Then at every moment at most rate * elapsed tickets were released
        assert pacer.released <= rate * (now - 100.0) + 1e-9
    # And over the whole run it kept up (within one tick's worth)
    assert pacer.released >= rate * (now - 100.0) - max(1.0, rate * 0.2) - 1


@pytest.mark.parametrize(("rate", "stall_s", "cap"), [(20, 10, 20), (1000, 5, 1000), (0.5, 60, 1)])
def test_after_a_stall_the_pacer_releases_at_most_one_burst(
    rate: float, stall_s: float, cap: int
) -> None:
    # Given a pacer that was not asked for `stall_s` (a producer blocked by a broker restart)
    pacer = Pacer(rate, start_s=0.0)
    # When asked again / Then it releases at most its burst (one second's worth, at least 1)
    assert pacer.due(stall_s) == cap
    # And the backlog is dropped, not replayed later
    assert pacer.due(stall_s + 0.001) <= 1


def test_a_pacer_needs_a_positive_rate() -> None:
    with pytest.raises(ValueError, match="rate"):
        Pacer(0, start_s=0.0)


def _desks(seed: int = 1, n: int = 5) -> Desks:
    rng = random.Random(seed)
    return Desks(rng, cc.roster(n, rng))


def _decision(kind: str, tid: str, agent: str | None, channel: str = "chat") -> dict:
    return {"type": f"decision.{kind}", "id": tid, "agent": agent, "channel": channel}


def test_offers_are_mostly_accepted_some_rejected_and_some_ignored() -> None:
    # Given 1,000 offers to one agent
    desks = _desks()
    for n in range(1000):
        desks.on_decision(_decision("offered", f"t{n}", "agent-000"), now_ms=0)
    # When every answer is due
    answers = [ev["type"] for ev in desks.due(now_ms=10_000)]
    # Then most are accepted, some rejected, the rest ignored (they time out)
    accepted, rejected = answers.count("ticket.accepted"), answers.count("ticket.rejected")
    assert 800 <= accepted <= 900
    assert 50 <= rejected <= 110
    assert accepted + rejected < 1000


def test_an_assigned_ticket_is_answered_then_resolved_by_its_agent() -> None:
    desks = _desks()
    desks.on_decision(_decision("assigned", "t1", "agent-001", "phone"), now_ms=0)
    events = desks.due(now_ms=10**9)
    assert [e["type"] for e in events] == ["ticket.first_response", "ticket.resolved"]
    assert {e["agent"] for e in events} == {"agent-001"}


def test_a_ticket_reassigned_meanwhile_is_not_resolved_by_its_former_agent() -> None:
    desks = _desks()
    desks.on_decision(_decision("assigned", "t1", "agent-001"), now_ms=0)
    desks.on_decision(_decision("reassigned", "t1", "agent-002"), now_ms=1)
    resolved = [e for e in desks.due(now_ms=10**9) if e["type"] == "ticket.resolved"]
    assert [e["agent"] for e in resolved] == ["agent-002"]


def test_draining_desks_accept_every_offer_and_do_nothing_else() -> None:
    # Given desks with resolutions and breaks scheduled
    desks = _desks(n=3)
    desks.on_decision(_decision("assigned", "t1", "agent-001"), now_ms=0)
    assert desks.breaks(now_ms=0, p=1.0)
    # When the load drains and new decisions arrive
    desks.drain()
    for n in range(50):
        desks.on_decision(_decision("offered", f"o{n}", "agent-000"), now_ms=0)
    desks.on_decision(_decision("assigned", "t2", "agent-002"), now_ms=0)
    # Then only acceptances come out, one per offer, and no break or logout starts
    events = desks.due(now_ms=10**9)
    assert [e["type"] for e in events] == ["ticket.accepted"] * 50
    assert desks.breaks(now_ms=0, p=1.0) == [] and desks.churn(now_ms=0, p=1.0) == []
    assert desks.pending() == 0


def test_a_logged_out_agent_logs_in_again_with_its_profile() -> None:
    desks = _desks(seed=4, n=2)
    out = desks.churn(now_ms=0, p=1.0)
    assert [e["type"] for e in out] == ["agent.logout"]
    back = desks.due(now_ms=10**6)
    assert [e["type"] for e in back] == ["agent.login"]
    assert back[0]["id"] == out[0]["id"] and back[0]["capacity"]


@pytest.mark.parametrize("kind", POISON_KINDS)
def test_every_poison_record_is_refused_by_the_codec_or_names_an_unknown_ticket(
    kind: str,
) -> None:
    topic, key, value = poison(kind, 3, "soak-a", 1_700_000_000_000)
    assert key == codec.record_key("soak-a", "poison-3")
    if kind == "unknown_ticket":
        ev = codec.decode(value)  # valid: refused by the dispatcher, not the codec
        assert (topic, ev["type"], ev["id"]) == ("tickets.lifecycle", "ticket.resolved", "poison-3")
    else:
        assert topic == "tickets.events"
        with pytest.raises(codec.DecodeError):
            codec.decode(value)


def test_an_unknown_poison_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="poison kind"):
        poison("nasty", 1, "t", 0)
