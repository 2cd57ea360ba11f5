"""The gateway benchmark's pure parts: percentiles, the HTTP client's parsing, and its
RESULTS.md section (no services)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import gateway
from benchmarks.bench_report import KEEP_MARKER

pytestmark = pytest.mark.unit


def test_percentiles_are_nearest_rank_in_ms() -> None:
    p = gateway.percentiles([i / 1000 for i in range(1, 101)])
    assert p == {"p50": 50.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
    assert gateway.percentiles([]) == {"p50": None, "p95": None, "p99": None, "max": None}


def test_requests_are_tickets_the_codec_accepts() -> None:
    from engine import codec

    raw = gateway.http_request(8080, "dsp_x", b'{"a":1}')
    assert raw.startswith(b"POST /v1/tickets HTTP/1.1\r\n") and raw.endswith(b'\r\n\r\n{"a":1}')
    assert b"Content-Length: 7\r\n" in raw and b"Authorization: Bearer dsp_x\r\n" in raw
    ev = {
        "v": 1,
        "type": "ticket.created",
        "tenant": "bench",
        "ts": 1,
        **gateway.ticket_fields(3, "r"),
    }
    assert 200 < len(codec.encode_valid(ev)) < 300


def test_response_heads_are_parsed() -> None:
    head = b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 57\r\n\r\n"
    assert gateway.parse_head(head) == (202, 57)
    assert gateway.parse_head(b"HTTP/1.1 503 Service Unavailable\r\n\r\n") == (503, 0)


def result() -> dict[str, Any]:
    lat = {"p50": 10.0, "p95": 20.0, "p99": 30.0, "max": 40.0}
    row = {"requests": 10, "completed": 10, "statuses": {"202": 10}, "achieved": 10.0}
    return {
        "started": "2026-12-02T00:00:00+00:00",
        "args": "--rates 100",
        "machine": {"nproc": 2, "cpu": "x", "ram_gib": 1, "kernel": "k"},
        "versions": {"python": "3", "kafka-python": "3", "kafka_broker": "4", "redis_server": "7"},
        "uvicorn": "0",
        "revision": {"commit": "abcdef0123456"},
        "load_before": [0.1],
        "load_after": [0.2],
        "ready_s": 1.0,
        "server_hwm_kb": 1024,
        "raw_produce": {"records": 5, "bytes": 250, "rate": 1000.0, "acked_one_at_a_time": lat},
        "intake": [{**row, "offered": 100.0, "latency": lat, "service": lat}],
        "saturation": {**row, "clients": 32, "latency": lat, "service": lat},
        "streams": [
            {"offered": 200.0, "decisions": 5, "received": 5, "delivery": lat, "raw_fetch": lat}
        ],
    }


def test_the_section_is_added_once_and_then_replaced(tmp_path: Path) -> None:
    page = tmp_path / "RESULTS.md"
    page.write_text(f"# Throughput\n\nbody\n\n{KEEP_MARKER}\n\n<!-- begin other -->\nx\n")
    r = result()
    gateway.write_section(r, page)
    first = page.read_text()
    assert first.count(gateway.BEGIN) == 1 and "<!-- begin other -->" in first
    assert "| 100 | 10 | 10 | 10 | 10.0 | 20.0 | 30.0 | 40.0 | 10.0 / 30.0 | n/a |" in first
    assert "gateway saturation / raw produce rate = 0.010" in first
    r["intake"][0]["achieved"] = 99.0
    gateway.write_section(r, page)
    second = page.read_text()
    assert second.count(gateway.BEGIN) == 1 and "| 100 | 10 | 99 |" in second
    assert second.startswith("# Throughput\n\nbody\n")
    assert json.loads(json.dumps(r)) == r
