"""Weights (SAS's WEIGHT statement with REPEATED): subject i's covariance is R_i = W_i^-1/2 Sigma W_i^-1/2.

References:
- R nlme::gls (fixture tests/fixtures/r/mmrm_spexp_weights_reference.R): varFixed(~ 1 / WEIGHT)
  gives Var(e_ij) = sigma^2 / w_ij, the same R_i for structures with one variance (cs,
  sp_exp), combined with varIdent(~ 1 | AVISIT) for the unstructured (corSymm) and ar1h
  models; model FEV1 ~ RACE + SEX + ARMCD * AVISIT + FEV1_BL, REML and ML, nlme's
  log-likelihood including the weights' Jacobian as SAS's. Tolerances, relative:
  log likelihood 1e-6 (measured at most 2.9e-14); coefficients and SEs 1e-5 (measured
  2.5e-6 and 2.0e-7); the R_i of a subject with four visits 1e-5 of its largest entry
  (measured 4.0e-7; entry by entry up to 1.9e-4 relative on a near-zero covariance of
  the unstructured ML fit, whose likelihood is flat there).
- SAS PROC MIXED, FEV1 ~ 1, TYPE=ANTE(1), WEIGHT WEIGHT, copied from the openpharma/mmrm
  repository (tests/testthat/test-tmb.R, which copies design/SAS/sas_weighted_mmrm_*.rtf;
  tests/fixtures/sas/mmrm_structures_sas.json), and with EMPIRICAL on FEV1 ~ ARMCD
  (design/Robust/empirical_adh_weighted.txt, which checks the sandwich with weights):
  -2LL 1e-6 relative (measured 9.5e-13); estimates, SEs and parameters 1e-4 relative
  or SAS's printed digits (all pass); AIC, AICC, BIC to SAS's one decimal.
"""

from __future__ import annotations

import numpy as np
import pytest

from dosefinding import InputError, mmrm

from . import references_extra
from .lazy import Lazy
from .references_extra import (
    R_FIXTURE,
    check_against_gls,
    check_derivatives,
    dense_objective,
    fev_with_times,
    random_theta,
    setup,
)
from .test_mmrm import dropout_trial

DENSE = 1e-10
# Unit weights and scaled weights give the same optimum: to where the optimiser stops.
INVARIANT = 1e-7
CONFIGURATIONS = [("us", None, None), ("cs", None, None), ("sp_exp", "JTIME", None), ("adh", None, "ARMCD")]
WEIGHTED = [case for case in R_FIXTURE["fits"] if case["weighted"]]


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("name, time, group", CONFIGURATIONS)
def test_gradient_and_hessian_match_finite_differences(name: str, time: str | None, group: str | None,
                                                        reml: bool) -> None:
    _, model, stats = setup(fev_with_times(), name, time=time, group=group, weights="WEIGHT")
    check_derivatives(stats, model, random_theta(model.n_params), reml)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("name, time, group", CONFIGURATIONS)
def test_pattern_batching_equals_subject_by_subject(name: str, time: str | None, group: str | None,
                                                     reml: bool) -> None:
    """The batched -2LL (weights folded into the data) against R_i = W_i^-1/2 Sigma W_i^-1/2 built per subject."""
    data, model, stats = setup(fev_with_times(), name, time=time, group=group, weights="WEIGHT")
    theta = random_theta(model.n_params)
    batched = references_extra.evaluate(stats, model, theta, reml=reml, order=0).value
    dense = dense_objective(data, model, theta, reml)
    assert abs(batched - dense) <= DENSE * abs(dense)


@pytest.mark.parametrize("case", WEIGHTED, ids=[case["name"] for case in WEIGHTED])
def test_matches_nlme_gls(case: dict) -> None:
    check_against_gls(case)


@pytest.mark.parametrize("name, ours, printed, reason", references_extra.params("weighted_", {}))
def test_matches_sas(name: str, ours: Lazy, printed: str, reason: None) -> None:
    assert references_extra.agrees(ours(), printed)


@pytest.mark.parametrize("case", references_extra.cases("weighted_"), ids=lambda case: case["name"])
def test_loglik_matches_sas(case: dict) -> None:
    ours, theirs = references_extra.fit(case["name"]).m2_log_likelihood, float(case["m2_log_likelihood"])
    assert abs(ours - theirs) <= references_extra.LOGLIK * theirs


@pytest.mark.parametrize("case", references_extra.cases("weighted_"), ids=lambda case: case["name"])
def test_at_sas_parameters(case: dict) -> None:
    references_extra.check_at_printed(case)


def test_unit_and_scaled_weights() -> None:
    """Weights 1 are no weights; weights c w give the same -2LL and beta with Sigma multiplied by c."""
    fev = fev_with_times().assign(ONE=1.0, TWICE=lambda d: 2.0 * d["WEIGHT"])
    kwargs = {"subject": "USUBJID", "visit": "AVISIT", "covariance": "us"}
    plain = mmrm("FEV1 ~ ARMCD * AVISIT", fev, **kwargs)
    unit = mmrm("FEV1 ~ ARMCD * AVISIT", fev, weights="ONE", **kwargs)
    assert unit.m2_log_likelihood == pytest.approx(plain.m2_log_likelihood, rel=1e-12)
    np.testing.assert_allclose(unit.coefficients, plain.coefficients, rtol=INVARIANT)
    weighted = mmrm("FEV1 ~ ARMCD * AVISIT", fev, weights="WEIGHT", **kwargs)
    doubled = mmrm("FEV1 ~ ARMCD * AVISIT", fev, weights="TWICE", **kwargs)
    assert doubled.m2_log_likelihood == pytest.approx(weighted.m2_log_likelihood, rel=1e-12)
    np.testing.assert_allclose(doubled.coefficients, weighted.coefficients, rtol=INVARIANT)
    np.testing.assert_allclose(doubled.table["se"], weighted.table["se"], rtol=INVARIANT)
    np.testing.assert_allclose(doubled.covariance.to_numpy(), 2.0 * weighted.covariance.to_numpy(), rtol=INVARIANT)
    assert not np.allclose(weighted.coefficients, plain.coefficients, rtol=1e-3)


def test_weight_input_errors() -> None:
    fev = fev_with_times()
    kwargs = {"subject": "USUBJID", "visit": "AVISIT"}
    with pytest.raises(InputError, match="weights: 'NOPE' is not a column"):
        mmrm("FEV1 ~ 1", fev, weights="NOPE", **kwargs)
    with pytest.raises(InputError, match="weights: column 'AVISIT' must be numeric"):
        mmrm("FEV1 ~ 1", fev, weights="AVISIT", **kwargs)
    for bad in (0.0, -1.0, np.inf):
        data = fev.assign(W=np.where(fev.index == 3, bad, fev["WEIGHT"]))
        with pytest.raises(InputError, match=f"weights: column 'W' must be positive and finite, got {bad!r}"):
            mmrm("FEV1 ~ 1", data, weights="W", **kwargs)


def test_missing_weight_drops_the_row() -> None:
    fev = fev_with_times()
    gap = fev.assign(W=fev["WEIGHT"].where(fev.index != 1))
    fit = mmrm("FEV1 ~ 1", gap, subject="USUBJID", visit="AVISIT", covariance="cs", weights="W")
    assert fit.n_obs == fev["FEV1"].notna().sum() - 1


@pytest.mark.parametrize("ours, printed", references_extra.fit_statistics("weighted_"))
def test_fit_statistics_match_sas(ours: Lazy, printed: str) -> None:
    """SAS's AIC, AICC and BIC (BIC with the 200 subjects read), printed to one decimal."""
    assert references_extra.same_printed(ours(), printed)


def test_converges_on_a_trial_with_heavy_dropout() -> None:
    """A2201-like trial (4 arms x 45, 6 visits, 40% dropout): grouped, weighted and spatial fits converge at once."""
    rng = np.random.default_rng(2202)
    data = dropout_trial(rng)
    data["T"] = data["AVISIT"].str[1:].astype(float) + rng.uniform(-0.3, 0.3, len(data))
    data["W"] = rng.uniform(0.5, 2.0, len(data))
    for kwargs in ({"covariance": "adh", "group": "ARM", "weights": "W"},
                   {"covariance": "sp_exp", "time": "T", "weights": "W"},
                   {"covariance": "us", "group": "ARM"}):
        fit = mmrm("CHG ~ BASE + ARM * AVISIT", data, subject="USUBJID", visit="AVISIT", **kwargs)
        assert fit.converged, kwargs
        assert len(fit.optimizer) == 1, kwargs
