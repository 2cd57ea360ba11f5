"""The engine's topic specs: replication factor chosen from the cluster size."""

from __future__ import annotations

import pytest

from engine.adapters.kafka import default_topic_specs, replication_factor_for
from engine.config import Settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("brokers", "factor"), [(0, 1), (1, 1), (2, 2), (3, 3), (7, 3)])
def test_default_replication_factor_is_min_of_3_and_brokers(brokers: int, factor: int) -> None:
    assert replication_factor_for(brokers) == factor


def test_every_topic_gets_the_replication_factor() -> None:
    specs = default_topic_specs(Settings(), partitions=2, replication_factor=3)
    assert len(specs) == 9 and {s.replication_factor for s in specs} == {3}
    assert {s.replication_factor for s in default_topic_specs(Settings())} == {-1}  # broker's
    with pytest.raises(ValueError, match="replication_factor"):
        default_topic_specs(Settings(), replication_factor=0)


def test_the_decision_log_keeps_every_decision_for_the_configured_days() -> None:
    settings = Settings.from_env({"DISPATCH_DECISION_LOG_RETENTION_DAYS": "3"}, dev_env=None)
    (spec,) = [s for s in default_topic_specs(settings) if s.name == "dispatch.decisions.log"]
    assert not spec.compacted
    assert spec.topic_configs() == {"retention.ms": str(3 * 24 * 3600 * 1000)}
    (assignments,) = [s for s in default_topic_specs(settings) if s.name == "dispatch.assignments"]
    assert spec.partitions == assignments.partitions
