"""Process helpers shared by the local Kafka and Redis launchers.

Contracts:
- ``free_port()`` returns a loopback TCP port that was free a moment ago (callers must
  tolerate the small race with other processes binding it).
- ``pid_matches(pid, needles)`` is True only if ``/proc/PID/cmdline`` exists, the process is
  not a zombie, and every needle occurs in its command line; it is the guard used before any
  signal is sent to a pid read from a state file.
- ``terminate(pid, ...)`` sends SIGTERM, waits up to the grace period, then SIGKILL; it never
  signals a pid that no longer matches ``needles``.
- ``rotate_log(path)`` keeps the previous run's log as ``<name>.1``, so a service restarted
  on its data starts a fresh log (error excerpts show this run only) without losing the last.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Sequence
from pathlib import Path

from engine.errors import DevstackError
from engine.logs import get_logger

log = get_logger(__name__)

LOOPBACK_HOST = "127.0.0.1"
POLL_INTERVAL_S = 0.1
STOP_GRACE_S = 20.0
KILL_WAIT_S = 5.0
LOG_TAIL_BYTES = 3000
LOG_SCAN_BYTES = 1 << 20
LOG_ERROR_LINES = 8
LOG_ERROR_MARKERS = (" ERROR ", " FATAL ", "Caused by:", "# ")


def free_port() -> int:
    """Return a TCP port on the loopback interface that is currently unused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def cmdline(pid: int) -> list[str]:
    """Arguments of a live process, or [] if the pid is gone, a zombie or unreadable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        # Field 3 (after the parenthesised comm, which may contain spaces) is the state.
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return []
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, IndexError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def pid_matches(pid: int, needles: Sequence[str]) -> bool:
    """True if ``pid`` is alive and its command line contains every needle."""
    if pid <= 0:
        return False
    line = " ".join(cmdline(pid)) + " "  # so a needle ending in " " matches a whole word
    return bool(line) and all(needle in line for needle in needles)


def reap(pid: int) -> int | None:
    """Exit code of our child ``pid`` if it has exited (reaping it), else None.

    For a pid that is not our child (e.g. started by an earlier CLI run), returns -1 once
    the process is gone, None while it runs.
    """
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None if cmdline(pid) else -1
    return os.waitstatus_to_exitcode(status) if done else None


def _wait_gone(pid: int, needles: Sequence[str], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if reap(pid) is not None or not pid_matches(pid, needles):
            reap(pid)
            return True
        time.sleep(POLL_INTERVAL_S)
    return False


def terminate(
    pid: int, needles: Sequence[str], *, grace_s: float = STOP_GRACE_S, hard: bool = False
) -> bool:
    """Stop ``pid`` (SIGTERM, then SIGKILL after ``grace_s``; SIGKILL at once if ``hard``).

    Returns True if the process was running and has been stopped, False if it was not
    running (or no longer matches ``needles``, i.e. the pid was reused). A child of ours is
    reaped, so no zombie is left behind.
    """
    if not pid_matches(pid, needles):
        reap(pid)
        return False
    sig = signal.SIGKILL if hard else signal.SIGTERM
    log.debug("sending %s to pid %s", sig.name, pid)
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    if not hard and _wait_gone(pid, needles, grace_s):
        return True
    if not hard:
        log.warning("pid %s did not stop within %.0f s; sending SIGKILL", pid, grace_s)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return True
    if not _wait_gone(pid, needles, KILL_WAIT_S):
        raise DevstackError(f"pid {pid} survived SIGKILL")
    return True


def _inherited_fds() -> list[int]:
    """Our inheritable descriptors above stderr (``Popen(close_fds=True)`` closes these)."""
    fds = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if fd > 2 and os.get_inheritable(fd):
                fds.append(fd)
        except OSError:  # the fd of the listdir itself, already closed
            continue
    return fds


def spawn(argv: Sequence[str], log_file: Path, *, detach: bool) -> int:
    """Start ``argv`` (``argv[0]`` an absolute path) with stdout+stderr appended to
    ``log_file``; returns the pid.

    ``detach=True`` puts the child in its own session so it outlives the caller (CLI use);
    ``detach=False`` keeps it in the caller's process group so Ctrl-C reaches it too.
    ``os.posix_spawn`` rather than ``subprocess.Popen``: the caller tracks the pid itself,
    and no Popen object warns when a deliberately long-lived child outlives it. Inheritable
    descriptors other than 0-2 are closed in the child, as ``close_fds=True`` would.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log_file), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
        # A daemon must not keep a caller's pipe open (a `$(dispatch dev up)` would hang).
        *((os.POSIX_SPAWN_CLOSE, fd) for fd in _inherited_fds()),
    ]
    try:
        return os.posix_spawn(
            argv[0],
            list(argv),
            dict(os.environ),
            file_actions=actions,
            setsid=detach,
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT),
        )
    except OSError as exc:
        raise DevstackError(f"cannot start {argv[0]}: {exc}") from exc


def rotate_log(log_file: Path) -> None:
    """Move ``log_file`` (if any) to ``<name>.1``, replacing an older one."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    if log_file.exists():
        log_file.replace(log_file.with_name(log_file.name + ".1"))


def port_clash(log_file: Path) -> bool:
    """True if the log says a listener could not bind (another process took the port)."""
    return "Address already in use" in log_tail(log_file, LOG_SCAN_BYTES)


def log_tail(log_file: Path, max_bytes: int = LOG_TAIL_BYTES) -> str:
    """Last ``max_bytes`` of a log file as text ('' if missing), for error messages."""
    try:
        with open(log_file, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


def log_excerpt(log_file: Path) -> str:
    """First error lines of a log plus its tail: the root cause of a JVM failure is often
    far above the tail, under stack traces."""
    text = log_tail(log_file, LOG_SCAN_BYTES)
    errors = [line for line in text.splitlines() if any(m in line for m in LOG_ERROR_MARKERS)][
        :LOG_ERROR_LINES
    ]
    head = "first errors:\n" + "\n".join(errors) + "\n" if errors else ""
    return f"{head}last lines of {log_file}:\n{text[-LOG_TAIL_BYTES:]}"


def recv_exact(sock: socket.socket, size: int) -> bytes:
    """Read exactly ``size`` bytes or raise ConnectionError if the peer closes first."""
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed by peer")
        chunks.extend(chunk)
    return bytes(chunks)
