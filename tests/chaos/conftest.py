"""Fixtures of the fault suite: ``make_rig`` builds a :class:`tests.chaos.rig.Rig` on the
session's Kafka and Redis (or on endpoints the case gives) and closes it after the case."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.devstack import RedisServer
from tests.chaos.rig import Rig


@pytest.fixture
def make_rig(
    kafka_bootstrap: str, redis_url: str, unique_name: Callable[[str], str], tmp_path: Path
) -> Iterator[Callable[..., Rig]]:
    """``make_rig(**options)`` -> Rig (options as ``Rig.create``; ``kafka``/``redis`` replace
    the session's endpoints); every rig is closed after the case."""
    made: list[Rig] = []

    def make(*, kafka: str | None = None, redis: str | None = None, **options: Any) -> Rig:
        rig = Rig.create(
            kafka or kafka_bootstrap,
            redis or redis_url,
            unique_name("chaos"),
            tmp_path / f"rig{len(made)}",
            **options,
        )
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the case's own with an append-only file (a restart keeps the data; the
    case may also FLUSHALL it, which the session's shared Redis must never see)."""
    server = RedisServer(tmp_path / "own-redis", persist=True)
    server.start()
    yield server
    server.stop()
