"""The gateway with Kafka stopped answers 503 with Retry-After, says it is not ready, and
loses nothing it acknowledged: every ticket answered 202 before, during and after the
outage is on the topic once Kafka is back.

The broker is this module's own (``engine.devstack``), stopped and started again on its
data; Redis is the session's. The gateway is the composition root of ``dispatch run
gateway`` (``consumers.gateway.build``) served on a loopback port in this process.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from consumers import gateway as root
from engine import codec
from engine.adapters.kafka import create_topics, default_topic_specs, read_topic
from engine.adapters.redis import client_from_url
from engine.adapters.redis.tokens import RedisTokenStore
from engine.config import Settings
from engine.devstack import DevStack
from engine.errors import DevstackError
from engine.gateway.server import BackgroundServer
from engine.gateway.tokens import grant
from producers.http import GatewayClient, GatewayError
from tests.services import delete_prefix, kafka_cache_root, unavailable

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

TENANT = "acme"
WAIT_S = 90.0


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    stack = DevStack(
        tmp_path_factory.mktemp("gw-outage"),
        kafka=True,
        redis=False,
        cache_root=kafka_cache_root(),
        quick_start=True,
    )
    try:
        stack.start()
    except DevstackError as exc:
        unavailable(f"no local Kafka for the outage test: {exc}")
    yield stack
    stack.stop()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=5) as resp:
            return bool(json.loads(resp.read())["status"] == "ready")
    except urllib.error.HTTPError:
        return False


def _wait(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {WAIT_S:.0f} s"
        time.sleep(0.25)


def test_503_while_kafka_is_down_and_nothing_acknowledged_is_lost(
    own_broker: DevStack, redis_url: str, tmp_path: Path
) -> None:
    bootstrap = own_broker.endpoints.kafka_bootstrap
    assert bootstrap is not None
    prefix = f"gwo-{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env(
        {
            "DISPATCH_KAFKA_BOOTSTRAP": bootstrap,
            "DISPATCH_REDIS_URL": redis_url,
            "DISPATCH_TOPIC_PREFIX": prefix + ".",
            "DISPATCH_REDIS_PREFIX": prefix,
            "DISPATCH_GATEWAY_PUBLISH_TIMEOUT_MS": "2000",
        },
        dev_env=None,
    )
    create_topics(settings, default_topic_specs(settings, partitions=2))
    parts = root.build(settings, probe=root.KafkaProbe(settings, every_s=1.0))
    parts.probe.start()
    server = BackgroundServer(parts.app).start()
    redis = client_from_url(redis_url)
    acked: list[str] = []
    refused: list[GatewayError] = []
    try:
        token, _ = grant(
            RedisTokenStore(redis, prefix), TENANT, "producer", int(time.time() * 1000)
        )
        crm = GatewayClient(server.url, token, timeout_s=30)

        def create(ticket_id: str) -> bool:
            try:
                crm.create_ticket(ticket_id, channel="chat", priority=3)
            except GatewayError as exc:
                refused.append(exc)
                return False
            acked.append(ticket_id)
            return True

        # Given a gateway that is ready and took tickets
        _wait("ready", lambda: _ready(server.url))
        assert all(create(f"before-{i}") for i in range(10))

        # When Kafka stops
        assert own_broker.stop("kafka") == ["kafka"]
        # Then writes are answered 503 with Retry-After, and the gateway is not ready
        during = [create(f"during-{i}") for i in range(3)]
        assert refused, f"writes were acknowledged while Kafka was down: {during}"
        assert all(e.status == 503 and e.retry_after == 5 for e in refused), refused
        assert all(e.retryable for e in refused)
        _wait("not ready", lambda: not _ready(server.url))

        # When Kafka is back, the client's retries of the refused writes get through
        own_broker.start("kafka")
        _wait("ready again", lambda: _ready(server.url))
        for i, ok in enumerate(during):
            if not ok:
                _wait(f"during-{i} accepted", lambda i=i: create(f"during-{i}"))
        assert all(create(f"after-{i}") for i in range(10))
    finally:
        server.stop()
        parts.close()

    # Then every acknowledged ticket is on the topic
    records = read_topic(settings.kafka, settings.topic("tickets.events"))
    on_topic = [codec.decode(r.value)["id"] for r in records]
    missing = sorted(set(acked) - set(on_topic))
    assert missing == [], f"acknowledged but lost: {missing}"
    assert len(set(acked)) == 10 + 3 + 10
    delete_prefix(redis, prefix)
    redis.close()
