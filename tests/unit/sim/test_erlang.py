"""Erlang B / C / A formulas against exact arithmetic, published values and identities."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from engine.sim.erlang import erlang_a_figures, erlang_b, erlang_c, erlang_c_figures

pytestmark = pytest.mark.unit


def _erlang_c_exact(n: int, a: Fraction) -> Fraction:
    """The textbook formula (shared/NOTES.md) with factorials, in exact rationals."""
    top = a**n / math.factorial(n) * Fraction(n) / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


def _poisson(a: float, kmax: int) -> list[float]:
    """P(Poisson(a) = k) for k = 0..kmax."""
    out = [math.exp(-a)]
    for k in range(1, kmax + 1):
        out.append(out[-1] * a / k)
    return out


@pytest.mark.parametrize(
    ("n", "a", "expected", "source"),
    [
        (10, 8.0, 0.4092, "A=8, N=10: P(wait) 40.9 % (brief; Erlang C tables)"),
        (3, 2.0, 4 / 9, "M/M/3 at a=2: exactly 4/9"),
        (1, 0.7, 0.7, "M/M/1: P(wait) = rho"),
        (2, 1.0, 1 / 3, "M/M/2 at a=1: a^2 / (2 + a) ... = 1/3"),
    ],
)
def test_erlang_c_matches_published_values(n: int, a: float, expected: float, source: str) -> None:
    assert erlang_c(n, a) == pytest.approx(expected, abs=5e-5), source


@pytest.mark.parametrize(("n", "a"), [(1, "1/2"), (5, "4"), (10, "9"), (30, "27"), (100, "95")])
def test_erlang_c_recursion_equals_factorial_formula(n: int, a: str) -> None:
    exact = _erlang_c_exact(n, Fraction(a))
    assert erlang_c(n, float(Fraction(a))) == pytest.approx(float(exact), rel=1e-12)


def test_erlang_b_equals_its_definition() -> None:
    a, n = Fraction(8), 10
    exact = (a**n / math.factorial(n)) / sum(a**k / math.factorial(k) for k in range(n + 1))
    assert erlang_b(n, 8.0) == pytest.approx(float(exact), rel=1e-12)
    assert erlang_b(10, 8.0) == pytest.approx(0.1217, abs=5e-5)  # Erlang B table value


def test_erlang_c_stays_finite_for_large_pools() -> None:
    # Factorials overflow floats past n = 170; the recursion must not.
    c = erlang_c(2000, 1950.0)
    assert 0.0 < c < 1.0


def test_erlang_c_figures_follow_the_notes_formulas() -> None:
    f = erlang_c_figures(10, 8.0, aht_s=180.0, target_s=20.0)
    c = erlang_c(10, 8.0)
    assert f.asa_s == pytest.approx(c * 180.0 / 2.0)
    assert f.asa_s == pytest.approx(36.83, abs=0.01)
    assert f.service_level == pytest.approx(1 - c * math.exp(-2.0 * 20.0 / 180.0))
    assert f.occupancy == pytest.approx(0.8)


def test_erlang_c_rejects_an_unstable_load() -> None:
    with pytest.raises(ValueError, match="a < n"):
        erlang_c(10, 10.0)


@pytest.mark.parametrize(("n", "a"), [(10, 8.0), (10, 9.0), (20, 18.0), (3, 2.0)])
def test_erlang_a_tends_to_erlang_c_without_abandonment(n: int, a: float) -> None:
    ea = erlang_a_figures(n, a, aht_s=180.0, patience_s=1e9, target_s=20.0)
    ec = erlang_c_figures(n, a, aht_s=180.0, target_s=20.0)
    assert ea.p_wait == pytest.approx(ec.p_wait, rel=1e-5)
    assert ea.asa_s == pytest.approx(ec.asa_s, rel=1e-5)
    assert ea.service_level == pytest.approx(ec.service_level, rel=1e-5)
    assert ea.abandon_rate < 1e-5


@pytest.mark.parametrize(("n", "a"), [(5, 4.0), (10, 9.0), (10, 14.0)])
def test_erlang_a_with_patience_equal_to_handle_time_is_m_m_infinity(n: int, a: float) -> None:
    # theta = mu: every caller leaves at rate mu whether served or waiting, so the number in
    # system is Poisson(a) (M/M/inf) and abandonment = E[(K - n)+] / a.
    f = erlang_a_figures(n, a, aht_s=100.0, patience_s=100.0, target_s=30.0)
    pk = _poisson(a, n + 200)
    assert f.p_wait == pytest.approx(1.0 - sum(pk[:n]), rel=1e-9)
    excess = sum((k - n) * p for k, p in enumerate(pk) if k > n)
    assert f.abandon_rate == pytest.approx(excess / a, rel=1e-9)


def test_erlang_a_service_level_spans_no_wait_to_everyone_served() -> None:
    n, a, aht, pat = 10, 11.0, 180.0, 120.0
    at = [erlang_a_figures(n, a, aht, pat, t).service_level for t in (0.0, 20.0, 60.0, 1e5)]
    f = erlang_a_figures(n, a, aht, pat, 20.0)
    assert at[0] == pytest.approx(1.0 - f.p_wait, rel=1e-12)
    assert at[0] < at[1] < at[2] < at[3]
    assert at[3] == pytest.approx(1.0 - f.abandon_rate, rel=1e-9)


def test_erlang_a_handles_overload() -> None:
    # Offered load above the number of agents is stable with abandonment.
    f = erlang_a_figures(10, 15.0, aht_s=180.0, patience_s=60.0, target_s=20.0)
    assert 0.5 < f.p_wait < 1.0
    assert 0.3 < f.abandon_rate < 0.5
    assert f.occupancy < 1.0
    # Carried load: served callers keep the agents busy.
    assert f.occupancy * 10 == pytest.approx(15.0 * (1 - f.abandon_rate), rel=1e-9)
