"""Property-based tests generated from the gateway's OpenAPI document (schemathesis): for
requests of every operation, valid and invalid, the gateway never answers 5xx, every answer
has a documented status, media type and body, schema-invalid requests are refused with a
4xx, and every event it published decodes with the codec (nothing invalid is ever written).

The gateway runs on the in-memory adapters with an in-process dispatcher, seeded with a few
agents and tickets (``Stack.seed``) so that generated requests also reach existing ids.
Requests carry a supervisor token (every route but the token routes) or an admin one; a
generated valid ``?tenant=`` is replaced by the token's own (any other is a 403 by design).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.core.parameters import ParameterLocation

from engine import codec
from tests.unit.gateway.harness import TENANT, Stack

pytestmark = [pytest.mark.unit, pytest.mark.slow]

STACK = Stack()
STACK.with_archive()  # the report routes read it
STACK.seed()
SUPERVISOR = STACK.token("supervisor", name="prop")
ADMIN = STACK.token("admin", name="prop")
schema = schemathesis.openapi.from_asgi("/openapi.json", STACK.app)


def negative_data_rejection(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """schemathesis's check, with 413 among the refusals: a batch over 1,000 tickets (the
    schema's ``maxItems``) is answered 413, as every request over a size limit."""
    if response.status_code == 413:
        return True
    result: bool | None = checks.negative_data_rejection(ctx, response, case)
    return result


CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    negative_data_rejection,
]


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_request_yields_a_5xx_or_writes_anything_invalid(case: schemathesis.Case) -> None:
    token = ADMIN if case.path.startswith("/v1/tokens") else SUPERVISOR
    headers = {"Authorization": f"Bearer {token}"}
    # ?tenant= is for admin tokens: a valid one other than the token's is a 403, which would
    # hide the route behind it. Valid values become the token's tenant; invalid ones stay.
    query_negative = case.meta is not None and case.meta.is_negative_at(ParameterLocation.QUERY)
    if case.query and "tenant" in case.query and not query_negative:
        case.query["tenant"] = TENANT
    mark = STACK.mark()
    response = case.call(headers=headers)
    case.validate_response(response, checks=CHECKS, headers=headers)
    new = [r for r in STACK.records() if (r.topic, r.partition, r.offset) not in mark]
    if response.status_code >= 300:
        assert new == [], f"a refused request ({response.status_code}) wrote {len(new)} records"
    for record in new:
        ev = codec.decode(record.value)  # raises for anything invalid
        assert codec.key_of(ev) == record.key
    STACK.step()  # the dispatcher applies what was written: the next requests see it
