"""The multiple contrast test: both input forms, missing data and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dosefinding import Candidates, InputError, dunnett_contrasts, mct_test
from dosefinding.mcp.first_stage import fit_cell_means

DOSES = [0, 5, 50, 300]
CANDIDATES = Candidates(DOSES, {"linear": None, "emax": [10, 100]}, max_effect=-3.5)


@pytest.fixture(scope="module")
def trial() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    dose = np.repeat(DOSES, 30).astype(float)
    return pd.DataFrame(
        {
            "dose": dose,
            "chg": -3.5 * dose / 300 + rng.normal(0, 5.6, dose.size),
            "base": rng.normal(13, 3, dose.size),
            "stratum": np.where(rng.random(dose.size) < 0.7, ">=10", "<10"),
        }
    )


def test_raw_data_equals_estimates_with_their_covariance(trial: pd.DataFrame) -> None:
    raw = mct_test(CANDIDATES, data=trial, dose="dose", response="chg", covariates=["base", "stratum"])
    fit = fit_cell_means(trial, "dose", "chg", "base + stratum")
    general = mct_test(CANDIDATES, doses=fit.doses, estimates=fit.estimates, cov=fit.cov, df=fit.df)
    np.testing.assert_allclose(raw.t_statistics, general.t_statistics, rtol=1e-12)
    np.testing.assert_allclose(raw.p_values, general.p_values, atol=1e-12)
    assert raw.df == len(trial) - 4 - 2


def test_without_covariates_the_estimates_are_the_group_means(trial: pd.DataFrame) -> None:
    result = mct_test(CANDIDATES, data=trial, dose="dose", response="chg")
    np.testing.assert_allclose(result.estimates, trial.groupby("dose")["chg"].mean(), rtol=1e-12)
    pooled = trial.groupby("dose")["chg"].var().mean()
    np.testing.assert_allclose(np.diag(result.cov), pooled / 30, rtol=1e-12)


def test_same_seed_same_numbers(trial: pd.DataFrame) -> None:
    first = mct_test(CANDIDATES, data=trial, dose="dose", response="chg", seed=3)
    second = mct_test(CANDIDATES, data=trial, dose="dose", response="chg", seed=3)
    assert first.critical_value == second.critical_value
    pd.testing.assert_series_equal(first.p_values, second.p_values)


def test_p_value_below_alpha_exactly_when_t_exceeds_critical_value(trial: pd.DataFrame) -> None:
    shifted = trial.assign(chg=trial["chg"] - 0.01 * trial["dose"])
    result = mct_test(CANDIDATES, data=shifted, dose="dose", response="chg")
    assert (result.p_values < result.alpha).equals(result.t_statistics > result.critical_value)
    assert result.significant.any()
    assert "Critical value" in str(result.summary())


def test_single_contrast_p_value_is_the_t_distribution_tail(trial: pd.DataFrame) -> None:
    from scipy import stats

    result = mct_test(CANDIDATES, data=trial, dose="dose", response="chg", contrasts=dunnett_contrasts(DOSES).iloc[:, [2]])
    t = result.t_statistics.iloc[0]
    assert result.p_values.iloc[0] == pytest.approx(stats.t.sf(t, result.df), abs=1e-12)
    assert result.critical_value == pytest.approx(stats.t.ppf(0.975, result.df), abs=1e-10)


def test_missing_response_is_an_error_unless_dropping_is_asked_for(trial: pd.DataFrame) -> None:
    holes = trial.copy()
    holes.loc[[3, 40], "chg"] = np.nan
    with pytest.raises(InputError, match=r"2 row\(s\) have missing values in \['chg'\]"):
        mct_test(CANDIDATES, data=holes, dose="dose", response="chg")
    result = mct_test(CANDIDATES, data=holes, dose="dose", response="chg", drop_missing=True)
    assert result.n_dropped == 2
    assert result.df == len(trial) - 2 - 4
    assert "2 row(s) with missing values were dropped" in str(result.summary())


def test_response_that_is_not_numeric_is_named(trial: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="stratum: column must be numeric"):
        mct_test(CANDIDATES, data=trial, dose="dose", response="stratum")


def test_unknown_columns_are_named(trial: pd.DataFrame) -> None:
    with pytest.raises(InputError, match=r"\['CHG'\] not found"):
        mct_test(CANDIDATES, data=trial, dose="dose", response="CHG")
    with pytest.raises(InputError, match=r"\['age'\] not found"):
        mct_test(CANDIDATES, data=trial, dose="dose", response="chg", covariates="age")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"doses": [5, 50, 300], "estimates": [1, 2, 3], "cov": np.eye(3)}, "must include placebo"),
        ({"doses": [0, 5, 50, 300], "estimates": [1, 2, np.nan, 3], "cov": np.eye(4)}, "estimates: must be finite"),
        ({"doses": [0, 5, 50, 300], "estimates": [1, 2, 3], "cov": np.eye(4)}, "estimates: must have length 4"),
        ({"doses": [0, 5, 50, 300], "estimates": [1, 2, 3, 4], "cov": -np.eye(4)}, "cov: must be positive definite"),
        ({"doses": [0, 5, 50, 300], "estimates": [1, 2, 3, 4], "cov": np.eye(4), "alternative": "greater"}, "alternative"),
        ({"doses": [0, 5, 50, 300], "estimates": [1, 2, 3, 4], "cov": np.eye(4), "df": 0}, "df: must be positive"),
        ({"doses": [0, 5, 50, 300], "estimates": [1, 2, 3, 4], "cov": np.eye(4), "contrasts": np.ones((3, 2))}, "one row per dose"),
        ({"doses": [5, 50, 300], "estimates": [1, 2, 3], "cov": np.eye(3), "placebo_adjusted": True, "alpha": 1.5}, "alpha"),
        ({"estimates": [1, 2, 3, 4], "cov": np.eye(4)}, "all three are needed"),
    ],
)
def test_bad_estimates_input(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        mct_test(CANDIDATES, **kwargs)


def test_collinear_covariate_is_refused(trial: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="rank deficient"):
        mct_test(CANDIDATES, data=trial.assign(d2=trial["dose"] * 2), dose="dose", response="chg", covariates="d2")


# --------------------------------------------------------------------------- degenerate responses and scale
# Issue 13, section 1: a response without residual variation used to give t statistics made
# of rounding noise (p = 0, and mcpmod selected a shape), or an error about a `cov` the user
# never passed; the decision must be relative to the response's scale.


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(lambda dose: np.full(dose.size, 2.0), id="constant"),
        pytest.param(lambda dose: np.zeros(dose.size), id="zero"),
        pytest.param(lambda dose: 1.0 - 3.5 * dose / 300, id="no-variation-within-groups"),
        pytest.param(lambda dose: 1e-9 * (1.0 - 3.5 * dose / 300), id="no-variation-tiny-scale"),
        pytest.param(lambda dose: 1e9 * (1.0 - 3.5 * dose / 300), id="no-variation-huge-scale"),
    ],
)
def test_response_without_residual_variation_is_named(response) -> None:  # type: ignore[no-untyped-def]
    from dosefinding import mcpmod

    dose = np.repeat(DOSES, 10).astype(float)
    frame = pd.DataFrame({"dose": dose, "chg": response(dose)})
    with pytest.raises(InputError, match="chg: no residual variation"):
        mct_test(CANDIDATES, data=frame, dose="dose", response="chg")
    with pytest.raises(InputError, match="chg: no residual variation"):
        mcpmod(CANDIDATES, data=frame, dose="dose", response="chg")


def test_small_but_real_residual_variation_is_accepted() -> None:
    """1e-7 residual SD on a level of 1e2 is far above rounding (1e-14 relative)."""
    dose = np.repeat(DOSES, 10).astype(float)
    noise = np.random.default_rng(2).normal(0, 1e-7, dose.size)
    frame = pd.DataFrame({"dose": dose, "chg": 100.0 - 3.5e-7 * dose / 300 + noise})
    result = mct_test(CANDIDATES, data=frame, dose="dose", response="chg")
    assert np.all(np.isfinite(result.t_statistics)) and np.all(np.abs(result.t_statistics) < 20)


@pytest.mark.parametrize("scale", [1e-6, 1e6])
def test_result_does_not_depend_on_the_scale_of_the_response(trial: pd.DataFrame, scale: float) -> None:
    """t statistics to 1e-10 relative, p-values and critical value identical (same integration)."""
    reference = mct_test(CANDIDATES, data=trial, dose="dose", response="chg", covariates="base")
    scaled = trial.assign(chg=trial["chg"] * scale, base=trial["base"] * scale)
    result = mct_test(CANDIDATES, data=scaled, dose="dose", response="chg", covariates="base")
    np.testing.assert_allclose(result.t_statistics, reference.t_statistics, rtol=1e-10)
    np.testing.assert_allclose(result.p_values, reference.p_values, atol=1e-12)
    assert result.critical_value == pytest.approx(reference.critical_value, abs=1e-12)
    fit = fit_cell_means(trial, "dose", "chg", "base")
    estimates = mct_test(CANDIDATES, doses=fit.doses, estimates=fit.estimates * scale, cov=fit.cov * scale**2,
                         df=fit.df)
    np.testing.assert_allclose(estimates.t_statistics, reference.t_statistics, rtol=1e-10)
    np.testing.assert_allclose(estimates.p_values, reference.p_values, atol=1e-12)


@pytest.mark.parametrize("scale", [1e-9, 1e12])
def test_covariate_units_do_not_change_the_rank_or_the_test(trial: pd.DataFrame, scale: float) -> None:
    """Baseline in other units: at x 1e12 the ANCOVA was 'rank deficient' (rank decided against the largest column)."""
    reference = mct_test(CANDIDATES, data=trial, dose="dose", response="chg", covariates="base", critical_value=False)
    result = mct_test(CANDIDATES, data=trial.assign(base=trial["base"] * scale), dose="dose", response="chg",
                      covariates="base", critical_value=False)
    # The same least-squares fit in other units: QR is exact to rounding whatever the column scales.
    np.testing.assert_allclose(result.t_statistics, reference.t_statistics, rtol=1e-8)


def test_collinear_covariate_is_named(trial: pd.DataFrame) -> None:
    with pytest.raises(InputError, match=r"\['base2'\] are linear combinations"):
        mct_test(CANDIDATES, data=trial.assign(base2=3e6 * trial["base"] - 1), dose="dose", response="chg",
                 covariates=["base", "base2"])


@pytest.mark.parametrize(
    "cov",
    [
        pytest.param(np.zeros((4, 4)), id="zero"),
        pytest.param(np.diag([1.0, 1.0, 1.0, 0.0]), id="singular"),
        pytest.param(1e-20 * np.diag([1.0, 1.0, 1.0, 0.0]), id="singular-tiny-scale"),
        pytest.param(np.ones((4, 4)), id="rank-one"),
    ],
)
def test_singular_covariance_of_the_estimates_is_named(cov: np.ndarray) -> None:
    with pytest.raises(InputError, match="cov: must be positive definite"):
        mct_test(CANDIDATES, doses=DOSES, estimates=[0.0, 1.0, 2.0, 3.0], cov=cov)
