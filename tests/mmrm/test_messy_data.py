"""MMRM on ordinary messy data: column scales, visit labels, covariate interactions in Type 3.

Each case failed before its fix: a covariate on a large scale made the arm-by-visit columns
look aliased (silently NaN differences), text visit labels were ordered alphabetically for
structures that depend on the order, and Type 3 refused factor-by-covariate interactions.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dosefinding import InputError, mmrm
from dosefinding.design_matrix import kept_columns
from dosefinding.errors import DoseFindingWarning
from dosefinding.mmrm.batch import fit_mmrm_batch

FIXTURE = Path(__file__).parents[1] / "fixtures" / "r" / "mmrm_type3_reference.json"
FORMULA = "FEV1 ~ BL + ARMCD * AVISIT"
WEEKS = {"VIS1": "Week 2", "VIS2": "Week 4", "VIS3": "Week 8", "VIS4": "Week 12"}


def _fit_quietly(formula: str, data: pd.DataFrame, **kwargs: object):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DoseFindingWarning)
        return mmrm(formula, data, subject="USUBJID", visit="AVISIT", **kwargs)


@pytest.mark.parametrize("scale", [1e-6, 1e6, 1e12])
def test_covariate_scale_does_not_change_rank_or_results(fev, scale: float) -> None:
    """Baseline in other units (x 1e6 was: every arm-by-visit column aliased, differences NaN, no warning)."""
    reference = _fit_quietly(FORMULA, fev.assign(BL=fev["FEV1_BL"]))
    fit = _fit_quietly(FORMULA, fev.assign(BL=fev["FEV1_BL"] * scale))
    assert fit.aliased == ()
    # The fits differ only by the units of BL: the same optimum, up to the optimiser's
    # stopping point (relative Newton decrement 1e-12), so 1e-8 relative.
    others = [name for name in fit.coefficients.index if name != "BL"]
    np.testing.assert_allclose(fit.coefficients[others], reference.coefficients[others], rtol=1e-8)
    assert fit.coefficients["BL"] * scale == pytest.approx(reference.coefficients["BL"], rel=1e-8)
    ours, theirs = fit.lsmeans("ARMCD", by="AVISIT"), reference.lsmeans("ARMCD", by="AVISIT")
    np.testing.assert_allclose(ours.differences[["estimate", "se"]], theirs.differences[["estimate", "se"]],
                               rtol=1e-8)
    np.testing.assert_allclose(ours.estimates[["estimate", "se"]], theirs.estimates[["estimate", "se"]], rtol=1e-8)


@pytest.mark.parametrize("scale", [1.0, 1e9])
def test_aliased_column_warns_and_names_it(fev, scale: float) -> None:
    data = fev.assign(BL=fev["FEV1_BL"], BL2=2 * scale * fev["FEV1_BL"])
    with pytest.warns(DoseFindingWarning, match=r"design column\(s\) \['BL2'\] are linear combinations"):
        fit = mmrm("FEV1 ~ BL + BL2 + ARMCD", data, subject="USUBJID", visit="AVISIT")
    assert fit.aliased == ("BL2",)


def test_non_estimable_cell_stays_non_estimable_whatever_the_covariate_scale(fev) -> None:
    """No TRT at VIS4: that LS mean is not estimable; a covariate in large units must not make it look estimable."""
    data = fev[~((fev["ARMCD"] == "TRT") & (fev["AVISIT"] == "VIS4"))].assign(BL=fev["FEV1_BL"] * 1e9)
    with pytest.warns(DoseFindingWarning, match=r"ARMCD\[T.TRT\]:AVISIT\[T.VIS4\]"):
        fit = mmrm(FORMULA, data, subject="USUBJID", visit="AVISIT")
    ls = fit.lsmeans("ARMCD", by="AVISIT")
    assert ls.estimates.loc[("VIS4", "TRT")].isna().all()
    assert ls.estimates.drop(index=[("VIS4", "TRT")])["estimate"].notna().all()


def test_kept_columns_is_scale_free() -> None:
    rng = np.random.default_rng(3)
    x = np.column_stack([np.ones(30), rng.normal(size=(30, 3))])
    x = np.column_stack([x, x[:, 1] - 2 * x[:, 2]])
    for scales in ([1, 1, 1, 1, 1], [1, 1e8, 1e-8, 1, 1e12], [1e-10, 1, 1, 1e10, 1]):
        assert kept_columns(x * np.array(scales, dtype=float)).tolist() == [True, True, True, True, False]


@pytest.mark.parametrize("covariance", ["ar1", "ar1h", "toep", "toeph", "ad", "adh"])
def test_numbered_visit_labels_are_ordered_by_their_number(fev, covariance: str) -> None:
    """'Week 12' sorts before 'Week 2' alphabetically (-2LL 3617.2 instead of 3304.7 in the report of the bug)."""
    reference = _fit_quietly("FEV1 ~ ARMCD * AVISIT", fev, covariance=covariance)
    relabelled = fev.assign(AVISIT=fev["AVISIT"].map(WEEKS))
    fit = _fit_quietly("FEV1 ~ ARMCD * AVISIT", relabelled, covariance=covariance)
    assert list(fit.covariance.index) == list(WEEKS.values())
    assert fit.m2_log_likelihood == pytest.approx(reference.m2_log_likelihood, rel=1e-10)


def test_text_visit_labels_of_unknown_order_are_refused_where_the_order_matters(fev) -> None:
    labels = {"VIS1": "Baseline", "VIS2": "Week 4", "VIS3": "Week 8", "VIS4": "End of treatment"}
    data = fev.assign(AVISIT=fev["AVISIT"].map(labels))
    with pytest.raises(InputError, match=r"visit 'AVISIT': covariance 'ar1' depends on the order of the visits"):
        mmrm("FEV1 ~ ARMCD * AVISIT", data, subject="USUBJID", visit="AVISIT", covariance="ar1")
    reference = _fit_quietly("FEV1 ~ ARMCD * AVISIT", fev, covariance="ar1")
    by_number = _fit_quietly("FEV1 ~ ARMCD * AVISIT", data, covariance="ar1", visit_order="VISITN")
    by_list = _fit_quietly("FEV1 ~ ARMCD * AVISIT", data, covariance="ar1", visit_order=list(labels.values()))
    assert list(by_number.covariance.index) == list(labels.values())
    for fit in (by_number, by_list):
        assert fit.m2_log_likelihood == pytest.approx(reference.m2_log_likelihood, rel=1e-10)
    # The unstructured matrix does not depend on the order: text labels are accepted as they are.
    us = _fit_quietly("FEV1 ~ ARMCD * AVISIT", data)
    assert us.m2_log_likelihood == pytest.approx(_fit_quietly("FEV1 ~ ARMCD * AVISIT", fev).m2_log_likelihood,
                                                 rel=1e-10)


@pytest.mark.parametrize(
    ("visit_order", "change", "message"),
    [
        ("NOPE", None, r"visit_order: 'NOPE' is not a column of data"),
        ("ARMCD", None, r"visit_order: column 'ARMCD' must be numeric"),
        ("VISITN", lambda d: d.assign(VISITN=d["VISITN"].where(d.index != 1, 9)),
         r"visit_order: column 'VISITN' has several values \[2, 9\] at visit 'VIS2'"),
        ("VISITN", lambda d: d.assign(VISITN=d["VISITN"].replace({4: 3})),
         r"visit_order: visits \['VIS3', 'VIS4'\] \(AVISIT\) share the value 3"),
        (["VIS1", "VIS2", "VIS3"], None, r"visit_order: visit\(s\) \['VIS4'\] of 'AVISIT' are not in the list"),
        (["VIS1", "VIS2", "VIS2", "VIS3", "VIS4"], None, r"visit_order: repeats a visit"),
    ],
)
def test_bad_visit_order_is_named(fev, visit_order, change, message: str) -> None:
    data = fev if change is None else change(fev)
    with pytest.raises(InputError, match=message):
        mmrm("FEV1 ~ ARMCD * AVISIT", data, subject="USUBJID", visit="AVISIT", covariance="ar1",
             visit_order=visit_order)


@pytest.mark.parametrize("case", ["base_by_visit", "base_by_arm_and_visit"])
def test_type3_with_covariate_interactions_matches_r(fev, case: str) -> None:
    """SAS's Type 3 with BASE:AVISIT (visits tested at BASE = 0, BASE by its average slope) against
    nlme::gls + car::Anova(type = 3) with sum-to-zero contrasts (mmrm_type3_reference.R).

    gls stops short of the REML optimum (its best of three optimisers): F within 5e-6 relative.
    """
    reference = json.loads(FIXTURE.read_text())[case]
    fit = mmrm(reference["formula"], fev, subject="USUBJID", visit="AVISIT")
    table = fit.type3()
    assert len(table) == len(reference["terms"])
    for term, expected in reference["terms"].items():
        ours = term if term in table.index else ":".join(reversed(term.split(":")))
        assert table.loc[ours, "num_df"] == expected["num_df"]
        assert table.loc[ours, "F"] == pytest.approx(expected["F"], rel=5e-6)


def test_type3_tests_visits_at_covariate_zero(fev) -> None:
    """Centring the covariate changes the visit test (SAS's convention) but not the interaction's."""
    formula = "FEV1 ~ BL * AVISIT + ARMCD"
    raw = mmrm(formula, fev.assign(BL=fev["FEV1_BL"]), subject="USUBJID", visit="AVISIT").type3()
    centred = mmrm(formula, fev.assign(BL=fev["FEV1_BL"] - fev["FEV1_BL"].mean()), subject="USUBJID",
                   visit="AVISIT").type3()
    assert raw.loc["BL:AVISIT", "F"] == pytest.approx(centred.loc["BL:AVISIT", "F"], rel=1e-8)
    assert raw.loc["AVISIT", "F"] != pytest.approx(centred.loc["AVISIT", "F"], rel=1e-2)


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (lambda d: np.where(d["FEV1"].notna(), 2.0, np.nan), r"response 'FEV1': constant \(2.0 in every used row\)"),
        (lambda d: np.where(d["FEV1"].notna(), 1.0 + 2.0 * (d["ARMCD"] == "TRT"), np.nan),
         r"response 'FEV1': fitted exactly by the fixed effects"),
        (lambda d: np.where(d["AVISIT"] == "VIS1", 0.0, d["FEV1"]),
         r"response 'FEV1': no variation left at visit\(s\) \['VIS1'\] after the fixed effects"),
    ],
)
def test_response_without_variance_is_named(fev, response, message: str) -> None:
    """Was a ConvergenceError about a -2LL of -5.6e14 (constant) or a singular fit (a change from baseline at baseline)."""
    with pytest.raises(InputError, match=message):
        mmrm("FEV1 ~ ARMCD * AVISIT", fev.assign(FEV1=response(fev)), subject="USUBJID", visit="AVISIT")



def test_tiny_but_real_variation_is_fitted(fev) -> None:
    """FEV1 in units 1e12 times larger: the same fit (was a point 1e-6 relative away, by the raw-scale optimiser)."""
    fit = mmrm("FEV1 ~ ARMCD * AVISIT", fev.assign(FEV1=fev["FEV1"] * 1e-12), subject="USUBJID", visit="AVISIT")
    reference = mmrm("FEV1 ~ ARMCD * AVISIT", fev, subject="USUBJID", visit="AVISIT")
    assert fit.converged
    np.testing.assert_allclose(fit.coefficients * 1e12, reference.coefficients, rtol=1e-8)


@pytest.mark.parametrize(("offset", "atol"), [(1e6, 1e-8), (1e9, 1e-5)])
@pytest.mark.parametrize("kwargs", [{}, {"vcov": "empirical", "df_method": "residual"}, {"covariance": "ar1"}])
def test_large_mean_does_not_cancel_the_fit(fev, offset: float, atol: float, kwargs: dict) -> None:
    """FEV1 + 1e6 did not converge and FEV1 + 1e9 raised numpy's LinAlgError: y'V^-1 y - beta'X'V^-1 y lost every
    digit to cancellation. The responses are now centred on their OLS fit before the sums.

    The data hold FEV1 + offset to about 1e-16 offset (1e-10 at 1e6, 1e-7 at 1e9): the tolerances are those
    rounding errors times the few hundred observations that enter each estimate.
    """
    reference = mmrm("FEV1 ~ ARMCD * AVISIT", fev, subject="USUBJID", visit="AVISIT", **kwargs)
    fit = mmrm("FEV1 ~ ARMCD * AVISIT", fev.assign(FEV1=fev["FEV1"] + offset), subject="USUBJID", visit="AVISIT",
               **kwargs)
    assert fit.converged
    shifted = fit.coefficients.copy()
    shifted["Intercept"] -= offset
    np.testing.assert_allclose(shifted, reference.coefficients, rtol=0, atol=atol)
    np.testing.assert_allclose(fit.table["se"], reference.table["se"], rtol=1e-6)
    assert fit.m2_log_likelihood == pytest.approx(reference.m2_log_likelihood, rel=1e-9)


def test_large_mean_in_a_batch(fev) -> None:
    """The batch centres each trial on its own OLS fit: a trial shifted by 1e9 fits as the trial itself."""
    data = mmrm("FEV1 ~ ARMCD * AVISIT", fev, subject="USUBJID", visit="AVISIT")._data
    n_subjects, k, p = len(data.subjects), len(data.visits), len(data.columns)
    y = np.full((n_subjects, k), np.nan)
    y[data.subject, data.visit] = data.y
    x = np.zeros((n_subjects, k, p))
    x[data.subject, data.visit] = data.x
    for i in range(n_subjects):  # a design row at the missing visits too (the batch takes a full grid)
        arm = x[i][~np.isnan(y[i])][0, 1]
        x[i, :, 0], x[i, :, 1] = 1.0, arm
        x[i, :, 2:5] = np.eye(k)[:, 1:]
        x[i, :, 5:8] = arm * np.eye(k)[:, 1:]
    fit = fit_mmrm_batch(np.stack([y, y + 1e9]), x)
    assert fit.converged.all()
    shifted = fit.beta[1].copy()
    shifted[0] -= 1e9
    np.testing.assert_allclose(shifted, fit.beta[0], rtol=0, atol=1e-5)
    np.testing.assert_allclose(fit.beta_cov[1], fit.beta_cov[0], rtol=1e-6)
