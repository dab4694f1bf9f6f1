"""The distribution of the maximum statistic (spherical-radial integration).

References here are exact (one dimension, independent coordinates, the radial
distribution functions from scipy) or our separation-of-variables integrator run to
1e-8, which shares no code with the radial integrand. Tolerances are the estimated
errors (three standard errors) of both sides; R comparisons are in test_mvt.py and
test_mct_reference.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy import special, stats

from dosefinding.errors import InputError
from dosefinding.mcp.max_t import MaxTDistribution
from dosefinding.mcp.mvt import mvt_probability
from dosefinding.mcp.radial import squared_radius_tail, tail_exact

# Five contrasts on four active doses: a singular (rank 4) correlation, as in MCP-Mod.
SINGULAR = np.array(
    [
        [1.000, 0.950, 0.780, 0.640, 0.900],
        [0.950, 1.000, 0.900, 0.780, 0.800],
        [0.780, 0.900, 1.000, 0.960, 0.530],
        [0.640, 0.780, 0.960, 1.000, 0.370],
        [0.900, 0.800, 0.530, 0.370, 1.000],
    ]
)


def _project_to_correlation(c: np.ndarray, rank: int) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    w[:-rank] = 0.0
    low = (v * w) @ v.T
    d = np.sqrt(np.diag(low))
    return low / np.outer(d, d)


CORR = _project_to_correlation(SINGULAR, 4)


def test_fixture_correlation_is_singular() -> None:
    assert np.linalg.matrix_rank(CORR, tol=1e-10) == 4
    assert MaxTDistribution(CORR).rank == 4


# Rank one never uses the table (see test_rank_one_is_exact).
@pytest.mark.parametrize("rank", [2, 3, 5, 8, 10])
@pytest.mark.parametrize("df", [1.0, 3.0, 30.0, np.inf])
def test_radial_table_matches_scipy(rank: int, df: float) -> None:
    tail = squared_radius_tail(rank, df)
    # Midpoints of the grid are where cubic Hermite interpolation is least accurate.
    x = np.arange(-15.0, tail.log_max, 0.01) + 0.005
    expected = stats.chi2.sf(np.exp(x), rank) if np.isinf(df) else stats.f.sf(np.exp(x) / rank, rank, df)
    assert np.max(np.abs(tail(x) - expected)) < 1e-9
    # Below the table the tail is computed directly; above it, it is below 1e-20.
    np.testing.assert_allclose(tail(np.array([-30.0])), tail_exact(np.array([-30.0]), rank, df)[0], atol=1e-15)
    assert tail_exact(np.array([tail.log_max]), rank, df)[0][0] < 1e-20
    assert tail(np.array([tail.log_max + 1.0]))[0] == 0.0


def test_radial_distribution_is_chi_square_or_scaled_f() -> None:
    r2 = np.array([0.5, 3.0, 11.0])
    np.testing.assert_allclose(tail_exact(np.log(r2), 4, np.inf)[0], stats.chi2.sf(r2, 4), rtol=1e-13)
    np.testing.assert_allclose(tail_exact(np.log(r2), 4, 7.0)[0], stats.f.sf(r2 / 4, 4, 7.0), rtol=1e-12)
    # The slope d Q / d log x is -x times the density.
    np.testing.assert_allclose(tail_exact(np.log(r2), 4, 7.0)[1], -r2 * stats.f.pdf(r2 / 4, 4, 7.0) / 4, rtol=1e-12)


@pytest.mark.parametrize("two_sided", [False, True])
@pytest.mark.parametrize("df", [np.inf, 12.0])
def test_cdf_matches_separation_of_variables(two_sided: bool, df: float) -> None:
    q = np.array([-1.0, -0.2, 0.0, 0.3, 1.0, 1.8, 2.5, 3.2])
    results = MaxTDistribution(CORR, df, two_sided=two_sided).cdf_many(q, abseps=1e-5)
    assert all(r.error < 1e-5 for r in results)
    for x, result in zip(q, results, strict=True):
        value, error = result.value, result.error
        lower = np.full(5, -x if two_sided else -np.inf)
        if two_sided and x <= 0:
            assert value == 0.0
            continue
        reference = mvt_probability(lower, np.full(5, x), CORR, df, abseps=2e-6)
        assert abs(value - reference.value) <= math.hypot(error, reference.error), (x, value, reference)


def test_independent_normals_are_a_product() -> None:
    q = np.array([0.5, 1.5, 2.5])
    results = MaxTDistribution(np.eye(3)).cdf_many(q, abseps=1e-6)
    np.testing.assert_allclose([r.value for r in results], special.ndtr(q) ** 3, atol=1e-6)
    assert all(r.error < 1e-6 for r in results)


def test_rank_one_is_exact() -> None:
    # Three copies of one statistic and its negative: max T = |T_1| when two of them
    # have opposite signs.
    corr = np.array([[1.0, 1.0, -1.0], [1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]])
    dist = MaxTDistribution(corr, 8.0)
    assert dist.rank == 1
    for q in (0.5, 2.0):
        value = dist.cdf(q)
        assert value.error == 0.0
        assert value.value == pytest.approx(2 * stats.t.cdf(q, 8.0) - 1, abs=1e-14)
    assert dist.cdf(-0.5).value == 0.0
    assert dist.quantile(0.95) == pytest.approx(stats.t.ppf(0.975, 8.0), abs=1e-9)


@pytest.mark.parametrize("two_sided", [False, True])
def test_quantile_inverts_the_cdf(two_sided: bool) -> None:
    dist = MaxTDistribution(CORR, 40.0, two_sided=two_sided)
    q, error = dist.quantile_with_error(0.95, tolerance=5e-5)
    assert error < 5e-5
    check = MaxTDistribution(CORR, 40.0, two_sided=two_sided, seed=7).cdf(q, abseps=1e-6)
    # The quantile's error is the probability error over the density (about 0.1 here).
    assert check.value == pytest.approx(0.95, abs=0.2 * error + check.error)


def test_same_seed_same_numbers() -> None:
    a = MaxTDistribution(CORR, 20.0, seed=3).quantile_with_error(0.975)
    b = MaxTDistribution(CORR, 20.0, seed=3).quantile_with_error(0.975)
    assert a == b


def test_warns_when_the_accuracy_asked_is_out_of_reach() -> None:
    # Rank 5: quasi-Monte Carlo, limited by max_points.
    rank_five = np.full((5, 5), 0.5) + 0.5 * np.eye(5)
    with pytest.warns(RuntimeWarning, match="raise max_points"):
        MaxTDistribution(rank_five, 5.0).cdf_many([0.1], abseps=1e-9, max_points=50_000)
    with pytest.warns(RuntimeWarning, match="raise max_points"):
        MaxTDistribution(rank_five, 5.0).quantile_with_error(0.95, tolerance=1e-9, max_points=50_000)
    # Rank 4: deterministic rules, limited by their grid.
    with pytest.warns(RuntimeWarning, match="stop at about 1e-07"):
        MaxTDistribution(CORR, 5.0).cdf_many([0.1], abseps=1e-9)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: MaxTDistribution([[1.0, 2.0], [2.0, 1.0]]), "corr: not positive semidefinite"),
        (lambda: MaxTDistribution(np.eye(2), df=0), "df: must be positive"),
        (lambda: MaxTDistribution(np.eye(2)).cdf_many([np.nan]), "q: must be a vector of numbers"),
        (lambda: MaxTDistribution(np.eye(2)).quantile(1.5), r"probability: must be in \(0, 1\)"),
        (lambda: MaxTDistribution(np.eye(2)).quantile(0.9, tolerance=-1), "tolerance: must be a positive number"),
    ],
)
def test_bad_input(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=message):
        call()


# --------------------------------------------------------------------------- many trials at once


def _trial_correlations(n: int, seed: int) -> np.ndarray:
    """Contrast correlations of A2201-like trials: optimal contrasts of five shapes on four
    doses under random (unbalanced, correlated) covariances of the LS means."""
    from dosefinding import Candidates
    from dosefinding.mcp.contrasts import contrast_correlation, unconstrained_contrasts

    cands = Candidates([0, 5, 50, 300], {"linear": None, "emax": [10, 100], "sigemax": (50, 3), "exponential": 150},
                       max_effect=-3.5)
    rng = np.random.default_rng(seed)
    a = rng.normal(scale=0.3, size=(n, 4, 4))
    cov = a @ a.transpose(0, 2, 1) + np.eye(4) * rng.uniform(0.5, 1.5, size=(n, 1, 1))
    c = unconstrained_contrasts(cands.response_matrix().to_numpy(), cov)
    return contrast_correlation(c, cov)


@pytest.mark.parametrize(("df", "two_sided"), [(np.inf, False), (40.0, False), (12.0, True)])
def test_batched_upper_tail_is_the_per_trial_distribution(df: float, two_sided: bool) -> None:
    """max_t_upper_tail on 6 trials at once equals MaxTDistribution trial by trial (both
    deterministic for rank 3: to the sum of their errors, about 2e-7)."""
    from dosefinding.mcp.max_t import max_t_upper_tail

    corr = _trial_correlations(6, seed=4)
    q = np.array([[0.4, 1.8, 2.3, 2.9]] * 6) + np.linspace(0, 0.3, 6)[:, None]
    value, error = max_t_upper_tail(corr, q, df, two_sided=two_sided)
    assert np.all(error < 1e-6)
    for k in range(6):
        single = MaxTDistribution(corr[k], df, two_sided=two_sided).cdf_many(q[k])
        for j, result in enumerate(single):
            assert abs(value[k, j] - (1 - result.value)) <= error[k, j] + result.error


def test_significant_contrasts_are_the_adjusted_p_values_below_alpha() -> None:
    """Decisions of 40 trials (statistics spread around the critical values, per-trial df)
    equal p < alpha with each trial's own MaxTDistribution; none is left undecided."""
    from dosefinding.mcp.max_t import significant_contrasts

    corr = _trial_correlations(40, seed=9)
    rng = np.random.default_rng(2)
    t = rng.uniform(1.5, 3.2, size=(40, 5))
    t[3] = -np.inf  # a trial whose first stage failed
    df = np.where(np.arange(40) % 2 == 0, np.inf, 30.0)
    significant, undecided = significant_contrasts(t, corr, df, 0.025)
    assert undecided == 0
    assert not significant[3].any()
    for k in range(40):
        if k == 3:
            continue
        dist = MaxTDistribution(corr[k], df[k])
        p = np.array([1 - r.value for r in dist.cdf_many(t[k])])
        assert significant[k].tolist() == (p < 0.025).tolist()


def test_cached_geometry_gives_the_numbers_of_a_fresh_one() -> None:
    from dosefinding.mcp import max_t

    dist = MaxTDistribution(CORR, 15.0, seed=4)
    first = dist.quantile_with_error(0.975), [r.value for r in dist.cdf_many([1.0, 2.5])]
    cached = MaxTDistribution(CORR, 15.0, seed=4)
    assert (cached.quantile_with_error(0.975), [r.value for r in cached.cdf_many([1.0, 2.5])]) == first
    max_t._CACHE.clear()
    fresh = MaxTDistribution(CORR, 15.0, seed=4)
    assert (fresh.quantile_with_error(0.975), [r.value for r in fresh.cdf_many([1.0, 2.5])]) == first


def test_kept_critical_values_are_those_of_a_fresh_search() -> None:
    """Quasi-Monte Carlo (rank 5): a tight search leaves unpolished roots at the coarse levels it
    refined; a later looser request must get the polished root of a fresh search, and a repeated
    request the same number."""
    from dosefinding.mcp.max_t import clear_caches

    loadings = np.abs(np.random.default_rng(3).normal(size=(6, 5))) + 0.3
    corr = _project_to_correlation((loadings @ loadings.T) / np.outer(*[np.linalg.norm(loadings, axis=1)] * 2), 5)
    clear_caches()
    tight = MaxTDistribution(corr, 40.0, seed=2).quantile_with_error(0.95, tolerance=2e-5)
    loose = MaxTDistribution(corr, 40.0, seed=2).quantile_with_error(0.95, tolerance=1e-2)
    again = MaxTDistribution(corr, 40.0, seed=2).quantile_with_error(0.95, tolerance=2e-5)
    clear_caches()
    assert MaxTDistribution(corr, 40.0, seed=2).quantile_with_error(0.95, tolerance=1e-2) == loose
    clear_caches()
    assert MaxTDistribution(corr, 40.0, seed=2).quantile_with_error(0.95, tolerance=2e-5) == tight == again
    assert loose[1] <= 1e-2 and tight[1] <= 2e-5


def test_rank_five_critical_value_to_1e_4_from_the_first_level() -> None:
    """powMCT's example (6 contrasts, rank 5): the periodised Hopf map gets the critical value to
    1e-4 from 1024 points a shift (with the tent on every coordinate the shifts' spread stayed at
    3e-5 up to 4096 points a shift and the search went to 8192), and within the errors of a
    search to 1e-5 with other shifts."""
    from dosefinding import Candidates, optimal_contrasts
    from dosefinding.mcp.contrasts import contrast_correlation
    from dosefinding.mcp.lattice import N_SHIFTS

    candidates = Candidates([0, 10, 25, 50, 100, 150],
                            {"linear": None, "emax": 25, "logistic": (50, 10.88111), "exponential": 85,
                             "betamod": [(0.33, 2.31), (1.39, 1.39)]}, max_effect=0.4, scal=200)
    corr = contrast_correlation(optimal_contrasts(candidates).matrix, np.eye(6) / 50)
    dist = MaxTDistribution(corr, 294.0, seed=11)
    q, error = dist.quantile_with_error(0.95, tolerance=1e-4)
    assert dist.rank == 5 and dist.n_points == N_SHIFTS * 1024 and error < 1e-4
    reference, reference_error = MaxTDistribution(corr, 294.0, seed=12).quantile_with_error(0.95, tolerance=1e-5)
    assert abs(q - reference) <= error + reference_error


def test_threads_sharing_the_cache_give_the_numbers_of_a_serial_run() -> None:
    """Threads asking for critical values and p-values of the same correlations at once share the
    cached geometries and their refinement levels: each answer must equal that of a serial run
    from a fresh cache (two threads extending one geometry used to append the same level twice,
    and a later level then read the wrong points)."""
    import sys

    from dosefinding.mcp.max_t import clear_caches

    rng = np.random.default_rng(5)
    corrs = []
    for rank in (5, 5, 3):
        loadings = np.abs(rng.normal(size=(7, rank))) + 0.3
        corrs.append(_project_to_correlation(
            (loadings @ loadings.T) / np.outer(*[np.linalg.norm(loadings, axis=1)] * 2), rank))
    tasks = [(k, df, level, tolerance) for k in range(3) for df in (20.0, np.inf) for level in (0.95, 0.99)
             for tolerance in (1e-3, 1e-4)]

    def run(task: tuple[int, float, float, float]) -> tuple[float, float, list[float]]:
        k, df, level, tolerance = task
        dist = MaxTDistribution(corrs[k], df, seed=1)
        q, error = dist.quantile_with_error(level, tolerance=tolerance)
        return q, error, [r.value for r in dist.cdf_many([1.5, 2.5], abseps=tolerance / 10)]

    clear_caches()
    serial = [run(task) for task in tasks]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often: the races show on every run
    try:
        for _ in range(2):
            clear_caches()
            assert _in_threads(run, tasks) == serial
    finally:
        sys.setswitchinterval(interval)


def _in_threads(func: Callable[[Any], Any], tasks: list[Any]) -> list[Any]:
    """``func`` of every task, each in its own thread, all started together; an exception is the result."""
    import threading

    results: list[Any] = [None] * len(tasks)
    barrier = threading.Barrier(len(tasks))

    def work(i: int) -> None:
        barrier.wait()
        try:
            results[i] = func(tasks[i])
        except Exception as exc:  # noqa: BLE001 - compared with the serial results by the caller
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(tasks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
