"""``dispatch run archiver`` on real Kafka, Redis and PostgreSQL or SQLite (``archive_url``):
a stream with known timings gives exactly the expected rows; an archiver SIGKILLed mid-stream
and restarted leaves no gap and no duplicate; a replay from offset 0 changes nothing;
malformed records go to the dead-letter topic with their reason; a real dispatcher's
decisions all reach the archive (from dispatch.decisions.log)."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, func, select

from engine import codec
from engine.adapters.kafka import KafkaEventLog, read_topic
from engine.adapters.redis import RedisAgentStore, client_from_url
from engine.archive import db, ingest
from engine.archive.schema import ARCHIVE_TABLES, DECISIONS, TICKETS
from engine.config import Settings
from producers.sdk import EventProducer
from tests.integration.test_archive_writer import snapshot
from tests.processes import RoleProcess, role_env
from tests.services import isolated_env
from tests.unit.archive import scenario

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(420)]

Start = Callable[..., RoleProcess]
DECISION_TOPICS = ("dispatch.assignments", "dispatch.decisions.log")


@pytest.fixture
def env(
    kafka_bootstrap: str, redis_url: str, unique_name: Callable[[str], str], archive_url: str
) -> dict[str, str]:
    prefix = unique_name("arch")
    return isolated_env(
        kafka_bootstrap,
        redis_url,
        prefix,
        partitions=2,
        DISPATCH_ARCHIVE_URL=archive_url,
        DISPATCH_ARCHIVER_GROUP=f"{prefix}-archiver",
        DISPATCH_GROUP=f"{prefix}-dispatchers",
        DISPATCH_BATCH_MAX="50",
    )


def settings_of(env: dict[str, str]) -> Settings:
    return Settings.from_env(env, dev_env=None)


def publish(settings: Settings, stream: list[tuple[str, dict[str, Any]]]) -> int:
    """Send the stream as the engine would (decisions on both decision topics); returns the
    number of records sent."""
    log = KafkaEventLog(settings.kafka)
    sent = 0
    try:
        for topic, event in stream:
            key, value = codec.key_of(event), codec.encode(event)
            for t in DECISION_TOPICS if topic == "dispatch.assignments" else (topic,):
                log.send(settings.topic(t), key, value)
                sent += 1
        log.flush()
    finally:
        log.close()
    return sent


def scrape(port: int) -> dict[str, float]:
    """Sample name -> value summed over labels."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name] = out.get(s.name, 0.0) + s.value
    return out


def wait_until(
    check: Callable[[], bool],
    what: str,
    timeout_s: float = 120,
    logs: Sequence[RoleProcess] = (),
) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.role} {p.log_path}:\n{p.log_tail(60)}" for p in logs)
            pytest.fail(f"timed out waiting for {what}\n{tails}")
        time.sleep(0.2)


def processed(proc: RoleProcess) -> float:
    return scrape(proc.port).get("dispatch_archiver_records_total", 0.0)


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in ARCHIVE_TABLES
        }


def reference(stream: list[tuple[str, dict[str, Any]]]) -> dict[str, list[tuple[Any, ...]]]:
    """The archive the stream must give: written in-process, in one batch, to SQLite."""
    engine = db.make_engine("sqlite://")
    db.upgrade(engine)
    facts = []
    for topic, event in stream:
        mapped = ingest.map_event(codec.decode(codec.encode(event)), ingest.Source(topic, 0, 0))
        if mapped.fact is not None:
            facts.append(mapped.fact)
    with engine.begin() as conn:
        ingest.write_batch(conn, facts)
    snap = snapshot(engine)
    engine.dispose()
    return snap


@pytest.fixture
def archive(archive_url: str) -> Any:
    engine = db.make_engine(archive_url)
    yield engine
    engine.dispose()


def test_a_known_stream_gives_exactly_the_expected_rows_and_a_replay_changes_nothing(
    env: dict[str, str], archive: Engine, engine_process: Start, unique_name: Callable[[str], str]
) -> None:
    settings = settings_of(env)
    log = KafkaEventLog(settings.kafka)
    log.send(settings.topic("tickets.lifecycle"), b"acme/T1", b"\xc1garbage")
    log.flush()
    log.close()
    sent = 1 + publish(settings, scenario.stream())
    archiver = engine_process("archiver", role_env(env))
    wait_until(lambda: processed(archiver) >= sent, "the archiver to read every record")
    assert counts(archive) == scenario.EXPECTED_COUNTS
    with archive.connect() as conn:
        rows = {r.ticket_id: r._mapping for r in conn.execute(select(TICKETS))}
    for tid, want in scenario.expected_tickets().items():
        assert {k: rows[tid][k] for k in want} == want
    assert snapshot(archive) == reference(scenario.stream())
    metrics = scrape(archiver.port)
    assert metrics["dispatch_archiver_dead_letters_total"] == 1
    # the malformed record is on the dead-letter topic with its reason
    dead = read_topic(settings.kafka, settings.topic("dispatch.deadletter"))
    headers = [dict(r.headers) for r in dead]
    assert {
        "reason": b"msgpack",
        "consumer.group": env["DISPATCH_ARCHIVER_GROUP"].encode(),
    }.items() <= headers[0].items()
    wait_until(
        lambda: scrape(archiver.port).get("dispatch_archiver_lag_records", 1) == 0,
        "the lag to reach 0",
        30,
    )
    assert scrape(archiver.port)["dispatch_archiver_oldest_unarchived_age_seconds"] == 0
    assert archiver.stop() == 0
    # a replay from offset 0: a new group reads everything again and writes nothing
    before = snapshot(archive)
    replay = engine_process(
        "archiver", role_env(env, DISPATCH_ARCHIVER_GROUP=unique_name("replay"))
    )
    wait_until(lambda: processed(replay) >= sent, "the replay to read every record")
    assert snapshot(archive) == before
    assert scrape(replay.port).get("dispatch_archiver_rows_total", 0) == 0


def bulk_stream(tickets: int, tenant: str = "bulk") -> list[tuple[str, dict[str, Any]]]:
    """Every ticket: created, offered, accepted, assigned, first response, resolved,
    released, rated; an agent changes status every 25 tickets."""
    t0 = scenario.T0
    out: list[tuple[str, dict[str, Any]]] = []

    def ev(typ: str, ident: str, at: int, **fields: Any) -> dict[str, Any]:
        return {"v": 1, "type": typ, "id": ident, "tenant": tenant, "ts": t0 + at, **fields}

    for i in range(tickets):
        tid, agent, at = f"T{i}", f"A{i % 7}", i * 1000
        dec = scenario.decision
        out += [
            ("tickets.events", ev("ticket.created", tid, at, channel="chat", priority=1 + i % 5)),
            ("dispatch.assignments", dec("offered", tid, tenant, at + 10, 1, agent)),
            ("tickets.lifecycle", ev("ticket.accepted", tid, at + 20, agent=agent)),
            ("dispatch.assignments", dec("assigned", tid, tenant, at + 30, 2, agent)),
            ("tickets.lifecycle", ev("ticket.first_response", tid, at + 40, agent=agent)),
            ("tickets.lifecycle", ev("ticket.resolved", tid, at + 500, agent=agent)),
            ("dispatch.assignments", dec("released", tid, tenant, at + 510, 3, agent,
                                         reason="resolved")),
            ("tickets.lifecycle", ev("ticket.rated", tid, at + 900, rating=1 + i % 5)),
        ]  # fmt: skip
        if i % 25 == 0:
            status = ("available", "busy", "away")[i // 25 % 3]
            out.append(("agents.events", ev("agent.status", agent, at + 5, status=status)))
    return out


def test_an_archiver_killed_mid_stream_and_restarted_leaves_no_gap_and_no_duplicate(
    env: dict[str, str], archive: Engine, engine_process: Start
) -> None:
    stream = bulk_stream(400)
    settings = settings_of(env)
    sent = publish(settings, stream)
    run_env = role_env(env, DISPATCH_BATCH_MAX="20")
    first = engine_process("archiver", run_env)
    wait_until(lambda: counts(archive)["tickets"] >= 40, "the first rows", 60)
    assert first.kill() == -9
    partial = counts(archive)["tickets"]
    assert partial < 400, "the archiver finished before it was killed: make the stream longer"
    second = engine_process("archiver", run_env)
    wait_until(lambda: counts(archive)["tickets"] == 400, "every ticket", 300)
    wait_until(
        lambda: scrape(second.port).get("dispatch_archiver_lag_records", 1) == 0,
        "the lag to reach 0",
        60,
    )
    # no gap, no duplicate: exactly the archive of the stream, counters included
    assert snapshot(archive) == reference(stream)
    with archive.connect() as conn:
        assert conn.execute(select(func.max(TICKETS.c.offer_count))).scalar_one() == 1
    # the restarted archiver redelivered what the killed one had not committed
    assert processed(second) <= sent


def test_every_decision_of_a_real_dispatcher_reaches_the_archive(
    env: dict[str, str], archive: Engine, engine_process: Start, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\nqueues:\n  - {name: general, match: {}, strategy: least_loaded}\n"
    )
    run_env = role_env(env, DISPATCH_POLICY=str(policy))
    dispatcher = engine_process("dispatcher", run_env)
    archiver = engine_process("archiver", run_env)
    roles = (dispatcher, archiver)
    settings = settings_of(env)
    log = KafkaEventLog(settings.kafka)
    producer = EventProducer(log, tenant="live", topic_of=settings.topic)
    producer.login("a0", capacity={"chat": 2})
    producer.login("a1", capacity={"chat": 2})
    producer.flush()
    store = RedisAgentStore(client_from_url(settings.redis_url), prefix=settings.redis_prefix)
    # agents before tickets (another topic, read in no fixed order)
    wait_until(lambda: len(store.agents("live")) == 2, "the agents to log in", 120, roles)
    for n in range(8):
        producer.ticket(f"t{n}", channel="chat", priority=3)
    producer.flush()

    def logged_events() -> list[dict[str, Any]]:
        records = read_topic(settings.kafka, settings.topic("dispatch.decisions.log"))
        return [e for e in (codec.decode(r.value) for r in records) if not e.get("duplicate")]

    def logged() -> set[tuple[str, int, str]]:
        return {(e["id"], e["seq"], e["type"].removeprefix("decision.")) for e in logged_events()}

    # one decision per ticket: 4 assigned (2 agents x 2 chats), 4 queued
    wait_until(lambda: len(logged()) >= 8, "the first decisions", 180, roles)
    assigned = sorted({e["id"] for e in logged_events() if e["type"] == "decision.assigned"})
    assert len(assigned) == 4
    for tid in assigned[:3]:  # each frees a chat: a waiting ticket is assigned
        producer.lifecycle("resolved", tid)
    producer.flush()
    log.close()
    wait_until(lambda: len(logged()) >= 8 + 3 + 3, "the dispatcher's next decisions", 180, roles)

    def archived() -> set[tuple[str, int, str]]:
        with archive.connect() as conn:
            rows = conn.execute(
                select(DECISIONS.c.ticket_id, DECISIONS.c.seq, DECISIONS.c.kind).where(
                    DECISIONS.c.tenant == "live"
                )
            ).all()
        return {(r[0], r[1], r[2]) for r in rows}

    wait_until(lambda: archived() >= logged(), "the archive to hold every decision", 60, roles)
    assert archived() == logged()
    with archive.connect() as conn:
        tickets = conn.execute(select(TICKETS).where(TICKETS.c.tenant == "live")).all()
    assert len(tickets) == 8
    assert all(t.created_ms is not None for t in tickets)
    assert sum(t.first_assigned_ms is not None for t in tickets) == 7  # 4, then 3 more
    assert sum(t.resolved_ms is not None for t in tickets) == 3
    assert {t.resolved_agent for t in tickets if t.resolved_ms} <= {"a0", "a1"}
    assert scrape(archiver.port).get("dispatch_archiver_dead_letters_total", 0) == 0


def test_two_replicas_share_the_stream_and_write_each_fact_once(
    env: dict[str, str], archive: Engine, engine_process: Start
) -> None:
    stream = bulk_stream(200, tenant="pair")
    run_env = role_env(env, DISPATCH_BATCH_MAX="25")
    first = engine_process("archiver", run_env)
    second = engine_process("archiver", run_env)
    publish(settings_of(env), stream)
    wait_until(lambda: counts(archive)["tickets"] == 200, "every ticket", 300)

    def caught_up() -> bool:
        return all(
            scrape(p.port).get("dispatch_archiver_lag_records", 1) == 0 for p in (first, second)
        )

    wait_until(caught_up, "both replicas to catch up", 60)
    assert snapshot(archive) == reference(stream)
    # the group split the partitions: both replicas archived something
    assert processed(first) > 0 and processed(second) > 0
