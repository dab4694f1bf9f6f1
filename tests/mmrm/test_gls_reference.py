"""mmrm() against R nlme::gls on fev_data (fixture: tests/fixtures/r/mmrm_gls_reference.R).

Unstructured = corSymm + varIdent, ar1 = corAR1, cs = corCompSymm, ar1h and csh the same
with varIdent; REML and ML; model
FEV1 ~ RACE + SEX + ARMCD * AVISIT + FEV1_BL. Tolerances, relative:
- log likelihood: 1e-6 (measured at most 2.5e-14; nlme's REML logLik is SAS's -2 Res Log
  Likelihood divided by -2);
- coefficients and their standard errors: 1e-4 (measured at most 1.2e-5 and 1.9e-7);
- the covariance matrix of a subject with all four visits: 1e-4 (measured at most 8.8e-6);
- emmeans' LS means of ARMCD by AVISIT and their TRT - PBO differences, estimates and
  SEs: 1e-5, the issue's tolerance for LS means (measured at most 7.9e-8 and 4.1e-7).
For ML fits nlme multiplies the covariance of the coefficients by N / (N - p); SAS and we
do not, so the test multiplies our standard errors by sqrt(N / (N - p)).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dosefinding import mmrm

from .conftest import load_fev

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "r" / "mmrm_gls_reference.json").read_text())
FORMULA = "FEV1 ~ RACE + SEX + ARMCD * AVISIT + FEV1_BL"
LOGLIK = 1e-6
ESTIMATE = 1e-4
COVARIANCE = 1e-4
LSMEANS = 1e-5


def _r_name(name: str) -> str:
    """formulaic's column name in R's spelling: 'ARMCD[T.TRT]:AVISIT[T.VIS2]' -> 'ARMCDTRT:AVISITVIS2'."""
    return "(Intercept)" if name == "Intercept" else name.replace("[T.", "").replace("]", "")


@pytest.mark.parametrize("case", FIXTURE["fits"], ids=[case["name"] for case in FIXTURE["fits"]])
def test_matches_nlme_gls(case: dict) -> None:
    reml = case["method"] == "REML"
    fit = mmrm(FORMULA, load_fev(), subject="USUBJID", visit="AVISIT", covariance=case["covariance"], reml=reml)
    assert -fit.m2_log_likelihood / 2 == pytest.approx(case["logLik"], rel=LOGLIK)
    names = [_r_name(name) for name in fit.coefficients.index]
    assert names == list(case["coefficients"])
    np.testing.assert_allclose(fit.coefficients.to_numpy(), list(case["coefficients"].values()), rtol=ESTIMATE)
    scale = 1.0 if reml else np.sqrt(fit.n_obs / (fit.n_obs - len(names)))
    np.testing.assert_allclose(fit.table["se"].to_numpy() * scale, list(case["se"].values()), rtol=ESTIMATE)
    np.testing.assert_allclose(fit.covariance.to_numpy(), case["sigma"], rtol=COVARIANCE)
    ls = fit.lsmeans("ARMCD", by="AVISIT")
    means = ls.estimates.loc[list(zip(case["lsmeans"]["visit"], case["lsmeans"]["arm"], strict=True))]
    np.testing.assert_allclose(means["estimate"], case["lsmeans"]["estimate"], rtol=LSMEANS)
    np.testing.assert_allclose(means["se"] * scale, case["lsmeans"]["se"], rtol=LSMEANS)
    differences = ls.differences.loc[[(visit, "TRT") for visit in case["differences"]["visit"]]]
    np.testing.assert_allclose(differences["estimate"], case["differences"]["estimate"], rtol=LSMEANS)
    np.testing.assert_allclose(differences["se"] * scale, case["differences"]["se"], rtol=LSMEANS)
