"""Handover: an agent's open tickets leave it when it logs out or stays away too long.

Pure rules (no I/O): the queue settings (``on_logout``, ``handover_after_away_s``), which of
an agent's open tickets move for which cause, in which order, and the decisions about a queue
(pause/resume) that are not about a ticket. The dispatcher applies them
(``engine.dispatch.handover``); the stores move the tickets (``AgentStore.handover``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from engine.core.model import AWAY, OFFLINE, PAUSED, RESUMED, Decision, Request
from engine.core.validate import Issues, duration

# on_logout values: requeue the agent's open tickets of the queue, or keep them with it.
REQUEUE = "requeue"
KEEP = "keep"
ON_LOGOUT = (REQUEUE, KEEP)
# The default keeps what every release before handover did (a logout keeps the agent's
# tickets); a queue opts in with ``on_logout: requeue`` (docs/policy.md, "Handover").
DEFAULT_ON_LOGOUT = KEEP

# Causes of a handover: the ``reason`` of the ``handed_over`` decision, and the agent status
# the store requires when it moves the tickets (an agent that is back by then keeps them).
CAUSE_LOGOUT = "logout"
CAUSE_AWAY = "away"
CAUSE_STATUS: Mapping[str, str] = {CAUSE_LOGOUT: OFFLINE, CAUSE_AWAY: AWAY}

# Decisions about a queue (pause/resume) are published under the key
# ``<tenant>/#queue:<queue>``: '#' never starts a ticket id (engine.core.bounds.ID_PATTERN), so
# a queue's decisions never share a compaction key with a ticket's.
QUEUE_KEY_PREFIX = "#queue:"
QUEUE_KINDS = (PAUSED, RESUMED)


class HandoverQueue(Protocol):
    """What handover reads of a policy queue (engine.core.policy.Queue)."""

    @property
    def name(self) -> str: ...

    @property
    def on_logout(self) -> str: ...

    @property
    def handover_after_away_s(self) -> float | None: ...


def parse_on_logout(iss: Issues, path: str, raw: Any) -> str:
    """A queue's ``on_logout``: ``requeue`` or ``keep`` (default :data:`DEFAULT_ON_LOGOUT`)."""
    if raw is None:
        return DEFAULT_ON_LOGOUT
    if raw not in ON_LOGOUT:
        iss.add(path, f"must be one of {', '.join(ON_LOGOUT)}, not {raw!r}")
        return DEFAULT_ON_LOGOUT
    return str(raw)


def parse_away(iss: Issues, path: str, raw: Any) -> float | None:
    """A queue's ``handover_after_away_s``: a positive duration, or absent (never)."""
    if raw is None:
        return None
    return duration(iss, path, raw, exclusive=True)


def moves(queue: HandoverQueue | None, cause: str, away_queue: str = "") -> bool:
    """Whether an open ticket of ``queue`` leaves its agent for ``cause``: a logout when the
    queue says ``on_logout: requeue``; staying away when the queue has
    ``handover_after_away_s`` and is the queue whose away timer fell due (``away_queue``).
    A queue the policy no longer has keeps its tickets."""
    if queue is None:
        return False
    if cause == CAUSE_LOGOUT:
        return queue.on_logout == REQUEUE
    if cause == CAUSE_AWAY:
        return queue.handover_after_away_s is not None and queue.name == away_queue
    return False


def away_queues(queues: Iterable[HandoverQueue]) -> list[tuple[str, int]]:
    """``(queue, ms)`` of every queue whose tickets leave an agent away that long."""
    return [
        (q.name, int(q.handover_after_away_s * 1000))
        for q in queues
        if q.handover_after_away_s is not None
    ]


def in_order(requests: Sequence[Request]) -> list[Request]:
    """The order tickets are handed over in: as their waiting queue serves them (score:
    priority, then age), then ticket id; so the oldest, most urgent ticket is placed first."""
    return sorted(requests, key=lambda r: (r.score, r.ticket_id))


def queue_decision(
    kind: str,
    tenant: str,
    queue: str,
    now_ms: int,
    *,
    supervisor: str | None,
    why: str,
    policy: str,
) -> Decision:
    """A ``paused``/``resumed`` decision: ``id`` and ``queue`` are the queue's name (its record
    key: :func:`decision_key_id`), ``supervisor`` and ``why`` say who and why; not a ticket's
    version (``seq`` 0)."""
    if kind not in QUEUE_KINDS:
        raise ValueError(f"not a queue decision kind: {kind!r}")
    return Decision(
        kind=kind,
        ticket_id=queue,
        tenant=tenant,
        ts=now_ms,
        queue=queue,
        supervisor=supervisor or None,
        why=why,
        policy=policy,
    )


def decision_key_id(d: Decision) -> str:
    """The id part of a decision's record key: the ticket id, or ``#queue:<queue>`` for a
    queue decision."""
    return QUEUE_KEY_PREFIX + d.queue if d.kind in QUEUE_KINDS else d.ticket_id


def is_queue_decision(ev: Mapping[str, Any]) -> bool:
    """Whether a decision event (as published) is about a queue, not a ticket."""
    return str(ev.get("type", "")).removeprefix("decision.") in QUEUE_KINDS
