"""The HTTP gateway on real Kafka and Redis, with real engine processes.

``dispatch run gateway``, ``dispatch run dispatcher`` and ``dispatch run sla-tracker`` run as
child processes (tests/processes.py) on the session's Kafka and Redis, under a prefix of
this module; tokens come from ``dispatch tokens create`` and the token store. Then:

* a ticket posted over HTTP is offered by the running dispatcher, the agent accepts over
  HTTP, a supervisor reassigns, and ``GET /v1/tickets/{id}`` shows each step with who did
  it (the latest decision's agent, step, supervisor -- and the reason, pending: the
  decisions do not carry a command's reason yet), plus its SLA clocks;
* a replayed create is answered the same and writes nothing new;
* refused requests (oversized, wrongly typed, not JSON, an unknown tenant) write nothing.

The gateway with Kafka stopped is in test_gateway_outage.py (a broker of its own).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from engine import codec
from engine.adapters.kafka import read_topic
from engine.adapters.redis import client_from_url
from engine.adapters.redis.tokens import RedisTokenStore
from engine.config import Settings
from engine.gateway.tokens import grant
from producers.http import GatewayClient, GatewayError
from tests.processes import REPO, RoleProcess, role_env, start_role
from tests.services import delete_prefix, isolated_env

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

TENANT = "acme"
POLICY = """
version: 1
queues:
  - {name: chat, match: {channel: chat}, strategy: least_loaded, offer: {timeout_s: 600},
     sla: standard}
  - {name: general, match: {}, strategy: least_loaded, sla: standard}
sla:
  standard: {first_response_s: 600, resolution_s: 7200, warn_at: 0.8}
"""
WAIT_S = 60.0
INPUT_TOPICS = ("tickets.events", "agents.events", "tickets.lifecycle", "dispatch.commands")


@dataclass
class Running:
    env: dict[str, str]
    settings: Settings
    url: str
    processes: list[RoleProcess] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, who: str) -> GatewayClient:
        return GatewayClient(self.url, self.tokens[who])

    def records(self) -> list[Any]:
        return [
            r for t in INPUT_TOPICS for r in read_topic(self.settings.kafka, self.settings.topic(t))
        ]


def wait_until(what: str, probe: Callable[[], Any]) -> Any:
    """``probe()`` until it returns something truthy (GatewayError counts as not yet)."""
    deadline = time.monotonic() + WAIT_S
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except GatewayError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {WAIT_S:.0f} s (last: {last!r})")


def cli_token(env: dict[str, str], *args: str) -> str:
    """A token from ``dispatch tokens create`` (stdout is the token alone)."""
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli", "tokens", "create", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "shown once" in proc.stderr
    return proc.stdout.strip()


@pytest.fixture(scope="module")
def running(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    prefix = f"gw-{uuid.uuid4().hex[:8]}"
    tmp = tmp_path_factory.mktemp("gateway")
    policy = tmp / "policy.yaml"
    policy.write_text(POLICY)
    settings_env = isolated_env(
        kafka_bootstrap,
        redis_url,
        prefix,
        partitions=2,
        DISPATCH_POLICY=str(policy),
        DISPATCH_GROUP=f"{prefix}-dispatchers",
        DISPATCH_SLA_GROUP=f"{prefix}-sla",
        DISPATCH_STATE_DIR=str(tmp),
    )
    env = role_env(settings_env)
    settings = Settings.from_env(settings_env, dev_env=None)
    started: list[RoleProcess] = []
    try:
        for role in ("dispatcher", "sla-tracker", "gateway"):
            started.append(start_role(role, env, tmp / "logs"))
        gateway = started[-1]
        run = Running(env, settings, f"http://127.0.0.1:{gateway.port}", started)
        run.tokens["supervisor"] = cli_token(
            env, "--tenant", TENANT, "--role", "supervisor", "--name", "sue"
        )
        store = RedisTokenStore(client_from_url(redis_url), prefix)
        now = int(time.time() * 1000)
        for who, role, agent in (
            ("crm", "producer", None),
            ("a1", "agent", "a1"),
            ("a2", "agent", "a2"),
            ("other", "supervisor", None),
        ):
            tenant = "globex" if who == "other" else TENANT
            run.tokens[who], _ = grant(store, tenant, role, now, agent=agent, name=who)
        run.tokens["admin"], _ = grant(store, "*", "admin", now, name="root")
        yield run
    finally:
        codes = {p.role: p.stop() for p in reversed(started)}
        client = client_from_url(redis_url)
        delete_prefix(client, prefix)
        client.close()
    assert codes.get("gateway", 0) == 0, "the gateway did not exit 0 on SIGTERM"


@dataclass
class Flow:
    created: dict[str, Any]
    offered: dict[str, Any]
    accepted: dict[str, Any]
    reassigned: dict[str, Any]
    work_a1: dict[str, Any]
    work_a2: dict[str, Any]
    queues: list[dict[str, Any]]
    agents: list[dict[str, Any]]


@pytest.fixture(scope="module")
def flow(running: Running) -> Flow:
    """Create -> offered -> accepted -> reassigned, over HTTP, with a snapshot of
    ``GET /v1/tickets/{id}`` after each step."""
    crm, a1, a2, sue = (running.client(w) for w in ("crm", "a1", "a2", "supervisor"))
    a1.login("a1", capacity={"chat": 2})
    wait_until("a1 logged in", lambda: any(a["id"] == "a1" for a in sue.agents()))
    created = crm.create_ticket("T-100", channel="chat", priority=2, customer_id="c-1")
    offered = wait_until(
        "T-100 offered", lambda: (t := crm.ticket("T-100"))["state"] == "offered" and t
    )
    work_a1 = a1.work("a1")
    a1.accept("a1", "T-100")
    accepted = wait_until(
        "T-100 accepted", lambda: (t := crm.ticket("T-100"))["state"] == "assigned" and t
    )
    a2.login("a2", capacity={"chat": 2})
    wait_until("a2 logged in", lambda: any(a["id"] == "a2" for a in sue.agents()))
    sue.reassign("T-100", "a2", reason="a1 ends the shift")
    reassigned = wait_until(
        "T-100 reassigned", lambda: (t := crm.ticket("T-100"))["agent"] == "a2" and t
    )
    return Flow(
        created,
        offered,
        accepted,
        reassigned,
        work_a1,
        a2.work("a2"),
        sue.queues(),
        sue.agents(),
    )


def test_each_step_shows_who_did_it(flow: Flow) -> None:
    assert flow.created == {"id": "T-100", "type": "ticket.created", "status": "accepted"}
    # offered by the dispatcher's routing: queue, strategy, candidates
    d = flow.offered["latest_decision"]
    assert (d["type"], d["agent"], d["queue"], d["strategy"], d["supervisor"]) == (
        "decision.offered",
        "a1",
        "chat",
        "least_loaded",
        None,
    )
    assert d["candidates"] == 1 and d["seq"] == 1
    assert [o["id"] for o in flow.work_a1["offers"]] == ["T-100"]
    # accepted by the agent
    d = flow.accepted["latest_decision"]
    assert (d["type"], d["agent"], d["step"], d["seq"]) == (
        "decision.assigned",
        "a1",
        "accepted",
        2,
    )
    # reassigned by the supervisor, whose identity comes from the token
    d = flow.reassigned["latest_decision"]
    assert (d["type"], d["agent"], d["supervisor"], d["seq"]) == (
        "decision.reassigned",
        "a2",
        "supervisor:sue",
        3,
    )
    assert (flow.reassigned["state"], flow.reassigned["agent"]) == ("assigned", "a2")
    assert [t["id"] for t in flow.work_a2["open"]] == ["T-100"]


def test_the_reassign_decision_records_the_supervisors_reason(flow: Flow) -> None:
    d = flow.reassigned["latest_decision"]
    assert (d["supervisor"], d["why"]) == ("supervisor:sue", "a1 ends the shift")


def test_get_ticket_shows_the_sla_clocks_of_the_running_tracker(running: Running) -> None:
    crm = running.client("crm")
    crm.create_ticket("T-200", channel="email", priority=3)
    ticket = wait_until("T-200 has SLA clocks", lambda: (t := crm.ticket("T-200"))["sla"] and t)
    assert ticket["sla"]["policy"] == "standard"
    clocks = {c["target"]: c for c in ticket["sla"]["clocks"]}
    assert clocks["first_response"]["state"] == "running"
    fr = clocks["first_response"]
    assert fr["deadline_ms"] == fr["started_ms"] + 600_000
    crm.ticket_event("T-200", "first_response")
    wait_until(
        "first response met",
        lambda: any(
            c["target"] == "first_response" and c["state"] == "met"
            for c in crm.ticket("T-200")["sla"]["clocks"]
        ),
    )


def test_queues_and_agents_read_from_redis(flow: Flow) -> None:
    agents = {a["id"]: a for a in flow.agents}
    assert agents["a2"]["load"]["chat"] == 1 and agents["a1"]["load"]["chat"] == 0
    assert {q["name"] for q in flow.queues} == {"chat", "general"}


def test_a_replayed_create_is_answered_the_same_and_writes_nothing(running: Running) -> None:
    crm = running.client("crm")
    body = {"channel": "email", "priority": 4, "attributes": {"src": "replay"}}
    first = crm.create_ticket("T-300", **body)
    wait_until("T-300 routed", lambda: crm.ticket("T-300"))
    before = len(running.records())
    assert crm.create_ticket("T-300", **body) == first
    after = running.records()
    assert len(after) == before
    created = [codec.decode(r.value) for r in after if r.topic.endswith("tickets.events")]
    assert [e["id"] for e in created].count("T-300") == 1


def test_refused_requests_write_nothing(running: Running) -> None:
    before = len(running.records())
    crm, other = running.client("crm"), running.client("other")
    url, token = running.url, running.tokens["crm"]
    for body, status in (
        (b"{not json", 400),
        (json.dumps({"id": "T-9", "channel": "chat", "priority": "high"}).encode(), 422),
        (
            json.dumps(
                {"id": "T-9", "channel": "chat", "priority": 1, "x": "y" * 300_000}
            ).encode(),
            413,
        ),
    ):
        with pytest.raises(GatewayError) as caught:
            _raw_post(url, token, "/v1/tickets", body)
        assert caught.value.status == status
    with pytest.raises(GatewayError) as caught:
        GatewayClient(url, running.tokens["admin"], tenant="nobody").create_ticket(
            "T-9", channel="chat", priority=1
        )
    assert (caught.value.status, caught.value.field) == (404, "tenant")
    # another tenant's token names acme's ids: not found, nothing changes
    for call in (
        lambda: other.ticket("T-100"),
        lambda: other.reassign("T-100", "a1", reason="mine now"),
        lambda: other.work("a1"),
    ):
        with pytest.raises(GatewayError) as caught:
            call()
        assert caught.value.status == 404
    with pytest.raises(GatewayError) as caught:
        crm.ticket_event("nope", "resolved")
    assert caught.value.status == 404
    assert len(running.records()) == before


def _raw_post(url: str, token: str, path: str, body: bytes) -> Any:
    """POST raw bytes (not JSON, or too large); a refusal raises GatewayError."""
    req = urllib.request.Request(url + path, data=body, method="POST")
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise GatewayError(exc.code, json.loads(exc.read())) from None


def test_the_gateway_is_ready_and_serves_its_document(running: Running) -> None:
    with urllib.request.urlopen(running.url + "/readyz", timeout=10) as resp:
        assert json.loads(resp.read()) == {"status": "ready"}
    with urllib.request.urlopen(running.url + "/openapi.json", timeout=10) as resp:
        served = json.loads(resp.read())
    assert served == json.loads((Path(REPO) / "docs" / "openapi.json").read_text())
