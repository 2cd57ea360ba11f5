"""Bearer tokens: minted once, stored hashed, one tenant and one role each.

A token is ``dsp_`` + 43 URL-safe characters (32 random bytes). The store keeps only its
SHA-256 digest and a :class:`engine.ports.TokenInfo`; the public ``token_id`` (the first 12
hex digits of the digest) names it in lists and revocations. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import secrets

from engine.core import bounds

PREFIX = "dsp_"
ROLES = ("producer", "agent", "supervisor", "admin")
ALL_TENANTS = "*"  # the tenant of an admin token
TOKEN_ID_HEX = 12


def mint() -> tuple[str, str, str]:
    """A new token: ``(token, digest, token_id)``. Show the token once; store the digest."""
    token = PREFIX + secrets.token_urlsafe(32)
    d = digest(token)
    return token, d, d[:TOKEN_ID_HEX]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_grant(tenant: str, role: str, agent: str | None) -> list[str]:
    """What is wrong with a token request (empty: fine)."""
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
    return errors
