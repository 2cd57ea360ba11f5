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

from engine.devstack import DevStack, KafkaBroker, KafkaCluster, RedisNodes, RedisServer, maven
from engine.devstack import kafka_protocol as kp
from engine.devstack.kafka import check_layout as kafka_check_layout
from engine.devstack.kafka import new_cluster_id, render_server_properties, replication
from engine.devstack.procs import pid_matches, recv_exact, terminate
from engine.devstack.redis import PING_REQUEST, redis_argv
from engine.devstack.redis import check_layout as redis_check_layout
from engine.devstack.redis import command as redis_command
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


def test_server_properties_of_a_three_node_cluster(tmp_path: Path) -> None:
    quorum = ["127.0.0.1:19093", "127.0.0.1:19095", "127.0.0.1:19097"]
    text = render_server_properties(
        19094, 19095, tmp_path / "logs", node_id=2, quorum=quorum, brokers=3
    )
    props = dict(line.split("=", 1) for line in text.splitlines())
    assert props["node.id"] == "2"
    assert props["controller.quorum.bootstrap.servers"] == ",".join(quorum)
    assert "controller.quorum.voters" not in props  # a dynamic quorum (--initial-controllers)
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19094,CONTROLLER://127.0.0.1:19095"
    for key, value in props.items():
        if key.endswith("replication.factor"):
            assert value == "3", key
        if key.endswith(("min.isr", "min.insync.replicas")):
            assert value == "2", key


@pytest.mark.parametrize(
    ("brokers", "expected"), [(1, (1, 1)), (2, (2, 1)), (3, (3, 2)), (5, (3, 2))]
)
def test_replication_factor_and_min_isr_by_cluster_size(
    brokers: int, expected: tuple[int, int]
) -> None:
    assert replication(brokers) == expected


def test_redis_argv_of_a_persistent_cluster_node(tmp_path: Path) -> None:
    argv = redis_argv("/usr/bin/redis-server", 6390, tmp_path, persist=True, cluster_port=16390)
    pairs = dict(zip(argv[1::2], argv[2::2], strict=True))
    assert pairs["--appendonly"] == "yes" and pairs["--appendfsync"] == "everysec"
    assert pairs["--cluster-enabled"] == "yes" and pairs["--cluster-port"] == "16390"
    assert pairs["--cluster-config-file"] == "nodes.conf"  # relative: inside --dir
    assert pairs["--bind"] == "127.0.0.1"


def test_resp_command_replies() -> None:
    replies = [b"+OK\r\n", b"$5\r\nhe\r\no\r\n", b"$-1\r\n", b":42\r\n", b"-ERR nope\r\n"]
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def serve() -> None:
            for reply in replies:
                conn, _ = server.accept()
                with conn:
                    conn.recv(1024)
                    conn.sendall(reply)

        thread = threading.Thread(target=serve)
        thread.start()
        assert redis_command("127.0.0.1", port, "SET", "k", "v") == "OK"
        assert redis_command("127.0.0.1", port, "GET", "k") == "he\r\no"
        assert redis_command("127.0.0.1", port, "GET", "missing") == ""
        assert redis_command("127.0.0.1", port, "INCR", "n") == "42"
        with pytest.raises(DevstackError, match="ERR nope"):
            redis_command("127.0.0.1", port, "BAD")
        thread.join()


def test_data_of_another_shape_is_refused(tmp_path: Path) -> None:
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "layout.json").write_text(json.dumps({"nodes": [{}, {}, {}]}))
    kafka_check_layout(tmp_path / "kafka", 3)
    with pytest.raises(DevstackError, match=r"3-node Kafka cluster, not 1.*--fresh"):
        kafka_check_layout(tmp_path / "kafka", 1)
    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / "layout.json").write_text(json.dumps({"cluster": False, "nodes": [{}]}))
    redis_check_layout(tmp_path / "redis", 1, False)
    with pytest.raises(DevstackError, match="single redis-server, not a 3-master Redis Cluster"):
        redis_check_layout(tmp_path / "redis", 3, True)
    kafka_check_layout(tmp_path / "nothing", 5)  # no data: anything goes


def test_state_of_a_multi_node_stack_round_trips(tmp_path: Path) -> None:
    libs = tmp_path / "libs"
    nodes = [
        KafkaBroker(tmp_path / f"k{i}", libs, node_id=i, port=9000 + i, controller_port=9100 + i)
        for i in (1, 2, 3)
    ]
    stack = DevStack(tmp_path, kafka_brokers=3, redis_cluster=3)
    stack.kafka_cluster = KafkaCluster(tmp_path / "kafka", libs, 3, cluster_id="c", nodes=nodes)
    stack.redis_nodes = RedisNodes(
        tmp_path / "redis",
        3,
        cluster=True,
        nodes=[
            RedisServer(tmp_path / f"r{i}", port=7000 + i, cluster_port=17000 + i)
            for i in (1, 2, 3)
        ],
    )
    stack.write_state()
    env = (tmp_path / "dev.env").read_text()
    assert "DISPATCH_KAFKA_BOOTSTRAP=127.0.0.1:9001,127.0.0.1:9002,127.0.0.1:9003\n" in env
    assert (
        "DISPATCH_REDIS_URL=redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003\n" in env
    )
    again = DevStack.from_state(tmp_path)
    assert again is not None and again.endpoints == stack.endpoints
    assert again.kafka_cluster is not None and again.kafka_cluster.node(3).controller_port == 9103
    assert [s.node for s in status(tmp_path)] == [1, 2, 3, 1, 2, 3]
    assert not any(s.running for s in status(tmp_path))  # no pids recorded
    with pytest.raises(DevstackError, match="no kafka node 4"):
        again.kill("kafka", 4)
    with pytest.raises(DevstackError, match="unknown service"):
        again.kill("zookeeper")
