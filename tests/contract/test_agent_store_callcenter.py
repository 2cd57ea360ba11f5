"""The AgentStore contract for call-center routing (teams, re-offer cool-off, fairness limits,
shifts and wrap-up), on the in-memory store and on Redis (fixture ``store``)."""

from __future__ import annotations

import pytest

from engine.ports import AgentStore
from tests.contract.agent_store_helpers import NOW, T, assign, login, outcome, req, waiting_ids

pytestmark = pytest.mark.contract


# ---- teams ------------------------------------------------------------------------------------
def test_only_agents_of_an_allowed_team_take_the_ticket(store: AgentStore) -> None:
    login(store, "a", team="sales")
    login(store, "b")  # no team
    login(store, "c", team="billing")
    [d] = assign(store, req("X", teams=("billing", "support")))
    assert (d.kind, d.agent, dict(d.filtered)) == ("assigned", "c", {"team": 2})


def test_a_waiting_team_ticket_is_pulled_only_by_its_team(store: AgentStore) -> None:
    login(store, "a", team="sales")
    [d] = assign(store, req("X", teams=("billing",)))
    assert (d.kind, dict(d.filtered)) == ("queued", {"team": 1})
    assert store.update_agent(T, "a", {"capacity": {"chat": 3}}, NOW) == []
    ds = login(store, "b", team="billing")
    assert outcome(ds) == [("assigned", "X", "b")]
    assert waiting_ids(store) == []
