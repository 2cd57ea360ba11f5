"""`dispatch demo --real`: the simulated call center through Kafka, Redis and dispatchers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import REPO, dispatcher_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_real_demo_routes_tickets_through_the_real_stack(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    # Given a real Kafka and Redis named by the settings
    env = dispatcher_env(
        {
            "DISPATCH_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "DISPATCH_REDIS_URL": redis_url,
            "DISPATCH_STATE_DIR": str(tmp_path),
        }
    )
    # When the demo runs against them with two dispatcher processes
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "demo",
            "--real",
            "--dispatchers",
            "2",
            "--duration",
            "12",
            "--rate",
            "15",
            "--agents",
            "30",
            "--json",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=200,
        check=False,
    )
    # Then it prints a summary of a call center that worked
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    summary = json.loads(done.stdout)
    assert summary["tickets"] > 100
    assert summary["assigned"] > 0.8 * summary["tickets"]
    assert summary["assigned"] + summary["waiting"] <= summary["tickets"]
    assert summary["decisions"]["assigned"] > 0
    assert "sla_events" in summary  # the tracker process may still be joining in 12 s
    # And the dispatchers it started left their logs behind, stopped cleanly
    logs = list(tmp_path.glob("demo-*-dispatcher-*.log"))
    assert len(logs) == 2
    assert all("dispatcher stopped" in p.read_text() for p in logs)
