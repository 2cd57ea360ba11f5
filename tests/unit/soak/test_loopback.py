"""A soak only runs against loopback services; refusals never echo credentials."""

from __future__ import annotations

import pytest

from engine.soak.loopback import is_loopback_host, kafka_hosts, redis_hosts, refusals

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.10.20.30", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("10.0.0.5", False),
        ("0.0.0.0", False),
        ("kafka.internal", False),
        ("localhost.evil.com", False),
        ("", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("bootstrap", "hosts"),
    [
        ("127.0.0.1:9092", ["127.0.0.1"]),
        ("127.0.0.1:9092, localhost:9093", ["127.0.0.1", "localhost"]),
        ("[::1]:9092", ["::1"]),
    ],
)
def test_kafka_hosts(bootstrap: str, hosts: list[str]) -> None:
    assert kafka_hosts(bootstrap) == hosts


@pytest.mark.parametrize(
    ("url", "hosts"),
    [
        ("redis://127.0.0.1:6379/0", ["127.0.0.1"]),
        ("redis://user:p%40ss@localhost:6379/0", ["localhost"]),
        ("rediss://user:pa/ss@cache.example:6380/0", ["cache.example"]),
        ("redis://[::1]:6379", ["::1"]),
        ("redis+cluster://u:p@127.0.0.1:7000,127.0.0.1:7001", ["127.0.0.1", "127.0.0.1"]),
        ("redis+sentinel://s1:26379,127.0.0.1:26380/mymaster/0", ["s1", "127.0.0.1"]),
        ("unix:///run/redis.sock", []),
    ],
)
def test_redis_hosts(url: str, hosts: list[str]) -> None:
    assert redis_hosts(url) == hosts


def test_loopback_targets_are_accepted() -> None:
    assert refusals("127.0.0.1:9092", "redis://localhost:6379/0") == []
    assert refusals(None, None) == []


def test_a_remote_target_is_refused_naming_the_variable_but_not_the_password() -> None:
    # Given a remote Kafka and a remote Redis with a password
    out = refusals("kafka-1.prod:9092,127.0.0.1:9092", "redis://admin:s3cret@10.1.2.3:6379/0")
    # Then one line each, naming the variable and the host, never the password
    assert len(out) == 2
    assert "DISPATCH_KAFKA_BOOTSTRAP" in out[0] and "kafka-1.prod" in out[0]
    assert "DISPATCH_REDIS_URL" in out[1] and "10.1.2.3" in out[1]
    assert not any("s3cret" in line or "admin" in line for line in out)
