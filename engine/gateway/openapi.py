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

from fastapi import FastAPI, Request
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


def request_schema(
    event_type: str,
    *,
    path_id: bool = False,
    with_kind: bool = False,
    server_set: tuple[str, ...] = (),
    path_fields: tuple[str, ...] = (),
    require: tuple[str, ...] = (),
) -> Any:
    """The body schema of a request that becomes an ``event_type`` event.

    ``v``, ``type``, ``tenant`` and ``server_set`` are the gateway's (a body naming one is
    refused: their schema is ``false``); ``id`` (``path_id``) and ``path_fields`` come from
    the path (left out); ``require`` makes optional fields required (strings that are not blank)."""
    schema = codec.schema_for(event_type)
    definitions = schema.pop("definitions", {})
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    forbidden = (*SERVER_SET, *server_set)
    drop = {*forbidden, *path_fields, *(("id",) if path_id else ())}
    props: dict[str, Any] = {k: v for k, v in schema.get("properties", {}).items() if k not in drop}
    required = [r for r in schema.get("required", []) if r not in drop and r != "ts"]
    if "ts" in props:
        props["ts"] = {**props["ts"], "description": "epoch ms; default: when the gateway got it"}
    for name in require:
        props[name] = {**props[name], "minLength": 1, "pattern": r"\S"}
        if name not in required:
            required.append(name)
    if with_kind:
        kind = event_type.split(".", 1)[1]
        props = {"kind": {"const": kind, "description": "which event"}, **props}
        required = ["kind", *required]
    props.update({name: False for name in forbidden})
    schema["properties"], schema["required"] = props, required
    out = _inline(schema, definitions)
    return copy.deepcopy(out)


def event_schema(event_type: str) -> Any:
    """The codec's schema of ``event_type`` as it is (an event shown in a response)."""
    schema = codec.schema_for(event_type)
    definitions = schema.pop("definitions", {})
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    return copy.deepcopy(_inline(schema, definitions))


def schema_name(event_type: str, with_kind: bool = False) -> str:
    base = "".join(p.capitalize() for p in event_type.replace("_", ".").split("."))
    return base + ("Event" if with_kind else "") + "Request"


def request_schema_ref(
    event_type: str,
    *,
    with_kind: bool = False,
    name: str | None = None,
    **options: Any,
) -> dict[str, str]:
    """A ``$ref`` to the request schema of ``event_type`` (registered for the document);
    ``options`` are :func:`request_schema`'s (give a ``name`` with them)."""
    name = name or schema_name(event_type, with_kind)
    if name not in _REGISTRY:
        options.setdefault("path_id", with_kind)
        _REGISTRY[name] = request_schema(event_type, with_kind=with_kind, **options)
    return {"$ref": f"#/components/schemas/{name}"}


def event_schema_ref(event_type: str) -> dict[str, str]:
    """A ``$ref`` to the codec's own schema of ``event_type`` (``DecisionAssignedEvent``)."""
    name = "".join(p.capitalize() for p in event_type.replace("_", ".").split(".")) + "Event"
    return register(name, event_schema(event_type))


def register(name: str, schema: dict[str, Any]) -> dict[str, str]:
    """Register another component schema (e.g. a response); returns its ``$ref``."""
    _REGISTRY.setdefault(name, schema)
    return {"$ref": f"#/components/schemas/{name}"}


def body_of(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` of a route whose JSON body is ``schema``."""
    content = {"application/json": {"schema": schema}}
    return {"requestBody": {"required": required, "content": content}}


def answers(status: int, schema: dict[str, Any], description: str) -> dict[int | str, Any]:
    """``responses=`` of a route answering ``status`` with a JSON body of ``schema``."""
    return {
        status: {"description": description, "content": {"application/json": {"schema": schema}}}
    }


def known_query_only(request: Request) -> None:
    """422 naming the first query parameter the operation does not document (a typo such as
    ``?tennant=`` is refused, never ignored). Routes outside the document are not checked."""
    from engine.gateway.problems import Problem  # problems imports the codec: keep this light

    if not request.query_params:
        return
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    op = request.app.openapi().get("paths", {}).get(path, {}).get(request.method.lower())
    if op is None:
        return
    known = {p["name"] for p in op.get("parameters", ()) if p.get("in") == "query"}
    for name in request.query_params:
        if name not in known:
            detail = f"unknown query parameter; known: {', '.join(sorted(known)) or 'none'}"
            raise Problem(422, "invalid request", detail, field=name or "(empty name)")


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
                for method, op in path.items():
                    problems = _PROBLEMS if method in ("post", "put", "patch") else _READ_PROBLEMS
                    op.setdefault("responses", {}).update(problems)
            for unused in ("HTTPValidationError", "ValidationError"):  # ours: Problem
                schemas.pop(unused, None)
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
        (409, "the ticket is not in a state this applies to"),
        (413, "request too large"),
        (415, "not JSON"),
        (422, "invalid: `field` names what"),
        (503, "the log cannot take writes now: retry after `Retry-After` seconds"),
    )
}
_READ_PROBLEMS = {code: v for code, v in _PROBLEMS.items() if code not in ("409", "413", "415")}
