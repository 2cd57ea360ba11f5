"""How kafka-python errors become the engine's (``engine.errors``); they never reach callers.

- :class:`LogUnavailable`: the cluster could not be reached or did not answer in time
  (bootstrap, metadata, request timeouts, retriable broker errors). Retry later; readiness
  probes report not ready.
- :class:`LogError`: anything else (authentication, authorisation, record too large,
  unknown topic, misconfiguration, an adapter used after ``close``).
- :class:`CommitFailed` (a ``LogError``): the group moved on before an offset commit
  landed; the records will be redelivered to the partitions' new owner. The consumer
  handles it itself (logs, drops the positions, rejoins on the next poll).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import kafka.errors as kerr

from engine.errors import CommitFailed, LogError, LogUnavailable

__all__ = ["CommitFailed", "LogError", "LogUnavailable", "translate", "translated"]


_COMMIT_REJECTED = (
    kerr.CommitFailedError,
    kerr.RebalanceInProgressError,
    kerr.IllegalGenerationError,
    kerr.UnknownMemberIdError,
    kerr.FencedInstanceIdError,
)


def translate(exc: BaseException, action: str) -> Exception:
    """The adapter exception for a kafka-python (or socket) error raised during ``action``."""
    message = f"{action}: {exc}"
    if isinstance(exc, _COMMIT_REJECTED):
        return CommitFailed(message)
    if isinstance(exc, kerr.UnknownTopicOrPartitionError):
        return LogError(message)  # retriable for the client, but a missing topic stays missing
    if isinstance(exc, kerr.RetriableError | OSError):
        return LogUnavailable(message)
    return LogError(message)


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Re-raise kafka-python and socket errors inside the block as adapter errors."""
    try:
        yield
    except (kerr.KafkaError, OSError) as exc:
        raise translate(exc, action) from exc
