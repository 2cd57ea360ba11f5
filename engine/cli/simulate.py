"""``dispatch simulate``: run a call-center scenario through the real routing core.

``register(subparsers)`` adds the subcommand to the main CLI; ``main(argv)`` runs it on its
own (tests, ``python -m engine.cli.simulate``). Exit codes (``engine.exitcodes``): 0 done,
1 invalid scenario, 2 bad arguments, 4 failed while running.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from engine.core.model import STRATEGIES
from engine.exitcodes import RET_FAILED, RET_INVALID, RET_OK
from engine.sim.run import simulate
from engine.sim.scenario import Scenario, ScenarioError, load_scenario

_HELP = "simulate a call center through the real routing core and agent store"
_DESCRIPTION = """\
Run a scenario (YAML: arrivals, handle times, patience, agents and shifts, routing policy)
as a discrete-event simulation through the real router and the in-memory agent store, with
a simulated clock, and print service level, ASA (with a 95% batch-means confidence
interval), P(wait), abandonment, occupancy, fairness and per-queue figures.
Progress goes to stderr about every 2 s of wall time unless --quiet.
Scenario format: engine/sim/scenario.py; examples in deploy/scenarios/.
Exit codes: 0 done, 1 failed while running, 2 invalid scenario.
"""
_EPILOG = """\
examples:
  dispatch simulate --scenario deploy/scenarios/erlang_c_10.yaml
  dispatch simulate --scenario deploy/scenarios/multiskill.yaml --strategy skill_weighted --json
"""


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``simulate`` to an ``argparse`` subparsers object; sets ``func`` to the handler."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "simulate",
        help=_HELP,
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", required=True, metavar="FILE", help="scenario YAML file")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--seed", type=int, help="override the scenario's random seed")
    p.add_argument(
        "--strategy", choices=STRATEGIES, help="override the strategy of every queue of the policy"
    )


def run(args: argparse.Namespace) -> int:
    """Handler of ``dispatch simulate``; returns the exit code."""
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as e:
        print(f"invalid scenario {args.scenario}:", file=sys.stderr)
        for path, msg in e.errors:
            print(f"  {path}: {msg}", file=sys.stderr)
        return RET_INVALID
    if args.seed is not None:
        scenario = scenario.with_seed(args.seed)
    if args.strategy:
        scenario = scenario.with_strategy(args.strategy)
    progress = None if args.quiet else _print_progress
    try:
        result = simulate(scenario, progress=progress)
    except Exception as e:  # reported with the exit code, not a traceback
        print(f"simulation failed: {type(e).__name__}: {e}", file=sys.stderr)
        return RET_FAILED
    if args.json:
        print(json.dumps(_json_safe({"scenario": _about(scenario), **result}), sort_keys=True))
    else:
        print(render(scenario, result))
    return RET_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``simulate`` with ``argv`` (the subcommand's own arguments)."""
    p = argparse.ArgumentParser(
        prog="dispatch simulate",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    return run(p.parse_args(argv))


def _print_progress(p: Mapping[str, Any]) -> None:
    pct = 100.0 * p["sim_s"] / p["duration_s"] if p["duration_s"] else 0.0
    print(
        f"simulate: t={p['sim_s']:,.0f}s of {p['duration_s']:,.0f}s ({min(pct, 100.0):.0f}%)"
        f"  tickets={p['tickets']:,}  {p['tickets_per_wall_s'] * 60:,.0f} tickets/wall-min",
        file=sys.stderr,
        flush=True,
    )


def _about(sc: Scenario) -> dict[str, Any]:
    strategies = sorted({q.strategy for q in sc.policy.queues})
    return {
        "name": sc.name,
        "seed": sc.seed,
        "duration_s": sc.duration_s,
        "warmup_s": sc.warmup_s,
        "service_level_target_s": sc.service_level_target_s,
        "agents": sum(g.count for g in sc.agents),
        "strategies": strategies,
    }


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, Mapping):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_safe(x) for x in v]
    return v


def _pct(x: float) -> str:
    return "-" if math.isnan(x) else f"{100.0 * x:.1f}%"


def _sec(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.1f}s"


def render(sc: Scenario, r: Mapping[str, Any]) -> str:
    """The human-readable summary printed without ``--json``."""
    a = _about(sc)
    lines = [
        f"scenario     {a['name'] or '(unnamed)'}  seed={a['seed']}  agents={a['agents']}"
        f"  strategy={','.join(a['strategies'])}",
        f"simulated    {sc.duration_s / 3600:,.1f} h (warm-up {sc.warmup_s / 3600:,.1f} h,"
        f" drained to {r['sim_s'] / 3600:,.1f} h)",
        f"tickets      {r['tickets']:,} counted of {r['tickets_total']:,}:"
        f" {r['assigned']:,} answered, {r['abandoned']:,} abandoned"
        f" ({_pct(r['abandon_rate'])}), {r['unanswered']:,} unanswered",
        f"service lvl  {_pct(r['service_level'])} within {sc.service_level_target_s:g}s"
        f"  (95% CI +/- {_pct(r['service_level_ci95'])})",
        f"ASA          {_sec(r['asa_s'])}  (95% CI +/- {_sec(r['asa_ci95_s'])},"
        f" {sc.batches} batch means; answered tickets, zero waits included)",
        f"P(wait)      {_pct(r['p_wait'])}  (95% CI +/- {_pct(r['p_wait_ci95'])})",
        f"occupancy    {_pct(r['occupancy'])}   fairness (Jain) {r['fairness_jain']:.3f}"
        f"   best-skilled share {_pct(r['share_best_skilled'])}",
        f"speed        {r['tickets_per_wall_min']:,.0f} tickets per wall minute"
        f" ({r['wall_s']:.1f}s wall, {r['events']:,} events)",
        "",
        f"{'queue':<20} {'tickets':>9} {'answered':>9} {'abandoned':>9} {'ASA':>8} {'SL':>7}",
    ]
    for q, f in r["per_queue"].items():
        lines.append(
            f"{q:<20} {f['tickets']:>9,} {f['assigned']:>9,} {f['abandoned']:>9,}"
            f" {_sec(f['asa_s']):>8} {_pct(f['service_level']):>7}"
        )
    steps = ", ".join(f"{k} {v:,}" for k, v in r["steps"].items())
    lines.append(f"answered at step: {steps or '-'}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
