"""LS means with proportional (observed-margins) weights: SAS OM, emmeans "proportional".

Reference: R emmeans on nlme::gls (fixture tests/fixtures/r/mmrm_a2201_reference.R,
"weights"): model CHG ~ BASE + STRATUM * AVISIT + ARM * AVISIT, unstructured REML, LS
means of ARM averaged over (AVISIT, STRATUM). There the joint weights ("proportional",
SAS OM) and the product of the margins ("outer") give different LS means, and we match
the first. emmeans on a gls fit with varIdent weights the counts by nlme's variance
weights (its recover_data.gls), so the reference passes the plain counts (SAS's OM, no
WEIGHT statement) as numeric weights, in emmeans' grid order. SAS's OM counts every input row with the independent variables present, also
rows with a missing response: emmeans with those counts as numeric weights is the
reference for ``margins=<the input data>``. Tolerance 1e-5 relative (the issue's, for LS
means); the fits agree to about 1e-7.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dosefinding import InputError, LSMeans, MMRMResult, mmrm

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "r" / "mmrm_a2201_reference.json").read_text())
REFERENCE = FIXTURE["weights"]
LSMEANS = 1e-5
LOGLIK = 1e-6


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
    result = mmrm("CHG ~ BASE + STRATUM * AVISIT + ARM * AVISIT", data, subject="USUBJID", visit="AVISIT")
    assert -result.m2_log_likelihood / 2 == pytest.approx(REFERENCE["logLik"], rel=LOGLIK)
    return result


def _check(ls: LSMeans, reference: dict) -> None:
    means = ls.estimates.loc[reference["arm"]]
    np.testing.assert_allclose(means["estimate"], reference["estimate"], rtol=LSMEANS)
    np.testing.assert_allclose(means["se"], reference["se"], rtol=LSMEANS)


def test_equal_weights(fit: MMRMResult) -> None:
    _check(fit.lsmeans("ARM"), REFERENCE["equal"])


def test_proportional_is_emmeans_proportional_not_outer(fit: MMRMResult) -> None:
    ls = fit.lsmeans("ARM", weights="proportional")
    assert ls.weights == "proportional"
    _check(ls, REFERENCE["proportional"])
    # "outer" differs by more than the tolerance here, so the check above tells them apart.
    gap = np.abs(np.subtract(REFERENCE["outer"]["estimate"], REFERENCE["proportional"]["estimate"]))
    assert (gap > 10 * LSMEANS * np.abs(REFERENCE["proportional"]["estimate"])).any()


def test_emmeans_varweighted_counts_are_not_sas_om() -> None:
    """Documents why the reference passes plain counts: emmeans' own weights differ here."""
    gap = np.subtract(REFERENCE["emmeans_proportional_varweighted"]["estimate"], REFERENCE["proportional"]["estimate"])
    assert np.abs(gap).max() > 1e-2


def test_sas_om_margins_of_all_input_rows(fit: MMRMResult, data: pd.DataFrame) -> None:
    """SAS OM counts the rows with a missing response too: margins=data."""
    _check(fit.lsmeans("ARM", weights="proportional", margins=data), REFERENCE["sas_om_all_rows"])
    used_only = fit.lsmeans("ARM", weights="proportional", margins=data.dropna(subset=["CHG"]))
    _check(used_only, REFERENCE["proportional"])


def test_balanced_margins_give_equal_weights(fit: MMRMResult, data: pd.DataFrame) -> None:
    grid = pd.MultiIndex.from_product([FIXTURE["visits"], FIXTURE["strata"]], names=["AVISIT", "STRATUM"])
    balanced = grid.to_frame(index=False).assign(BASE=0.0, ARM="Placebo", CHG=np.nan)
    equal = fit.lsmeans("ARM")
    ours = fit.lsmeans("ARM", weights="proportional", margins=balanced)
    np.testing.assert_allclose(ours.estimates["estimate"], equal.estimates["estimate"], rtol=1e-12)
    np.testing.assert_allclose(ours.cov.to_numpy(), equal.cov.to_numpy(), rtol=1e-12)


def test_by_visit_weights_only_the_stratum(fit: MMRMResult, data: pd.DataFrame) -> None:
    """By visit, the stratum weights are its share over all used rows (pooled over arms and visits)."""
    ls = fit.lsmeans("ARM", by="AVISIT", weights="proportional")
    used = data.dropna(subset=["CHG"])
    share = float(np.mean(used["STRATUM"] == ">=10"))
    columns = ls.contrasts.columns
    stratum = [c for c in columns if c.startswith("STRATUM[T.>=10]") and ":" not in c]
    np.testing.assert_allclose(ls.contrasts[stratum[0]], share, rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": "outer"}, "weights"),
        ({"weights": "equal", "margins": pd.DataFrame()}, "margins"),
        ({"weights": "proportional", "margins": "data"}, "margins"),
        ({"weights": "proportional", "margins": pd.DataFrame({"ARM": ["Placebo"]})}, "not columns of margins"),
    ],
)
def test_bad_input(fit: MMRMResult, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        fit.lsmeans("ARM", **kwargs)


def test_unknown_level_in_margins(fit: MMRMResult, data: pd.DataFrame) -> None:
    margins = data.assign(STRATUM=data["STRATUM"].astype(str).replace("<10", "unknown"))
    with pytest.raises(InputError, match="STRATUM.*'unknown'"):
        fit.lsmeans("ARM", weights="proportional", margins=margins)


def test_weighted_fit_needs_margins(data: pd.DataFrame) -> None:
    """SAS weights the observed margins by the WEIGHT variable; not implemented, so refused without margins."""
    frame = data.assign(W=1.0 + (data["STRATUM"] == ">=10"))
    fit = mmrm("CHG ~ BASE + STRATUM + ARM * AVISIT", frame, subject="USUBJID", visit="AVISIT", covariance="cs",
               weights="W")
    with pytest.raises(InputError, match="weighted fit"):
        fit.lsmeans("ARM", by="AVISIT", weights="proportional")
    share = float(np.mean(frame["STRATUM"] == ">=10"))
    ls = fit.lsmeans("ARM", by="AVISIT", weights="proportional", margins=frame)
    np.testing.assert_allclose(ls.contrasts["STRATUM[T.>=10]"], share, rtol=1e-12)
