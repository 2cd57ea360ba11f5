"""Two SLA tracker processes on real Kafka + Redis, one SIGKILLed and restarted mid-stream:
every expected SLA event is published, no unexpected one, duplicates (same event id) are
rare and byte-identical; every first-response breach sends its escalation commands."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from engine import codec
from engine.adapters.kafka import KafkaEventLog
from engine.config import Settings
from tests import sla_scenario
from tests.e2e.harness import DispatcherProc, dispatcher_env, read_topic
from tests.services import isolated_env

pytestmark = [pytest.mark.e2e, pytest.mark.chaos, pytest.mark.timeout(300)]

TICKETS = 240
SPACING_MS = 100  # tickets created over 24 s; the last outcome ~14 s later
TENANT = "sla-e2e"


def test_tracker_killed_mid_stream_publishes_exactly_the_expected_sla_events(
    kafka_bootstrap: str, redis_url: str, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    base = isolated_env(
        kafka_bootstrap,
        redis_url,
        unique_name("sla"),
        partitions=4,
        DISPATCH_SLA_GROUP=unique_name("trackers"),
        DISPATCH_HTTP_PORT="0",
    )
    settings = Settings.from_env(base, dev_env=None)
    policy = tmp_path / "policy.yaml"
    policy.write_text(sla_scenario.POLICY)
    env = dispatcher_env(base, DISPATCH_POLICY=str(policy))
    procs = [DispatcherProc(env, tmp_path / f"t{i}.log", role="sla-tracker") for i in range(2)]
    log = KafkaEventLog(settings.kafka)
    start = time.time_ns() // 1_000_000 + 8_000  # let the trackers join first
    stream = sla_scenario.build(TICKETS, start, SPACING_MS, TENANT)
    n_events = len(stream.events)

    def send(ev: dict) -> None:
        log.send(settings.topic(codec.topic_of(ev["type"])), ev["id"].encode(), codec.encode(ev))
        log.flush()

    def chaos(i: int) -> None:
        if i == n_events * 2 // 5:
            procs[0].kill()
        if i == n_events * 7 // 10:
            procs[0].start()

    try:
        for p in procs:
            p.start()
        sla_scenario.play(stream, send, lambda: time.time_ns() // 1_000_000, time.sleep, chaos)
        # Wait for every expected event (the last deadline + the 2 s grace + a loop or two).
        topic = settings.topic("sla.events")
        deadline = time.monotonic() + 90
        seen: dict[str, list[bytes]] = {}
        while time.monotonic() < deadline:
            seen = _by_id(read_topic(settings, topic, unique_name("check"), idle_s=1))
            if set(stream.expected) <= set(seen):
                break
            time.sleep(2)
        time.sleep(3)  # anything unexpected would show up now
        codes = [p.terminate() for p in procs]
    finally:
        for p in procs:
            p.cleanup()
        log.close()

    assert codes == [0, 0], "\n\n".join(p.log_tail() for p in procs)
    records = read_topic(settings, settings.topic("sla.events"), unique_name("final"), idle_s=1)
    seen = _by_id(records)
    missing = set(stream.expected) - set(seen)
    unexpected = set(seen) - set(stream.expected)
    assert not missing, f"{len(missing)} expected SLA events missing, e.g. {sorted(missing)[:5]}"
    assert not unexpected, f"unexpected SLA events: {sorted(unexpected)[:5]}"
    for eid, values in seen.items():
        assert len(set(values)) == 1, f"duplicates of {eid} differ"
        ev = codec.decode(values[0])
        assert (ev["type"], ev["target"], ev["ts"], ev["deadline_ms"]) == stream.expected[eid]
    duplicates = sum(len(v) - 1 for v in seen.values())
    assert duplicates <= len(stream.expected) // 10, f"{duplicates} duplicates is not rare"
    # Escalations: a raise_priority and a notify command per first-response breach.
    breaches = {
        eid
        for eid, (typ, target, _ts, _dl) in stream.expected.items()
        if typ == "sla.breached" and target == "first_response"
    }
    commands = [
        codec.decode(r.value)
        for r in read_topic(settings, settings.topic("dispatch.commands"), unique_name("cmd"))
    ]
    by_kind = Counter((c["type"], c["event_id"]) for c in commands)
    for eid in breaches:
        assert by_kind[("command.raise_priority", eid)] >= 1, eid
        assert by_kind[("command.notify", eid)] >= 1, eid
    assert {c["event_id"] for c in commands} == breaches


def _by_id(records: list) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for r in records:
        out.setdefault(codec.decode(r.value)["event_id"], []).append(r.value)
    return out
