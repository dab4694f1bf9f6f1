"""From an MMRM fit to the MCP step: mct_test(candidates, **mmrm_estimates(fit, ...)).

Reference: tests/fixtures/r/mmrm_a2201_reference.R ("mcp"): nlme::gls unstructured REML
on the A2201-like data, emmeans LS means of ARM at Week 24 and vcov, then
DoseFinding::MCTtest(doses, resp, S = vcov, type = "general", df = Inf) with candidates
linear, emax (ED50 10, 50) and exponential (delta 150), decreasing; also with the
differences against placebo (placAdj = TRUE). Tolerances: LS means and their covariance
1e-5 relative (the issue's, for LS means); t statistics 1e-6 relative (measured 5.0e-7:
our and R's fits agree to about 1e-6); p-values 1e-4 absolute (measured 2.3e-6; R's
mvtnorm at abseps 1e-6, ours at 1e-5).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dosefinding import Candidates, InputError, MMRMResult, mcpmod, mct_test, mmrm, mmrm_estimates

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "r" / "mmrm_a2201_reference.json").read_text())
MCP = FIXTURE["mcp"]
DOSES = dict(zip(FIXTURE["arms"], FIXTURE["doses"], strict=True))
LSMEANS = 1e-5
T_STAT = 1e-6
P_VALUE = 1e-4


def load_a2201() -> pd.DataFrame:
    data = pd.DataFrame(FIXTURE["data"])
    data["CHG"] = pd.to_numeric(data["CHG"])
    data["ARM"] = pd.Categorical(data["ARM"], categories=FIXTURE["arms"])
    data["AVISIT"] = pd.Categorical(data["AVISIT"], categories=FIXTURE["visits"])
    data["STRATUM"] = pd.Categorical(data["STRATUM"], categories=FIXTURE["strata"])
    return data


@pytest.fixture(scope="module")
def fit() -> MMRMResult:
    return mmrm("CHG ~ BASE + STRATUM + ARM * AVISIT", load_a2201(), subject="USUBJID", visit="AVISIT")


def candidates(placebo_adjusted: bool = False) -> Candidates:
    return Candidates(MCP["doses"], {"linear": None, "emax": MCP["shapes"]["emax"],
                                     "exponential": MCP["shapes"]["exponential"]},
                      direction=MCP["direction"])


@pytest.mark.parametrize("placebo_adjusted", [False, True])
def test_mct_test_matches_dosefinding(fit: MMRMResult, placebo_adjusted: bool) -> None:
    estimates = mmrm_estimates(fit, arm="ARM", visit="Week 24", doses=DOSES, placebo_adjusted=placebo_adjusted)
    reference = MCP["placebo_adjusted"] if placebo_adjusted else MCP["lsmeans"]
    expected_estimates = reference["estimates"] if placebo_adjusted else MCP["estimates"]
    expected_cov = reference["S"] if placebo_adjusted else MCP["S"]
    np.testing.assert_allclose(estimates.estimates, expected_estimates, rtol=LSMEANS)
    np.testing.assert_allclose(estimates.cov, expected_cov, rtol=LSMEANS)
    assert estimates.doses.tolist() == (MCP["doses"][1:] if placebo_adjusted else MCP["doses"])
    result = mct_test(candidates(), **estimates)
    assert result.t_statistics.index.tolist() == reference["models"]
    np.testing.assert_allclose(result.t_statistics, reference["t"], rtol=T_STAT)
    np.testing.assert_allclose(result.p_values, reference["p"], atol=P_VALUE)
    assert result.df == np.inf and result.placebo_adjusted is placebo_adjusted


def test_estimates_are_the_lsmeans_at_the_visit(fit: MMRMResult) -> None:
    estimates = mmrm_estimates(fit, arm="ARM", visit="Week 24", doses=DOSES, df="min")
    ls = fit.lsmeans("ARM", by="AVISIT")
    rows = [("Week 24", arm) for arm in FIXTURE["arms"]]
    np.testing.assert_array_equal(estimates.estimates, ls.estimates.loc[rows, "estimate"])
    np.testing.assert_array_equal(estimates.cov, ls.cov.loc[rows, rows])
    assert estimates.df == pytest.approx(ls.estimates.loc[rows, "df"].min(), rel=1e-12)
    assert estimates.estimates.index.tolist() == FIXTURE["arms"]
    assert dict(estimates) == {key: getattr(estimates, key) for key in
                               ("doses", "estimates", "cov", "df", "placebo_adjusted")}


def test_doses_order_the_arms(fit: MMRMResult) -> None:
    """The arms are sorted by dose, whatever the factor's level order."""
    shuffled = {arm: DOSES[arm] for arm in reversed(FIXTURE["arms"])}
    estimates = mmrm_estimates(fit, arm="ARM", visit="Week 24", doses=shuffled)
    assert estimates.doses.tolist() == sorted(FIXTURE["doses"])


def test_mcpmod_takes_the_estimates(fit: MMRMResult) -> None:
    estimates = mmrm_estimates(fit, arm="ARM", visit="Week 24", doses=DOSES)
    result = mcpmod(candidates(), **estimates, delta=-1.0)
    direct = mcpmod(candidates(), doses=estimates.doses, estimates=estimates.estimates.to_numpy(),
                    cov=estimates.cov.to_numpy(), delta=-1.0)
    pd.testing.assert_series_equal(result.mct.t_statistics, direct.mct.t_statistics)


def test_one_visit_fit_without_visit(fit: MMRMResult) -> None:
    data = load_a2201()
    week24 = data[data["AVISIT"] == "Week 24"].copy()
    week24["AVISIT"] = week24["AVISIT"].cat.remove_unused_categories()
    ancova = mmrm("CHG ~ BASE + STRATUM + ARM", week24, subject="USUBJID", visit="AVISIT")
    estimates = mmrm_estimates(ancova, arm="ARM", doses=DOSES)
    np.testing.assert_array_equal(estimates.estimates, ancova.lsmeans("ARM").estimates["estimate"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"arm": "TRT"}, "arm"),
        ({"doses": {"Placebo": 0, "5 mg": 5}}, "missing"),
        ({"doses": {**DOSES, "1 mg": 1}}, "not levels"),
        ({"doses": {**DOSES, "Placebo": 5}}, "duplicate"),
        ({"doses": {**DOSES, "Placebo": 1}}, "placebo"),
        ({"visit": "Week 25"}, "Week 25"),
        ({"df": "max"}, "df"),
        ({"df": -1.0}, "df"),
        ({"weights": "cells"}, "weights"),
    ],
)
def test_bad_input(fit: MMRMResult, kwargs: dict, message: str) -> None:
    arguments = {"arm": "ARM", "visit": "Week 24", "doses": DOSES, **kwargs}
    with pytest.raises(InputError, match=message):
        mmrm_estimates(fit, **arguments)


def test_not_a_fit() -> None:
    with pytest.raises(InputError, match="MMRMResult"):
        mmrm_estimates(object(), arm="ARM", doses=DOSES)  # type: ignore[arg-type]
