"""Shared pytest configuration: service fixtures (Kafka, Redis) live in tests/services.py."""

pytest_plugins = ["tests.services"]
