"""`dispatch`: the command line. Thin: each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from engine.cli import demo, dev, policy, reconcile, run, simulate, topics
from engine.exitcodes import RET_INTERRUPTED, RET_USAGE

DESCRIPTION = """\
Ticket dispatch engine: routes tickets to agents by round-robin, skill, priority and
region; Kafka in, Redis state, Prometheus metrics. Start with `dispatch demo`.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dispatch",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo.register(sub)
    policy.register(sub)
    simulate.register(sub)
    run.register(sub)
    reconcile.register(sub)
    topics.register(sub)
    dev.register(sub)
    return parser


def configure_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * min(verbosity, 2)
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # kafka-python logs every connection at INFO: keep it for -vv only.
    logging.getLogger("kafka").setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return RET_USAGE
    configure_logging(args.verbose)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return RET_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
