"""The embedded demo's HTTP API: the gateway (``engine.gateway``) on the demo's in-memory
log and stores, served by uvicorn in a background thread, with two tokens made at start.

Requests go into the same in-memory log the simulated call center writes to, and the
demo's in-process dispatcher and SLA tracker apply them: the API behaves as it does
against Kafka and Redis (``dispatch run gateway``), without any service.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.adapters.memory.tokens import MemoryTokenStore
from engine.clock import WallClock
from engine.core.policy import Policy
from engine.demo import callcenter as cc
from engine.demo.backend import EmbeddedBackend
from engine.gateway.app import create_app
from engine.gateway.deps import Gateway
from engine.gateway.server import BackgroundServer
from engine.gateway.tokens import grant

DESK_AGENT = "desk-1"  # an agent the simulation does not drive: yours, over HTTP


@dataclass
class DemoApi:
    server: BackgroundServer
    supervisor_token: str
    agent_token: str
    producer_token: str
    tenant: str = cc.TENANT
    agent: str = DESK_AGENT

    @property
    def url(self) -> str:
        return self.server.url

    def banner(self) -> str:
        return "\n".join(
            [
                f"HTTP API on {self.url} (tenant {self.tenant}; docs/api.md, {self.url}/docs)",
                f"  supervisor token: {self.supervisor_token}",
                f"  agent token ({self.agent}, not simulated: log it in): {self.agent_token}",
                f"  producer token:   {self.producer_token}",
            ]
        )

    def stop(self) -> None:
        self.server.stop()


def start_api(
    backend: EmbeddedBackend, policy: Policy, *, host: str = "127.0.0.1", port: int = 0
) -> DemoApi:
    """Serve the API on ``host:port`` (0: a free port). Raises ``OSError`` for a taken port."""
    clock = WallClock()
    tokens = MemoryTokenStore()
    gateway = Gateway(
        publisher=backend.log,
        store=backend.store,
        tokens=tokens,
        policy=policy,
        clock=clock,
        sla=backend.sla_store,
    )
    now = clock.now_ms()
    supervisor, _ = grant(tokens, cc.TENANT, "supervisor", now, name="demo")
    agent, _ = grant(tokens, cc.TENANT, "agent", now, agent=DESK_AGENT, name=DESK_AGENT)
    producer, _ = grant(tokens, cc.TENANT, "producer", now, name="crm")
    server = BackgroundServer(create_app(gateway), host, port).start()
    return DemoApi(server, supervisor, agent, producer)
