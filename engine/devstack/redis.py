"""``redis-server`` as local processes on loopback ports: one plain server, or the masters of
a Redis Cluster.

Contracts:
- ``RedisServer(data_dir).start()`` runs ``redis-server`` bound to 127.0.0.1 and returns once
  ``PING`` answers ``+PONG``, or raises DevstackError with the tail of
  ``<data_dir>/redis.log``. Without ``persist`` nothing is written to disk (``--save ''``,
  ``--appendonly no``); with it an append-only file (fsync every second) keeps the data
  across a restart (a SIGKILL loses at most the last second). ``cluster_port`` makes it a
  cluster node (``--cluster-enabled yes``, ``nodes.conf`` in the data dir).
- ``kill()`` sends SIGKILL (a crash); ``restart()`` starts it again on the same ports and data
  dir (``wipe=True`` deletes the data first: a lost Redis; a cluster node keeps its slots).
- ``RedisNodes(root, count, cluster=...)`` starts one plain server or ``count`` >= 3 cluster
  masters (``redis-cli --cluster create``, no replicas) and returns once every node reports
  ``cluster_state:ok`` and knows every other node. ``root/layout.json`` records the ports:
  a later ``start()`` reuses them and the data (``nodes.conf`` keeps the slots), a layout of
  another shape raises (``wipe()`` first).
- Signals go only to a pid whose command line is ``redis-server`` on this server's port.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.devstack.procs import (
    LOOPBACK_HOST,
    POLL_INTERVAL_S,
    STOP_GRACE_S,
    free_port,
    log_excerpt,
    pid_matches,
    port_clash,
    reap,
    recv_exact,
    rotate_log,
    spawn,
    terminate,
)
from engine.errors import DevstackError
from engine.logs import get_logger

log = get_logger(__name__)

START_TIMEOUT_S = 20.0
CLUSTER_TIMEOUT_S = 60.0
PING_TIMEOUT_S = 1.0
PORT_ATTEMPTS = 3
MIN_CLUSTER_MASTERS = 3
MAX_CLUSTER_MASTERS = 16
# A master that was marked failed (no replica took over) is trusted again 2 x this after the
# failure (Redis' CLUSTER_FAIL_UNDO_TIME_MULT): 5 s keeps a restarted master's slots
# unavailable for at most ~10 s, and is still far above any pause of a loopback process.
CLUSTER_NODE_TIMEOUT_MS = 5000
LAYOUT_FILE = "layout.json"
LAYOUT_VERSION = 1
DATA_FILES = ("appendonlydir", "dump.rdb")  # not nodes.conf: a wiped node keeps its slots
PING_REQUEST = b"*1\r\n$4\r\nPING\r\n"
PONG_REPLY = b"+PONG\r\n"


def ping(host: str, port: int, timeout_s: float = PING_TIMEOUT_S) -> bool:
    """True if a RESP ``PING`` to host:port answers ``+PONG`` (never raises)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(PING_REQUEST)
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = sock.recv(64)
                if not chunk:
                    return False
                reply += chunk
    except OSError:
        return False
    return reply == PONG_REPLY


def _read_line(sock: socket.socket) -> bytes:
    line = bytearray()
    while not line.endswith(b"\r\n"):
        line.extend(recv_exact(sock, 1))
    return bytes(line[:-2])


def command(host: str, port: int, *args: str, timeout_s: float = PING_TIMEOUT_S) -> str:
    """Send one command; its simple-string, integer or bulk-string reply as text.

    Raises OSError if the server cannot be reached, DevstackError for an error reply or a
    reply type this minimal client does not read (arrays).
    """
    request = f"*{len(args)}\r\n".encode() + b"".join(
        f"${len(a.encode())}\r\n".encode() + a.encode() + b"\r\n" for a in args
    )
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(request)
        line = _read_line(sock)
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b":"):
            return rest.decode()
        if kind == b"$":
            size = int(rest)
            return "" if size < 0 else recv_exact(sock, size + 2)[:-2].decode()
        if kind == b"-":
            raise DevstackError(f"redis {host}:{port} {' '.join(args)}: {rest.decode()}")
    raise DevstackError(f"redis {host}:{port}: unexpected reply {line[:40]!r}")


def cluster_info(host: str, port: int) -> dict[str, str]:
    """``CLUSTER INFO`` as a dict ({} if the node does not answer)."""
    try:
        text = command(host, port, "CLUSTER", "INFO")
    except (OSError, DevstackError):
        return {}
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def redis_argv(
    binary: str,
    port: int,
    data_dir: Path,
    *,
    persist: bool = False,
    cluster_port: int | None = None,
) -> list[str]:
    """Command line of a loopback-only ``redis-server`` (see the module doc)."""
    argv = [
        binary, "--port", str(port), "--bind", LOOPBACK_HOST, "--dir", str(data_dir),
        "--save", "", "--appendonly", "yes" if persist else "no",
        "--daemonize", "no", "--protected-mode", "yes",
    ]  # fmt: skip
    if persist:
        argv += ["--appendfsync", "everysec"]
    if cluster_port is not None:
        argv += [
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-port", str(cluster_port),
            "--cluster-node-timeout", str(CLUSTER_NODE_TIMEOUT_MS),
        ]  # fmt: skip
    return argv


class RedisServer:
    """One local ``redis-server``. Not thread-safe."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        cluster_port: int | None = None,
        persist: bool = False,
        detach: bool = False,
        pid: int | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or 0
        self.cluster_port = cluster_port
        self.persist = persist
        self.detach = detach
        self.pid = pid

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://{LOOPBACK_HOST}:{self.port}/0"

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"{LOOPBACK_HOST}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "redis.log"

    def _needles(self) -> list[str]:
        return ["redis-server", f"{LOOPBACK_HOST}:{self.port} "]

    def _launch(self, binary: str, timeout_s: float) -> str | None:
        """Start and wait for PONG; None when ready, else why the process exited."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        rotate_log(self.log_file)
        argv = redis_argv(
            binary, self.port, self.data_dir, persist=self.persist, cluster_port=self.cluster_port
        )
        self.pid = spawn(argv, self.log_file, detach=self.detach)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            code = reap(self.pid)
            if code is not None:
                return f"redis-server exited with code {code}"
            if ping(LOOPBACK_HOST, self.port):
                return None
            time.sleep(POLL_INTERVAL_S / 2)
        self.stop(grace_s=2.0)
        raise DevstackError(
            f"redis-server not answering PING on port {self.port} within {timeout_s:.0f} s; "
            f"{log_excerpt(self.log_file)}"
        )

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start on ``port`` (free ones if 0) and wait for ``+PONG``."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise DevstackError("`redis-server` not found: apt-get install -y redis-server")
        pick_port = not self.port
        for attempt in range(1, PORT_ATTEMPTS + 1):
            if pick_port:
                self.port = free_port()
                if self.cluster_port is not None:
                    self.cluster_port = free_port()
            started = time.monotonic()
            failure = self._launch(binary, timeout_s)
            if failure is None:
                log.info("redis ready on %s in %.2f s", self.url, time.monotonic() - started)
                return
            if pick_port and port_clash(self.log_file) and attempt < PORT_ATTEMPTS:
                log.warning("redis port %s taken; retrying on a new port", self.port)
                continue
            raise DevstackError(f"{failure}; {log_excerpt(self.log_file)}")

    def running(self) -> bool:
        """True if the recorded pid is alive and is this server."""
        return self.pid is not None and pid_matches(self.pid, self._needles())

    def answering(self) -> bool:
        """True if the server answers PING."""
        return bool(self.port) and ping(LOOPBACK_HOST, self.port)

    def stop(self, grace_s: float = STOP_GRACE_S) -> bool:
        """SIGTERM (then SIGKILL); True if it was running. Safe to call repeatedly."""
        if self.pid is None:
            return False
        return terminate(self.pid, self._needles(), grace_s=grace_s)

    def kill(self) -> bool:
        """SIGKILL, as a crash would; True if it was running."""
        if self.pid is None:
            return False
        killed = terminate(self.pid, self._needles(), hard=True)
        log.info("redis on port %s killed: %s", self.port, killed)
        return killed

    def wipe(self) -> None:
        """Delete the stored data (not a cluster node's ``nodes.conf``); must be stopped."""
        if self.running():
            raise DevstackError(f"stop redis on port {self.port} before deleting its data")
        for name in DATA_FILES:
            path = self.data_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

    def restart(self, timeout_s: float = START_TIMEOUT_S, *, wipe: bool = False) -> None:
        """Stop if running, then start again on the same port(s) and data dir: the data is
        kept if ``persist`` (unless ``wipe``), else the server comes back empty."""
        self.stop()
        if not self.port:
            raise DevstackError("restart() needs a server that was started before")
        if wipe:
            self.wipe()
        self.start(timeout_s)

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable description for the state file."""
        return {
            "pid": self.pid,
            "port": self.port,
            "cluster_port": self.cluster_port,
            "persist": self.persist,
            "data_dir": str(self.data_dir),
            "log_file": str(self.log_file),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], *, detach: bool = True) -> RedisServer:
        """Rebuild a handle (not a child process) from ``to_state()`` output."""
        cluster_port = state.get("cluster_port")
        return cls(
            Path(state["data_dir"]),
            port=int(state["port"]),
            cluster_port=int(cluster_port) if cluster_port else None,
            persist=bool(state.get("persist", False)),
            detach=detach,
            pid=int(state["pid"]) if state.get("pid") else None,
        )


def read_layout(root: Path) -> dict[str, Any] | None:
    """The ``layout.json`` of a Redis root, None if there is none."""
    try:
        layout: dict[str, Any] = json.loads((root / LAYOUT_FILE).read_text())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise DevstackError(f"unreadable {root / LAYOUT_FILE}: {exc}") from exc
    return layout


def describe(count: int, cluster: bool) -> str:
    return f"a {count}-master Redis Cluster" if cluster else "a single redis-server"


def check_layout(root: Path, count: int, cluster: bool) -> None:
    """Raise if ``root`` holds the data of Redis in another shape."""
    layout = read_layout(root)
    if layout is not None and (len(layout["nodes"]), bool(layout["cluster"])) != (count, cluster):
        raise DevstackError(
            f"{root} holds {describe(len(layout['nodes']), bool(layout['cluster']))}, not "
            f"{describe(count, cluster)}: start it in that shape, or discard its data "
            "(`dispatch dev up --fresh`)"
        )


class RedisNodes:
    """One plain ``redis-server``, or the ``count`` masters of a Redis Cluster."""

    def __init__(
        self,
        root: Path,
        count: int = 1,
        *,
        cluster: bool = False,
        persist: bool = False,
        detach: bool = False,
        nodes: Sequence[RedisServer] = (),
    ) -> None:
        if cluster and not MIN_CLUSTER_MASTERS <= count <= MAX_CLUSTER_MASTERS:
            raise DevstackError(
                f"a local Redis Cluster has {MIN_CLUSTER_MASTERS}..{MAX_CLUSTER_MASTERS} "
                f"masters, not {count}"
            )
        if not cluster and count != 1:
            raise DevstackError(f"a plain Redis is one server, not {count}")
        self.root = root.resolve()
        self.count = count
        self.cluster = cluster
        self.persist = persist
        self.detach = detach
        self.nodes: list[RedisServer] = list(nodes)

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:P/0``, or ``redis+cluster://127.0.0.1:P1,127.0.0.1:P2,...``."""
        if not self.cluster:
            return self.nodes[0].url
        return "redis+cluster://" + ",".join(node.address for node in self.nodes)

    def node(self, number: int) -> RedisServer:
        """Node ``number`` (1..count)."""
        if not 1 <= number <= len(self.nodes):
            raise DevstackError(f"no redis node {number}: there are nodes 1..{len(self.nodes)}")
        return self.nodes[number - 1]

    def _new_node(self, number: int, port: int | None, cluster_port: int | None) -> RedisServer:
        return RedisServer(
            self.root / f"node-{number}",
            port=port,
            cluster_port=cluster_port if self.cluster else None,
            persist=self.persist,
            detach=self.detach,
        )

    def _write_layout(self) -> None:
        layout = {
            "format": LAYOUT_VERSION,
            "cluster": self.cluster,
            "nodes": [{"port": n.port, "cluster_port": n.cluster_port} for n in self.nodes],
        }
        (self.root / LAYOUT_FILE).write_text(json.dumps(layout, indent=2) + "\n")

    def wipe(self) -> None:
        """Discard every node's data and the layout (the nodes must be stopped)."""
        if any(node.running() for node in self.nodes):
            raise DevstackError("stop the Redis nodes before discarding their data")
        shutil.rmtree(self.root, ignore_errors=True)
        self.nodes = []

    def start(self, timeout_s: float = CLUSTER_TIMEOUT_S) -> None:
        """Start every node that is not running (see the module doc)."""
        layout = read_layout(self.root)
        if layout is None:
            self.wipe()
            self.root.mkdir(parents=True, exist_ok=True)
            self.nodes = [self._new_node(i, None, 0) for i in range(1, self.count + 1)]
            for node in self.nodes:
                node.start()
            if self.cluster:
                self._create_cluster(timeout_s)
            self._write_layout()
            return
        if not self.nodes:
            check_layout(self.root, self.count, self.cluster)
            self.nodes = [
                self._new_node(i, int(entry["port"]), entry.get("cluster_port"))
                for i, entry in enumerate(layout["nodes"], start=1)
            ]
        for node in self.nodes:
            if not node.running():
                node.start()
        self.wait_cluster(timeout_s)

    def _create_cluster(self, timeout_s: float) -> None:
        cli = shutil.which("redis-cli")
        if cli is None:
            raise DevstackError("`redis-cli` not found: apt-get install -y redis-tools")
        argv = [
            cli, "--cluster", "create", *(n.address for n in self.nodes),
            "--cluster-replicas", "0", "--cluster-yes",
        ]  # fmt: skip
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise DevstackError(f"redis-cli --cluster create timed out after {timeout_s}") from exc
        if proc.returncode != 0:
            raise DevstackError(f"redis-cli --cluster create failed:\n{proc.stdout}{proc.stderr}")
        self.wait_cluster(timeout_s)

    def cluster_ok(self) -> bool:
        """True if every node answers ``cluster_state:ok`` and knows every other node."""
        return all(
            info.get("cluster_state") == "ok"
            and info.get("cluster_known_nodes") == str(len(self.nodes))
            for info in (cluster_info(LOOPBACK_HOST, n.port) for n in self.nodes)
        )

    def wait_cluster(self, timeout_s: float = CLUSTER_TIMEOUT_S) -> None:
        """Return once the cluster is ok (at once for a plain server); raise on timeout."""
        if not self.cluster:
            return
        started = time.monotonic()
        deadline = started + timeout_s
        while time.monotonic() < deadline:
            if self.cluster_ok():
                log.info("redis cluster ok in %.1f s: %s", time.monotonic() - started, self.url)
                return
            time.sleep(POLL_INTERVAL_S * 2)
        states = {
            n.port: cluster_info(LOOPBACK_HOST, n.port).get("cluster_state") for n in self.nodes
        }
        raise DevstackError(
            f"redis cluster not ok within {timeout_s:.0f} s (cluster_state by port: {states})"
        )

    def answering(self, node: RedisServer) -> bool:
        """PING answers and, for a cluster node, it reports ``cluster_state:ok``."""
        if not node.answering():
            return False
        return (
            not self.cluster or cluster_info(LOOPBACK_HOST, node.port).get("cluster_state") == "ok"
        )

    def start_node(self, number: int, timeout_s: float = CLUSTER_TIMEOUT_S) -> None:
        """Start a stopped node on its data and ports; for a cluster, wait until it is ok."""
        node = self.node(number)
        if not node.running():
            node.start()
        self.wait_cluster(timeout_s)

    def stop_node(self, number: int, grace_s: float = STOP_GRACE_S) -> bool:
        return self.node(number).stop(grace_s)

    def kill_node(self, number: int) -> bool:
        return self.node(number).kill()

    def stop(self, grace_s: float = STOP_GRACE_S) -> bool:
        """Stop every node; True if any was running."""
        return any([node.stop(grace_s) for node in self.nodes])

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable description for the state file."""
        return {
            "root": str(self.root),
            "cluster": self.cluster,
            "persist": self.persist,
            "nodes": [node.to_state() for node in self.nodes],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], *, detach: bool = True) -> RedisNodes:
        """Rebuild handles from ``to_state()`` output (or a format-1 single server's)."""
        if "nodes" not in state:  # format 1: one server, its data dir the root
            node = RedisServer.from_state(state, detach=detach)
            return cls(node.data_dir, detach=detach, nodes=[node])
        nodes = [RedisServer.from_state(n, detach=detach) for n in state["nodes"]]
        return cls(
            Path(state["root"]),
            len(nodes),
            cluster=bool(state.get("cluster", False)),
            persist=bool(state.get("persist", False)),
            detach=detach,
            nodes=nodes,
        )
