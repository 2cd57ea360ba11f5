"""Redis-specific guarantees of the agent store: retried scripts, one slot per pool, URLs."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from engine.adapters.redis import (
    RedisAgentStore,
    client_from_url,
    connect,
    keys,
    wire,
)
from engine.adapters.redis.scripts import Scripts
from engine.core.model import Request
from engine.devstack.procs import free_port
from engine.errors import StoreUnavailable
from engine.ports import WAIT_SCAN_LIMIT, Version

pytestmark = pytest.mark.integration

T = "acme"
NOW = 1_800_000_000_000


def req(tid: str, **extra: Any) -> Request:
    return Request(tid, T, "support", "least_loaded", "chat", 3, NOW, float(NOW), **extra)


@pytest.fixture
def client(redis_url: str) -> Iterator[Any]:
    c = client_from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def prefix(client: Any, unique_name: Callable[[str], str]) -> Iterator[str]:
    name = unique_name("dispatch")
    yield name
    found = list(client.scan_iter(match=f"{name}:*"))
    if found:
        client.delete(*found)


@pytest.fixture
def store(client: Any, prefix: str) -> RedisAgentStore:
    s = RedisAgentStore(client, prefix=prefix)
    s.update_agent(T, "a", {"status": "available", "capacity": {"chat": 5}}, NOW)
    return s


# ---- retries ----------------------------------------------------------------------------------
def test_rerunning_the_same_assign_script_does_not_assign_twice(
    store: RedisAgentStore, client: Any, prefix: str
) -> None:
    # Given the exact call redis-py would repeat after losing the reply
    script = Scripts.register(client).assign
    items = [req("X"), req("Y")]
    args: list[Any] = [keys.pool_base(prefix, T), str(NOW), WAIT_SCAN_LIMIT, "assign", 2]
    for r in items:
        args += [r.ticket_id, *wire.pack_new_ticket(r, {"id": r.ticket_id})]
    call_keys = [keys.pool_key(prefix, T, "agents")]
    # When it runs twice
    first = [wire.decision(row, T) for [row] in wire.unpack(script(call_keys, args))]
    second = [wire.decision(row, T) for [row] in wire.unpack(script(call_keys, args))]
    # Then the re-run only reports the state
    assert [(d.kind, d.agent, d.duplicate) for d in first] == [("assigned", "a", False)] * 2
    assert [(d.kind, d.agent, d.duplicate) for d in second] == [("assigned", "a", True)] * 2
    [view] = store.agents(T)
    assert view.open == {"chat": ("X", "Y")}


def test_a_lost_reply_retried_by_redis_py_does_not_assign_twice(
    store: RedisAgentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a connection that loses the reply of the next script call (after it ran)
    original = redis.connection.Connection.read_response
    lost: list[bool] = []

    def read_response(self: Any, *args: Any, **kwargs: Any) -> Any:
        reply = original(self, *args, **kwargs)
        if not lost:
            lost.append(True)
            raise redis.exceptions.ConnectionError("reply lost (simulated)")
        return reply

    monkeypatch.setattr(redis.connection.Connection, "read_response", read_response)
    # When
    [d] = store.assign([(req("X"), {"id": "X"})], NOW)
    # Then redis-py ran the script again, and the second run only reported the state
    monkeypatch.undo()
    assert lost == [True]
    assert (d.kind, d.agent, d.duplicate) == ("assigned", "a", True)
    [view] = store.agents(T)
    assert view.open == {"chat": ("X",)}


# ---- Redis Cluster ----------------------------------------------------------------------------
def test_every_key_of_a_pool_hashes_to_one_slot(
    store: RedisAgentStore, client: Any, prefix: str
) -> None:
    # Given a pool that used every kind of key
    b = {"status": "available", "skills": {"en": 2}, "capacity": {"chat": 1}}
    store.update_agent(T, "b", b, NOW)
    store.assign([(req("O", offer_timeout_ms=10_000, skills={"en": 1}), {})], NOW)
    store.assign([(req(f"X{i}", wake_ms=NOW + 60_000), {}) for i in range(8)], NOW)
    store.set_paused(T, "support", True, NOW, version=Version(0, 1, NOW))  # qver
    store.release(T, "X0", "resolved", NOW)
    store.claim_timers(T, NOW + 60_000, 1_000, 1)  # a claimed timer: tseq, tlease
    store.update_agent(T, "c", b, NOW)
    fair = Request("F", T, "leads", "least_loaded", "chat", 3, NOW, 0.0, fair_max=3)
    fair = replace(fair, fair_window_ms=3_600_000)
    store.assign([(fair, {})], NOW)  # fair:<queue>:<agent> (support is paused)
    # When
    found = [k.decode() for k in client.scan_iter(match=f"{prefix}:*")]
    pool = [k for k in found if k != keys.tenants_key(prefix)]
    # Then
    assert {key_slot(k.encode()) for k in pool} == {key_slot(keys.pool_base(prefix, T).encode())}
    shapes = {name: shape(prefix, t) for name, t in keys.POOL_KEYS.items()}
    named = {k: [name for name, rx in shapes.items() if rx.fullmatch(k)] for k in pool}
    assert all(named.values()), named  # every key has a documented shape ...
    assert {name for names in named.values() for name in names} == set(keys.POOL_KEYS)  # all used


def shape(prefix: str, template: str) -> re.Pattern[str]:
    """A key shape of ``keys.POOL_KEYS`` as a regular expression."""
    return re.compile(re.escape(keys.pool_base(prefix, T) + template).replace("%s", ".+"))


def test_closed_tickets_are_kept_for_the_documented_time(
    store: RedisAgentStore, client: Any, prefix: str
) -> None:
    store.assign([(req("X"), {})], NOW)
    store.release(T, "X", "resolved", NOW)
    ttl = client.ttl(keys.pool_key(prefix, T, "ticket", "X"))
    assert keys.CLOSED_TICKET_TTL_S - 60 < ttl <= keys.CLOSED_TICKET_TTL_S
    store.reopen(req("X"), {}, NOW)
    assert client.ttl(keys.pool_key(prefix, T, "ticket", "X")) == -1


# ---- errors -----------------------------------------------------------------------------------
def test_an_unreachable_server_raises_store_unavailable() -> None:
    client = client_from_url(f"redis://127.0.0.1:{free_port()}/0")
    store = RedisAgentStore(client, prefix="nowhere")  # connects lazily
    with pytest.raises(StoreUnavailable) as info:
        store.agents(T)
    assert isinstance(info.value.__cause__, redis.exceptions.ConnectionError)
    client.close()


def test_a_client_decoding_responses_is_refused() -> None:
    with pytest.raises(ValueError, match="decode_responses"):
        RedisAgentStore(client_from_url("redis://127.0.0.1:6379/0?decode_responses=true"))


# ---- client_from_url --------------------------------------------------------------------------
def kwargs_of(client: Any) -> dict[str, Any]:
    return dict(client.connection_pool.connection_kwargs)


def test_redis_url_with_acl_user_and_db() -> None:
    c = client_from_url("redis://alice:s%40cret@10.0.0.5:6380/2")
    kw = kwargs_of(c)
    assert (kw["host"], kw["port"], kw["db"], kw["username"], kw["password"]) == (
        "10.0.0.5",
        6380,
        2,
        "alice",
        "s@cret",
    )
    assert c.connection_pool.connection_class is redis.connection.Connection


def test_rediss_url_uses_tls_and_unix_url_a_socket() -> None:
    tls = client_from_url("rediss://:pw@cache.example:6390/0")
    assert tls.connection_pool.connection_class is redis.connection.SSLConnection
    assert kwargs_of(tls)["password"] == "pw"
    sock = client_from_url("unix:///run/redis.sock?db=3")
    assert sock.connection_pool.connection_class is redis.connection.UnixDomainSocketConnection
    assert (kwargs_of(sock)["path"], kwargs_of(sock)["db"]) == ("/run/redis.sock", 3)


def test_sentinel_url_gives_the_master_of_the_service() -> None:
    c = client_from_url("redis+sentinel://u:p@s1:26380,s2/orders/1?sentinel_password=sp")
    pool = c.connection_pool
    assert isinstance(pool, redis.sentinel.SentinelConnectionPool)
    assert pool.service_name == "orders"
    kw = kwargs_of(c)
    assert (kw["db"], kw["username"], kw["password"]) == (1, "u", "p")
    sentinels = [kwargs_of(s) for s in pool.sentinel_manager.sentinels]
    assert [(s["host"], s["port"], s.get("password")) for s in sentinels] == [
        ("s1", 26380, "sp"),
        ("s2", 26379, "sp"),
    ]
    tls = client_from_url("rediss+sentinel://s1/orders")
    assert tls.connection_pool.connection_class is redis.sentinel.SentinelManagedSSLConnection


def test_cluster_url_gives_a_cluster_client(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict[str, Any]] = []
    monkeypatch.setattr(connect, "RedisCluster", lambda **kw: made.append(kw) or "cluster")
    assert client_from_url("rediss+cluster://u:p@10.0.0.1:7000,10.0.0.2") == "cluster"
    [kw] = made
    nodes = [(n.host, n.port) for n in kw["startup_nodes"]]
    assert nodes == [("10.0.0.1", 7000), ("10.0.0.2", 6379)]
    assert (kw["username"], kw["password"], kw["ssl"]) == ("u", "p", True)


def test_unreachable_cluster_raises_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        client_from_url(f"redis+cluster://127.0.0.1:{free_port()}")


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "redis+sentinel://s1",  # no service
        "redis+sentinel://s1/orders/1/x",
        "redis+cluster://n1/3",  # a cluster has only db 0
        "redis+cluster:///",
    ],
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        client_from_url(url)
