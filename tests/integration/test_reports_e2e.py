"""Reports end to end: real Kafka, Redis and PostgreSQL, with ``dispatch run dispatcher``,
``sla-tracker``, ``archiver`` and ``gateway`` as child processes. A ticket is offered,
rejected with a reason, offered to another agent, accepted, reassigned by a supervisor,
answered, resolved and rated over HTTP; then its history (``GET
/v1/tickets/{id}/history``), the agents report (``GET /v1/reports/agents``) and ``dispatch
report trail`` show every step with who, why and when, and another tenant sees none of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.adapters.redis import client_from_url
from engine.adapters.redis.tokens import RedisTokenStore
from engine.archive.db import make_engine, upgrade
from engine.gateway.tokens import grant
from producers.http import GatewayClient, GatewayError
from tests.processes import REPO, RoleProcess, role_env, start_role
from tests.services import delete_prefix, isolated_env

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

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
WAIT_S = 90.0
HOUR = 3_600_000


def wait_until(what: str, probe: Callable[[], Any]) -> Any:
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
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {WAIT_S:.0f} s (last: {last!r})")


def _get(client: GatewayClient, path: str, **params: Any) -> Any:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    return client.request("GET", path + query)


def test_a_tickets_history_and_the_agents_report_end_to_end(
    kafka_bootstrap: str, redis_url: str, postgres_url: str, tmp_path: Path
) -> None:
    engine = make_engine(postgres_url)
    upgrade(engine)
    engine.dispose()
    prefix = f"rep-{uuid.uuid4().hex[:8]}"
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = role_env(
        isolated_env(
            kafka_bootstrap,
            redis_url,
            prefix,
            partitions=2,
            DISPATCH_POLICY=str(policy),
            DISPATCH_GROUP=f"{prefix}-dispatchers",
            DISPATCH_SLA_GROUP=f"{prefix}-sla",
            DISPATCH_ARCHIVER_GROUP=f"{prefix}-archiver",
            DISPATCH_ARCHIVE_URL=postgres_url,
            DISPATCH_STATE_DIR=str(tmp_path),
        )
    )
    started: list[RoleProcess] = []
    try:
        for role in ("dispatcher", "sla-tracker", "archiver", "gateway"):
            started.append(start_role(role, env, tmp_path / "logs"))
        url = f"http://127.0.0.1:{started[-1].port}"
        store = RedisTokenStore(client_from_url(redis_url), prefix)
        now = int(time.time() * 1000)

        def client(tenant: str, role: str, agent: str | None = None, name: str = "") -> Any:
            token, _ = grant(store, tenant, role, now, agent=agent, name=name or role)
            return GatewayClient(url, token)

        crm, sue = client(TENANT, "producer", name="crm"), client(TENANT, "supervisor", name="sue")
        a1, a2 = client(TENANT, "agent", "a1", "a1"), client(TENANT, "agent", "a2", "a2")
        other = client("globex", "supervisor", name="other")

        # a1 alone: the ticket is offered to a1, who rejects it with a reason
        a1.login("a1", capacity={"chat": 2})
        wait_until("a1 logged in", lambda: any(a["id"] == "a1" for a in sue.agents()))
        crm.create_ticket("T-1", channel="chat", priority=2)
        wait_until("offered to a1", lambda: crm.ticket("T-1")["agent"] == "a1")
        a1.reject("a1", "T-1", reason="on a call")
        wait_until("back in the queue", lambda: crm.ticket("T-1")["state"] == "waiting")
        # a2 comes in, gets the offer and accepts; sue gives the ticket back to a1
        a2.login("a2", capacity={"chat": 2})
        wait_until("offered to a2", lambda: crm.ticket("T-1")["agent"] == "a2")
        a2.accept("a2", "T-1")
        wait_until("accepted", lambda: crm.ticket("T-1")["state"] == "assigned")
        sue.reassign("T-1", "a1", reason="a2 ends the shift")
        wait_until("reassigned to a1", lambda: crm.ticket("T-1")["agent"] == "a1")
        crm.ticket_event("T-1", "first_response", agent="a1")
        crm.ticket_event("T-1", "resolved", agent="a1")
        wait_until("released", lambda: crm.ticket("T-1")["state"] == "closed")
        crm.ticket_event("T-1", "rated", rating=4)  # after the release: the trail's order

        def archived() -> Any:
            rows = _get(sue, "/v1/tickets/T-1/history")["rows"]
            whats = {r["what"] for r in rows}
            last = {"ticket rated", "released", "SLA first_response met", "SLA resolution met"}
            return last <= whats and rows  # nothing more comes after these

        rows = wait_until("the archive has the whole story", archived)
        story = [
            (r["what"], r["agent"], r["by"], r["why"] or r["reason"])
            for r in rows
            if r["source"] != "sla" and r["what"] not in ("queued",)
        ]
        assert story == [
            ("ticket created", None, None, None),
            ("offered", "a1", None, None),
            ("ticket rejected", "a1", None, "on a call"),
            ("offer rejected", "a1", None, "on a call"),
            ("offered", "a2", None, None),
            ("ticket accepted", "a2", None, None),
            ("offer accepted", "a2", None, None),
            ("supervisor reassign", "a1", "supervisor:sue", "a2 ends the shift"),
            ("transferred", "a1", "supervisor:sue", "a2 ends the shift"),
            ("ticket first response", "a1", None, None),
            ("ticket resolved", "a1", None, None),
            ("released", "a1", None, "resolved"),
            ("ticket rated", None, None, None),
        ], story
        transfer = next(r for r in rows if r["what"] == "transferred")
        assert transfer["from_agent"] == "a2"
        times = [r["ts_ms"] for r in rows]
        assert times == sorted(times)

        # the agents report over the hour around it
        report = _get(sue, "/v1/reports/agents", **{"from": now - HOUR, "to": now + HOUR})
        agents = {r["agent"]: r for r in report["rows"]}
        assert (agents["a1"]["offered"], agents["a1"]["rejected"]) == (1, 1)
        assert (agents["a1"]["transferred_in"], agents["a1"]["handled"]) == (1, 1)
        assert agents["a1"]["csat_mean"] == 4.0 and agents["a1"]["fcr_rate"] == 0.0
        assert (agents["a2"]["offered"], agents["a2"]["accepted"]) == (1, 1)
        assert (agents["a2"]["transferred_out"], agents["a2"]["handled"]) == (1, 0)
        # an agent sees its own row; another tenant sees nothing
        own = _get(a2, "/v1/reports/agents", **{"from": now - HOUR, "to": now + HOUR})
        assert [r["agent"] for r in own["rows"]] == ["a2"]
        with pytest.raises(GatewayError) as refused:
            _get(other, "/v1/tickets/T-1/history")
        assert refused.value.status == 404

        # the command line reads the same trail from the same database
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "engine.cli",
                "report",
                "trail",
                "T-1",
                "--tenant",
                TENANT,
                "--format",
                "json",
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["rows"] == rows
    finally:
        codes = {p.role: p.stop() for p in reversed(started)}
        redis = client_from_url(redis_url)
        delete_prefix(redis, prefix)
        redis.close()
    assert codes.get("gateway", 0) == 0 and codes.get("archiver", 0) == 0
