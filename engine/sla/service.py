"""The SLA tracker service: ticket events in, SLA events, escalation commands and agent
performance updates out. Transport-agnostic and clock-free like the dispatch service.

Per batch: store the facts the events carry (:meth:`SlaTracker.handle`) or load the tickets
whose deadline came (:meth:`SlaTracker.tick`), evaluate each ticket at the event-time
watermark (:func:`engine.core.sla_track.evaluate`), reserve the outcomes and marks in the
store, and hand back every reserved but unpublished message. After the messages are
flushed, :meth:`SlaTracker.published` records them, so a crash in between republishes the
same bytes (same event id) rather than losing or changing an outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from engine import codec
from engine.core.model import Ticket
from engine.core.policy import Policy
from engine.core.routing import match_queue
from engine.core.sla_track import (
    ASSIGNING_DECISIONS,
    Feedback,
    Observation,
    TicketMeta,
    clock_kind,
    evaluate,
    performance,
)
from engine.logs import get_logger
from engine.ports import Key, Message, Settle, SlaStore
from engine.sla.state import (
    assignment_field,
    decode_state,
    event_field,
    labels_of,
    meta_field,
    pack_messages,
    rating_field,
    rating_value,
    unpack_messages,
)

log = get_logger(__name__)

LEASE_MS = 30_000
DUE_BATCH = 500
EWMA_ALPHA = 0.2
REFERENCE_HANDLE_S = 600.0
PERFORMANCE_STEP = 0.01  # publish a new performance when it moved at least this much


@dataclass
class SlaBatch:
    """What one step produced: ``messages`` to publish, then :meth:`SlaTracker.published`."""

    messages: list[Message] = field(default_factory=list)
    event_ids: dict[Key, list[str]] = field(default_factory=dict)
    observations: list[Observation] = field(default_factory=list)
    escalations: list[tuple[str, str, str]] = field(default_factory=list)  # eid, policy, action
    # (ticket, (event id, policy, target, kind)) per SLA event handed out
    published: list[tuple[Key, tuple[str, str, str, str]]] = field(default_factory=list)
    agent_updates: int = 0
    tickets: int = 0

    def extend(self, other: SlaBatch) -> None:
        self.messages += other.messages
        for k, eids in other.event_ids.items():
            self.event_ids.setdefault(k, []).extend(eids)
        self.observations += other.observations
        self.escalations += other.escalations
        self.published += other.published
        self.agent_updates += other.agent_updates
        self.tickets += other.tickets


class Published(NamedTuple):
    event_id: str
    policy: str
    target: str
    kind: str
    first: bool


class SlaTracker:
    def __init__(
        self,
        store: SlaStore,
        policy: Policy,
        *,
        lease_ms: int = LEASE_MS,
        reference_handle_s: float = REFERENCE_HANDLE_S,
        alpha: float = EWMA_ALPHA,
    ) -> None:
        self.store = store
        self.policy = policy
        self.failed_tickets = 0
        self.lease_ms = lease_ms
        self.reference_handle_s = reference_handle_s
        self.alpha = alpha

    def facts(self, ev: Mapping[str, Any]) -> tuple[Key, dict[str, bytes]] | None:
        """The facts one decoded event adds to its ticket, or None if it carries none."""
        typ = ev["type"]
        key = (str(ev.get("tenant", "default")), str(ev["id"]))
        ts = int(ev["ts"])
        out: dict[str, bytes] = {}
        kind = clock_kind(ev)
        if kind is not None:
            out[event_field(kind, ts)] = b""
        if typ == "ticket.created":
            out["c"] = meta_field(self._meta(ev))
        elif typ == "ticket.rated":
            out[rating_field(ts)] = rating_value(int(ev["rating"]), ev.get("agent"))
        elif typ in ASSIGNING_DECISIONS and ev.get("agent"):
            out[assignment_field(ts, str(ev["agent"]))] = b""
        return (key, out) if out else None

    def _meta(self, ev: Mapping[str, Any]) -> TicketMeta:
        ticket = Ticket.from_event(ev)
        q = match_queue(ticket, self.policy)
        queue = q.name if q is not None else (ticket.queue or "-")
        targets = self.policy.sla_for(ticket.priority, ticket.tier, queue)
        return TicketMeta(
            ticket.tenant,
            ticket.id,
            ticket.ts,
            ticket.priority,
            ticket.channel,
            queue,
            targets.name if targets else None,
            ticket.tier,
        )

    def handle(self, events: Sequence[Mapping[str, Any]], wm_ms: int, now_ms: int) -> SlaBatch:
        """Store the facts of ``events`` and settle every ticket they touch."""
        facts: dict[Key, dict[str, bytes]] = {}
        for ev in events:
            found = self.facts(ev)
            if found is not None:
                facts.setdefault(found[0], {}).update(found[1])
        if not facts:
            return SlaBatch()
        return self._settle(self.store.apply(facts), wm_ms, now_ms)

    def tick(self, wm_ms: int, now_ms: int, limit: int = DUE_BATCH) -> SlaBatch:
        """Settle the tickets whose next outcome or observation is due by ``wm_ms``."""
        keys = self.store.claim_due(wm_ms, now_ms, self.lease_ms, limit)
        return self._settle(self.store.load(keys), wm_ms, now_ms) if keys else SlaBatch()

    def _settle(
        self, states: Mapping[Key, Mapping[str, bytes]], wm_ms: int, now_ms: int
    ) -> SlaBatch:
        batch = SlaBatch(tickets=len(states))
        items: list[Settle] = []
        pending: list[tuple[dict[str, list[Observation]], dict[str, Feedback]]] = []
        recheck = wm_ms + self.lease_ms
        for key, fields in states.items():
            try:
                item, obs_fb = self._evaluate(key, fields, wm_ms, recheck)
            except Exception as exc:  # a ticket whose state cannot be evaluated: drop its
                self.failed_tickets += 1  # schedule, keep the others going
                log.warning("SLA state of %s cannot be evaluated, unscheduled: %r", key, exc)
                item, obs_fb = Settle(key, [], [], None, recheck), ({}, {})
            items.append(item)
            pending.append(obs_fb)
        feedback: list[Feedback] = []
        for item, settled, (obs, fb) in zip(items, self.store.settle(items), pending, strict=True):
            for eid, payload in settled.unsent:
                labels, msgs = unpack_messages(payload)
                batch.messages += msgs
                batch.event_ids.setdefault(item.key, []).append(eid)
                sla = (labels.event_id, labels.policy, labels.target, labels.kind)
                batch.published.append((item.key, sla))
                batch.escalations += [(eid, labels.policy, a) for a in labels.actions]
            for mark in settled.new_marks:
                batch.observations += obs.get(mark, [])
                if mark in fb:
                    feedback.append(fb[mark])
        if feedback:
            self._feedback(feedback, now_ms, batch)
        return batch

    def _evaluate(
        self, key: Key, fields: Mapping[str, bytes], wm_ms: int, recheck: int
    ) -> tuple[Settle, tuple[dict[str, list[Observation]], dict[str, Feedback]]]:
        state = decode_state(key, fields)
        targets = None
        if state.meta is not None and state.meta.policy:
            targets = self.policy.sla.get(state.meta.policy)
        ev = evaluate(state, targets, wm_ms)
        reserve = []
        for r in ev.reservations:
            msgs = [(t, codec.key_of(m).decode(), codec.encode_valid(m)) for t, _k, m in r.messages]
            reserve.append((r.event_id, r.final, pack_messages(labels_of(r.messages), msgs)))
        marks = sorted({*ev.observations, *ev.feedback})
        settle = Settle(key, marks, reserve, ev.next_due_ms, recheck)
        return settle, (ev.observations, ev.feedback)

    def _feedback(self, items: Sequence[Feedback], now_ms: int, batch: SlaBatch) -> None:
        """Fold ratings and handle times into the agents' averages (one round trip) and
        publish each performance that moved by ``PERFORMANCE_STEP`` or more."""
        published: dict[tuple[str, str], float] = {}
        for f, stats in zip(items, self.store.agent_feedback(items, self.alpha), strict=True):
            perf = performance(stats.csat, stats.handle_s, self.reference_handle_s)
            last = published.get((f.tenant, f.agent), stats.published)
            if perf is None or (last is not None and abs(perf - last) < PERFORMANCE_STEP):
                continue
            ev = {
                "v": 1,
                "type": "agent.update",
                "id": f.agent,
                "tenant": f.tenant,
                "ts": now_ms,
                "performance": perf,
            }
            key = codec.key_of(ev).decode()
            batch.messages.append(("agents.events", key, codec.encode_valid(ev)))
            batch.agent_updates += 1
            published[(f.tenant, f.agent)] = perf
        self.store.set_published(published)

    def published(self, batch: SlaBatch) -> list[Published]:
        """Record the batch's SLA events as published (after the flush); one
        :class:`Published` per SLA event of the batch, ``first`` unless it was a repeat."""
        new = set(self.store.mark_sent(batch.event_ids))
        return [Published(*sla, first=(key, sla[0]) in new) for key, sla in batch.published]
