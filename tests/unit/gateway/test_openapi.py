"""The OpenAPI document: checked in (docs/openapi.json) and current, served at
/openapi.json, and built from the codec's own schemas so that the two cannot drift."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine import codec
from engine.gateway import openapi, openapi_dump
from engine.gateway.app import create_app
from engine.gateway.hub import StreamHub
from engine.gateway.openapi import SERVER_SET
from engine.gateway.streams import streams_router
from tests.unit.gateway.harness import Stack

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi_dump.document()


def test_the_checked_in_document_is_current(doc: dict[str, Any]) -> None:
    path = openapi_dump.docs_file()
    assert path.read_text("utf-8") == openapi_dump.render(doc), (
        "docs/openapi.json is stale: run python -m engine.gateway.openapi_dump"
    )
    assert openapi_dump.main(["--check"]) == 0


def test_the_dump_reports_and_writes_a_stale_file(tmp_path: Any, capsys: Any) -> None:
    out = tmp_path / "openapi.json"
    out.write_text("{}")
    assert openapi_dump.main(["--check", "--out", str(out)]) == 1
    assert "out of date" in capsys.readouterr().out
    assert openapi_dump.main(["--out", str(out)]) == 0
    assert openapi_dump.main(["--check", "--out", str(out)]) == 0


def test_the_gateway_serves_the_same_document(doc: dict[str, Any]) -> None:
    # Given the gateway as `dispatch run gateway` builds it: with the stream routes
    stack = Stack()
    stack.gateway.extras["routers"] = [streams_router(StreamHub())]
    served = TestClient(create_app(stack.gateway)).get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(openapi_dump.render(doc))
    assert doc["openapi"].startswith("3.1")


EXPECTED_PATHS = {
    "/v1/tickets": {"post"},
    "/v1/tickets/batch": {"post"},
    "/v1/tickets/{ticket_id}/events": {"post"},
    "/v1/tickets/{ticket_id}": {"get"},
    "/v1/queues": {"get"},
    "/v1/agents": {"get"},
    "/v1/agents/{agent_id}/events": {"post"},
    "/v1/agents/{agent_id}/work": {"get"},
    "/v1/agents/{agent_id}/offers/{ticket_id}/accept": {"post"},
    "/v1/agents/{agent_id}/offers/{ticket_id}/reject": {"post"},
    "/v1/agents/{agent_id}/claim": {"post"},
    **{
        f"/v1/commands/{k}": {"post"}
        for k in (
            "reassign",
            "force_assign",
            "pause_queue",
            "resume_queue",
            "raise_priority",
            "move_queue",
        )
    },
    "/v1/tokens": {"get", "post"},
    "/v1/tokens/{token_id}": {"delete"},
    "/v1/agents/{agent_id}/stream": {"get"},
    "/v1/stream": {"get"},
    # the archive (routes_reports)
    "/v1/tickets/{ticket_id}/history": {"get"},
    **{f"/v1/reports/{r}": {"get"} for r in ("agents", "queues", "channels", "kpis")},
}


def test_every_route_is_documented_with_its_answers(doc: dict[str, Any]) -> None:
    assert {p: set(ops) for p, ops in doc["paths"].items()} == EXPECTED_PATHS
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            ok = [c for c in op["responses"] if c.startswith("2")]
            assert len(ok) == 1, (method, path)
            content = op["responses"][ok[0]]["content"]
            if "text/event-stream" in content:  # the SSE streams: a stream of events
                continue
            schema = content["application/json"]["schema"]
            assert schema.get("$ref", "").startswith("#/components/schemas/"), (method, path)
            for code in ("401", "403", "404", "422", "503"):
                assert code in op["responses"], (method, path, code)
    assert doc["security"] == [{"bearer": []}]


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def test_every_component_is_used_and_every_reference_resolves(doc: dict[str, Any]) -> None:
    names = set(doc["components"]["schemas"])
    refs = {r.removeprefix("#/components/schemas/") for r in _refs(doc)}
    assert refs <= names
    assert names <= refs


def _event_request_schemas(doc: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """``component name -> (event type, schema)`` of every request body built from an event."""
    out = {}
    for name, schema in doc["components"]["schemas"].items():
        for event_type in codec.event_types():
            base = openapi.schema_name(event_type)
            if name in (base, openapi.schema_name(event_type, with_kind=True)):
                out[name] = (event_type, schema)
    named = {
        "ClaimRequest": "command.claim",
        "OfferAcceptRequest": "ticket.accepted",
        "OfferRejectRequest": "ticket.rejected",
        **{
            "".join(p.capitalize() for p in k.split("_")) + "CommandRequest": f"command.{k}"
            for k in (
                "reassign",
                "force_assign",
                "pause_queue",
                "resume_queue",
                "raise_priority",
                "move_queue",
            )
        },
    }
    for name, event_type in named.items():
        out[name] = (event_type, doc["components"]["schemas"][name])
    return out


def test_request_bodies_are_the_codecs_schemas(doc: dict[str, Any]) -> None:
    found = _event_request_schemas(doc)
    assert len(found) == 8 + 4 + 1 + 3 + 6  # lifecycle, agent events, create, offers+claim, cmds
    for name, (event_type, schema) in found.items():
        source = openapi.event_schema(event_type)
        for prop, sub in schema["properties"].items():
            if prop in SERVER_SET or sub is False:
                assert sub is False, (name, prop)
                continue
            if prop == "kind":
                assert sub["const"] == event_type.split(".", 1)[1]
                continue
            original = source["properties"][prop]
            required_text = prop in schema["required"] and prop not in source["required"]
            for keyword in ("type", "pattern", "maxLength", "minimum", "maximum", "enum"):
                if required_text and keyword == "pattern":  # a required reason: not blank
                    assert sub[keyword] == r"\S" and sub["minLength"] == 1
                    continue
                assert sub.get(keyword) == original.get(keyword), (name, prop, keyword)
        # everything the codec requires is required or set by the gateway / the path
        gateway_set = {*SERVER_SET, "id", "ts", "supervisor", "agent"}
        assert set(source["required"]) - gateway_set <= set(schema["required"]), name


def test_server_set_fields_are_refused_by_the_document(doc: dict[str, Any]) -> None:
    reassign = doc["components"]["schemas"]["ReassignCommandRequest"]
    assert reassign["properties"]["supervisor"] is False
    assert "reason" in reassign["required"]
    created = doc["components"]["schemas"]["TicketCreatedRequest"]
    assert all(created["properties"][f] is False for f in SERVER_SET)
