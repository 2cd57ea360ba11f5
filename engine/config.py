"""Settings: frozen dataclasses, and the only module that reads the environment.

``Settings.from_env(environ, dev_env=path)`` parses ``DISPATCH_*`` variables (the table is
in ``docs/configuration.md``); a bad value raises :class:`ConfigError` naming the variable.
``dev_env`` names a ``KEY=VALUE`` file (written by ``dispatch dev up``) whose entries fill in
variables missing from ``environ``; ``Settings.load()`` is ``from_env`` with the default
``<DISPATCH_STATE_DIR>/dev.env``, so after ``dispatch dev up`` every command finds the stack.
Nothing is read at import time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from engine.errors import ConfigError

__all__ = [
    "DEFAULT_HTTP_PORT",
    "DEV_ENV_FILE",
    "LOGICAL_TOPICS",
    "ConfigError",
    "GatewaySettings",
    "KafkaSettings",
    "Settings",
    "Topics",
    "parse_bootstrap",
    "read_env_file",
]

T = TypeVar("T")

DEV_ENV_FILE = "dev.env"
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_CLIENT_ID = "ticket-dispatch"
DEFAULT_HTTP_PORT = 9400
DEFAULT_GATEWAY_PORT = 8080
DEFAULT_GATEWAY_HOST = "0.0.0.0"  # behind a load balancer / ingress that terminates TLS
DEFAULT_PUBLISH_TIMEOUT_MS = 5000
DEFAULT_DECISION_LOG_RETENTION_DAYS = 7
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_PASSWORD_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SASL_MECHANISMS = (*_PASSWORD_MECHANISMS, "OAUTHBEARER", "GSSAPI")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# What engine.adapters.redis.connect understands: single server, Sentinel, Cluster.
REDIS_SCHEMES = tuple(f"{s}{k}" for k in ("", "+sentinel", "+cluster") for s in ("redis", "rediss"))
REDIS_SCHEMES += ("unix",)
DEFAULT_REDIS_PREFIX = "dispatch"  # engine.adapters.redis.keys.DEFAULT_PREFIX
_REDIS_PREFIX = re.compile(r"[A-Za-z0-9._:-]+")
MAX_TOPIC_NAME_CHARS = 249
_TOPIC_CHARS = re.compile(r"[A-Za-z0-9._-]*")
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$")

# Logical topic -> attribute of Topics.
LOGICAL_TOPICS: dict[str, str] = {
    "tickets.events": "tickets_events",
    "agents.events": "agents_events",
    "tickets.lifecycle": "tickets_lifecycle",
    "dispatch.commands": "dispatch_commands",
    "dispatch.assignments": "dispatch_assignments",
    "dispatch.deadletter": "dispatch_deadletter",
    "sla.events": "sla_events",
    "dispatch.notifications": "dispatch_notifications",
    "dispatch.decisions.log": "dispatch_decisions_log",
}


def parse_bootstrap(text: str, variable: str = "DISPATCH_KAFKA_BOOTSTRAP") -> tuple[str, ...]:
    """``host:port[,host:port...]`` → a tuple of ``host:port`` (IPv6 as ``[::1]:9092``)."""
    servers = tuple(part.strip() for part in text.split(",") if part.strip())
    if not servers:
        raise ConfigError(variable, "expected host:port[,host:port...], got an empty value")
    for server in servers:
        match = _HOST_PORT.match(server)
        if match is None or not 1 <= int(match.group(2)) <= 65535:
            raise ConfigError(variable, f"expected host:port with port 1..65535, got {server!r}")
    return servers


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    """How to reach the Kafka cluster; the Kafka adapter maps this to client options."""

    bootstrap_servers: tuple[str, ...] = (DEFAULT_BOOTSTRAP,)
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    client_id: str = DEFAULT_CLIENT_ID

    def __post_init__(self) -> None:
        protocol, mechanism = self.security_protocol, self.sasl_mechanism
        _one_of("DISPATCH_KAFKA_SECURITY_PROTOCOL", protocol, SECURITY_PROTOCOLS)
        sasl = protocol.startswith("SASL_")
        if mechanism is None and sasl:
            raise ConfigError("DISPATCH_KAFKA_SASL_MECHANISM", f"required with {protocol}")
        if mechanism is not None:
            _one_of("DISPATCH_KAFKA_SASL_MECHANISM", mechanism, SASL_MECHANISMS)
            if not sasl:
                raise ConfigError(
                    "DISPATCH_KAFKA_SECURITY_PROTOCOL", "must be SASL_* with a SASL mechanism"
                )
            if mechanism in _PASSWORD_MECHANISMS and not self.sasl_username:
                raise ConfigError("DISPATCH_KAFKA_SASL_USERNAME", f"required with {mechanism}")
            if mechanism in _PASSWORD_MECHANISMS and not self.sasl_password:
                raise ConfigError("DISPATCH_KAFKA_SASL_PASSWORD", f"required with {mechanism}")
        if (self.ssl_cafile or self.ssl_certfile or self.ssl_keyfile) and "SSL" not in protocol:
            raise ConfigError(
                "DISPATCH_KAFKA_SECURITY_PROTOCOL", "must be SSL or SASL_SSL with SSL files"
            )


def _one_of(variable: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(variable, f"expected one of {', '.join(allowed)}, got {value!r}")


@dataclass(frozen=True, slots=True)
class Topics:
    """Full topic names: the logical name (``tickets.events``) behind an optional prefix."""

    tickets_events: str = "tickets.events"
    agents_events: str = "agents.events"
    tickets_lifecycle: str = "tickets.lifecycle"
    dispatch_commands: str = "dispatch.commands"
    dispatch_assignments: str = "dispatch.assignments"
    dispatch_deadletter: str = "dispatch.deadletter"
    sla_events: str = "sla.events"
    dispatch_notifications: str = "dispatch.notifications"
    # Every decision again, not compacted (dispatch.assignments keeps only the latest per
    # ticket after a day): the archiver reads the full history from it within its retention.
    dispatch_decisions_log: str = "dispatch.decisions.log"

    @classmethod
    def with_prefix(cls, prefix: str) -> Topics:
        """Every logical name behind ``prefix`` (``"acme."`` → ``acme.tickets.events``)."""
        longest = max(len(name) for name in LOGICAL_TOPICS)
        if not _TOPIC_CHARS.fullmatch(prefix) or len(prefix) + longest > MAX_TOPIC_NAME_CHARS:
            raise ConfigError(
                "DISPATCH_TOPIC_PREFIX",
                f"only [A-Za-z0-9._-], at most {MAX_TOPIC_NAME_CHARS - longest} characters;"
                f" got {prefix!r}",
            )
        return cls(**{attr: prefix + name for name, attr in LOGICAL_TOPICS.items()})

    def get(self, logical: str) -> str:
        """Full name of a logical topic; KeyError for an unknown one."""
        try:
            attr = LOGICAL_TOPICS[logical]
        except KeyError:
            raise KeyError(f"unknown logical topic {logical!r}") from None
        name: str = getattr(self, attr)
        return name

    def by_logical(self) -> dict[str, str]:
        """``{logical name: full name}`` for every topic, in a stable order."""
        return {logical: self.get(logical) for logical in LOGICAL_TOPICS}


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """The HTTP gateway (``dispatch run gateway``): where it listens and how long a write
    waits for Kafka's acknowledgement before it answers 503."""

    host: str = DEFAULT_GATEWAY_HOST
    port: int = DEFAULT_GATEWAY_PORT
    publish_timeout_ms: int = DEFAULT_PUBLISH_TIMEOUT_MS


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a dispatch process needs to know about its surroundings."""

    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    redis_url: str = DEFAULT_REDIS_URL
    redis_prefix: str = DEFAULT_REDIS_PREFIX
    topic_prefix: str = ""
    policy_path: Path | None = None
    http_port: int = DEFAULT_HTTP_PORT  # /metrics, /healthz, /readyz; 0: no HTTP server
    # DISPATCH_HTTP_PORT was set: a taken port is an error. Unset, a process whose default
    # port is taken (another process on the host) serves on a free port instead.
    http_port_pinned: bool = False
    group: str = "dispatchers"
    sla_group: str = "sla-tracker"
    archiver_group: str = "archiver"
    # The archive database (engine.archive.db): a SQLAlchemy URL; "" = the SQLite file
    # <state_dir>/archive.db. Contains a password in production: never logged as is.
    archive_url: str = field(default="", repr=False)
    # Retention of dispatch.decisions.log (``dispatch topics create`` sets it); the
    # archiver's lag alert fires well before an unarchived decision can expire.
    decision_log_retention_days: int = DEFAULT_DECISION_LOG_RETENTION_DAYS
    # The dispatcher writes every decision to dispatch.decisions.log as well (1); 0 turns it
    # off (a cluster whose topic is not created yet: `dispatch topics create` first).
    decision_log: bool = True
    batch_max: int = 500
    poll_timeout_ms: int = 100
    tick_interval_ms: int = 250  # timers and the outbox claim run at most this often
    commit_interval_ms: int = 1000  # offsets committed / outbox acked at most this often
    policy_reload_s: float = 5.0  # how often the policy file is checked for a change; 0: never
    log_level: str = "INFO"
    state_dir: Path = Path(".dispatch")
    topics: Topics = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "topics", Topics.with_prefix(self.topic_prefix))

    def topic(self, logical: str) -> str:
        """Full name of a logical topic: ``settings.topic("tickets.events")``."""
        return self.topics.get(logical)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """``from_env`` merging ``<DISPATCH_STATE_DIR or .dispatch>/dev.env`` if it exists."""
        env = os.environ if environ is None else environ
        state_dir = Path(env.get("DISPATCH_STATE_DIR") or ".dispatch")
        return cls.from_env(env, dev_env=state_dir / DEV_ENV_FILE)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, dev_env: Path | None = None
    ) -> Settings:
        """Parse ``DISPATCH_*`` from ``environ`` (default ``os.environ``).

        If ``dev_env`` is given and exists, its ``KEY=VALUE`` lines fill in variables that
        are absent from ``environ`` (the environment always wins). Empty values count as
        unset. Raises :class:`ConfigError` naming the first bad variable.
        """
        env = dict(os.environ if environ is None else environ)
        if dev_env is not None and dev_env.is_file():
            for key, value in read_env_file(dev_env).items():
                if not env.get(key, "").strip():
                    env[key] = value
        get = _Reader(env)
        kafka = KafkaSettings(
            bootstrap_servers=parse_bootstrap(
                get.text("DISPATCH_KAFKA_BOOTSTRAP", DEFAULT_BOOTSTRAP)
            ),
            security_protocol=get.text("DISPATCH_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper(),
            sasl_mechanism=_upper(get.opt("DISPATCH_KAFKA_SASL_MECHANISM")),
            sasl_username=get.opt("DISPATCH_KAFKA_SASL_USERNAME"),
            sasl_password=get.opt("DISPATCH_KAFKA_SASL_PASSWORD"),
            ssl_cafile=get.file("DISPATCH_KAFKA_SSL_CAFILE"),
            ssl_certfile=get.file("DISPATCH_KAFKA_SSL_CERTFILE"),
            ssl_keyfile=get.file("DISPATCH_KAFKA_SSL_KEYFILE"),
            client_id=get.text("DISPATCH_KAFKA_CLIENT_ID", DEFAULT_CLIENT_ID),
        )
        gateway = GatewaySettings(
            host=get.parsed("DISPATCH_GATEWAY_HOST", DEFAULT_GATEWAY_HOST, _host),
            port=get.integer("DISPATCH_GATEWAY_PORT", DEFAULT_GATEWAY_PORT, 1, 65535),
            publish_timeout_ms=get.integer(
                "DISPATCH_GATEWAY_PUBLISH_TIMEOUT_MS", DEFAULT_PUBLISH_TIMEOUT_MS, 100, 60_000
            ),
        )
        policy = get.opt("DISPATCH_POLICY")
        return cls(
            kafka=kafka,
            gateway=gateway,
            redis_url=get.parsed("DISPATCH_REDIS_URL", DEFAULT_REDIS_URL, _redis_url),
            redis_prefix=get.parsed("DISPATCH_REDIS_PREFIX", DEFAULT_REDIS_PREFIX, _redis_prefix),
            topic_prefix=get.text("DISPATCH_TOPIC_PREFIX", ""),
            policy_path=Path(policy) if policy else None,
            http_port=get.integer("DISPATCH_HTTP_PORT", DEFAULT_HTTP_PORT, 0, 65535),
            http_port_pinned=get.opt("DISPATCH_HTTP_PORT") is not None,
            group=get.text("DISPATCH_GROUP", "dispatchers"),
            sla_group=get.text("DISPATCH_SLA_GROUP", "sla-tracker"),
            archiver_group=get.text("DISPATCH_ARCHIVER_GROUP", "archiver"),
            archive_url=get.parsed("DISPATCH_ARCHIVE_URL", "", _archive_url),
            decision_log_retention_days=get.integer(
                "DISPATCH_DECISION_LOG_RETENTION_DAYS",
                DEFAULT_DECISION_LOG_RETENTION_DAYS,
                1,
                3650,
            ),
            decision_log=bool(get.integer("DISPATCH_DECISION_LOG", 1, 0, 1)),
            batch_max=get.integer("DISPATCH_BATCH_MAX", 500, 1, 100_000),
            poll_timeout_ms=get.integer("DISPATCH_POLL_TIMEOUT_MS", 100, 0, 60_000),
            policy_reload_s=get.integer("DISPATCH_POLICY_RELOAD_S", 5, 0, 3600),
            tick_interval_ms=get.integer("DISPATCH_TICK_INTERVAL_MS", 250, 0, 10_000),
            # Acks ride with commits: stay well below the outbox grace (OUTBOX_GRACE_MS, 10 s).
            commit_interval_ms=get.integer("DISPATCH_COMMIT_INTERVAL_MS", 1000, 0, 5_000),
            log_level=get.parsed("DISPATCH_LOG_LEVEL", "INFO", _log_level),
            state_dir=Path(get.text("DISPATCH_STATE_DIR", ".dispatch")),
        )


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines; blank lines, ``#`` comments and ``export`` prefixes allowed."""
    result: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ConfigError(f"{path}:{number}", f"expected KEY=VALUE, got {raw!r}")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        result[key] = value
    return result


class _Reader:
    """Typed access to one environment mapping; empty strings count as unset."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def opt(self, name: str) -> str | None:
        value = self._env.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        value = self.opt(name)
        return default if value is None else value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.opt(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(name, f"expected an integer, got {value!r}") from None
        if not low <= number <= high:
            raise ConfigError(name, f"expected {low}..{high}, got {number}")
        return number

    def file(self, name: str) -> str | None:
        value = self.opt(name)
        if value is not None and not Path(value).is_file():
            raise ConfigError(name, f"no such file: {value}")
        return value

    def parsed(self, name: str, default: T, parse: Callable[[str], T]) -> T:
        value = self.opt(name)
        if value is None:
            return default
        try:
            return parse(value)
        except ConfigError:
            raise
        except ValueError as exc:
            raise ConfigError(name, str(exc)) from None


def _upper(value: str | None) -> str | None:
    return None if value is None else value.upper()


def _redis_url(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in REDIS_SCHEMES or not rest:
        shown = re.sub(r"//[^@/]*@", "//***@", value)  # never echo a password
        raise ValueError(f"expected one of {', '.join(REDIS_SCHEMES)} URLs, got {shown!r}")
    return value


def _archive_url(value: str) -> str:
    """A SQLAlchemy database URL (``sqlite:///path``, ``postgresql://user:pw@host/db``)."""
    scheme, sep, _rest = value.partition("://")
    if not sep or not re.fullmatch(r"[a-z][a-z0-9]*(\+[a-z0-9_]+)?", scheme):
        shown = re.sub(r"//[^@/]*@", "//***@", value)  # never echo a password
        raise ValueError(f"expected a database URL such as sqlite:///archive.db, got {shown!r}")
    return value


def _redis_prefix(value: str) -> str:
    if not _REDIS_PREFIX.fullmatch(value):
        raise ValueError(f"only [A-Za-z0-9._:-] (no hash-tag braces), got {value!r}")
    return value


def _host(value: str) -> str:
    """A host name or an IP address to listen on (no scheme, no port)."""
    if not re.fullmatch(r"[A-Za-z0-9._-]+|\[?[0-9A-Fa-f:.]+\]?", value):
        raise ValueError(f"expected a host name or IP address, got {value!r}")
    return value.strip("[]")


def _log_level(value: str) -> str:
    _one_of("DISPATCH_LOG_LEVEL", value.upper(), LOG_LEVELS)
    return value.upper()
