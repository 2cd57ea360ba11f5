"""kafka-python client options: a returning broker is tried again within about a second."""

from __future__ import annotations

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from engine.adapters.kafka.consumer import CONSUMER_DEFAULTS
from engine.adapters.kafka.options import RECONNECT_OPTIONS, client_options
from engine.adapters.kafka.producer import PRODUCER_DEFAULTS
from engine.config import KafkaSettings

pytestmark = pytest.mark.unit


def test_every_client_retries_a_down_broker_at_least_once_a_second() -> None:
    options = client_options(KafkaSettings(), "consumer")
    assert options["reconnect_backoff_max_ms"] <= 1_000
    assert options["reconnect_backoff_ms"] <= options["reconnect_backoff_max_ms"]
    assert CONSUMER_DEFAULTS["metadata_max_age_ms"] <= 10_000  # moved leaders found soon


@pytest.mark.parametrize(
    ("client", "defaults"),
    [
        (KafkaConsumer, CONSUMER_DEFAULTS),
        (KafkaProducer, PRODUCER_DEFAULTS),
        (KafkaAdminClient, {}),
    ],
)
def test_every_option_is_one_the_client_knows(client: type, defaults: object) -> None:
    # kafka-python rejects unknown options only when a client is built (against a cluster)
    options = {**client_options(KafkaSettings(), "x"), **dict(defaults)}  # type: ignore[call-overload]
    assert not set(options) - set(client.DEFAULT_CONFIG)
    assert set(RECONNECT_OPTIONS) <= set(client.DEFAULT_CONFIG)
