"""Redis-backed AgentStore: the contract of ``engine.ports.AgentStore``, decisions identical to
``engine.adapters.memory.MemoryAgentStore`` (checked by ``tests/contract``).

Every method is one script call per pool (``scripts``: ``lua/<name>.lua`` after the shared
logic in ``lua/lib/``), so it is atomic, and idempotent per ticket id when redis-py re-runs it
after a lost reply. This module only packs arguments and decodes replies (``wire``). Key
shapes and the data layout: ``keys``; what the scripts share with Python: ``layout``.
redis-py errors surface as :class:`StoreUnavailable`.

Not covered by per-ticket idempotency: ``claim`` without a ticket id (a re-run after a lost
reply claims one more ticket; a claim of a named ticket is idempotent) and ``update_agent``
without a version (a re-run re-applies the same fields; harmless). Only onboarding
(``assign``, ``restore``, ``update_agent(create=True)``) registers a tenant; a call
naming an unknown ticket or agent raises
``UnknownTicket``/``UnknownAgent``.
Which pools have something due is kept by ``due.DueIndex``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.adapters.redis import keys, wire
from engine.adapters.redis.due import DueIndex
from engine.adapters.redis.errors import translated
from engine.adapters.redis.scripts import Scripts
from engine.core.model import STRATEGIES, Decision, Request
from engine.errors import UnknownTenant
from engine.ports import (
    RELEASE_RESOLVED,
    WAIT_SCAN_LIMIT,
    AgentView,
    DuePool,
    TicketRecord,
    Timer,
    Version,
    WaitingEntry,
    reason_unknown_agent,
)


def _check_strategy(req: Request) -> None:
    # Checked before any write: the memory store raises the same error from strategies.choose.
    if req.strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {req.strategy!r}")


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _version(version: Version | None) -> str:
    return "" if version is None else version.text()


class RedisAgentStore:
    """AgentStore on a ``redis.Redis`` or ``redis.cluster.RedisCluster`` client.

    The client must not decode responses (``decode_responses=False``, the default).
    ``prefix`` starts every key (see ``keys``); tests use a unique one each.
    """

    def __init__(self, client: Any, prefix: str = keys.DEFAULT_PREFIX) -> None:
        pool = getattr(client, "connection_pool", None)
        if pool is not None and pool.connection_kwargs.get("decode_responses"):
            raise ValueError("RedisAgentStore needs a client with decode_responses=False")
        self._client = client
        self._prefix = prefix
        self._scripts = Scripts.register(client)
        self._registered: set[str] = set()
        self._due = DueIndex(client, prefix)

    # ---- plumbing -------------------------------------------------------------------------
    def _run(self, script: Any, tenant: str, now_ms: int, *args: Any, touch: bool = True) -> Any:
        """Run a script on the pool; ``touch``: it may schedule a timer or outbox entry (the
        due index learns of the pool at the next tick)."""
        base = keys.pool_base(self._prefix, tenant)
        with translated(f"script for pool {tenant!r}"):
            reply = script(
                keys=[keys.pool_key(self._prefix, tenant, "agents")],
                args=[base, str(int(now_ms)), WAIT_SCAN_LIMIT, *args],
            )
        if touch:
            self._due.touch(tenant)
        return reply

    def _register_tenant(self, tenant: str) -> None:
        # Only onboarding registers a tenant (a ticket, a login): stray events never do. The
        # tenant set lives outside the pool's slot, so it is written outside the scripts,
        # once per tenant and process (SADD is idempotent).
        if tenant in self._registered:
            return
        with translated("register tenant"):
            self._client.sadd(keys.tenants_key(self._prefix), tenant)
        self._registered.add(tenant)

    def _known_tenant(self, tenant: str) -> bool:
        if tenant not in self._registered:
            with translated("read tenants"):
                known = self._client.sismember(keys.tenants_key(self._prefix), tenant)
            if not known:
                return False
            self._registered.add(tenant)
        return True

    def _decisions(self, script: Any, tenant: str, now_ms: int, *args: Any) -> list[Decision]:
        return wire.decisions(self._run(script, tenant, now_ms, *args), tenant)

    def _route_batch(
        self,
        op: str,
        packed: Sequence[tuple[str, list[str | bytes]]],
        now_ms: int,
        extra: Sequence[str] = (),
    ) -> list[Decision]:
        """One assign.lua call per tenant; decisions back in item order."""
        groups: dict[str, list[int]] = {}
        for i, (tenant, _) in enumerate(packed):
            groups.setdefault(tenant, []).append(i)
        per_item: list[list[Decision]] = [[] for _ in packed]
        for tenant, idx in groups.items():
            args: list[Any] = [op, len(idx), *extra]
            for i in idx:
                args += packed[i][1]
            raw = self._run(self._scripts.assign, tenant, now_ms, *args)
            for i, rows in zip(idx, wire.unpack(raw), strict=True):
                per_item[i] = [wire.decision(row, tenant) for row in rows]
        return [d for ds in per_item for d in ds]

    # ---- agents -----------------------------------------------------------------------------
    def update_agent(
        self,
        tenant: str,
        agent_id: str,
        fields: Mapping[str, Any],
        now_ms: int,
        *,
        create: bool = True,
        version: Version | None = None,
    ) -> list[Decision]:
        reset = fields.get("status") == "available"
        packed = wire.pack_agent_fields(fields)
        args = ("update", agent_id, packed, _flag(reset), _flag(create), _version(version))
        decisions = self._decisions(self._scripts.agent, tenant, now_ms, *args)
        if create:
            self._register_tenant(tenant)
        return decisions

    def claim(
        self, tenant: str, agent_id: str, now_ms: int, ticket_id: str | None = None
    ) -> list[Decision]:
        args = ("claim", agent_id, ticket_id or "")
        return self._decisions(self._scripts.pull, tenant, now_ms, *args)

    def pool(self, tenant: str, agent_id: str, now_ms: int, limit: int) -> list[WaitingEntry]:
        args = ("pool", agent_id, str(max(0, int(limit))))
        raw = self._run(self._scripts.pull, tenant, now_ms, *args, touch=False)
        rows = wire.unpack(raw)
        if isinstance(rows, str):
            wire.raise_reply(rows, tenant)
        return wire.waiting_entries(raw)

    # ---- routing ----------------------------------------------------------------------------
    def assign(
        self, items: Sequence[tuple[Request, Mapping[str, Any]]], now_ms: int
    ) -> list[Decision]:
        for req, _ in items:
            _check_strategy(req)
        packed: list[tuple[str, list[str | bytes]]] = [
            (req.tenant, [req.ticket_id, *wire.pack_new_ticket(req, ticket)])
            for req, ticket in items
        ]
        for tenant in {req.tenant for req, _ in items}:
            self._register_tenant(tenant)
        return self._route_batch("assign", packed, now_ms)

    def restore(
        self,
        tenant: str,
        items: Sequence[tuple[Request, Mapping[str, Any], str, str | None, int]],
        now_ms: int,
    ) -> int:
        args: list[Any] = ["restore", len(items)]
        for req, ticket, state, agent, seq in items:
            _check_strategy(req)
            args += [req.ticket_id, *wire.pack_new_ticket(req, ticket), state, agent or "", seq]
        if not items:
            return 0
        self._register_tenant(tenant)
        raw = self._run(self._scripts.assign, tenant, now_ms, *args)
        return len(wire.unpack(raw))

    def reroute(
        self,
        requests: Sequence[Request],
        now_ms: int,
        tickets: Sequence[Mapping[str, Any] | None] | None = None,
        *,
        by: str | None = None,
        why: str = "",
    ) -> list[Decision]:
        if tickets is not None and len(tickets) != len(requests):
            raise ValueError("reroute: tickets must align with requests")
        for req in requests:
            _check_strategy(req)
        evs = tickets if tickets is not None else [None] * len(requests)
        packed: list[tuple[str, list[str | bytes]]] = [
            (req.tenant, [req.ticket_id, *wire.pack_reroute(req, ev)])
            for req, ev in zip(requests, evs, strict=True)
        ]
        return self._route_batch("reroute", packed, now_ms, (by or "", why if by else ""))

    def reopen(
        self,
        request: Request,
        ticket: Mapping[str, Any],
        now_ms: int,
        *,
        version: Version | None = None,
    ) -> list[Decision]:
        _check_strategy(request)
        args: list[str | bytes] = [
            request.ticket_id,
            *wire.pack_new_ticket(request, ticket),
            _version(version),
        ]
        packed = [(request.tenant, args)]
        return self._route_batch("reopen", packed, now_ms)

    # ---- lifecycle --------------------------------------------------------------------------
    def release(
        self,
        tenant: str,
        ticket_id: str,
        reason: str,
        now_ms: int,
        *,
        version: Version | None = None,
    ) -> list[Decision]:
        wraps = _flag(reason == RELEASE_RESOLVED)
        args = (ticket_id, reason, _version(version), wraps)
        return self._decisions(self._scripts.release, tenant, now_ms, *args)

    def accept(self, tenant: str, ticket_id: str, agent_id: str, now_ms: int) -> list[Decision]:
        return self._decisions(self._scripts.offer, tenant, now_ms, "accept", ticket_id, agent_id)

    def decline(
        self,
        tenant: str,
        ticket_id: str,
        agent_id: str,
        timeout: bool,
        request: Request,
        now_ms: int,
        *,
        why: str = "",
    ) -> list[Decision]:
        _check_strategy(request)
        packed = wire.pack_request(request)
        args = ("decline", ticket_id, agent_id, _flag(timeout), packed, why)
        return self._decisions(self._scripts.offer, tenant, now_ms, *args)

    def reassign(
        self,
        tenant: str,
        ticket_id: str,
        to_agent: str,
        supervisor: str,
        force: bool,
        now_ms: int,
        *,
        why: str = "",
    ) -> list[Decision]:
        unknown = reason_unknown_agent(to_agent)
        args = (ticket_id, to_agent, supervisor, _flag(force), unknown, why)
        return self._decisions(self._scripts.reassign, tenant, now_ms, *args)

    def set_paused(
        self,
        tenant: str,
        queue: str,
        paused: bool,
        now_ms: int,
        *,
        version: Version | None = None,
    ) -> list[Decision]:
        if not self._known_tenant(tenant):
            raise UnknownTenant(f"tenant {tenant!r} has no tickets and no agents")
        args = (queue, _flag(paused), _version(version))
        return self._decisions(self._scripts.pause, tenant, now_ms, *args)

    # ---- handover (lua/handover.lua) ---------------------------------------------------------
    def handover(
        self,
        tenant: str,
        agent_id: str,
        requests: Sequence[Request],
        cause: str,
        status: str,
        now_ms: int,
    ) -> list[Decision]:
        for req in requests:
            _check_strategy(req)
        args: list[Any] = ["move", agent_id, cause, status, len(requests)]
        for req in requests:
            args += [req.ticket_id, wire.pack_request(req)]
        return self._decisions(self._scripts.handover, tenant, now_ms, *args)

    def away_timers(self, tenant: str, timers: Sequence[tuple[str, int]], now_ms: int) -> None:
        if not timers or not self._known_tenant(tenant):
            return  # an unknown tenant has no agents, so no away timers
        args: list[Any] = ["timers", len(timers)]
        for member, due in timers:
            args += [member, str(int(due))]
        self._run(self._scripts.handover, tenant, now_ms, *args)

    # ---- reads ------------------------------------------------------------------------------
    def ticket(self, tenant: str, ticket_id: str) -> TicketRecord | None:
        key = keys.pool_key(self._prefix, tenant, "ticket", ticket_id)
        with translated("read ticket"):
            fields = self._client.hmget(key, wire.TICKET_RECORD_FIELDS)
        return wire.ticket_record(tenant, ticket_id, fields)

    def agents(self, tenant: str) -> list[AgentView]:
        return wire.agent_views(self._read(tenant, "agent_views"))

    def waiting(self, tenant: str, queue: str | None = None) -> list[WaitingEntry]:
        raw = self._read(tenant, "waiting_entries", queue or "", _flag(queue is None))
        return wire.waiting_entries(raw)

    def _read(self, tenant: str, *args: Any) -> Any:
        base = keys.pool_base(self._prefix, tenant)
        with translated(f"read pool {tenant!r}"):
            return self._scripts.read(
                keys=[keys.pool_key(self._prefix, tenant, "agents")],
                args=[base, "0", WAIT_SCAN_LIMIT, *args],
            )

    @property
    def state_key(self) -> str:
        return keys.state_key(self._prefix)

    def state_marked(self) -> bool:
        """Whether the state marker (``keys.state_key``) is there: Redis has not lost the
        dispatch state since it was marked."""
        with translated("read the state marker"):
            return bool(self._client.exists(keys.state_key(self._prefix)))

    def mark_state(self, by: str, now_ms: int) -> None:
        """Set the state marker: Redis holds (or, after a repair, again holds) the state."""
        with translated("set the state marker"):
            self._client.set(keys.state_key(self._prefix), f"{by} at {now_ms}")

    def tenants(self) -> list[str]:
        with translated("read tenants"):
            members = self._client.smembers(keys.tenants_key(self._prefix))
        return sorted(m.decode() for m in members)

    # ---- timers -----------------------------------------------------------------------------
    def claim_timers(self, tenant: str, now_ms: int, lease_ms: int, limit: int) -> list[Timer]:
        if limit <= 0:
            return []
        lease_end = now_ms + lease_ms
        raw = self._run(
            self._scripts.timers, tenant, now_ms, "claim", lease_end, limit, touch=False
        )
        return wire.timers(raw, tenant)

    def timer_done(self, timer: Timer) -> None:
        member, _, lease = timer.token.rpartition("@")
        self._run(self._scripts.timers, timer.tenant, 0, "done", member, lease, touch=False)

    # ---- due index --------------------------------------------------------------------------
    def due_pools(self, now_ms: int, limit: int) -> list[DuePool]:
        return self._due.pools(now_ms, limit)

    def reschedule(self, pools: Sequence[DuePool]) -> None:
        self._due.reschedule(pools)

    def sweep_due(self) -> int:
        return self._due.sweep(self.tenants())

    # ---- outbox -----------------------------------------------------------------------------
    def outbox_ack(self, tenant: str, published: Sequence[tuple[str, int, bool]]) -> list[Decision]:
        if not published:
            return []
        flat: list[Any] = []
        for tid, seq, duplicate in published:
            flat += [tid, str(int(seq)), _flag(duplicate)]
        raw = self._run(self._scripts.outbox, tenant, 0, "ack", *flat, touch=False)
        return wire.decisions(raw, tenant)

    def outbox_claim(self, tenant: str, now_ms: int, lease_ms: int, limit: int) -> list[Decision]:
        if limit <= 0:
            return []
        lease_end = now_ms + lease_ms
        raw = self._run(
            self._scripts.outbox, tenant, now_ms, "claim", lease_end, limit, touch=False
        )
        return wire.decisions(raw, tenant)
