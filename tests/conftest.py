"""Shared pytest configuration: service fixtures (Kafka, Redis) live in tests/services.py,
engine processes (``dispatch run <role>``) in tests/processes.py, a real Prometheus
server in tests/prometheus_server.py."""

pytest_plugins = ["tests.services", "tests.processes", "tests.prometheus_server"]
