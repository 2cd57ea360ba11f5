"""Named loopback services are used as they are; their restarts are skipped (with the
reason) unless `dispatch dev up` recorded them; nothing is started for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.soak.options import OptionError
from engine.soak.services import open_services

pytestmark = pytest.mark.unit


def test_named_loopback_services_are_used_and_their_restarts_skipped(tmp_path: Path) -> None:
    # Given both services named by the environment, on loopback, with no dev stack recorded
    environ = {
        "DISPATCH_KAFKA_BOOTSTRAP": "127.0.0.1:19092",
        "DISPATCH_REDIS_URL": "redis://localhost:16379/0",
        "DISPATCH_STATE_DIR": str(tmp_path / "nothing-recorded"),
    }
    # When the soak opens its services
    services = open_services(environ, tmp_path / "work")
    # Then it starts nothing and uses them as named
    assert services.own is None and services.close() == []
    assert (services.kafka_bootstrap, services.redis_url) == (
        "127.0.0.1:19092",
        "redis://localhost:16379/0",
    )
    # And it cannot restart them, saying which variable and why
    why_kafka, why_redis = services.restartable("kafka"), services.restartable("redis")
    assert why_kafka is not None and "DISPATCH_KAFKA_BOOTSTRAP" in why_kafka
    assert why_redis is not None and "DISPATCH_REDIS_URL" in why_redis
    assert not (tmp_path / "work" / "stack").exists()


def test_a_remote_redis_is_refused(tmp_path: Path) -> None:
    environ = {
        "DISPATCH_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
        "DISPATCH_REDIS_URL": "redis://db:6379",
    }
    with pytest.raises(OptionError, match="DISPATCH_REDIS_URL"):
        open_services(environ, tmp_path)


@pytest.mark.parametrize(
    ("shape", "variable"),
    [
        ({"kafka_brokers": 3}, "DISPATCH_KAFKA_BOOTSTRAP"),
        ({"redis_cluster": 3}, "DISPATCH_REDIS_URL"),
    ],
)
def test_a_shape_for_a_named_service_is_refused(
    tmp_path: Path, shape: dict[str, int], variable: str
) -> None:
    # Given both services named / When a multi-node shape is asked of one / Then refused
    environ = {"DISPATCH_KAFKA_BOOTSTRAP": "127.0.0.1:9092", "DISPATCH_REDIS_URL": "redis://[::1]"}
    with pytest.raises(OptionError, match=f"unset {variable}"):
        open_services(environ, tmp_path, **shape)
