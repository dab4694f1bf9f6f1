"""mmrm() against R nlme::gls + emmeans on simulated A2201-like data (fixture: tests/fixtures/r/mmrm_a2201_reference.R).

The data (in the JSON): 4 arms (Placebo, 5, 50, 300 mg) x 45 subjects x 6 visits (Week 4
.. Week 24), baseline covariate BASE, stratum STRATUM, monotone dropout (rows with CHG
missing). Model CHG ~ BASE + STRATUM + ARM * AVISIT, unstructured (corSymm + varIdent),
ar1 (corAR1) and cs (corCompSymm), REML and ML. Tolerances, relative (measured maxima
over the six fits in brackets):

- log likelihood: 1e-6 [4.2e-13] (nlme's REML logLik is SAS's -2 Res Log Likelihood / -2);
- coefficients and their standard errors: 1e-4 [1.6e-6, 2.1e-6]; covariance matrix of the
  visits: 1e-4 [4.2e-6];
- LS means of ARM by AVISIT (equal and proportional weights) and the differences against
  placebo, estimates and SEs: 1e-5, the issue's acceptance [7.4e-6 for an LS mean of
  -0.0101, 2.8e-7 absolute, from the unstructured fits' flat likelihood; SEs 2.1e-6,
  differences 9.9e-7]. Proportional weights (SAS OM)
  are compared with emmeans given the plain stratum counts as numeric weights, and, for the
  fits without varIdent, with emmeans' ``weights = "proportional"`` (on a gls fit with
  varIdent emmeans weights the counts by nlme's variance weights; SAS does not).

For ML fits nlme multiplies the covariance of the coefficients by N / (N - p); SAS and we
do not, so our standard errors are multiplied by sqrt(N / (N - p)).

One post-baseline visit: the MMRM of the Week 24 rows is the ANCOVA. Checked against R
lm() (in the fixture) and statsmodels OLS (here): coefficients 1e-8 relative (least squares whatever the variance); SEs,
Satterthwaite df (= the residual df), the REML variance and -2 Res Log Likelihood 1e-6
(the variance comes from our optimiser; measured 5e-14 here).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from hypothesis import given, settings
from hypothesis import strategies as st

from dosefinding import LSMeans, mmrm

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "r" / "mmrm_a2201_reference.json").read_text())
FORMULA = "CHG ~ BASE + STRATUM + ARM * AVISIT"
LOGLIK = 1e-6
ESTIMATE = 1e-4
COVARIANCE = 1e-4
LSMEANS = 1e-5
CLOSED_FORM = 1e-8
OPTIMISED = 1e-6


def load_a2201() -> pd.DataFrame:
    """The fixture's long data, factor levels in R's order (Placebo and Week 4 first)."""
    data = pd.DataFrame(FIXTURE["data"])
    data["CHG"] = pd.to_numeric(data["CHG"])
    data["ARM"] = pd.Categorical(data["ARM"], categories=FIXTURE["arms"])
    data["AVISIT"] = pd.Categorical(data["AVISIT"], categories=FIXTURE["visits"])
    data["STRATUM"] = pd.Categorical(data["STRATUM"], categories=FIXTURE["strata"])
    return data


def r_name(name: str) -> str:
    """formulaic's column name in R's spelling: 'ARM[T.5 mg]:AVISIT[T.Week 8]' -> 'ARM5 mg:AVISITWeek 8'."""
    return "(Intercept)" if name == "Intercept" else name.replace("[T.", "").replace("]", "")


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return load_a2201()


def test_fixture_data_shape(data: pd.DataFrame) -> None:
    assert len(data) == FIXTURE["n_rows"] == 180 * 6
    assert int(data["CHG"].notna().sum()) == FIXTURE["n_obs"]
    last = data.dropna(subset=["CHG"]).groupby("USUBJID", observed=True)["AVISIT"].agg(lambda v: v.cat.codes.max())
    dropped = float(np.mean(last < 5))
    assert 0.1 < dropped < 0.3  # about 20% monotone dropout


def _check_lsmeans(ls: LSMeans, reference: dict, scale: float) -> None:
    means = ls.estimates.loc[list(zip(reference["visit"], reference["arm"], strict=True))]
    np.testing.assert_allclose(means["estimate"], reference["estimate"], rtol=LSMEANS)
    np.testing.assert_allclose(means["se"] * scale, reference["se"], rtol=LSMEANS)
    diffs = ls.differences.loc[list(zip(reference["diff_visit"], reference["diff_arm"], strict=True))]
    np.testing.assert_allclose(diffs["estimate"], reference["diff_estimate"], rtol=LSMEANS)
    np.testing.assert_allclose(diffs["se"] * scale, reference["diff_se"], rtol=LSMEANS)


@pytest.mark.parametrize("case", FIXTURE["fits"], ids=[case["name"] for case in FIXTURE["fits"]])
def test_matches_nlme_gls(case: dict, data: pd.DataFrame) -> None:
    reml = case["method"] == "REML"
    fit = mmrm(FORMULA, data, subject="USUBJID", visit="AVISIT", covariance=case["covariance"], reml=reml)
    assert fit.converged
    assert -fit.m2_log_likelihood / 2 == pytest.approx(case["logLik"], rel=LOGLIK)
    assert [r_name(name) for name in fit.coefficients.index] == list(case["coefficients"])
    np.testing.assert_allclose(fit.coefficients.to_numpy(), list(case["coefficients"].values()), rtol=ESTIMATE)
    scale = 1.0 if reml else np.sqrt(fit.n_obs / (fit.n_obs - len(fit.coefficients)))
    np.testing.assert_allclose(fit.table["se"].to_numpy() * scale, list(case["se"].values()), rtol=ESTIMATE)
    np.testing.assert_allclose(fit.covariance.to_numpy(), case["sigma"], rtol=COVARIANCE)
    _check_lsmeans(fit.lsmeans("ARM", by="AVISIT"), case["lsmeans"], scale)
    proportional = fit.lsmeans("ARM", by="AVISIT", weights="proportional")
    _check_lsmeans(proportional, case["lsmeans_proportional"], scale)
    if case["covariance"] != "us":  # without varIdent, emmeans' own "proportional" is SAS's OM
        _check_lsmeans(proportional, case["lsmeans_emmeans_proportional"], scale)


def test_proportional_weights_move_the_lsmeans(data: pd.DataFrame) -> None:
    """The stratum is unbalanced (about 70% '>=10'), so proportional weights differ from equal ones."""
    case = FIXTURE["fits"][0]
    assert not np.allclose(case["lsmeans"]["estimate"], case["lsmeans_proportional"]["estimate"], rtol=1e-3)
    # The differences between arms do not depend on the stratum weights in this additive model.
    np.testing.assert_allclose(case["lsmeans"]["diff_estimate"], case["lsmeans_proportional"]["diff_estimate"],
                               rtol=1e-10)


def test_one_visit_is_the_ancova(data: pd.DataFrame) -> None:
    """An MMRM with one post-baseline visit reproduces the ANCOVA: R lm() and statsmodels OLS."""
    week24 = data[data["AVISIT"] == "Week 24"].copy()
    week24["AVISIT"] = week24["AVISIT"].cat.remove_unused_categories()
    fit = mmrm("CHG ~ BASE + STRATUM + ARM", week24, subject="USUBJID", visit="AVISIT")
    reference = FIXTURE["ancova"]
    assert [r_name(name) for name in fit.coefficients.index] == list(reference["coefficients"])
    np.testing.assert_allclose(fit.coefficients, list(reference["coefficients"].values()), rtol=CLOSED_FORM)
    np.testing.assert_allclose(fit.table["se"], list(reference["se"].values()), rtol=OPTIMISED)
    np.testing.assert_allclose(fit.table["df"], reference["df"], rtol=OPTIMISED)
    assert fit.covariance.iloc[0, 0] == pytest.approx(reference["sigma"] ** 2, rel=OPTIMISED)
    assert fit.m2_log_likelihood == pytest.approx(reference["m2_res_loglik"], rel=OPTIMISED)

    used = week24.dropna(subset=["CHG"])
    ols = smf.ols("CHG ~ BASE + STRATUM + ARM", data=used).fit()
    names = list(fit.coefficients.index)
    assert sorted(names) == sorted(ols.params.index)
    np.testing.assert_allclose(fit.coefficients, ols.params[names], rtol=CLOSED_FORM)
    np.testing.assert_allclose(fit.table["se"], ols.bse[names], rtol=OPTIMISED)
    np.testing.assert_allclose(fit.table["df"], ols.df_resid, rtol=OPTIMISED)
    np.testing.assert_allclose(fit.table["p"], ols.pvalues[names], rtol=OPTIMISED)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(12, 60))
def test_one_visit_is_the_ancova_property(seed: int, n: int) -> None:
    """Any one-visit data set: the MMRM's estimates, SEs and df are least squares (numpy); one visit needs 'us'."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"id": np.arange(n), "visit": "v1", "arm": rng.choice(["a", "b", "c"], n),
                          "base": rng.normal(size=n)})
    frame.loc[:2, "arm"] = ["a", "b", "c"]
    frame["y"] = rng.normal(size=n) + frame["base"]
    fit = mmrm("y ~ base + arm", frame, subject="id", visit="visit")
    x = np.column_stack([np.ones(n), frame["base"], frame["arm"] == "b", frame["arm"] == "c"]).astype(float)
    beta, rss, *_ = np.linalg.lstsq(x, frame["y"].to_numpy(), rcond=None)
    se = np.sqrt(rss[0] / (n - 4) * np.diag(np.linalg.inv(x.T @ x)))
    # The coefficients are least squares whatever the variance; the variance (hence SEs and
    # the Satterthwaite df) comes from the optimiser, whose stopping rule (Newton decrement
    # below 1e-12 of the objective) leaves up to about 1e-7 relative: 1e-6, the issue's
    # tolerance for estimates.
    np.testing.assert_allclose(fit.coefficients, beta, rtol=CLOSED_FORM, atol=1e-10)
    np.testing.assert_allclose(fit.table["se"], se, rtol=OPTIMISED)
    np.testing.assert_allclose(fit.table["df"], n - 4, rtol=OPTIMISED)
