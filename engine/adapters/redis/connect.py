"""Redis clients from URLs.

Forms accepted by :func:`client_from_url`:

* ``redis://[[user]:password@]host[:port][/db][?option=value...]`` -- one server;
  ``rediss://`` for TLS; ``unix:///path/to/socket?db=0``. Options are redis-py's
  (``socket_timeout``, ``ssl_cert_reqs``, ...), see ``redis.Redis.from_url``.
* ``redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service[/db]`` -- the master
  of ``service`` as Sentinel reports it (default port 26379); failovers are followed. The
  credentials are the master's; ``?sentinel_username=&sentinel_password=`` authenticate to the
  sentinels. ``rediss+sentinel://`` uses TLS to the master.
* ``redis+cluster://[[user]:password@]host[:port][,host[:port]...]`` -- Redis Cluster from these
  startup nodes (default port 6379); ``rediss+cluster://`` for TLS.

Single-server and Sentinel clients connect lazily (on the first command); a Cluster client
discovers the topology when built. Failures raise :class:`StoreUnavailable`.

Every client retries a command on connection errors and time-outs (``RETRIES`` times, with
jittered exponential backoff): the store's scripts are idempotent, so a script whose reply was
lost may run again. redis-py's ``from_url`` alone would not retry at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

from engine.adapters.redis.errors import translated
from engine.errors import StoreUnavailable

SOCKET_TIMEOUT_S = 5.0
SOCKET_CONNECT_TIMEOUT_S = 5.0
RETRIES = 3
RETRY_BACKOFF_BASE_S = 0.05
RETRY_BACKOFF_CAP_S = 1.0
SENTINEL_PORT = 26379
REDIS_PORT = 6379
SINGLE_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


@dataclass(frozen=True, slots=True)
class RedisUrl:
    """A parsed ``redis+sentinel://`` or ``redis+cluster://`` URL."""

    kind: str  # sentinel | cluster
    nodes: tuple[tuple[str, int], ...]
    ssl: bool = False
    username: str | None = None
    password: str | None = None
    service: str = ""
    db: int = 0
    options: dict[str, str] = field(default_factory=dict)


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    if text.startswith("["):  # [ipv6]:port
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = text.partition(":")
    if not host:
        raise ValueError("empty host")
    return host, int(port) if port else default_port


def parse_url(url: str) -> RedisUrl:
    """Parse a Sentinel or Cluster URL (single-server URLs go to ``redis.Redis.from_url``)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SENTINEL_SCHEMES + CLUSTER_SCHEMES:
        raise ValueError(f"not a redis+sentinel:// or redis+cluster:// URL: {url!r}")
    kind = "sentinel" if scheme in SENTINEL_SCHEMES else "cluster"
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    username = password = None
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        user, has_pw, pw = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(pw) if has_pw else None
    default_port = SENTINEL_PORT if kind == "sentinel" else REDIS_PORT
    nodes = tuple(_host_port(h, default_port) for h in netloc.split(",") if h)
    if not nodes:
        raise ValueError(f"no host in {url!r}")
    parts = [p for p in path.split("/") if p]
    service, db = "", 0
    if kind == "sentinel":
        if not parts or len(parts) > 2:
            raise ValueError(f"sentinel URL needs /service_name[/db]: {url!r}")
        service = unquote(parts[0])
        db = int(parts[1]) if len(parts) == 2 else 0
    elif parts:
        raise ValueError(f"a cluster URL has no path (cluster has only db 0): {url!r}")
    options = {k: v[-1] for k, v in parse_qs(query).items()}
    ssl = scheme.startswith("rediss")
    return RedisUrl(kind, nodes, ssl, username, password, service, db, options)


def _retry() -> Retry:
    backoff = ExponentialWithJitterBackoff(base=RETRY_BACKOFF_BASE_S, cap=RETRY_BACKOFF_CAP_S)
    return Retry(backoff, RETRIES)


def client_from_url(url: str) -> Any:
    """A redis-py client (``Redis`` or ``RedisCluster``) for ``url``; see the module docs."""
    scheme = url.partition("://")[0]
    timeouts: dict[str, Any] = {
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": SOCKET_CONNECT_TIMEOUT_S,
    }
    if scheme in SINGLE_SCHEMES:
        return redis.Redis.from_url(url, retry=_retry(), **timeouts)
    if scheme not in SENTINEL_SCHEMES + CLUSTER_SCHEMES:
        raise ValueError(f"unsupported Redis URL scheme {scheme!r} in {url!r}")
    u = parse_url(url)
    creds: dict[str, Any] = {"username": u.username, "password": u.password}
    if u.kind == "sentinel":
        sentinel_kwargs = dict(timeouts)
        for name in ("username", "password"):
            if f"sentinel_{name}" in u.options:
                sentinel_kwargs[name] = u.options[f"sentinel_{name}"]
        sentinel = Sentinel(list(u.nodes), sentinel_kwargs=sentinel_kwargs, **timeouts)  # type: ignore[no-untyped-call]
        return sentinel.master_for(u.service, db=u.db, ssl=u.ssl, retry=_retry(), **creds)  # type: ignore[no-untyped-call]
    nodes = [ClusterNode(host, port) for host, port in u.nodes]  # type: ignore[no-untyped-call]
    with translated(f"connect to cluster {u.nodes}"):
        return RedisCluster(startup_nodes=nodes, ssl=u.ssl, retry=_retry(), **creds, **timeouts)


__all__ = ["RedisUrl", "StoreUnavailable", "client_from_url", "parse_url"]
