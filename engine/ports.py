"""Ports: the small typed contracts between the dispatch service and its adapters.

Every port has an in-memory adapter (``engine.adapters.memory``) and a real one
(``engine.adapters.kafka`` / ``engine.adapters.redis``); the contract suite in
``tests/contract`` runs the same tests on both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from engine.core.model import Agent, Cooloff, Decision, Request
from engine.core.sla_track import Feedback, Observation

# Ticket states kept by an AgentStore.
WAITING = "waiting"
OFFERED = "offered"
ASSIGNED = "assigned"
CLOSED = "closed"
TICKET_STATES = (WAITING, OFFERED, ASSIGNED, CLOSED)

# Decision.reason texts every AgentStore writes (the Redis scripts get them generated).
REASON_NO_AGENT = "no eligible agent"  # queued: nobody eligible
REASON_PAUSED = "queue paused"  # queued: the queue is paused
REASON_OFFER_TIMEOUT = "offer timed out"  # released by a decline(timeout=True)
REASON_OFFER_REJECTED = "offer rejected"  # released by a decline(timeout=False)
REASON_DUPLICATE = "duplicate"  # the answer to a ticket the store already knows
REASON_NOT_OPEN = "ticket is not open"  # reassign refused: unknown or closed ticket
REASON_SAME_AGENT = "already with that agent"  # reassign refused
REASON_NO_SPARE = "target agent has no spare capacity (use force)"  # reassign refused
REASON_MOVED_FROM = "from "  # reassigned: followed by the previous agent's id
# Grab mode (engine.core.pull): the reason of a pooled ticket's queued decision, of refused
# claims (rejected decisions naming the claimer; REASON_NOT_OPEN for an unknown or closed
# ticket, REASON_PAUSED for a paused queue) and the step of a claimed ticket. The Lua prelude
# holds the GRAB_* texts in one table (layout.py: Lua's locals are few).
GRAB_POOLED = "pooled for a claim"
GRAB_CLAIMED = "already claimed"  # another agent holds it: the conflict of a second claim
GRAB_MAY_NOT_CLAIM = "may not claim: "  # followed by the eligibility (or claim_limit) code
GRAB_STEP_CLAIMED = "|claim"  # appended to the request's step when an agent claimed it


def reason_unknown_agent(agent_id: str) -> str:
    """The reason of a reassign refused because ``agent_id`` is not an agent of the pool."""
    return f"unknown agent {agent_id!r}"


# Decision.step texts a store writes (a request's own step is routing's).
STEP_ACCEPTED = "accepted"  # assigned: the agent accepted the offer
STEP_PULLED = "|pull"  # appended to the request's step when an agent pulled the ticket

# How many waiting tickets per queue a freed agent examines when it pulls work.
WAIT_SCAN_LIMIT = 100
# Timer kinds.
TIMER_ESCALATE = "esc"
TIMER_OFFER = "offer"
TIMER_AGENT = "hours"  # "hours||<agent>": its shift starts or ends, or its wrap-up ends
TIMER_HANDOVER = "away"  # "away|<queue>|<agent>": the agent has been away that queue's limit
# The release reason after which the agent wraps up (the queue's wrap_up_s).
RELEASE_RESOLVED = "resolved"
# A decision not acknowledged as published within this long is handed out again by
# ``AgentStore.outbox_claim`` (its publisher died between the store step and the produce).
OUTBOX_GRACE_MS = 10_000


class Clock(Protocol):
    """Current time in epoch milliseconds. Never goes backwards within one process."""

    def now_ms(self) -> int: ...


@dataclass(frozen=True, slots=True)
class TicketRecord:
    """What a store knows of one ticket."""

    ticket_id: str
    tenant: str
    state: str  # waiting | offered | assigned | closed
    queue: str
    channel: str
    agent: str | None
    ticket: Mapping[str, Any]  # the original ticket.created event (for re-routing)
    cooloff: Cooloff = ()  # agents that missed or rejected its offer, until when
    step: str = ""
    priority: int = 0
    last_agent: str | None = None  # who held it last (kept after release: reopen stickiness)
    latest: Decision | None = None  # its latest stamped decision (the one its outbox keeps)


@dataclass(frozen=True, slots=True)
class AgentView:
    """An agent with its derived load: ``open`` maps channel -> sorted open ticket ids."""

    agent: Agent
    open: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    misses: int = 0

    def load(self, channel: str) -> int:
        return len(self.open.get(channel, ()))


@dataclass(frozen=True, slots=True)
class WaitingEntry:
    ticket_id: str
    queue: str
    score: float
    priority: int
    ticket_ts: int


@dataclass(frozen=True, slots=True)
class Timer:
    """A claimed timer. ``token`` identifies this claim for :meth:`AgentStore.timer_done`."""

    tenant: str
    kind: str  # esc | offer
    ticket_id: str
    due_ms: int
    token: str
    agent: str = ""


@dataclass(frozen=True, slots=True, order=True)
class Version:
    """Where a state change sits in the log: the partition and offset of its record, and its
    producer time ``ts``. A change applies only when it is newer than the version stored
    with the entity (agent, queue, ticket lifecycle), so a late writer -- a zombie replica
    that lost its partitions, a redelivery -- can never roll state back.

    Newer: within one partition, a higher offset (the log's own order); across partitions
    (the topic was repartitioned), a later ``ts``, then a higher partition. Stores compare
    with exactly this rule (the Redis scripts parse :meth:`text`)."""

    partition: int
    offset: int
    ts: int

    def newer_than(self, other: Version | None) -> bool:
        if other is None:
            return True
        if self.partition == other.partition:
            return self.offset > other.offset
        if self.ts != other.ts:
            return self.ts > other.ts
        return self.partition > other.partition

    def text(self) -> str:
        return f"{self.partition},{self.offset},{self.ts}"

    @classmethod
    def parse(cls, text: str) -> Version:
        p, o, t = (int(x) for x in text.split(","))
        return cls(p, o, t)


@dataclass(frozen=True, slots=True)
class DuePool:
    """A pool with a timer or outbox entry due, from :meth:`AgentStore.due_pools`; ``token``
    lets :meth:`AgentStore.reschedule` notice changes made meanwhile."""

    tenant: str
    token: str = ""


class AgentStore(Protocol):
    """Agent state, open tickets, waiting queues and timers, per routing pool (tenant).

    Contract, shared by every implementation and checked by ``tests/contract``:

    * Each method is atomic: no other call observes a half-applied change.
    * Mutations are idempotent per ticket id: calling again with the same input after a
      success (a retry whose reply was lost, a redelivered event) changes nothing, and
      returns decisions marked ``duplicate=True`` or no decision at all.
    * Load is derived from each agent's set of open tickets per channel; it never drifts.
    * An agent never holds more open tickets on a channel than its capacity, except
      through ``reassign(force=True)``.
    * ``now_ms`` is always passed in; stores never read a clock.
    * Candidates examined for a request are the *available* agents of the pool that
      hold every required skill at some level; ``Decision.filtered`` counts, among them,
      the first failing rule (``engine.core.eligibility.first_reason``), and
      ``Decision.candidates`` the eligible ones. The winner is
      ``engine.core.strategies.choose``.
    * Whenever an agent may take more work (a release, a login, a status change to
      available, a capacity change, a declined offer), it pulls the waiting tickets it is
      eligible for, best ``(score, ticket_id)`` first, scanning at most
      ``WAIT_SCAN_LIMIT`` entries per queue, skipping paused queues and pooled tickets
      (``Request.pull``: grab mode, they wait for a :meth:`claim`). A pooled ticket is
      never given by routing either: it is ``queued`` with ``GRAB_POOLED``.
    """

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
        """Update an agent (fields among status, skills, regions, team, capacity,
        performance, schedule, shift_start_ms, shift_end_ms); returns the decisions of the
        work it then pulls. Status ``available`` resets the agent's missed-offer count and
        ends its wrap-up. The agent's timer (``TIMER_AGENT``) is set to the next future one of
        its shift start, shift end and wrap-up end, or removed when there is none.

        An unknown agent is created only with ``create`` (``agent.login``), else
        ``engine.errors.UnknownAgent`` is raised and nothing changes. With ``version``, the
        change applies only if newer than the agent's stored version (else ``[]``, nothing
        changes); the version is stored with it."""
        ...

    def assign(
        self, items: Sequence[tuple[Request, Mapping[str, Any]]], now_ms: int
    ) -> list[Decision]:
        """Route new tickets ``(request, ticket event)`` in order, in one atomic step.

        Unknown ticket → ``assigned``/``offered`` to the strategy's winner, or ``queued``.
        A ticket the store already knows → a ``duplicate=True`` decision with its state.
        Offers schedule an offer timer at ``now_ms + offer_timeout_ms``; queued tickets
        with ``wake_ms`` schedule an escalation timer.
        """
        ...

    def reroute(
        self,
        requests: Sequence[Request],
        now_ms: int,
        tickets: Sequence[Mapping[str, Any] | None] | None = None,
        *,
        by: str | None = None,
        why: str = "",
    ) -> list[Decision]:
        """Replace the request of tickets that are still waiting (escalation, queue move,
        priority raise) and try to assign them. Tickets not waiting are ignored. Returns
        ``assigned``/``offered``, or ``escalated`` when the step changed.

        ``tickets``, aligned with ``requests``: a new ticket event to store with the request
        (a supervisor's queue move or priority raise, so later re-routes keep it), or
        ``None`` to keep the stored one. ``by``/``why``: who asked and why (a command),
        recorded in the decisions as ``supervisor`` and ``why``."""
        ...

    def reopen(
        self,
        request: Request,
        ticket: Mapping[str, Any],
        now_ms: int,
        *,
        version: Version | None = None,
    ) -> list[Decision]:
        """Route a closed ticket again (reopened). Ignored unless it is closed, and unless
        ``version`` is newer than the ticket's last lifecycle version (a stale reopen)."""
        ...

    def restore(
        self,
        tenant: str,
        items: Sequence[tuple[Request, Mapping[str, Any], str, str | None, int]],
        now_ms: int,
    ) -> int:
        """Recreate tickets the store lost, as decided: ``(request, ticket event, state,
        agent, seq)`` with state waiting, offered or assigned (``dispatch reconcile
        --repair``). Known tickets are left alone; nothing is pulled; no decisions. Returns
        how many were restored."""
        ...

    def release(
        self,
        tenant: str,
        ticket_id: str,
        reason: str,
        now_ms: int,
        *,
        version: Version | None = None,
    ) -> list[Decision]:
        """The ticket leaves (resolved/closed/cancelled): frees its agent or leaves the
        waiting queue, then the freed agent pulls work. An assigned ticket released with
        ``RELEASE_RESOLVED`` and a request ``wrap_up_ms`` puts its agent in wrap-up until
        ``now_ms + wrap_up_ms`` (no new work; its timer falls due then). Closed, or ``version``
        not newer
        than the ticket's last lifecycle version → ``[]``. Unknown →
        ``engine.errors.UnknownTicket``."""
        ...

    def accept(self, tenant: str, ticket_id: str, agent_id: str, now_ms: int) -> list[Decision]:
        """An offer accepted: ``offered`` to ``agent_id`` becomes ``assigned``; otherwise
        ``[]``. Unknown ticket → ``engine.errors.UnknownTicket``."""
        ...

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
        """An offer rejected (or timed out when ``timeout``): only if the ticket is still
        offered to ``agent_id``, free the agent (a time-out counts a miss; ``max_misses``
        in a row set it ``away``), let it cool off for the ticket until ``now_ms +
        request.reoffer_ms`` (the ticket's cool-offs merged with the request's, expired ones
        dropped) and route ``request``. ``why`` (the agent's reason) is the released
        decision's ``why``. A ticket left waiting wakes (an escalation timer) when its
        earliest cool-off ends, so a free agent gets it again."""
        ...

    def claim(
        self, tenant: str, agent_id: str, now_ms: int, ticket_id: str | None = None
    ) -> list[Decision]:
        """Agent grab (``engine.core.pull``). Without ``ticket_id``: the agent takes the best
        ``(score, ticket_id)`` waiting ticket it may claim (``pull.claim_reason``: eligibility
        plus the queue's claim limit), scanning at most ``WAIT_SCAN_LIMIT`` entries per
        unpaused queue, pooled tickets included; nothing claimable → ``[]``. With
        ``ticket_id``: that ticket, atomically -- first claim wins. Refusals are one
        ``rejected`` decision naming the agent, changing nothing: unknown or closed ticket
        ``REASON_NOT_OPEN``; held by another agent ``GRAB_CLAIMED`` (the conflict);
        paused queue ``REASON_PAUSED``; not eligible ``GRAB_MAY_NOT_CLAIM + code``. A
        ticket already with the agent → ``[]``. A claimed ticket is ``assigned`` (never
        offered: the agent chose it) with step ``+ GRAB_STEP_CLAIMED``.
        Unknown agent → ``engine.errors.UnknownAgent``."""
        ...

    def pool(self, tenant: str, agent_id: str, now_ms: int, limit: int) -> list[WaitingEntry]:
        """The pooled (``Request.pull``) tickets the agent may claim now, best ``(score,
        ticket_id)`` first, at most ``limit``; at most ``WAIT_SCAN_LIMIT`` entries examined per
        unpaused queue. Reads only. Unknown agent → ``engine.errors.UnknownAgent``."""
        ...

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
        """Supervisor move. Without ``force`` the target needs spare capacity on the
        channel; ``force`` is the only way past capacity. Unknown target or closed ticket
        → a ``rejected`` decision with the reason. The decision records ``supervisor`` and
        ``why`` (the command's reason)."""
        ...

    def set_paused(
        self,
        tenant: str,
        queue: str,
        paused: bool,
        now_ms: int,
        *,
        version: Version | None = None,
    ) -> list[Decision]:
        """Pause (hold waiting tickets) or resume (drain them) a queue; with ``version``,
        only if newer than the queue's stored version. Unknown tenant →
        ``engine.errors.UnknownTenant`` (only tickets and logins create a pool)."""
        ...

    def handover(
        self,
        tenant: str,
        agent_id: str,
        requests: Sequence[Request],
        cause: str,
        status: str,
        now_ms: int,
    ) -> list[Decision]:
        """Handover (``engine.core.handover``): only while the agent's status is ``status``
        (an unknown agent, or one back since, keeps everything: ``[]``), each ticket of
        ``requests``, in that order, that is still offered to or assigned to ``agent_id`` is
        taken off it (its load drops by one; its offer timer goes) with a ``handed_over``
        decision (``agent`` the agent, ``reason`` the ``cause``), then placed with its request
        (cool-offs kept) as ``assign`` places a ticket: ``assigned``/``offered`` to the
        strategy's winner, or ``queued`` by its score. Others are ignored, so a re-run
        changes nothing."""
        ...

    def away_timers(self, tenant: str, timers: Sequence[tuple[str, int]], now_ms: int) -> None:
        """Set timers ``(member, due_ms)`` (``TIMER_HANDOVER`` members); due 0 removes one.
        An unknown tenant has none."""
        ...

    def ticket(self, tenant: str, ticket_id: str) -> TicketRecord | None: ...

    def agents(self, tenant: str) -> list[AgentView]:
        """Every agent of the pool, sorted by id."""
        ...

    def waiting(self, tenant: str, queue: str | None = None) -> list[WaitingEntry]:
        """Waiting tickets in service order (per queue when ``queue`` is given)."""
        ...

    def tenants(self) -> list[str]:
        """Every pool: tenants with a ticket or an agent that logged in. Reads and stray
        events never create one."""
        ...

    # Due index. Per-loop work follows the pools that have something due, not every pool
    # ever seen: the store indexes each pool's earliest timer or outbox entry.
    def due_pools(self, now_ms: int, limit: int) -> list[DuePool]:
        """Pools with a timer or outbox entry due at ``now_ms`` (at most ``limit``), after
        indexing the pools this store changed since the last call."""
        ...

    def reschedule(self, pools: Sequence[DuePool]) -> None:
        """After firing what was due: index each pool's next due time, unless the pool
        changed since :meth:`due_pools` handed it out (its next call will index it)."""
        ...

    def sweep_due(self) -> int:
        """Index every pool's next due time (repairs what a crashed replica did not index);
        returns how many pools have something pending."""
        ...

    def claim_timers(self, tenant: str, now_ms: int, lease_ms: int, limit: int) -> list[Timer]:
        """Claim due timers for ``lease_ms``; a claim not marked done is claimable again
        after the lease (its holder died)."""
        ...

    def timer_done(self, timer: Timer) -> None:
        """Remove a claimed timer unless it was re-scheduled (or removed, or claimed again)
        since the claim. Each claim has its own token: a re-schedule at exactly the claim's
        lease end is still a re-schedule."""
        ...

    # Outbox. Every non-duplicate decision about a known ticket increments the ticket's
    # ``seq`` and carries it (duplicates carry the current one); the latest such decision
    # of each ticket waits in the pool's outbox until acknowledged as published, so a
    # publisher that dies between the store step and the produce loses no decision.
    def outbox_ack(self, tenant: str, published: Sequence[tuple[str, int, bool]]) -> list[Decision]:
        """``(ticket_id, seq, duplicate)`` of decisions now on the log: a non-duplicate that
        is still its ticket's latest leaves the outbox. Returns, for every ticket whose
        latest decision is newer than the one published, that latest decision: the caller
        publishes it too, so the last record of a ticket on the log is its newest."""
        ...

    def outbox_claim(self, tenant: str, now_ms: int, lease_ms: int, limit: int) -> list[Decision]:
        """Decisions unacknowledged for ``OUTBOX_GRACE_MS``, leased for ``lease_ms``, to
        publish again (with their original ``seq``; consumers keep the highest)."""
        ...


class EventLog(Protocol):
    """A partitioned, ordered log with consumer groups (Kafka or in-memory).

    ``send`` is asynchronous; ``flush`` blocks until every sent record is acknowledged.
    Consumers commit only offsets of records fully processed.
    """

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """Queue one record; ``topic`` is the full topic name. Raises on a fatal error."""
        ...

    def flush(self) -> None:
        """Block until every record sent so far is acknowledged (raise if any failed)."""
        ...


class Publisher(Protocol):
    """Writes that are answered only once the log holds them (the HTTP gateway's 202)."""

    def publish(self, records: Sequence[tuple[str, bytes, bytes]], timeout_s: float) -> None:
        """Send ``(topic, key, value)`` records and block until the log acknowledged every
        one. Raises ``engine.errors.LogUnavailable`` when that does not happen within
        ``timeout_s`` (some may have been written: callers keep writes idempotent) and
        ``LogError`` for a refusal."""
        ...


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


class Consumer(Protocol):
    """One member of a consumer group."""

    def poll(self, max_records: int, timeout_ms: int) -> list[Record]: ...

    def commit(self) -> None:
        """Commit the positions after every record returned by ``poll`` so far."""
        ...

    def owns(self, topic: str, partition: int) -> bool:
        """Whether this member still holds the partition (False once it was revoked or the
        member lost its membership, e.g. evicted while it was stopped)."""
        ...

    def close(self) -> None: ...


class TrackedConsumer(Protocol):
    """A consumer-group member that also reports its lag and topic sizes (the SLA tracker's
    event-time watermark needs both)."""

    def poll(self, max_records: int, timeout_ms: int) -> list[Record]: ...

    def commit(self) -> None: ...

    def lag(self) -> dict[tuple[str, int], int]: ...

    def partitions_for(self, topic: str) -> int: ...


class Observer:
    """The lifecycle hooks both pipelines report to; metrics (and tests) observe them.

    One interface for the dispatcher and the SLA tracker: each pipeline calls the hooks
    that concern it, after the work they describe is durable (stored, flushed), and every
    hook does nothing here, so an observer overrides only what it counts. Hooks must not
    raise and must not block: they run inside the processing loop.
    """

    def on_records(self, n: int) -> None:
        """``n`` input records were processed (decided or skipped, results flushed)."""

    def on_rejected(self, reason: str) -> None:
        """One input record was refused: dead-lettered by the dispatcher, skipped by the SLA
        tracker. ``reason`` is a stable code (``codec.DECODE_REASONS`` and the like)."""

    def on_decisions(self, decisions: Sequence[Decision], latency_s: float) -> None:
        """Decisions were published; ``latency_s`` is the time the store step took."""

    def on_notification(self, event: Mapping[str, Any]) -> None:
        """A ``notification.sent`` event was published (an executed ``command.notify``)."""

    def on_observation(self, observation: Observation) -> None:
        """An SLA tracker measurement (first response, resolution, CSAT, ...), made once."""

    def on_sla_event(self, policy: str, target: str, kind: str, first: bool) -> None:
        """An SLA event was published; ``first`` unless it was published before (a retry
        after a crash republishes the same event id)."""

    def on_escalation(self, policy: str, action: str) -> None:
        """An escalation command was published with its SLA event's first publication."""

    def on_agent_updates(self, n: int) -> None:
        """``n`` ``agent.update`` events carrying a new performance score were published."""

    def on_watermark(self, lag_s: float) -> None:
        """The SLA tracker's event-time watermark trails the wall clock by ``lag_s``."""

    def on_deadlines(self, n: int) -> None:
        """Tickets with an SLA outcome or observation pending (shared state, all tenants)."""


# ---- SLA tracker state -----------------------------------------------------------------

Key = tuple[str, str]  # (tenant, ticket id)
Message = tuple[str, str, bytes]  # (logical topic, key, value)


class Settle(NamedTuple):
    """One ticket's settle step: ``marks`` to set (observations), outcomes to ``reserve``
    as ``(event id, final key or None, payload)``, the next ``due_ms`` (None: nothing
    pending) and ``recheck_ms``, when to look again if something stays unpublished."""

    key: Key
    marks: Sequence[str]
    reserve: Sequence[tuple[str, str | None, bytes]]
    due_ms: int | None
    recheck_ms: int


class Settled(NamedTuple):
    """``new_marks``: the marks this call set (make those observations); ``unsent``:
    every reserved, unpublished ``(event id, payload)`` of the ticket."""

    new_marks: list[str]
    unsent: list[tuple[str, bytes]]


class AgentStats(NamedTuple):
    csat: float | None  # moving average rating 1..5
    handle_s: float | None  # moving average handle time
    published: float | None  # performance last published


class SlaStore(Protocol):
    """Where SLA state lives (Redis in production, a dict for the demo and tests)."""

    def apply(self, facts: Mapping[Key, Mapping[str, bytes]]) -> dict[Key, dict[str, bytes]]:
        """Add every field that is not present yet; return each ticket's fields after."""
        ...

    def load(self, keys: Sequence[Key]) -> dict[Key, dict[str, bytes]]: ...

    def settle(self, items: Sequence[Settle]) -> list[Settled]:
        """Per ticket, atomically: set the marks, reserve outcomes (skipping an event id
        already reserved and a final key already taken), reschedule and release the lease."""
        ...

    def mark_sent(self, sent: Mapping[Key, Sequence[str]]) -> list[tuple[Key, str]]:
        """Record event ids as published; returns the ones not recorded before."""
        ...

    def claim_due(self, wm_ms: int, now_ms: int, lease_ms: int, limit: int) -> list[Key]:
        """Tickets due at or before ``wm_ms`` not leased by another replica, leased now."""
        ...

    def deadlines(self) -> int:
        """Tickets with something pending (all tenants)."""
        ...

    def advance_watermarks(self, marks: Mapping[str, int]) -> None:
        """Raise each partition's watermark (``topic:partition``); never lowers one."""
        ...

    def watermarks(self) -> dict[str, int]: ...

    def agent_feedback(self, items: Sequence[Feedback], alpha: float) -> list[AgentStats]:
        """Fold each rating and/or handle time, in order, into its agent's moving averages;
        the agent's stats after each fold."""
        ...

    def set_published(self, performance: Mapping[tuple[str, str], float]) -> None:
        """Record ``(tenant, agent) -> performance`` as published."""
        ...


# ---- gateway tokens --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A bearer token's identity, as stored (never the token itself, only its SHA-256).

    ``token_id`` is public (lists, revocation); ``tenant`` is ``*`` for an admin token;
    ``agent`` is set for an ``agent`` token (the only agent it speaks for)."""

    token_id: str
    tenant: str
    role: str
    agent: str | None = None
    name: str = ""
    created_ms: int = 0
    revoked_ms: int | None = None


class TokenStore(Protocol):
    """Bearer tokens by their SHA-256 digest. Idempotent writes; reads never cached by the
    store, so a revocation takes effect at the next request."""

    def add(self, digest: str, info: TokenInfo) -> None: ...

    def find(self, digest: str) -> TokenInfo | None:
        """The token with this digest (revoked ones included: check ``revoked_ms``)."""
        ...

    def all(self) -> list[TokenInfo]:
        """Every token, revoked ones included, oldest first."""
        ...

    def revoke(self, token_id: str, now_ms: int) -> bool:
        """Revoke the token with this public id; False if there is none (or it already was)."""
        ...
