"""Every exception the engine raises on purpose, under one root: :class:`EngineError`.

Adapters translate driver errors (kafka-python, redis-py) into these, so no caller ever
catches a driver exception. Two families matter to a long-running loop:

* :class:`Unavailable` -- a dependency could not be reached or did not answer; whether the
  call took effect is unknown. Every mutating call is idempotent, so the same call may be
  retried as is (the loop backs off and reports not ready).
* :class:`Rejected` -- a property of one input record: the record is dead-lettered with
  ``reason`` and the rest of its batch proceeds.
* everything else -- the configuration or a bug: retrying the same call gives the same
  answer.

Standard-library only: the pure core (``engine.core``) raises :class:`PolicyError` from here.
"""

from __future__ import annotations


class EngineError(Exception):
    """The root of every exception the engine raises on purpose."""


class Unavailable(EngineError):
    """A dependency (Kafka, Redis, a database) could not be reached or timed out."""


class StoreUnavailable(Unavailable):
    """The agent or SLA store could not complete a call; whether it took effect is unknown.

    Every mutating call is idempotent per ticket id, so the caller may retry it as is.
    """


class StoreLost(StoreUnavailable):
    """The store answers but has lost its state (Redis flushed or restarted empty while the
    consumer group has committed offsets): dispatching pauses until ``dispatch reconcile
    --repair`` rebuilds it from the topics."""


class SystemicFailure(Unavailable):
    """Every record lately failed the same way: more likely a broken dependency or a bug than
    bad input, so the loop stops dead-lettering and retries (not ready) until it clears."""


class Rejected(EngineError):
    """The input cannot be processed: a property of the record, not of the system. Retrying
    gives the same answer, so the record goes to the dead-letter topic with ``reason``."""

    reason = "unprocessable"

    def __init__(self, detail: str, reason: str | None = None) -> None:
        super().__init__(detail)
        if reason is not None:
            self.reason = reason


class StoreRejected(Rejected):
    """A store script failed on its input (a Lua runtime error, not a connection fault)."""

    reason = "store_rejected"


class UnknownEntity(Rejected):
    """An event names something the store does not know (a stray lifecycle event, an agent
    event before its login): recorded as ignored, never registered."""


class UnknownTicket(UnknownEntity):
    """A lifecycle event or command names a ticket the store does not know (only
    ``ticket.created`` registers a ticket)."""

    reason = "unknown_ticket"


class UnknownAgent(UnknownEntity):
    """An agent event names an agent that never logged in (only ``agent.login`` registers
    an agent)."""

    reason = "unknown_agent"


class UnknownTenant(UnknownEntity):
    """A command names a tenant the store does not know (tickets and logins create tenants)."""

    reason = "unknown_tenant"


class LogUnavailable(Unavailable):
    """The event log is unreachable or timed out; the same call may succeed later."""


class LogError(EngineError):
    """A non-transient failure of the event log (authentication, authorisation, record too
    large, unknown topic, misconfiguration, an adapter used after ``close``)."""


class CommitFailed(LogError):
    """An offset commit was rejected because the group moved on (rebalance, eviction)."""


class ConfigError(EngineError, ValueError):
    """A setting has a bad value; ``variable`` names it (e.g. ``DISPATCH_HTTP_PORT``)."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


class PolicyError(EngineError, ValueError):
    """A policy document is invalid; ``errors`` holds ``(path, message)`` pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("\n".join(f"{p}: {m}" for p, m in errors))


class DevstackError(EngineError, RuntimeError):
    """A local service (Kafka, Redis) could not be resolved, started or stopped."""
