"""The defaults of mct_test against high-accuracy references (issue 13: p-values and
critical values to 1e-4).

Stated tolerance, for every case: each p-value within 1e-4 of the reference, and its
reported error bound at most 1e-4; the critical value within 1e-4 of the reference (plus
the reference's own error where it has one), and its reported error at most 1e-4.

References: R DoseFinding/mvtnorm at high precision (tests/fixtures/r/mcp_reference.json at
2e6 points and abseps 1e-5; critical values at 2.5e7 points in mcp_critical_values.json;
the two-sided migraine test by plain Monte Carlo with 1e8 draws, mcp_bruteforce.json);
exact one- and two-dimensional integrals for equicorrelated statistics (nearly singular
at rho = 0.999, and a t with 3 degrees of freedom); our separation-of-variables integrator
(dosefinding.mcp.mvt, independent of the engine) at 5e-7 for a singular t with 4 degrees
of freedom.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from exact_references import equicorrelated_cdf
from scipy import optimize

from dosefinding import Candidates, mct_test
from dosefinding.mcp.mvt import mvt_probability

FIXTURES = Path(__file__).parents[1] / "fixtures" / "r"
REFERENCE = json.loads((FIXTURES / "mcp_reference.json").read_text())
CRITICAL = json.loads((FIXTURES / "mcp_critical_values.json").read_text())["cases"]
BRUTE_FORCE = json.loads((FIXTURES / "mcp_bruteforce.json").read_text())
TOLERANCE = 1e-4


def assert_accurate(result, p_reference: np.ndarray, p_reference_error: np.ndarray, crit_reference: float,
                    crit_reference_error: float) -> None:  # type: ignore[no-untyped-def]
    assert np.all(result.p_value_errors <= TOLERANCE)
    assert np.all(np.abs(result.p_values.to_numpy() - p_reference) <= TOLERANCE + p_reference_error)
    assert result.critical_value_error <= TOLERANCE
    assert abs(result.critical_value - crit_reference) <= TOLERANCE + crit_reference_error


def r_case(name: str) -> dict:
    return next(case for case in REFERENCE["mct"] if case["name"] == name)


def r_candidates(case: dict) -> Candidates:
    spec = case["models"]
    shapes = {{"sigEmax": "sigemax", "betaMod": "betamod"}.get(k, k): v for k, v in spec["shapes"].items()}
    return Candidates(spec["doses"], shapes, placebo_effect=spec["placEff"], max_effect=spec["maxEff"],
                      direction=spec["direction"], scal=spec["scal"], off=spec["off"])


@pytest.mark.parametrize("name", ["biom_one.sided", "biom_two.sided", "a2201_alpha0.025", "a2201_alpha0.05",
                                  "migraine_one.sided", "migraine_two.sided"])
def test_defaults_against_r_at_high_precision(name: str) -> None:
    """biom (rank 4, raw data, one- and two-sided), the A2201 design (rank 3, estimates,
    normal), migraine (rank 5: quasi-Monte Carlo; the two-sided one nearly singular)."""
    case = r_case(name)
    alternative = "one-sided" if case["alternative"] == "one.sided" else "two-sided"
    cands = r_candidates(case)
    if case["type"] == "normal":
        data = pd.DataFrame(REFERENCE["datasets"][case["data"]])
        result = mct_test(cands, data=data, dose="dose", response="resp", alpha=case["alpha"],
                          alternative=alternative)
    else:
        df = np.inf if case["df"] == "Inf" else float(case["df"])
        result = mct_test(cands, doses=case["doses"], estimates=case["estimates"], cov=np.array(case["S"]), df=df,
                          alpha=case["alpha"], alternative=alternative)
    if name == BRUTE_FORCE["case"]:
        # R's pmvt is off by up to 1.7e-4 here; plain Monte Carlo, at 4 of its standard errors.
        p_ref, p_error = np.array(BRUTE_FORCE["p_values"]), 4 * np.array(BRUTE_FORCE["standard_errors"])
        crit_ref, crit_error = BRUTE_FORCE["critical_value"], 4 * BRUTE_FORCE["critical_value_se"]
    else:
        # R's p-values carry errors up to 1e-5 (abseps at 2e6 points).
        p_ref, p_error = np.array(case["result"]["pVals"]), np.full(len(case["result"]["pVals"]), 1e-5)
        reference = CRITICAL[name]
        crit_ref, crit_error = reference["critical_value"], reference["probability_error"] / reference["density"]
    assert_accurate(result, p_ref, p_error, crit_ref, crit_error)


def equicorrelated_contrasts(m: int, rho: float) -> np.ndarray:
    """m contrasts on m + 1 doses whose correlation under the identity is rho everywhere."""
    basis = np.linalg.qr(np.random.default_rng(1).normal(size=(m + 1, m + 1)))[0]
    return math.sqrt(rho) * basis[:, :1] + math.sqrt(1 - rho) * basis[:, 1:]


@pytest.mark.parametrize(("m", "rho", "df", "alternative"), [
    (4, 0.999, np.inf, "one-sided"),  # nearly singular: four nearly equal contrasts
    (4, 0.999, np.inf, "two-sided"),
    (3, 0.6, 3.0, "one-sided"),  # t with 3 degrees of freedom
    (4, 0.3, 3.0, "two-sided"),
])
def test_defaults_against_exact_equicorrelated_integrals(m: int, rho: float, df: float, alternative: str) -> None:
    two_sided = alternative == "two-sided"
    contrasts = equicorrelated_contrasts(m, rho)
    estimates = contrasts @ np.linspace(1.4, 2.9, m)  # statistics spread over the interesting range
    result = mct_test(Candidates(np.arange(m + 1.0), {"linear": None}), doses=np.arange(m + 1.0), estimates=estimates,
                      cov=np.eye(m + 1), df=df, contrasts=contrasts, alternative=alternative)
    p_ref = np.array([1 - equicorrelated_cdf(t, m, rho, df, two_sided) for t in result.t_statistics])
    crit_ref = optimize.brentq(lambda q: equicorrelated_cdf(q, m, rho, df, two_sided) - 0.975, 0.5, 20.0, xtol=1e-10)
    assert_accurate(result, p_ref, np.zeros(m), crit_ref, 0.0)


def test_default_p_values_of_a_singular_t_with_four_df() -> None:
    """biom's contrast correlation (rank 4) with 4 degrees of freedom, estimates form."""
    case = r_case("biom_one.sided")
    corr = np.array(case["result"]["corMat"]["values"], dtype=float)
    # Estimates and covariance giving that correlation: the contrasts' own frame.
    data = pd.DataFrame(REFERENCE["datasets"]["biom"])
    fit = mct_test(r_candidates(case), data=data, dose="dose", response="resp", critical_value=False)
    np.testing.assert_allclose(fit.correlation.to_numpy(), corr, atol=1e-8)
    result = mct_test(r_candidates(case), doses=fit.estimates.index.to_numpy(), estimates=fit.estimates.to_numpy(),
                      cov=fit.cov.to_numpy(), df=4.0)
    assert np.all(result.p_value_errors <= TOLERANCE)
    for t, p in zip(result.t_statistics, result.p_values, strict=True):
        reference = mvt_probability(np.full(corr.shape[0], -np.inf), np.full(corr.shape[0], t), corr, 4.0,
                                    abseps=5e-7, max_points=12 << 20)
        assert abs(p - (1 - reference.value)) <= TOLERANCE + reference.error
