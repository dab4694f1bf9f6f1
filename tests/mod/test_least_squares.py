"""The least-squares engine of the Mod step: one response, a batch, a covariance per response.

Every response of a batch must land where its fit alone lands: the batch (the draws of
model averaging, the trials of simulated power) is the single fit done many times at once.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dosefinding import InputError, get_shape
from dosefinding.mod import fit_dose_response
from dosefinding.mod.least_squares import (
    LeastSquaresProblem,
    check_bounds,
    estimates_problem,
    fit_least_squares,
    search_nonlinear,
    shape_constant,
    start_grid,
)

DOSES = np.array([0.0, 5.0, 25.0, 50.0, 100.0])
# The batch against the single fits: the same search, its arithmetic grouped differently
# (stacked matrix products), so Brent's method may stop at another point within its
# tolerance (sqrt(eps) relative in the nonlinear parameter). Objectives agree to rounding;
# parameters (responses of order 1) to the search's tolerance.
OBJECTIVE = 1e-12
PARAMETERS = 1e-7
PARAMETERS_ABSOLUTE = 1e-8


def _trials(n: int, seed: int, placebo_adjusted: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Doses, estimates (n, k) and a covariance per trial (n, k, k) around an Emax curve."""
    rng = np.random.default_rng(seed)
    doses = DOSES[1:] if placebo_adjusted else DOSES
    k = doses.size
    mean = 1.2 * doses / (20.0 + doses)
    factors = rng.normal(size=(n, k, k)) * 0.05
    cov = factors @ factors.transpose(0, 2, 1) + np.eye(k) * 0.02
    estimates = mean + np.einsum("tij,tj->ti", np.linalg.cholesky(cov), rng.normal(size=(n, k)))
    return doses, estimates, cov


@pytest.mark.parametrize("placebo_adjusted", [False, True])
@pytest.mark.parametrize("shape", ["linear", "emax", "exponential", "sigemax", "betamod"])
def test_covariance_per_response_gives_each_single_fit(shape: str, placebo_adjusted: bool) -> None:
    doses, estimates, cov = _trials(12, 11, placebo_adjusted)
    model = get_shape(shape)
    constant = shape_constant(model, doses, None, None, placebo_adjusted)
    problem = LeastSquaresProblem.from_covariance(model, constant, doses, estimates, cov, placebo_adjusted)
    batch = fit_least_squares(problem, check_bounds(None, model, float(doses[-1])))
    for i in range(estimates.shape[0]):
        alone = fit_dose_response(shape, doses=doses, estimates=estimates[i], cov=cov[i],
                                  placebo_adjusted=placebo_adjusted)
        np.testing.assert_allclose(batch.objective[i], alone.objective, rtol=OBJECTIVE)
        np.testing.assert_allclose(batch.parameters[i, int(placebo_adjusted):], alone.parameters.to_numpy(),
                                   rtol=PARAMETERS, atol=PARAMETERS_ABSOLUTE)
        assert bool(batch.converged[i]) == alone.converged


@pytest.mark.parametrize("shape", ["emax", "sigemax"])
def test_shared_covariance_batch_gives_each_single_fit(shape: str) -> None:
    doses, estimates, cov = _trials(6, 3, False)
    model = get_shape(shape)
    box = check_bounds(None, model, float(doses[-1]))
    batch = fit_least_squares(replace(estimates_problem(model, doses, estimates[0], cov[0]), y=estimates), box)
    assert batch.objective.shape == (6,) and batch.converged.shape == (6,)
    for i in range(estimates.shape[0]):
        single = fit_least_squares(estimates_problem(model, doses, estimates[i], cov[0]), box)
        assert single.objective.shape == () and single.converged.shape == ()
        np.testing.assert_allclose(batch.objective[i], single.objective, rtol=OBJECTIVE)
        np.testing.assert_allclose(batch.parameters[i], single.parameters, rtol=PARAMETERS, atol=PARAMETERS_ABSOLUTE)


def test_take_keeps_each_response_with_its_covariance() -> None:
    doses, estimates, cov = _trials(8, 5, True)
    model = get_shape("emax")
    problem = LeastSquaresProblem.from_covariance(model, None, doses, estimates, cov, True)
    rows = np.array([6, 1, 3])
    subset = problem.take(rows)
    np.testing.assert_array_equal(subset.whitener, problem.whitener[rows])
    theta = np.array([[10.0], [30.0], [60.0]])
    everywhere = np.full((8, 1), 45.0)
    everywhere[rows] = theta
    np.testing.assert_array_equal(subset.profile(theta), problem.profile(everywhere)[rows])
    residual, jacobian = problem.projected_residual(theta, rows)
    alone_residual, alone_jacobian = subset.projected_residual(theta)
    np.testing.assert_array_equal(residual, alone_residual)
    np.testing.assert_array_equal(jacobian, alone_jacobian)


def test_linear_shape_needs_no_search() -> None:
    problem = estimates_problem(get_shape("linear"), DOSES, 0.01 * DOSES + 0.5, np.eye(5))
    fit = fit_least_squares(problem, None)
    assert fit.nonlinear.shape == (0,) and bool(fit.converged)
    np.testing.assert_allclose(fit.parameters, [0.5, 0.01], rtol=1e-12)
    assert fit.objective == pytest.approx(0.0, abs=1e-24)


def test_search_refuses_bounds_where_no_grid_point_is_finite() -> None:
    problem = estimates_problem(get_shape("emax"), DOSES, 1.2 * DOSES / (20 + DOSES), np.eye(5))
    box = np.array([[1e-300, 2e-300]])
    with pytest.raises(Exception, match="gives a finite residual sum of squares"):
        search_nonlinear(replace(problem, y=np.full(5, np.nan)), box, 10)


def test_start_grid_spans_the_box() -> None:
    grid = start_grid(np.array([[1.0, 3.0], [0.5, 10.0]]), 10)
    assert grid.shape == (13, 2)
    assert np.all((grid[:, 0] > 1.0) & (grid[:, 0] < 3.0) & (grid[:, 1] > 0.5) & (grid[:, 1] < 10.0))


def test_estimates_problem_checks_its_input() -> None:
    with pytest.raises(InputError, match="cov: must be positive definite"):
        estimates_problem(get_shape("emax"), DOSES, DOSES, -np.eye(5))
