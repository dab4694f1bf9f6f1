"""fit_dose_response: input checks, invariants and recovery of noise-free shapes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosefinding import InputError, get_shape
from dosefinding.mod import fit_dose_response

DOSES = np.array([0.0, 10.0, 25.0, 50.0, 100.0, 150.0])
GLYCO_DOSES = [0.0, 12.5, 25.0, 50.0, 100.0]
GLYCO_EST = [1.243, 1.317, 1.333, 1.374, 1.385]
GLYCO_COV = np.diag(np.array([0.0156, 0.0145, 0.0151, 0.0148, 0.0148]) ** 2)


def raw_data() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    dose = np.repeat(DOSES, 8)
    return pd.DataFrame(
        {
            "dose": dose,
            "resp": 0.2 + 0.8 * dose / (30 + dose) + rng.normal(0, 0.3, dose.size),
            "sex": np.tile(["F", "M"], dose.size // 2),
        }
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"shape": "hill"}, "shape 'hill' does not exist"),
        ({"shape": "emax", "doses": [0, 5], "estimates": [0, 1], "cov": np.eye(2)}, "need at least 3 distinct doses"),
        (
            {"shape": "emax", "doses": [5, 50], "estimates": [1, 2], "cov": np.eye(2), "placebo_adjusted": True,
             "bounds": [10, 20], "df": 3.0},
            None,
        ),
        ({"shape": "emax", "bounds": [200.0, 10.0]}, "bounds: ed50 needs finite 0 < lower < upper"),
        ({"shape": "emax", "bounds": [0.0, 10.0]}, "bounds: ed50 needs finite 0 < lower < upper"),
        ({"shape": "sigemax", "bounds": [1.0, 10.0]}, r"bounds: need one \(lower, upper\) row for each of \['ed50', 'h'\]"),
        ({"shape": "linear", "bounds": [1.0, 10.0]}, "the linear shape has no nonlinear parameters"),
        ({"shape": "emax", "estimates": [1.243, np.nan, 1.333, 1.374, 1.385]}, "estimates: must be finite"),
        ({"shape": "emax", "cov": -GLYCO_COV}, "cov: must be positive definite"),
        ({"shape": "emax", "estimates": [1.0, 2.0]}, "estimates: must have length 5"),
        ({"shape": "emax", "covariates": "sex"}, "covariates: only with raw data"),
        ({"shape": "emax", "df": 0.0}, "df: must be positive"),
        ({"shape": "emax", "grid_points": 0}, "grid_points: must be a positive integer"),
        ({"shape": "betamod", "scal": 50.0}, "scal: must be at least the largest dose 100"),
        ({"shape": "linlog", "off": 0.0}, "off: must be positive"),
        ({"shape": "emax", "doses": [0, 50, 25, 12.5, 100]}, "doses: must be sorted"),
        ({"shape": "emax", "cov": None}, "doses, estimates, cov: all three are needed"),
    ],
)
def test_estimates_input_errors(arguments: dict[str, Any], message: str | None) -> None:
    options = {"doses": GLYCO_DOSES, "estimates": GLYCO_EST, "cov": GLYCO_COV} | arguments
    if message is None:
        fit_dose_response(**options)  # two active doses suffice placebo-adjusted
        return
    with pytest.raises(InputError, match=message):
        fit_dose_response(**options)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"response": "y"}, r"data: column\(s\) \['y'\] not found"),
        ({"covariates": "age"}, r"covariates: column\(s\) \['age'\] not found"),
        ({"response": "sex"}, "sex: column must be numeric"),
        ({"dose": None}, "dose, response: name the dose and response columns"),
        ({"placebo_adjusted": True}, "placebo_adjusted: only for estimates"),
        ({"estimates": [1.0]}, "data: give raw data, or doses, estimates, cov and df, not both"),
        ({"df": 10.0}, "data: give raw data, or doses, estimates, cov and df, not both"),
        ({"doses_kept": [0.0, 150.0]}, r"need at least 3 distinct doses, 2 of them active to fit the emax shape"),
        ({"doses_kept": [0.0, 150.0], "shape": "quadratic"}, "need at least 3 distinct doses"),
        ({"doses_kept": [0.0, 10.0, 150.0], "shape": "sigemax"}, None),
    ],
)
def test_raw_input_errors(arguments: dict[str, Any], message: str | None) -> None:
    data = raw_data()
    kept = arguments.get("doses_kept", DOSES)
    options = {"shape": "emax", "data": data[data["dose"].isin(kept)], "dose": "dose", "response": "resp"}
    options |= {key: value for key, value in arguments.items() if key != "doses_kept"}
    if message is None:
        # As DoseFinding, a four-parameter shape may meet three doses; it is not identified.
        fit = fit_dose_response(**options)
        assert fit.cov.isna().all().all() and "singular" in fit.warnings[0]
        return
    with pytest.raises(InputError, match=message):
        fit_dose_response(**options)


def test_missing_values_are_an_error_unless_dropped() -> None:
    data = raw_data()
    data.loc[3, "resp"] = np.nan
    with pytest.raises(InputError, match=r"1 row\(s\) have missing values in \['resp'\]"):
        fit_dose_response("emax", data=data, dose="dose", response="resp")
    fit = fit_dose_response("emax", data=data, dose="dose", response="resp", drop_missing=True)
    assert fit.n_dropped == 1
    assert fit.df == data.shape[0] - 1 - 3


def test_predict_checks_its_arguments() -> None:
    fit = fit_dose_response("emax", doses=GLYCO_DOSES, estimates=GLYCO_EST, cov=GLYCO_COV)
    with pytest.raises(InputError, match="kind: must be 'full' or 'effect'"):
        fit.predict([0, 10], kind="ls-means")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="doses: must be non-negative"):
        fit.predict([-1.0])
    with pytest.raises(InputError, match="confidence_level: must be between 0 and 1"):
        fit.predict([1.0], se=True, confidence_level=95)


def test_raw_fit_is_the_weighted_fit_of_group_means() -> None:
    """Raw data without covariates: the generalised fit to the group means with cov diag(1/n)."""
    data = raw_data()
    raw = fit_dose_response("sigemax", data=data, dose="dose", response="resp")
    groups = data.groupby("dose")["resp"]
    means = fit_dose_response(
        "sigemax", doses=DOSES, estimates=groups.mean().to_numpy(), cov=np.diag(1 / groups.size().to_numpy())
    )
    within = float(((data["resp"] - groups.transform("mean")) ** 2).sum())
    # The two searches scale the objective differently, so they stop at slightly different
    # points (about 1e-8 relative apart).
    np.testing.assert_allclose(raw.parameters, means.parameters, rtol=1e-6)
    np.testing.assert_allclose(raw.objective, means.objective + within, rtol=1e-12)
    np.testing.assert_allclose(raw.cov, means.cov * raw.residual_sd**2, rtol=1e-5)


def test_covariate_predictions_average_the_levels() -> None:
    data = raw_data()
    fit = fit_dose_response("emax", data=data, dose="dose", response="resp", covariates="sex")
    assert list(fit.parameters.index) == ["e0", "emax", "ed50", "sex[T.M]"]
    assert fit.covariate_means.to_dict() == {"sex[T.M]": 0.5}
    full = fit.predict([0.0, 50.0], se=True)
    effect = fit.predict([0.0, 50.0], kind="effect", se=True)
    base = fit.parameters["e0"] + 0.5 * fit.parameters["sex[T.M]"]
    np.testing.assert_allclose(full["estimate"] - base, effect["estimate"], atol=1e-12)
    assert effect["se"].iloc[0] == 0.0
    assert (full["lower"] < full["estimate"]).all() and (full["estimate"] < full["upper"]).all()
    assert "Coefficients additional covariates" in str(fit.summary())


def test_summary_reports_bounds_and_general_fits() -> None:
    fit = fit_dose_response("exponential", doses=GLYCO_DOSES, estimates=GLYCO_EST, cov=GLYCO_COV)
    assert fit.on_bound.to_dict() == {"delta": "upper"}
    text = str(fit.summary())
    assert "Fit-type: general" in text
    assert "delta is on its upper bound 200" in text
    assert "Generalized residual sum of squares" in text


# Each nonlinear shape with parameter ranges well inside its default bounds at dose 150.
SHAPE_PARAMETERS = {
    "emax": [st.floats(5.0, 120.0)],
    "sigemax": [st.floats(10.0, 100.0), st.floats(1.0, 5.0)],
    "exponential": [st.floats(30.0, 250.0)],
    "logistic": [st.floats(20.0, 100.0), st.floats(5.0, 40.0)],
    "betamod": [st.floats(0.5, 3.0), st.floats(0.5, 3.0)],
}


@st.composite
def shape_and_parameters(draw: st.DrawFn) -> tuple[str, np.ndarray]:
    name = draw(st.sampled_from(sorted(SHAPE_PARAMETERS)))
    e0 = draw(st.floats(-2.0, 2.0))
    effect = draw(st.floats(0.5, 3.0)) * draw(st.sampled_from([-1.0, 1.0]))
    nonlinear = [draw(s) for s in SHAPE_PARAMETERS[name]]
    return name, np.array([e0, effect, *nonlinear])


@settings(max_examples=60, deadline=None)
@given(shape_and_parameters())
def test_noise_free_data_recover_the_parameters(case: tuple[str, np.ndarray]) -> None:
    """Estimates exactly on a shape give back its parameters (to the local search's accuracy)."""
    name, parameters = case
    scal = 1.2 * DOSES[-1] if name == "betamod" else None
    estimates = get_shape(name).response(DOSES, parameters, scal)
    fit = fit_dose_response(name, doses=DOSES, estimates=estimates, cov=np.eye(DOSES.size))
    assert fit.converged
    # The searches stop within about 1e-7 relative of the optimum; responses are of order 1.
    np.testing.assert_allclose(fit.parameters.to_numpy(), parameters, rtol=1e-6, atol=1e-6)
    assert fit.objective < 1e-12


@pytest.mark.parametrize(
    ("name", "parameters"),
    [("logistic", [0.0, -2.0, 60.0, 15.0]), ("linlog", [0.0, -0.4]), ("emax", [0.0, 1.5, 20.0])],
)
def test_placebo_adjusted_fits_the_shape_minus_its_value_at_zero(name: str, parameters: list[float]) -> None:
    """DoseFinding refuses logistic and linlog here; we fit f(dose) - f(0) like the other shapes."""
    shape = get_shape(name)
    off = 1.5 if name == "linlog" else None
    active = DOSES[1:]
    effects = shape.response(active, parameters, off) - shape.response([0.0], parameters, off)
    fit = fit_dose_response(
        name, doses=active, estimates=effects, cov=np.eye(active.size), placebo_adjusted=True, off=off
    )
    assert "e0" not in fit.parameters.index
    np.testing.assert_allclose(fit.parameters.to_numpy(), parameters[1:], rtol=1e-6)
    np.testing.assert_allclose(fit.predict(active)["estimate"], effects, atol=1e-9)
