"""The OpenAPI 3.1 document, with request bodies taken from the codec's own JSON Schemas.

A request schema is the event schema the codec validates with, minus what the gateway sets
(``v``, ``type``, ``tenant``; ``id`` where the path carries it), with its local
``#/definitions`` inlined. The routes name them with :func:`request_schema_ref`; the
document lists them under ``components/schemas``. So the API can only describe what the
codec accepts (``tests/unit/gateway`` checks the document against the codec).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from engine import codec
from engine.core import bounds

SERVER_SET = ("v", "type", "tenant")
ID_PARAM: dict[str, Any] = {
    "pattern": bounds.ID_PATTERN,
    "max_length": bounds.ID_MAX_CHARS,
    "description": "an id: letters, digits and . _ : @ + - (1-128)",
}
_REGISTRY: dict[str, dict[str, Any]] = {}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; `field` names the request field at fault.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "field": {"type": "string"},
    },
}


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            return _inline(definitions[ref.removeprefix("#/definitions/")], definitions)
        return {k: _inline(v, definitions) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, definitions) for v in node]
    return node


def request_schema(event_type: str, *, path_id: bool = False, with_kind: bool = False) -> Any:
    """The body schema of a request that becomes an ``event_type`` event."""
    schema = codec.schema_for(event_type)
    definitions = schema.pop("definitions", {})
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    drop = {*SERVER_SET, *(("id",) if path_id else ())}
    props = {k: v for k, v in schema.get("properties", {}).items() if k not in drop}
    required = [r for r in schema.get("required", []) if r not in drop and r != "ts"]
    if "ts" in props:
        props["ts"] = {**props["ts"], "description": "epoch ms; default: when the gateway got it"}
    if with_kind:
        kind = event_type.split(".", 1)[1]
        props["kind"] = {"const": kind, "description": "which lifecycle event"}
        required = ["kind", *required]
    schema["properties"], schema["required"] = props, required
    out = _inline(schema, definitions)
    return copy.deepcopy(out)


def schema_name(event_type: str, with_kind: bool = False) -> str:
    base = "".join(p.capitalize() for p in event_type.replace("_", ".").split("."))
    return base + ("Event" if with_kind else "") + "Request"


def request_schema_ref(event_type: str, *, with_kind: bool = False) -> dict[str, str]:
    """A ``$ref`` to the request schema of ``event_type`` (registered for the document)."""
    name = schema_name(event_type, with_kind)
    if name not in _REGISTRY:
        _REGISTRY[name] = request_schema(event_type, path_id=with_kind, with_kind=with_kind)
    return {"$ref": f"#/components/schemas/{name}"}


def register(name: str, schema: dict[str, Any]) -> dict[str, str]:
    """Register another component schema (e.g. a response); returns its ``$ref``."""
    _REGISTRY.setdefault(name, schema)
    return {"$ref": f"#/components/schemas/{name}"}


def body_of(schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` of a route whose JSON body is ``schema``."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def install(app: FastAPI) -> None:
    """Build the document once, with the registered schemas and the problem responses."""

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = doc.setdefault("components", {})
            schemas = components.setdefault("schemas", {})
            schemas.update(copy.deepcopy(_REGISTRY))
            schemas["Problem"] = PROBLEM_SCHEMA
            components["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "dispatch tokens"}
            }
            doc["security"] = [{"bearer": []}]
            for path in doc.get("paths", {}).values():
                for op in path.values():
                    op.setdefault("responses", {}).update(_PROBLEMS)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
_PROBLEMS = {
    str(code): {"description": text, "content": _PROBLEM}
    for code, text in (
        (400, "malformed request"),
        (401, "missing, unknown or revoked token"),
        (403, "the token's role may not do this"),
        (404, "not found in the token's tenant"),
        (413, "request too large"),
        (415, "not JSON"),
        (422, "invalid: `field` names what"),
        (503, "the log cannot take writes now: retry after `Retry-After` seconds"),
    )
}
