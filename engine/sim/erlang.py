"""Queueing formulas the simulator is validated against: Erlang B, C and A.

Notation: ``n`` agents (servers), offered load ``a = lambda * AHT`` in Erlang, ``aht_s``
mean handle time in seconds, ``target_s`` the service-level threshold in seconds,
``patience_s`` mean (exponential) customer patience in seconds.

* Erlang C (M/M/n, nobody abandons; needs ``a < n``):
  ``P(wait) = C = n B / (n - a (1 - B))`` with ``B`` the Erlang B blocking probability from
  the stable recursion ``B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1))`` (no factorials, no
  overflow); ``ASA = C AHT / (n - a)`` (mean wait over *all* answered calls, zero waits
  included); service level ``P(W <= T) = 1 - C exp(-(n - a) T / AHT)``.
* Erlang A (M/M/n+M, exponential patience; any ``a``): the exact birth-death chain on the
  number in system, birth rate ``lambda``, death rate ``min(k, n) mu + max(k - n, 0) theta``
  (``mu = 1/AHT``, ``theta = 1/patience``), truncated where the stationary tail is below
  1e-16 of its peak. By PASTA an arrival sees the stationary state; a caller who finds
  ``j`` others waiting moves up at rate ``n mu + j theta`` and abandons at rate ``theta``,
  which gives, exactly, the probability of being served, the mean wait of served callers,
  and (by uniformisation) the probability of being served within ``T``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """Steady-state figures of a call center (definitions as in :mod:`engine.sim.stats`).

    ``p_wait`` fraction of callers who wait > 0; ``asa_s`` mean wait of answered callers,
    zero waits included; ``service_level`` fraction answered within ``target_s``
    (abandoned callers count as not within); ``abandon_rate`` fraction who abandon;
    ``occupancy`` mean busy fraction of the agents.
    """

    p_wait: float
    asa_s: float
    service_level: float
    abandon_rate: float
    occupancy: float


def erlang_b(n: int, a: float) -> float:
    """Blocking probability of M/M/n/n with offered load ``a`` Erlang."""
    if n < 0 or a < 0:
        raise ValueError("n and a must be >= 0")
    b = 1.0
    for k in range(1, n + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(n: int, a: float) -> float:
    """Probability that a caller waits, M/M/n with offered load ``a < n`` Erlang."""
    if not 0 <= a < n:
        raise ValueError(f"Erlang C needs 0 <= a < n, got a={a}, n={n}")
    b = erlang_b(n, a)
    return n * b / (n - a * (1.0 - b))


def erlang_c_figures(n: int, a: float, aht_s: float, target_s: float) -> QueueFigures:
    """P(wait), ASA (s), service level within ``target_s`` and occupancy of M/M/n."""
    c = erlang_c(n, a)
    return QueueFigures(
        p_wait=c,
        asa_s=c * aht_s / (n - a),
        service_level=1.0 - c * math.exp(-(n - a) * target_s / aht_s),
        abandon_rate=0.0,
        occupancy=a / n,
    )


def _log_stationary(n: int, a: float, ratio: float) -> list[float]:
    """log of unnormalised stationary probabilities of the Erlang A chain, k = 0, 1, ...

    ``ratio = patience / AHT`` (theta / mu). Rates are in units of mu, so the chain's
    birth rate is ``a`` and its death rate in state k is ``min(k, n) + max(k - n, 0) / ratio``.
    """
    logs = [0.0]
    peak = 0.0
    k = 0
    while True:
        k += 1
        death = min(k, n) + max(k - n, 0) / ratio
        logs.append(logs[-1] + math.log(a) - math.log(death))
        peak = max(peak, logs[-1])
        if k > n and logs[-1] < peak - 37.0 and death > a:  # e^-37 ~ 1e-16
            return logs


def erlang_a_figures(
    n: int, a: float, aht_s: float, patience_s: float, target_s: float
) -> QueueFigures:
    """Exact figures of M/M/n+M (Erlang A) with mean patience ``patience_s`` seconds."""
    if n < 1 or a <= 0 or aht_s <= 0 or patience_s <= 0:
        raise ValueError("need n >= 1, a > 0, aht_s > 0, patience_s > 0")
    mu = 1.0 / aht_s
    theta = 1.0 / patience_s
    logs = _log_stationary(n, a, patience_s / aht_s)
    top = max(logs)
    weights = [math.exp(x - top) for x in logs]
    total = sum(weights)
    pi = [w / total for w in weights]
    p_wait = sum(pi[n:])
    # A caller arriving to state n + j - 1 (j >= 1) is j-th in line.
    served = [0.0] * len(pi)  # served[j]: P(served | j-th in line)
    served_wait = [0.0] * len(pi)  # E[W * 1{served} | j-th in line], seconds
    served[0] = 1.0
    for j in range(1, len(pi) - n + 1):
        rate = n * mu + j * theta
        up = (n * mu + (j - 1) * theta) / rate
        served[j] = up * served[j - 1]
        served_wait[j] = served[j] / rate + up * served_wait[j - 1]
    lines = range(1, len(pi) - n + 1)
    p_served = sum(pi[:n]) + sum(pi[n + j - 1] * served[j] for j in lines)
    wait_served = sum(pi[n + j - 1] * served_wait[j] for j in lines)
    within = _served_within(n, mu, theta, target_s, [pi[n + j - 1] * served[j] for j in lines])
    busy = sum(p * min(k, n) for k, p in enumerate(pi))
    return QueueFigures(
        p_wait=p_wait,
        asa_s=wait_served / p_served,
        service_level=sum(pi[:n]) + within,
        abandon_rate=1.0 - p_served,
        occupancy=busy / n,
    )


def _served_within(n: int, mu: float, theta: float, t: float, weight: list[float]) -> float:
    """sum_j weight[j-1] * P(T_j <= t), where T_j is the sum of independent exponential
    stages with rates n mu + i theta, i = j .. 1 (the waiting time of a caller j-th in
    line, given that it is served: stage holding times do not depend on the outcome).

    Uniformisation of the pure-death chain j -> j-1 at rate n mu + j theta, started from
    the (unnormalised) distribution ``weight`` over positions 1..len(weight).
    """
    if t <= 0:
        return 0.0
    m = len(weight)
    lam = n * mu + m * theta
    rates = [(n * mu + j * theta) / lam for j in range(1, m + 1)]
    state = list(weight)  # state[j-1]: mass still at position j
    total = sum(weight)
    done = 0.0  # mass absorbed (served) after k jumps
    x = lam * t
    log_p = -x  # log of the Poisson(x) probability of k jumps
    seen = 0.0  # Poisson probability summed over k so far
    result = 0.0
    for k in range(int(x + 12.0 * math.sqrt(x) + 50) + 1):
        p = math.exp(log_p)
        result += p * done
        seen += p
        if sum(state) <= 1e-16 * total:  # everything absorbed: later k add done each
            break
        nxt = [s * (1.0 - r) for s, r in zip(state, rates, strict=True)]
        for j in range(1, m):
            nxt[j - 1] += state[j] * rates[j]
        done += state[0] * rates[0]
        state = nxt
        log_p += math.log(x) - math.log(k + 1)
    return result + max(0.0, 1.0 - seen) * done
