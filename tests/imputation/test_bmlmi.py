"""Bootstrapped maximum likelihood MI (von Hippel and Bartlett 2021; rbmi's method_bmlmi) and its pooling rule."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from dosefinding.datasets import antidepressant_data
from dosefinding.errors import InputError
from dosefinding.imputation import (
    ImputationData,
    analyse,
    imputation_data,
    impute,
    mmrm_draws,
    pool,
    pooled_lsmeans,
    von_hippel_bartlett,
)

from .conftest import antidepressant


def rbmi_get_ests_bmlmi(ests: np.ndarray, d: int) -> tuple[float, float, float]:
    """rbmi's R/pool.R ``get_ests_bmlmi`` line by line (one quantity; ``ests`` ordered sample by sample)."""
    b = len(ests) // d
    table = ests.reshape(b, d)  # matrix(ests, nrow = B, ncol = D, byrow = TRUE)
    est_point = table.mean()
    row_means = table.mean(axis=1)
    ssw = ((table - row_means[:, None]) ** 2).sum()
    ssb = d * ((row_means - est_point) ** 2).sum()
    msw = ssw / (b * (d - 1))
    msb = ssb / (b - 1)
    res_var = msw
    rand_int_var = (msb - msw) / d
    est_var = (1 + 1 / b) * rand_int_var + res_var / (b * d)
    df = est_var**2 / ((((b + 1) / (b * d)) ** 2 * msb**2 / (b - 1)) + msw**2 / (b * d**2 * (d - 1)))
    return est_point, est_var, max(3.0, df)


@pytest.mark.parametrize(("b", "d"), [(2, 2), (5, 3), (30, 10)])
def test_pooling_equals_rbmi_formula(b: int, d: int) -> None:
    rng = np.random.default_rng(b * d)
    sample_effect = rng.normal(size=(b, 1, 3))
    estimates = (sample_effect + 0.3 * rng.normal(size=(b, d, 3))).reshape(b * d, 3) @ np.diag([1.0, 2.0, 0.5])
    est, cov, df = von_hippel_bartlett(estimates, d)
    for k in range(3):  # rounding only: 1e-12
        expected = rbmi_get_ests_bmlmi(estimates[:, k], d)
        np.testing.assert_allclose([est[k], cov[k, k], df[k]], expected, rtol=1e-12)
    # the covariance is the rule applied to every linear combination: var(c'theta) = c' cov c
    c = np.array([1.0, -1.0, 2.0])
    np.testing.assert_allclose(c @ cov @ c, rbmi_get_ests_bmlmi(estimates @ c, d)[1], rtol=1e-12)


def complete_cases() -> ImputationData:
    data = antidepressant_data()
    counts = data.dropna(subset=["CHANGE"]).groupby("PATIENT")["CHANGE"].count()
    complete = data[data["PATIENT"].isin(counts.index[counts == 4])]
    return imputation_data(complete, subject="PATIENT", visit="VISIT", outcome="CHANGE", arm="THERAPY",
                           covariates=["BASVAL"])


def test_complete_data_gives_the_bootstrap_variance() -> None:
    """Nothing to impute: D identical analyses per sample, so the variance is (1 + 1/B) times the
    bootstrap variance of the ANCOVA estimate (here computed by least squares on each sample) and
    the degrees of freedom B - 1."""
    data = complete_cases()
    b, d = 40, 3
    draws = mmrm_draws(data, method="bmlmi", n_samples=b, imputations_per_sample=d, seed=5)
    result = pool(analyse(impute(draws, seed=6), control="PLACEBO"))
    last = data.y.shape[1] - 1
    boot = []
    for rows in draws.rows[::d]:
        arm = data.arm[rows]
        x = np.column_stack([np.ones(len(rows)), arm == data.arms.get_loc("DRUG"), data.covariates[rows, 0]])
        boot.append(np.linalg.lstsq(x, data.y[rows, last], rcond=None)[0][1])
    row = result.estimate("trt_DRUG", "7")
    assert result.method == "von Hippel-Bartlett"
    np.testing.assert_allclose(row["estimate"], np.mean(boot), rtol=1e-10)
    np.testing.assert_allclose(row["se"], np.sqrt((1 + 1 / b) * np.var(boot, ddof=1)), rtol=1e-10)
    np.testing.assert_allclose(row["df"], b - 1, rtol=1e-10)
    np.testing.assert_allclose(row["upper"] - row["estimate"], stats.t.ppf(0.975, b - 1) * row["se"], rtol=1e-10)


def test_each_bootstrap_sample_is_imputed_d_times_at_random() -> None:
    draws = mmrm_draws(antidepressant("JR"), method="bmlmi", n_samples=4, imputations_per_sample=3, seed=1)
    assert draws.beta.shape[0] == 12 and draws.imputations_per_sample == 3
    imputed = impute(draws, seed=2)
    y = imputed.y.reshape(4, 3, *imputed.y.shape[1:])
    rows = imputed.rows.reshape(4, 3, -1)
    assert np.all(rows == rows[:, :1]) and not np.all(rows[0, 0] == rows[1, 0])  # one sample, D data sets
    missing = imputed.imputed.reshape(y.shape)
    assert np.array_equal(np.where(missing, 0, y), np.where(missing, 0, y[:, :1]))  # observed values shared
    assert np.all(np.abs(y[:, 1] - y[:, 0])[missing[:, 0]] > 0)  # imputations drawn at random
    again = impute(mmrm_draws(antidepressant("JR"), method="bmlmi", n_samples=4, imputations_per_sample=3, seed=1),
                   seed=2)
    assert np.array_equal(again.y, imputed.y, equal_nan=True)


def test_mar_agrees_with_conditional_mean_within_monte_carlo_error() -> None:
    """Under MAR the BMLMI estimate estimates the MMRM's (conditional mean MAR) difference and its SE
    the jackknife's. Tolerances by Monte Carlo error: the point estimate averages B samples
    (SD about se / sqrt(B)), allow 4 of those; the SE's relative error is about
    1 / sqrt(2 df) (about 0.08 here), allow 3 of those."""
    data = antidepressant("MAR")
    reference = pool(analyse(impute(mmrm_draws(data, method="condmean")), control="PLACEBO")).estimate("trt_DRUG", "7")
    b = 150
    analysis = analyse(impute(mmrm_draws(data, method="bmlmi", n_samples=b, imputations_per_sample=4, seed=11),
                              seed=12), control="PLACEBO")
    row = pool(analysis).estimate("trt_DRUG", "7")
    assert abs(row["estimate"] - reference["estimate"]) < 4 * reference["se"] / np.sqrt(b)
    assert abs(row["se"] / reference["se"] - 1) < 3 / np.sqrt(2 * row["df"])
    lsm, cov, df = pooled_lsmeans(analysis, "7")
    np.testing.assert_allclose(lsm[0] - lsm[1], row["estimate"], rtol=1e-10)  # arms DRUG, PLACEBO
    np.testing.assert_allclose(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], row["se"] ** 2, rtol=1e-10)
    assert np.isfinite(df) and df >= 3


def test_bad_input() -> None:
    data = antidepressant("JR")
    with pytest.raises(InputError, match="imputations_per_sample: BMLMI needs at least 2"):
        mmrm_draws(data, method="bmlmi", n_samples=5, imputations_per_sample=1)
    with pytest.raises(InputError, match="imputations_per_sample"):
        mmrm_draws(data, method="bmlmi", n_samples=5, imputations_per_sample=0)
    with pytest.raises(InputError, match="n_samples: von Hippel and Bartlett's rule needs at least 2"):
        pool(analyse(impute(mmrm_draws(data, method="bmlmi", n_samples=1, imputations_per_sample=2))))
    with pytest.raises(InputError, match="imputations_per_sample: must be at least 2 and divide"):
        von_hippel_bartlett(np.zeros((7, 1)), 2)
    same_samples = np.array([[1.0], [2.0], [1.0], [2.0]])  # samples alike, imputations apart: negative variance
    with pytest.raises(InputError, match="n_samples: the von Hippel-Bartlett variance is not positive"):
        von_hippel_bartlett(same_samples, 2)
