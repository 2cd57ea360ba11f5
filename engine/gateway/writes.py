"""Turning a request into events and publishing them: 202 only after the log acknowledged.

Every event is built here from the request body and the caller's token (``v``, ``type``,
``tenant`` and, for commands, ``supervisor`` are the gateway's; ``ts`` defaults to now),
validated and encoded once by the codec, and refused with a 422 naming the field before
anything is written. A log that does not acknowledge in time is a 503 with ``Retry-After``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request

from engine import codec
from engine.errors import LogError, LogUnavailable
from engine.gateway.deps import RETRY_AFTER_S, Gateway
from engine.gateway.problems import Problem, invalid_event

SERVER_FIELDS = ("v", "type", "tenant")


EMPTY: Any = object()  # json_body(empty=EMPTY): tells a missing body from a JSON null


async def json_body(request: Request, limit: int, *, empty: Any = None) -> Any:
    """The request's JSON body (``empty`` when there is none); 413 over ``limit`` bytes,
    400/415 for anything not JSON."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(413, "request too large", f"more than {limit} bytes")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise Problem(413, "request too large", f"more than {limit} bytes")
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if ctype not in ("application/json", "") and not ctype.endswith("+json"):
        raise Problem(415, "unsupported media type", "send application/json")
    if not raw:
        return empty
    try:
        return json.loads(bytes(raw))
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, "malformed JSON", str(exc)[:200]) from None


async def optional_body(request: Request, limit: int) -> dict[str, Any]:
    """A JSON object body that may be left out (no body: ``{}``; ``null`` is refused)."""
    value = await json_body(request, limit, empty=EMPTY)
    return {} if value is EMPTY else an_object(value)


def an_object(value: Any, where: str = "") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Problem(422, "invalid request", "expected a JSON object", field=where or None)
    return value


def build_event(
    gw: Gateway,
    event_type: str,
    tenant: str,
    fields: Mapping[str, Any],
    *,
    ident: str | None = None,
    where: str = "",
    forced: Mapping[str, Any] | None = None,
    server_set: tuple[str, ...] = (),
) -> tuple[dict[str, Any], bytes]:
    """The event and its bytes, or a 422 naming the field (``where`` prefixes it).

    ``forced`` fields (and ``server_set`` ones, set or left out) are the gateway's: a body
    naming one is refused, never silently overridden."""
    for name in (*SERVER_FIELDS, *server_set, *(forced or {})):
        if name in fields:
            raise Problem(
                422, "invalid request", f"{name} is set by the gateway", field=where + name
            )
    ev: dict[str, Any] = {"v": codec.SCHEMA_VERSION, "type": event_type, "tenant": tenant}
    ev.update(fields)
    if ident is not None:
        if "id" in fields and fields["id"] != ident:
            raise Problem(422, "invalid request", "id differs from the path", field=where + "id")
        ev["id"] = ident
    ev.setdefault("ts", gw.clock.now_ms())
    ev.update(forced or {})
    try:
        return ev, codec.encode_valid(ev)
    except codec.DecodeError as err:
        raise invalid_event(err, where) from None


def publish(gw: Gateway, events: Sequence[tuple[Mapping[str, Any], bytes]]) -> None:
    """Publish the encoded events (each on its type's topic, keyed ``<tenant>/<id>``) and
    wait for the acknowledgements; 503 with ``Retry-After`` while the log cannot take them."""
    records = [
        (gw.topic(codec.topic_of(ev["type"])), codec.key_of(ev), value) for ev, value in events
    ]
    try:
        gw.publisher.publish(records, gw.publish_timeout_s)
    except LogUnavailable as exc:
        raise Problem(
            503, "log unavailable", str(exc), headers={"Retry-After": str(RETRY_AFTER_S)}
        ) from exc
    except LogError as exc:
        raise Problem(503, "log refused the write", str(exc)) from exc
