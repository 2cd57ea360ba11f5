"""The dispatch service: applies decoded events to an AgentStore under a routing policy.

Transport-agnostic and clock-free (``now_ms`` is passed in): the same class serves the
embedded demo (in-memory adapters), the simulator and ``dispatch run dispatcher``
(Kafka + Redis). Consecutive ``ticket.created`` events are routed in one store call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from engine import codec
from engine.core import model as m
from engine.core.calendar import shift_window
from engine.core.model import Decision, Request, Ticket
from engine.core.policy import Policy
from engine.core.routing import route
from engine.dispatch import faults, handover
from engine.errors import Unavailable, UnknownEntity, UnknownTicket
from engine.logs import get_logger
from engine.ports import (
    RELEASE_RESOLVED,
    TIMER_AGENT,
    TIMER_ESCALATE,
    TIMER_HANDOVER,
    TIMER_OFFER,
    WAITING,
    AgentStore,
    TicketRecord,
    Timer,
    Version,
)

log = get_logger(__name__)

RELEASE_TYPES = {
    "ticket.resolved": RELEASE_RESOLVED,
    "ticket.closed": "closed",
    "ticket.cancelled": "cancelled",
}
AGENT_STATUS_ON = {"agent.login": "available", "agent.logout": "offline"}
AGENT_FIELDS = ("status", "skills", "regions", "team", "capacity", "performance")
TIMER_LEASE_MS = 30_000
OUTBOX_LEASE_MS = 30_000
TIMER_BATCH = 500
DUE_POOLS_PER_TICK = 200
SWEEP_INTERVAL_MS = 30_000
NOTIFICATION_SENT = "notification.sent"
UNKNOWN_STATE = "unknown"
# command.notify fields copied into notification.sent when present.
NOTIFY_FIELDS = ("supervisor", "reason", "target", "kind", "policy", "event_id")


class Notification(NamedTuple):
    """An executed ``command.notify``: the ``notification.sent`` event, its record key and
    bytes."""

    key: bytes
    event: Mapping[str, Any]
    value: bytes


class Refused(NamedTuple):
    """An event :meth:`DispatchService.process` refused: its position in the input, a stable
    reason (``unknown_ticket``, ``unknown_agent``, ``unknown_tenant``) and a detail."""

    position: int
    reason: str
    detail: str


class Outcome(NamedTuple):
    decisions: list[Decision]
    refused: list[Refused]


def agent_hours(policy: Policy, schedule: str, now_ms: int) -> dict[str, Any]:
    """An agent's ``schedule`` and its current or next shift at ``now_ms`` (the policy's
    calendar of that name), as agent fields; no calendar of that name (or ``""``): no hours,
    always on shift."""
    cal = policy.calendars.get(schedule) if schedule else None
    if schedule and cal is None:
        log.warning("agent schedule %r names no calendar of the policy: no hours", schedule)
    start, end = shift_window(cal, now_ms) if cal is not None else (0, 0)
    return {"schedule": schedule, "shift_start_ms": start, "shift_end_ms": end}


def _version(ev: Mapping[str, Any]) -> Version | None:
    """The version of the state change ``ev`` carries: its record's position, if known."""
    origin = getattr(ev, "origin", None)
    if origin is None:
        return None
    return Version(origin[0], origin[1], int(ev["ts"]))


class DispatchService:
    """Routes tickets and applies agent, lifecycle and command events."""

    def __init__(self, store: AgentStore, policy: Policy) -> None:
        self.store = store
        self.policy = policy
        self.failed_timers = 0
        self._next_sweep_ms = 0  # the first tick indexes every pool

    def handle(self, events: Sequence[Mapping[str, Any]], now_ms: int) -> list[Decision]:
        """Apply validated events in order; returns every decision, in order (events naming
        an unknown ticket, agent or tenant are dropped: :meth:`process` reports them)."""
        return self.process(events, now_ms).decisions

    def process(self, events: Sequence[Mapping[str, Any]], now_ms: int) -> Outcome:
        """Apply validated events in order: every decision, in order, and the events refused
        because they name something the store does not know (a lifecycle event or command
        for an unknown ticket, an agent that never logged in, a tenant with nothing).

        State changes carry their record's position (``codec.Event.origin``) as a version,
        so a late write (a zombie replica's, a redelivery's) never rolls state back."""
        out: list[Decision] = []
        refused: list[Refused] = []
        batch: list[tuple[Request, Mapping[str, Any]]] = []
        for i, ev in enumerate(events):
            if ev["type"] == "ticket.created":
                req, d = self._route_new(ev, now_ms)
                if req is not None:
                    batch.append((req, ev))
                elif d is not None:
                    out.append(d)
                continue
            if batch:
                out += self.store.assign(batch, now_ms)
                batch = []
                faults.fault_point(faults.MID_BATCH)  # test-only: part of the batch stored
            try:
                out += self._apply(ev, now_ms)
            except UnknownEntity as exc:
                refused.append(Refused(i, exc.reason, str(exc)))
            if i + 1 < len(events):
                faults.fault_point(faults.MID_BATCH)  # test-only: the rest not applied
        if batch:
            out += self.store.assign(batch, now_ms)
        return Outcome(out, refused)

    def _route_new(
        self, ev: Mapping[str, Any], now_ms: int
    ) -> tuple[Request | None, Decision | None]:
        ticket = Ticket.from_event(ev)
        r = route(ticket, self.policy, now_ms)
        if r.request is not None:
            return r.request, None
        if self.store.ticket(ticket.tenant, ticket.id) is not None:
            return None, None  # already routed (a redelivery under a changed policy)
        d = Decision(
            kind=m.UNASSIGNABLE,
            ticket_id=ticket.id,
            tenant=ticket.tenant,
            ts=now_ms,
            queue="",
            channel=ticket.channel,
            priority=ticket.priority,
            ticket_ts=ticket.ts,
            reason=r.reason,
        )
        return None, d

    def _apply(self, ev: Mapping[str, Any], now_ms: int) -> list[Decision]:
        typ, tenant, oid = ev["type"], ev.get("tenant", "default"), ev["id"]
        s = self.store
        version = _version(ev)
        if typ.startswith("agent."):
            fields = {k: ev[k] for k in AGENT_FIELDS if k in ev}
            if typ in AGENT_STATUS_ON:
                fields.setdefault("status", AGENT_STATUS_ON[typ])
                if typ == "agent.logout":
                    fields["status"] = "offline"
            if "schedule" in ev:
                fields.update(self._hours(ev.get("schedule") or "", now_ms))
            login = typ == "agent.login"
            out = s.update_agent(tenant, oid, fields, now_ms, create=login, version=version)
            status = fields.get("status")
            return out + handover.after_agent(s, self.policy, tenant, oid, status, now_ms)
        if typ in RELEASE_TYPES:
            return s.release(tenant, oid, RELEASE_TYPES[typ], now_ms, version=version)
        if typ == "ticket.accepted":
            rec = self._known(tenant, oid)
            agent = ev.get("agent") or rec.agent
            return s.accept(tenant, oid, agent, now_ms) if agent else []
        if typ == "ticket.rejected":
            self._known(tenant, oid)
            why = ev.get("reason") or ""
            return self._decline(tenant, oid, ev.get("agent"), False, now_ms, why=why)
        if typ == "ticket.reopened":
            return self._reopen(tenant, oid, now_ms, version)
        if typ in ("command.reassign", "command.force_assign"):
            force = typ == "command.force_assign"
            who, why = ev.get("supervisor", ""), ev.get("reason", "")
            return s.reassign(tenant, oid, ev["to_agent"], who, force, now_ms, why=why)
        if typ in ("command.pause_queue", "command.resume_queue"):
            pause = typ == "command.pause_queue"
            out = s.set_paused(tenant, oid, pause, now_ms, version=version)
            return handover.queue_decisions(out, ev, self.policy.revision)
        if typ == "command.claim":
            return s.claim(tenant, oid, now_ms, ev.get("ticket") or None)
        if typ in ("command.raise_priority", "command.move_queue"):
            return self._move(ev, tenant, oid, now_ms)
        return []  # first_response, rated, ...: the SLA tracker's business

    def _hours(self, schedule: str, now_ms: int) -> dict[str, Any]:
        return agent_hours(self.policy, schedule, now_ms)

    def _agent_due(
        self, tenant: str, agent_id: str, now_ms: int, views: dict[str, Any]
    ) -> list[Decision]:
        """An agent's timer: its shift started or ended, or its wrap-up ended. Its next shift
        is computed again from its schedule; the store re-sets the timer and it pulls work."""
        view = views.get(agent_id)
        if view is None:
            return []
        schedule = view.agent.schedule
        fields = self._hours(schedule, now_ms) if schedule else {}
        return self.store.update_agent(tenant, agent_id, fields, now_ms, create=False)

    def _decline(
        self,
        tenant: str,
        tid: str,
        agent: str | None,
        timeout: bool,
        now_ms: int,
        *,
        why: str = "",
    ) -> list[Decision]:
        rec = self.store.ticket(tenant, tid)
        agent = agent or (rec.agent if rec else None)
        if rec is None or agent is None or rec.agent != agent:
            return []
        # The store adds the agent's cool-off (until now + the request's reoffer_ms).
        r = route(Ticket.from_event(rec.ticket), self.policy, now_ms, cooloff=rec.cooloff)
        if r.request is None:
            return []
        return self.store.decline(tenant, tid, agent, timeout, r.request, now_ms, why=why)

    def _known(self, tenant: str, tid: str) -> TicketRecord:
        rec = self.store.ticket(tenant, tid)
        if rec is None:
            raise UnknownTicket(f"ticket {tid!r} of tenant {tenant!r} is not known")
        return rec

    def _reopen(
        self, tenant: str, tid: str, now_ms: int, version: Version | None
    ) -> list[Decision]:
        rec = self._known(tenant, tid)
        ticket = dict(rec.ticket)
        if rec.last_agent:
            ticket["preferred_agent"] = rec.last_agent
        # A reopened ticket's clock restarts: routing steps are measured from now.
        ticket["ts"] = now_ms
        r = route(Ticket.from_event(ticket), self.policy, now_ms)
        if r.request is None:
            return []
        return self.store.reopen(r.request, ticket, now_ms, version=version)

    def _move(self, ev: Mapping[str, Any], tenant: str, tid: str, now_ms: int) -> list[Decision]:
        """``command.move_queue`` / ``command.raise_priority`` (supervisors, SLA escalation).

        The override is written into the stored ticket event (its ``queue`` / ``priority``)
        together with the new request, so every later re-route from ``rec.ticket`` (the next
        escalation step, a declined offer, a reopen) keeps it. An unknown queue changes
        nothing. Only a *waiting* ticket moves: an offered or assigned one stays with its
        agent and the command is ignored (no decision would record a change of its event).
        """
        rec = self._known(tenant, tid)
        revision = self.policy.revision
        if rec.state != WAITING:
            return [handover.refused_move(ev, rec, handover.REASON_NOT_WAITING, now_ms, revision)]
        ticket = dict(rec.ticket)
        if ev.get("queue"):
            ticket["queue"] = ev["queue"]
        if ev.get("priority") is not None:
            ticket["priority"] = int(ev["priority"])
        r = route(
            Ticket.from_event(ticket),
            self.policy,
            now_ms,
            queue_name=ev.get("queue") or None,  # explicit: an unknown queue is no match
            cooloff=rec.cooloff,
        )
        if r.request is None:
            return [handover.refused_move(ev, rec, handover.REASON_NO_QUEUE, now_ms, revision)]
        who, why = ev.get("supervisor") or "", ev.get("reason") or ""
        out = self.store.reroute([r.request], now_ms, [ticket], by=who or None, why=why)
        return out or [handover.refused_move(ev, rec, handover.REASON_NO_CHANGE, now_ms, revision)]

    def notification(self, cmd: Mapping[str, Any], now_ms: int) -> Notification:
        """Execute a ``command.notify``: the ``notification.sent`` event telling its
        recipients about the ticket (queue, state, agent and priority as the store has them,
        the command's SLA context), with its encoded bytes for the notifications topic.

        Reads the store and writes nothing, so a retried batch notifies again (at least
        once: notifiers deduplicate on ``event_id``). Raises ``codec.DecodeError`` when the
        event would not validate (the command is then dead-lettered)."""
        tenant, tid = cmd["tenant"], cmd["id"]
        rec = self.store.ticket(tenant, tid)
        note: dict[str, Any] = {
            "v": codec.SCHEMA_VERSION,
            "type": NOTIFICATION_SENT,
            "id": tid,
            "tenant": tenant,
            "ts": now_ms,
            "notify": list(cmd["notify"]),
            "queue": rec.queue if rec is not None else "",
            "state": rec.state if rec is not None else UNKNOWN_STATE,
            "agent": rec.agent if rec is not None else None,
        }
        if rec is not None and rec.priority > 0:
            note["priority"] = rec.priority
        note.update({k: cmd[k] for k in NOTIFY_FIELDS if k in cmd})
        return Notification(codec.record_key(tenant, tid), note, codec.encode_valid(note))

    def acknowledge(self, published: Sequence[Decision]) -> list[Decision]:
        """Decisions now on the log (flushed): the store's outbox drops each one that is
        still its ticket's latest, so no replica publishes it again. Returns the latest
        decision of every ticket that moved past what was published (another replica
        decided since): publish those too, so each ticket's last record is its newest."""
        last: dict[tuple[str, str], tuple[int, bool]] = {}  # highest seq, all duplicates?
        for d in published:
            if not d.seq:
                continue  # rejected commands and the like: not versioned, never in the outbox
            key = (d.tenant, d.ticket_id)
            seq, duplicate = last.get(key, (-1, True))
            if d.seq > seq:
                last[key] = (d.seq, d.duplicate)
            elif d.seq == seq:
                last[key] = (seq, duplicate and d.duplicate)
        by_tenant: dict[str, list[tuple[str, int, bool]]] = {}
        for (tenant, tid), (seq, duplicate) in last.items():
            by_tenant.setdefault(tenant, []).append((tid, seq, duplicate))
        newer: list[Decision] = []
        for tenant, items in by_tenant.items():
            newer += self.store.outbox_ack(tenant, items)
        return newer

    def tick(self, now_ms: int, limit: int = TIMER_BATCH) -> list[Decision]:
        """Fire due timers (escalation steps, offer time-outs) and hand back decisions whose
        publisher died before publishing them (the outbox), of the pools that have something
        due (the store's due index: the work follows due pools, not every pool ever seen;
        every ``SWEEP_INTERVAL_MS`` every pool is indexed again, which repairs what a crashed
        replica left unindexed).

        A timer whose ticket cannot be routed any more (its stored event fails routing, a
        script rejects it) is logged, counted in ``failed_timers`` and dropped: one bad
        ticket never stops the timers of the others. Outages propagate."""
        out: list[Decision] = []
        if now_ms >= self._next_sweep_ms or now_ms < self._next_sweep_ms - SWEEP_INTERVAL_MS:
            self.store.sweep_due()
            self._next_sweep_ms = now_ms + SWEEP_INTERVAL_MS
        pools = self.store.due_pools(now_ms, DUE_POOLS_PER_TICK)
        for pool in pools:
            tenant = pool.tenant
            out += self.store.outbox_claim(tenant, now_ms, OUTBOX_LEASE_MS, limit)
            timers = self.store.claim_timers(tenant, now_ms, TIMER_LEASE_MS, limit)
            out += self._fire(tenant, timers, now_ms)
        self.store.reschedule(pools)
        return out

    def _fire(self, tenant: str, timers: Sequence[Timer], now_ms: int) -> list[Decision]:
        out: list[Decision] = []
        reroutes: list[Request] = []
        views: dict[str, Any] | None = None  # the pool's agents, read once if needed
        for t in timers:
            try:
                if t.kind == TIMER_AGENT:
                    if views is None:
                        views = {v.agent.id: v for v in self.store.agents(tenant)}
                    out += self._agent_due(tenant, t.agent, now_ms, views)
                elif t.kind == TIMER_HANDOVER:
                    out += handover.away_due(
                        self.store, self.policy, tenant, t.agent, t.ticket_id, now_ms
                    )
                elif t.kind == TIMER_OFFER:
                    out += self._decline(tenant, t.ticket_id, t.agent, True, now_ms)
                elif t.kind == TIMER_ESCALATE:
                    rec = self.store.ticket(tenant, t.ticket_id)
                    if rec is not None and rec.state == WAITING:
                        ticket = Ticket.from_event(rec.ticket)
                        r = route(ticket, self.policy, now_ms, cooloff=rec.cooloff)
                        if r.request is not None:
                            reroutes.append(r.request)
            except Unavailable:
                raise
            except Exception as exc:
                self._timer_failed(t, exc)
        if reroutes:
            try:
                out += self.store.reroute(reroutes, now_ms)
            except Unavailable:
                raise
            except Exception:  # one of them: find it, keep the others
                for req in reroutes:
                    try:
                        out += self.store.reroute([req], now_ms)
                    except Unavailable:
                        raise
                    except Exception as exc:
                        self._timer_failed(req.ticket_id, exc)
        for t in timers:
            self.store.timer_done(t)
        return out

    def _timer_failed(self, what: Timer | str, exc: Exception) -> None:
        self.failed_timers += 1
        log.warning("dropping a timer that cannot fire (%s): %r", what, exc)
