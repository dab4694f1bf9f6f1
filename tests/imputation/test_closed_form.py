"""Conditional mean imputation against its closed form, written independently in R (nlme::gls fit).

tests/fixtures/r/imputation_reference.R fits the imputation MMRM by nlme::gls (REML,
unstructured) on rbmi's antidepressant trial and imputes each missing outcome by
``mu_m + S_mo S_oo^-1 (y_o - mu_o)`` subject by subject under MAR, JR, CR and CIR, then fits
``lm(CHANGE ~ THERAPY + BASVAL)`` at each visit. Given the same parameters (R's beta and Sigma),
our batched imputation and ANCOVA must agree to 1e-8 (both are exact linear algebra; the
observed differences are about 1e-13). With our own REML fit the parameters agree with
nlme's to the optimisers' tolerance: 1e-6 relative on the treatment effects.
Wolbers et al. (2022): under MAR, conditional mean imputation + ANCOVA equals the MMRM
estimate of the difference at each visit; both sides here share one fit, so 1e-10.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dosefinding.imputation import ImputationData, ParameterDraws, analyse, impute, mmrm_draws

from .conftest import antidepressant

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "r" / "imputation_reference.json").read_text())
CASES = {case["strategy"]: case for case in FIXTURE["cases"]}


def _r_parameters(data: ImputationData) -> ParameterDraws:
    """R's gls estimates in our column order (arm-major cell means, then BASVAL by visit)."""
    r = dict(zip(FIXTURE["beta_names"], FIXTURE["beta"], strict=True))
    names = [f"THERAPY{arm}:VISIT{v}" for arm in data.arms for v in data.visits]
    names += [f"VISIT{v}:BASVAL" for v in data.visits]
    beta = np.array([[r[name] for name in names]])
    sigma = np.array(FIXTURE["sigma"])[None]
    return ParameterDraws(beta=beta, sigma=sigma, rows=np.arange(data.y.shape[0])[None], method="condmean",
                          resampling=None, data=data)


def test_the_layout_is_rs() -> None:
    data = antidepressant("JR")
    assert data.subjects.tolist() == FIXTURE["subjects"]
    assert (data.ice_visit + 1).tolist() == FIXTURE["ice_visit"]  # R counts visits from 1
    assert np.flatnonzero(np.isnan(data.y).T.ravel()).tolist() == FIXTURE["missing_index"]  # R: column-major


@pytest.mark.parametrize("strategy", ["MAR", "JR", "CR", "CIR"])
def test_conditional_mean_imputation_is_the_closed_form(strategy: str) -> None:
    data = antidepressant(strategy)
    imputed = impute(_r_parameters(data))
    ours = imputed.y[0].T[np.isnan(data.y).T]  # R's order: visit by visit
    np.testing.assert_allclose(ours, CASES[strategy]["imputed"], rtol=0, atol=1e-8)
    result = analyse(imputed, control="DRUG")
    table = result.to_frame()
    for visit in CASES[strategy]["ancova"]:
        rows = table[table["visit"] == visit["visit"]].set_index("parameter")
        assert rows.loc["trt_PLACEBO", "estimate"] == pytest.approx(visit["trt"], rel=1e-8, abs=1e-10)
        assert rows.loc["trt_PLACEBO", "se"] == pytest.approx(visit["trt_se"], rel=1e-8)
        assert rows.loc[["lsm_DRUG", "lsm_PLACEBO"], "estimate"].tolist() == pytest.approx(visit["lsm"], rel=1e-8)
        assert rows.loc["trt_PLACEBO", "df"] == visit["df"]


@pytest.mark.parametrize("strategy", ["MAR", "JR", "CR", "CIR"])
def test_our_reml_fit_gives_rs_treatment_effects(strategy: str) -> None:
    data = antidepressant(strategy)
    draws = mmrm_draws(data, method="condmean")
    table = analyse(impute(draws), control="DRUG").to_frame().query("imputation == 0")
    ours = table[table["parameter"] == "trt_PLACEBO"]["estimate"].to_numpy()
    r = [visit["trt"] for visit in CASES[strategy]["ancova"]]
    np.testing.assert_allclose(ours, r, rtol=1e-6, atol=1e-8)


def test_mar_conditional_mean_equals_the_mmrm_difference() -> None:
    data = antidepressant("MAR")
    draws = mmrm_draws(data, method="condmean")
    table = analyse(impute(draws), control="DRUG").to_frame().query("imputation == 0")
    v = len(data.visits)
    mmrm = draws.beta[0, v:2 * v] - draws.beta[0, :v]  # PLACEBO - DRUG cell means (common BASVAL slopes)
    np.testing.assert_allclose(table[table["parameter"] == "trt_PLACEBO"]["estimate"], mmrm, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mmrm, FIXTURE["mmrm_difference"], rtol=1e-6, atol=1e-8)  # nlme::gls
