"""Scenario documents built in code: the M/M/N(+M) call center of the Erlang formulas."""

from __future__ import annotations

from typing import Any


def mmn_doc(
    agents: int,
    offered_erlangs: float,
    *,
    aht_s: float = 180.0,
    duration_s: float,
    warmup_s: float = 0.0,
    seed: int = 1,
    patience_s: float | None = None,
    strategy: str = "longest_idle",
    target_s: float = 20.0,
    batches: int = 20,
) -> dict[str, Any]:
    """A scenario document (for :func:`engine.sim.scenario.parse_scenario`) of one FIFO queue.

    Poisson arrivals at ``offered_erlangs / aht_s`` per second, exponential handle times
    with mean ``aht_s`` seconds, ``agents`` identical agents of capacity 1, all tickets
    priority 3, and exponential patience with mean ``patience_s`` seconds when given
    (Erlang A), none otherwise (Erlang C).
    """
    return {
        "name": f"mmn-{agents}-{offered_erlangs:g}",
        "seed": seed,
        "duration_s": duration_s,
        "warmup_s": warmup_s,
        "service_level_target_s": target_s,
        "batches": batches,
        "policy": {"version": 1, "queues": [{"name": "general", "strategy": strategy}]},
        "arrivals": [
            {
                "name": "calls",
                "rate_per_s": offered_erlangs / aht_s,
                "ticket": {"channel": "phone", "priority": 3, "skills": {"general": 1}},
            }
        ],
        "handle_time_s": {"dist": "exponential", "mean": aht_s},
        "abandon_after_s": (
            None if patience_s is None else {"dist": "exponential", "mean": patience_s}
        ),
        "agents": [
            {"name": "agent", "count": agents, "skills": {"general": 1}, "capacity": {"phone": 1}}
        ],
    }
