"""Between-within degrees of freedom (SAS ddfm=betwithin) on fev_data.

References, from R mmrm's tests/testthat/test-between-within.R (openpharma/mmrm, whose
between-within method follows SAS's rule; the estimate, SE and t of the intercept-only
model are SAS's, design/SAS/sas_log_simple_reml.txt):
- intercept-only us model: intercept df 196 (197 subjects with data, minus the rank 1 of
  the between-subject columns), estimate 42.8338, SE 0.3509, t 122.07;
- full model FEV1 ~ RACE + SEX + ARMCD * AVISIT, us: the RACE hypothesis (between
  subjects) F = 36.91 on (2, 192); AVISITVIS2 and AVISITVIS3 (within) F = 80.96 on
  (2, 334); both together F = 117.65 on (2, 192), the smaller df.
Tolerances: df exact (counts), F 1e-3 relative (R mmrm's), estimate/SE 1e-4 relative
(SAS's printed digits; SAS's t is compared in test_sas_reference.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dosefinding.mmrm import mmrm
from dosefinding.mmrm.inference import BetweenWithin

from .conftest import load_fev

FULL = "FEV1 ~ RACE + SEX + ARMCD * AVISIT"
RACE = ["RACE[T.Black or African American]", "RACE[T.White]"]
VISITS = ["AVISIT[T.VIS2]", "AVISIT[T.VIS3]"]


@pytest.fixture(scope="module")
def full():
    return mmrm(FULL, load_fev(), subject="USUBJID", visit="AVISIT", df_method="between_within")


def _hypothesis(fit, names: list[list[str]]) -> np.ndarray:
    rows = np.zeros((len(names), fit.coefficients.size))
    for i, row in enumerate(names):
        for name in row:
            rows[i, fit.coefficients.index.get_loc(name)] = 1.0
    return rows


def test_intercept_only_model_gets_between_subject_df():
    fit = mmrm("FEV1 ~ 1", load_fev(), subject="USUBJID", visit="AVISIT", df_method="between_within")
    row = fit.table.loc["Intercept"]
    assert row["df"] == 196
    # SAS's t (122.07) is off ours by 1.1e-4 because SAS stopped short (see test_sas_reference.py).
    np.testing.assert_allclose([row["estimate"], row["se"]], [42.8338, 0.3509], rtol=1e-4)


def test_coefficient_df_split_between_and_within(full):
    df = full.table["df"]
    between = ["Intercept", *RACE, "SEX[T.Female]", "ARMCD[T.TRT]"]
    assert (df[between] == 192).all()
    assert (df.drop(between) == 334).all()


@pytest.mark.parametrize(
    ("names", "den_df", "f"),
    [
        ([[RACE[0]], [RACE[1]]], 192, 36.91),
        ([[VISITS[0]], [VISITS[1]]], 334, 80.96),
        ([[RACE[0], VISITS[0]], [RACE[1], VISITS[1]]], 192, 117.65),
    ],
    ids=["between", "within", "both"],
)
def test_f_tests_match_r_mmrm(full, names, den_df, f):
    test = full.f_test(_hypothesis(full, names))
    assert test.num_df == 2
    assert test.den_df == den_df
    np.testing.assert_allclose(test.f, f, rtol=1e-3)


def test_estimates_are_those_of_the_model_based_fit(full):
    satterthwaite = mmrm(FULL, load_fev(), subject="USUBJID", visit="AVISIT")
    pd.testing.assert_series_equal(full.coefficients, satterthwaite.coefficients)
    np.testing.assert_array_equal(full.table["se"], satterthwaite.table["se"])


def test_a_contrast_takes_the_smallest_df_it_involves():
    bw = BetweenWithin(beta_cov=np.eye(3), coefficient_df=np.array([10.0, 20.0, 30.0]))
    np.testing.assert_array_equal(bw.df([[0, 1, 1], [0, 0, 2], [1e-14, 0, 1]]), [20.0, 30.0, 30.0])
