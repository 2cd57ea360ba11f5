"""`dispatch policy check|explain`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine import codec
from engine.core import bounds
from engine.core.explain import explain
from engine.core.model import Agent, Ticket
from engine.errors import PolicyError
from engine.exitcodes import RET_INVALID, RET_OK
from engine.policy_file import load_policy

EXPLAIN_EPILOG = """\
A.json is a list of agents, each: {"id", "status", "skills": {skill: level},
"regions": [...], "team", "capacity": {channel: n}, "load": {channel: n},
"last_assigned_ms", "performance"}. T.json is one ticket (the ticket.created fields).
--now-ms defaults to the ticket's ts (no time has passed, so no escalation step applies).
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("policy", help="check or explain a routing policy file")
    psub = p.add_subparsers(dest="policy_cmd", required=True, metavar="{check,explain}")
    c = psub.add_parser(
        "check",
        help="validate a policy file",
        description="Validate a routing policy. Exit 0 when valid; otherwise exit 1 and "
        "print one line per error as 'path: message'.",
    )
    c.add_argument("file", type=Path, help="policy YAML file")
    c.set_defaults(func=cmd_check)
    e = psub.add_parser(
        "explain",
        help="show how one ticket would be routed over a roster",
        description="Show which queue matches a ticket, every agent with the reasons it was "
        "filtered out, the strategy's scores and the winner.",
        epilog=EXPLAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("file", type=Path, help="policy YAML file")
    e.add_argument("--ticket", type=Path, required=True, metavar="T.json", help="ticket JSON")
    e.add_argument("--agents", type=Path, required=True, metavar="A.json", help="agents JSON")
    e.add_argument("--now-ms", type=int, default=None, help="evaluation time, epoch ms")
    e.add_argument("--last", default=None, help="round_robin: the last agent this queue used")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=cmd_explain)


def cmd_check(args: argparse.Namespace) -> int:
    try:
        policy = load_policy(args.file)
    except PolicyError as exc:
        for path, msg in exc.errors:
            print(f"{path}: {msg}")
        print(f"{args.file}: {len(exc.errors)} error(s)", file=sys.stderr)
        return RET_INVALID
    print(f"{args.file}: ok ({len(policy.queues)} queues, {len(policy.sla)} SLA policies)")
    return RET_OK


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"dispatch: cannot read {path}: {exc}") from exc


def _problem(where: str, err: codec.DecodeError) -> str:
    detail = err.detail
    return f"{where}.{detail[5:]}" if detail.startswith("data.") else f"{where}: {detail}"


def input_problems(ticket: Any, agents: Any) -> list[str]:
    """Every reason the explain input is out of bounds, each with its path (the same JSON
    Schemas the codec validates events with: a priority 9 is refused, not turned into 5)."""
    out: list[str] = []
    if not isinstance(ticket, dict):
        return ["ticket: expected a JSON object (a ticket.created event)"]
    event = {"v": 1, "tenant": "default", "ts": 0, **ticket, "type": "ticket.created"}
    try:
        codec.validate(event)
    except codec.DecodeError as err:
        out.append(_problem("ticket", err))
    if not isinstance(agents, list):
        return [*out, "agents: expected a JSON list of agents"]
    for i, a in enumerate(agents):
        if not isinstance(a, dict):
            out.append(f"agents[{i}]: expected an object")
            continue
        fields = {k: v for k, v in a.items() if k not in ("load", "last_assigned_ms")}
        agent = {"v": 1, "tenant": "default", "ts": 0, **fields, "type": "agent.update"}
        try:
            codec.validate(agent)
        except codec.DecodeError as err:
            out.append(_problem(f"agents[{i}]", err))
        for ch, n in (a.get("load") or {}).items():
            if type(n) is not int or not 0 <= n <= bounds.CAPACITY_PER_CHANNEL_MAX:
                out.append(f"agents[{i}].load.{ch}: an integer 0-{bounds.CAPACITY_PER_CHANNEL_MAX}")
    return out


def cmd_explain(args: argparse.Namespace) -> int:
    try:
        policy = load_policy(args.file)
    except PolicyError as exc:
        for path, msg in exc.errors:
            print(f"{path}: {msg}", file=sys.stderr)
        return RET_INVALID
    raw_t = _load_json(args.ticket)
    raw_a = _load_json(args.agents)
    problems = input_problems(raw_t, raw_a)
    if problems:
        for line in problems:
            print(line, file=sys.stderr)
        return RET_INVALID
    try:
        ticket = Ticket.from_event({"tenant": "default", "ts": 0, **raw_t})
        roster = [(Agent.from_mapping(a), dict(a.get("load") or {})) for a in raw_a]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        print(f"dispatch: bad ticket or agents file: {exc!r}", file=sys.stderr)
        return RET_INVALID
    now = args.now_ms if args.now_ms is not None else ticket.ts
    result = explain(ticket, policy, roster, now, rr_last=args.last)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=False))
        return RET_OK
    print(render_explain(result))
    return RET_OK


def render_explain(r: dict[str, Any]) -> str:
    if r["queue"] is None:
        return f"no queue matched: {r.get('reason', '')}\nwinner: none"
    req = r["request"]
    regions = "any" if req["regions"] is None else ", ".join(req["regions"])
    lines = [
        f"queue:    {r['queue']}  (strategy {r['strategy']}, step {r['step']})",
        f"needs:    channel {req['channel']}, priority {req['priority']}, skills "
        f"{req['skills'] or '-'}, regions {regions}",
        "",
        f"{'agent':<16} {'eligible':<9} {'score':>10}  reasons",
    ]
    for c in r["candidates"]:
        score = "" if c["score"] is None else f"{c['score']:.6g}"
        why = "; ".join(c["reasons"]) or "-"
        lines.append(f"{c['agent']:<16} {'yes' if c['eligible'] else 'no':<9} {score:>10}  {why}")
    lines += ["", f"winner:   {r['winner'] or 'none (the ticket would wait)'}"]
    return "\n".join(lines)
