"""`dispatch audit`'s checks (engine.dispatch.audit): a healthy stream from the real
DispatchService audits clean; each violation injected by hand is reported with its count and
example, and nothing else is."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import codec
from engine.adapters.memory import MemoryAgentStore, MemoryLog
from engine.clock import SimClock
from engine.core.model import Decision
from engine.core.policy import parse_policy
from engine.dispatch.audit import (
    Inputs,
    Placed,
    Report,
    StoreState,
    audit,
    fold,
    render,
)
from engine.dispatch.audit_checks import check_all
from engine.dispatch.service import DispatchService
from engine.ports import AgentView
from tests.unit.dispatch.property_world import (
    AGENTS,
    PROPERTY_SETTINGS,
    World,
    operations,
    rosters,
)

pytestmark = pytest.mark.unit

T0 = 1_700_000_000_000
TENANT = "acme"
GUARANTEES = (
    "decided",
    "one_agent",
    "capacity",
    "drift",
    "priority_order",
    "last_record",
    "explained",
)
POLICY = {"version": 1, "queues": [{"name": "general", "match": {}, "strategy": "round_robin"}]}


def published(decisions: Sequence[Decision], partitions: int = 3) -> list[Placed]:
    """The decisions as a dispatcher publishes them (keyed by ticket id), read back."""
    log = MemoryLog(partitions)
    for d in decisions:
        log.send("decisions", d.ticket_id.encode(), codec.encode(d.to_event()))
    return [
        Placed(codec.decode(r.value), r.partition, r.offset, r.key)
        for r in log.records("decisions")
    ]


def inputs_of(
    sent: Sequence[Mapping[str, Any]], decisions: Sequence[Decision], partitions: int = 3
) -> Inputs:
    return Inputs(
        created=[e for e in sent if e["type"] == "ticket.created"],
        decisions=published(decisions, partitions),
        lifecycle=[
            e for e in sent if e["type"].startswith("ticket.") and e["type"] != "ticket.created"
        ],
    )


class Desk:
    """A small call center: DispatchService on MemoryAgentStore with a SimClock."""

    def __init__(self) -> None:
        self.clock = SimClock(T0)
        self.store = MemoryAgentStore()
        self.service = DispatchService(self.store, parse_policy(POLICY))
        self.sent: list[dict[str, Any]] = []
        self.decisions: list[Decision] = []

    def event(self, typ: str, oid: str, tenant: str = TENANT, **fields: Any) -> None:
        ev = {"v": 1, "type": typ, "id": oid, "tenant": tenant, "ts": self.clock.now_ms()}
        self.sent.append({**ev, **fields})
        self.decisions += self.service.handle([self.sent[-1]], self.clock.now_ms())
        self.clock.advance(1000)

    def inputs(self) -> Inputs:
        return inputs_of(self.sent, self.decisions)


def base(*extra: Callable[[Desk], None]) -> Desk:
    """Three agents with chat capacities 2, 2, 1 and one away; ten chat tickets: five
    held, one resolved (its agent pulls the next), a forced reassign over a3's capacity, a
    rejected reassign, three waiting (t9 priority 2, t6 and t10 priority 5)."""
    desk = Desk()
    for agent, cap in (("a1", 2), ("a2", 2), ("a3", 1), ("a4", 2)):
        desk.event("agent.login", agent, capacity={"chat": cap})
    desk.event("agent.status", "a4", status="away")
    for n, prio in enumerate([3, 3, 2, 4, 1, 5, 1, 3]):
        desk.event("ticket.created", f"t{n + 1}", channel="chat", priority=prio)
    desk.event("ticket.resolved", "t1")
    desk.event("command.force_assign", "t2", to_agent="a3", supervisor="sue")
    desk.event("command.reassign", "t3", to_agent="a3", supervisor="sue")
    desk.event("ticket.created", "t9", channel="chat", priority=2)
    desk.event("ticket.created", "t10", channel="chat", priority=5)
    for step in extra:
        step(desk)
    return desk


def snapshot(desk: Desk, tenants: Sequence[str] = (TENANT,)) -> dict[str, StoreState]:
    """The store as the audit reads it, with the record of every ticket."""
    return {
        t: StoreState(
            desk.store.agents(t),
            desk.store.waiting(t),
            {
                tid: desk.store.ticket(t, tid)
                for tid in {str(e["id"]) for e in desk.sent if e.get("tenant") == t}
            },
        )
        for t in tenants
    }


def verdict(
    inputs: Inputs, states: Mapping[str, StoreState], now_ms: int, grace_ms: int = 0
) -> Report:
    return check_all(
        inputs, fold(inputs.decisions), states, now_ms=now_ms, grace_ms=grace_ms, examples=5
    )


def violations(report: Report) -> dict[str, int]:
    return {c.name: c.violations for c in report.checks if c.violations}


# ---- a healthy run audits clean -----------------------------------------------------------------


def test_the_base_scenario_is_healthy_and_exercises_every_check() -> None:
    # Given the base scenario (forced reassign over capacity, a rejected command included)
    desk = base()
    # When it is audited
    report = audit(desk.inputs(), desk.store, now_ms=desk.clock.now_ms(), grace_ms=0)
    # Then every guarantee holds, and each check had something to check
    assert report.ok, render(report)
    assert all(report.check(name).checked > 0 for name in GUARANTEES)
    assert report.check("priority_order").checked == 3
    # And the rejected command, the last record of t3, is what compaction would keep
    assert report.check("compaction").found == 1
    assert report.check("compaction").examples[0].subject == "acme/t3"


@PROPERTY_SETTINGS
@given(
    roster=rosters,
    aging_s=st.sampled_from([None, 20.0]),
    ops=st.lists(operations, min_size=20, max_size=100),
    partitions=st.sampled_from([1, 3]),
)
def test_any_healthy_stream_audits_clean(
    roster: list[dict[str, Any]],
    aging_s: float | None,
    ops: list[tuple[Any, ...]],
    partitions: int,
) -> None:
    # Given a random roster logged in and a random stream of tickets, lifecycle events,
    # agent changes, supervisor commands, duplicates and clock advances, through the real
    # DispatchService on MemoryAgentStore, every decision published in order
    w = World({AGENTS[i]: p for i, p in enumerate(roster)}, aging_s)
    decisions: list[Decision] = []
    for i in range(len(w.roster)):
        decisions += w.apply(("login", i))
    for op in ops:
        step = w.apply(op)
        w.replay(step)  # acknowledges the outbox, as a publishing dispatcher does
        decisions += step
    inputs = inputs_of(w.sent, decisions, partitions)
    # When the topics and the store are audited
    report = audit(inputs, w.store, now_ms=w.now, grace_ms=0)
    # Then no guarantee is violated
    assert report.ok, render(report)


# ---- each violation is reported, and nothing else --------------------------------------------

Injection = Callable[[Inputs, dict[str, StoreState]], Inputs]


def _open(states: dict[str, StoreState], agent: str, channel: str, change: Any) -> None:
    st_ = states[TENANT]
    views = []
    for v in st_.agents:
        if v.agent.id == agent:
            ids = tuple(sorted(change(set(v.open.get(channel, ())))))
            v = AgentView(v.agent, {**v.open, channel: ids}, v.misses)
        views.append(v)
    states[TENANT] = replace(st_, agents=views)


def _decision(inputs: Inputs, tid: str, kind: str) -> int:
    return next(
        i
        for i, p in enumerate(inputs.decisions)
        if p.event["id"] == tid and p.event["type"] == f"decision.{kind}"
    )


def _edit(inputs: Inputs, tid: str, kind: str, **fields: Any) -> Inputs:
    i = _decision(inputs, tid, kind)
    ds = list(inputs.decisions)
    ds[i] = replace(ds[i], event={**ds[i].event, **fields})
    return replace(inputs, decisions=ds)


def no_decision(inputs: Inputs, states: dict[str, StoreState]) -> Inputs:
    ev = {**inputs.created[0], "id": "t99", "ts": T0}
    return replace(inputs, created=[*inputs.created, ev])


def two_open_sets(inputs: Inputs, states: dict[str, StoreState]) -> Inputs:
    _open(states, "a4", "chat", lambda ids: ids | {"t5"})  # t5 is a2's; a4 has room
    return inputs


def over_capacity_in_redis(inputs: Inputs, states: dict[str, StoreState]) -> Inputs:
    _open(states, "a1", "chat", lambda ids: ids | {"t6"})  # t6 is waiting; a1 is full
    return inputs


def decision_over_capacity(inputs: Inputs, states: dict[str, StoreState]) -> Inputs:
    return _edit(inputs, "t7", "assigned", load=3, capacity=2)


def record_names_another_agent(inputs: Inputs, states: dict[str, StoreState]) -> Inputs:
    rec = states[TENANT].records["t4"]
    assert rec is not None and rec.agent == "a1"
    records = {**states[TENANT].records, "t4": replace(rec, agent="a2")}
    states[TENANT] = replace(states[TENANT], records=records)
    return inputs


def redis_lost_an_open_ticket(inputs: Inputs, states: dict[str, StoreState]) -> Inputs:
    _open(states, "a1", "chat", lambda ids: ids - {"t4"})
    return inputs


def redis_lost_a_waiting_ticket(inputs: Inputs, states: dict[str, StoreState]) -> Inputs:
    waiting = [w for w in states[TENANT].waiting if w.ticket_id != "t6"]
    states[TENANT] = replace(states[TENANT], waiting=waiting)
    return inputs


def priority_inversion(inputs: Inputs, states: dict[str, StoreState]) -> Inputs:
    order = {w.ticket_id: w for w in states[TENANT].waiting}
    assert list(order) == ["t9", "t6", "t10"]
    # t10 (priority 5, newest) moves ahead of t9 (priority 2, older)
    states[TENANT] = replace(states[TENANT], waiting=[order["t10"], order["t9"], order["t6"]])
    return inputs


def stale_last_record(inputs: Inputs, states: dict[str, StoreState]) -> Inputs:
    old = inputs.decisions[_decision(inputs, "t7", "queued")]  # seq 1; seq 2 follows it
    end = max(p.offset for p in inputs.decisions if p.partition == old.partition) + 1
    return replace(inputs, decisions=[*inputs.decisions, replace(old, offset=end)])


def no_strategy(inputs: Inputs, states: dict[str, StoreState]) -> Inputs:
    return _edit(inputs, "t6", "queued", strategy="")


def no_supervisor(inputs: Inputs, states: dict[str, StoreState]) -> Inputs:
    return _edit(inputs, "t2", "reassigned", supervisor=None)


def invalid_record(inputs: Inputs, states: dict[str, StoreState]) -> Inputs:
    return replace(inputs, invalid=[(0, 99, "invalid: $.queue is required")])


CASES: list[tuple[str, Injection, dict[str, int], dict[str, str]]] = [
    ("ticket without a decision", no_decision, {"decided": 1}, {"decided": "acme/t99"}),
    (
        "a ticket in two agents' open sets",
        two_open_sets,
        {"one_agent": 1, "drift": 1},
        {"one_agent": "acme/t5", "drift": "acme/t5"},
    ),
    (
        "a waiting ticket added to a full agent",
        over_capacity_in_redis,
        {"one_agent": 1, "capacity": 1, "drift": 1},
        {"one_agent": "acme/t6", "capacity": "acme/a1", "drift": "acme/t6"},
    ),
    (
        "a decision with load > capacity",
        decision_over_capacity,
        {"capacity": 1},
        {"capacity": "acme/t7"},
    ),
    (
        "a ticket record naming another agent",
        record_names_another_agent,
        {"one_agent": 1},
        {"one_agent": "acme/t4"},
    ),
    ("Redis lost an open ticket", redis_lost_an_open_ticket, {"drift": 1}, {"drift": "acme/t4"}),
    (
        "Redis lost a waiting ticket",
        redis_lost_a_waiting_ticket,
        {"drift": 1},
        {"drift": "acme/t6"},
    ),
    (
        "a more urgent, older ticket behind another",
        priority_inversion,
        {"priority_order": 1},
        {"priority_order": "acme/t9"},
    ),
    ("a stale last record", stale_last_record, {"last_record": 1}, {"last_record": "acme/t7"}),
    ("a decision without strategy", no_strategy, {"explained": 1}, {"explained": "acme/t6"}),
    ("a reassign without supervisor", no_supervisor, {"explained": 1}, {"explained": "acme/t2"}),
    (
        "a record that is not a decision",
        invalid_record,
        {"explained": 1},
        {"explained": "partition 0 offset 99"},
    ),
]


@pytest.mark.parametrize(
    ("inject", "expected", "subjects"),
    [pytest.param(i, e, s, id=name) for name, i, e, s in CASES],
)
def test_an_injected_violation_is_reported_with_its_count_and_example(
    inject: Injection, expected: dict[str, int], subjects: dict[str, str]
) -> None:
    # Given the healthy base scenario, as read from the topics and the store
    desk = base()
    states = snapshot(desk)
    # When one violation is injected by hand into the data
    inputs = inject(desk.inputs(), states)
    report = verdict(inputs, states, desk.clock.now_ms())
    # Then exactly the checks it breaks fail, each with the right count and example
    assert violations(report) == expected, render(report)
    for name, subject in subjects.items():
        assert report.check(name).examples[0].subject == subject
    assert report.failed() == [n for n in GUARANTEES if n in expected]


def test_the_example_names_the_evidence() -> None:
    # Given a ticket SADDed into a second agent's open set
    desk = base()
    states = snapshot(desk)
    inputs = two_open_sets(desk.inputs(), states)
    # When audited
    report = verdict(inputs, states, desk.clock.now_ms())
    # Then the examples say where it is and what the decisions say
    assert report.check("one_agent").examples[0].evidence == (
        "in the open sets of a2 (chat) and a4 (chat); in a4's open set on chat, "
        "record assigned with a2"
    )
    drift = report.check("drift").examples[0].evidence
    assert drift == "Redis: in a4's open set; decisions: open with a2 (assigned, seq 1)"


# ---- healthy variations that must stay clean ------------------------------------------------


def lower_capacity(desk: Desk) -> None:
    desk.event("agent.update", "a1", capacity={"chat": 1})  # a1 keeps its 2 tickets


def second_tenant_without_decisions(desk: Desk) -> None:
    desk.sent.append({**desk.sent[-1], "tenant": "other", "id": "x1", "ts": T0})


def test_a_capacity_lowered_after_placement_is_not_a_violation() -> None:
    # Given a1 holding two tickets when its capacity drops to 1
    desk = base(lower_capacity)
    assert desk.store.agents(TENANT)[0].load("chat") == 2
    # When audited / Then clean: the decisions recorded capacity 2 when they placed them
    report = verdict(desk.inputs(), snapshot(desk), desk.clock.now_ms())
    assert report.ok, render(report)


def test_a_ticket_within_the_grace_period_needs_no_decision_yet() -> None:
    # Given a ticket.created of a moment ago that no dispatcher has seen yet
    desk = base()
    inputs = desk.inputs()
    now = desk.clock.now_ms() + 60_000  # the base scenario's tickets are older than 30 s
    fresh = {**inputs.created[0], "id": "t98", "ts": now - 1_000}
    inputs = replace(inputs, created=[*inputs.created, fresh])
    # When audited with a 30 s grace period
    report = verdict(inputs, snapshot(desk), now, grace_ms=30_000)
    # Then it is not checked, only counted
    assert report.ok, render(report)
    assert report.check("decided").counts == {"within grace": 1}


def test_a_key_change_keeps_the_old_key_behind_without_a_stale_record() -> None:
    # Given t7's later decisions published under a new key (tenant/ticket) in another
    # partition, its first ones left under the old key
    desk = base()
    inputs = desk.inputs()
    ds = []
    for p in inputs.decisions:
        if p.event["id"] == "t7" and int(p.event["seq"]) >= 2:
            p = replace(p, partition=p.partition + 10, key=b"acme/t7")
        ds.append(p)
    # When audited / Then the last record of the new key carries the highest seq: clean
    report = verdict(replace(inputs, decisions=ds), snapshot(desk), desk.clock.now_ms())
    assert report.ok, render(report)


def test_tenant_restricts_every_check_to_one_tenant() -> None:
    # Given another tenant with a ticket no dispatcher decided
    desk = base(second_tenant_without_decisions)
    now = desk.clock.now_ms()
    # When audited for acme only / Then clean; for every tenant, the other one fails
    assert audit(desk.inputs(), desk.store, now_ms=now, grace_ms=0, tenant=TENANT).ok
    report = audit(desk.inputs(), desk.store, now_ms=now, grace_ms=0)
    assert report.tenants == [TENANT, "other"]
    assert violations(report) == {"decided": 1}
    assert report.check("decided").examples[0].subject == "other/x1"


# ---- the report ----------------------------------------------------------------------------------


def test_examples_are_capped_but_every_violation_is_counted() -> None:
    # Given three tickets without decisions
    desk = base()
    inputs = desk.inputs()
    lost = [{**inputs.created[0], "id": f"t9{n}", "ts": T0} for n in range(3)]
    inputs = replace(inputs, created=[*inputs.created, *lost])
    # When audited with one example per check
    report = check_all(
        inputs,
        fold(inputs.decisions),
        snapshot(desk),
        now_ms=desk.clock.now_ms(),
        grace_ms=0,
        examples=1,
    )
    # Then all three count, one is shown
    assert report.check("decided").violations == 3
    assert len(report.check("decided").examples) == 1


def test_the_report_renders_as_a_table_and_as_one_json_object() -> None:
    # Given a report with one violation
    desk = base()
    states = snapshot(desk)
    inputs = stale_last_record(desk.inputs(), states)
    report = verdict(inputs, states, desk.clock.now_ms())
    # When rendered
    table, doc = render(report), json.loads(report.to_json())
    # Then the table has one line per check, ✗ on the failing one, its example, a verdict
    lines = table.splitlines()
    assert lines[0].startswith("audit of 1 tenant(s) acme: 10 tickets,")
    assert [ln.split()[1] for ln in lines if ln[:1] in "✓✗·"] == [c.name for c in report.checks]
    assert next(ln for ln in lines if "last_record" in ln).startswith("✗ last_record")
    assert "    acme/t7: partition" in table
    assert lines[-1] == "VIOLATED: last_record (exit 1)"
    # And the JSON object says the same
    assert doc["ok"] is False and doc["failed"] == ["last_record"]
    check = next(c for c in doc["checks"] if c["name"] == "last_record")
    assert check["violations"] == 1 and check["examples"][0]["subject"] == "acme/t7"
    assert {c["name"] for c in doc["checks"] if c["informational"]} >= {"stranded", "compaction"}
