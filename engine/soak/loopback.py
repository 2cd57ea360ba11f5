"""Only loopback services: a soak kills processes and restarts services, so it refuses any
Kafka or Redis that is not on this host's loopback interface."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback_host(host: str) -> bool:
    """``127.0.0.0/8``, ``::1`` (bracketed or not) or ``localhost``."""
    host = host.strip().strip("[]").lower()
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split_host(hostport: str) -> str:
    hostport = hostport.strip()
    if hostport.startswith("["):
        return hostport[1 : hostport.find("]")] if "]" in hostport else hostport
    return hostport.rsplit(":", 1)[0] if hostport.count(":") == 1 else hostport


def kafka_hosts(bootstrap: str) -> list[str]:
    """The hosts of ``host:port[,host:port...]``."""
    return [_split_host(part) for part in bootstrap.split(",") if part.strip()]


def redis_hosts(url: str) -> list[str]:
    """The hosts of a Redis URL (one server, ``+cluster`` or ``+sentinel`` lists); a
    ``unix://`` socket has none (it is local by construction)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return [url]
    if scheme == "unix":
        return []
    netloc = rest.rsplit("@", 1)[-1].split("/", 1)[0]  # drop credentials, then the path
    if "," in netloc:
        return [_split_host(part) for part in netloc.split(",") if part.strip()]
    return [urlsplit(f"{scheme}://{netloc}").hostname or netloc]


def refusals(kafka_bootstrap: str | None, redis_url: str | None) -> list[str]:
    """One line per named service that is not on loopback (empty: all fine). Never
    echoes credentials: only the variable and the offending host."""
    out = []
    if kafka_bootstrap is not None:
        bad = [h for h in kafka_hosts(kafka_bootstrap) if not is_loopback_host(h)]
        if bad or not kafka_hosts(kafka_bootstrap):
            out.append(
                f"DISPATCH_KAFKA_BOOTSTRAP names {', '.join(bad) or 'no host'}: a soak kills "
                "and restarts things, so it only runs against loopback services "
                "(127.0.0.1, ::1, localhost); unset it to let the soak start its own"
            )
    if redis_url is not None:
        bad = [h for h in redis_hosts(redis_url) if not is_loopback_host(h)]
        if bad:
            out.append(
                f"DISPATCH_REDIS_URL names {', '.join(bad)}: a soak only runs against "
                "loopback services (127.0.0.1, ::1, localhost); unset it to let the soak "
                "start its own"
            )
    return out
