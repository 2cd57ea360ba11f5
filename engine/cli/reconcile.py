"""`dispatch reconcile`: compare Redis with the decisions topic; repair after a Redis loss."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from engine.config import ConfigError, Settings
from engine.exitcodes import RET_INVALID

RECONCILE_DESCRIPTION = """\
Compare the agents' open tickets in Redis with the decisions on dispatch.assignments and
report drift per agent (exit 1 when any). --repair rebuilds what Redis lost (after a
Redis failure): agents from agents.events, open and waiting tickets from tickets.events as
decided, then lets available agents pull waiting work. Tickets still in Redis are never
changed. --repair then sets the store's state marker: dispatchers that paused because
Redis lost its data (flushed or restarted empty; /readyz 503, "dispatching paused" in
their log) resume. Settings as for `dispatch run`.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "reconcile",
        help="compare Redis with the decisions topic; --repair rebuilds lost state",
        description=RECONCILE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--repair", action="store_true", help="rebuild what Redis lost")
    p.add_argument("--policy", default=None, help="policy file (overrides DISPATCH_POLICY)")
    p.set_defaults(func=cmd_reconcile)


def cmd_reconcile(args: argparse.Namespace) -> int:
    try:
        settings = Settings.load()
    except ConfigError as exc:
        print(f"dispatch: {exc}", file=sys.stderr)
        return RET_INVALID
    if args.policy:
        settings = replace(settings, policy_path=Path(args.policy))
    from consumers import reconcile  # the composition root imports the drivers

    return reconcile.run(settings, do_repair=args.repair, out=sys.stdout)
