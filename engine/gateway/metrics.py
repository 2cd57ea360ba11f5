"""The gateway's Prometheus collectors: requests by route template, method and status
class, and their latency (seconds; bounded labels: route templates, never ids)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "dispatch_gateway_requests",
            "HTTP requests by route template, method and status class (2xx, 4xx, 5xx)",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "dispatch_gateway_request_seconds",
            "HTTP request latency by route template (for writes: until the log acknowledged)",
            ["route"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, f"{status // 100}xx").inc()
        self.latency.labels(route).observe(seconds)
