"""`dispatch demo` serves the gateway's API on its in-memory adapters: a newcomer's agent
logs in over HTTP while the simulated call center runs, gets an offer and accepts it."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from engine.cli import main
from engine.demo.api import DESK_AGENT, start_api
from engine.demo.backend import EmbeddedBackend
from engine.demo.runner import DemoOptions, run_demo
from engine.exitcodes import RET_OK
from engine.policy_file import load_policy
from producers.http import GatewayClient, GatewayError

pytestmark = pytest.mark.unit


def test_the_demo_prints_its_api_url_and_tokens(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--duration", "1", "--rate", "5", "--agents", "5", "--json"])
    out, err = capsys.readouterr()
    assert code == RET_OK
    assert "HTTP API on http://127.0.0.1:" in err
    assert "supervisor token: dsp_" in err and f"agent token ({DESK_AGENT}" in err
    assert out.strip().startswith("{")  # stdout stays one JSON object


def test_the_demo_api_off(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["demo", "--duration", "1", "--rate", "5", "--agents", "5", "--json", "--http-port", "0"]
    )
    _, err = capsys.readouterr()
    assert code == RET_OK and "HTTP API" not in err


@pytest.mark.slow
def test_an_agent_works_over_http_while_the_demo_runs() -> None:
    policy = load_policy(None)
    backend = EmbeddedBackend(policy)
    api = start_api(backend, policy)
    summary: dict[str, Any] = {}
    opts = DemoOptions(duration_s=10, rate=5, agents=3, seed=3)
    runner = threading.Thread(
        target=lambda: summary.update(run_demo(opts, backend=backend)), daemon=True
    )
    runner.start()
    try:
        desk = GatewayClient(api.url, api.agent_token)
        crm = GatewayClient(api.url, api.producer_token)
        # Given the newcomer's agent logged in over HTTP (the simulation does not drive it)
        login = {
            "skills": {"general": 5, "billing": 5, "tech": 5, "sales": 5},
            "regions": ["eu-west", "eu-central", "us-east"],
        }
        desk.login(DESK_AGENT, capacity={"chat": 3, "phone": 3, "email": 3}, **login)
        crm.create_ticket("mine-1", channel="email", priority=1)
        # When the demo's dispatcher gives it work, it accepts what is offered
        deadline = time.monotonic() + 9
        work: dict[str, Any] = {"open": []}
        while not work["open"]:
            assert time.monotonic() < deadline, f"no work for {DESK_AGENT}: {work}"
            time.sleep(0.1)
            try:
                work = desk.work(DESK_AGENT)
            except GatewayError as exc:  # 404 until the login is applied
                assert exc.status == 404
        for offer in work["offers"]:
            desk.accept(DESK_AGENT, offer["id"])
        # Then the tickets are its own, and the API saw the ticket the CRM created
        assert all(desk.ticket(t["id"])["agent"] == DESK_AGENT for t in work["open"])
        assert crm.ticket("mine-1")["state"] in ("waiting", "offered", "assigned")
    finally:
        runner.join(20)
        api.stop()
    assert summary["tickets"] > 0
