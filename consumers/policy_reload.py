"""Hot policy reload for the long-running processes: between batches, a changed policy file
that validates replaces the running policy; a bad one is refused, logged with every error's
path and counted, and the old one keeps serving. ``/readyz`` names the active revision."""

from __future__ import annotations

from collections.abc import Callable

from engine.core.policy import Policy
from engine.endpoints import Health, PolicyMetrics
from engine.logs import get_logger
from engine.policy_file import APPLIED, PolicyWatcher

log = get_logger(__name__)


def policy_reloader(
    watcher: PolicyWatcher,
    apply: Callable[[Policy], None],
    metrics: PolicyMetrics,
    health: Health,
) -> Callable[[], None]:
    """The periodic check: apply a new valid policy, refuse a bad one."""
    metrics.active(watcher.current.revision)
    health.info["policy"] = watcher.current.revision

    def check() -> None:
        result = watcher.check()
        if result is None:
            return
        metrics.reloads.labels(result.result).inc()
        if result.result == APPLIED:
            apply(result.policy)
            metrics.active(result.policy.revision)
            health.info["policy"] = result.policy.revision
            log.info("policy %s applied (revision %s)", watcher.path, result.policy.revision)
        else:
            log.error(
                "policy %s refused, revision %s keeps serving: %s",
                watcher.path,
                watcher.current.revision,
                "; ".join(result.errors),
            )

    return check
