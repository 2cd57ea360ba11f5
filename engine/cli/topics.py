"""``dispatch topics create|list``: the engine's Kafka topics.

Wiring: ``register(subparsers)`` adds the ``topics`` command and sets ``func`` on the parsed
namespace to a callable ``(argparse.Namespace) -> int`` returning the exit code
(``engine.exitcodes``: 1 for a bad setting or missing topics, 3 when Kafka cannot be reached,
4 when it refuses a request).
``main(argv)`` runs the ``topics`` subcommands stand-alone (``main(["create"])``).
Settings come from ``Settings.load()``: ``DISPATCH_*`` variables, then ``.dispatch/dev.env``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence
from typing import Any

from engine.adapters.kafka import (
    TopicInfo,
    broker_count,
    create_topics,
    default_topic_specs,
    describe,
    list_topics,
    replication_factor_for,
)
from engine.config import Settings
from engine.errors import ConfigError, LogError, LogUnavailable
from engine.exitcodes import RET_FAILED, RET_INVALID, RET_OK, RET_UNAVAILABLE
from engine.logs import get_logger

log = get_logger(__name__)

DEFAULT_PARTITIONS = 6


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.load()
    if args.prefix is not None:
        settings = dataclasses.replace(settings, topic_prefix=args.prefix)
    return settings


def _describe_line(name: str, info: TopicInfo | None) -> str:
    if info is None:
        return f"{name:<48} missing"
    policy = info.configs.get("cleanup.policy", "delete")
    return (
        f"{name:<48} {info.partitions:>3} partitions  replication {info.replication_factor}"
        f"  cleanup.policy={policy}"
    )


def _cmd_create(args: argparse.Namespace) -> int:
    settings = _settings(args)
    factor = args.replication_factor
    if factor is None:
        factor = replication_factor_for(broker_count(settings))
    specs = default_topic_specs(settings, partitions=args.partitions, replication_factor=factor)
    created = set(create_topics(settings, specs))
    info = describe(settings, [spec.name for spec in specs])
    for spec in specs:
        status = "created" if spec.name in created else "exists"
        print(f"{status:<8} {_describe_line(spec.name, info.get(spec.name))}")
    print(f"{len(created)} created, {len(specs) - len(created)} already existed")
    return RET_OK


def _cmd_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.all:
        for name in list_topics(settings):
            print(name)
        return RET_OK
    names = settings.topics.by_logical()
    info = describe(settings, list(names.values()))
    for logical, name in names.items():
        print(f"{logical:<22} {_describe_line(name, info.get(name))}")
    return RET_OK if len(info) == len(names) else RET_INVALID


def _run(func: Any, args: argparse.Namespace) -> int:
    try:
        code: int = func(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return RET_INVALID
    except LogUnavailable as exc:
        print(f"kafka unreachable: {exc}", file=sys.stderr)
        return RET_UNAVAILABLE
    except LogError as exc:
        print(f"kafka: {exc}", file=sys.stderr)
        return RET_FAILED
    return code


def _add_prefix(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prefix",
        metavar="P",
        help="topic name prefix, e.g. 'acme.' (default: $DISPATCH_TOPIC_PREFIX or none)",
    )


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``topics`` to the parent's ``add_subparsers()`` object; returns its parser."""
    topics: argparse.ArgumentParser = subparsers.add_parser(
        "topics",
        help="create or list the engine's Kafka topics",
        description=(
            "The engine's eight topics (tickets.events, agents.events, tickets.lifecycle, "
            "dispatch.commands, dispatch.assignments, dispatch.deadletter, sla.events, "
            "dispatch.notifications) behind "
            "an optional prefix. The cluster comes from $DISPATCH_KAFKA_BOOTSTRAP (and the "
            "other DISPATCH_KAFKA_* variables), or from .dispatch/dev.env after `dispatch dev up`."
        ),
    )
    commands = topics.add_subparsers(dest="topics_command", metavar="{create,list}")
    commands.required = True

    p_create = commands.add_parser(
        "create",
        help="create the topics that do not exist yet (idempotent)",
        description=(
            "Create missing topics; existing ones are left unchanged. With --partitions N: "
            "tickets.events, tickets.lifecycle and dispatch.assignments get 2N partitions, "
            "agents.events and sla.events N, dispatch.commands and dispatch.notifications N/2, "
            "dispatch.deadletter 1 "
            "(30 days retention); dispatch.assignments is compacted (latest decision per "
            "ticket; decisions younger than a day are kept in full). Replication factor: "
            "--replication-factor, else min(3, brokers in the cluster); min.insync.replicas "
            "is the broker's (2 with 3 replicas keeps acks=all writes safe with one broker "
            "down). Prints every topic with its status."
        ),
    )
    _add_prefix(p_create)
    p_create.add_argument(
        "--partitions",
        type=_positive,
        default=DEFAULT_PARTITIONS,
        metavar="N",
        help="base partition count (default: %(default)s)",
    )
    p_create.add_argument(
        "--replication-factor",
        type=_positive,
        default=None,
        metavar="R",
        help="replicas of every partition (default: min(3, brokers in the cluster))",
    )
    p_create.set_defaults(func=lambda args: _run(_cmd_create, args))

    p_list = commands.add_parser(
        "list",
        help="show the engine's topics: partitions and cleanup policy (exit 1 if any missing)",
        description="Describe the engine's topics for the prefix; --all lists every topic.",
    )
    _add_prefix(p_list)
    p_list.add_argument("--all", action="store_true", help="list every topic in the cluster")
    p_list.set_defaults(func=lambda args: _run(_cmd_list, args))
    return topics


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``topics`` subcommands stand-alone, e.g. ``main(["create", "--partitions", "3"])``."""
    parser = argparse.ArgumentParser(prog="dispatch")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["topics", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
