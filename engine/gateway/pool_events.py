"""Grab mode on the streams: which decisions change a pool, and the claimer's conflict.

A pool's content is per agent (each agent sees the pooled tickets it may claim: ``GET
/v1/agents/{id}/work``), which the stream cannot compute; so every agent stream of the tenant
carries the decisions that change a pool, as a hint to read ``GET work`` again:

* a ticket entering a pool (``decision.queued``, reason ``GRAB_POOLED``) or re-routed while
  pooled (``decision.escalated``, same reason: its ladders widened);
* a ticket leaving it: claimed (``decision.assigned``, step ending ``GRAB_STEP_CLAIMED``),
  pushed after its fallback (``assigned``/``offered``/``escalated`` with step part
  ``push_after``), or closed while waiting (``decision.released`` without an agent).

A refused claim (``decision.rejected``, step ending ``GRAB_STEP_CLAIMED``) goes to the claimer's
stream only: that is how a desktop learns it lost a race (the claim route answers 202 before
the dispatcher decides).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.core.pull import STEP_PUSH_AFTER
from engine.ports import GRAB_POOLED, GRAB_STEP_CLAIMED

__all__ = ["claim_refused_to", "is_pool_event"]


def _step(event: Mapping[str, Any]) -> str:
    step = event.get("step")
    return step if isinstance(step, str) else ""


def is_pool_event(event: Mapping[str, Any]) -> bool:
    """Whether ``event`` (a decision) changes a pool: every agent stream carries it."""
    if event.get("duplicate"):
        return False
    kind, step = event.get("type"), _step(event)
    if kind in ("decision.queued", "decision.escalated") and event.get("reason") == GRAB_POOLED:
        return True
    if kind == "decision.assigned" and step.endswith(GRAB_STEP_CLAIMED):
        return True
    if kind in ("decision.assigned", "decision.offered", "decision.escalated"):
        return STEP_PUSH_AFTER in step.replace("|", ",").split(",")
    return kind == "decision.released" and not event.get("agent")


def claim_refused_to(event: Mapping[str, Any]) -> str | None:
    """The claimer of a refused claim (its stream carries the rejection), else None."""
    if event.get("type") != "decision.rejected" or not _step(event).endswith(GRAB_STEP_CLAIMED):
        return None
    agent = event.get("agent")
    return agent if isinstance(agent, str) and agent else None
