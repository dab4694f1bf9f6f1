"""The fit does not depend on the unit of the response (dosefinding.mmrm.engine scales it internally).

For the response times ``c`` (1e-6, 3e5, 1e8) against ``c = 1`` on fev_data: coefficients and SEs times ``c``,
df and t statistics unchanged, 1e-6 relative (both fits stop at a relative Newton decrement of 1e-14 or less
on the same scaled problem: measured differences are rounding, below 1e-9); -2 (Res) Log Likelihood shifted by
exactly ``2 n* log c`` (``n* = n - p`` for REML, ``n`` for ML), 1e-9 of the -2LL; Sigma times ``c^2``. Every
fit converges on its first run (one optimiser entry), as fast as at ``c = 1``. Before the scaling (the
optimiser on the raw scale): ``c = 1e8`` ended in a ConvergenceError, as did the model with FEV1_BL at
``c = 1e6``, and bcva_data at ``c = 1e6`` took 24 s instead of 1.3 s.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from dosefinding import mmrm
from dosefinding.mmrm import fit_mmrm_batch

from .conftest import load_fev

FORMULA = "FEV1 ~ RACE + SEX + ARMCD * AVISIT"
FACTORS = (1e-6, 3e5, 1e8)
RELATIVE = 1e-6
LOGLIK = 1e-9


def _fit(data: pd.DataFrame, factor: float, **kwargs: object):
    return mmrm(FORMULA, data.assign(FEV1=data["FEV1"] * factor), subject="USUBJID", visit="AVISIT", **kwargs)


def _check(base, scaled, factor: float) -> None:
    assert scaled.converged and len(scaled.optimizer) == 1
    np.testing.assert_allclose(scaled.coefficients, base.coefficients * factor, rtol=RELATIVE)
    np.testing.assert_allclose(scaled.table["se"], base.table["se"] * factor, rtol=RELATIVE)
    np.testing.assert_allclose(scaled.table["df"], base.table["df"], rtol=RELATIVE)
    np.testing.assert_allclose(scaled.table["t"], base.table["t"], rtol=RELATIVE)
    np.testing.assert_allclose(scaled.covariance.to_numpy(), base.covariance.to_numpy() * factor**2, rtol=RELATIVE)
    n_star = base.n_obs - (len(base.coefficients) if base.reml else 0)
    shift = scaled.m2_log_likelihood - base.m2_log_likelihood
    assert abs(shift - 2 * n_star * np.log(factor)) <= LOGLIK * abs(base.m2_log_likelihood)


@pytest.mark.parametrize("factor", FACTORS)
@pytest.mark.parametrize("reml", [True, False])
def test_unstructured_is_scale_invariant(factor: float, reml: bool) -> None:
    fev = load_fev()
    base = _fit(fev, 1.0, reml=reml)
    start = time.perf_counter()
    scaled = _fit(fev, factor, reml=reml)
    assert time.perf_counter() - start < 5.0  # as fast as at c = 1 (about 20 ms); before: minutes, then failure
    _check(base, scaled, factor)


@pytest.mark.parametrize("covariance", ["cs", "ar1h", "toeph", "adh", "ad", "csh"])
def test_structures_are_scale_invariant(covariance: str) -> None:
    fev = load_fev()
    _check(_fit(fev, 1.0, covariance=covariance), _fit(fev, 3e5, covariance=covariance), 3e5)


def test_spatial_and_kenward_roger_are_scale_invariant() -> None:
    fev = load_fev()
    for kwargs in ({"covariance": "sp_exp", "time": "VISITN"}, {"df_method": "kenward_roger"},
                   {"covariance": "ar1", "df_method": "kenward_roger"}, {"df_method": "residual", "vcov": "empirical"}):
        _check(_fit(fev, 1.0, **kwargs), _fit(fev, 1e8, **kwargs), 1e8)


def test_batch_is_scale_invariant() -> None:
    """Three fev-like trials (fev_data with its response shuffled within visit) in one batch, scaled by c."""
    fev = load_fev()
    from formulaic import model_matrix

    frame = fev.sort_values(["USUBJID", "AVISIT"]).reset_index(drop=True)
    n, k = frame["USUBJID"].nunique(), frame["AVISIT"].nunique()
    x = model_matrix(FORMULA.split("~")[1], frame, na_action="ignore").to_numpy().reshape(n, k, -1)
    rng = np.random.default_rng(5)
    y = np.stack([frame["FEV1"].to_numpy().reshape(n, k)[rng.permutation(n)] for _ in range(3)])
    base = fit_mmrm_batch(y, x)
    for factor in FACTORS:
        scaled = fit_mmrm_batch(y * factor, x)
        assert scaled.converged.all()
        np.testing.assert_allclose(scaled.beta, base.beta * factor, rtol=RELATIVE)
        np.testing.assert_allclose(scaled.beta_cov, base.beta_cov * factor**2, rtol=RELATIVE)
        np.testing.assert_allclose(scaled.sigma, base.sigma * factor**2, rtol=RELATIVE)
        contrast = np.eye(x.shape[-1])[1:4]
        np.testing.assert_allclose(scaled.df(contrast), base.df(contrast), rtol=RELATIVE)
        n_star = base.n_obs - x.shape[-1]
        np.testing.assert_allclose(scaled.m2_log_likelihood - base.m2_log_likelihood, 2 * n_star * np.log(factor),
                                   rtol=0, atol=LOGLIK * np.abs(base.m2_log_likelihood).max())


def test_baseline_covariate_model_at_1e6() -> None:
    """With FEV1_BL (its own unit) and the response times 1e6: the fit of the response as given, scaled."""
    fev = load_fev()
    formula = FORMULA + " + FEV1_BL"
    base = mmrm(formula, fev, subject="USUBJID", visit="AVISIT")
    scaled = mmrm(formula, fev.assign(FEV1=fev["FEV1"] * 1e6), subject="USUBJID", visit="AVISIT")
    _check(base, scaled, 1e6)

