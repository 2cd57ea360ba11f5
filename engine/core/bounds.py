"""Bounds of every identifier, number and collection the engine accepts: the one source.

Events (their JSON Schemas in ``engine/schemas``, rewritten from this module by
``python -m engine.schemagen``), the codec's integer checks, the routing-policy validator, the
simulator's scenario validator and the table in ``docs/events.md`` all take their limits from
here; unit tests fail when any of them disagrees.

Why bounds at all: identifiers become Redis keys, hash tags and Kafka keys, numbers are packed
for Redis and Lua, collections are copied into Lua tables. An unbounded value is a way for one
producer to crash or stall the dispatcher or to reach another tenant's keys.

Patterns are written for JSON Schema (ECMA-262: ``^`` ... ``$`` anchor the whole string). The
compiled ``*_RE`` objects replace the final ``$`` with ``\\Z``, as fastjsonschema does, so that
``match`` never accepts a trailing newline (Python's ``$`` would). Every character class is
ASCII: non-ASCII letters are rejected.
"""

from __future__ import annotations

import re
from typing import Any, Final

__all__ = [
    "ATTRIBUTES_MAX",
    "ATTRIBUTE_DEPTH_MAX",
    "ATTRIBUTE_ITEMS_MAX",
    "ATTRIBUTE_NESTED_KEY_MAX_CHARS",
    "CAPACITY_CHANNELS_MAX",
    "CAPACITY_PER_CHANNEL_MAX",
    "CAPACITY_PER_CHANNEL_MIN",
    "COUNT_MAX",
    "DECISION_PRIORITY_MIN",
    "DURATION_MAX_S",
    "EPOCH_MS_MAX",
    "EPOCH_MS_MIN",
    "EVENT_ID_MAX_CHARS",
    "EVENT_ID_PATTERN",
    "EVENT_ID_RE",
    "FILTERED_REASONS_MAX",
    "ID_MAX_CHARS",
    "ID_PATTERN",
    "ID_RE",
    "LIST_MAX",
    "NAME_MAX_CHARS",
    "NAME_OR_EMPTY_PATTERN",
    "NAME_PATTERN",
    "NAME_RE",
    "NOTIFY_MAX",
    "PERFORMANCE_MAX",
    "PERFORMANCE_MIN",
    "POLICY_QUEUES_MAX",
    "PRIORITY_MAX",
    "PRIORITY_MIN",
    "RATING_MAX",
    "RATING_MIN",
    "RECIPIENT_MAX_CHARS",
    "RECIPIENT_PATTERN",
    "RECIPIENT_RE",
    "REGIONS_MAX",
    "SEQ_MAX",
    "SKILLS_MAX",
    "SKILL_LEVEL_MAX",
    "SKILL_LEVEL_MIN",
    "SLA_DEADLINE_MS_MAX",
    "STEP_MAX_CHARS",
    "TENANT_MAX_CHARS",
    "TENANT_PATTERN",
    "TENANT_RE",
    "TEXT_MAX_CHARS",
    "free_form_problem",
    "is_event_id",
    "is_id",
    "is_name",
    "is_recipient",
    "is_tenant",
]


def _compile(pattern: str) -> re.Pattern[str]:
    """``pattern`` (``^...$``, JSON Schema style) compiled so that ``$`` means end of string."""
    assert pattern.startswith("^") and pattern.endswith("$"), pattern
    return re.compile(pattern[:-1] + r"\Z")


# --- identifiers: character set and length ---------------------------------------------------

# Tenant: a routing pool and the Redis hash tag of all its keys ({prefix}:{<tenant>}:...), so
# no braces, no ':' and nothing a key or a log line could be confused by.
TENANT_MAX_CHARS: Final = 64
TENANT_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
TENANT_RE: Final = _compile(TENANT_PATTERN)

# Entity ids: ticket, agent, customer_id, preferred_agent, supervisor, to_agent, the agent of a
# lifecycle event. ':' '@' '+' '.' are allowed (CRM keys, e-mail-like ids); '|' (timer members
# in Redis), '{' '}' (hash tags), spaces and control characters are not.
ID_MAX_CHARS: Final = 128
ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$"
ID_RE: Final = _compile(ID_PATTERN)

# Event ids (event_id of SLA events, command.notify, notification.sent). The SLA tracker makes
# them as "sla:<ticket>:<target>:<cycle>:<kind>": with a 128-char ticket id that is about 160
# chars, so they get their own, longer bound (the entity character set).
EVENT_ID_MAX_CHARS: Final = 256
EVENT_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,255}$"
EVENT_ID_RE: Final = _compile(EVENT_ID_PATTERN)

# Names: queue, team, channel, skill, region, language, tier, strategy, calendar and SLA policy
# names, filter reasons, attribute keys, ticket states. No ':' (channels sit in the Redis key
# "open:<channel>:<agent>", so an agent id with ':' cannot collide with another key).
NAME_MAX_CHARS: Final = 64
NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
NAME_RE: Final = _compile(NAME_PATTERN)
# A name or "": decisions and notifications about a ticket the store does not know.
NAME_OR_EMPTY_PATTERN: Final = r"^([A-Za-z0-9][A-Za-z0-9._-]{0,63})?$"

# Notification recipients: "team:vip-leads", "role:supervisor", "mail:ops@example.com".
RECIPIENT_MAX_CHARS: Final = 128
RECIPIENT_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$"
RECIPIENT_RE: Final = _compile(RECIPIENT_PATTERN)

# Free text (reason, description): any characters, this many at most.
TEXT_MAX_CHARS: Final = 1000

# --- integers and numbers ---------------------------------------------------------------------

# Epoch milliseconds (ts, ticket_ts): 1970-01-01 .. 9999-12-31T23:59:59.999Z, the range of
# Python's datetime (calendars turn instants into local dates).
EPOCH_MS_MIN: Final = 0
EPOCH_MS_MAX: Final = 253_402_300_799_999
PRIORITY_MIN: Final = 1  # most urgent
PRIORITY_MAX: Final = 5
DECISION_PRIORITY_MIN: Final = 0  # a decision about a ticket the store does not know
SKILL_LEVEL_MIN: Final = 1
SKILL_LEVEL_MAX: Final = 5
CAPACITY_PER_CHANNEL_MIN: Final = 0  # 0: does not take the channel
CAPACITY_PER_CHANNEL_MAX: Final = 1000
RATING_MIN: Final = 1
RATING_MAX: Final = 5
SEQ_MAX: Final = (
    2**53 - 1
)  # per-ticket counters (decision seq, SLA cycle): exact in any JSON number
COUNT_MAX: Final = 1_000_000  # candidates, load, capacity and filtered counts in decisions
PERFORMANCE_MIN: Final = 0.0
PERFORMANCE_MAX: Final = 1.0
# Durations in a policy (after_s, timeout_s, SLA targets, aging): ten years of seconds.
DURATION_MAX_S: Final = 10 * 365 * 24 * 3600
# An SLA deadline is computed by the tracker from a ticket's ts plus a target, so it may fall
# after the last valid ts; it never exceeds this.
SLA_DEADLINE_MS_MAX: Final = EPOCH_MS_MAX + DURATION_MAX_S * 1000

# --- collections ----------------------------------------------------------------------------

SKILLS_MAX: Final = 64  # skills of a ticket, of an agent, of a policy queue
REGIONS_MAX: Final = 32  # regions of an agent; neighbours of a region
CAPACITY_CHANNELS_MAX: Final = 16  # channels in an agent's capacity
NOTIFY_MAX: Final = 32  # recipients of a notification
FILTERED_REASONS_MAX: Final = 16  # filter reasons in a decision (there are 11)
LIST_MAX: Final = 64  # other lists in a policy: match values, skills_any, ladder steps
POLICY_QUEUES_MAX: Final = 256
# Free-form maps (ticket attributes, a decision's explain): at most ATTRIBUTES_MAX keys, each a
# name. A value is a string of at most TEXT_MAX_CHARS, a finite number, a boolean, null, or a
# list or map of at most ATTRIBUTE_ITEMS_MAX such values nested at most ATTRIBUTE_DEPTH_MAX
# deep: the attributes {"a": [1, 2]} and {"a": {"b": [1]}} are fine, {"a": {"b": {"c": [1]}}}
# is not. Keys of nested maps are any strings of at most ATTRIBUTE_NESTED_KEY_MAX_CHARS.
ATTRIBUTES_MAX: Final = 64
ATTRIBUTE_ITEMS_MAX: Final = 64
ATTRIBUTE_DEPTH_MAX: Final = 2
ATTRIBUTE_NESTED_KEY_MAX_CHARS: Final = 128

# A decision's ``step`` ("overflow:<queue>,...,priority:+2,region:neighbors,sticky") names each
# queue of the policy at most once; the first queue never appears, which leaves room for the
# priority, region and sticky parts.
STEP_MAX_CHARS: Final = POLICY_QUEUES_MAX * (len("overflow:,") + NAME_MAX_CHARS)


# --- checks ---------------------------------------------------------------------------------


def is_tenant(value: Any) -> bool:
    return value.__class__ is str and TENANT_RE.match(value) is not None


def is_id(value: Any) -> bool:
    return value.__class__ is str and ID_RE.match(value) is not None


def is_event_id(value: Any) -> bool:
    return value.__class__ is str and EVENT_ID_RE.match(value) is not None


def is_name(value: Any) -> bool:
    return value.__class__ is str and NAME_RE.match(value) is not None


def is_recipient(value: Any) -> bool:
    return value.__class__ is str and RECIPIENT_RE.match(value) is not None


def free_form_problem(value: Any, depth: int = 0) -> str | None:
    """What is wrong with ``value`` as a free-form value (a ticket attribute, an entry of a
    decision's explain; see ATTRIBUTES_MAX), else None. The answer starts with the path below
    the value, e.g. ``"[3] must be shorter than or equal to 1000 characters"``, so a caller
    prefixes it with the value's own path. The same rules as the ``value<N>`` definitions in
    the schemas (engine.schemagen), plus: numbers must be finite."""
    cls = value.__class__
    if cls is str:
        if len(value) <= TEXT_MAX_CHARS:
            return None
        return f" must be shorter than or equal to {TEXT_MAX_CHARS} characters"
    if cls is int or cls is bool or value is None:
        return None
    if cls is float:
        return None if value - value == 0.0 else " must be a finite number"  # not NaN, not inf
    if cls is list or cls is dict:
        if depth >= ATTRIBUTE_DEPTH_MAX:
            return f" must be a string, number, boolean or null (nested at most {depth} deep)"
        if len(value) > ATTRIBUTE_ITEMS_MAX:
            return f" must contain less than or equal to {ATTRIBUTE_ITEMS_MAX} items"
        if cls is list:
            for i, item in enumerate(value):
                problem = free_form_problem(item, depth + 1)
                if problem is not None:
                    return f"[{i}]{problem}"
            return None
        for key, item in value.items():
            if key.__class__ is not str or len(key) > ATTRIBUTE_NESTED_KEY_MAX_CHARS:
                return (
                    f" must have keys that are strings of at most"
                    f" {ATTRIBUTE_NESTED_KEY_MAX_CHARS} characters"
                )
            problem = free_form_problem(item, depth + 1)
            if problem is not None:
                return f".{key}{problem}"
        return None
    return f" must be a string, number, boolean, null, list or map, not {cls.__name__}"
