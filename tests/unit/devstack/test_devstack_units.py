"""Pure parts of engine.devstack: POM, properties, env file, wire encoding, pid guard."""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from engine.devstack import kafka_protocol as kp
from engine.devstack import maven
from engine.devstack.kafka import new_cluster_id, render_server_properties
from engine.devstack.procs import pid_matches, recv_exact, terminate
from engine.devstack.redis import PING_REQUEST, redis_argv
from engine.devstack.stack import STATE_FILE, Endpoints, down, render_env_file, status
from engine.errors import DevstackError
from tests.services import _docker_ping, sanitize_name

pytestmark = pytest.mark.unit

POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def test_pom_lists_broker_and_logging_backend() -> None:
    root = ET.fromstring(maven.render_pom("4.9.9"))
    assert root.findtext("m:packaging", namespaces=POM_NS) == "pom"
    deps = {
        (d.findtext("m:groupId", namespaces=POM_NS), d.findtext("m:artifactId", namespaces=POM_NS)):
        d.findtext("m:version", namespaces=POM_NS)
        for d in root.iterfind("m:dependencies/m:dependency", POM_NS)
    }  # fmt: skip
    assert deps[("org.apache.kafka", "kafka_2.13")] == "4.9.9"
    for artifact in ("log4j-api", "log4j-core", "log4j-slf4j2-impl"):
        assert deps[("org.apache.logging.log4j", artifact)] == maven.LOG4J_VERSION
    assert str(deps[("org.slf4j", "slf4j-api")]).startswith("2.")


def test_resolved_cache_is_reused_without_maven(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("engine.devstack.maven.shutil.which", lambda _name: None)  # no mvn
    base = tmp_path / f"kafka-{maven.KAFKA_VERSION}"
    base.mkdir()
    assert not maven.is_resolved(tmp_path)
    (base / maven.MARKER_NAME).write_text(json.dumps({"artifacts": ["stale:set:1"]}))
    assert not maven.is_resolved(tmp_path)  # a changed artifact set re-resolves
    with pytest.raises(DevstackError, match="mvn"):
        maven.ensure_kafka_libs(tmp_path)
    artifacts = [":".join(a) for a in maven.broker_artifacts()]
    (base / maven.MARKER_NAME).write_text(json.dumps({"artifacts": artifacts}))
    assert maven.ensure_kafka_libs(tmp_path) == base / "libs"


def test_server_properties_single_node_kraft(tmp_path: Path) -> None:
    text = render_server_properties(19092, 19093, tmp_path / "logs")
    props = dict(line.split("=", 1) for line in text.splitlines())
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert props["log.dirs"] == str(tmp_path / "logs")
    assert props["group.initial.rebalance.delay.ms"] == "0"
    for key, value in props.items():
        if key.endswith(("replication.factor", "min.isr")):
            assert value == "1", key


def test_cluster_id_is_22_url_safe_chars_never_starting_with_a_dash() -> None:
    for _ in range(2000):
        cid = new_cluster_id()
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{21}", cid), cid


def test_env_file_lists_only_started_services() -> None:
    both = Endpoints("127.0.0.1:9092", "redis://127.0.0.1:6379/0")
    assert render_env_file(both) == (
        "DISPATCH_KAFKA_BOOTSTRAP=127.0.0.1:9092\nDISPATCH_REDIS_URL=redis://127.0.0.1:6379/0\n"
    )
    assert (
        render_env_file(Endpoints(redis_url="redis://x:1/0"))
        == "DISPATCH_REDIS_URL=redis://x:1/0\n"
    )
    assert render_env_file(Endpoints()) == ""


def test_api_versions_request_bytes() -> None:
    client = kp.CLIENT_ID.encode()
    body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
    assert kp.encode_api_versions_request(7) == struct.pack(">i", len(body)) + body


def test_metadata_request_bytes() -> None:
    client = kp.CLIENT_ID.encode()
    body = struct.pack(">hhih", 3, 4, 9, len(client)) + client + struct.pack(">i?", 0, False)
    assert kp.encode_metadata_request(9) == struct.pack(">i", len(body)) + body


def _api_versions_payload(correlation_id: int, error: int = 0) -> bytes:
    entries = [(18, 0, 4), (3, 0, 13)]
    return struct.pack(">ihi", correlation_id, error, len(entries)) + b"".join(
        struct.pack(">hhh", *e) for e in entries
    )


def _metadata_payload(correlation_id: int, port: int) -> bytes:
    host = b"127.0.0.1"
    broker = struct.pack(">ih", 1, len(host)) + host + struct.pack(">ih", port, -1)
    return struct.pack(">iii", correlation_id, 0, 1) + broker + b"\x00" * 12


def test_api_versions_response_decoding() -> None:
    ranges = kp.decode_api_versions_response(_api_versions_payload(5), 5)
    assert kp.ApiRange(3, 0, 13) in ranges
    with pytest.raises(kp.ProtocolError, match="correlation"):
        kp.decode_api_versions_response(_api_versions_payload(5), 6)
    with pytest.raises(kp.ProtocolError, match="error code 35"):
        kp.decode_api_versions_response(_api_versions_payload(5, error=35), 5)
    with pytest.raises(kp.ProtocolError, match="truncated"):
        kp.decode_api_versions_response(_api_versions_payload(5)[:-2], 5)


def test_metadata_brokers_decoding() -> None:
    assert kp.decode_metadata_brokers(_metadata_payload(2, 9092), 2) == [
        kp.Broker(1, "127.0.0.1", 9092)
    ]


def test_broker_ready_against_fake_broker() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                for payload in (_api_versions_payload(1), _metadata_payload(2, port)):
                    (size,) = struct.unpack(">i", conn.recv(4))
                    recv_exact(conn, size)
                    conn.sendall(struct.pack(">i", len(payload)) + payload)

        thread = threading.Thread(target=serve)
        thread.start()
        assert kp.broker_ready("127.0.0.1", port)
        thread.join()
    assert not kp.broker_ready("127.0.0.1", port)  # closed port: not ready, no exception


def test_redis_argv_is_loopback_without_persistence(tmp_path: Path) -> None:
    argv = redis_argv("/usr/bin/redis-server", 6390, tmp_path)
    pairs = dict(zip(argv[1::2], argv[2::2], strict=True))
    assert pairs["--bind"] == "127.0.0.1" and pairs["--port"] == "6390"
    assert pairs["--save"] == "" and pairs["--appendonly"] == "no"
    assert pairs["--daemonize"] == "no" and pairs["--dir"] == str(tmp_path)
    assert PING_REQUEST == b"*1\r\n$4\r\nPING\r\n"


def test_pid_guard_never_signals_a_foreign_process(tmp_path: Path) -> None:
    me = os.getpid()
    assert pid_matches(me, ["python"])
    assert not pid_matches(me, ["redis-server"])
    assert not terminate(me, ["redis-server"])  # would have killed the test run otherwise
    state = {"redis": {"pid": me, "port": 1, "data_dir": str(tmp_path), "log_file": "x"}}
    (tmp_path / STATE_FILE).write_text(json.dumps(state))
    [svc] = status(tmp_path)
    assert not svc.running
    assert down(tmp_path) == []


def test_docker_ping_unreachable_is_false(tmp_path: Path) -> None:
    assert not _docker_ping(f"unix://{tmp_path}/missing.sock")
    assert not _docker_ping("ssh://somewhere")


def test_sanitize_name() -> None:
    assert sanitize_name("test_x[a b/c]") == "test_x-a-b-c"
    assert sanitize_name("[]") == "t"
