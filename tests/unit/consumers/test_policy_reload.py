"""Hot policy reload: a changed file that validates replaces the running policy between
batches; a bad one is refused (logged with its paths, counted) and the old one keeps serving;
/readyz and the metrics name the active revision."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from consumers.policy_reload import policy_reloader
from engine.core.policy import Policy
from engine.endpoints import Health, PolicyMetrics
from engine.policy_file import APPLIED, REFUSED, PolicyWatcher, load_policy, revision_of

pytestmark = pytest.mark.unit

GOOD = """version: 1
queues:
  - {name: general, match: {}, strategy: round_robin}
"""
OTHER = GOOD.replace("round_robin", "least_loaded")
BAD = GOOD.replace("round_robin", "fastest")


def test_the_watcher_applies_a_valid_change_and_refuses_a_bad_one(tmp_path: Path) -> None:
    # Given a policy file and a watcher of it
    path = tmp_path / "policy.yaml"
    path.write_text(GOOD)
    policy = load_policy(path)
    watcher = PolicyWatcher(path, policy)
    assert policy.revision == revision_of(GOOD)
    # When nothing changes / Then nothing is reported
    assert watcher.check() is None
    # When the file changes to a valid policy / Then it is applied
    path.write_text(OTHER)
    applied = watcher.check()
    assert applied is not None and applied.result == APPLIED
    assert applied.policy.queues[0].strategy == "least_loaded"
    assert applied.policy.revision == revision_of(OTHER)
    # When it changes to an invalid one / Then it is refused with the path, the last good stays
    path.write_text(BAD)
    refused = watcher.check()
    assert refused is not None and refused.result == REFUSED
    assert any(e.startswith("queues[0].strategy") for e in refused.errors)
    assert watcher.current.revision == revision_of(OTHER)
    # and the same bad file is not reported again; a deleted file is refused once
    assert watcher.check() is None
    path.unlink()
    gone = watcher.check()
    assert gone is not None and gone.result == REFUSED
    assert watcher.check() is None


def test_the_reloader_switches_the_policy_and_reports_it(tmp_path: Path) -> None:
    # Given a running process's reloader
    path = tmp_path / "policy.yaml"
    path.write_text(GOOD)
    active: list[Policy] = [load_policy(path)]
    registry, health = CollectorRegistry(), Health()
    check = policy_reloader(
        PolicyWatcher(path, active[0]), active.append, PolicyMetrics(registry), health
    )
    assert health.info["policy"] == revision_of(GOOD)
    # When a good then a bad version are written, checking after each
    path.write_text(OTHER)
    check()
    path.write_text(BAD)
    check()
    # Then the good one was applied and reported, the bad one only counted
    assert [p.revision for p in active] == [revision_of(GOOD), revision_of(OTHER)]
    assert health.info["policy"] == revision_of(OTHER)

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("dispatch_policy_reloads_total", result="applied") == 1
    assert sample("dispatch_policy_reloads_total", result="refused") == 1
    assert sample("dispatch_policy_info", revision=revision_of(OTHER)) == 1
    assert sample("dispatch_policy_info", revision=revision_of(GOOD)) is None
