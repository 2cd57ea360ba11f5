"""Kafka adapters (kafka-python); the only package that imports ``kafka``.

- :class:`KafkaEventLog` — the ``EventLog`` port (idempotent producer).
- :class:`KafkaGroupConsumer` — the ``Consumer`` port (cooperative-sticky group member,
  explicit commits only).
- :class:`KafkaTail` — every partition of some topics from a point in time, without a
  group (the gateway's event streams: every replica reads everything).
- ``admin`` — topic specs, idempotent creation, description.
- ``errors`` — kafka-python errors translated into ``engine.errors`` (``LogUnavailable``,
  ``LogError``, ``CommitFailed``).
"""

import warnings

with warnings.catch_warnings():
    # kafka-python 3.0.12 reads its protocol schemas at import time with
    # importlib.resources.read_text, deprecated since Python 3.11: harmless, but fatal
    # under ``-W error`` (pytest's filterwarnings = error). Confined to this one import.
    warnings.filterwarnings("ignore", r"(read|open)_text is deprecated", DeprecationWarning)
    import kafka  # noqa: F401

from engine.adapters.kafka.admin import (
    TopicInfo,
    TopicSpec,
    broker_count,
    create_topics,
    default_topic_specs,
    delete_topics,
    describe,
    group_has_offsets,
    list_topics,
    replication_factor_for,
)
from engine.adapters.kafka.compat import close_sockets_of_failed_connects
from engine.adapters.kafka.consumer import KafkaGroupConsumer
from engine.adapters.kafka.producer import KafkaEventLog
from engine.adapters.kafka.reader import read_topic
from engine.adapters.kafka.tail import KafkaTail

close_sockets_of_failed_connects()  # kafka-python 3.0.12 leaks them (see compat)

__all__ = [
    "KafkaEventLog",
    "KafkaGroupConsumer",
    "KafkaTail",
    "TopicInfo",
    "TopicSpec",
    "broker_count",
    "create_topics",
    "default_topic_specs",
    "delete_topics",
    "describe",
    "group_has_offsets",
    "list_topics",
    "read_topic",
    "replication_factor_for",
]
