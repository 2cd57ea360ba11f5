"""PNG plots of a throughput run (``benchmarks/results/throughput*.png``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plots(r: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    names, vals = ["raw x1"], [(r.get("raw") or {}).get("per_s") or 0]
    for k, d in r.get("dispatcher", {}).items():
        names.append(f"dispatcher x{k}")
        vals.append(d.get("per_s") or 0)
    ax[0].bar(names, vals, color=["#888"] + ["#1f77b4"] * (len(names) - 1))
    ax[0].set_ylabel("tickets / s (backlog)")
    ax[0].set_title("Throughput over a pre-produced backlog")
    for i, v in enumerate(vals):
        ax[0].text(i, v, f"{v:,.0f}", ha="center", va="bottom")
    rates, p50, p95, p99 = [], [], [], []
    for rate, d in r.get("latency", {}).items():
        lm = d.get("latency_ms") or {}
        if lm.get("p50") is None:
            continue
        rates.append(int(rate))
        p50.append(lm["p50"])
        p95.append(lm["p95"])
        p99.append(lm["p99"])
    if not rates:
        rates, p50, p95, p99 = [1], [1], [1], [1]
    ax[1].plot(rates, p50, "o-", label="p50")
    ax[1].plot(rates, p95, "s-", label="p95")
    ax[1].plot(rates, p99, "^-", label="p99")
    ax[1].axhline(50, color="red", ls="--", lw=1, label="p99 target 50 ms")
    ax[1].set_xscale("log")
    ax[1].set_yscale("log")
    ax[1].set_xticks(rates)
    ax[1].set_xticklabels([f"{x:,}" for x in rates])
    ax[1].minorticks_off()
    ax[1].set_xlabel("offered tickets / s")
    ax[1].set_ylabel("produce -> decision visible, ms")
    ax[1].set_title("End-to-end latency, 1 dispatcher")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(out / "throughput.png", dpi=110)
    plt.close(fig)

    rows = (r.get("redis_scaling") or {}).get("rows") or []
    if rows:
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
        by_cand = [x for x in rows if x["batch"] == 500]
        ax[0].plot(
            [x["agents"] for x in by_cand], [x["server_us_per_ticket"] for x in by_cand], "o-"
        )
        ax[0].set_xlabel("candidate agents (batch 500)")
        by_batch = sorted((x for x in rows if x["agents"] == 50), key=lambda x: x["batch"])
        ax[1].plot(
            [x["batch"] for x in by_batch], [x["server_us_per_ticket"] for x in by_batch], "o-"
        )
        ax[1].set_xscale("log")
        ax[1].set_xlabel("tickets per script call (50 candidates)")
        for a_ in ax:
            a_.axhline(30, color="red", ls="--", lw=1, label="target 30 µs")
            a_.set_ylabel("Redis server µs / ticket")
            a_.set_ylim(bottom=0)
            a_.legend()
        fig.suptitle("assign.lua cost per ticket (EVALSHA usec, best of 3)")
        fig.tight_layout()
        fig.savefig(out / "throughput_redis.png", dpi=110)
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for rate, d in r.get("latency", {}).items():
        xs = sorted(d.get("latencies_ms_sample") or [])
        if xs:
            ax.plot(xs, [i / len(xs) for i in range(len(xs))], label=f"{rate}/s")
    if any(d.get("latencies_ms_sample") for d in r.get("latency", {}).values()):
        ax.set_xscale("log")
    ax.set_xlabel("latency ms")
    ax.set_ylabel("CDF")
    ax.set_title("Latency CDF per offered load")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "throughput_latency_cdf.png", dpi=110)
    plt.close(fig)
