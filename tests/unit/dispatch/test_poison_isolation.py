"""One bad record never stops a partition: a record whose processing fails for a reason of its
own (a script rejecting it, a value the store cannot pack, a routing error) is dead-lettered
with its bytes and a reason, and every other record of its batch is decided; only an outage
stops the loop, and a failure of every record in a row is treated as one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from engine import codec
from engine.adapters.memory import MemoryAgentStore, MemoryLog
from engine.adapters.memory.sla import MemorySlaStore
from engine.clock import SimClock
from engine.core.model import Decision, Request
from engine.core.policy import parse_policy
from engine.dispatch.pipeline import SYSTEMIC_FAILURES, Pipeline, PipelineTopics
from engine.dispatch.service import DispatchService
from engine.errors import StoreRejected, StoreUnavailable, SystemicFailure
from engine.sla.pipeline import SlaPipeline
from engine.sla.service import SlaTracker
from tests.unit.event_examples import example

pytestmark = pytest.mark.unit

T0 = 1_700_000_000_000
INPUTS = ("tickets.events", "agents.events", "tickets.lifecycle", "dispatch.commands")
POLICY = parse_policy(
    {"version": 1, "queues": [{"name": "general", "match": {}, "strategy": "least_loaded"}]}
)


class Sabotaged(MemoryAgentStore):
    """A store that fails on chosen ticket ids, the way a real one can."""

    def __init__(self, poison: Mapping[str, BaseException]) -> None:
        super().__init__()
        self.poison = dict(poison)

    def assign(
        self, items: Sequence[tuple[Request, Mapping[str, Any]]], now_ms: int
    ) -> list[Decision]:
        for req, _ in items:
            if req.ticket_id in self.poison:
                raise self.poison[req.ticket_id]
        return super().assign(items, now_ms)


def rig(store: MemoryAgentStore) -> tuple[Pipeline, MemoryLog]:
    log = MemoryLog()
    consumer = log.consumer(INPUTS, "dispatchers")
    pipeline = Pipeline(
        consumer,
        log,
        DispatchService(store, POLICY),
        SimClock(T0),
        PipelineTopics(),
        poll_timeout_ms=0,
    )
    return pipeline, log


def send_tickets(log: MemoryLog, ids: Sequence[str]) -> dict[str, bytes]:
    sent = {}
    for tid in ids:
        value = codec.encode(example("ticket.created", id=tid, tenant="acme"))
        log.send("tickets.events", tid.encode(), value)
        sent[tid] = value
    return sent


def decided(log: MemoryLog) -> set[str]:
    return {codec.decode(r.value)["id"] for r in log.records("dispatch.assignments")}


def dead(log: MemoryLog) -> dict[str, tuple[bytes, dict[str, bytes]]]:
    return {
        codec.decode(r.value)["id"]: (r.value, dict(r.headers))
        for r in log.records("dispatch.deadletter")
    }


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (StoreRejected("user_script:12: too many results to unpack"), "store_rejected"),
        (OverflowError("int too big to convert"), "unprocessable"),
        (TypeError("can not serialize 'float' object"), "unprocessable"),
    ],
)
def test_a_record_that_fails_alone_is_dead_lettered_and_the_rest_decided(
    failure: BaseException, reason: str
) -> None:
    # Given a batch of 9 tickets where the store fails on one of them
    pipeline, log = rig(Sabotaged({"T-5": failure}))
    ids = [f"T-{i}" for i in range(1, 10)]
    sent = send_tickets(log, ids)
    # When the dispatcher processes the batch
    pipeline.run_once()
    # Then the bad one is in the dead-letter topic with its exact bytes and the reason,
    assert set(dead(log)) == {"T-5"}
    value, headers = dead(log)["T-5"]
    assert value == sent["T-5"]
    assert headers["reason"] == reason.encode()
    assert type(failure).__name__.encode() in headers["detail"]
    # and every other ticket has its decision; the offsets are committed past all of them
    assert decided(log) == set(ids) - {"T-5"}
    assert pipeline.run_once() == 0


def test_an_outage_keeps_the_batch_and_dead_letters_nothing() -> None:
    # Given a store that is unreachable for one ticket's call
    pipeline, log = rig(Sabotaged({"T-2": StoreUnavailable("redis: connection refused")}))
    send_tickets(log, ["T-1", "T-2", "T-3"])
    # When the dispatcher processes the batch / Then the outage propagates
    with pytest.raises(StoreUnavailable):
        pipeline.run_once()
    # and nothing was dead-lettered or committed: once the store answers, all are decided
    assert dead(log) == {}
    pipeline.service.store.poison.clear()  # type: ignore[attr-defined]
    assert pipeline.run_once() == 3
    assert decided(log) == {"T-1", "T-2", "T-3"}


def test_every_record_failing_in_a_row_is_an_outage_not_poison() -> None:
    # Given a store that rejects every ticket (a broken script, not bad input)
    ids = [f"T-{i}" for i in range(SYSTEMIC_FAILURES + 5)]
    pipeline, log = rig(Sabotaged({tid: StoreRejected("broken") for tid in ids}))
    send_tickets(log, ids)
    # When the dispatcher processes them / Then it stops and reports a systemic failure
    with pytest.raises(SystemicFailure):
        pipeline.run_once()
    # and it has not drained the topic into the dead-letter topic
    assert dead(log) == {}


def test_a_dead_letter_larger_than_its_topic_takes_is_truncated_with_its_size_and_hash() -> None:
    # Given a record larger than the dead-letter topic accepts (undecodable garbage)
    from engine.dispatch import pipeline as mod

    pipeline, log = rig(MemoryAgentStore())
    big = b"\xc1" * (mod.DEAD_LETTER_MAX_BYTES + 10)
    log.send("tickets.events", b"k", big)
    # When it is dead-lettered
    pipeline.run_once()
    # Then the copy fits and says how large the original was and its SHA-256
    (rec,) = log.records("dispatch.deadletter")
    headers = dict(rec.headers)
    assert len(rec.value) == mod.DEAD_LETTER_MAX_BYTES
    assert headers["truncated.size"] == str(len(big)).encode()
    assert len(headers["truncated.sha256"]) == 64


class PoisonedTracker(SlaTracker):
    """An SLA tracker whose fact extraction fails on one ticket."""

    def facts(self, ev: Mapping[str, Any]) -> Any:
        if ev["id"] == "T-bad":
            raise OverflowError("int too big")
        return super().facts(ev)


def test_the_sla_tracker_skips_a_record_it_cannot_process_and_keeps_the_rest() -> None:
    # Given an SLA tracker and a batch with one ticket it cannot process
    log = MemoryLog()
    tracker = PoisonedTracker(MemorySlaStore(), POLICY)
    consumer = log.consumer(["tickets.events", "dispatch.assignments", "tickets.lifecycle"], "s")
    pipe = SlaPipeline(consumer, log, tracker, SimClock(T0), poll_timeout_ms=0)
    send_tickets(log, ["T-1", "T-bad", "T-3"])
    # When it processes the batch
    processed = pipe.run_once()
    # Then it stays up, commits past all three, and stored the facts of the good ones
    assert processed == 3
    assert pipe.run_once() == 0
    stored = tracker.store.load([("acme", "T-1"), ("acme", "T-bad"), ("acme", "T-3")])
    assert {k[1] for k, fields in stored.items() if fields} == {"T-1", "T-3"}
