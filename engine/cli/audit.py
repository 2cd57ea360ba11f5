"""`dispatch audit`: every dispatch guarantee checked against the topics and Redis."""

from __future__ import annotations

import argparse
import sys

from engine.config import ConfigError, Settings
from engine.dispatch.audit import DEFAULT_EXAMPLES, DEFAULT_GRACE_MS
from engine.exitcodes import RET_INVALID
from engine.ports import OUTBOX_GRACE_MS, WAIT_SCAN_LIMIT

_OUTBOX_S = OUTBOX_GRACE_MS // 1000
AUDIT_DESCRIPTION = f"""\
Check every dispatch guarantee against Kafka and Redis and report, per check, how many items
were checked, how many violate it and a few examples; exit 1 on any violation. Reads
tickets.events, tickets.lifecycle, dispatch.assignments and dispatch.deadletter from the
beginning, then Redis. Exact on a quiet system (input consumed, decisions flushed; an
orphaned decision is re-published after {_OUTBOX_S} s); on a live one, a decision made between the
two reads can show as drift: run it again. Settings as for `dispatch run`.

A decision is versioned when it bumps its ticket's seq (all but duplicates, rejected and
unassignable ones); a ticket's state is its versioned decision with the highest seq.

checks (a violation of any exits 1):
  decided         every ticket with a valid ticket.created older than --grace-s has a
                  decision (any kind but rejected; a duplicate counts)
  one_agent       no ticket is in two agents' open sets; an agent's open ticket is
                  offered/assigned to it in its ticket record; the decisions and the record
                  name the same agent
  capacity        no unforced placement decision (assigned/offered/reassigned recording a
                  load) has load > capacity; in Redis no agent holds more open tickets on a
                  channel than its capacity (or the higher one recorded when they were
                  placed) plus those a forced reassign put there
  drift           every agent's open tickets and every waiting queue in Redis equal the
                  decisions' state (as `dispatch reconcile`, plus waiting tickets)
  priority_order  within a waiting queue no ticket stands behind a less urgent one (larger
                  priority number) that is not older (with or without aging)
  last_record     per ticket, the last versioned record on dispatch.assignments (highest
                  offset of its partition and key) carries its highest seq
  explained       routing decisions (assigned, offered, queued, escalated) name queue and
                  strategy and carry candidates and filtered; supervisor actions
                  (reassigned, rejected) name the supervisor

informational (never fail):
  stranded        waiting tickets an available agent with room on the channel and the
                  ticket's skills could take (paused queues, queue skills, regions and the
                  {WAIT_SCAN_LIMIT}-entry pull scan are not visible from here)
  compaction      tickets whose key's last record does not carry their latest state
                  (a rejected command or stale duplicate published after it): once
                  compacted, the topic no longer says where they are
  resolved_open   tickets resolved/closed/cancelled (last lifecycle event, older than
                  --grace-s) that the decisions leave open or waiting
  dead_letters    dead-lettered records by reason; decisions: by kind; final_states:
                  tickets by the kind of their latest decision
"""


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:  # NaN too
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "audit",
        help="check every guarantee against Kafka and Redis; exit 1 on any violation",
        description=AUDIT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--tenant", default=None, help="audit one tenant (default: every tenant)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument(
        "--examples",
        type=_count,
        default=DEFAULT_EXAMPLES,
        metavar="N",
        help=f"examples per check (default {DEFAULT_EXAMPLES})",
    )
    p.add_argument(
        "--grace-s",
        type=_non_negative,
        default=DEFAULT_GRACE_MS / 1000,
        metavar="S",
        help="tickets created less than S seconds ago need no decision yet "
        f"(default {DEFAULT_GRACE_MS // 1000})",
    )
    p.set_defaults(func=cmd_audit)


def cmd_audit(args: argparse.Namespace) -> int:
    try:
        settings = Settings.load()
    except ConfigError as exc:
        print(f"dispatch: {exc}", file=sys.stderr)
        return RET_INVALID
    from consumers import audit  # the composition root imports the drivers

    return audit.run(
        settings,
        tenant=args.tenant,
        as_json=args.json,
        grace_ms=int(args.grace_s * 1000),
        examples=args.examples,
        out=sys.stdout,
    )
