"""What an MMRM fit refuses: only data that do not identify the model (dosefinding.mmrm.identifiability).

Fewer subjects than covariance parameters is not by itself a reason (the old rule refused these fits):

- 24 subjects over 8 visits, unstructured (36 parameters), monotone dropout with 14 subjects at every visit,
  against R nlme::gls (corSymm + varIdent, REML; tests/fixtures/r/mmrm_many_visits_reference.R). Tolerances of
  test_a2201_reference.py, gls's optimiser being the limit: log-likelihood 1e-6 relative (measured: ours higher
  by 6.5e-9 absolute, 3e-11 relative), coefficients, SEs and Sigma 1e-4 relative (measured 1.1e-5, 3.0e-6,
  3.4e-6).
- 181 subjects over 20 visits, unstructured (210 parameters), complete data and a mean saturated by visit
  (``CHG ~ 0 + ARM:AVISIT``): the REML estimate is then in closed form (the multivariate linear model),
  ``Sigma = E'E / (n - r)`` with ``E`` the residuals of each visit's least squares on the arm and ``r = 2``,
  the coefficients are those least squares and their Satterthwaite df ``n - r``. Coefficients 1e-9 relative
  (closed form on both sides); Sigma, SEs and df 1e-6 relative (our optimiser's stopping point).

Refused, each with an InputError naming why: a pair of visits never observed in one subject (us), a lag never
observed (toep), no residual degrees of freedom, too few subjects at every visit (us).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dosefinding import mmrm
from dosefinding.errors import InputError

R_FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "r" / "mmrm_many_visits_reference.json").read_text())
R_LOGLIK = 1e-6
R_ESTIMATE = 1e-4
CLOSED_FORM = 1e-9
OPTIMISED = 1e-6


def test_fewer_subjects_than_parameters_matches_nlme_gls() -> None:
    data = pd.DataFrame(R_FIXTURE["data"])
    data["CHG"] = pd.to_numeric(data["CHG"])
    data["ARM"] = pd.Categorical(data["ARM"], categories=R_FIXTURE["arms"])
    data["AVISIT"] = pd.Categorical(data["AVISIT"], categories=R_FIXTURE["visits"])
    fit = mmrm("CHG ~ ARM * AVISIT", data, subject="USUBJID", visit="AVISIT")
    assert fit.n_subjects == 24 and len(fit.covariance_parameters) == 36
    assert fit.converged
    assert -fit.m2_log_likelihood / 2 == pytest.approx(R_FIXTURE["logLik"], rel=R_LOGLIK)
    np.testing.assert_allclose(fit.coefficients.to_numpy(), list(R_FIXTURE["coefficients"].values()), rtol=R_ESTIMATE)
    np.testing.assert_allclose(fit.table["se"].to_numpy(), list(R_FIXTURE["se"].values()), rtol=R_ESTIMATE)
    np.testing.assert_allclose(fit.covariance.to_numpy(), R_FIXTURE["sigma"], rtol=R_ESTIMATE,
                               atol=R_ESTIMATE * np.max(np.abs(R_FIXTURE["sigma"])))


def _complete_trial(n: int, k: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    arm = np.repeat([0, 1], [n // 2, n - n // 2])
    a = rng.normal(size=(k, k))
    y = rng.normal(size=(n, k)) @ (a / np.sqrt(k) + np.eye(k)) + 0.5 * arm[:, None] + np.linspace(0, 1, k)
    frame = pd.DataFrame({
        "USUBJID": np.repeat(np.arange(n), k),
        "ARM": pd.Categorical(np.repeat(np.array(["PBO", "TRT"])[arm], k), categories=["PBO", "TRT"]),
        "AVISIT": pd.Categorical(np.tile([f"W{j:02d}" for j in range(k)], n), categories=[f"W{j:02d}" for j in range(k)]),
        "CHG": y.ravel(),
    })
    return frame, y, arm


def test_181_subjects_20_visits_is_the_closed_form() -> None:
    n, k = 181, 20
    frame, y, arm = _complete_trial(n, k, 20)
    fit = mmrm("CHG ~ 0 + ARM:AVISIT", frame, subject="USUBJID", visit="AVISIT")
    assert len(fit.covariance_parameters) == 210 > n
    z = np.column_stack([arm == 0, arm == 1]).astype(float)
    coef = np.linalg.lstsq(z, y, rcond=None)[0]  # (2, k): each visit's arm means
    resid = y - z @ coef
    sigma = resid.T @ resid / (n - 2)
    assert fit.converged
    # formulaic's cell-means columns: arm fastest within visit.
    np.testing.assert_allclose(fit.coefficients.to_numpy(), coef.T.ravel(), rtol=CLOSED_FORM)
    np.testing.assert_allclose(fit.covariance.to_numpy(), sigma, rtol=OPTIMISED)
    se = np.sqrt(np.outer(np.diag(sigma), np.diag(np.linalg.inv(z.T @ z))).ravel())
    np.testing.assert_allclose(fit.table["se"].to_numpy(), se, rtol=OPTIMISED)
    np.testing.assert_allclose(fit.table["df"].to_numpy(), n - 2, rtol=OPTIMISED)


def test_a_pair_of_visits_never_observed_together_is_refused() -> None:
    frame, _, _ = _complete_trial(60, 3, 1)
    # Subjects 0-29 miss W02, subjects 30-59 miss W00: W00 and W02 are never observed in one subject.
    frame.loc[(frame["USUBJID"] < 30) & (frame["AVISIT"] == "W02"), "CHG"] = np.nan
    frame.loc[(frame["USUBJID"] >= 30) & (frame["AVISIT"] == "W00"), "CHG"] = np.nan
    with pytest.raises(InputError, match="visits W00 and W02 are never observed in the same subject: their "
                                         "covariance under 'us' is not identifiable"):
        mmrm("CHG ~ ARM * AVISIT", frame, subject="USUBJID", visit="AVISIT")
    # A structure without a parameter for that pair fits.
    assert mmrm("CHG ~ ARM * AVISIT", frame, subject="USUBJID", visit="AVISIT", covariance="ar1").converged


def test_a_lag_never_observed_is_refused_for_toeplitz() -> None:
    frame, _, _ = _complete_trial(40, 3, 2)
    # Even subjects miss W02, odd ones W00: no subject has both ends of lag 2.
    frame.loc[(frame["AVISIT"] == "W02") & (frame["USUBJID"] % 2 == 0), "CHG"] = np.nan
    frame.loc[(frame["AVISIT"] == "W00") & (frame["USUBJID"] % 2 == 1), "CHG"] = np.nan
    with pytest.raises(InputError, match="no subject has two visits 2 apart: the covariance at that lag under 'toep'"):
        mmrm("CHG ~ AVISIT", frame, subject="USUBJID", visit="AVISIT", covariance="toep")


def test_no_residual_degrees_of_freedom_is_refused() -> None:
    frame, _, _ = _complete_trial(2, 2, 3)
    # (The data check of a response fitted exactly may refuse it first, naming the response.)
    with pytest.raises(InputError, match="4 observations and 4 fixed effects leave no residual degrees of freedom|"
                                         "fitted exactly by the fixed effects"):
        mmrm("CHG ~ ARM * AVISIT", frame, subject="USUBJID", visit="AVISIT", covariance="cs")


@pytest.mark.parametrize("reml", [True, False])
def test_too_few_subjects_at_every_visit_are_refused(reml: bool) -> None:
    """Complete data, saturated mean: 7 subjects < 6 visits + 2 (ML and REML alike, as 7 > 2)."""
    frame, _, _ = _complete_trial(7, 6, 4)
    with pytest.raises(InputError, match=r"USUBJID: 7 subjects with data, fewer than the 8 needed by covariance 'us' "
                                         r"over 6 visits with a mean of rank 2 at each visit"):
        mmrm("CHG ~ ARM * AVISIT", frame, subject="USUBJID", visit="AVISIT", reml=reml)
    frame, _, _ = _complete_trial(8, 6, 4)
    assert mmrm("CHG ~ ARM * AVISIT", frame, subject="USUBJID", visit="AVISIT", reml=reml).converged
