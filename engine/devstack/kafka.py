"""A single-node Apache Kafka (KRaft, combined broker+controller) as a local process.

Contracts:
- ``KafkaBroker(data_dir, libs).start()`` formats a fresh log dir (any previous data under
  ``data_dir`` is discarded), starts ``kafka.Kafka`` on free loopback ports and returns once
  the broker answers ApiVersions and lists itself in Metadata (so CreateTopics works), or
  raises DevstackError with the tail of ``<data_dir>/kafka.log``.
- ``stop()`` sends SIGTERM, SIGKILL after the grace period; only to a pid whose command line
  still names this broker's ``server.properties``.
- The jars come from ``engine.devstack.maven.ensure_kafka_libs``.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
import uuid
from importlib import resources
from pathlib import Path
from typing import Any

from engine.devstack.kafka_protocol import broker_ready
from engine.devstack.procs import (
    LOG_SCAN_BYTES,
    LOOPBACK_HOST,
    POLL_INTERVAL_S,
    STOP_GRACE_S,
    free_port,
    log_excerpt,
    log_tail,
    pid_matches,
    reap,
    spawn,
    terminate,
)
from engine.errors import DevstackError
from engine.logs import get_logger

log = get_logger(__name__)

START_TIMEOUT_S = 60.0
FORMAT_TIMEOUT_S = 120.0
PORT_ATTEMPTS = 3
HEAP_MB = 512
LOG_RETENTION_CHECK_INTERVAL_MS = 10_000
OFFSETS_TOPIC_PARTITIONS = 4
MAIN_CLASS = "kafka.Kafka"
# C1-only JIT: about half the start-up CPU (measured 4.6-5.9 s vs 8.6-14 s to ready on a
# loaded 2-core box) at the cost of peak broker throughput. For tests, not for benchmarks.
QUICK_START_JVM_ARGS = ("-XX:TieredStopAtLevel=1",)


def new_cluster_id() -> str:
    """22-character URL-safe base64 of 16 random bytes, as ``StorageTool random-uuid``; like
    Kafka's own, never starting with '-' or '_' (it would read as a command-line flag)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if cid[0] not in "-_":
            return cid


def render_server_properties(port: int, controller_port: int, log_dir: Path) -> str:
    """``server.properties`` of a combined broker+controller node on loopback."""
    settings: dict[str, object] = {
        "process.roles": "broker,controller",
        "node.id": 1,
        "controller.quorum.bootstrap.servers": f"{LOOPBACK_HOST}:{controller_port}",
        "listeners": (
            f"PLAINTEXT://{LOOPBACK_HOST}:{port},CONTROLLER://{LOOPBACK_HOST}:{controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://{LOOPBACK_HOST}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": log_dir,
        "num.partitions": 1,
        "default.replication.factor": 1,
        "min.insync.replicas": 1,
        "auto.create.topics.enable": "true",  # dev convenience; tests create topics explicitly
        "offsets.topic.replication.factor": 1,
        "offsets.topic.num.partitions": OFFSETS_TOPIC_PARTITIONS,
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "transaction.state.log.num.partitions": OFFSETS_TOPIC_PARTITIONS,
        "share.coordinator.state.topic.replication.factor": 1,
        "share.coordinator.state.topic.min.isr": 1,
        "group.initial.rebalance.delay.ms": 0,
        "log.retention.check.interval.ms": LOG_RETENTION_CHECK_INTERVAL_MS,
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def find_java() -> str:
    """``$JAVA_HOME/bin/java`` if set, else ``java`` from PATH (Kafka 4 needs Java 17+)."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(Path(home) / "bin" / "java", os.X_OK):
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise DevstackError("`java` not found: install a Java 17+ runtime or set JAVA_HOME")
    return java


class KafkaBroker:
    """One local KRaft node. Not thread-safe; one instance per data dir."""

    def __init__(
        self,
        data_dir: Path,
        libs: Path,
        *,
        port: int | None = None,
        controller_port: int | None = None,
        detach: bool = False,
        quick_start: bool = False,
        pid: int | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.libs = libs
        self.jvm_args = QUICK_START_JVM_ARGS if quick_start else ()
        self.port = port or 0
        self.controller_port = controller_port or 0
        self.detach = detach
        self.pid = pid

    @property
    def bootstrap(self) -> str:
        """``host:port`` for clients."""
        return f"{LOOPBACK_HOST}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "kafka.log"

    @property
    def properties_file(self) -> Path:
        return self.data_dir / "server.properties"

    def _needles(self) -> list[str]:
        return ["java", MAIN_CLASS, str(self.properties_file)]

    def _java_argv(self, java: str, main: str, *args: str) -> list[str]:
        return [
            java, f"-Xms{HEAP_MB}m", f"-Xmx{HEAP_MB}m", *self.jvm_args, "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.data_dir / 'logs'}",
            "-cp", f"{self.libs}/*", main, *args,
        ]  # fmt: skip

    def _prepare(self, java: str) -> None:
        shutil.rmtree(self.data_dir / "kraft-logs", ignore_errors=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.write_bytes(b"")  # one log per start: error tails show this run only
        cfg = resources.files("engine.devstack").joinpath("log4j2.properties").read_text()
        (self.data_dir / "log4j2.properties").write_text(cfg)
        self.properties_file.write_text(
            render_server_properties(self.port, self.controller_port, self.data_dir / "kraft-logs")
        )
        argv = self._java_argv(
            java, "kafka.tools.StorageTool", "format", "--standalone",
            "-t", new_cluster_id(), "-c", str(self.properties_file),
        )  # fmt: skip
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise DevstackError(f"kafka storage format timed out after {exc.timeout} s") from exc
        if proc.returncode != 0:
            raise DevstackError(f"kafka storage format failed:\n{proc.stdout}{proc.stderr}")

    def _wait_ready(self, timeout_s: float) -> str | None:
        """None once ready; otherwise the reason (process exited) — raises on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.pid is not None
            code = reap(self.pid)
            if code is not None:
                return f"broker exited with code {code}"
            if broker_ready(LOOPBACK_HOST, self.port):
                return None
            time.sleep(POLL_INTERVAL_S)
        self.stop(grace_s=5.0)
        raise DevstackError(
            f"Kafka broker not ready on {self.bootstrap} within {timeout_s:.0f} s; "
            f"{log_excerpt(self.log_file)}"
        )

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Format storage, start the broker and wait until it is ready (see module doc)."""
        java = find_java()
        pick_ports = not self.port
        for attempt in range(1, PORT_ATTEMPTS + 1):
            if pick_ports:
                self.port, self.controller_port = free_port(), free_port()
            elif not self.controller_port:
                self.controller_port = free_port()
            self._prepare(java)
            started = time.monotonic()
            argv = self._java_argv(java, MAIN_CLASS, str(self.properties_file))
            self.pid = spawn(argv, self.log_file, detach=self.detach)
            failure = self._wait_ready(timeout_s)
            if failure is None:
                log.info("kafka ready on %s in %.1f s", self.bootstrap, time.monotonic() - started)
                return
            whole_log = log_tail(self.log_file, LOG_SCAN_BYTES)
            if pick_ports and "Address already in use" in whole_log and attempt < PORT_ATTEMPTS:
                log.warning("kafka port clash on %s; retrying on new ports", self.bootstrap)
                continue
            raise DevstackError(f"{failure}; {log_excerpt(self.log_file)}")
        raise DevstackError("unreachable")  # pragma: no cover

    def running(self) -> bool:
        """True if the recorded pid is alive and is this broker."""
        return self.pid is not None and pid_matches(self.pid, self._needles())

    def answering(self) -> bool:
        """True if the broker answers on its port (and lists itself in Metadata)."""
        return bool(self.port) and broker_ready(LOOPBACK_HOST, self.port)

    def stop(self, grace_s: float = STOP_GRACE_S) -> bool:
        """Stop the broker; True if it was running. Safe to call repeatedly."""
        if self.pid is None:
            return False
        stopped = terminate(self.pid, self._needles(), grace_s=grace_s)
        if stopped:
            log.info("kafka on %s stopped", self.bootstrap)
        return stopped

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable description for the state file."""
        return {
            "pid": self.pid,
            "port": self.port,
            "controller_port": self.controller_port,
            "data_dir": str(self.data_dir),
            "libs": str(self.libs),
            "log_file": str(self.log_file),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> KafkaBroker:
        """Rebuild a handle (not a child process) from ``to_state()`` output."""
        return cls(
            Path(state["data_dir"]),
            Path(state["libs"]),
            port=int(state["port"]),
            controller_port=int(state["controller_port"]),
            pid=int(state["pid"]) if state.get("pid") else None,
        )
