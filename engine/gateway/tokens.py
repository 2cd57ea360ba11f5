"""Bearer tokens: minted once, stored hashed, one tenant and one role each.

A token is ``dsp_`` + 43 URL-safe characters (32 random bytes). The store keeps only its
SHA-256 digest and a :class:`engine.ports.TokenInfo`; the public ``token_id`` (the first 12
hex digits of the digest) names it in lists and revocations. No I/O but through the
:class:`engine.ports.TokenStore` port (:func:`grant`): the CLI (``dispatch tokens``) and
the admin routes (``/v1/tokens``) issue tokens the same way.
"""

from __future__ import annotations

import hashlib
import secrets

from engine.core import bounds
from engine.ports import TokenInfo, TokenStore

PREFIX = "dsp_"
ROLES = ("producer", "agent", "supervisor", "admin")
ALL_TENANTS = "*"  # the tenant of an admin token
TOKEN_ID_HEX = 12
# A token's name makes its identity in commands and decisions, "<role>:<name>" (an id).
NAME_MAX_CHARS = bounds.ID_MAX_CHARS - len("supervisor:")


def mint() -> tuple[str, str, str]:
    """A new token: ``(token, digest, token_id)``. Show the token once; store the digest."""
    token = PREFIX + secrets.token_urlsafe(32)
    d = digest(token)
    return token, d, d[:TOKEN_ID_HEX]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_grant(tenant: str, role: str, agent: str | None, name: str = "") -> list[str]:
    """What is wrong with a token request (empty: fine), each ``field: problem``."""
    errors = []
    if role not in ROLES:
        errors.append(f"role: one of {', '.join(ROLES)}, got {role!r}")
    if role == "admin":
        if tenant != ALL_TENANTS:
            errors.append(f"tenant: an admin token spans every tenant: use {ALL_TENANTS!r}")
    elif not bounds.TENANT_RE.fullmatch(tenant):
        errors.append(f"tenant: {tenant!r} is not a tenant name ({bounds.TENANT_PATTERN})")
    if role == "agent":
        if not agent or not bounds.ID_RE.fullmatch(agent):
            errors.append("agent: an agent token names its agent (a valid agent id)")
    elif agent:
        errors.append("agent: only an agent token names an agent")
    if name and (len(name) > NAME_MAX_CHARS or not bounds.ID_RE.fullmatch(name)):
        errors.append(
            f"name: 1-{NAME_MAX_CHARS} letters, digits and . _ : @ + -, the first a letter or"
            " digit (it names who issued a command)"
        )
    return errors


class GrantError(ValueError):
    """A token request that :func:`check_grant` refuses; ``errors`` are its findings."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def grant(
    store: TokenStore,
    tenant: str,
    role: str,
    now_ms: int,
    *,
    agent: str | None = None,
    name: str = "",
) -> tuple[str, TokenInfo]:
    """Issue a token: ``(token, info)``. The token is shown once and stored only hashed.
    Raises :class:`GrantError` for a request :func:`check_grant` refuses."""
    errors = check_grant(tenant, role, agent, name)
    if errors:
        raise GrantError(errors)
    token, d, token_id = mint()
    info = TokenInfo(token_id, tenant, role, agent or None, name, created_ms=now_ms)
    store.add(d, info)
    return token, info
