"""Local development services: Apache Kafka (KRaft) and Redis as plain processes.

No Docker and no client libraries: Kafka jars come from Maven Central, readiness is probed
with raw sockets. One node each, or a Kafka cluster and a Redis Cluster on loopback ports.
See ``stack`` for the CLI/fixture entry points.
"""

from engine.devstack.kafka import KafkaBroker, KafkaCluster
from engine.devstack.maven import KAFKA_VERSION, default_cache_root, ensure_kafka_libs
from engine.devstack.redis import RedisNodes, RedisServer
from engine.devstack.stack import (
    DevStack,
    Endpoints,
    ServiceStatus,
    down,
    kill,
    restart,
    status,
    up,
)
from engine.errors import DevstackError

__all__ = [
    "KAFKA_VERSION",
    "DevStack",
    "DevstackError",
    "Endpoints",
    "KafkaBroker",
    "KafkaCluster",
    "RedisNodes",
    "RedisServer",
    "ServiceStatus",
    "default_cache_root",
    "down",
    "ensure_kafka_libs",
    "kill",
    "restart",
    "status",
    "up",
]
