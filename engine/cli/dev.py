"""``dispatch dev up|status|down|restart|kill``: the local Kafka + Redis development stack.

Wiring: ``register(subparsers)`` adds the ``dev`` command and sets ``func`` on the parsed
namespace to a callable ``(argparse.Namespace) -> int`` returning the exit code
(``engine.exitcodes``: 0 ok, 2 nothing to start or a bad shape, 3 a service could not be
started, restarted or is down). ``main(argv)`` runs the ``dev`` subcommands stand-alone
(``python -m engine.cli.dev up``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.devstack import default_cache_root, down, kill, restart, status, up
from engine.devstack.kafka import MAX_BROKERS, START_TIMEOUT_S
from engine.devstack.maven import KAFKA_VERSION, is_resolved
from engine.devstack.redis import MAX_CLUSTER_MASTERS, MIN_CLUSTER_MASTERS
from engine.devstack.stack import ENV_FILE, SERVICES
from engine.errors import DevstackError
from engine.exitcodes import RET_OK, RET_UNAVAILABLE, RET_USAGE
from engine.logs import get_logger

log = get_logger(__name__)

DEFAULT_STATE_DIR = Path(".dispatch")
CACHE_ENV = "DISPATCH_KAFKA_CACHE"


def _cache_root(value: str | None) -> Path:
    if value:
        return Path(value).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else default_cache_root()


def _cmd_up(args: argparse.Namespace) -> int:
    if args.no_kafka and args.no_redis:
        print("nothing to start: both --no-kafka and --no-redis given", file=sys.stderr)
        return RET_USAGE
    if not 1 <= args.kafka_brokers <= MAX_BROKERS:
        print(f"--kafka-brokers: 1..{MAX_BROKERS}, not {args.kafka_brokers}", file=sys.stderr)
        return RET_USAGE
    if args.redis_cluster and not MIN_CLUSTER_MASTERS <= args.redis_cluster <= MAX_CLUSTER_MASTERS:
        print(
            f"--redis-cluster: 0 (one plain redis-server) or {MIN_CLUSTER_MASTERS}.."
            f"{MAX_CLUSTER_MASTERS} masters, not {args.redis_cluster}",
            file=sys.stderr,
        )
        return RET_USAGE
    cache_root = _cache_root(args.kafka_cache)
    if not args.no_kafka and not is_resolved(cache_root):
        print(f"resolving Kafka {KAFKA_VERSION} jars into {cache_root} (first run only)…",
              file=sys.stderr)  # fmt: skip
    try:
        endpoints = up(
            args.state_dir,
            kafka=not args.no_kafka,
            redis=not args.no_redis,
            kafka_brokers=args.kafka_brokers,
            redis_cluster=args.redis_cluster,
            fresh=args.fresh,
            cache_root=cache_root,
            start_timeout_s=args.timeout,
            postgres=args.postgres,
        )
    except DevstackError as exc:
        print(f"dev stack failed to start:\n{exc}", file=sys.stderr)
        return RET_UNAVAILABLE
    for key, value in endpoints.env().items():
        print(f"{key}={value}")
    print(f"\nto use it in this shell:  set -a; . {args.state_dir / ENV_FILE}; set +a")
    print(f"to stop it:               dispatch dev down --state-dir {args.state_dir}")
    return RET_OK


def _cmd_status(args: argparse.Namespace) -> int:
    try:
        services = status(args.state_dir)
    except DevstackError as exc:
        print(str(exc), file=sys.stderr)
        return RET_UNAVAILABLE
    if not services:
        print(f"no dev stack recorded in {args.state_dir}")
        return RET_UNAVAILABLE
    for svc in services:
        state = "up" if svc.running else "down"
        answer = "answering" if svc.answering else "not answering"
        node = f"node {svc.node}"
        print(f"{svc.name:<6} {node:<7} {state:<5} {answer:<14} pid={svc.pid} {svc.endpoint}")
    return RET_OK if all(s.running and s.answering for s in services) else RET_UNAVAILABLE


def _cmd_down(args: argparse.Namespace) -> int:
    try:
        stopped = down(args.state_dir)
    except DevstackError as exc:
        print(f"dev stack failed to stop:\n{exc}", file=sys.stderr)
        return RET_UNAVAILABLE
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return RET_OK


def _cmd_restart(args: argparse.Namespace) -> int:
    try:
        restart(args.state_dir, args.service, args.node, start_timeout_s=args.timeout)
    except DevstackError as exc:
        print(f"dev {args.service} restart failed:\n{exc}", file=sys.stderr)
        return RET_UNAVAILABLE
    which = f"node {args.node}" if args.node else "every node"
    print(f"restarted {args.service} ({which}) on its data")
    return RET_OK


def _cmd_kill(args: argparse.Namespace) -> int:
    try:
        killed = kill(args.state_dir, args.service, args.node)
    except DevstackError as exc:
        print(str(exc), file=sys.stderr)
        return RET_UNAVAILABLE
    print(f"killed: {', '.join(killed)}" if killed else "nothing was running")
    return RET_OK


def _add_node(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("service", choices=SERVICES, help="which service")
    parser.add_argument(
        "--node",
        type=int,
        metavar="I",
        help="only this node: the Kafka node.id or the Redis node number, from 1 "
        "(default: every node of the service)",
    )
    _add_state_dir(parser)


def _add_state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="directory for state.json, dev.env and the data dirs (default: %(default)s)",
    )


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``dev`` to the parent's ``add_subparsers()`` object; returns the dev parser."""
    dev: argparse.ArgumentParser = subparsers.add_parser(
        "dev",
        help="start/stop a local Kafka + Redis stack (no Docker)",
        description=(
            f"Local development services as plain processes: Apache Kafka {KAFKA_VERSION} "
            "(KRaft, one node or a cluster; jars resolved once from Maven Central with mvn, "
            "needs Java 17+) and redis-server (one, or a Redis Cluster), on free 127.0.0.1 "
            "ports. Data is kept in the state dir across down/up and restarts."
        ),
    )
    commands = dev.add_subparsers(dest="dev_command", metavar="{up,status,down,restart,kill}")
    commands.required = True

    p_up = commands.add_parser(
        "up",
        help="start the services and write <state-dir>/dev.env",
        description="Start Kafka and Redis (in parallel) detached from this shell; reuse "
        "them if already healthy. The data of an earlier stack of the same shape is kept "
        "(same ports, no re-format); --fresh discards it. From 3 Kafka brokers on, topics "
        "get replication factor 3 and min.insync.replicas 2.",
    )
    _add_state_dir(p_up)
    p_up.add_argument(
        "--kafka-brokers",
        type=int,
        default=1,
        metavar="N",
        help=f"Kafka KRaft nodes, each broker and controller (1..{MAX_BROKERS}; "
        "default: %(default)s)",
    )
    p_up.add_argument(
        "--redis-cluster",
        type=int,
        default=0,
        metavar="M",
        help=f"run a Redis Cluster of M masters ({MIN_CLUSTER_MASTERS}..{MAX_CLUSTER_MASTERS}, "
        "no replicas) instead of one redis-server (default: %(default)s = one server)",
    )
    p_up.add_argument(
        "--fresh", action="store_true", help="discard the data of an earlier stack first"
    )
    p_up.add_argument("--no-kafka", action="store_true", help="do not start Kafka")
    p_up.add_argument("--no-redis", action="store_true", help="do not start Redis")
    p_up.add_argument(
        "--postgres",
        action="store_true",
        help="also start PostgreSQL for the archive (initdb + postgres on a free loopback "
        "port, data in <state-dir>/postgres; dev.env gets DISPATCH_ARCHIVE_URL). Without it "
        "the archive is the SQLite file <state-dir>/archive.db",
    )
    p_up.add_argument(
        "--kafka-cache",
        metavar="DIR",
        help=f"jar cache root (default: ${CACHE_ENV} or {default_cache_root()})",
    )
    p_up.add_argument(
        "--timeout",
        type=float,
        default=START_TIMEOUT_S,
        metavar="SECONDS",
        help="readiness timeout per service (default: %(default)s)",
    )
    p_up.set_defaults(func=_cmd_up)

    p_status = commands.add_parser(
        "status",
        help="show whether each node is up and answering (exit 3 if not)",
        description="Check the pids recorded by `dev up` and probe each service's port.",
    )
    _add_state_dir(p_status)
    p_status.set_defaults(func=_cmd_status)

    p_down = commands.add_parser(
        "down",
        help="stop exactly the processes started by `dev up`",
        description="SIGTERM (SIGKILL after a grace period) the recorded pids, after "
        "checking they still are our java/redis-server processes; remove dev.env. The data "
        "stays for the next `dev up` (delete the state dir, or `dev up --fresh`, to drop it).",
    )
    _add_state_dir(p_down)
    p_down.set_defaults(func=_cmd_down)

    p_restart = commands.add_parser(
        "restart",
        help="restart kafka or redis (or one node) on its data and ports",
        description="Stop (SIGTERM, SIGKILL after a grace period) and start again on the "
        "same data dir and ports, without formatting; returns once the nodes are ready "
        "(Kafka: registered and unfenced; Redis Cluster: cluster_state:ok). Also starts a "
        "node that was killed.",
    )
    _add_node(p_restart)
    p_restart.add_argument(
        "--timeout",
        type=float,
        default=START_TIMEOUT_S,
        metavar="SECONDS",
        help="readiness timeout (default: %(default)s)",
    )
    p_restart.set_defaults(func=_cmd_restart)

    p_kill = commands.add_parser(
        "kill",
        help="SIGKILL kafka or redis (or one node), as a crash would; for fault tests",
        description="SIGKILL the recorded processes of a service (or one node); `dev "
        "restart` starts them again on their data.",
    )
    _add_node(p_kill)
    p_kill.set_defaults(func=_cmd_kill)
    return dev


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dev`` subcommands stand-alone, e.g. ``main(["up", "--no-kafka"])``."""
    parser = argparse.ArgumentParser(prog="dispatch")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["dev", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
