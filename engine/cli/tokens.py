"""``dispatch tokens create|list|revoke``: the HTTP gateway's bearer tokens, in Redis.

``create`` prints the token alone on stdout (``TOKEN=$(dispatch tokens create ...)``), once:
Redis keeps only its SHA-256. ``list`` shows every token (revoked ones too) by its public id,
``revoke`` takes effect at the next request. The same as the admin routes ``/v1/tokens``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from engine.clock import WallClock
from engine.config import Settings
from engine.exitcodes import RET_INVALID, RET_OK
from engine.gateway.tokens import ALL_TENANTS, ROLES, GrantError, grant
from engine.ports import TokenInfo, TokenStore

DESCRIPTION = """\
Bearer tokens of the HTTP gateway (`dispatch run gateway`). Each token has one tenant and
one role: producer (tickets and their lifecycle events), agent (one agent's status, work,
offers and claims: --agent), supervisor (everything in its tenant, commands included),
admin (tokens, every tenant: --tenant '*'). Tokens are stored hashed in Redis
(DISPATCH_REDIS_URL, key <DISPATCH_REDIS_PREFIX>:tokens); a revoked one is refused at
its next request.
"""


def _open_store(settings: Settings) -> tuple[TokenStore, Callable[[], None]]:
    from consumers.tokens import open_store  # the composition root imports redis-py

    return open_store(settings)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "tokens",
        help="create, list or revoke the HTTP gateway's bearer tokens",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = p.add_subparsers(dest="tokens_command", metavar="{create,list,revoke}")
    commands.required = True
    create = commands.add_parser(
        "create",
        help="issue a token and print it (once)",
        description="Print the new token on stdout; its id and grant go to stderr.",
    )
    create.add_argument("--tenant", required=True, help=f"the tenant ({ALL_TENANTS!r} for admin)")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--agent", default=None, help="the agent of an agent token")
    create.add_argument(
        "--name", default="", help="who holds it; commands record <role>:<name> (an id)"
    )
    create.add_argument("--json", action="store_true", help="print one JSON object instead")
    create.set_defaults(func=cmd_create)
    listing = commands.add_parser("list", help="every token, revoked ones included")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=cmd_list)
    revoke = commands.add_parser("revoke", help="revoke a token by its id (exit 1: none)")
    revoke.add_argument("token_id", help="the id `dispatch tokens list` shows")
    revoke.set_defaults(func=cmd_revoke)


def cmd_create(args: argparse.Namespace) -> int:
    store, close = _open_store(Settings.load())
    try:
        token, info = grant(
            store,
            args.tenant,
            args.role,
            WallClock().now_ms(),
            agent=args.agent,
            name=args.name,
        )
    except GrantError as exc:
        for error in exc.errors:
            print(f"dispatch tokens create: {error}", file=sys.stderr)
        return RET_INVALID
    finally:
        close()
    if args.json:
        print(json.dumps({"token": token, **asdict(info)}, sort_keys=True))
    else:
        print(token)
        print(f"token {info.token_id}: {_grant_text(info)} (shown once)", file=sys.stderr)
    return RET_OK


def _grant_text(info: TokenInfo) -> str:
    text = f"tenant {info.tenant}, role {info.role}"
    if info.agent:
        text += f", agent {info.agent}"
    if info.name:
        text += f", name {info.name}"
    return text


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cmd_list(args: argparse.Namespace) -> int:
    store, close = _open_store(Settings.load())
    try:
        tokens = store.all()
    finally:
        close()
    if args.json:
        for info in tokens:
            print(json.dumps(asdict(info), sort_keys=True))
        return RET_OK
    rows: list[tuple[Any, ...]] = [("ID", "TENANT", "ROLE", "AGENT", "NAME", "CREATED", "REVOKED")]
    rows += [
        (
            t.token_id,
            t.tenant,
            t.role,
            t.agent or "-",
            t.name or "-",
            _when(t.created_ms),
            _when(t.revoked_ms),
        )
        for t in tokens
    ]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return RET_OK


def cmd_revoke(args: argparse.Namespace) -> int:
    store, close = _open_store(Settings.load())
    try:
        done = store.revoke(args.token_id, WallClock().now_ms())
    finally:
        close()
    if not done:
        print(f"dispatch tokens revoke: no active token {args.token_id!r}", file=sys.stderr)
        return RET_INVALID
    print(f"revoked {args.token_id}")
    return RET_OK
