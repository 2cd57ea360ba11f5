"""kafka-python client options and construction shared by the producer, consumer and admin."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from kafka.net.compat import KafkaNetClient

from engine.adapters.kafka.errors import translated
from engine.config import KafkaSettings

__all__ = ["RECONNECT_OPTIONS", "build", "client_options"]

REQUEST_TIMEOUT_MS = 30_000
BOOTSTRAP_TIMEOUT_MS = 10_000

# How soon a client tries a broker again after a connection to it failed. kafka-python
# doubles the pause per failure from reconnect_backoff_ms up to reconnect_backoff_max_ms
# (±20 % jitter); its default maximum, 30 s, let a member wait up to ~25 s more after a
# restarted broker was back (records resumed 13-14 s after a broker that was down 16 s came
# back; 27 s seen on a 3-broker cluster). A 1 s cap retries a down broker about once a
# second (one refused TCP connect each: cheap) and resumed within 0.9-1.4 s
# (tests/integration/test_kafka_reconnect.py). The connect time-out itself
# (socket_connection_setup_timeout_ms, 10 s doubling to 30 s, for a host that does not
# answer at all) is not a constructor option of kafka-python 3.0.12's clients.
RECONNECT_OPTIONS: Mapping[str, int] = MappingProxyType(
    {
        "reconnect_backoff_ms": 50,
        "reconnect_backoff_max_ms": 1_000,
    }
)


def client_options(settings: KafkaSettings, role: str) -> dict[str, Any]:
    """Connection and security options; ``role`` suffixes the client id (``-producer``).

    SASL PLAIN and SCRAM use ``sasl_plain_username``/``sasl_plain_password`` in kafka-python.
    OAUTHBEARER (a token provider object) and GSSAPI (Kerberos names) need client objects
    the environment cannot express: pass them as ``**overrides`` to the adapter.
    """
    options: dict[str, Any] = {
        "bootstrap_servers": list(settings.bootstrap_servers),
        "client_id": f"{settings.client_id}-{role}",
        "security_protocol": settings.security_protocol,
        "request_timeout_ms": REQUEST_TIMEOUT_MS,
        "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS,
        **RECONNECT_OPTIONS,
    }
    if settings.sasl_mechanism is not None:
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        value = getattr(settings, name)
        if value is not None:
            options[name] = value
    return options


def build(factory: Callable[..., Any], options: dict[str, Any], action: str) -> Any:
    """``factory(**options)`` with errors translated, releasing what a failed build started.

    kafka-python 3.0.12 starts its network client (the consumer: an IO thread too) before
    it bootstraps, and leaks both when bootstrap fails; a process that retries the
    connection would pile up threads. The client is built through a recording factory and
    closed here if the constructor raises.
    """
    made: list[Any] = []
    inner = options.get("kafka_client", KafkaNetClient)

    def recording_client(**kwargs: Any) -> Any:
        client = inner(**kwargs)
        made.append(client)
        return client

    try:
        with translated(action):
            return factory(**{**options, "kafka_client": recording_client})
    except BaseException:
        for client in made:
            client.close()
        raise
