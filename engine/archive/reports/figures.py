"""What every figure of every report means, once: the CLI's ``--help``, the HTTP API's
description and ``docs/reports.md`` say the same (a unit test checks every column has a
definition here and in the docs)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

from engine.core.sla import TARGETS

WRAP = 92

COMMON: Mapping[str, str] = {
    "bucket": "start of the UTC hour or day (--by) of the row, ISO 8601",
    "bucket_ms": "the same, epoch ms",
}

TRAIL: Mapping[str, str] = {
    "at": "when, ISO 8601 UTC (the event's ts)",
    "ts_ms": "the same, epoch ms",
    "source": "lifecycle (ticket.*), command (a supervisor's command.*), decision "
    "(the dispatcher's decision.*) or sla (sla.met/breached/warning)",
    "type": "the event type",
    "what": "in words: offered, offer accepted, offer rejected, offer timed out, "
    "transferred, escalated, supervisor reassign, SLA resolution breached, ...",
    "agent": "the agent it concerns (a command: its to_agent)",
    "from_agent": "a transfer: the agent the ticket was taken from",
    "by": "who ordered it: the supervisor of a command or of the decision it caused "
    "(<role>:<token name>)",
    "queue": "the queue (a decision: where the ticket is routed)",
    "reason": "the reason given (decisions: the store's, e.g. offer timed out)",
    "why": "the reason given with the command that caused the decision",
    "seq": "a decision's ticket version (1, 2, ...)",
    "detail": "the rest: step, strategy, candidates, forced, rating, priority, SLA target, "
    "cycle, deadline_ms, policy",
}

AGENTS: Mapping[str, str] = {
    "agent": "the agent id",
    "offered": "decision.offered to the agent in the period",
    "accepted": "offers it accepted (decision.assigned with step accepted)",
    "rejected": "offers it rejected (decision.released, reason offer rejected)",
    "timed_out": "offers it let time out (decision.released, reason offer timed out)",
    "assigned": "tickets it was given: decision.assigned (direct or accepted) and "
    "decision.reassigned to it",
    "transferred_in": "decision.reassigned to it (from another agent or from the queue)",
    "transferred_out": "decision.reassigned away from it",
    "handled": "tickets it resolved: decision.released with reason resolved naming it "
    "(a reopened ticket resolved again counts again)",
    "handle_mean_ms": "mean handle time: from the decision that last gave it the ticket "
    "(assigned or reassigned) to the resolution, over handled",
    "handle_p90_ms": "90th percentile (nearest rank) of the handle time",
    "resolution_mean_ms": "mean time from the ticket's creation to the resolution, over handled",
    "resolution_p90_ms": "90th percentile of it",
    "first_responses": "tickets whose first ticket.first_response is in the period and "
    "was the agent's (the event's agent, else the ticket's first assigned agent)",
    "frt_mean_ms": "mean first response time (ticket.created to its first "
    "ticket.first_response) of those tickets",
    "frt_p90_ms": "90th percentile of it",
    "csat_mean": "mean rating (1-5) of the ticket.rated events in the period for it (the "
    "event's agent, else the agent of the ticket's latest resolution before the rating)",
    "csat_count": "how many ratings",
    "fcr_rate": "first-contact resolution: share of handled tickets never transferred and "
    "never reopened (as the archive knows them when the report runs)",
    "reopen_rate": "share of handled resolutions followed by a ticket.reopened",
    "logged_in_ms": "time in the period in a status other than offline (agent.login/status/"
    "logout spans; a span still open ends at the period's end or now)",
    "utilisation": "occupancy: the handle time of its resolutions in the period divided by "
    "logged_in_ms (above 1 when it works several tickets at once)",
    "time_available_ms": "time in the period with status available",
    "time_busy_ms": "time with status busy",
    "time_away_ms": "time with status away",
    "time_offline_ms": "time logged out (after an agent.logout) inside the period",
}

COHORT: Mapping[str, str] = {
    "queue": "the queue the ticket is (or was last) routed to",
    "channel": "the ticket's channel",
    "created": "volume: tickets created (ticket.created ts) in the period or bucket; every "
    "other figure of the row is about these tickets",
    "tta_count": "of them, tickets assigned to an agent",
    "tta_mean_ms": "mean time to assign: creation to the first decision.assigned or "
    "decision.reassigned",
    "tta_p90_ms": "90th percentile (nearest rank) of it",
    "abandoned": "tickets cancelled before they were ever assigned",
    "abandonment_rate": "abandoned / created",
    "frt_count": "tickets with a first response",
    "frt_mean_ms": "mean first response time: creation to the first ticket.first_response",
    "frt_p90_ms": "90th percentile of it",
    "resolved": "tickets resolved (a ticket.resolved)",
    "resolution_mean_ms": "mean resolution time: creation to the first ticket.resolved",
    "resolution_p90_ms": "90th percentile of it",
    "csat_mean": "mean of the tickets' latest rating (1-5)",
    "csat_count": "tickets rated",
    "fcr_rate": "first-contact resolution: share of resolved tickets never transferred and "
    "never reopened",
    "reopen_rate": "share of resolved tickets reopened since",
    "sl_first_response": "service level of the first response target: met / (met + breached) "
    "SLA outcomes of the tickets (sla.met, sla.breached)",
    "sl_first_response_n": "outcomes counted (met + breached)",
    "sl_next_response": "service level of the next response target (every cycle counts)",
    "sl_next_response_n": "outcomes counted",
    "sl_resolution": "service level of the resolution target (a reopen starts a cycle)",
    "sl_resolution_n": "outcomes counted",
}

# the figures of the cohort reports, in column order
QUEUE_FIGURES = (
    "created",
    "tta_count",
    "tta_mean_ms",
    "tta_p90_ms",
    "abandoned",
    "abandonment_rate",
    "frt_count",
    "frt_mean_ms",
    "frt_p90_ms",
    "resolved",
    "resolution_mean_ms",
    "resolution_p90_ms",
    "csat_mean",
    "csat_count",
    "fcr_rate",
    "reopen_rate",
    *(f"sl_{t}{suffix}" for t in TARGETS for suffix in ("", "_n")),
)
KPI_FIGURES = (
    "created",
    "frt_count",
    "frt_mean_ms",
    "frt_p90_ms",
    "resolved",
    "resolution_mean_ms",
    "resolution_p90_ms",
    "csat_mean",
    "csat_count",
    "fcr_rate",
)

DEFINITIONS: Mapping[str, Mapping[str, str]] = {
    "trail": TRAIL,
    "agents": AGENTS,
    "queues": {**COMMON, **COHORT},
    "channels": {**COMMON, **COHORT},
    "kpis": {**COMMON, **COHORT},
}
# every report's columns (a row per bucket only with --by)
COLUMNS: Mapping[str, tuple[str, ...]] = {
    "trail": tuple(TRAIL),
    "agents": tuple(AGENTS),
    "queues": ("queue", *COMMON, *QUEUE_FIGURES),
    "channels": ("channel", *COMMON, *QUEUE_FIGURES),
    "kpis": (*COMMON, *KPI_FIGURES),
}


def describe(report: str, columns: tuple[str, ...] | None = None) -> str:
    """The definitions of a report's columns, one per line (for ``--help``)."""
    defs = DEFINITIONS[report]
    names = columns or COLUMNS[report]
    width = max(len(n) for n in names)
    indent = " " * (width + 4)
    return "\n".join(
        textwrap.fill(
            defs[n],
            WRAP,
            initial_indent=f"  {n.ljust(width)}  ",
            subsequent_indent=indent,
        )
        for n in names
        if n in defs
    )
