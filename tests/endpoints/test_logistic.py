"""Logistic first stage against R glm and emmeans 1.8.4.1 (tests/fixtures/r/endpoints_reference.R).

Tolerances: coefficients and LS means 1e-8 relative; covariances 1e-6 relative to the
largest entry (R's vcov uses the IRLS weights of its second-to-last iterate, ours the
converged fit: they differ by about 4e-9 relative); deviance 1e-9 absolute.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dosefinding import Candidates, InputError, mct_test
from dosefinding.endpoints import fit_logistic

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "r" / "endpoints_reference.json").read_text())["logistic"]
DATA = pd.DataFrame(FIXTURE["data"])
R_NAMES = {"dose0": "dose[0]", "dose5": "dose[5]", "dose50": "dose[50]", "dose300": "dose[300]", "age": "age",
           "sexM": "sex[T.M]", "strat>=10": "strat[T.>=10]"}
ESTIMATE = 1e-8
COVARIANCE = 1e-6


def assert_cov_close(ours: np.ndarray, ref: np.ndarray) -> None:
    scale = np.max(np.abs(ref))
    assert np.max(np.abs(ours - ref)) <= COVARIANCE * scale


@pytest.mark.parametrize(("key", "covariates"), [("plain", None), ("covariates", "age + sex + strat")])
def test_glm_coefficients_and_vcov(key: str, covariates: str | None) -> None:
    ref = FIXTURE[key]
    fit = fit_logistic(DATA, dose="dose", response="resp", covariates=covariates)
    names = [R_NAMES[n] for n in ref["names"]]
    ours = fit.coefficients.loc[names].to_numpy()
    np.testing.assert_allclose(ours, [ref["coefficients"][n] for n in ref["names"]], rtol=ESTIMATE)
    assert_cov_close(fit.vcov.loc[names, names].to_numpy(), np.array(ref["vcov"]))
    assert abs(fit.deviance - ref["deviance"]) < 1e-9
    np.testing.assert_allclose(fit.estimates, ours[:4], rtol=0, atol=0)
    assert fit.doses.tolist() == [0.0, 5.0, 50.0, 300.0]
    assert fit.n_per_dose.tolist() == [49, 47, 47, 47]


def test_lsmeans_match_emmeans() -> None:
    fit = fit_logistic(DATA, dose="dose", response="resp", covariates="age + sex + strat")
    np.testing.assert_allclose(fit.lsmeans, FIXTURE["emmeans"]["estimate"], rtol=ESTIMATE)
    assert_cov_close(fit.lsmeans_cov, np.array(FIXTURE["emmeans"]["vcov"]))
    assert "LS means by dose" in str(fit.summary())


def test_mct_test_same_from_coefficients_and_lsmeans() -> None:
    """Contrasts sum to zero, so the shift from coefficients to LS means leaves the statistics unchanged."""
    fit = fit_logistic(DATA, dose="dose", response="resp", covariates="age + sex + strat")
    cands = Candidates(fit.doses, {"linear": None, "emax": [30]}, max_effect=1.0)
    a = mct_test(cands, doses=fit.doses, estimates=fit.estimates, cov=fit.cov, critical_value=False)
    b = mct_test(cands, doses=fit.doses, estimates=fit.lsmeans, cov=fit.lsmeans_cov, critical_value=False)
    np.testing.assert_allclose(a.t_statistics, b.t_statistics, rtol=1e-10)
    assert a.df == np.inf


def test_mct_test_matches_dosefinding_general() -> None:
    """R DoseFinding 1.0-3 MCTtest(type = "general") on glm's dose coefficients and vcov.

    t statistics 1e-6 relative; multiplicity-adjusted p-values 1e-4 absolute (quasi-Monte
    Carlo integrals on both sides, as tests/mcp/test_mct_reference.py).
    """
    fit = fit_logistic(DATA, dose="dose", response="resp", covariates="age + sex + strat")
    cands = Candidates(fit.doses, {"linear": None, "emax": [30]}, max_effect=1.0)
    res = mct_test(cands, doses=fit.doses, estimates=fit.estimates, cov=fit.cov, critical_value=False)
    ref = FIXTURE["mct"]
    labels = {label: label.rstrip("0123456789") for label in res.t_statistics.index}
    for label, r_label in labels.items():
        assert res.t_statistics[label] == pytest.approx(ref["t_statistics"][r_label], rel=1e-6)
        assert abs(res.p_values[label] - ref["p_values"][r_label]) < 1e-4


def test_missing_outcomes() -> None:
    df = DATA.assign(resp=DATA["resp"].astype(float))
    df.loc[[3, 60, 100], "resp"] = np.nan
    imputed = fit_logistic(df, dose="dose", response="resp")
    filled = fit_logistic(df.fillna({"resp": 0.0}), dose="dose", response="resp")
    np.testing.assert_allclose(imputed.estimates, filled.estimates, rtol=1e-12)
    excluded = fit_logistic(df, dose="dose", response="resp", missing="exclude")
    dropped = fit_logistic(df.dropna(), dose="dose", response="resp")
    np.testing.assert_allclose(excluded.estimates, dropped.estimates, rtol=1e-12)
    assert excluded.n_dropped == 3 and imputed.n_dropped == 0


def test_yn_response() -> None:
    yn = DATA.assign(resp=DATA["resp"].map({1: "Y", 0: "N"}))
    np.testing.assert_allclose(fit_logistic(yn, dose="dose", response="resp").estimates,
                               fit_logistic(DATA, dose="dose", response="resp").estimates, rtol=1e-12)


def test_bad_input() -> None:
    separated = DATA.copy()
    separated.loc[separated["dose"] == 300, "resp"] = 1
    with pytest.raises(InputError, match=r"dose: dose\(s\) \[300.0\] have no responder or only responders"):
        fit_logistic(separated, dose="dose", response="resp")
    with pytest.raises(InputError, match="resp: responder values"):
        fit_logistic(DATA.assign(resp=DATA["resp"] * 2), dose="dose", response="resp")
    with pytest.raises(InputError, match="rank deficient"):
        fit_logistic(DATA.assign(d2=DATA["dose"] > 0), dose="dose", response="resp", covariates="d2")
    with pytest.raises(InputError, match="missing values"):
        fit_logistic(DATA.assign(age=DATA["age"].where(DATA.index != 5)), dose="dose", response="resp",
                     covariates="age")
    with pytest.raises(InputError, match="not found"):
        fit_logistic(DATA, dose="dose", response="RESP")
    with pytest.raises(InputError, match="two dose groups"):
        fit_logistic(DATA.assign(dose=0), dose="dose", response="resp")


@pytest.mark.parametrize("scale", [1e-6, 1e9])
def test_covariate_units_do_not_change_the_fit(scale: float) -> None:
    """Age in other units: was 'rank deficient' at x 1e9 (rank decided relative to the largest column)."""
    reference = fit_logistic(DATA, dose="dose", response="resp", covariates="age + sex")
    fit = fit_logistic(DATA.assign(age=DATA["age"] * scale), dose="dose", response="resp", covariates="age + sex")
    # The same maximum likelihood fit in other units: IRLS converges to 1e-10 of the deviance either way.
    np.testing.assert_allclose(fit.estimates, reference.estimates, rtol=1e-8)
    np.testing.assert_allclose(fit.lsmeans, reference.lsmeans, rtol=1e-8)
    assert fit.coefficients["age"] * scale == pytest.approx(reference.coefficients["age"], rel=1e-8)


def test_rank_deficiency_names_the_aliased_column() -> None:
    data = DATA.assign(age2=DATA["age"] * 1e6 + 3)
    with pytest.raises(InputError, match=r"\['age2'\] are linear combinations"):
        fit_logistic(data, dose="dose", response="resp", covariates="age + age2")
