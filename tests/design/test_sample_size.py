"""sample_size, target_n and power_n against DoseFinding 1.4's sampSize, targN and powN
(fixture: tests/fixtures/r/plan_mod_reference.R).

Deterministic target functions (the z test of the highest dose against placebo for A2201, and
the smallest asymptotic Pow(maxDose) of plan_mod over A2201's candidates): the group sizes
found are R's exactly and the value R prints (rounded to 4 digits) agrees; targN's values to
1e-12. powN (quasi-Monte Carlo powers): ours at abseps 1e-4 against the same grid in R with a
precise critical value and powers at abseps 1e-5 (targN over powMCT with critV, as
mcp_reference.R) within 1.1e-4 (the two error bounds added); and against R's own powN (its
qmvt critical value is off by about 1e-4 in probability, which moves its powers by up to 3e-4:
0.71381 against the precise 0.71404) within 1e-3.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import norm

from dosefinding import Candidates, InputError, optimal_contrasts, plan_mod, power_n, sample_size, target_n

FIXTURE = Path(__file__).parents[1] / "fixtures" / "r" / "plan_mod_reference.json"


@cache
def reference() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


def a2201() -> Candidates:
    return Candidates([0, 5, 50, 300], {"linear": None, "emax": [10, 100], "sigemax": (50, 3), "exponential": 150},
                      max_effect=-3.5)


def z_power(n: np.ndarray) -> float:
    return float(norm.cdf(3.5 / (5.6 * np.sqrt(1 / n[0] + 1 / n[-1])) - norm.ppf(0.975)))


def plan_power(n: np.ndarray) -> float:
    plan = plan_mod("emax", a2201(), n=n, sigma=5.6)
    assert plan.asymptotic is not None
    return float(plan.asymptotic["power_max_dose"].min())


CASES = {
    "arm": (z_power, {"target": 0.8, "allocation": [1, 1, 1, 1], "upper_n": 40}),
    "total": (z_power, {"target": 0.9, "allocation": [2, 1, 1, 2], "upper_n": 400, "n_type": "total"}),
    "raised": (z_power, {"target": 0.8, "allocation": [1, 1, 1, 1], "upper_n": 10, "lower_n": 5}),
    "lowered": (z_power, {"target": 0.8, "allocation": [1, 1, 1, 1], "upper_n": 400, "lower_n": 300}),
    "plan_mod": (plan_power, {"target": 0.9, "allocation": [1, 1, 1, 1], "upper_n": 40}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_sample_size_matches_sampsize(name: str) -> None:
    function, arguments = CASES[name]
    expected = reference()["sample_size"][name]
    found = sample_size(function, **arguments)
    assert found.n.tolist() == expected["samp.size"]
    assert round(found.value, 4) == pytest.approx(expected["target"], abs=1e-12)
    assert found.value >= arguments["target"]
    assert found.evaluations["value"].iloc[-1] == found.value


def test_target_n_matches_targn() -> None:
    expected = reference()["target_n"]

    def two(n: np.ndarray) -> list[float]:
        return [z_power(n), z_power(n / 2)]

    grid = target_n(two, [1, 1, 1, 1], upper_n=100, lower_n=10, step=10)
    assert grid.values.index.tolist() == expected["n"]
    np.testing.assert_allclose(grid.values.to_numpy(), expected["values"], rtol=1e-12)
    assert list(grid.values.columns[-3:]) == expected["columns"][-3:]

    total = reference()["target_n_total"]
    grid = target_n(z_power, [2, 1, 1, 1], upper_n=200, lower_n=40, step=40, n_type="total", summaries="mean")
    np.testing.assert_allclose(grid.values.to_numpy(), total["values"], rtol=1e-12)
    assert grid.group_sizes.loc[40].tolist() == [16, 8, 8, 8]


def test_power_n_matches_pown() -> None:
    expected = reference()["power_n"]
    cands = a2201()
    grid = power_n(optimal_contrasts(cands), cands, sigma=5.6, upper_n=60, lower_n=20, step=20, alpha=0.05,
                   abseps=1e-4)
    assert grid.values.index.tolist() == expected["n"]
    assert [c.lower() for c in grid.values.columns] == [c.lower() for c in expected["columns"]]  # R: sigEmax
    np.testing.assert_allclose(grid.values.to_numpy(), expected["values"], atol=1e-3)
    precise = reference()["power_n_precise"]
    assert precise["n"] == expected["n"]
    np.testing.assert_allclose(grid.values.to_numpy(), precise["values"], atol=1.1e-4)


def test_power_n_with_a_per_patient_covariance_is_power_at_cov_over_n() -> None:
    cands = a2201()
    contrasts = optimal_contrasts(cands)
    per_patient = 4 * 5.6**2 * np.eye(4)  # 4 patients in total give one patient per arm
    grid = power_n(contrasts, cands, cov=per_patient, upper_n=160, lower_n=80, step=80, alpha=0.05, abseps=1e-4)
    from dosefinding import power_mct

    direct = power_mct(contrasts, cands, cov=per_patient / 160, df=np.inf, alpha=0.05, abseps=1e-4)
    np.testing.assert_allclose(grid.values.loc[160, direct.index], direct, atol=1e-4)
    assert grid.n_type == "total"


@pytest.mark.parametrize(("call", "message"), [
    (lambda: sample_size(z_power, 0.8, [1, 0, 1, 1], upper_n=40), "allocation: ratios must be positive"),
    (lambda: sample_size(z_power, 0.8, [1, 1, 1, 1], upper_n=40, n_type="per arm"), "n_type"),
    (lambda: sample_size(lambda n: [0.5, 0.6], 0.8, [1, 1], upper_n=40), "must return one number"),
    (lambda: sample_size(lambda n: float("nan"), 0.8, [1, 1], upper_n=40), "not a finite number"),
    (lambda: sample_size(z_power, 0.01, [1, 1, 1, 1], upper_n=40), "already reached at N = 1"),
    (lambda: sample_size(z_power, 0.8, [1, 1, 1, 1], upper_n=0), "upper_n: must be a positive integer"),
    (lambda: sample_size(z_power, 0.8, [1, 1, 1, 1], upper_n=40, tol=0), "tol: must be positive"),
    (lambda: target_n(z_power, [1, 1, 1, 1], upper_n=10, lower_n=20, step=5), "upper_n: must be at least"),
    (lambda: target_n(z_power, [1, 1, 1, 1], upper_n=40, lower_n=20, step=5, summaries=["median"]), "summaries"),
    (lambda: power_n(optimal_contrasts(a2201()), a2201(), cov=np.eye(4), n_type="arm", upper_n=40, lower_n=20,
                     step=20), "n_type: must be 'total' with cov"),
    (lambda: power_n(optimal_contrasts(a2201()), a2201(), upper_n=40, lower_n=20, step=20), "sigma: needed"),
    (lambda: power_n(optimal_contrasts(a2201()), a2201(), sigma=5.6, n=10, upper_n=40, lower_n=20, step=20),
     "n: set by power_n"),
])
def test_bad_input_is_one_clear_error(call: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        call()
