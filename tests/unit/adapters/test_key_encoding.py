"""No two distinct (tenant, key name, parts) give the same Redis key, and every key of a pool
carries that pool's hash tag, whatever the names hold (separators, braces, '%', non-ASCII)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import escaping
from engine.adapters.redis import keys

pytestmark = pytest.mark.unit

names = st.text(max_size=12)  # any code points, including '}', ':', '|', '%', '{'
hostile = st.text(alphabet="ab{}:|%t \u00e9", max_size=8)
anything = st.one_of(names, hostile)
templates = st.sampled_from(sorted(keys.POOL_KEYS))


def parts_for(name: str) -> int:
    return keys.POOL_KEYS[name].count("%s")


@st.composite
def key_specs(draw: st.DrawFn) -> tuple[str, str, tuple[str, ...]]:
    name = draw(templates)
    parts = tuple(draw(anything) for _ in range(parts_for(name)))
    return draw(anything), name, parts


def hash_tag(key: str) -> str:
    """What Redis Cluster hashes: the text between the first '{' and the next '}'."""
    start = key.index("{")
    return key[start + 1 : key.index("}", start + 1)]


@given(a=key_specs(), b=key_specs())
def test_distinct_names_never_share_a_key(
    a: tuple[str, str, tuple[str, ...]], b: tuple[str, str, tuple[str, ...]]
) -> None:
    # Given two key specifications / When both become keys
    ka, kb = keys.pool_key("p", a[0], a[1], *a[2]), keys.pool_key("p", b[0], b[1], *b[2])
    # Then the keys are equal only when the specifications are
    assert (ka == kb) == (a == b)


@given(spec=key_specs())
def test_every_key_of_a_pool_hashes_on_its_tenant_alone(
    spec: tuple[str, str, tuple[str, ...]],
) -> None:
    # Given any tenant and any key of its pool
    tenant, name, parts = spec
    key = keys.pool_key("p", tenant, name, *parts)
    # When Redis Cluster picks the slot / Then it hashes the pool's tag, never part of an id
    assert hash_tag(key) == escaping.tag(tenant)
    assert hash_tag(key) == hash_tag(keys.pool_base("p", tenant))


@given(text=anything)
def test_escaping_round_trips_and_leaves_no_separator(text: str) -> None:
    # Given any name / When it is escaped
    escaped = escaping.escape(text)
    # Then no separator or brace remains, and unescaping gives the name back
    assert not set(escaped) & set(":|{}")
    assert escaping.unescape(escaped) == text


@given(kind=st.sampled_from(["esc", "offer"]), ticket=anything, agent=anything)
def test_timer_members_keep_ids_with_separators_apart(kind: str, ticket: str, agent: str) -> None:
    # Given a timer of a ticket and agent whose ids hold '|' or anything else
    member = escaping.timer_member(kind, ticket, agent)
    # When it is parsed / Then kind, ticket and agent come back exactly
    assert escaping.parse_timer_member(member) == (kind, ticket, agent)


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("acme", "acme"),
        ("T-1001.x@y+z_", "T-1001.x@y+z_"),
        ("crm:42", "crm%3A42"),
        ("k}:t:z", "k%7D%3At%3Az"),
        ("a|b", "a%7Cb"),
        ("50%", "50%25"),
        ("é", "%C3%A9"),
    ],
)
def test_safe_names_stay_readable_and_others_are_percent_escaped(name: str, escaped: str) -> None:
    # Given a name / When escaped / Then it reads as the table says
    assert escaping.escape(name) == escaped


def test_an_empty_tenant_still_gets_a_hash_tag() -> None:
    # Given an empty tenant (validation forbids it; the keys must not rely on that)
    base = keys.pool_base("p", "")
    # When its pool base is built / Then it still has a non-empty tag of its own
    assert base == "p:{%}:"
    assert keys.pool_base("p", "%") != base
