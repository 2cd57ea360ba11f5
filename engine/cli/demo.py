"""`dispatch demo`: the embedded call-center demo."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine.demo.runner import DemoOptions, run_demo
from engine.exitcodes import RET_INVALID, RET_OK, RET_UNAVAILABLE, RET_USAGE

DESCRIPTION = """\
Run a simulated call center in this process on the in-memory adapters: agents with
skills, regions and per-channel capacities log in, tickets of several channels,
priorities, tiers and regions arrive, the dispatcher routes them under the demo policy
(or --policy), agents accept offers, take breaks and resolve tickets. A live wallboard
shows waiting tickets per queue, agents by status, assigned/s, time to assign and SLA
attainment; a summary follows at the end. No services are needed.

With --real the same call center runs against Kafka and Redis (start them with
`dispatch dev up`, or point DISPATCH_* settings at a stack): its events go through Kafka
topics (a fresh prefix per run), --dispatchers N `dispatch run dispatcher` processes
decide, Redis holds the state, and the wallboard reads it back.

The embedded demo also serves the HTTP API (docs/api.md) on --http-port (default: a free
port; 0: none) and prints its URL with a supervisor, an agent and a producer token: try
the API while the call center runs (use a long --duration).
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="run a simulated call center in-process (no services needed)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--duration", type=float, default=20.0, metavar="S", help="seconds (20)")
    p.add_argument("--rate", type=float, default=20.0, metavar="R", help="tickets/s (20)")
    p.add_argument("--agents", type=int, default=60, metavar="N", help="agents (60)")
    p.add_argument("--seed", type=int, default=7, metavar="N", help="random seed (7)")
    p.add_argument("--policy", type=Path, default=None, help="policy file (built-in demo)")
    p.add_argument(
        "--json", action="store_true", help="print the summary as one JSON object on stdout"
    )
    p.add_argument(
        "--real", action="store_true", help="run against Kafka + Redis + dispatcher processes"
    )
    p.add_argument(
        "--dispatchers", type=int, default=1, metavar="N", help="--real: dispatcher processes (1)"
    )
    p.add_argument(
        "--http-port",
        type=int,
        default=None,
        metavar="P",
        help="serve the HTTP API on 127.0.0.1:P (default: a free port; 0: off; embedded only)",
    )
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.duration <= 0 or args.rate <= 0 or args.agents <= 0:
        print("dispatch demo: --duration, --rate and --agents must be > 0", file=sys.stderr)
        return RET_USAGE
    if args.http_port is not None and not 0 <= args.http_port <= 65535:
        print("dispatch demo: --http-port must be 0..65535", file=sys.stderr)
        return RET_USAGE
    opts = DemoOptions(args.duration, args.rate, args.agents, args.seed, policy_path=args.policy)
    board = sys.stderr if args.json else sys.stdout
    backend: Any = None
    api = None
    if not args.real and args.http_port != 0:
        from engine.demo.api import start_api
        from engine.demo.backend import EmbeddedBackend
        from engine.policy_file import load_policy

        policy = load_policy(args.policy)
        backend = EmbeddedBackend(policy)
        try:
            api = start_api(backend, policy, port=args.http_port or 0)
        except OSError as exc:
            print(f"dispatch demo: --http-port {args.http_port}: {exc.strerror}", file=sys.stderr)
            return RET_INVALID
        print(api.banner(), file=board, flush=True)
    if args.real:
        from engine.config import Settings
        from engine.demo.real import RealBackend

        try:
            backend = RealBackend(Settings.load(), max(1, args.dispatchers), args.policy)
        except Exception as exc:  # any failure to reach the stack: reported, exit 3
            print(f"dispatch demo --real: cannot use the stack: {exc}", file=sys.stderr)
            print("start one with `dispatch dev up` or set DISPATCH_* variables", file=sys.stderr)
            return RET_UNAVAILABLE
    try:
        summary = run_demo(opts, board_out=board, backend=backend)
    finally:
        if api is not None:
            api.stop()
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        print("summary")
        for k, v in summary.items():
            print(f"  {k:<24} {v}")
    return RET_OK
