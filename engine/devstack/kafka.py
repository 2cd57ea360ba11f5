"""Apache Kafka (KRaft) as local processes: one node or a cluster of N combined
broker+controller nodes on loopback.

Layout under the cluster's root (e.g. ``.dispatch/kafka``)::

    layout.json                cluster id, node ids, ports and directory ids (written once
                               every node is formatted: the cluster's identity)
    node-<id>/server.properties, log4j2.properties
    node-<id>/kraft-logs/      the node's data (metadata log and topic partitions)
    node-<id>/kafka.log        this run's broker output (kafka.log.1: the previous run's)

Contracts:
- ``KafkaCluster(root, libs, brokers=N).start()`` formats only when ``root`` holds no
  ``layout.json``: it picks free loopback ports, formats every node with one cluster id and
  the same ``--initial-controllers`` (a dynamic N-voter controller quorum), and starts them.
  With a ``layout.json`` it starts the nodes that are not running on their existing data and
  ports, without formatting (a different node count raises: ``wipe()`` first). Returns once
  every node answers and lists every node in Metadata (so CreateTopics with replication
  factor N works), or raises DevstackError with the first errors and the tail of the
  failing node's ``kafka.log``.
- ``start_node(id)`` / ``stop_node(id)`` / ``kill_node(id)`` act on one node, on its data
  and ports; ``start_node`` returns once that node is registered and unfenced again.
- Signals go only to a pid whose command line still names the node's ``server.properties``.
- Replication: ``default.replication.factor`` and the internal topics' factor are
  ``min(3, N)``; ``min.insync.replicas`` is 2 from N = 3 (so ``acks=all`` survives one
  broker down), else 1.
- The jars come from ``engine.devstack.maven.ensure_kafka_libs``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

from engine.devstack.kafka_protocol import broker_ready
from engine.devstack.procs import (
    LOOPBACK_HOST,
    POLL_INTERVAL_S,
    STOP_GRACE_S,
    free_port,
    log_excerpt,
    pid_matches,
    port_clash,
    reap,
    rotate_log,
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
MAX_REPLICATION_FACTOR = 3
MAX_BROKERS = 9
MAIN_CLASS = "kafka.Kafka"
LAYOUT_FILE = "layout.json"
LAYOUT_VERSION = 1
DATA_DIR = "kraft-logs"
# C1-only JIT: about half the start-up CPU (measured 4.6-5.9 s vs 8.6-14 s to ready on a
# loaded 2-core box) at the cost of peak broker throughput. For tests, not for benchmarks.
QUICK_START_JVM_ARGS = ("-XX:TieredStopAtLevel=1",)


def new_cluster_id() -> str:
    """22-character URL-safe base64 of 16 random bytes, as ``StorageTool random-uuid``; like
    Kafka's own, never starting with '-' or '_' (it would read as a command-line flag).
    Also the form of a KRaft directory id."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if cid[0] not in "-_":
            return cid


def replication(brokers: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) of a cluster of ``brokers`` nodes."""
    factor = min(MAX_REPLICATION_FACTOR, brokers)
    return factor, 2 if brokers >= 3 else 1


def render_server_properties(
    port: int,
    controller_port: int,
    log_dir: Path,
    *,
    node_id: int = 1,
    quorum: Sequence[str] = (),
    brokers: int = 1,
) -> str:
    """``server.properties`` of a combined broker+controller node on loopback.

    ``quorum``: ``host:port`` of every controller (default: this node alone); ``brokers``:
    the cluster size, which sets the replication factors and ``min.insync.replicas``.
    """
    factor, min_isr = replication(brokers)
    settings: dict[str, object] = {
        "process.roles": "broker,controller",
        "node.id": node_id,
        "controller.quorum.bootstrap.servers": ",".join(
            quorum or [f"{LOOPBACK_HOST}:{controller_port}"]
        ),
        "listeners": (
            f"PLAINTEXT://{LOOPBACK_HOST}:{port},CONTROLLER://{LOOPBACK_HOST}:{controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://{LOOPBACK_HOST}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": log_dir,
        "num.partitions": 1,
        "default.replication.factor": factor,
        "min.insync.replicas": min_isr,
        "auto.create.topics.enable": "true",  # dev convenience; tests create topics explicitly
        "offsets.topic.replication.factor": factor,
        "offsets.topic.num.partitions": OFFSETS_TOPIC_PARTITIONS,
        "transaction.state.log.replication.factor": factor,
        "transaction.state.log.min.isr": min_isr,
        "transaction.state.log.num.partitions": OFFSETS_TOPIC_PARTITIONS,
        "share.coordinator.state.topic.replication.factor": factor,
        "share.coordinator.state.topic.min.isr": min_isr,
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
    """One local KRaft node (broker and controller). Not thread-safe; one per data dir.

    Started through :class:`KafkaCluster`, which knows the quorum and formats the storage.
    """

    def __init__(
        self,
        data_dir: Path,
        libs: Path,
        *,
        node_id: int = 1,
        port: int | None = None,
        controller_port: int | None = None,
        directory_id: str | None = None,
        detach: bool = False,
        quick_start: bool = False,
        pid: int | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.libs = libs
        self.node_id = node_id
        self.quick_start = quick_start
        self.jvm_args = QUICK_START_JVM_ARGS if quick_start else ()
        self.port = port or 0
        self.controller_port = controller_port or 0
        self.directory_id = directory_id or new_cluster_id()
        self.detach = detach
        self.pid = pid

    @property
    def bootstrap(self) -> str:
        """``host:port`` for clients."""
        return f"{LOOPBACK_HOST}:{self.port}"

    @property
    def controller(self) -> str:
        """``host:port`` of the controller listener."""
        return f"{LOOPBACK_HOST}:{self.controller_port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "kafka.log"

    @property
    def properties_file(self) -> Path:
        return self.data_dir / "server.properties"

    def formatted(self) -> bool:
        """True if the node's storage holds a formatted KRaft log dir."""
        return (self.data_dir / DATA_DIR / "meta.properties").is_file()

    def _needles(self) -> list[str]:
        return ["java", MAIN_CLASS, str(self.properties_file)]

    def _java_argv(self, java: str, main: str, *args: str) -> list[str]:
        return [
            java, f"-Xms{HEAP_MB}m", f"-Xmx{HEAP_MB}m", *self.jvm_args, "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.data_dir / 'logs'}",
            "-cp", f"{self.libs}/*", main, *args,
        ]  # fmt: skip

    def configure(self, quorum: Sequence[str], brokers: int) -> None:
        """Write ``server.properties`` and the log4j2 configuration (data is not touched)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cfg = resources.files("engine.devstack").joinpath("log4j2.properties").read_text()
        (self.data_dir / "log4j2.properties").write_text(cfg)
        properties = render_server_properties(
            self.port,
            self.controller_port,
            self.data_dir / DATA_DIR,
            node_id=self.node_id,
            quorum=quorum,
            brokers=brokers,
        )
        self.properties_file.write_text(properties)

    def format(self, java: str, cluster_id: str, initial_controllers: str) -> None:
        """Format the (empty) storage as a member of ``cluster_id``'s dynamic quorum."""
        shutil.rmtree(self.data_dir / DATA_DIR, ignore_errors=True)
        argv = self._java_argv(
            java, "kafka.tools.StorageTool", "format", "-t", cluster_id,
            "-c", str(self.properties_file), "--initial-controllers", initial_controllers,
        )  # fmt: skip
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise DevstackError(f"kafka storage format timed out after {exc.timeout} s") from exc
        if proc.returncode != 0:
            raise DevstackError(
                f"kafka storage format of node {self.node_id} failed:\n{proc.stdout}{proc.stderr}"
            )

    def launch(self, java: str) -> None:
        """Start the JVM on the configured, formatted storage (returns at once)."""
        if not self.formatted():
            raise DevstackError(f"kafka node {self.node_id}: {self.data_dir} is not formatted")
        rotate_log(self.log_file)
        argv = self._java_argv(java, MAIN_CLASS, str(self.properties_file))
        self.pid = spawn(argv, self.log_file, detach=self.detach)

    def exited(self) -> str | None:
        """Why the launched process is gone (None while it runs)."""
        if self.pid is None:
            return "not started"
        code = reap(self.pid)
        return None if code is None else f"kafka node {self.node_id} exited with code {code}"

    def ready(self, node_ids: Sequence[int] = ()) -> bool:
        """Answers, and lists itself and every id of ``node_ids`` as registered, unfenced."""
        return bool(self.port) and broker_ready(
            LOOPBACK_HOST, self.port, node_ids={self.node_id, *node_ids}
        )

    def running(self) -> bool:
        """True if the recorded pid is alive and is this broker."""
        return self.pid is not None and pid_matches(self.pid, self._needles())

    def answering(self) -> bool:
        """True if the broker answers on its port and lists itself in Metadata."""
        return self.ready()

    def stop(self, grace_s: float = STOP_GRACE_S) -> bool:
        """SIGTERM (controlled shutdown), SIGKILL after ``grace_s``; True if it was running."""
        if self.pid is None:
            return False
        stopped = terminate(self.pid, self._needles(), grace_s=grace_s)
        if stopped:
            log.info("kafka node %s on %s stopped", self.node_id, self.bootstrap)
        return stopped

    def kill(self) -> bool:
        """SIGKILL, as a crash would; True if it was running."""
        if self.pid is None:
            return False
        killed = terminate(self.pid, self._needles(), hard=True)
        log.info("kafka node %s on %s killed: %s", self.node_id, self.bootstrap, killed)
        return killed

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable description for the state file."""
        return {
            "node_id": self.node_id,
            "pid": self.pid,
            "port": self.port,
            "controller_port": self.controller_port,
            "directory_id": self.directory_id,
            "data_dir": str(self.data_dir),
            "libs": str(self.libs),
            "log_file": str(self.log_file),
            "quick_start": self.quick_start,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], *, detach: bool = True) -> KafkaBroker:
        """Rebuild a handle (not a child process) from ``to_state()`` output."""
        return cls(
            Path(state["data_dir"]),
            Path(state["libs"]),
            node_id=int(state.get("node_id", 1)),
            port=int(state["port"]),
            controller_port=int(state["controller_port"]),
            directory_id=state.get("directory_id"),
            detach=detach,
            quick_start=bool(state.get("quick_start", False)),
            pid=int(state["pid"]) if state.get("pid") else None,
        )


def read_layout(root: Path) -> dict[str, Any] | None:
    """The ``layout.json`` of a cluster root, None if there is none."""
    try:
        layout: dict[str, Any] = json.loads((root / LAYOUT_FILE).read_text())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise DevstackError(f"unreadable {root / LAYOUT_FILE}: {exc}") from exc
    return layout


def check_layout(root: Path, brokers: int) -> None:
    """Raise if ``root`` holds the data of a cluster of another size."""
    layout = read_layout(root)
    if layout is not None and len(layout["nodes"]) != brokers:
        raise DevstackError(
            f"{root} holds a {len(layout['nodes'])}-node Kafka cluster, not {brokers}: start "
            "it with that size, or discard its data (`dispatch dev up --fresh`)"
        )


class KafkaCluster:
    """N local KRaft nodes sharing one cluster id (N = 1: a single broker)."""

    def __init__(
        self,
        root: Path,
        libs: Path,
        brokers: int = 1,
        *,
        detach: bool = False,
        quick_start: bool = False,
        cluster_id: str | None = None,
        nodes: Sequence[KafkaBroker] = (),
    ) -> None:
        if not 1 <= brokers <= MAX_BROKERS:
            raise DevstackError(f"a local Kafka cluster has 1..{MAX_BROKERS} nodes, not {brokers}")
        self.root = root.resolve()
        self.libs = libs
        self.brokers = brokers
        self.detach = detach
        self.quick_start = quick_start
        self.cluster_id = cluster_id
        self.nodes: list[KafkaBroker] = list(nodes)

    @property
    def bootstrap(self) -> str:
        """``host:port,host:port,...`` of every node, for clients."""
        return ",".join(node.bootstrap for node in self.nodes)

    def node(self, node_id: int) -> KafkaBroker:
        """The node with ``node.id`` = ``node_id`` (1..N)."""
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise DevstackError(
            f"no kafka node {node_id}: the cluster has nodes "
            f"{', '.join(str(n.node_id) for n in self.nodes) or '(none)'}"
        )

    def _quorum(self) -> list[str]:
        return [node.controller for node in self.nodes]

    def _new_node(self, node_id: int, **kwargs: Any) -> KafkaBroker:
        return KafkaBroker(
            self.root / f"node-{node_id}",
            self.libs,
            node_id=node_id,
            detach=self.detach,
            quick_start=self.quick_start,
            **kwargs,
        )

    def _write_layout(self) -> None:
        layout = {
            "format": LAYOUT_VERSION,
            "cluster_id": self.cluster_id,
            "nodes": [
                {
                    "node_id": n.node_id,
                    "port": n.port,
                    "controller_port": n.controller_port,
                    "directory_id": n.directory_id,
                }
                for n in self.nodes
            ],
        }
        (self.root / LAYOUT_FILE).write_text(json.dumps(layout, indent=2) + "\n")

    def _load_layout(self, layout: dict[str, Any]) -> None:
        check_layout(self.root, self.brokers)
        self.cluster_id = layout["cluster_id"]
        self.nodes = [
            self._new_node(
                int(entry["node_id"]),
                port=int(entry["port"]),
                controller_port=int(entry["controller_port"]),
                directory_id=entry["directory_id"],
            )
            for entry in layout["nodes"]
        ]

    def wipe(self) -> None:
        """Discard every node's data (the cluster must be stopped)."""
        if any(node.running() for node in self.nodes):
            raise DevstackError("stop the Kafka nodes before discarding their data")
        shutil.rmtree(self.root, ignore_errors=True)
        self.nodes = []
        self.cluster_id = None

    def _format(self, java: str) -> None:
        """Fresh ports, cluster id and directory ids; every node formatted (in parallel)."""
        self.cluster_id = new_cluster_id()
        self.nodes = [
            self._new_node(i, port=free_port(), controller_port=free_port())
            for i in range(1, self.brokers + 1)
        ]
        initial = ",".join(f"{n.node_id}@{n.controller}:{n.directory_id}" for n in self.nodes)
        for node in self.nodes:
            node.configure(self._quorum(), self.brokers)
        with ThreadPoolExecutor(max_workers=self.brokers, thread_name_prefix="kafka-fmt") as pool:
            for future in [
                pool.submit(n.format, java, self.cluster_id, initial) for n in self.nodes
            ]:
                future.result()
        self._write_layout()

    def _wait(self, nodes: Sequence[KafkaBroker], timeout_s: float) -> str | None:
        """None once every node of ``nodes`` lists all running nodes; the reason a node
        exited otherwise; raises on timeout (after stopping ``nodes``)."""
        started = time.monotonic()
        deadline = started + timeout_s
        pending = list(nodes)
        while pending and time.monotonic() < deadline:
            for node in pending:
                failure = node.exited()
                if failure is not None:
                    return f"{failure}; {log_excerpt(node.log_file)}"
            expect = [n.node_id for n in self.nodes if n.running()]
            pending = [node for node in pending if not node.ready(expect)]
            if pending:
                time.sleep(POLL_INTERVAL_S)
        if not pending:
            log.info(
                "kafka node(s) %s ready on %s in %.1f s",
                ",".join(str(n.node_id) for n in nodes),
                ",".join(n.bootstrap for n in nodes),
                time.monotonic() - started,
            )
            return None
        for node in nodes:
            node.stop(grace_s=5.0)
        slow = pending[0]
        raise DevstackError(
            f"kafka node {slow.node_id} not ready on {slow.bootstrap} within {timeout_s:.0f} s; "
            f"{log_excerpt(slow.log_file)}"
        )

    def _launch(self, java: str, nodes: Sequence[KafkaBroker], timeout_s: float) -> str | None:
        for node in nodes:
            node.configure(self._quorum(), self.brokers)
            node.launch(java)
        return self._wait(nodes, timeout_s)

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start every node that is not running: on its data if the cluster was formatted
        before (same ports), else freshly formatted on free ports (see module doc)."""
        java = find_java()
        layout = read_layout(self.root)
        if layout is not None:
            if not self.nodes:
                self._load_layout(layout)
            failure = self._launch(java, [n for n in self.nodes if not n.running()], timeout_s)
            if failure is not None:
                self.stop(grace_s=5.0)
                hint = (
                    " (a port of the existing cluster is taken: free it, or discard the data "
                    "with `dispatch dev up --fresh`)"
                    if any(port_clash(n.log_file) for n in self.nodes)
                    else ""
                )
                raise DevstackError(failure + hint)
            return
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.wipe()
            self._format(java)
            failure = self._launch(java, self.nodes, timeout_s)
            if failure is None:
                return
            self.stop(grace_s=5.0)
            if any(port_clash(n.log_file) for n in self.nodes) and attempt < PORT_ATTEMPTS:
                log.warning("kafka port clash on %s; formatting anew on new ports", self.bootstrap)
                continue
            raise DevstackError(failure)
        raise DevstackError("unreachable")  # pragma: no cover

    def start_node(self, node_id: int, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start one stopped node on its data and ports; returns once it is unfenced."""
        node = self.node(node_id)
        if node.running():
            return
        failure = self._launch(find_java(), [node], timeout_s)
        if failure is not None:
            node.stop(grace_s=5.0)
            raise DevstackError(failure)

    def stop_node(self, node_id: int, grace_s: float = STOP_GRACE_S) -> bool:
        """SIGTERM one node (SIGKILL after ``grace_s``); True if it was running."""
        return self.node(node_id).stop(grace_s)

    def kill_node(self, node_id: int) -> bool:
        """SIGKILL one node; True if it was running."""
        return self.node(node_id).kill()

    def stop(self, grace_s: float = STOP_GRACE_S) -> bool:
        """Stop every node (in parallel: a quorum stops together); True if any was running."""
        if not self.nodes:
            return False
        with ThreadPoolExecutor(max_workers=len(self.nodes), thread_name_prefix="kafka") as pool:
            return any(list(pool.map(lambda n: n.stop(grace_s), self.nodes)))

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable description for the state file."""
        return {
            "root": str(self.root),
            "libs": str(self.libs),
            "cluster_id": self.cluster_id,
            "quick_start": self.quick_start,
            "nodes": [node.to_state() for node in self.nodes],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], *, detach: bool = True) -> KafkaCluster:
        """Rebuild handles from ``to_state()`` output (or a format-1 single broker's)."""
        if "nodes" not in state:  # format 1: one broker, its data dir the root
            node = KafkaBroker.from_state(state, detach=detach)
            return cls(node.data_dir, node.libs, detach=detach, nodes=[node])
        nodes = [KafkaBroker.from_state(n, detach=detach) for n in state["nodes"]]
        return cls(
            Path(state["root"]),
            Path(state["libs"]),
            len(nodes),
            detach=detach,
            quick_start=bool(state.get("quick_start", False)),
            cluster_id=state.get("cluster_id"),
            nodes=nodes,
        )
