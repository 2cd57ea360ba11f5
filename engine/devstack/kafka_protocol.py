"""Just enough of the Kafka wire protocol to tell whether a broker is ready.

Two requests, both with request header v1 (api_key, api_version, correlation_id, client_id)
and answered with response header v0 (correlation_id):
- ApiVersions v0 (key 18): empty body; reply ``error_code, [api_key, min, max]``. Every
  broker answers v0, also Kafka 4.x which dropped many old versions (KIP-896).
- Metadata v4 (key 3): ``topics=[]`` (no topics), ``allow_auto_topic_creation=false``; reply
  starts with ``throttle_time_ms, [node_id, host, port, rack]``. A KRaft broker lists only
  registered, unfenced brokers (itself once it is, which is when CreateTopics can succeed;
  a cluster's nodes once all of them are, which is when replication factor N can).

No client library is used: this runs before any Python Kafka client may be importable.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Collection
from dataclasses import dataclass

from engine.devstack.procs import recv_exact
from engine.errors import DevstackError

API_VERSIONS_KEY = 18
METADATA_KEY = 3
METADATA_VERSION = 4
CLIENT_ID = "dispatch-devstack"
PROBE_TIMEOUT_S = 2.0
MAX_RESPONSE_BYTES = 1 << 20


class ProtocolError(DevstackError):
    """The broker answered with something this module cannot accept."""


@dataclass(frozen=True)
class ApiRange:
    """Versions of one API that the broker supports."""

    api_key: int
    min_version: int
    max_version: int


@dataclass(frozen=True)
class Broker:
    """One broker listed in a Metadata response."""

    node_id: int
    host: str
    port: int


def _string(value: str) -> bytes:
    data = value.encode()
    return struct.pack(">h", len(data)) + data


def _frame(api_key: int, api_version: int, correlation_id: int, body: bytes) -> bytes:
    header = struct.pack(">hhi", api_key, api_version, correlation_id) + _string(CLIENT_ID)
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def encode_api_versions_request(correlation_id: int) -> bytes:
    """Size-prefixed ApiVersions v0 request."""
    return _frame(API_VERSIONS_KEY, 0, correlation_id, b"")


def encode_metadata_request(correlation_id: int) -> bytes:
    """Size-prefixed Metadata v4 request asking for no topics."""
    body = struct.pack(">i?", 0, False)
    return _frame(METADATA_KEY, METADATA_VERSION, correlation_id, body)


def _check_correlation(payload: bytes, correlation_id: int) -> int:
    if len(payload) < 4:
        raise ProtocolError("truncated response header")
    (got,) = struct.unpack_from(">i", payload, 0)
    if got != correlation_id:
        raise ProtocolError(f"correlation id {got} != {correlation_id}")
    return 4


def decode_api_versions_response(payload: bytes, correlation_id: int) -> list[ApiRange]:
    """Decode an ApiVersions v0 response (without the size prefix).

    Raises ProtocolError on a correlation mismatch, a non-zero error code or truncation.
    """
    try:
        offset = _check_correlation(payload, correlation_id)
        error_code, count = struct.unpack_from(">hi", payload, offset)
        offset += 6
        if error_code != 0:
            raise ProtocolError(f"ApiVersions error code {error_code}")
        ranges = []
        for _ in range(count):
            key, low, high = struct.unpack_from(">hhh", payload, offset)
            offset += 6
            ranges.append(ApiRange(key, low, high))
    except struct.error as exc:
        raise ProtocolError(f"truncated ApiVersions response: {exc}") from exc
    return ranges


def decode_metadata_brokers(payload: bytes, correlation_id: int) -> list[Broker]:
    """Decode the broker list of a Metadata v4 response (without the size prefix)."""
    try:
        offset = _check_correlation(payload, correlation_id) + 4  # throttle_time_ms
        (count,) = struct.unpack_from(">i", payload, offset)
        offset += 4
        brokers = []
        for _ in range(count):
            node_id, host_len = struct.unpack_from(">ih", payload, offset)
            offset += 6
            host = payload[offset : offset + host_len].decode()
            offset += host_len
            port, rack_len = struct.unpack_from(">ih", payload, offset)
            offset += 6 + max(rack_len, 0)
            brokers.append(Broker(node_id, host, port))
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"truncated Metadata response: {exc}") from exc
    return brokers


def _round_trip(sock: socket.socket, request: bytes) -> bytes:
    sock.sendall(request)
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    if not 0 < size <= MAX_RESPONSE_BYTES:
        raise ProtocolError(f"implausible response size {size}")
    return recv_exact(sock, size)


def api_versions(host: str, port: int, timeout_s: float = PROBE_TIMEOUT_S) -> list[ApiRange]:
    """Ask the broker at host:port for its API versions (raises OSError/ProtocolError)."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        payload = _round_trip(sock, encode_api_versions_request(1))
    return decode_api_versions_response(payload, 1)


def broker_ready(
    host: str,
    port: int,
    timeout_s: float = PROBE_TIMEOUT_S,
    node_ids: Collection[int] = (),
) -> bool:
    """True if the broker answers ApiVersions and lists brokers in Metadata: at least one,
    and every id of ``node_ids`` (a KRaft broker lists only registered, unfenced brokers).

    Never raises for connection or protocol problems: they mean "not ready yet".
    """
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            ranges = decode_api_versions_response(
                _round_trip(sock, encode_api_versions_request(1)), 1
            )
            meta = next((r for r in ranges if r.api_key == METADATA_KEY), None)
            if meta is None or not meta.min_version <= METADATA_VERSION <= meta.max_version:
                return True  # answers ApiVersions; cannot check registration with v4
            brokers = decode_metadata_brokers(_round_trip(sock, encode_metadata_request(2)), 2)
    except (OSError, ProtocolError):
        return False
    listed = {b.node_id for b in brokers}
    return len(listed) > 0 and set(node_ids) <= listed
