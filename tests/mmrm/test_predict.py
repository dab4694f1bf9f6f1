"""MMRMResult.predict: fitted means and conditional predictions of missing visits.

Reference: tests/fixtures/r/mmrm_a2201_reference.R ("predictions"), computed there by plain
matrix algebra from the nlme::gls unstructured REML fit (coef, vcov, getVarCov) on every
row of the A2201-like data, observed or not: ``X b`` and ``sqrt(x' V x)``; for missing
visits ``z' b + K y_o`` with ``K = S_mo S_oo^-1``, ``z = x_m - K X_o``, se
``sqrt(z' V z)`` and prediction se ``sqrt(z' V z + S_mm - K S_om)`` (R mmrm's
``predict(conditional = TRUE)``); observed rows keep their value with se 0.
Tolerance: 1e-5 relative with an absolute floor of 1e-6 times the response's scale
(the two fits agree to about 1e-6 relative in the coefficients and 4e-6 in the
covariance matrix; predictions near 0 need the floor). Measured: fitted 7.4e-7 and
conditional predictions 3.5e-6 absolute; fitted se 2.1e-6, conditional se 7.6e-7 and
prediction se 2.1e-6 (marginal) / 7.7e-7 (conditional) relative.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dosefinding import InputError, MMRMResult, mmrm

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "r" / "mmrm_a2201_reference.json").read_text())
REFERENCE = FIXTURE["predictions"]
RTOL = 1e-5
ATOL = 1e-6 * 5.0  # the response's standard deviation is about 5


def load_a2201() -> pd.DataFrame:
    data = pd.DataFrame(FIXTURE["data"])
    data["CHG"] = pd.to_numeric(data["CHG"])
    data["ARM"] = pd.Categorical(data["ARM"], categories=FIXTURE["arms"])
    data["AVISIT"] = pd.Categorical(data["AVISIT"], categories=FIXTURE["visits"])
    data["STRATUM"] = pd.Categorical(data["STRATUM"], categories=FIXTURE["strata"])
    return data


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return load_a2201()


@pytest.fixture(scope="module")
def fit(data: pd.DataFrame) -> MMRMResult:
    return mmrm("CHG ~ BASE + STRATUM + ARM * AVISIT", data, subject="USUBJID", visit="AVISIT")


def test_marginal_predictions(fit: MMRMResult, data: pd.DataFrame) -> None:
    out = fit.predict(data)
    np.testing.assert_allclose(out["fitted"], REFERENCE["fitted"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(out["fitted_se"], REFERENCE["fitted_se"], rtol=RTOL)
    np.testing.assert_allclose(out["prediction"], out["fitted"], rtol=0)
    np.testing.assert_allclose(out["prediction_se"], REFERENCE["marginal_prediction_se"], rtol=RTOL)
    assert out["observed"].tolist() == data["CHG"].notna().tolist()


def test_conditional_predictions(fit: MMRMResult, data: pd.DataFrame) -> None:
    out = fit.predict(data, conditional=True)
    missing = data["CHG"].isna().to_numpy()
    assert missing.sum() > 50
    np.testing.assert_allclose(out["prediction"], REFERENCE["conditional"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(out["se"], REFERENCE["conditional_se"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(out["prediction_se"], REFERENCE["conditional_prediction_se"], rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(out.loc[~missing, "prediction"], data.loc[~missing, "CHG"])
    assert (out.loc[~missing, ["se", "prediction_se"]] == 0).all().all()
    # Conditioning on correlated earlier visits shrinks the prediction variance.
    marginal = fit.predict(data)
    assert (out.loc[missing, "prediction_se"] < marginal.loc[missing, "prediction_se"]).all()
    np.testing.assert_allclose(out["fitted"], marginal["fitted"], rtol=0)


def test_row_order_and_index_do_not_matter(fit: MMRMResult, data: pd.DataFrame) -> None:
    shuffled = data.sample(frac=1.0, random_state=3)
    shuffled.index = [f"r{i}" for i in range(len(shuffled))]
    out = fit.predict(shuffled, conditional=True)
    expected = fit.predict(data, conditional=True).loc[data.sample(frac=1.0, random_state=3).index]
    np.testing.assert_allclose(out.to_numpy(dtype=float), expected.to_numpy(dtype=float), rtol=1e-12, atol=1e-12)
    assert out.index.tolist() == shuffled.index.tolist()


def test_subject_without_observations_gets_the_fitted_mean(fit: MMRMResult, data: pd.DataFrame) -> None:
    new = data[data["USUBJID"] == data["USUBJID"].iloc[0]].assign(USUBJID="new", CHG=np.nan)
    out = fit.predict(new, conditional=True)
    np.testing.assert_allclose(out["prediction"], out["fitted"], rtol=0)
    marginal = fit.predict(new)
    np.testing.assert_allclose(out["prediction_se"], marginal["prediction_se"], rtol=1e-12)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.drop(columns="BASE"), "BASE"),
        (lambda d: d.drop(columns="CHG"), "CHG"),
        (lambda d: d.assign(BASE=np.where(np.arange(len(d)) == 3, np.nan, d["BASE"])), "BASE"),
        (lambda d: d.assign(AVISIT=d["AVISIT"].astype(str).replace("Week 4", "Week 2")), "Week 2"),
        (lambda d: pd.concat([d, d.iloc[:1]]), "more than one row"),
        (lambda d: d.assign(ARM=d["ARM"].astype(str).replace("5 mg", "7 mg")), "7 mg"),
        (lambda d: d.to_numpy(), "DataFrame"),
    ],
)
def test_bad_input(fit: MMRMResult, data: pd.DataFrame, change: Callable[[pd.DataFrame], object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        fit.predict(change(data), conditional=True)


@pytest.mark.parametrize("option", ["group", "weights"])
def test_fits_with_group_or_weights_are_refused(data: pd.DataFrame, option: str) -> None:
    frame = data.assign(W=1.0 + (data["STRATUM"] == ">=10"))
    extra = {"group": "STRATUM"} if option == "group" else {"weights": "W"}
    fit = mmrm("CHG ~ BASE + ARM * AVISIT", frame, subject="USUBJID", visit="AVISIT", covariance="cs", **extra)
    with pytest.raises(InputError, match="group=, time= or weights="):
        fit.predict(frame)
