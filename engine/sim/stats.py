"""Measurements of a simulation run and the definitions of every reported figure.

Times are integer microseconds of simulated time inside, seconds in the summary.
A ticket is *counted* when it arrives in ``[warmup_s, duration_s)``; the measurement
window for busy and logged-in time is the same interval. Definitions:

* ``tickets`` counted tickets; ``assigned`` those answered (given to an agent),
  ``abandoned`` those that left the waiting queue at their patience, ``unanswered`` those
  still waiting when the run stopped (only when the drain limit was hit);
  ``abandon_rate`` is ``abandoned / tickets``.
* ``p_wait`` fraction of counted tickets that waited > 0 s (abandoned and unanswered
  tickets waited); the Erlang C ``P(wait)``.
* ``asa_s`` average speed of answer: mean of (assigned at - arrived at) over counted
  *answered* tickets, zero waits included; abandoned tickets are excluded. Without
  abandonment this is the Erlang C ``ASA = C * AHT / (N - A)``.
* ``asa_ci95_s`` half-width of a 95 % confidence interval for ``asa_s`` by batch means:
  the window is cut into ``batches`` equal spans of arrival time, each span's mean wait is
  one observation, half-width = t(0.975, batches-1) * sd / sqrt(batches).
  ``p_wait_ci95``, ``service_level_ci95`` and ``abandon_rate_ci95`` are the same for
  those fractions.
* ``service_level`` fraction of counted tickets answered within
  ``service_level_target_s`` (wait <= target); abandoned and unanswered count as not within.
* ``occupancy`` busy capacity-unit time / on-duty capacity-unit time over the window,
  where an agent's capacity units are the sum of its per-channel capacities, each open
  ticket occupies one unit, and on duty means logged in (plus, after a logout, the unit
  that finishes each still-open ticket). With every agent logged in all along this is
  busy time / (agents x horizon), the Erlang ``A / N``.
* ``fairness_jain`` Jain's index (sum x)^2 / (n * sum x^2) of per-agent occupancy over
  agents that were logged in during the window (1 = perfectly even). With equal shifts and
  capacities it equals Jain's index of busy time.
* ``share_best_skilled`` fraction of counted answered tickets whose agent has, for the
  ticket's required skills, the highest skill-level sum among the pool's agents that meet
  every required level.
* ``per_queue`` the same figures per *entry* queue (the queue the ticket was first routed
  to, before any overflow); ``steps`` counts answered tickets by escalation step.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

US_PER_S = 1_000_000
_Z975 = 1.959963984540054


def t975(df: int) -> float:
    """Two-sided 95 % Student-t quantile (Cornish-Fisher expansion; exact for df 1, 2)."""
    if df <= 0:
        return math.inf
    if df <= 2:
        return (12.7062047, 4.30265273)[df - 1]
    z, v = _Z975, float(df)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
        + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * v**4)
    )


def ci95(values: list[float]) -> float:
    """Half-width of the 95 % confidence interval of the mean of ``values``."""
    n = len(values)
    if n < 2:
        return math.nan
    mean = sum(values) / n
    var = sum((x - mean) ** 2 for x in values) / (n - 1)
    return t975(n - 1) * math.sqrt(var / n)


def jain(values: list[float]) -> float:
    """Jain's fairness index of ``values`` (1.0 when all equal; 1/n when one takes all)."""
    total = sum(values)
    sq = sum(x * x for x in values)
    return 1.0 if sq == 0 else total * total / (len(values) * sq)


class _Tally:
    """Counters for one batch or one queue."""

    __slots__ = ("abandoned", "answered", "tickets", "wait_us", "waited", "within")

    def __init__(self) -> None:
        self.tickets = self.answered = self.abandoned = self.waited = self.within = 0
        self.wait_us = 0

    def figures(self) -> dict[str, Any]:
        n = self.tickets
        return {
            "tickets": n,
            "assigned": self.answered,
            "abandoned": self.abandoned,
            "asa_s": self.wait_us / self.answered / US_PER_S if self.answered else math.nan,
            "service_level": self.within / n if n else math.nan,
            "p_wait": self.waited / n if n else math.nan,
        }


class Stats:
    """Accumulates counted-ticket outcomes and agent time over the measurement window."""

    def __init__(self, warmup_us: int, end_us: int, batches: int, target_us: int) -> None:
        self.warmup_us = warmup_us
        self.end_us = end_us
        self.target_us = target_us
        self.span_us = (end_us - warmup_us) / batches
        self.batches = [_Tally() for _ in range(batches)]
        self.queues: dict[str, _Tally] = {}
        self.steps: Counter[str] = Counter()
        self.best = 0
        self.busy_us: dict[str, int] = {}
        self.staffed_us: dict[str, int] = {}  # capacity-unit microseconds logged in

    def batch_of(self, arrive_us: int) -> int:
        """Batch index of a ticket arriving at ``arrive_us``, or -1 when not counted."""
        if arrive_us < self.warmup_us or arrive_us >= self.end_us:
            return -1
        return min(int((arrive_us - self.warmup_us) / self.span_us), len(self.batches) - 1)

    def _queue(self, queue: str) -> _Tally:
        q = self.queues.get(queue)
        if q is None:
            q = self.queues[queue] = _Tally()
        return q

    def arrived(self, batch: int, queue: str) -> None:
        self.batches[batch].tickets += 1
        self._queue(queue).tickets += 1

    def answered(self, batch: int, queue: str, wait_us: int, step: str, best: bool) -> None:
        within = wait_us <= self.target_us
        for t in (self.batches[batch], self._queue(queue)):
            t.answered += 1
            t.wait_us += wait_us
            if wait_us > 0:
                t.waited += 1
            if within:
                t.within += 1
        self.steps[step] += 1
        if best:
            self.best += 1

    def abandoned(self, batch: int, queue: str) -> None:
        for t in (self.batches[batch], self._queue(queue)):
            t.abandoned += 1
            t.waited += 1

    def unanswered(self, batch: int, queue: str) -> None:
        for t in (self.batches[batch], self._queue(queue)):
            t.waited += 1

    def _overlap(self, start_us: int, end_us: int) -> int:
        return max(0, min(end_us, self.end_us) - max(start_us, self.warmup_us))

    def busy(self, agent: str, start_us: int, end_us: int) -> None:
        """One capacity unit of ``agent`` was busy over ``[start_us, end_us)``."""
        self.busy_us[agent] = self.busy_us.get(agent, 0) + self._overlap(start_us, end_us)

    def staffed(self, agent: str, units: int, start_us: int, end_us: int) -> None:
        """``agent`` had ``units`` capacity units on duty over ``[start_us, end_us)``."""
        add = units * self._overlap(start_us, end_us)
        self.staffed_us[agent] = self.staffed_us.get(agent, 0) + add

    def summary(self) -> dict[str, Any]:
        """The figures defined in the module docstring."""
        total = _Tally()
        for b in self.batches:
            for name in _Tally.__slots__:
                setattr(total, name, getattr(total, name) + getattr(b, name))
        tot = total.figures()
        used = [b for b in self.batches if b.tickets]
        asa_obs = [b.wait_us / b.answered / US_PER_S for b in used if b.answered]
        staffed = sum(self.staffed_us.values())
        busy = sum(self.busy_us.values())
        per_agent = [
            self.busy_us.get(a, 0) / s for a, s in sorted(self.staffed_us.items()) if s > 0
        ]
        answered = total.answered
        unanswered = tot["tickets"] - tot["assigned"] - tot["abandoned"]
        return {
            **tot,
            "unanswered": unanswered,
            "abandon_rate": tot["abandoned"] / tot["tickets"] if tot["tickets"] else math.nan,
            "asa_ci95_s": ci95(asa_obs),
            "p_wait_ci95": ci95([b.waited / b.tickets for b in used]),
            "service_level_ci95": ci95([b.within / b.tickets for b in used]),
            "abandon_rate_ci95": ci95([b.abandoned / b.tickets for b in used]),
            "occupancy": busy / staffed if staffed else math.nan,
            "fairness_jain": jain(per_agent) if per_agent else math.nan,
            "share_best_skilled": self.best / answered if answered else math.nan,
            "per_queue": {q: t.figures() for q, t in sorted(self.queues.items())},
            "steps": dict(sorted(self.steps.items())),
        }
