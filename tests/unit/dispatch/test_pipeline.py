"""engine.dispatch.pipeline on the in-memory adapters: command.notify becomes a validated
notification.sent on the notifications topic (committed only after it is sent), and the
dispatcher ignores ticket.replied / ticket.waiting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from engine import codec
from engine.adapters.memory import MemoryAgentStore, MemoryLog
from engine.clock import SimClock
from engine.core.policy import parse_policy
from engine.dispatch.metrics import DispatcherMetrics
from engine.dispatch.pipeline import Pipeline, PipelineTopics
from engine.dispatch.service import DispatchService
from engine.ports import Observer
from tests.unit.event_examples import DROP, example

pytestmark = pytest.mark.unit

T0 = 1_700_000_000_000
INPUTS = ("tickets.events", "agents.events", "tickets.lifecycle", "dispatch.commands")
POLICY = {"version": 1, "queues": [{"name": "general", "match": {}, "strategy": "least_loaded"}]}


class FailingLog(MemoryLog):
    """A log whose flush fails once (a broker outage)."""

    def __init__(self) -> None:
        super().__init__()
        self.fail = False

    def flush(self) -> None:
        if self.fail:
            self.fail = False
            raise RuntimeError("broker unavailable")


def make(
    log: MemoryLog | None = None, notes: list[Mapping[str, Any]] | None = None
) -> tuple[Pipeline, MemoryLog]:
    log = log or MemoryLog()
    store = MemoryAgentStore()
    service = DispatchService(store, parse_policy(POLICY))
    consumer = log.consumer(INPUTS, "dispatchers")
    pipeline = Pipeline(
        consumer,
        log,
        service,
        SimClock(T0),
        PipelineTopics(notifications="p.dispatch.notifications"),
        poll_timeout_ms=0,
        observer=None if notes is None else NoteRecorder(notes),
    )
    return pipeline, log


class NoteRecorder(Observer):
    """Keeps every notification the pipeline reports."""

    def __init__(self, notes: list[Mapping[str, Any]]) -> None:
        self.notes = notes

    def on_notification(self, event: Mapping[str, Any]) -> None:
        self.notes.append(event)


def send(log: MemoryLog, *events: dict[str, Any]) -> None:
    for ev in events:
        log.send(codec.topic_of(ev["type"]), codec.key_of(ev), codec.encode(ev))


def login(agent: str) -> dict[str, Any]:
    return example("agent.login", id=agent, capacity={"chat": 2}, skills={}, regions=[])


def created(ticket: str) -> dict[str, Any]:
    return example(
        "ticket.created", id=ticket, skills={}, region=DROP, queue=DROP, preferred_agent=DROP
    )


def notifications(log: MemoryLog) -> list[dict[str, Any]]:
    return [codec.decode(r.value) for r in log.records("p.dispatch.notifications")]


def test_notify_of_an_assigned_ticket_publishes_its_queue_state_and_agent() -> None:
    # Given an agent holding ticket T-1
    notes: list[Mapping[str, Any]] = []
    pipeline, log = make(notes=notes)
    send(log, login("A-1"))
    pipeline.run_once()
    send(log, created("T-1"))
    pipeline.run_once()
    # When the SLA tracker asks to notify about it
    send(log, example("command.notify", id="T-1"))
    pipeline.run_once()
    # Then one notification.sent, keyed by ticket id, carries the store's view and the command's
    (rec,) = log.records("p.dispatch.notifications")
    assert rec.key == b"acme/T-1"  # <tenant>/<ticket>: codec.record_key
    (note,) = notifications(log)
    assert note == {
        "v": 1,
        "type": "notification.sent",
        "id": "T-1",
        "tenant": "acme",
        "ts": T0,
        "notify": ["team:billing-leads", "mail:ops@example.com"],
        "queue": "general",
        "state": "assigned",
        "agent": "A-1",
        "priority": 2,
        "supervisor": "sla-tracker",
        "reason": "first response breached",
        "target": "first_response",
        "kind": "breached",
        "policy": "p2-vip",
        "event_id": "T-1001:first_response:sla.breached",
    }
    assert notes == [note]
    assert pipeline.stats.notifications == 1
    # ... and no decision was made for the command
    assert pipeline.stats.by_kind == {"assigned": 1}


def test_notify_of_an_unknown_ticket_says_unknown_and_a_waiting_one_has_no_agent() -> None:
    pipeline, log = make()
    send(log, created("T-2"))  # no agents: it waits
    send(log, example("command.notify", id="T-2", kind=DROP), example("command.notify", id="T-9"))
    pipeline.run_once()
    by_id = {n["id"]: n for n in notifications(log)}
    assert (by_id["T-2"]["state"], by_id["T-2"]["queue"], by_id["T-2"]["agent"]) == (
        "waiting",
        "general",
        None,
    )
    assert "kind" not in by_id["T-2"]
    assert (by_id["T-9"]["state"], by_id["T-9"]["queue"], by_id["T-9"]["agent"]) == (
        "unknown",
        "",
        None,
    )
    assert "priority" not in by_id["T-9"]


def test_notifications_are_counted_by_kind_in_the_metrics() -> None:
    m = DispatcherMetrics()
    pipeline, log = make()
    pipeline.observer = m
    send(
        log,
        example("command.notify", id="T-1", kind="warning"),
        example("command.notify", id="T-2", kind="breached"),
        example("command.notify", id="T-3", kind=DROP),
    )
    pipeline.run_once()
    got = {
        k: m.registry.get_sample_value("dispatch_notifications_total", {"kind": k})
        for k in ("warning", "breached", "none")
    }
    assert got == {"warning": 1, "breached": 1, "none": 1}


def test_a_failed_flush_commits_nothing_and_the_retry_sends_the_notification_again() -> None:
    # Given a broker that fails the first flush
    log = FailingLog()
    pipeline, _ = make(log)
    send(log, example("command.notify", id="T-1"))
    log.fail = True
    # When the batch is processed
    with pytest.raises(RuntimeError):
        pipeline.run_once()
    # Then nothing is committed: the command is redelivered ...
    assert log.lag("dispatchers", INPUTS) == 1
    # ... and the retry publishes it again (at least once) and commits
    pipeline.run_once()
    assert log.lag("dispatchers", INPUTS) == 0
    assert [n["id"] for n in notifications(log)] == ["T-1", "T-1"]


def test_replied_and_waiting_events_change_nothing_in_the_dispatcher() -> None:
    # Given an agent holding a ticket
    pipeline, log = make()
    send(log, login("A-1"))
    pipeline.run_once()
    send(log, created("T-1"))
    pipeline.run_once()
    before = pipeline.service.store.ticket("acme", "T-1")
    # When the ticket is replied to and set waiting on the customer
    send(
        log,
        example("ticket.replied", id="T-1", by="customer", agent=DROP),
        example("ticket.replied", id="T-1", by="agent", agent="A-1"),
        example("ticket.waiting", id="T-1", waiting=True),
        example("ticket.waiting", id="T-1", waiting=False),
    )
    assert pipeline.run_once() == 4
    # Then no decision, no dead letter, no notification, and the ticket is unchanged
    assert pipeline.stats.by_kind == {"assigned": 1}
    assert pipeline.stats.dead_letters == 0
    assert notifications(log) == []
    assert pipeline.service.store.ticket("acme", "T-1") == before


def test_an_invalid_notify_is_dead_lettered_not_executed() -> None:
    pipeline, log = make()
    send(log, example("command.notify", id="T-1", notify=[]))
    pipeline.run_once()
    assert pipeline.stats.dead_letters == 1
    assert notifications(log) == []
    (dead,) = log.records("dispatch.deadletter")
    assert dict(dead.headers)["reason"] == b"invalid"


def test_every_decision_goes_to_the_decision_log_too_when_it_is_set() -> None:
    log = MemoryLog()
    store = MemoryAgentStore()
    pipeline = Pipeline(
        log.consumer(INPUTS, "dispatchers"),
        log,
        DispatchService(store, parse_policy(POLICY)),
        SimClock(T0),
        PipelineTopics(decision_log="dispatch.decisions.log"),
        poll_timeout_ms=0,
    )
    send(log, login("A-1"))
    pipeline.run_once()
    send(log, created("T-1"), created("T-2"), created("T-3"))
    pipeline.run_once()
    decisions = log.records("dispatch.assignments")
    logged = log.records("dispatch.decisions.log")
    assert len(decisions) >= 3
    assert [(r.key, r.value) for r in logged] == [(r.key, r.value) for r in decisions]
    # without it (the default), nothing is written there
    plain, plain_log = make()
    send(plain_log, login("A-1"), created("T-1"))
    plain.run_once()
    plain.run_once()
    assert plain_log.records("dispatch.assignments")
    assert "dispatch.decisions.log" not in plain_log._topics
