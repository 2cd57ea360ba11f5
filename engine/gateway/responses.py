"""The response schemas of the OpenAPI document, registered as components.

Identifiers, names and numbers use the bounds of ``engine.core.bounds`` (the codec's); a
decision is the codec's own ``decision.*`` schema. Every object is closed
(``additionalProperties: false``): a field a view adds without its schema fails the tests
that validate responses against the document.
"""

from __future__ import annotations

from typing import Any

from engine import codec
from engine.core import bounds
from engine.core.model import DECISION_KINDS, STATUSES
from engine.core.sla import TARGETS
from engine.gateway import openapi
from engine.gateway.pool import POOL_READ_MAX
from engine.gateway.tokens import ALL_TENANTS, NAME_MAX_CHARS, ROLES
from engine.ports import TICKET_STATES

ID = {"type": "string", "pattern": bounds.ID_PATTERN, "maxLength": bounds.ID_MAX_CHARS}
NAME = {"type": "string", "pattern": bounds.NAME_PATTERN, "maxLength": bounds.NAME_MAX_CHARS}
TENANT = {"type": "string", "pattern": bounds.TENANT_PATTERN, "maxLength": bounds.TENANT_MAX_CHARS}
EPOCH_MS = {"type": "integer", "minimum": 0}
COUNTS = {"type": "object", "propertyNames": NAME, "additionalProperties": {"type": "integer"}}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(props: dict[str, Any], description: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "object",
        "required": list(props),
        "additionalProperties": False,
        "properties": props,
    }
    if description:
        out["description"] = description
    return out


ACCEPTED = openapi.register(
    "Accepted",
    _object(
        {
            "id": {"type": "string", "description": "the ticket, agent or queue the event names"},
            "type": {"type": "string", "enum": sorted(codec.event_types())},
            "status": {"const": "accepted"},
        },
        "The event is on the log (Kafka acknowledged it); the dispatcher applies it next.",
    ),
)
BATCH_ACCEPTED = openapi.register(
    "BatchAccepted",
    _object(
        {"status": {"const": "accepted"}, "ids": {"type": "array", "items": ID}},
        "Every ticket of the batch is on the log.",
    ),
)

DECISION = {"oneOf": [openapi.event_schema_ref(f"decision.{k}") for k in DECISION_KINDS]}
CLOCK = _object(
    {
        "target": {"type": "string", "enum": list(TARGETS)},
        "cycle": {"type": "integer", "minimum": 0},
        "state": {"type": "string", "enum": ["running", "paused", "met", "breached", "cancelled"]},
        "started_ms": EPOCH_MS,
        "stopped_ms": _nullable(EPOCH_MS),
        "deadline_ms": _nullable(EPOCH_MS),
        "remaining_ms": _nullable({"type": "integer"}),
    },
    "One SLA clock run (a target's cycle): its deadline as the SLA tracker computes it.",
)
TICKET = openapi.register(
    "Ticket",
    _object(
        {
            "id": ID,
            "state": {"type": "string", "enum": list(TICKET_STATES)},
            "queue": NAME,
            "channel": NAME,
            "agent": _nullable(ID),
            "last_agent": _nullable(ID),
            "priority": {
                "type": "integer",
                "minimum": bounds.PRIORITY_MIN,
                "maximum": bounds.PRIORITY_MAX,
                "description": "effective priority (after boosts, raises and aging steps)",
            },
            "step": {"type": "string", "description": "the routing step (escalations)"},
            "created_ms": _nullable(EPOCH_MS),
            "tier": _nullable({"type": "string"}),
            "sla": _nullable(
                _object(
                    {
                        "policy": _nullable({"type": "string"}),
                        "clocks": {"type": "array", "items": CLOCK},
                    },
                    "null until the SLA tracker saw the ticket",
                )
            ),
            "latest_decision": _nullable(DECISION),
        },
        "Where a ticket is, its SLA clocks and its latest decision (who and why).",
    ),
)

WORK_ITEM = _object(
    {
        "id": ID,
        "state": {"type": "string", "enum": list(TICKET_STATES)},
        "queue": NAME,
        "channel": NAME,
        "priority": {"type": "integer"},
    }
)
POOL_ITEM = _object(
    {
        "id": ID,
        "queue": NAME,
        "priority": {"type": "integer"},
        "ticket_ts": {"type": "integer", "description": "the ticket's creation, epoch ms"},
    }
)
WORK = openapi.register(
    "AgentWork",
    _object(
        {
            "id": ID,
            "status": {"type": "string", "enum": list(STATUSES)},
            "capacity": COUNTS,
            "load": COUNTS,
            "open": {"type": "array", "items": WORK_ITEM},
            "offers": {"type": "array", "items": WORK_ITEM},
            "pool": {"type": "array", "items": POOL_ITEM},
        },
        "An agent's open tickets per channel, its pending offers and (grab mode) the pooled"
        " tickets it may claim now, best first (priority, then age; at most"
        f" {POOL_READ_MAX}).",
    ),
)
AGENTS = openapi.register(
    "Agents",
    _object(
        {
            "agents": {
                "type": "array",
                "items": _object(
                    {
                        "id": ID,
                        "status": {"type": "string", "enum": list(STATUSES)},
                        "team": {"type": "string"},
                        "skills": COUNTS,
                        "regions": {"type": "array", "items": NAME},
                        "capacity": COUNTS,
                        "load": COUNTS,
                        "performance": {"type": "number"},
                        "missed_offers": {"type": "integer", "minimum": 0},
                    }
                ),
            }
        }
    ),
)
QUEUES = openapi.register(
    "Queues",
    _object(
        {
            "queues": {
                "type": "array",
                "items": _object(
                    {
                        "name": NAME,
                        "strategy": _nullable({"type": "string"}),
                        "waiting": {"type": "integer", "minimum": 0},
                        "oldest_ts": _nullable(EPOCH_MS),
                        "oldest_age_s": _nullable({"type": "number", "minimum": 0}),
                        "eligible_available": {"type": "integer", "minimum": 0},
                    }
                ),
            }
        }
    ),
)

TOKEN_INFO = _object(
    {
        "token_id": {"type": "string"},
        "tenant": {"anyOf": [TENANT, {"const": ALL_TENANTS}]},
        "role": {"type": "string", "enum": list(ROLES)},
        "agent": _nullable(ID),
        "name": {"type": "string"},
        "created_ms": EPOCH_MS,
        "revoked_ms": _nullable(EPOCH_MS),
    }
)
TOKEN = openapi.register("TokenInfo", TOKEN_INFO)
TOKENS = openapi.register(
    "Tokens", _object({"tokens": {"type": "array", "items": TOKEN}}, "Revoked tokens included.")
)
TOKEN_CREATED = openapi.register(
    "TokenCreated",
    _object(
        {"token": {"type": "string", "description": "shown once: only its hash is kept"}}
        | TOKEN_INFO["properties"]
    ),
)
TOKEN_REQUEST = openapi.register(
    "TokenRequest",
    {
        "type": "object",
        "required": ["tenant", "role"],
        "additionalProperties": False,
        "properties": {
            "tenant": {
                "anyOf": [TENANT, {"const": ALL_TENANTS}],
                "description": f"the token's tenant ({ALL_TENANTS!r} for an admin token)",
            },
            "role": {"type": "string", "enum": list(ROLES)},
            "agent": {**ID, "description": "an agent token's agent"},
            "name": {
                **ID,
                "maxLength": NAME_MAX_CHARS,
                "description": "who holds it: commands record <role>:<name>",
            },
        },
    },
)
