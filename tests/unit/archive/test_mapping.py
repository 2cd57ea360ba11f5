"""The pure mapping event -> archive row (engine.archive.ingest.map_event)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine import codec
from engine.archive import ingest
from engine.archive.schema import (
    AGENT_STATUS_SPANS,
    COMMANDS,
    DECISIONS,
    LIFECYCLE,
    SLA_EVENTS,
    TICKETS,
)
from tests.unit.archive import scenario
from tests.unit.archive.scenario import T0

pytestmark = pytest.mark.unit


def decoded(event: dict[str, Any]) -> codec.Event:
    return codec.decode(codec.encode(event))


def fact(event: dict[str, Any], source: ingest.Source | None = None) -> ingest.Fact:
    mapped = ingest.map_event(decoded(event), source)
    assert mapped.fact is not None, mapped.skipped
    return mapped.fact


def test_every_scenario_event_is_valid_and_maps_to_its_table() -> None:
    tables = {
        "decision.": DECISIONS,
        "ticket.": LIFECYCLE,
        "command.": COMMANDS,
        "sla.": SLA_EVENTS,
        "agent.": AGENT_STATUS_SPANS,
    }
    for _topic, event in scenario.stream():
        mapped = ingest.map_event(decoded(event))
        if mapped.fact is None:
            assert mapped.skipped in (ingest.SKIP_DUPLICATE, ingest.SKIP_NO_STATUS)
            continue
        (table,) = [t for prefix, t in tables.items() if event["type"].startswith(prefix)]
        assert mapped.fact.table is table
        # every row names exactly the table's columns
        assert set(mapped.fact.row) == {c.name for c in table.columns}


def test_a_versioned_decision_is_identified_by_ticket_seq_and_kind() -> None:
    ev = scenario.decision("assigned", "T1", "acme", 8100, 4, "A2", step="accepted")
    f = fact(ev, ingest.Source("dispatch.assignments", 3, 17))
    assert f.key == ("acme", "T1", 4, "assigned", "")
    row = f.row
    assert (row["ts_ms"], row["agent"], row["queue"], row["step"]) == (
        T0 + 8100,
        "A2",
        "billing",
        "accepted",
    )
    assert (row["load"], row["capacity"], row["forced"]) == (1, 3, False)
    assert (row["src_topic"], row["src_partition"], row["src_offset"]) == (
        "dispatch.assignments",
        3,
        17,
    )
    # read again from the decision log: the same identity
    again = fact(ev, ingest.Source("dispatch.decisions.log", 0, 5))
    assert again.key == f.key


def test_decision_delta_folds_into_the_ticket() -> None:
    d = fact(scenario.decision("assigned", "T1", "acme", 8100, 4, "A2")).delta
    assert d is not None
    row = d.row()
    assert set(row) == {c.name for c in TICKETS.columns}
    assert (row["last_seq"], row["state"], row["agent"]) == (4, "assigned", "A2")
    assert (row["first_assigned_ms"], row["first_agent"], row["assign_count"]) == (
        T0 + 8100,
        "A2",
        1,
    )
    assert row["first_queue"] is None  # only the seq-1 decision names the first queue


def test_a_reassignment_records_the_agent_it_was_taken_from() -> None:
    ev = scenario.decision("reassigned", "T1", "acme", 1, 5, "A1", reason="from A2")
    f = fact(ev)
    assert f.row["from_agent"] == "A2"
    assert f.delta is not None and f.delta.transfer_count == 1 and f.delta.assign_count == 0


def test_unversioned_decisions_are_identified_by_content() -> None:
    ev = scenario.decision("rejected", "T9", "acme", 5, 0, reason="ticket is not open")
    f = fact(ev)
    assert f.row["seq"] == 0 and len(f.row["digest"]) == 32
    assert f.delta is None  # a refused command changes no ticket
    other = fact({**ev, "reason": "already with that agent"})
    assert other.key != f.key
    assert fact(dict(ev)).key == f.key


def test_duplicate_decisions_are_no_facts() -> None:
    ev = scenario.decision("queued", "T2", "acme", 5, 2, duplicate=True, reason="duplicate")
    assert ingest.map_event(decoded(ev)) == ingest.Mapped(None, ingest.SKIP_DUPLICATE)


def test_explain_filtered_and_unknown_fields_are_kept_as_json() -> None:
    ev = scenario.decision(
        "assigned", "T1", "acme", 1, 1, "A1",
        filtered={"no_skill": 2}, explain={"score": 0.5}, policy_revision="r7", extra_field="x",
    )  # fmt: skip
    row = fact(ev).row
    assert json.loads(row["filtered"]) == {"no_skill": 2}
    assert json.loads(row["explain"]) == {"score": 0.5}
    assert row["policy_revision"] == "r7"
    assert json.loads(row["extra"]) == {"extra_field": "x"}


def test_ticket_created_is_in_the_trail_and_sets_the_ticket_attributes() -> None:
    _topic, ev = scenario.stream()[2]
    f = fact(ev)
    assert f.table is LIFECYCLE and f.row["type"] == "ticket.created"
    assert json.loads(f.row["data"])["customer_id"] == "C-1"
    assert f.delta is not None
    row = f.delta.row()
    assert (row["created_ms"], row["channel"], row["priority"], row["tier"]) == (
        T0 + 1000,
        "chat",
        2,
        "standard",
    )
    assert row["requested_queue"] == "billing"


@pytest.mark.parametrize(
    ("typ", "fields", "column", "value"),
    [
        ("ticket.first_response", {"agent": "A"}, "first_response_ms", T0 + 7),
        ("ticket.resolved", {"agent": "A"}, "resolved_ms", T0 + 7),
        ("ticket.resolved", {"agent": "A"}, "resolved_agent", "A"),
        ("ticket.closed", {}, "closed_ms", T0 + 7),
        ("ticket.cancelled", {}, "abandoned_ms", T0 + 7),
        ("ticket.reopened", {}, "reopen_count", 1),
        ("ticket.rated", {"rating": 2}, "csat", 2),
    ],
)
def test_lifecycle_events_set_their_milestone(
    typ: str, fields: dict[str, Any], column: str, value: Any
) -> None:
    ev = {"v": 1, "type": typ, "id": "T1", "tenant": "acme", "ts": T0 + 7, **fields}
    f = fact(ev)
    assert f.delta is not None
    assert f.delta.row()[column] == value


def test_the_same_lifecycle_event_twice_is_one_fact_a_different_one_is_another() -> None:
    ev = {"v": 1, "type": "ticket.reopened", "id": "T1", "tenant": "acme", "ts": T0}
    assert fact(ev).key == fact(dict(ev)).key
    assert fact({**ev, "ts": T0 + 1}).key != fact(ev).key
    assert fact({**ev, "reason": "again"}).key != fact(ev).key


def test_commands_name_their_subject() -> None:
    base = {"v": 1, "tenant": "acme", "ts": T0, "supervisor": "s"}
    reassign = fact({**base, "type": "command.reassign", "id": "T1", "to_agent": "A"}).row
    assert (reassign["subject_kind"], reassign["to_agent"]) == ("ticket", "A")
    claim = fact({**base, "type": "command.claim", "id": "A", "ticket": "T1"}).row
    assert (claim["subject_kind"], claim["ticket_id"]) == ("agent", "T1")
    pause = fact({**base, "type": "command.pause_queue", "id": "billing"}).row
    assert pause["subject_kind"] == "queue"
    move = fact({**base, "type": "command.move_queue", "id": "T1", "queue": "vip"}).row
    assert move["queue"] == "vip" and move["data"] is None


def test_sla_events_are_identified_by_event_id_and_breaches_count() -> None:
    stream = scenario.stream()
    met = fact(stream[12][1])
    assert met.key == ("acme", "sla:T1:first_response:0:met") and met.delta is None
    breached = fact(stream[16][1])
    assert breached.delta is not None and breached.delta.sla_breach_count == 1
    assert breached.row["kind"] == "breached" and breached.row["deadline_ms"] == T0 + 50000


def test_agent_events_start_status_spans() -> None:
    base = {"v": 1, "tenant": "acme", "id": "A1", "ts": T0}
    login = fact({**base, "type": "agent.login", "capacity": {"chat": 1}, "team": "t"}).row
    assert (login["status"], login["team"], login["end_ms"]) == ("available", "t", None)
    away = fact({**base, "type": "agent.login", "capacity": {}, "status": "away"}).row
    assert away["status"] == "away"
    assert fact({**base, "type": "agent.logout"}).row["status"] == "offline"
    assert fact({**base, "type": "agent.update", "status": "busy"}).row["status"] == "busy"
    skipped = ingest.map_event(decoded({**base, "type": "agent.update", "team": "x"}))
    assert skipped == ingest.Mapped(None, ingest.SKIP_NO_STATUS)


def test_tenant_is_part_of_every_identity() -> None:
    for _topic, event in scenario.stream():
        mapped = ingest.map_event(decoded(event))
        if mapped.fact is None:
            continue
        other = ingest.map_event(decoded({**event, "tenant": "other"})).fact
        assert other is not None
        assert mapped.fact.key[0] == "acme" and other.key[0] == "other"
        # the rest of the key is the same (the content digest covers the tenant too)
        mine = [k for k in mapped.fact.key[1:] if k != mapped.fact.row.get("digest")]
        theirs = [k for k in other.key[1:] if k != other.row.get("digest")]
        assert mine == theirs


def test_deltas_merge_order_independently() -> None:
    deltas = [f.delta for _t, ev in scenario.stream() if (f := _maybe(ev)) and f.delta]
    t1 = [d for d in deltas if d.ticket_id == "T1"]

    def folded(order: list[ingest.TicketDelta]) -> dict[str, Any]:
        acc = ingest.TicketDelta("acme", "T1")
        for d in order:
            acc.merge(d)
        return acc.row()

    expected = folded(t1)
    assert folded(list(reversed(t1))) == expected
    assert folded(t1[1::2] + t1[::2]) == expected
    want = scenario.expected_tickets()["T1"]
    assert {k: expected[k] for k in want} == want


def _maybe(event: dict[str, Any]) -> ingest.Fact | None:
    return ingest.map_event(decoded(event)).fact


def test_digest_ignores_key_order() -> None:
    a = {"v": 1, "type": "ticket.closed", "id": "T", "tenant": "x", "ts": 1}
    b = dict(reversed(list(a.items())))
    assert ingest.digest(a) == ingest.digest(b)
