"""fit_dose_response against R DoseFinding 1.0-3 ``fitMod`` (fixture: tests/fixtures/r/fit_reference.R).

Tolerances, relative and elementwise (the JSON holds 15 significant digits):
- parameters: 1e-5 where R's optimum is interior; a nonlinear parameter that R puts on a
  bound (within 1e-6 of the bound range) must be exactly on the same bound in our fit,
  and one that R keeps inside must be inside ours;
- objective (RSS, generalised RSS): 1e-7; 1e-12 absolute where R's value is 0 (linint
  fitted to estimates interpolates them);
- AIC, gAIC and log-likelihood: 1e-6; degrees of freedom: exact;
- covariance of the parameters, predictions and their standard errors: 1e-5;
- the starting grid: 1e-12 (the same arithmetic as R's getGrid);
- our objective is never above R's objective recomputed at R's coefficients by more than
  1e-13 relative (rounding of the fixture).

Where R's ``nlminb`` stops short of the optimum (``R_STOPPED_SHORT``), the comparisons that
fail at these tolerances are listed with the measured differences: our values there are
pinned (1e-8 relative) and no further from R than twice the measured difference; our
optimum there has the lower objective, as R itself confirms.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dosefinding.mod import DoseResponseFit, fit_dose_response
from dosefinding.mod.least_squares import start_grid

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "r" / "fit_reference.json").read_text())
CASES = {case["name"]: case for case in FIXTURE["fits"]}
R_SHAPES = {"sigEmax": "sigemax", "betaMod": "betamod", "linInt": "linint"}
R_PARAMETERS = {"eMax": "emax", "gender2": "gender[T.2]"}

PARAMETERS = 1e-5
ON_BOUND = 1e-6
OBJECTIVE = 1e-7
OBJECTIVE_ZERO = 1e-12
CRITERIA = 1e-6
COVARIANCE = 1e-5
PREDICTIONS = 1e-5
GRID = 1e-12
NO_WORSE = 1e-13

# R's nlminb (finite-difference PORT) on its profiled RSS, which it computes as a difference
# of sums of squares, stops where these parameters still move the RSS. With the other
# nonlinear parameter on its bound, a 1-d Brent search (xatol 1e-14) gives the optimum:
#   ibs_gender_sigEmax (h = 0.5): ed50 0.487993917 (RSS 211.82302048112601); ours
#     0.487993726 (the same RSS); R 0.487987909, where R's own lm() RSS is
#     211.82302048112916 (at our point 211.82302048112601). nlminb says "relative
#     convergence (4)" after 8 iterations, "singular convergence (7)" at the same point
#     with rel.tol = 1e-13.
#   ibs_gender_betaMod (delta2 = 0.05): delta1 0.2215550628; R 0.2215549423 (5.3e-7
#     relative off), which moves the covariance by 9.9e-6 relative (within tolerance).
# Both parameters inside their bounds:
#   a2201_betaMod (four parameters, four doses): R's lm() RSS at R's (delta1, delta2)
#     (0.504341502036, 0.261329285985) is 1212.8771702236629, at ours (0.504342873655,
#     0.261330862653) 1212.8771702235324; nlminb stops with "both X-convergence and
#     relative convergence (5)". Parameters differ by 6.0e-6 relative (within tolerance).
# (case, quantity): (reason, measured largest relative difference from R, the entries it applies to).
# Measured on 2026-12-07 at our current optimum: ed50 1.215e-5 and the sigEmax covariance 3.75e-5 (our
# optimiser's point moved by 2.3e-7 relative in ed50 since the reasons were written), betaMod 1.055e-5.
R_STOPPED_SHORT = {
    ("ibs_gender_sigEmax", "parameters"): (
        "ed50 differs by 1.19e-5 relative (R 0.4879879094, ours 0.4879937265)", 1.19e-5, ["ed50"]),
    ("ibs_gender_sigEmax", "covariance"): ("covariance differs by up to 3.68e-5 relative", 3.68e-5, None),
    ("a2201_betaMod", "covariance"): ("covariance differs by up to 1.06e-5 relative", 1.06e-5, None),
}
# Where R stopped short our values are pinned (to PINNED relative: our own optimum, reproducible
# far beyond this) and their largest relative distance from R is at most STOPPED_SHORT_FACTOR times
# the measured one (rounded in the reasons). The pins are our values as computed on 2026-12-07:
# ``our_fit(name).parameters.tolist()`` and ``our_fit(name).cov.to_numpy().tolist()`` (repr).
PINNED = 1e-8
STOPPED_SHORT_FACTOR = 2.0
OUR_VALUES = {
    ("ibs_gender_sigEmax", "parameters"): [
        0.22228138893405175, 0.47136004839371576, 0.4879938387646608, 0.5, -0.0074078487878378625],
    ("ibs_gender_sigEmax", "covariance"): [
        [0.011806537549725157, 0.0035144903583639604, 0.07356190815445252, -0.02080442684937753,
         -0.005126799563552812],
        [0.0035144903583639604, 15.146212520089982, 52.5672743849274, -32.277670007060436, -0.019411208031392947],
        [0.07356190815445252, 52.5672743849274, 184.30116038478738, -111.21896992155814, -0.06892299984483793],
        [-0.02080442684937753, -32.277670007060436, -111.21896992155814, 69.46407461570796, 0.04184092975919592],
        [-0.005126799563552812, -0.019411208031392947, -0.06892299984483793, 0.04184092975919592,
         0.007280256468412696]],
    ("a2201_betaMod", "covariance"): [
        [0.1531410568464057, -0.07022115463424702, -0.06567756473438136, -0.055789983796833774],
        [-0.07022115463424702, 0.5913743952087838, -0.14429156166746748, -0.20094358262931597],
        [-0.06567756473438136, -0.14429156166746748, 0.09962170358311791, 0.11167193280644935],
        [-0.055789983796833774, -0.20094358262931597, 0.11167193280644935, 0.14271314452611206]],
}


def assert_pinned_and_bounded(key: tuple[str, str], ours: np.ndarray, r: np.ndarray) -> None:
    """R stopped short (``R_STOPPED_SHORT[key]``): ours pinned, at most twice the measured distance from R."""
    _, measured, _ = R_STOPPED_SHORT[key]
    np.testing.assert_allclose(ours, np.array(OUR_VALUES[key]), rtol=PINNED, atol=0)
    assert np.max(np.abs(ours - r) / np.abs(r)) <= STOPPED_SHORT_FACTOR * measured


ALL = list(CASES)
NONLINEAR = [name for name, case in CASES.items() if case["bnds"] is not None]


@functools.cache
def our_fit(name: str) -> DoseResponseFit:
    case = CASES[name]
    shape = R_SHAPES.get(case["model"], case["model"])
    options: dict[str, Any] = {
        "bounds": np.array(case["bnds"]) if case["user_bnds"] else None,
        "off": case["off"],
        "scal": case["scal"],
    }
    if case["type"] == "normal":
        data = pd.DataFrame(FIXTURE["datasets"][case["data"]])
        response = "chg" if case["data"] == "a2201" else "resp"
        return fit_dose_response(
            shape, data=data, dose="dose", response=response, covariates=case["covariates"], **options
        )
    est = FIXTURE["estimates"][case["data"]]
    return fit_dose_response(
        shape,
        doses=est["doses"],
        estimates=est["estimates"],
        cov=np.array(est["S"]),
        placebo_adjusted=case["placAdj"],
        **options,
    )


def r_coefficients(case: dict[str, Any]) -> pd.Series:
    names = [R_PARAMETERS.get(n, n) for n in np.atleast_1d(case["coef_names"])]
    return pd.Series(np.atleast_1d(np.asarray(case["coef"], dtype=float)), index=names)


def r_on_bound(case: dict[str, Any], fit: DoseResponseFit) -> pd.Series:
    coefficients = r_coefficients(case)
    sides = pd.Series("", index=fit.bounds.index, dtype=object)
    for name, (lower, upper) in zip(fit.bounds.index, np.array(case["bnds"], dtype=float)):
        value, reach = coefficients[name], ON_BOUND * (upper - lower)
        sides[name] = "lower" if abs(value - lower) <= reach else "upper" if abs(value - upper) <= reach else ""
    return sides


@pytest.mark.parametrize("name", ALL)
def test_parameters(name: str) -> None:
    case, fit = CASES[name], our_fit(name)
    expected = r_coefficients(case)
    assert list(fit.parameters.index) == list(expected.index)
    interior = [n for n in expected.index if n not in fit.on_bound.index or not fit.on_bound[n]]
    stopped_short = R_STOPPED_SHORT.get((name, "parameters"))
    if stopped_short is not None:
        # R's nlminb stopped short in these parameters: pinned and bounded; the others at PARAMETERS.
        bounded = stopped_short[2]
        assert_pinned_and_bounded((name, "parameters"), fit.parameters.to_numpy(), expected.to_numpy())
        np.testing.assert_allclose(fit.parameters[bounded], expected[bounded],
                                   rtol=STOPPED_SHORT_FACTOR * stopped_short[1], atol=0)
        interior = [n for n in interior if n not in bounded]
    np.testing.assert_allclose(fit.parameters[interior], expected[interior], rtol=PARAMETERS, atol=0)


@pytest.mark.parametrize("name", NONLINEAR)
def test_same_bounds_as_r(name: str) -> None:
    case, fit = CASES[name], our_fit(name)
    np.testing.assert_array_equal(fit.bounds.to_numpy(), np.array(case["bnds"], dtype=float))
    expected = r_on_bound(case, fit)
    assert fit.on_bound.tolist() == expected.tolist()
    for parameter, side in fit.on_bound.items():
        if side:
            assert fit.parameters[parameter] == fit.bounds.loc[parameter, side]


@pytest.mark.parametrize("name", ALL)
def test_objective(name: str) -> None:
    case, fit = CASES[name], our_fit(name)
    expected = case["RSS"] if case["type"] == "normal" else case["gRSS"]
    if expected == 0:
        assert abs(fit.objective) <= OBJECTIVE_ZERO
    else:
        np.testing.assert_allclose(fit.objective, expected, rtol=OBJECTIVE)


@pytest.mark.parametrize("name", ALL)
def test_objective_no_worse_than_r(name: str) -> None:
    case, fit = CASES[name], our_fit(name)
    assert fit.objective <= case["objective_at_coef"] * (1 + NO_WORSE) + OBJECTIVE_ZERO


@pytest.mark.parametrize("name", ALL)
def test_information_criteria_and_df(name: str) -> None:
    case, fit = CASES[name], our_fit(name)
    if case["type"] == "normal":
        assert fit.df == case["df"]
        np.testing.assert_allclose(fit.aic, case["AIC"], rtol=CRITERIA)
        np.testing.assert_allclose(fit.log_likelihood, case["logLik"], rtol=CRITERIA)
        np.testing.assert_allclose(fit.residual_sd, np.sqrt(case["RSS"] / case["df"]), rtol=OBJECTIVE)
        assert fit.gaic is None
    else:
        assert case["df"] == "Inf" and fit.df == np.inf
        np.testing.assert_allclose(fit.gaic, case["gAIC"], rtol=CRITERIA)
        assert fit.aic is None and fit.log_likelihood is None and fit.residual_sd is None


@pytest.mark.parametrize("name", ALL)
def test_covariance(name: str) -> None:
    case, fit = CASES[name], our_fit(name)
    expected = np.atleast_2d(np.asarray(case["vcov"], dtype=float))
    if (name, "covariance") in R_STOPPED_SHORT:
        assert_pinned_and_bounded((name, "covariance"), fit.cov.to_numpy(), expected)
    else:
        np.testing.assert_allclose(fit.cov.to_numpy(), expected, rtol=COVARIANCE, atol=0)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("kind", ["full", "effect"])
def test_predictions(name: str, kind: str) -> None:
    case, fit = CASES[name], our_fit(name)
    # For placebo-adjusted estimates R (and we) predict the effect curve for either kind.
    key = "pred_full" if kind == "full" and not case["placAdj"] else "pred_effect"
    table = fit.predict(case["pred_doses"], kind=kind, se=True)  # type: ignore[arg-type]
    np.testing.assert_allclose(table["estimate"], case[key]["fit"], rtol=PREDICTIONS, atol=1e-12)
    np.testing.assert_allclose(table["se"], case[key]["se"], rtol=PREDICTIONS, atol=1e-12)


def test_categorical_covariate_coded_as_r() -> None:
    fit = our_fit("ibs_gender_emax")
    case = CASES["ibs_gender_emax"]
    assert list(np.atleast_1d(case["coef_names"]))[-1] == "gender2"
    assert list(fit.covariate_means.index) == ["gender[T.2]"]
    assert fit.covariate_means["gender[T.2]"] == 0.5
    np.testing.assert_allclose(fit.parameters["gender[T.2]"], case["coef"][-1], rtol=PARAMETERS)


@pytest.mark.parametrize("grid", FIXTURE["grids"], ids=lambda g: f"n{g['n']}")
def test_start_grid_is_r_grid(grid: dict[str, Any]) -> None:
    points = start_grid(np.array(grid["bnds"], dtype=float), grid["n"])
    np.testing.assert_allclose(points, np.array(grid["points"], dtype=float), rtol=GRID)
