"""The read views (pure): SLA clock states per target, eligible agents per queue; and token
grants."""

from __future__ import annotations

import pytest

from engine.adapters.memory.tokens import MemoryTokenStore
from engine.core.model import Agent
from engine.core.sla import ClockEvent
from engine.core.sla_track import SlaState, TicketMeta
from engine.gateway import tokens, views
from engine.ports import AgentView
from tests.unit.gateway.harness import gateway_policy

pytestmark = pytest.mark.unit

T0 = 1_800_000_000_000
MIN = 60_000


def _state(*events: tuple[str, int], policy: str | None = "standard") -> SlaState:
    meta = TicketMeta("acme", "t", T0, 3, "chat", "chat", policy)
    return SlaState(meta, tuple(ClockEvent(k, ts) for k, ts in (("created", T0), *events)))


def _clocks(state: SlaState, now: int) -> dict[tuple[str, int], dict[str, object]]:
    view = views.sla_view(state, gateway_policy(), now)
    assert view is not None
    return {(c["target"], c["cycle"]): c for c in view["clocks"]}  # type: ignore[misc]


def test_running_then_breached_clocks() -> None:
    c = _clocks(_state(), T0 + 30_000)
    fr = c[("first_response", 0)]
    assert (fr["state"], fr["deadline_ms"], fr["remaining_ms"]) == ("running", T0 + MIN, 30_000)
    c = _clocks(_state(), T0 + 2 * MIN)
    assert c[("first_response", 0)]["state"] == "breached"
    assert c[("first_response", 0)]["remaining_ms"] == -MIN
    assert c[("resolution", 0)]["state"] == "running"


def test_met_late_and_cancelled_clocks() -> None:
    met = _clocks(_state(("first_response", T0 + 10_000)), T0 + 5 * MIN)
    assert met[("first_response", 0)]["state"] == "met"
    assert met[("first_response", 0)]["stopped_ms"] == T0 + 10_000
    late = _clocks(_state(("first_response", T0 + 2 * MIN)), T0 + 5 * MIN)
    assert late[("first_response", 0)]["state"] == "breached"
    gone = _clocks(_state(("cancelled", T0 + 1000)), T0 + 5 * MIN)
    assert {c["state"] for c in gone.values()} == {"cancelled"}


def test_a_reopen_starts_a_new_resolution_cycle() -> None:
    c = _clocks(
        _state(("first_response", T0 + 1), ("resolved", T0 + 2), ("reopened", T0 + 3)), T0 + 4
    )
    assert c[("resolution", 0)]["state"] == "met"
    assert c[("resolution", 1)]["state"] == "running"
    assert c[("resolution", 1)]["started_ms"] == T0 + 3


def test_no_policy_no_clocks_and_no_meta_no_view() -> None:
    assert views.sla_view(_state(policy=None), gateway_policy(), T0) == {
        "policy": None,
        "clocks": [],
    }
    assert views.sla_view(_state(policy="gone"), gateway_policy(), T0) == {
        "policy": "gone",
        "clocks": [],
    }
    assert views.sla_view(SlaState(), gateway_policy(), T0) is None


def _agent(aid: str, status: str = "available", load: int = 0, **kw: object) -> AgentView:
    agent = Agent(id=aid, status=status, capacity={"chat": 1, "email": 1}, **kw)  # type: ignore[arg-type]
    return AgentView(agent, {"chat": tuple(f"x{i}" for i in range(load))})


def test_eligible_available_per_queue() -> None:
    policy = gateway_policy()
    chat, billing, general = (policy.queue(n) for n in ("chat", "billing", "general"))
    assert chat and billing and general
    agents = [
        _agent("free"),
        _agent("busy", status="busy"),
        _agent("full", load=1),  # chat full, email free
        _agent("biller", skills={"billing": 2}),
        _agent("weak-biller", skills={"billing": 1}),
    ]
    assert views.eligible_available(chat, agents) == 3  # free, biller, weak-biller
    assert views.eligible_available(general, agents) == 4  # any channel: full has email
    assert views.eligible_available(billing, agents) == 1


def test_queue_views_list_policy_queues_then_stray_ones() -> None:
    from engine.ports import WaitingEntry

    waiting = [
        WaitingEntry("a", "general", 1.0, 3, T0 - 5000),
        WaitingEntry("b", "general", 2.0, 3, T0 - 1000),
        WaitingEntry("c", "retired", 1.0, 3, T0),
    ]
    out = views.queue_views(gateway_policy(), waiting, [], T0)
    assert [q["name"] for q in out] == ["chat", "billing", "general", "retired"]
    general = out[2]
    assert (general["waiting"], general["oldest_ts"], general["oldest_age_s"]) == (
        2,
        T0 - 5000,
        5.0,
    )
    assert out[3]["strategy"] is None


# ---- tokens ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tenant", "role", "agent", "name", "field"),
    [
        ("acme", "producer", None, "", None),
        ("acme", "agent", "a1", "desk-1", None),
        ("*", "admin", None, "root", None),
        ("acme", "agent", None, "", "agent"),
        ("acme", "producer", "a1", "", "agent"),
        ("acme", "admin", None, "", "tenant"),
        ("*", "producer", None, "", "tenant"),
        ("acme", "wizard", None, "", "role"),
        ("acme", "supervisor", None, "sue smith", "name"),
        ("acme", "supervisor", None, "x" * (tokens.NAME_MAX_CHARS + 1), "name"),
    ],
)
def test_check_grant(
    tenant: str, role: str, agent: str | None, name: str, field: str | None
) -> None:
    errors = tokens.check_grant(tenant, role, agent, name)
    assert [e.split(":", 1)[0] for e in errors] == ([field] if field else [])


def test_grant_stores_only_the_hash_and_the_identity_is_an_id() -> None:
    store = MemoryTokenStore()
    token, info = tokens.grant(store, "acme", "supervisor", 5, name="x" * tokens.NAME_MAX_CHARS)
    assert store.find(tokens.digest(token)) == info
    assert token not in repr(store.all())
    assert info.token_id == tokens.digest(token)[: tokens.TOKEN_ID_HEX]
    from engine.core import bounds
    from engine.gateway.auth import Principal

    who = Principal(info.token_id, "acme", info.role, None, info.name).who
    assert bounds.is_id(who)
    with pytest.raises(tokens.GrantError, match="role"):
        tokens.grant(store, "acme", "wizard", 5)
