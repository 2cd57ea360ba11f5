"""Compare the five assignment strategies on the multi-skill scenario.

Reproduce (writes benchmarks/results/strategies.md and two PNG plots)::

    .venv/bin/python benchmarks/strategy_compare.py

Each strategy replaces the strategy of every queue of ``deploy/scenarios/multiskill.yaml``;
everything else (arrivals, handle times, patience, agents, shifts, region ladder, overflow)
is the same, and so is the seed: every strategy sees the very same tickets (common random
numbers), so the differences are due to the strategy. With ``--seeds K`` each strategy runs
on K seeds and the table shows the mean over seeds. Needs matplotlib (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Sequence
from typing import Any

from engine.core.model import STRATEGIES
from engine.sim import load_scenario, simulate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENARIO = os.path.join(ROOT, "deploy", "scenarios", "multiskill.yaml")
OUT = os.path.join(ROOT, "benchmarks", "results")
COMMAND = ".venv/bin/python benchmarks/strategy_compare.py"
FIGURES = ("service_level", "asa_s", "p_wait", "abandon_rate", "occupancy")
FIGURES += ("fairness_jain", "share_best_skilled")


def run(scenario_path: str, seeds: int) -> dict[str, dict[str, Any]]:
    """Mean figures (and per-queue service levels) per strategy."""
    base = load_scenario(scenario_path)
    out: dict[str, dict[str, Any]] = {}
    for strategy in STRATEGIES:
        runs = []
        for k in range(seeds):
            sc = base.with_strategy(strategy).with_seed(base.seed + k)
            t0 = time.perf_counter()
            r = simulate(sc)
            print(
                f"{strategy:<21} seed {sc.seed}: SL {r['service_level']:.3f}"
                f" ASA {r['asa_s']:.1f}s  {time.perf_counter() - t0:.1f}s wall",
                file=sys.stderr,
                flush=True,
            )
            runs.append(r)
        mean = {f: sum(r[f] for r in runs) / seeds for f in FIGURES}
        mean["asa_ci95_s"] = sum(r["asa_ci95_s"] for r in runs) / seeds
        mean["service_level_ci95"] = sum(r["service_level_ci95"] for r in runs) / seeds
        mean["tickets"] = sum(r["tickets"] for r in runs) / seeds
        mean["per_queue"] = {
            q: sum(r["per_queue"][q]["service_level"] for r in runs) / seeds
            for q in runs[0]["per_queue"]
        }
        out[strategy] = mean
    return out


def write_markdown(path: str, scenario_path: str, seeds: int, res: dict[str, Any]) -> None:
    sc = load_scenario(scenario_path)
    rel = os.path.relpath(scenario_path, ROOT)
    queues = list(next(iter(res.values()))["per_queue"])
    lines = [
        "# Assignment strategies compared on the multi-skill scenario",
        "",
        f"Reproduce: `{COMMAND}` (scenario `{rel}`, "
        + (f"seed {sc.seed})." if seeds == 1 else f"seeds {sc.seed}..{sc.seed + seeds - 1}).")
        + " Needs matplotlib.",
        "",
        f"{sum(g.count for g in sc.agents)} agents in {len(sc.agents)} groups, "
        f"{len(sc.arrivals)} ticket classes, {sc.duration_s / 86400:g} simulated days per run "
        f"(warm-up {sc.warmup_s / 3600:g} h), about {next(iter(res.values()))['tickets']:,.0f} "
        "counted tickets per run. Every strategy sees the same tickets (same seed).",
        f"Python {platform.python_version()} on {platform.machine()}.",
        "",
        f"| strategy | service level ({sc.service_level_target_s:g} s) | ASA s | P(wait) "
        "| abandoned | occupancy | fairness (Jain) | best-skilled share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s, r in res.items():
        lines.append(
            f"| {s} | {r['service_level']:.1%} ± {r['service_level_ci95']:.1%} "
            f"| {r['asa_s']:.1f} ± {r['asa_ci95_s']:.1f} | {r['p_wait']:.1%} "
            f"| {r['abandon_rate']:.1%} | {r['occupancy']:.1%} | {r['fairness_jain']:.3f} "
            f"| {r['share_best_skilled']:.1%} |"
        )
    lines += [
        "",
        "± is the 95 % batch-means half-width of a single run (20 batches); because all",
        "strategies share the tickets, differences between rows are estimated more precisely",
        "than those half-widths suggest.",
        "",
        "Definitions (engine/sim/stats.py): service level = answered within the target / all",
        "counted tickets (abandoned count as missed); ASA = mean wait of answered tickets,",
        "zero waits included; occupancy = busy / on-duty capacity units; fairness = Jain's",
        "index of per-agent occupancy; best-skilled share = answered tickets whose agent has",
        "the highest skill-level sum for the ticket's required skills among qualified agents.",
        "",
        "Strategies choose among agents that are free when a ticket arrives. When an agent",
        "frees up it pulls the best waiting ticket it may take, whatever the strategy, so at",
        "this load service level and ASA barely depend on the strategy; who does the work",
        "does: fairness, the share handled by the best-skilled agents and occupancy (faster",
        "senior agents get more work under skill_weighted).",
        "",
        "## Service level per entry queue",
        "",
        "| strategy | " + " | ".join(queues) + " |",
        "|---|" + "---|" * len(queues),
    ]
    for s, r in res.items():
        lines.append(f"| {s} | " + " | ".join(f"{r['per_queue'][q]:.1%}" for q in queues) + " |")
    lines += ["", "![figures](strategies.png)", "", "![per queue](strategies_per_queue.png)", ""]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def plot(out_dir: str, res: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(res)
    short = [n.replace("_", "\n") for n in names]
    panels = [
        ("service_level", "service level", "service_level_ci95", 100.0, "%"),
        ("asa_s", "ASA", "asa_ci95_s", 1.0, "s"),
        ("occupancy", "occupancy", None, 100.0, "%"),
        ("fairness_jain", "fairness (Jain)", None, 1.0, ""),
        ("share_best_skilled", "handled by best-skilled", None, 100.0, "%"),
        ("abandon_rate", "abandoned", None, 100.0, "%"),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for ax, (key, title, err, scale, unit) in zip(axes.flat, panels, strict=True):
        vals = [res[n][key] * scale for n in names]
        errs = [res[n][err] * scale for n in names] if err else None
        ax.bar(short, vals, yerr=errs, capsize=4, color="#4c78a8")
        ax.set_title(f"{title}" + (f" ({unit})" if unit else ""))
        ax.tick_params(axis="x", labelsize=8)
        top = max(v + (e or 0.0) for v, e in zip(vals, errs or [0.0] * len(vals), strict=True))
        ax.set_ylim(0.0, top * 1.15)
    fig.suptitle("Assignment strategies on deploy/scenarios/multiskill.yaml (same tickets)")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "strategies.png"), dpi=100)
    plt.close(fig)

    queues = list(res[names[0]]["per_queue"])
    fig, ax = plt.subplots(figsize=(11, 5))
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        xs = [j + i * width for j in range(len(queues))]
        ax.bar(xs, [res[n]["per_queue"][q] * 100 for q in queues], width, label=n)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(queues))], queues)
    ax.set_ylabel("service level (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Service level per entry queue (same tickets for every strategy)")
    ax.legend(fontsize=8, ncol=len(names), loc="upper center", bbox_to_anchor=(0.5, -0.08))
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "strategies_per_queue.png"), dpi=100)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", default=SCENARIO, help="scenario YAML (default: multiskill)")
    p.add_argument("--seeds", type=int, default=1, help="seeds per strategy (mean is shown)")
    p.add_argument("--out", default=OUT, help="output folder")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    res = run(args.scenario, args.seeds)
    write_markdown(os.path.join(args.out, "strategies.md"), args.scenario, args.seeds, res)
    plot(args.out, res)
    print(f"wrote {os.path.join(args.out, 'strategies.md')} and PNG plots")
    return 0


if __name__ == "__main__":
    sys.exit(main())
