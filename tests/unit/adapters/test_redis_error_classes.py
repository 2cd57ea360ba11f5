"""redis-py errors become the engine's: a script failing on its input is StoreRejected (the
dispatcher dead-letters the record), everything else StoreUnavailable (retry later)."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError, TimeoutError

from engine.adapters.redis.errors import is_script_error, translated
from engine.errors import StoreRejected, StoreUnavailable

pytestmark = pytest.mark.unit

SCRIPT = "script: 57b11f4c6516f4ef2661c6423451796106f8393a, on @user_script:1."


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ResponseError(f"user_script:1: too many results to unpack {SCRIPT}"), StoreRejected),
        (ResponseError(f"user_script:9: boom {SCRIPT}"), StoreRejected),
        (ResponseError(f"WRONGTYPE Operation against a key {SCRIPT}"), StoreRejected),
        (
            ResponseError(f"OOM command not allowed when used memory > 'maxmemory'. {SCRIPT}"),
            StoreUnavailable,
        ),
        (
            ResponseError(f"READONLY You can't write against a read only replica. {SCRIPT}"),
            StoreUnavailable,
        ),
        (ResponseError("BUSY Redis is busy running a script"), StoreUnavailable),
        (ResponseError("CLUSTERDOWN The cluster is down"), StoreUnavailable),
        (RedisConnectionError("Connection refused"), StoreUnavailable),
        (TimeoutError("Timeout reading from socket"), StoreUnavailable),
    ],
)
def test_a_redis_error_becomes_rejected_only_when_a_script_failed_on_its_input(
    error: Exception, expected: type[Exception]
) -> None:
    # Given a redis-py error raised inside the adapter
    # When it leaves the adapter
    with pytest.raises(expected) as caught, translated("assign"):
        raise error
    # Then it is the engine's error, with the original chained
    assert caught.value.__cause__ is error
    assert is_script_error(error) is (expected is StoreRejected)
