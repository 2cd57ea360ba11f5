"""Random durations for the simulator: handle times and customer patience, in seconds.

A distribution is written in a scenario as a mapping:

* ``{dist: exponential, mean: 180}`` — memoryless, mean ``mean`` seconds;
* ``{dist: lognormal, mean: 180, sigma: 0.6}`` — ``mean`` is the mean of the duration
  itself (not of its logarithm) and ``sigma`` the standard deviation of its logarithm,
  so ``mu = ln(mean) - sigma**2 / 2``;
* ``{dist: fixed, value: 180}`` — always ``value`` seconds.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.core.validate import Issues, check_keys, num

DISTS = ("exponential", "lognormal", "fixed")


@dataclass(frozen=True, slots=True)
class Dist:
    """A positive duration distribution in seconds (see the module docstring)."""

    kind: str
    mean: float
    sigma: float = 0.0

    def sample(self, rng: random.Random) -> float:
        """One draw, in seconds."""
        if self.kind == "exponential":
            return rng.expovariate(1.0 / self.mean)
        if self.kind == "lognormal":
            mu = math.log(self.mean) - self.sigma * self.sigma / 2.0
            return rng.lognormvariate(mu, self.sigma)
        return self.mean

    def describe(self) -> str:
        if self.kind == "lognormal":
            return f"lognormal(mean={self.mean:g}s, sigma={self.sigma:g})"
        if self.kind == "fixed":
            return f"fixed({self.mean:g}s)"
        return f"exponential(mean={self.mean:g}s)"


def parse_dist(iss: Issues, path: str, raw: Any) -> Dist | None:
    """Validate one distribution mapping; records issues under ``path``."""
    if not isinstance(raw, Mapping):
        iss.add(path, "must be a mapping like {dist: exponential, mean: 180}")
        return None
    kind = raw.get("dist")
    if kind not in DISTS:
        iss.add(f"{path}.dist", f"unknown distribution {kind!r} (one of {', '.join(DISTS)})")
        return None
    if kind == "fixed":
        check_keys(iss, path, raw, ("dist", "value"))
        value = num(
            iss, f"{path}.value", raw.get("value"), minimum=0, exclusive=True, required=True
        )
        return None if value is None else Dist("fixed", value)
    allowed = ("dist", "mean", "sigma") if kind == "lognormal" else ("dist", "mean")
    check_keys(iss, path, raw, allowed)
    mean = num(iss, f"{path}.mean", raw.get("mean"), minimum=0, exclusive=True, required=True)
    sigma = 0.0
    if kind == "lognormal":
        s = num(iss, f"{path}.sigma", raw.get("sigma"), minimum=0, exclusive=True, required=True)
        sigma = s or 0.0
    if mean is None or (kind == "lognormal" and not sigma):
        return None
    return Dist(str(kind), mean, sigma)
