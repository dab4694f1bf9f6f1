"""Responder percentages and Clopper-Pearson intervals against R binom.test (tests/fixtures/r/endpoints_reference.R).

Tolerances: interval limits are beta quantiles on both sides, 1e-9 absolute (they are
probabilities; the observed difference is below 1e-15).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dosefinding import InputError
from dosefinding.endpoints import as_responder, clopper_pearson, responder_rates

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "r" / "endpoints_reference.json").read_text())
LIMITS = 1e-9


def test_clopper_pearson_matches_r_binom_test() -> None:
    cases = FIXTURE["binom"]
    x = np.array([c["x"] for c in cases])
    n = np.array([c["n"] for c in cases])
    lower, upper = clopper_pearson(x, n)
    np.testing.assert_allclose(lower, [c["lower"] for c in cases], rtol=0, atol=LIMITS)
    np.testing.assert_allclose(upper, [c["upper"] for c in cases], rtol=0, atol=LIMITS)
    assert lower[x == 0].tolist() == [0.0] * int(np.sum(x == 0))
    assert upper[x == n].tolist() == [1.0] * int(np.sum(x == n))


def test_scipy_binomtest_exact_interval_matches_r() -> None:
    """scipy.stats.binomtest's exact interval is the same Clopper-Pearson interval as R's."""
    for c in FIXTURE["binom"]:
        ci = stats.binomtest(int(c["x"]), int(c["n"])).proportion_ci(0.95, method="exact")
        assert abs(ci.low - c["lower"]) < LIMITS and abs(ci.high - c["upper"]) < LIMITS


def a2201_like() -> pd.DataFrame:
    """A2201 week-24 ESSDAI responders: 30/49 placebo (61%), 42/47 at 300 mg (89%), with a missing outcome each."""
    arm = ["Placebo"] * 49 + ["300 mg"] * 47
    flag: list[object] = ["Y"] * 30 + ["N"] * 18 + [None] + ["Y"] * 42 + ["N"] * 4 + [None]
    return pd.DataFrame({"TRT01P": arm, "CRIT1FL": flag})


def test_responder_rates_missing_as_non_responder() -> None:
    res = responder_rates(a2201_like(), arm="TRT01P", response="CRIT1FL", arms=["Placebo", "300 mg"])
    t = res.table
    assert t["n"].tolist() == [49, 47]
    assert t["responders"].tolist() == [30, 42]
    assert t["missing"].tolist() == [1, 1]
    assert t["percent"].round(0).tolist() == [61.0, 89.0]  # as published for A2201
    lower, upper = clopper_pearson([30, 42], [49, 47])
    np.testing.assert_allclose(t["lower"], 100 * lower, rtol=1e-12)
    np.testing.assert_allclose(t["upper"], 100 * upper, rtol=1e-12)
    ref = {(c["x"], c["n"]): c for c in FIXTURE["binom"]}
    assert abs(t.loc["300 mg", "lower"] / 100 - ref[(42, 47)]["lower"]) < LIMITS
    assert "non-responders" in str(res.summary())


def test_responder_rates_exclude_missing() -> None:
    t = responder_rates(a2201_like(), arm="TRT01P", response="CRIT1FL", missing="exclude").table
    assert t.loc["Placebo", "n"] == 48 and t.loc["300 mg", "n"] == 46
    assert t.loc["Placebo", "missing"] == 1
    assert t.loc["300 mg", "percent"] == pytest.approx(100 * 42 / 46, rel=1e-12)


def test_response_codings_are_equivalent() -> None:
    df = a2201_like()
    flags = df["CRIT1FL"]
    codings = {
        "yn": flags,
        "bool": flags.map({"Y": True, "N": False}),
        "int": flags.map({"Y": 1, "N": 0}),
        "float": flags.map({"Y": 1.0, "N": 0.0}),
    }
    tables = [responder_rates(df.assign(R=v), arm="TRT01P", response="R").table for v in codings.values()]
    for t in tables[1:]:
        pd.testing.assert_frame_equal(t, tables[0])


def test_as_responder_values() -> None:
    out = as_responder(pd.Series([True, False, None]), "R")
    assert out[:2].tolist() == [1.0, 0.0] and np.isnan(out[2])


@pytest.mark.parametrize(
    ("values", "message"),
    [(["Y", "yes"], "CRIT1FL: responder values"), ([0, 2], "CRIT1FL"), ([0.5, 1.0], "0.5")],
)
def test_non_binary_responder_values(values: list[object], message: str) -> None:
    df = pd.DataFrame({"TRT01P": ["A", "B"], "CRIT1FL": values})
    with pytest.raises(InputError, match=message):
        responder_rates(df, arm="TRT01P", response="CRIT1FL")


def test_bad_input() -> None:
    df = a2201_like()
    with pytest.raises(InputError, match="not found"):
        responder_rates(df, arm="ARM", response="CRIT1FL")
    with pytest.raises(InputError, match="'50 mg'"):
        responder_rates(df, arm="TRT01P", response="CRIT1FL", arms=["Placebo", "50 mg"])
    with pytest.raises(InputError, match="missing"):
        responder_rates(df, arm="TRT01P", response="CRIT1FL", missing="impute")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="confidence_level"):
        responder_rates(df, arm="TRT01P", response="CRIT1FL", confidence_level=95)
    only_missing = pd.DataFrame({"TRT01P": ["A", "B"], "CRIT1FL": ["Y", None]})
    with pytest.raises(InputError, match=r"\['B'\] have no patient"):
        responder_rates(only_missing, arm="TRT01P", response="CRIT1FL", missing="exclude")
    with pytest.raises(InputError, match="TRT01P: 1 row"):
        responder_rates(pd.DataFrame({"TRT01P": ["A", None], "CRIT1FL": [1, 0]}), arm="TRT01P", response="CRIT1FL")
    with pytest.raises(InputError, match="x, n"):
        clopper_pearson([-1], [5])
    with pytest.raises(InputError, match="x, n"):
        clopper_pearson([6], [5])
