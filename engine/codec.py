"""Event codec: msgpack maps, versioned, validated against one JSON Schema per event type.

Decoding checks the cheap things first (size, msgpack, map, ``v``, ``type``) and only then runs
the type's compiled JSON Schema validator, whose bounds come from :mod:`engine.core.bounds`.
Two things JSON Schema cannot say are checked after it: a field the schema types ``integer`` must
be a msgpack integer (JSON Schema accepts ``1.0`` and ``2.0 ** 70``), and no number anywhere in
the event may be NaN or infinite. Failures raise :class:`DecodeError` with a short ``reason``
code suitable for a dead-letter header and a metric label. Unknown fields are kept; defaults
written in the schemas are documentation only and are never injected.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any, Literal, NamedTuple, get_args

import fastjsonschema
import msgpack

from engine.core.bounds import (
    NAME_OR_EMPTY_PATTERN,
    NAME_PATTERN,
    TENANT_PATTERN,
    TEXT_MAX_CHARS,
    free_form_problem,
)
from engine.errors import EngineError
from engine.escaping import escape

__all__ = [
    "DECODE_REASONS",
    "MAX_EVENT_BYTES",
    "SCHEMA_VERSION",
    "SUPPORTED_VERSIONS",
    "DecodeError",
    "DecodeReason",
    "Event",
    "decode",
    "encode",
    "encode_valid",
    "event_types",
    "raw_bytes",
    "schema_for",
    "topic_of",
    "validate",
]

SCHEMA_VERSION: int = 1
SUPPORTED_VERSIONS: frozenset[int] = frozenset({SCHEMA_VERSION})
MAX_EVENT_BYTES: int = 1_048_576 // 4  # 256 KiB; larger messages are dead-lettered "too_large"

DecodeReason = Literal[
    "too_large",
    "msgpack",
    "not_a_map",
    "missing_field",
    "unknown_type",
    "unknown_version",
    "invalid",
]
DECODE_REASONS: tuple[DecodeReason, ...] = get_args(DecodeReason)

_TOPICS: dict[str, str] = {  # logical topic -> the event types published on it
    "tickets.events": "ticket.created",
    "agents.events": "agent.login agent.update agent.status agent.logout",
    "tickets.lifecycle": "ticket.accepted ticket.rejected ticket.first_response ticket.resolved"
    " ticket.reopened ticket.closed ticket.cancelled ticket.rated ticket.replied ticket.waiting",
    "dispatch.commands": "command.reassign command.force_assign command.pause_queue"
    " command.resume_queue command.claim command.raise_priority command.move_queue command.notify",
    "dispatch.assignments": "decision.assigned decision.offered decision.queued decision.escalated"
    " decision.reassigned decision.released decision.unassignable decision.rejected"
    " decision.handed_over decision.paused decision.resumed",
    "sla.events": "sla.warning sla.breached sla.met",
    "dispatch.notifications": "notification.sent",
}
_TOPIC_OF: dict[str, str] = {t: topic for topic, types in _TOPICS.items() for t in types.split()}
_EVENT_TYPES: frozenset[str] = frozenset(_TOPIC_OF)


class DecodeError(EngineError, ValueError):
    """An event could not be decoded or failed validation.

    ``reason`` is one of :data:`DECODE_REASONS` (stable; used as the dead-letter reason and metric
    label); ``detail`` is human text, for schema violations the failing JSON path.
    """

    def __init__(self, reason: DecodeReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: DecodeReason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[DecodeError], tuple[DecodeReason, str]]:
        return (type(self), (self.reason, self.detail))


class Event(dict[str, Any]):
    """A decoded event: a plain ``dict`` that also keeps ``raw``, the exact bytes it was
    decoded from, so a consumer that stores or forwards the event unchanged reuses them
    instead of packing it again, and ``origin``, the ``(partition, offset)`` of its record
    when the consumer sets it (versions of state changes). Treat it as read-only: a changed
    copy is a plain dict."""

    __slots__ = ("origin", "raw")

    def __init__(self, fields: dict[str, Any], raw: bytes) -> None:
        super().__init__(fields)
        self.raw = raw
        self.origin: tuple[int, int] | None = None


def record_key(tenant: str, id_: str) -> bytes:
    """The Kafka key of an event or decision: ``<tenant>/<id>`` with the tenant escaped
    (``engine.escaping``), so one tenant's ticket never shares a partition order or a
    compaction key with another tenant's ticket of the same id."""
    return f"{escape(tenant)}/{id_}".encode()


def key_of(event: Mapping[str, Any]) -> bytes:
    """:func:`record_key` of an event (its ``tenant`` and ``id``)."""
    return record_key(str(event.get("tenant", "default")), str(event["id"]))


def raw_bytes(event: Mapping[str, Any]) -> bytes | None:
    """The bytes ``event`` was decoded from (an :class:`Event`), else ``None``."""
    return event.raw if type(event) is Event else None


class _NonStrKey(Exception):
    """Raised from the unpack hook; turned into DecodeError("invalid")."""


def _str_keys_only(obj: dict[Any, Any]) -> dict[Any, Any]:
    for key in obj:
        if key.__class__ is not str:
            raise _NonStrKey(repr(key)[:40])
    return obj


def encode(event: Mapping[str, Any]) -> bytes:
    """Pack ``event`` as a msgpack map (bin type for bytes). Does not validate.

    Raises TypeError/ValueError/OverflowError for values msgpack cannot represent.
    """
    packed: bytes = msgpack.packb(
        dict(event) if type(event) is not dict else event, use_bin_type=True
    )
    return packed


def decode(data: bytes, *, max_bytes: int = MAX_EVENT_BYTES) -> Event:
    """Unpack and validate one event; return it as an :class:`Event` (a dict of its fields,
    unknown fields kept, no defaults, plus the bytes it came from).

    Raises :class:`DecodeError`. Never raises anything else for any ``bytes`` input.
    """
    size = len(data)
    if size > max_bytes:
        raise DecodeError("too_large", f"{size} bytes > limit {max_bytes}")
    try:
        # Limits from this message's size (<= max_bytes): a header cannot claim more items or
        # bytes than the message holds, so a tiny message cannot make the unpacker pre-allocate.
        event = msgpack.unpackb(
            data,
            raw=False,
            object_hook=_str_keys_only,
            max_str_len=size,
            max_bin_len=size,
            max_ext_len=size,
            max_array_len=size,
            max_map_len=size // 2,
        )
    except _NonStrKey as exc:
        raise DecodeError("invalid", f"map keys must be strings, got {exc}") from None
    except Exception as exc:  # msgpack raises ValueError subclasses, TypeError, OverflowError...
        if "allowed for map key" in str(exc):  # strict_map_key refused an int/nil/... key
            raise DecodeError("invalid", f"map keys must be strings: {exc}"[:200]) from None
        raise DecodeError("msgpack", f"{type(exc).__name__}: {exc}"[:200]) from None
    if event.__class__ is not dict:
        raise DecodeError("not_a_map", f"top-level value is {type(event).__name__}")
    _check(event)
    if _maybe_non_finite(data):
        where = _non_finite(event, "data")
        if where is not None:
            raise DecodeError("invalid", f"{where} must be a finite number"[:200])
    return Event(event, bytes(data))


def encode_valid(event: Mapping[str, Any], *, max_bytes: int = MAX_EVENT_BYTES) -> bytes:
    """Encode ``event`` once and return the bytes, after checking that consumers accept
    exactly those bytes (they are decoded and validated); raise :class:`DecodeError` if not.

    For producers, before sending: an event that passes is never dead-lettered by consumers.
    """
    if not isinstance(event, Mapping):
        raise DecodeError("not_a_map", f"event is {type(event).__name__}")
    try:
        data = encode(event)
    except Exception as exc:  # unsupported type, integer out of range, nesting too deep
        raise DecodeError("invalid", f"not encodable: {type(exc).__name__}: {exc}"[:200]) from None
    decode(data, max_bytes=max_bytes)
    return data


def validate(event: Mapping[str, Any], *, max_bytes: int = MAX_EVENT_BYTES) -> None:
    """Raise :class:`DecodeError` unless consumers would accept ``event`` (see
    :func:`encode_valid`, which also returns the bytes: use it when the event is sent)."""
    encode_valid(event, max_bytes=max_bytes)


def _maybe_non_finite(data: bytes) -> bool:
    """Whether ``data`` may hold a NaN or infinite float: a msgpack float64 (0xcb) or float32
    (0xca) header followed by a value whose exponent bits are all set. The same bytes can occur
    inside other values (a bin, an integer), so a hit is only a reason to look: _non_finite
    walks the event and finds the float, if there is one. (A few bytes.find calls: several
    times cheaper than one regular expression over the message.)"""
    for header, exponent in ((0xCB, 0xF0), (0xCA, 0x80)):
        i = data.find(header)
        while 0 <= i < len(data) - 2:
            if data[i + 1] & 0x7F == 0x7F and data[i + 2] & exponent == exponent:
                return True
            i = data.find(header, i + 1)
    return False


def _non_finite(value: Any, path: str) -> str | None:
    """The path of the first NaN or infinite float in ``value``, else None."""
    if value.__class__ is float:
        return None if math.isfinite(value) else path
    if value.__class__ is dict:
        for key, item in value.items():
            found = _non_finite(item, f"{path}.{key}")
            if found is not None:
                return found
    elif value.__class__ is list:
        for i, item in enumerate(value):
            found = _non_finite(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def _check(event: dict[str, Any]) -> dict[str, Any]:
    try:
        version = event["v"]
        event_type = event["type"]
    except KeyError as exc:
        raise DecodeError("missing_field", f"data must contain [{exc}] properties") from None
    if version.__class__ is not int:
        raise DecodeError("invalid", "data.v must be integer")
    if version not in SUPPORTED_VERSIONS:
        raise DecodeError(
            "unknown_version", f"v={version}, supported: {sorted(SUPPORTED_VERSIONS)}"
        )
    if event_type.__class__ is not str:
        raise DecodeError("invalid", "data.type must be string")
    if event_type not in _EVENT_TYPES:
        raise DecodeError("unknown_type", f"type={event_type[:80]!r}")
    checks = _CHECKS.get(event_type) or _checks(event_type)
    try:
        checks.schema(event)
    except fastjsonschema.JsonSchemaValueException as exc:
        reason: DecodeReason = "missing_field" if exc.rule == "required" else "invalid"
        raise DecodeError(reason, exc.message[:200]) from None
    for name, pattern in checks.strings:
        value = event.get(name)  # a string, or None (absent, or null where allowed)
        if value is not None and value not in pattern.known:
            if pattern.match(value) is None:
                raise DecodeError("invalid", f"data.{name} must match pattern {pattern.text}")
            pattern.remember(value)
    for name, pattern in checks.items:
        for i, value in enumerate(event.get(name, ())):
            if value not in pattern.known:
                if pattern.match(value) is None:
                    detail = f"data.{name}[{i}] must match pattern {pattern.text}"
                    raise DecodeError("invalid", detail)
                pattern.remember(value)
    for name, pattern in checks.keys:
        for key in event.get(name, _NO_ITEMS):
            if key not in pattern.known:
                if pattern.match(key) is None:
                    detail = f"data.{name} keys must match pattern {pattern.text}"
                    raise DecodeError("invalid", detail)
                pattern.remember(key)
    # The schema accepted integral floats where it says integer (and kept them in range).
    for name in checks.integers:
        if name in event and event[name].__class__ is not int:
            raise DecodeError("invalid", f"data.{name} must be an integer, got a float")
    for name in checks.integer_maps:
        for key, value in event.get(name, _NO_ITEMS).items():
            if value.__class__ is not int:
                raise DecodeError(
                    "invalid", f"data.{name}.{key} must be an integer, got a float"[:200]
                )
    for name in checks.free_form:
        for key, value in event.get(name, _NO_ITEMS).items():
            cls = value.__class__
            if cls is int or cls is bool or (cls is str and len(value) <= TEXT_MAX_CHARS):
                continue  # the common values, without a call
            problem = free_form_problem(value)
            if problem is not None:
                raise DecodeError("invalid", f"data.{name}.{key}{problem}"[:200])
    return event


def event_types() -> frozenset[str]:
    """All event types this codec knows (one schema file each)."""
    return _EVENT_TYPES


def topic_of(event_type: str) -> str:
    """Logical topic name an event type is published on; KeyError for unknown types."""
    return _TOPIC_OF[event_type]


def schema_for(event_type: str) -> dict[str, Any]:
    """A fresh copy of the JSON Schema (draft-07) of ``event_type``; KeyError if unknown."""
    return copy.deepcopy(_schema(event_type))


@functools.cache
def _schema(event_type: str) -> dict[str, Any]:
    if event_type not in _EVENT_TYPES:
        raise KeyError(event_type)
    text = resources.files("engine").joinpath("schemas", f"{event_type}.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


_NO_ITEMS: Mapping[str, Any] = {}


class _Pattern:
    """A schema ``pattern``, compiled as JSON Schema means it (``$`` = end of string). For the
    patterns of names (a small vocabulary: tenants, channels, queues, skills, ...) it keeps
    the values that matched already, so that a recurring name costs a set lookup instead of a
    regular expression; ids (ticket ids are new every time) are matched every time."""

    MEMO_MAX = 4096  # values remembered per pattern; then the memo starts over

    __slots__ = ("known", "match", "text")

    def __init__(self, text: str, memo: bool) -> None:
        self.text = text
        self.match = re.compile(text[:-1] + r"\Z").match  # text is "^...$"
        self.known: set[str] | frozenset[str] = set() if memo else frozenset()

    def remember(self, value: str) -> None:
        known = self.known
        if isinstance(known, set):
            if len(known) >= self.MEMO_MAX:
                known.clear()
            known.add(value)


# Names only: ids (and recipients, whose pattern is the id pattern today) are not remembered.
_MEMO_PATTERNS = frozenset({NAME_PATTERN, NAME_OR_EMPTY_PATTERN, TENANT_PATTERN})
_PATTERNS: dict[str, _Pattern] = {}


def _pattern(text: str) -> _Pattern:
    found = _PATTERNS.get(text)
    if found is None:
        found = _PATTERNS[text] = _Pattern(text, text in _MEMO_PATTERNS)
    return found


class _Checks(NamedTuple):
    """What decoding one event type checks: its compiled schema without the parts checked
    here, then the parts checked here -- ``pattern`` of string fields, of array items and of
    map keys (``propertyNames``), the integer-ness of fields and map values the schema types
    ``integer``, and the values of free-form maps."""

    schema: Callable[[dict[str, Any]], Any]
    strings: tuple[tuple[str, _Pattern], ...]
    items: tuple[tuple[str, _Pattern], ...]
    keys: tuple[tuple[str, _Pattern], ...]
    integers: tuple[str, ...]
    integer_maps: tuple[str, ...]
    free_form: tuple[str, ...]


_CHECKS: dict[str, _Checks] = {}


def _is_integer(schema: Any) -> bool:
    types = schema.get("type") if isinstance(schema, dict) else None
    return types == "integer" or (isinstance(types, list) and "integer" in types)


def _checks(event_type: str) -> _Checks:
    """Split the schema of ``event_type`` into what fastjsonschema checks and what the codec
    checks itself, faster: patterns (memoized for names, see _Pattern) and free-form values
    (bounds.free_form_problem instead of the code generated for the value<N> definitions).
    tests/unit/test_codec_bounds.py proves the split accepts exactly what the file does."""
    schema = _schema(event_type)
    props: dict[str, Any] = schema["properties"]
    runtime = copy.deepcopy(schema)
    runtime.pop("definitions", None)
    strings, items, keys, free_form = [], [], [], []
    for name, prop in runtime["properties"].items():
        if "pattern" in prop:
            strings.append((name, _pattern(prop.pop("pattern"))))
        if isinstance(prop.get("items"), dict) and "pattern" in prop["items"]:
            items.append((name, _pattern(prop["items"].pop("pattern"))))
        if "propertyNames" in prop:
            # Keys are strings (decode refuses others); the pattern implies the lengths.
            names = prop.pop("propertyNames")
            assert set(names) == {"type", "minLength", "maxLength", "pattern"}, names
            keys.append((name, _pattern(names["pattern"])))
        values = prop.get("additionalProperties")
        if isinstance(values, dict) and "$ref" in values:
            free_form.append(name)
            del prop["additionalProperties"]
    checks = _Checks(
        # use_default=False: defaults are documentation; decode returns what was sent.
        fastjsonschema.compile(runtime, use_default=False, use_formats=False),
        tuple(strings),
        tuple(items),
        tuple(keys),
        tuple(name for name, p in props.items() if _is_integer(p) and name != "v"),
        tuple(name for name, p in props.items() if _is_integer(p.get("additionalProperties"))),
        tuple(free_form),
    )
    _CHECKS[event_type] = checks
    return checks
