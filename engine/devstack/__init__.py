"""Local development services: Apache Kafka (KRaft) and Redis as plain processes.

No Docker and no client libraries: Kafka jars come from Maven Central, readiness is probed
with raw sockets. See ``stack`` for the CLI/fixture entry points.
"""

from engine.devstack.kafka import KafkaBroker
from engine.devstack.maven import KAFKA_VERSION, default_cache_root, ensure_kafka_libs
from engine.devstack.redis import RedisServer
from engine.devstack.stack import DevStack, Endpoints, ServiceStatus, down, status, up
from engine.errors import DevstackError

__all__ = [
    "KAFKA_VERSION",
    "DevStack",
    "DevstackError",
    "Endpoints",
    "KafkaBroker",
    "RedisServer",
    "ServiceStatus",
    "default_cache_root",
    "down",
    "ensure_kafka_libs",
    "status",
    "up",
]
