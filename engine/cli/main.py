"""`dispatch`: the command line. Thin: each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from engine import logs
from engine.cli import audit, db, demo, dev, policy, reconcile, run, simulate, soak, tokens, topics
from engine.cli import report as report_cli
from engine.errors import ConfigError, LogError, PolicyError, Unavailable
from engine.exitcodes import (
    HELP,
    RET_FAILED,
    RET_INTERRUPTED,
    RET_INVALID,
    RET_UNAVAILABLE,
    RET_USAGE,
)

DESCRIPTION = """\
Ticket dispatch engine: routes tickets to agents by round-robin, skill, priority and
region; Kafka in, Redis state, Prometheus metrics. Start with `dispatch demo`.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dispatch",
        description=DESCRIPTION,
        epilog=HELP,
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
    audit.register(sub)
    report_cli.register(sub)
    topics.register(sub)
    tokens.register(sub)
    dev.register(sub)
    soak.register(sub)
    db.register(sub)
    _list_exit_codes(parser)
    return parser


def _list_exit_codes(parser: argparse.ArgumentParser) -> None:
    """Every command's ``--help`` ends with the exit codes (one table: engine.exitcodes)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                child.epilog = f"{child.epilog}\n\n{HELP}" if child.epilog else HELP
                child.formatter_class = argparse.RawDescriptionHelpFormatter
                _list_exit_codes(child)


def configure_logging(verbosity: int) -> None:
    """The engine's loggers (namespace ``dispatch``) at WARNING, INFO with -v, DEBUG with -vv;
    third-party libraries (kafka-python logs every connection at INFO) only with -vv."""
    level = logging.WARNING - 10 * min(verbosity, 2)
    logs.configure(level, libraries=logging.DEBUG if verbosity >= 2 else logging.WARNING)


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
    except Unavailable as exc:  # the same code everywhere for an unreachable Kafka or Redis
        print(f"dispatch: a required service is unreachable: {exc}", file=sys.stderr)
        return RET_UNAVAILABLE
    except (ConfigError, PolicyError) as exc:
        print(f"dispatch: {exc}", file=sys.stderr)
        return RET_INVALID
    except LogError as exc:
        print(f"dispatch: kafka refused: {exc}", file=sys.stderr)
        return RET_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
