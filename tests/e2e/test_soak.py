"""`dispatch soak`: half a minute of load with a fault every 3 s on its own local stack ends
with every fault kind injected, decisions made and a clean audit (exit 0)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.exitcodes import RET_OK, RET_UNAVAILABLE
from engine.soak.options import FAULT_KINDS

pytestmark = [pytest.mark.e2e, pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(420)]

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 400
SOAK_ARGS = ["--minutes", "0.5", "--fault-every", "3", "--rate", "15", "--agents", "20"]
SOAK_ARGS += ["--seed", "11", "--json"]


def test_a_short_soak_injects_every_fault_kind_and_audits_clean(tmp_path: Path) -> None:
    # Given no DISPATCH_* service in the environment (the soak starts its own stack), only
    # the Kafka jar cache the other tests use
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCH_")}
    if os.environ.get("DISPATCH_KAFKA_CACHE"):
        env["DISPATCH_KAFKA_CACHE"] = os.environ["DISPATCH_KAFKA_CACHE"]
    env["DISPATCH_STATE_DIR"] = str(tmp_path / "no-dev-stack")
    env["TMPDIR"] = str(tmp_path)  # the run's work dir lands here, kept on failure
    # When half a minute of soak runs with a fault every 3 s
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "soak", *SOAK_ARGS],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    if done.returncode == RET_UNAVAILABLE and not os.environ.get("CI"):
        pytest.skip(f"no local Kafka/Redis for the soak: {done.stderr[-500:]}")
    tail = done.stderr[-4000:]
    assert done.returncode == RET_OK, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{tail}"
    summary = json.loads(done.stdout)
    # Then every fault kind was injected, tickets flowed, decisions were made
    assert all(summary["faults"][kind] >= 1 for kind in FAULT_KINDS), summary["fault_log"]
    assert summary["tickets_sent"] > 100
    assert summary["decisions"] > 0 and summary["decisions_by_kind"].get("assigned", 0) > 0
    assert summary["poison_sent"] == 0 or summary["dead_letters"] > 0
    # And the audit is clean on every guarantee, with no replica crashing unasked
    assert summary["audit"]["ok"] is True
    assert set(summary["violations"]) >= {"decided", "one_agent", "capacity", "drift"}
    assert not any(summary["violations"].values())
    assert summary["audit"]["inputs"]["tickets"] >= summary["tickets_sent"]
    # And each fault was said in a line a person reads, and the stack was stopped
    for kind in FAULT_KINDS:
        assert f": {kind} " in done.stderr
    assert summary["kept_dir"] is None
    assert not list(tmp_path.glob("dispatch-soak-*")), "a clean run leaves no work dir"
