"""restore: recreate lost tickets as decided, without pulling or deciding anything."""

from __future__ import annotations

import pytest

from engine.ports import ASSIGNED, WAITING, AgentStore
from tests.contract.agent_store_helpers import NOW, T, assign, login, req, view, waiting_ids

pytestmark = pytest.mark.contract


def test_restored_tickets_keep_their_agent_state_and_version(store: AgentStore) -> None:
    # Given an agent known to the store (offline, so nothing is pulled)
    login(store, "a1", status="offline")
    ev1 = {"id": "t1", "tenant": T, "ts": NOW}
    ev2 = {"id": "t2", "tenant": T, "ts": NOW}
    # When one assigned and one waiting ticket are restored
    n = store.restore(
        T, [(req("t1"), ev1, ASSIGNED, "a1", 4), (req("t2"), ev2, WAITING, None, 2)], NOW
    )
    # Then they are back where they were, with their versions, and nothing was pulled
    assert n == 2
    assert view(store, "a1").open == {"chat": ("t1",)}
    assert waiting_ids(store) == ["t2"]
    rec = store.ticket(T, "t1")
    assert rec is not None and (rec.state, rec.agent) == (ASSIGNED, "a1")
    # And the next decision about a restored ticket carries the next version
    [released] = store.release(T, "t1", "resolved", NOW)  # offline: no pull
    assert (released.kind, released.seq) == ("released", 5)


def test_restore_leaves_known_tickets_alone(store: AgentStore) -> None:
    # Given a ticket the store knows (waiting)
    assign(store, req("t1"))
    # When a restore names it as assigned elsewhere
    n = store.restore(T, [(req("t1"), {"id": "t1"}, ASSIGNED, "zz", 9)], NOW)
    # Then nothing changes
    assert n == 0
    assert waiting_ids(store) == ["t1"]
