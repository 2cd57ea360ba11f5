"""The SlaStore contract, on the in-memory store and on real Redis: facts are only added,
settle reserves each outcome once and only one final per cycle, leases keep replicas off a
ticket another one holds, watermarks only rise, agent averages fold."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from engine.adapters.memory.sla import MemorySlaStore
from engine.core.sla_track import Feedback
from engine.ports import Settle, SlaStore
from tests.services import delete_prefix

pytestmark = pytest.mark.contract

K = ("acme", "T1")


@pytest.fixture(params=["memory", "redis"])
def sla_store(request: pytest.FixtureRequest) -> Iterator[SlaStore]:
    if request.param == "memory":
        yield MemorySlaStore()
        return
    from engine.adapters.redis.sla_store import RedisSlaStore

    client: Any = request.getfixturevalue("redis_client")
    unique: Callable[[str], str] = request.getfixturevalue("unique_name")
    prefix = unique("sla")
    yield RedisSlaStore(client, prefix=prefix)
    delete_prefix(client, prefix)


def test_apply_adds_facts_once_and_returns_the_whole_ticket(sla_store: SlaStore) -> None:
    first = sla_store.apply({K: {"c": b"one", "e:created:1": b""}})
    assert first[K] == {"c": b"one", "e:created:1": b""}
    again = sla_store.apply({K: {"c": b"two", "e:resolved:5": b""}, ("acme", "T2"): {"x": b""}})
    assert again[K] == {"c": b"one", "e:created:1": b"", "e:resolved:5": b""}
    assert again[("acme", "T2")] == {"x": b""}
    assert sla_store.load([K, ("acme", "nope")]) == {K: again[K], ("acme", "nope"): {}}


def test_settle_reserves_once_and_the_first_final_outcome_wins(sla_store: SlaStore) -> None:
    sla_store.apply({K: {"c": b""}})
    met = ("sla:T1:fr:0:met", "sla:T1:fr:0:final", b"MET")
    (s,) = sla_store.settle([Settle(K, ["m:vol"], [met], 5_000, 9_000)])
    assert s.new_marks == ["m:vol"] and s.unsent == [("sla:T1:fr:0:met", b"MET")]
    breached = ("sla:T1:fr:0:breached", "sla:T1:fr:0:final", b"BREACHED")
    warn = ("sla:T1:fr:0:warning", None, b"WARN")
    (s,) = sla_store.settle([Settle(K, ["m:vol", "m:frt"], [breached, warn], None, 9_000)])
    assert s.new_marks == ["m:frt"]
    assert sorted(s.unsent) == [("sla:T1:fr:0:met", b"MET"), ("sla:T1:fr:0:warning", b"WARN")]
    new = sla_store.mark_sent({K: ["sla:T1:fr:0:met", "sla:T1:fr:0:warning"]})
    assert sorted(new) == [(K, "sla:T1:fr:0:met"), (K, "sla:T1:fr:0:warning")]
    assert sla_store.mark_sent({K: ["sla:T1:fr:0:met"]}) == []  # a repeat is recognised
    (s,) = sla_store.settle([Settle(K, [], [met, breached], None, 9_000)])
    assert s.unsent == []  # published: never reserved again, and the final stays "met"
    fields = sla_store.load([K])[K]
    assert fields["f:sla:T1:fr:0:final"] == b"sla:T1:fr:0:met"
    assert "s:sla:T1:fr:0:met" in fields and "o:sla:T1:fr:0:met" not in fields


def test_due_tickets_are_leased_to_one_claimer(sla_store: SlaStore) -> None:
    sla_store.apply({K: {"c": b""}, ("acme", "T2"): {"c": b""}, ("beta", "T3"): {"c": b""}})
    sla_store.settle(
        [
            Settle(K, [], [], 1_000, 0),
            Settle(("acme", "T2"), [], [], 50_000, 0),
            Settle(("beta", "T3"), [], [], 2_000, 0),
        ]
    )
    assert sla_store.deadlines() == 3
    assert sorted(sla_store.claim_due(10_000, 100, 30_000, 10)) == [K, ("beta", "T3")]
    assert sla_store.claim_due(10_000, 200, 30_000, 10) == []  # leased
    assert sorted(sla_store.claim_due(10_000, 30_101, 30_000, 10)) == [K, ("beta", "T3")]
    sla_store.settle([Settle(K, [], [], None, 0)])  # nothing pending: off the schedule
    assert sla_store.claim_due(10_000, 90_000, 30_000, 10) == [("beta", "T3")]
    assert sla_store.deadlines() == 2


def test_unpublished_reservations_come_back_after_the_recheck(sla_store: SlaStore) -> None:
    sla_store.apply({K: {"c": b""}})
    sla_store.settle([Settle(K, [], [("e1", None, b"P")], None, 7_000)])
    assert sla_store.claim_due(6_999, 0, 1, 10) == []
    assert sla_store.claim_due(7_000, 0, 1, 10) == [K]


def test_watermarks_only_rise(sla_store: SlaStore) -> None:
    sla_store.advance_watermarks({"t:0": 100, "t:1": 50})
    sla_store.advance_watermarks({"t:0": 90, "t:1": 70})
    assert sla_store.watermarks() == {"t:0": 100, "t:1": 70}


def test_agent_feedback_folds_moving_averages(sla_store: SlaStore) -> None:
    a, b, bob = sla_store.agent_feedback(
        [
            Feedback("acme", "alice", rating=5),
            Feedback("acme", "alice", rating=3, handle_s=100.0),
            Feedback("acme", "bob", handle_s=60.0),
        ],
        0.5,
    )
    assert (a.csat, a.handle_s, a.published) == (5.0, None, None)
    assert (b.csat, b.handle_s) == (4.0, 100.0)
    assert (bob.csat, bob.handle_s) == (None, 60.0)
    sla_store.set_published({("acme", "alice"): 0.8125})
    (s,) = sla_store.agent_feedback([Feedback("acme", "alice", handle_s=200.0)], 0.5)
    assert (s.csat, s.handle_s, s.published) == (4.0, 150.0, 0.8125)
    assert sla_store.agent_feedback([], 0.5) == []
