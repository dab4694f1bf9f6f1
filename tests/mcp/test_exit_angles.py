"""The max-T engine (dosefinding.mcp.cells, exit_angles, radial) against exact references.

References are independent of the engine: closed forms and one- or two-dimensional
integrals (independent statistics, equicorrelated statistics through their common factor
and the chi variable, by composite Gauss-Legendre rules exact to about 1e-12; rank two
through the angle of the direction, by scipy's adaptive quadrature to 1e-13), and our
separation-of-variables integrator (dosefinding.mcp.mvt, which shares no code with the
engine) run to 2e-7 for singular ranks 3 and 4. Tolerance: the engine's own error
estimate (at least ``GRID_ERROR`` = 1e-7) plus the reference's error; the deterministic
rules (ranks 2 to 4) must also report errors below 1e-6.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from exact_references import equicorrelated_cdf, t_expectation
from scipy import integrate, special

from dosefinding.mcp.cells import MaxTGeometry, cell_vectors, unit_loadings
from dosefinding.mcp.exit_angles import GRID_ERROR, summarise_estimates
from dosefinding.mcp.mvt import mvt_probability

QS = np.array([-1.5, -0.4, 0.0, 0.0005, 0.3, 1.0, 1.9, 2.4, 3.1, 4.5])


def engine(corr: np.ndarray, q: np.ndarray, df: float, two_sided: bool = False, seed: int = 0,
           level: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """P(max <= q) (|.| when two-sided) and its error from one geometry."""
    geometry = MaxTGeometry(unit_loadings(corr)[None], two_sided, np.random.default_rng(seed))
    upper = geometry.measure(level).upper_tail(np.asarray(q, dtype=float)[None, :], df, two_sided)
    value, error = summarise_estimates(upper, geometry.deterministic)
    return 1.0 - value[0], error[0]


@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize("df", [np.inf, 4.0, 60.0])
@pytest.mark.parametrize("two_sided", [False, True])
def test_independent_statistics(m: int, df: float, two_sided: bool) -> None:
    def cdf(x: float, s: np.ndarray) -> np.ndarray:
        if two_sided:
            return np.zeros(s.shape) if x <= 0 else (2 * special.ndtr(x * s) - 1) ** m
        return special.ndtr(x * s) ** m

    expected = [t_expectation(lambda s, x=x: cdf(x, s), df) for x in QS]
    value, error = engine(np.eye(m), QS, df, two_sided)
    assert np.all(error < 1e-6)
    np.testing.assert_array_less(np.abs(value - expected), error + 1e-11)


@pytest.mark.parametrize(("m", "rho"), [(3, 0.5), (4, 0.3), (4, 0.9), (3, 0.999)])
@pytest.mark.parametrize("df", [np.inf, 3.0])
@pytest.mark.parametrize("two_sided", [False, True])
def test_equicorrelated_statistics(m: int, rho: float, df: float, two_sided: bool) -> None:
    """Full rank m; rho = 0.999 is nearly singular (all statistics nearly equal)."""
    corr = np.full((m, m), rho) + (1 - rho) * np.eye(m)
    q = QS[[1, 2, 4, 5, 7, 8]]
    expected = np.array([equicorrelated_cdf(x, m, rho, df, two_sided) for x in q])
    value, error = engine(corr, q, df, two_sided)
    assert np.all(error < 1e-6)
    np.testing.assert_array_less(np.abs(value - expected), error + 1e-10)


def plane_cdf(q: float, angles: np.ndarray, df: float) -> float:
    """P(max_i a_i . X <= q) for unit vectors a_i of the plane at ``angles``: the integral over
    the direction of X of P(radius <= q / m(omega)), m the largest projection."""
    breaks = np.sort(np.mod(np.concatenate([angles + math.pi / 2, angles - math.pi / 2,
                                            [(a + b) / 2 + k * math.pi for a in angles for b in angles
                                             for k in (0, 1)]]), 2 * math.pi))

    def radial(x: float) -> float:
        return 1.0 - math.exp(-x / 2) if np.isinf(df) else float(special.fdtr(2, df, x / 2))

    def integrand(omega: float) -> float:
        m = float(np.max(np.cos(omega - angles)))
        if q > 0:
            return 1.0 if m <= 0 else radial(q * q / (m * m))
        if q == 0:
            return float(m < 0)
        return 0.0 if m >= 0 else 1.0 - radial(q * q / (m * m))

    return integrate.quad(integrand, 0, 2 * math.pi, points=breaks, epsabs=1e-13, limit=500)[0] / (2 * math.pi)


@pytest.mark.parametrize("df", [np.inf, 5.0])
def test_rank_two_is_exact(df: float) -> None:
    """Five statistics of rank two (singular): the engine's two points per cell are exact."""
    angles = np.array([0.0, 0.3, 0.55, 1.4, 2.2])
    a = np.column_stack([np.cos(angles), np.sin(angles)])
    q = QS[QS != 0.0005]
    expected = [plane_cdf(x, angles, df) for x in q]
    value, error = engine(a @ a.T, q, df)
    assert np.all(error <= GRID_ERROR)
    np.testing.assert_allclose(value, expected, atol=GRID_ERROR)


def singular(rank: int, size: int, seed: int) -> np.ndarray:
    """A correlation of ``size`` contrast-like statistics (positively correlated) of rank ``rank``."""
    rng = np.random.default_rng(seed)
    a = np.abs(rng.normal(size=(size, rank))) + rng.normal(scale=0.4, size=(size, rank))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    return a @ a.T


@pytest.mark.parametrize(("rank", "size"), [(3, 5), (3, 6), (4, 5), (4, 7)])
@pytest.mark.parametrize(("df", "two_sided"), [(np.inf, False), (8.0, False), (30.0, True)])
def test_singular_ranks_three_and_four(rank: int, size: int, df: float, two_sided: bool) -> None:
    corr = singular(rank, size, seed=rank * size)
    q = np.array([-0.8, 0.0, 0.9, 2.0, 2.7]) if not two_sided else np.array([0.9, 2.0, 2.7])
    value, error = engine(corr, q, df, two_sided)
    assert np.all(error < 1e-6)
    for x, v, e in zip(q, value, error, strict=True):
        lower = np.full(size, -x if two_sided else -np.inf)
        reference = mvt_probability(lower, np.full(size, x), corr, df, abseps=2e-7, max_points=12 << 20)
        assert abs(v - reference.value) <= e + reference.error, (x, v, reference)


def test_rank_five_quasi_monte_carlo_error_is_honest() -> None:
    """Rank 5 (six statistics): the spread over the shifts bounds the difference from an
    independent computation, and refining shrinks it."""
    corr = singular(5, 6, seed=11)
    q = np.array([1.0, 2.2, 2.8])
    coarse_error = engine(corr, q, 20.0, level=0)[1]
    fine, fine_error = engine(corr, q, 20.0, level=3)
    assert fine_error.max() < coarse_error.max()
    for x, v, e in zip(q, fine, fine_error, strict=True):
        reference = mvt_probability(np.full(6, -np.inf), np.full(6, x), corr, 20.0, abseps=1e-6, max_points=12 << 20)
        assert abs(v - reference.value) <= e + reference.error


def test_repeated_statistics_count_once() -> None:
    """A duplicated contrast (correlation 1), and for two-sided tests a negated one (-1),
    leave the distribution of the maximum unchanged."""
    corr = singular(3, 4, seed=5)
    base = engine(corr, QS, 12.0)[0]
    twice = np.block([[corr, corr[:, :1]], [corr[:1, :], np.ones((1, 1))]])
    np.testing.assert_allclose(engine(twice, QS, 12.0)[0], base, atol=1e-9)
    q = QS[QS > 0]
    two_base = engine(corr, q, 12.0, two_sided=True)[0]
    negated = np.block([[corr, -corr[:, :1]], [-corr[:1, :], np.ones((1, 1))]])
    np.testing.assert_allclose(engine(negated, q, 12.0, two_sided=True)[0], two_base, atol=1e-9)
    cells = cell_vectors(unit_loadings(twice)[None], False)
    assert cells.weight[0].tolist() == [1.0, 1.0, 1.0, 1.0, 0.0]


def test_starting_angle_changes_nothing_beyond_the_error() -> None:
    corr = singular(4, 6, seed=3)
    first, error = engine(corr, QS, np.inf, seed=1)
    second, _ = engine(corr, QS, np.inf, seed=2)
    np.testing.assert_array_less(np.abs(first - second), error)


def test_many_trials_at_once_equal_one_at_a_time() -> None:
    corrs = np.array([singular(3, 5, seed=s) for s in range(4)])
    q = np.array([[0.5, 2.0], [1.0, 2.5], [-0.3, 1.8], [2.2, 3.0]])
    geometry = MaxTGeometry(unit_loadings(corrs, 3), False, np.random.default_rng(0))
    batch = summarise_estimates(geometry.measure(0).upper_tail(q, 10.0), True)[0]
    for k in range(4):
        single = MaxTGeometry(unit_loadings(corrs[k])[None], False, np.random.default_rng(0))
        one = summarise_estimates(single.measure(0).upper_tail(q[k : k + 1], 10.0), True)[0]
        np.testing.assert_allclose(batch[k], one[0], atol=1e-12)
