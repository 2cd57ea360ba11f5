"""Grab mode (抢单): queues whose tickets wait in a pool until an agent claims one.

A queue with ``mode: pull`` holds its tickets in its pool: stores do not give them to free
agents (``Request.pull``). An agent claims a specific pooled ticket or the best one it may
take (priority, then age); the same eligibility rules apply as for push routing
(:func:`engine.core.eligibility.first_reason`), plus the queue's ``claim_limit``: at most
that many open tickets of the queue held by the agent (offered or assigned, however they
came to it). ``push_after_s``: a pooled ticket nobody claimed within that many seconds of
entering the queue is routed by push as usual (its request's ``wake_ms`` is that moment,
so the existing escalation timer re-routes it).

Pure: the policy keys' validation, the claim rule and the refusal codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.core.eligibility import first_reason
from engine.core.model import Agent, Request
from engine.core.validate import Issues, duration, pos_int

PUSH = "push"  # queue modes: free agents are given the queue's tickets
PULL = "pull"  # the queue's tickets wait in its pool until an agent claims one
QUEUE_MODES = (PUSH, PULL)
# The refusal code of a claim past the queue's claim_limit (the other codes are
# engine.core.eligibility's).
CLAIM_LIMIT = "claim_limit"
# Request.step part once a pooled ticket fell back to push routing.
STEP_PUSH_AFTER = "push_after"
CLAIM_LIMIT_MAX = 1000


def pull_settings(iss: Issues, path: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """A queue's ``mode``, ``claim_limit`` and ``push_after_s`` (policy keys), validated
    with their paths; the last two only with ``mode: pull``."""
    mode = raw.get("mode", PUSH)
    known = mode in QUEUE_MODES
    if not known:
        iss.add(f"{path}.mode", f"unknown mode {mode!r} (one of {', '.join(QUEUE_MODES)})")
    limit: int | None = None
    if raw.get("claim_limit") is not None:
        limit = pos_int(iss, f"{path}.claim_limit", raw["claim_limit"], 1, CLAIM_LIMIT_MAX)
    after: float | None = None
    if raw.get("push_after_s") is not None:
        after = duration(iss, f"{path}.push_after_s", raw["push_after_s"], exclusive=True)
    for key in ("claim_limit", "push_after_s"):
        if raw.get(key) is not None and known and mode != PULL:
            iss.add(f"{path}.{key}", "only for a queue with mode: pull")
    return {"mode": str(mode) if known else PUSH, "claim_limit": limit, "push_after_s": after}


def claim_reason(
    agent: Agent, load: int, req: Request, now_ms: int, recent: int, held: int
) -> str | None:
    """Why ``agent`` may not claim ``req`` (``None``: it may): the first failing
    eligibility rule (``load`` on the channel, ``recent`` new tickets of the queue in its
    fairness window), else :data:`CLAIM_LIMIT` when it holds ``held`` open tickets of the
    queue and the queue's limit is reached."""
    why = first_reason(agent, load, req, now_ms, recent)
    if why is None and req.claim_limit and held >= req.claim_limit:
        return CLAIM_LIMIT
    return why
