"""Resolve the Apache Kafka broker jars from Maven Central into a local cache.

Layout under the cache root (default ``~/.cache/ticket-dispatch``)::

    kafka-<version>/libs/*.jar        broker classpath (complete once the marker exists)
    kafka-<version>/libs.complete     marker: JSON {version, artifacts, jars, resolve_s}
    kafka-<version>/resolve.lock      flock held while resolving
    kafka-<version>/pom.xml           generated POM (kept for debugging)

Contracts: ``ensure_kafka_libs`` is idempotent (returns at once when the marker exists),
safe against concurrent callers (one resolves, the others wait on the lock and reuse the
result), and never leaves a half-filled ``libs`` dir behind a marker.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import time
from pathlib import Path
from xml.sax.saxutils import escape

from engine.errors import DevstackError
from engine.logs import get_logger

log = get_logger(__name__)

KAFKA_VERSION = "4.3.1"
SCALA_BINARY_VERSION = "2.13"
LOG4J_VERSION = "2.24.3"
# kafka-clients brings slf4j-api 1.7 (nearest wins), which cannot see log4j-slf4j2-impl and
# falls back to a NOP logger: declare slf4j-api 2.x at depth 1 so the binding is found.
SLF4J_VERSION = "2.0.17"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
RESOLVE_TIMEOUT_S = 1200.0
RESOLVE_ATTEMPTS = 2
MARKER_NAME = "libs.complete"


def default_cache_root() -> Path:
    """``~/.cache/ticket-dispatch``: where callers keep resolved jars by default."""
    return Path.home() / ".cache" / "ticket-dispatch"


def broker_artifacts(version: str = KAFKA_VERSION) -> list[tuple[str, str, str]]:
    """(groupId, artifactId, version) of the broker and of its log4j2 backend."""
    return [
        ("org.apache.kafka", f"kafka_{SCALA_BINARY_VERSION}", version),
        ("org.apache.logging.log4j", "log4j-api", LOG4J_VERSION),
        ("org.apache.logging.log4j", "log4j-core", LOG4J_VERSION),
        ("org.apache.logging.log4j", "log4j-slf4j2-impl", LOG4J_VERSION),
        ("org.slf4j", "slf4j-api", SLF4J_VERSION),
    ]


def render_pom(version: str = KAFKA_VERSION) -> str:
    """A minimal ``pom`` packaging project depending on the broker artifacts."""
    deps = "\n".join(
        "    <dependency>\n"
        f"      <groupId>{escape(group)}</groupId>\n"
        f"      <artifactId>{escape(artifact)}</artifactId>\n"
        f"      <version>{escape(ver)}</version>\n"
        "    </dependency>"
        for group, artifact, ver in broker_artifacts(version)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        "  <groupId>local.ticket-dispatch</groupId>\n"
        f"  <artifactId>kafka-broker-libs-{escape(version)}</artifactId>\n"
        "  <version>1</version>\n"
        "  <packaging>pom</packaging>\n"
        "  <dependencies>\n"
        f"{deps}\n"
        "  </dependencies>\n"
        "</project>\n"
    )


def libs_dir(cache_root: Path, version: str = KAFKA_VERSION) -> Path:
    """Where the jars of ``version`` live under ``cache_root``."""
    return cache_root / f"kafka-{version}" / "libs"


def _fingerprint(version: str) -> list[str]:
    return [":".join(coords) for coords in broker_artifacts(version)]


def is_resolved(cache_root: Path, version: str = KAFKA_VERSION) -> bool:
    """True if the current artifact set of ``version`` is completely resolved."""
    try:
        marker = json.loads((cache_root / f"kafka-{version}" / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("artifacts") == _fingerprint(version)


def _run_maven(work: Path, out_dir: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise DevstackError("`mvn` not found on PATH: install Maven 3.8+ to resolve Kafka jars")
    argv = [
        mvn, "-B", "-q", "--no-transfer-progress", "-f", str(work / "pom.xml"),
        f"{DEPENDENCY_PLUGIN}:copy-dependencies",
        f"-DoutputDirectory={out_dir}", "-DincludeScope=runtime",
    ]  # fmt: skip
    last = ""
    for attempt in range(1, RESOLVE_ATTEMPTS + 1):
        shutil.rmtree(out_dir, ignore_errors=True)
        try:
            proc = subprocess.run(
                argv, cwd=work, capture_output=True, text=True, timeout=RESOLVE_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            last = f"timed out after {RESOLVE_TIMEOUT_S:.0f} s"
        else:
            if proc.returncode == 0 and any(out_dir.glob("kafka_*.jar")):
                return
            last = (proc.stdout + proc.stderr)[-3000:]
        log.warning("maven resolve attempt %s/%s failed", attempt, RESOLVE_ATTEMPTS)
    raise DevstackError(f"maven could not resolve the Kafka jars:\n{last}")


def ensure_kafka_libs(cache_root: Path, version: str = KAFKA_VERSION) -> Path:
    """Return the directory holding the broker jars, resolving them first if needed."""
    base = cache_root / f"kafka-{version}"
    libs = base / "libs"
    if is_resolved(cache_root, version):
        return libs
    base.mkdir(parents=True, exist_ok=True)
    with open(base / "resolve.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if is_resolved(cache_root, version):
            return libs  # another process resolved while we waited
        log.info("resolving Apache Kafka %s jars from Maven Central into %s", version, libs)
        started = time.monotonic()
        (base / "pom.xml").write_text(render_pom(version))
        tmp = base / "libs.partial"
        _run_maven(base, tmp)
        shutil.rmtree(libs, ignore_errors=True)
        tmp.rename(libs)
        elapsed_s = time.monotonic() - started
        jars = sorted(p.name for p in libs.glob("*.jar"))
        summary = {
            "version": version,
            "artifacts": _fingerprint(version),
            "jars": len(jars),
            "resolve_s": round(elapsed_s, 1),
        }
        (base / MARKER_NAME).write_text(json.dumps(summary))
        log.info("resolved %s jars in %.1f s", len(jars), elapsed_s)
    return libs
