"""HTTP SDK: the gateway's API (docs/api.md) from Python, standard library only.

``GatewayClient(base_url, token)`` sends JSON with ``Authorization: Bearer <token>`` and
returns the decoded answer; any refusal raises :class:`GatewayError` carrying the
problem+json (``status``, ``title``, ``detail``, ``field``) and, on a 503, ``retry_after``
(seconds). A write that returned was acknowledged by Kafka. Writes are safe to repeat: a
ticket's ``id`` makes its creation idempotent, so on a 503 or a lost answer send it again.

For the Kafka producer SDK (events straight onto the topics) see :mod:`producers.sdk`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_TIMEOUT_S = 15.0


class GatewayError(Exception):
    """A refused request: the gateway's problem+json, or a transport failure (status 0)."""

    def __init__(
        self, status: int, problem: Mapping[str, Any], retry_after: float | None = None
    ) -> None:
        self.status = status
        self.problem = dict(problem)
        self.title = str(problem.get("title", ""))
        self.detail = str(problem.get("detail", ""))
        self.field: str | None = problem.get("field")
        self.retry_after = retry_after
        where = f" (field {self.field})" if self.field else ""
        super().__init__(f"{status} {self.title}: {self.detail}{where}")

    @property
    def retryable(self) -> bool:
        """The same request may succeed later (the log or the store was unavailable)."""
        return self.status in (0, 503)


class GatewayClient:
    """One token's view of the gateway. ``tenant``: the tenant an admin token acts in."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        tenant: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.tenant = tenant
        self.timeout_s = timeout_s

    # ---- transport --------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request; the decoded JSON answer, or :class:`GatewayError`."""
        url = self.base_url + path
        if self.tenant is not None and not path.startswith("/v1/tokens"):  # tokens: no tenant
            url += "?" + urllib.parse.urlencode({"tenant": self.tenant})
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                problem = json.loads(raw)
            except ValueError:
                problem = {"title": exc.reason, "detail": raw[:200].decode(errors="replace")}
            if not isinstance(problem, dict):
                problem = {"title": str(exc.reason)}
            after = exc.headers.get("Retry-After")
            raise GatewayError(
                exc.code, problem, float(after) if after and after.isdigit() else None
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GatewayError(0, {"title": "unreachable", "detail": str(reason)}) from None
        return json.loads(raw) if raw else None

    @staticmethod
    def _fields(fields: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in fields.items() if v is not None}

    @staticmethod
    def _q(ident: str) -> str:
        return urllib.parse.quote(ident, safe="")

    # ---- tickets ------------------------------------------------------------------------
    def create_ticket(
        self, ticket_id: str, *, channel: str, priority: int, **fields: Any
    ) -> dict[str, Any]:
        """``POST /v1/tickets``; the same ``ticket_id`` again is answered the same."""
        body = {"id": ticket_id, "channel": channel, "priority": priority, **fields}
        result: dict[str, Any] = self.request("POST", "/v1/tickets", self._fields(body))
        return result

    def create_tickets(self, tickets: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """``POST /v1/tickets/batch``: up to 1,000, all or nothing."""
        result: dict[str, Any] = self.request(
            "POST", "/v1/tickets/batch", {"tickets": [dict(t) for t in tickets]}
        )
        return result

    def ticket_event(self, ticket_id: str, kind: str, **fields: Any) -> dict[str, Any]:
        """``POST /v1/tickets/{id}/events``: first_response, replied, waiting, resolved,
        reopened, closed, rated, cancelled."""
        body = {"kind": kind, **self._fields(fields)}
        result: dict[str, Any] = self.request(
            "POST", f"/v1/tickets/{self._q(ticket_id)}/events", body
        )
        return result

    def ticket(self, ticket_id: str) -> dict[str, Any]:
        """``GET /v1/tickets/{id}``: state, agent, SLA clocks, the latest decision."""
        result: dict[str, Any] = self.request("GET", f"/v1/tickets/{self._q(ticket_id)}")
        return result

    # ---- agents -------------------------------------------------------------------------
    def agent_event(self, agent_id: str, kind: str, **fields: Any) -> dict[str, Any]:
        """``POST /v1/agents/{id}/events``: login, logout, status, update."""
        body = {"kind": kind, **self._fields(fields)}
        result: dict[str, Any] = self.request(
            "POST", f"/v1/agents/{self._q(agent_id)}/events", body
        )
        return result

    def login(self, agent_id: str, *, capacity: Mapping[str, int], **fields: Any) -> dict[str, Any]:
        return self.agent_event(agent_id, "login", capacity=dict(capacity), **fields)

    def logout(self, agent_id: str) -> dict[str, Any]:
        return self.agent_event(agent_id, "logout")

    def status(self, agent_id: str, status: str) -> dict[str, Any]:
        return self.agent_event(agent_id, "status", status=status)

    def work(self, agent_id: str) -> dict[str, Any]:
        """``GET /v1/agents/{id}/work``: open tickets and pending offers."""
        result: dict[str, Any] = self.request("GET", f"/v1/agents/{self._q(agent_id)}/work")
        return result

    def accept(self, agent_id: str, ticket_id: str, *, reason: str | None = None) -> dict[str, Any]:
        return self._offer(agent_id, ticket_id, "accept", reason)

    def reject(self, agent_id: str, ticket_id: str, *, reason: str | None = None) -> dict[str, Any]:
        return self._offer(agent_id, ticket_id, "reject", reason)

    def _offer(
        self, agent_id: str, ticket_id: str, answer: str, reason: str | None
    ) -> dict[str, Any]:
        path = f"/v1/agents/{self._q(agent_id)}/offers/{self._q(ticket_id)}/{answer}"
        result: dict[str, Any] = self.request("POST", path, self._fields({"reason": reason}))
        return result

    def claim(
        self, agent_id: str, *, ticket: str | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """``POST /v1/agents/{id}/claim``: the best waiting ticket, or ``ticket``."""
        body = self._fields({"ticket": ticket, "reason": reason})
        result: dict[str, Any] = self.request("POST", f"/v1/agents/{self._q(agent_id)}/claim", body)
        return result

    # ---- supervisors --------------------------------------------------------------------
    def command(self, kind: str, ident: str, *, reason: str, **fields: Any) -> dict[str, Any]:
        """``POST /v1/commands/{kind}``; the supervisor recorded is this token's identity."""
        body = {"id": ident, "reason": reason, **self._fields(fields)}
        result: dict[str, Any] = self.request("POST", f"/v1/commands/{kind}", body)
        return result

    def reassign(self, ticket_id: str, to_agent: str, *, reason: str) -> dict[str, Any]:
        return self.command("reassign", ticket_id, reason=reason, to_agent=to_agent)

    def force_assign(self, ticket_id: str, to_agent: str, *, reason: str) -> dict[str, Any]:
        return self.command("force_assign", ticket_id, reason=reason, to_agent=to_agent)

    def pause_queue(self, queue: str, *, reason: str) -> dict[str, Any]:
        return self.command("pause_queue", queue, reason=reason)

    def resume_queue(self, queue: str, *, reason: str) -> dict[str, Any]:
        return self.command("resume_queue", queue, reason=reason)

    def raise_priority(self, ticket_id: str, priority: int, *, reason: str) -> dict[str, Any]:
        return self.command("raise_priority", ticket_id, reason=reason, priority=priority)

    def move_queue(self, ticket_id: str, queue: str, *, reason: str) -> dict[str, Any]:
        return self.command("move_queue", ticket_id, reason=reason, queue=queue)

    def queues(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/v1/queues")["queues"]
        return result

    def agents(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/v1/agents")["agents"]
        return result

    # ---- admins -------------------------------------------------------------------------
    def create_token(
        self, tenant: str, role: str, *, agent: str | None = None, name: str | None = None
    ) -> dict[str, Any]:
        body = self._fields({"tenant": tenant, "role": role, "agent": agent, "name": name})
        result: dict[str, Any] = self.request("POST", "/v1/tokens", body)
        return result

    def tokens(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/v1/tokens")["tokens"]
        return result

    def revoke_token(self, token_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("DELETE", f"/v1/tokens/{self._q(token_id)}")
        return result
