"""The gateway on the in-memory adapters, with an in-process dispatcher and SLA tracker.

:class:`Stack` is the embedded demo's backend (``engine.demo.backend.EmbeddedBackend``) plus
a token store and a FastAPI ``TestClient`` per token: ``stack.client("supervisor")``,
``stack.step()`` lets the dispatcher and the SLA tracker apply what the gateway published.
:func:`check_response` validates a response body against the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jsonschema
import yaml
from fastapi.testclient import TestClient
from httpx2 import Response

from engine import codec
from engine.clock import WallClock
from engine.core.policy import Policy, parse_policy
from engine.demo.backend import EmbeddedBackend
from engine.errors import LogUnavailable
from engine.gateway.app import create_app
from engine.gateway.deps import Gateway
from engine.gateway.tokens import grant
from engine.ports import Publisher, Record
from producers.sdk import EventProducer
from tests.unit.gateway.archive_feed import ArchiveFeed

TENANT = "acme"
OTHER = "globex"
POLICY_YAML = """
version: 1
queues:
  - {name: chat, match: {channel: chat}, strategy: least_loaded, offer: {timeout_s: 600},
     sticky: {after_s: 600}, sla: standard}
  - {name: billing, match: {skills_any: [billing]}, strategy: least_loaded,
     skills: {billing: 2}, sla: standard}
  - {name: general, match: {}, strategy: least_loaded, sticky: {after_s: 600}, sla: standard}
sla:
  standard: {first_response_s: 60, resolution_s: 3600, warn_at: 0.8}
"""
INPUT_TOPICS = ("tickets.events", "agents.events", "tickets.lifecycle", "dispatch.commands")


def gateway_policy() -> Policy:
    return parse_policy(yaml.safe_load(POLICY_YAML))


class Stack:
    """Gateway + dispatcher + SLA tracker on the in-memory adapters."""

    def __init__(self, policy: Policy | None = None, publisher: Publisher | None = None) -> None:
        from engine.adapters.memory.tokens import MemoryTokenStore

        self.policy = policy or gateway_policy()
        self.backend = EmbeddedBackend(self.policy)
        self.log = self.backend.log
        self.store = self.backend.store
        self.tokens = MemoryTokenStore()
        self.clock = WallClock()
        self.gateway = Gateway(
            publisher or self.log,
            self.store,
            self.tokens,
            self.policy,
            self.clock,
            sla=self.backend.sla_store,
        )
        self.app = create_app(self.gateway)
        self._doc: dict[str, Any] | None = None
        self.archive: ArchiveFeed | None = None

    def with_archive(self) -> ArchiveFeed:
        """Serve the report routes from an in-memory archive that :meth:`step` feeds."""
        self.archive = ArchiveFeed(self.log)
        self.gateway.extras["archive"] = self.archive.engine
        return self.archive

    @property
    def doc(self) -> dict[str, Any]:
        if self._doc is None:
            self._doc = self.app.openapi()
        return self._doc

    def token(
        self, role: str, tenant: str = TENANT, *, agent: str | None = None, name: str = ""
    ) -> str:
        if role == "admin":
            tenant = "*"
        if role == "agent" and agent is None:
            agent = "a1"
        token, _info = grant(self.tokens, tenant, role, self.clock.now_ms(), agent=agent, name=name)
        return token

    def client(self, role: str | None = None, tenant: str = TENANT, **kw: Any) -> TestClient:
        """A client sending a fresh token of ``role`` (None: no token)."""
        headers = (
            {} if role is None else {"Authorization": f"Bearer {self.token(role, tenant, **kw)}"}
        )
        return TestClient(self.app, headers=headers, raise_server_exceptions=True)

    def with_token(self, token: str) -> TestClient:
        return TestClient(self.app, headers={"Authorization": f"Bearer {token}"})

    def step(self) -> None:
        """Let the dispatcher and the SLA tracker apply everything published so far (and
        the archive, if any, archive it)."""
        self.backend.step()
        if self.archive is not None:
            self.archive.catch_up()

    def records(self, topics: tuple[str, ...] = INPUT_TOPICS) -> list[Record]:
        return [r for t in topics for r in self.log.records(t)]

    def mark(self) -> set[tuple[str, int, int]]:
        """Where every input topic is now (for :meth:`since`)."""
        return {(r.topic, r.partition, r.offset) for r in self.records()}

    def since(self, mark: set[tuple[str, int, int]]) -> list[codec.Event]:
        """The input events published after ``mark``, decoded (each one must decode)."""
        return [
            codec.decode(r.value)
            for r in self.records()
            if (r.topic, r.partition, r.offset) not in mark
        ]

    def events(self, topics: tuple[str, ...] = INPUT_TOPICS) -> list[codec.Event]:
        """Every input event published so far, decoded (each one must decode)."""
        return [codec.decode(r.value) for r in self.records(topics)]

    # --- a small world: two agents and three tickets of TENANT ---------------------------
    def seed(self, tenant: str = TENANT) -> None:
        """Agents a1, a2 (chat 2, email 2; a2 billing 3) and tickets ``t-offer`` (chat,
        offered to a1), ``t-assigned`` (email, assigned to a1), ``t-wait`` (phone: nobody
        takes it, waiting in general)."""
        producer = EventProducer(self.log, tenant=tenant)  # straight onto the log: fast
        producer.login("a1", capacity={"chat": 2, "email": 2})
        producer.login("a2", capacity={"chat": 2, "email": 2}, skills={"billing": 3})
        self.step()
        producer.ticket("t-offer", channel="chat", priority=3, preferred_agent="a1")
        producer.ticket("t-assigned", channel="email", priority=3, preferred_agent="a1")
        producer.ticket("t-wait", channel="phone", priority=4)
        self.step()


class DownLog:
    """A publisher whose log never acknowledges (Kafka down)."""

    def __init__(self) -> None:
        self.calls = 0

    def publish(self, records: Sequence[tuple[str, bytes, bytes]], timeout_s: float) -> None:
        self.calls += 1
        raise LogUnavailable(f"not acknowledged within {timeout_s:g} s")


def ok(response: Response, status: int | None = None) -> dict[str, Any]:
    """The JSON body of a 2xx response (or of ``status``); fails with the problem."""
    wanted = status if status is not None else response.status_code
    assert response.status_code == wanted and 200 <= wanted < 300, (
        f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    )
    body: dict[str, Any] = response.json()
    return body


def problem(response: Response, status: int, field: str | None = None) -> dict[str, Any]:
    """A problem+json refusal with ``status`` (naming ``field`` when given)."""
    assert response.status_code == status, f"{response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    if field is not None:
        assert body.get("field") == field, body
    return body


def _template(doc: Mapping[str, Any], path: str) -> str:
    """The document's path template matching a concrete path."""
    parts = path.split("?")[0].strip("/").split("/")
    for template in doc["paths"]:
        tparts = template.strip("/").split("/")
        if len(tparts) == len(parts) and all(
            t == p or (t.startswith("{") and t.endswith("}"))
            for t, p in zip(tparts, parts, strict=True)
        ):
            return str(template)
    raise AssertionError(f"no path of the document matches {path}")


def check_response(doc: Mapping[str, Any], response: Response) -> None:
    """The response's status is documented for its operation and its JSON body follows the
    documented schema."""
    request = response.request
    template = _template(doc, request.url.path)
    op = doc["paths"][template][request.method.lower()]
    documented = op["responses"].get(str(response.status_code))
    assert documented is not None, (
        f"{request.method} {template}: {response.status_code} undocumented"
    )
    content = documented.get("content", {})
    media = response.headers["content-type"].split(";")[0]
    assert media in content, f"{request.method} {template}: {media} not in {list(content)}"
    schema = {**content[media]["schema"], "components": doc["components"]}
    jsonschema.Draft202012Validator(schema).validate(response.json())
