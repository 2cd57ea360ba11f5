"""Grab mode at the gateway: an agent's claimable pool (``GET /v1/agents/{id}/work``) and
the conflict a claim of a taken ticket gets before anything is written.

Claims are asynchronous: ``POST /v1/agents/{id}/claim`` publishes ``command.claim`` and
answers 202; the dispatcher decides (first claim wins) and the outcome is a decision on the
agent's stream: ``decision.assigned`` (step ending ``|claim``) or ``decision.rejected`` with
the reason (``already claimed`` for a lost race). What the gateway can already see is
answered at once: a named ticket that is not waiting any more is 409 (nothing written), an
unknown one 404. Two claims racing past this check both get 202 and one rejected decision.
"""

from __future__ import annotations

from engine.gateway.deps import Gateway
from engine.gateway.problems import Problem
from engine.ports import CLOSED, GRAB_CLAIMED, WAITING, TicketRecord, WaitingEntry

POOL_READ_MAX = 100  # pooled tickets GET work lists (best first)

__all__ = ["POOL_READ_MAX", "claim_conflict", "claimable"]


def claimable(gw: Gateway, tenant: str, agent_id: str) -> list[WaitingEntry]:
    """The pooled tickets ``agent_id`` may claim now, best first, at most POOL_READ_MAX."""
    return gw.store.pool(tenant, agent_id, gw.clock.now_ms(), POOL_READ_MAX)


def claim_conflict(rec: TicketRecord | None, ticket_id: str, agent_id: str) -> None:
    """Raise the answer to a claim of ``ticket_id`` the store shows as not claimable: 404
    unknown, 409 claimed by someone (the agent itself included) or closed."""
    if rec is None:
        raise Problem(404, "not found", f"no ticket {ticket_id!r}", field="ticket")
    if rec.state == WAITING:
        return
    if rec.state == CLOSED:
        raise Problem(409, "not waiting", f"{ticket_id!r} is closed", field="ticket")
    holder = "you" if rec.agent == agent_id else "another agent"
    raise Problem(409, GRAB_CLAIMED, f"{ticket_id!r} is {rec.state} to {holder}", field="ticket")
