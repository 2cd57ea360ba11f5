"""`dispatch run dispatcher|sla-tracker|gateway`: long-running engine processes."""

from __future__ import annotations

import argparse
import sys
import threading
from dataclasses import replace
from pathlib import Path

from engine import logs
from engine.config import Settings
from engine.errors import ConfigError
from engine.exitcodes import RET_INVALID

DESCRIPTION = """\
Run one replica of a long-running engine process. Configuration comes from DISPATCH_*
environment variables (see docs/configuration.md), merged with .dispatch/dev.env written
by `dispatch dev up`. Any number of replicas share one consumer group; SIGTERM finishes
the current batch, commits and leaves the group. /metrics, /healthz and /readyz are
served on DISPATCH_HTTP_PORT (default 9400; 0 disables the HTTP server). When the variable
is unset and 9400 is taken (another process on this host), a free port is used and logged;
when it is set and the port is taken, the process exits 1 naming the variable.

  dispatcher   routes tickets (group DISPATCH_GROUP, default "dispatchers"): reads
               tickets.events, agents.events, tickets.lifecycle, dispatch.commands; writes
               dispatch.assignments, dispatch.decisions.log (every decision again, not
               compacted; DISPATCH_DECISION_LOG=0: not), dispatch.deadletter,
               dispatch.notifications.
  sla-tracker  keeps SLA clocks in Redis (group DISPATCH_SLA_GROUP, default "sla-tracker"):
               reads tickets.events, dispatch.assignments, tickets.lifecycle; writes
               sla.warning/breached/met on sla.events, escalation commands on
               dispatch.commands and agent performance on agents.events. Deadlines fire in
               event time (a replayed backlog gives the same SLA events).
  archiver     writes the audit trail into the archive database (docs/archive.md; group
               DISPATCH_ARCHIVER_GROUP, default "archiver"; DISPATCH_ARCHIVE_URL, default the
               SQLite file <DISPATCH_STATE_DIR>/archive.db; run `dispatch db upgrade` first):
               reads tickets.events, tickets.lifecycle, agents.events, dispatch.commands,
               dispatch.assignments, dispatch.decisions.log, sla.events; writes only
               dispatch.deadletter. Idempotent: a replay writes nothing twice.
  gateway      the HTTP API (docs/api.md) on DISPATCH_GATEWAY_HOST:DISPATCH_GATEWAY_PORT
               (default 0.0.0.0:8080), with its own /metrics, /healthz, /readyz there
               (DISPATCH_HTTP_PORT is not used): writes tickets.events, agents.events,
               tickets.lifecycle, dispatch.commands and answers 202 once Kafka acknowledged
               (503 + Retry-After after DISPATCH_GATEWAY_PUBLISH_TIMEOUT_MS); reads Redis.
               Stateless: run any number behind a load balancer that terminates TLS. A taken
               port exits 1 naming DISPATCH_GATEWAY_PORT.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run a dispatcher, SLA tracker, archiver or HTTP gateway replica",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "process",
        choices=["dispatcher", "sla-tracker", "archiver", "gateway"],
        help="which process to run",
    )
    p.add_argument("--policy", default=None, help="policy file (overrides DISPATCH_POLICY)")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    try:
        settings = Settings.load()
    except ConfigError as exc:
        print(f"dispatch: {exc}", file=sys.stderr)
        return RET_INVALID
    # A long-running process says what it does: DISPATCH_LOG_LEVEL (INFO by default), or
    # more with -v / -vv.
    if args.verbose == 0:
        logs.configure(settings.log_level)
    if args.policy:
        settings = replace(settings, policy_path=Path(args.policy))
    if args.process == "gateway":
        from consumers import gateway  # uvicorn handles the signals while it serves

        return gateway.run(settings)
    from consumers import dispatcher, sla_tracker  # composition roots import the drivers
    from consumers.loop import install_stop_signals

    stop = threading.Event()
    install_stop_signals(stop)
    if args.process == "sla-tracker":
        return sla_tracker.run(settings, stop)
    if args.process == "archiver":
        from consumers import archiver

        return archiver.run(settings, stop)
    return dispatcher.run(settings, stop)
