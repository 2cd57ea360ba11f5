"""PostgreSQL as a local process on a loopback port: the archive database of the dev stack
and of the tests (``tests/services.py``: ``postgres_url``).

Contracts:
- ``PostgresServer(data_dir).start()`` runs ``initdb`` on an empty data dir (user
  ``dispatch``, trust authentication: loopback only, for development and tests), then
  ``pg_ctl start`` with ``postgres`` listening on 127.0.0.1 only, on a free port (the port of
  an earlier start of the same data dir when it is free), its Unix socket in the data dir;
  creates the database ``dispatch`` and returns once it accepts connections, or raises
  :class:`DevstackError` with the tail of ``<data_dir>/postgres.log``.
- The binaries (``initdb``, ``pg_ctl``, ``postgres``) come from ``PATH`` or the newest
  ``/usr/lib/postgresql/<version>/bin`` (Debian's ``postgresql`` package).
- PostgreSQL refuses to run as root: as root, the server runs as the ``postgres`` user (the
  Debian package creates it; else ``nobody``), and its data dir is
  ``/tmp/dispatch-postgres-<hash of data_dir>`` owned by that user (the requested directory
  may sit below directories that user cannot enter), with the log beside the cluster.
- ``durable=False`` (the tests) turns off ``fsync``: fast, and a crash of the machine may
  lose the database, never a crash of the server process.
- ``stop()`` is ``pg_ctl stop -m fast``; ``kill()`` SIGKILLs the postmaster (a crash; the next
  start recovers from the WAL). Signals go only to the pid of ``postmaster.pid`` whose
  command line is ``postgres`` with this data dir.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from engine.devstack.procs import (
    LOOPBACK_HOST,
    POLL_INTERVAL_S,
    STOP_GRACE_S,
    free_port,
    log_tail,
    pid_matches,
    rotate_log,
    terminate,
)
from engine.errors import DevstackError
from engine.logs import get_logger

log = get_logger(__name__)

START_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 2
STALE_LOCK_WAIT_S = 5.0
USER = "dispatch"
DATABASE = "dispatch"
LOG_FILE = "postgres.log"
PORT_FILE = "port"
BINARIES = ("initdb", "pg_ctl", "postgres")
DEBIAN_BIN = Path("/usr/lib/postgresql")
ROOT_USERS = ("postgres", "nobody")


def find_binaries() -> dict[str, str] | None:
    """Absolute paths of ``initdb``, ``pg_ctl`` and ``postgres`` (None if not installed)."""
    found = {name: shutil.which(name) for name in BINARIES}
    if all(found.values()):
        return {name: str(path) for name, path in found.items()}
    versions = []
    if DEBIAN_BIN.is_dir():
        for child in DEBIAN_BIN.iterdir():
            if child.name.isdigit() and all((child / "bin" / b).is_file() for b in BINARIES):
                versions.append((int(child.name), child / "bin"))
    if not versions:
        return None
    bin_dir = max(versions)[1]
    return {name: str(bin_dir / name) for name in BINARIES}


def available() -> bool:
    """Whether a PostgreSQL server can be started here."""
    return find_binaries() is not None


def _run_as() -> pwd.struct_passwd | None:
    """The account the server runs as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ROOT_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise DevstackError(f"running as root and none of the users {ROOT_USERS} exists")


class PostgresServer:
    """One PostgreSQL cluster in ``data_dir`` (see the module doc)."""

    def __init__(self, data_dir: Path, *, port: int | None = None, durable: bool = True) -> None:
        self.root = Path(data_dir).resolve()
        self.durable = durable
        self.user = _run_as()
        if self.user is None:
            self.pgdata = self.root / "data"
        else:
            digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
            self.pgdata = Path(tempfile.gettempdir()) / f"dispatch-postgres-{digest}"
        self.port = port or self._recorded_port() or 0
        self.pid: int | None = None

    # ---- where ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``postgresql://dispatch@127.0.0.1:<port>/dispatch``."""
        return self.url_for(DATABASE)

    def url_for(self, database: str) -> str:
        return f"postgresql://{USER}@{LOOPBACK_HOST}:{self.port}/{database}"

    @property
    def log_file(self) -> Path:
        """``<data_dir>/postgres.log``; as root, in the server's own data dir beside its
        cluster (the server's user may not be able to enter ``data_dir``)."""
        return (self.root if self.user is None else self.pgdata) / LOG_FILE

    def _recorded_port(self) -> int | None:
        try:
            return int((self.root / PORT_FILE).read_text().strip())
        except (OSError, ValueError):
            return None

    # ---- commands ---------------------------------------------------------------------------
    def _run(self, argv: list[str], timeout_s: float = START_TIMEOUT_S) -> str:
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            kwargs.update(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
                cwd="/",
                **kwargs,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DevstackError(f"{argv[0]} failed: {exc}") from exc
        if done.returncode != 0:
            raise DevstackError(
                f"{' '.join(argv[:2])} exited {done.returncode}: {done.stderr.strip()[-2000:]}"
                f"\n{log_tail(self.log_file)}"
            )
        return str(done.stdout)

    def _prepare_dirs(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            self.pgdata.mkdir(mode=0o700, exist_ok=True)
            os.chown(self.pgdata, self.user.pw_uid, self.user.pw_gid)

    def _initdb(self, binaries: dict[str, str]) -> None:
        if (self.pgdata / "PG_VERSION").is_file():
            return
        log.info("initdb %s", self.pgdata)
        self._run(
            [
                binaries["initdb"],
                "-D",
                str(self.pgdata),
                "-U",
                USER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-instructions",
            ]
        )

    def _options(self) -> str:
        opts = [
            f"-p {self.port}",
            f"-c listen_addresses={LOOPBACK_HOST}",
            f"-c unix_socket_directories='{self.pgdata}'",
            "-c max_connections=200",
        ]
        if not self.durable:
            opts += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        return " ".join(opts)

    def start(self, timeout_s: float = START_TIMEOUT_S) -> str:
        """Start (initdb first if needed); returns the URL of the ``dispatch`` database."""
        binaries = find_binaries()
        if binaries is None:
            raise DevstackError(
                "PostgreSQL is not installed (initdb, pg_ctl, postgres): apt-get install postgresql"
            )
        if self.running():
            return self.url
        self._prepare_dirs()
        self._clear_stale_lock()
        self._initdb(binaries)
        if not self.port or not _port_free(self.port):
            self.port = free_port()
        (self.root / PORT_FILE).write_text(f"{self.port}\n")
        rotate_log(self.log_file)
        if self.user is not None:
            self.log_file.touch()
            os.chown(self.log_file, self.user.pw_uid, self.user.pw_gid)
        self._run(
            [
                binaries["pg_ctl"],
                "start",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log_file),
                "-o",
                self._options(),
                "-w",
                "-t",
                str(int(timeout_s)),
            ],
            timeout_s + 5,
        )
        self.pid = self._postmaster_pid()
        self._wait_ready(timeout_s)
        self._create_database(DATABASE)
        log.info("postgres up at %s (pid %s)", self.url, self.pid)
        return self.url

    def _clear_stale_lock(self) -> None:
        """After a crash (``kill``) the postmaster may linger as a zombie that nobody reaps
        (it was daemonised by ``pg_ctl``): its ``postmaster.pid`` then stops the next start.
        Wait a little for it to go; a lock naming a dead or zombie process is removed (its
        back-ends exit on their own once the postmaster is gone)."""
        pid = self._postmaster_pid()
        if pid is None or pid_matches(pid, self._needles()):
            return
        deadline = time.monotonic() + STALE_LOCK_WAIT_S
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_S)
        log.info("removing the stale lock of postmaster %s in %s", pid, self.pgdata)
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)

    def _wait_ready(self, timeout_s: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(
                    self.url_for("postgres"), connect_timeout=CONNECT_TIMEOUT_S, autocommit=True
                ) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.Error as exc:
                last = exc
                time.sleep(POLL_INTERVAL_S)
        raise DevstackError(
            f"postgres did not accept connections: {last}\n{log_tail(self.log_file)}"
        )

    def _create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url_for("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists is None:
                conn.execute(f'CREATE DATABASE "{name}"')

    def create_database(self, name: str) -> str:
        """A new empty database (name: letters, digits, ``_``); returns its URL."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
            raise ValueError(f"not a plain database name: {name!r}")
        self._create_database(name)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
            raise ValueError(f"not a plain database name: {name!r}")
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # ---- state ------------------------------------------------------------------------------
    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def _needles(self) -> list[str]:
        return ["postgres", str(self.pgdata)]

    def running(self) -> bool:
        pid = self._postmaster_pid() or self.pid
        return pid is not None and pid_matches(pid, self._needles())

    def answering(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT_S) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def stop(self, grace_s: float = STOP_GRACE_S) -> bool:
        """Fast shutdown (SIGINT to the postmaster: sessions end, a checkpoint is written);
        SIGKILL after ``grace_s``. True if it was running."""
        pid = self._postmaster_pid() or self.pid
        if pid is None or not pid_matches(pid, self._needles()):
            return False
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return False
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and pid_matches(pid, self._needles()):
            time.sleep(POLL_INTERVAL_S)
        if pid_matches(pid, self._needles()):
            terminate(pid, self._needles(), hard=True)
        self.pid = None
        return True

    def kill(self) -> bool:
        """SIGKILL the postmaster (a crash); its back-ends exit when they notice."""
        pid = self._postmaster_pid() or self.pid
        if pid is None:
            return False
        killed = terminate(pid, self._needles(), hard=True)
        self.pid = None
        return killed

    def wipe(self) -> None:
        """Delete the cluster's data (stop it first)."""
        if self.running():
            raise DevstackError("stop postgres before wiping its data")
        shutil.rmtree(self.pgdata, ignore_errors=True)

    def to_state(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "port": self.port,
            "pid": self._postmaster_pid() or self.pid,
            "durable": self.durable,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PostgresServer:
        server = cls(Path(state["root"]), port=int(state["port"]), durable=state["durable"])
        server.pid = state.get("pid")
        return server


def _port_free(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as postgres binds
        try:
            sock.bind((LOOPBACK_HOST, port))
        except OSError:
            return False
    return True
