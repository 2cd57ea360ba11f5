"""`dispatch soak`: a bounded run of the whole engine under mixed faults, then an audit."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from engine import logs
from engine.exitcodes import RET_FAILED, RET_UNAVAILABLE, RET_USAGE
from engine.soak.options import (
    DEFAULT_DRAIN_S,
    DEFAULT_PAUSE_S,
    MAX_RATE_PER_S,
    MAX_REPLICAS,
    SESSION_TIMEOUT_S,
    OptionError,
    SoakOptions,
    parse_faults,
)

DEFAULTS = SoakOptions()
DESCRIPTION = f"""\
A bounded soak: the engine under load and mixed faults for --minutes, then every guarantee
audited. Loopback services only. By default the soak starts its own Kafka and Redis as
`dispatch dev up` does (free 127.0.0.1 ports, a temporary state dir) and stops them
afterwards; DISPATCH_KAFKA_BOOTSTRAP / DISPATCH_REDIS_URL, when set, are used instead and must
be loopback (anything else is refused, exit 2); their restarts need the dev stack recorded in
DISPATCH_STATE_DIR (default .dispatch), else those faults are skipped. Everything the run
writes is behind its own prefix: topics soak-<id>.*, Redis keys soak-<id>:*, consumer groups
soak-<id>-*; on services named by the environment they stay after the run (audit them again
with DISPATCH_TOPIC_PREFIX=soak-<id>. DISPATCH_REDIS_PREFIX=soak-<id> dispatch audit).

The run: --replicas `dispatch run dispatcher` processes (each ready on /readyz), a load of
--rate tickets/s over two tenants (agents log in with skills, regions and capacities, accept
most offers, decline or ignore some, answer and resolve tickets, take breaks, log out and in;
--poison of the records are poison: not msgpack, out-of-range fields, resolutions of unknown
tickets), and a fault every --fault-every seconds, kinds in seeded rounds (every kind once
per round):
  kill   SIGKILL a replica (a crash) and start it again
  pause  SIGSTOP a replica for --pause-s (past the {SESSION_TIMEOUT_S:g} s session time-out:
         the group moves its partitions), then SIGCONT: a zombie with a batch in hand
  redis  restart Redis on its data (SIGTERM, start on the same data dir and port); with
         --redis-cluster, one master
  kafka  restart the Kafka broker on its data; with --kafka-brokers, one node
Each fault is one line on stderr, with a progress line (tickets sent, decisions seen, dead
letters, tickets awaiting a decision, faults so far) every few seconds.

The end: faults stop, paused replicas resume, the load stops, the dispatchers drain (until
every ticket has a decision, none came for 3 s and the outbox grace has passed since the
last fault; at most --drain-s), the replicas stop (SIGTERM), and `dispatch audit` runs on
the run's topics and keys with no grace: every ticket decided, one agent per ticket,
capacity, drift, priority order, last record, explained. A replica that exits unasked counts
as a violation (replica_crashes). The summary (faults by kind, tickets, decisions, dead
letters, violations per guarantee) goes to stdout, or one JSON object with --json. The
stack stops; its logs and data are kept (path printed) after a violation or a failure,
removed otherwise. SIGINT/SIGTERM ends the run early and still drains, audits and prints; a second
one skips the drain and the audit.

soak exit codes: 0 clean, 1 any violation, 2 bad arguments or a non-loopback target, 3 a
service could not be started or reached, 4 the soak itself failed, 130 interrupted.
"""


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "soak",
        help="a bounded run under mixed faults (loopback only), then an audit; exit 1 on any "
        "violation",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = DEFAULTS
    p.add_argument(
        "--minutes",
        type=_float,
        default=d.minutes,
        metavar="N",
        help="minutes of load, fractions allowed (default %(default)s)",
    )
    p.add_argument(
        "--replicas",
        type=int,
        default=d.replicas,
        metavar="R",
        help=f"dispatcher processes, 1..{MAX_REPLICAS} (default %(default)s)",
    )
    p.add_argument(
        "--rate",
        type=_float,
        default=d.rate,
        metavar="T",
        help=f"tickets per second, at most {MAX_RATE_PER_S:g} (default %(default)s)",
    )
    p.add_argument(
        "--fault-every",
        type=_float,
        default=d.fault_every_s,
        metavar="S",
        help="seconds between faults (default %(default)s)",
    )
    p.add_argument(
        "--faults",
        default="kill,pause,redis,kafka",
        metavar="LIST",
        help="fault kinds, comma-separated (default %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=d.seed,
        metavar="N",
        help="seeds the fault plan, the targets and the load (default %(default)s)",
    )
    p.add_argument(
        "--pause-s",
        type=_float,
        default=DEFAULT_PAUSE_S,
        metavar="S",
        help="how long a paused replica stays stopped (default %(default)s)",
    )
    p.add_argument(
        "--drain-s",
        type=_float,
        default=DEFAULT_DRAIN_S,
        metavar="S",
        help="at most this long for the dispatchers to settle (default %(default)s)",
    )
    p.add_argument(
        "--agents",
        type=int,
        default=d.agents,
        metavar="N",
        help="agents per tenant (default %(default)s)",
    )
    p.add_argument(
        "--poison",
        type=_float,
        default=d.poison_ratio,
        metavar="F",
        help="share of poison records, 0..0.5 (default %(default)s)",
    )
    p.add_argument(
        "--partitions",
        type=int,
        default=d.partitions,
        metavar="P",
        help="partitions of the run's topics (default %(default)s)",
    )
    p.add_argument(
        "--kafka-brokers",
        type=int,
        default=d.kafka_brokers,
        metavar="N",
        help="Kafka nodes of the soak's own stack (from 3: replication factor 3, "
        "min.insync.replicas 2; a kafka fault restarts one node) (default %(default)s)",
    )
    p.add_argument(
        "--redis-cluster",
        type=int,
        default=d.redis_cluster,
        metavar="M",
        help="a Redis Cluster of M masters (3..16) instead of one redis-server; a redis fault "
        "restarts one master (default %(default)s)",
    )
    p.add_argument(
        "--policy",
        type=Path,
        default=None,
        metavar="F",
        help="routing policy file (default: the demo's, with offers)",
    )
    p.add_argument("--json", action="store_true",
                   help="print the summary as one JSON object")  # fmt: skip
    p.set_defaults(func=cmd_soak)


def options_from_args(args: argparse.Namespace) -> SoakOptions:
    """The validated options; :class:`OptionError` names the bad one."""
    if args.policy is not None and not args.policy.is_file():
        raise OptionError(f"--policy: no such file: {args.policy}")
    return SoakOptions(
        minutes=args.minutes,
        replicas=args.replicas,
        rate=args.rate,
        fault_every_s=args.fault_every,
        seed=args.seed,
        faults=parse_faults(args.faults),
        pause_s=args.pause_s,
        drain_s=args.drain_s,
        agents=args.agents,
        poison_ratio=args.poison,
        partitions=args.partitions,
        policy_path=args.policy,
        kafka_brokers=args.kafka_brokers,
        redis_cluster=args.redis_cluster,
    )


@contextmanager
def _signals_end(stop: threading.Event, abort: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM: the first sets ``stop``, the next ``abort``; restored afterwards."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        (abort if stop.is_set() else stop).set()

    previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def cmd_soak(args: argparse.Namespace) -> int:
    try:
        opts = options_from_args(args)
    except OptionError as exc:
        print(f"dispatch soak: {exc}", file=sys.stderr)
        return RET_USAGE
    from engine.errors import DevstackError
    from engine.soak.report import render

    if args.verbose < 2:  # the soak's own clients see every fault: their reconnects are noise
        logs.configure(logging.WARNING - 10 * args.verbose, libraries=logging.CRITICAL)
    from engine.soak.runner import Signals, run_soak

    signals = Signals()
    try:
        with _signals_end(signals.stop, signals.abort):
            summary = run_soak(opts, environ=os.environ, err=sys.stderr, signals=signals)
    except OptionError as exc:
        print(f"dispatch soak: {exc}", file=sys.stderr)
        return RET_USAGE
    except (DevstackError, TimeoutError) as exc:
        print(f"dispatch soak: a service could not be started or reached:\n{exc}", file=sys.stderr)
        return RET_UNAVAILABLE
    except RuntimeError as exc:
        print(f"dispatch soak: {exc}", file=sys.stderr)
        return RET_FAILED
    print(summary.to_json() if args.json else render(summary))
    return summary.exit_code()
