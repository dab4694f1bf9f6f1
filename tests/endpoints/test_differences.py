"""Differences of proportions, stratified differences and tests against R (tests/fixtures/r/endpoints_reference.R).

References:
- R's own fisher.test, chisq.test, prop.test and mantelhaen.test;
- Wald, Newcombe (1998) method 10, Miettinen-Nurminen (1985) plain and stratified, and the
  Mantel-Haenszel difference with Sato's variance: independent R implementations in the
  fixture script (restricted MLE by uniroot on the likelihood equation, limits by uniroot);
- published values: Newcombe (1998) Stat Med 17:873, Table II, method 10 and the
  Miettinen-Nurminen interval for examples (a)-(h). The numbers below are from that
  table as transcribed in the public test suites of the R package propint and of the
  Python package mergeron_extra (found with the project's code search; both agree where
  they overlap); the fixture's own R implementation reproduces all of them.

Tolerances: interval limits and estimates 1e-9 absolute (differences of proportions;
observed <= 1e-15); p-values 1e-9 relative; test statistics 1e-9 relative;
published values to their printed 4 decimals (5e-5).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from dosefinding import InputError
from dosefinding.endpoints import (
    chisq_test,
    cmh_test,
    compare_responders,
    difference_interval,
    fisher_test,
    stratified_difference,
)
from dosefinding.endpoints.differences import score_statistic

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "r" / "endpoints_reference.json").read_text())
TWO = FIXTURE["two_sample"]
STRATA = FIXTURE["stratified"]
LIMITS = 1e-9
RELATIVE = 1e-9
PRINTED = 5e-5

# Newcombe (1998) Table II: (x1, n1, x2, n2) -> method 10 and Miettinen-Nurminen limits.
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0524, 0.3339), (0.0528, 0.3382)),
    ((9, 10, 3, 10), (0.1705, 0.8090), (0.1700, 0.8406)),
    ((6, 7, 2, 7), (0.0582, 0.8062), (0.0342, 0.8534)),
    ((5, 56, 0, 29), (-0.0381, 0.1926), (-0.0326, 0.1933)),
    ((0, 10, 0, 20), (-0.1611, 0.2775), (-0.1658, 0.2844)),
    ((0, 10, 0, 10), (-0.2775, 0.2775), (-0.2879, 0.2879)),
    ((10, 10, 0, 20), (0.6791, 1.0), (0.7156, 1.0)),
    ((10, 10, 0, 10), (0.6075, 1.0), (0.6636, 1.0)),
]


def counts(cases: list[dict]) -> tuple[np.ndarray, ...]:
    return tuple(np.array([c[k] for c in cases]) for k in ("x1", "n1", "x2", "n2"))


@pytest.mark.parametrize("method", ["wald", "newcombe", "mn"])
def test_intervals_match_r(method: str) -> None:
    d, lower, upper = difference_interval(*counts(TWO), method=method)
    ref = np.array([c[method] for c in TWO])
    np.testing.assert_allclose(lower, ref[:, 0], rtol=0, atol=LIMITS)
    np.testing.assert_allclose(upper, ref[:, 1], rtol=0, atol=LIMITS)
    np.testing.assert_allclose(d, [c["x1"] / c["n1"] - c["x2"] / c["n2"] for c in TWO], atol=1e-15)


@pytest.mark.parametrize(("table", "newcombe", "mn"), NEWCOMBE_TABLE_II)
def test_newcombe_1998_table_ii(table: tuple[int, ...], newcombe: tuple[float, float], mn: tuple[float, float]) -> None:
    """Published worked examples: Newcombe (1998) Table II, method 10 and Miettinen-Nurminen."""
    _, lo, hi = difference_interval(*table, method="newcombe")
    assert abs(lo[0] - newcombe[0]) < PRINTED and abs(hi[0] - newcombe[1]) < PRINTED
    _, lo, hi = difference_interval(*table, method="mn")
    assert abs(lo[0] - mn[0]) < PRINTED and abs(hi[0] - mn[1]) < PRINTED


def test_intervals_reverse_when_arms_swap() -> None:
    x1, n1, x2, n2 = counts(TWO)
    for method in ("wald", "newcombe", "mn"):
        d, lo, hi = difference_interval(x1, n1, x2, n2, method=method)
        d_swap, lo_swap, hi_swap = difference_interval(x2, n2, x1, n1, method=method)
        np.testing.assert_allclose(d_swap, -d, atol=1e-15)
        np.testing.assert_allclose(lo_swap, -hi, atol=1e-12)
        np.testing.assert_allclose(hi_swap, -lo, atol=1e-12)
        assert np.all((lo <= d + 1e-12) & (d <= hi + 1e-12))


@st.composite
def two_by_two(draw: st.DrawFn) -> tuple[int, int, int, int]:
    n1, n2 = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    return draw(st.integers(0, n1)), n1, draw(st.integers(0, n2)), n2


@settings(max_examples=200, deadline=None)
@given(two_by_two())
def test_interval_invariants(table: tuple[int, int, int, int]) -> None:
    """Every interval lies in [-1, 1] and holds the estimate; the MN limits solve the score equation."""
    for method in ("wald", "newcombe", "mn"):
        d, lo, hi = difference_interval(*table, method=method)
        assert lo[0] <= d[0] + 1e-12 and d[0] <= hi[0] + 1e-12
        if method != "wald":
            assert -1 - 1e-12 <= lo[0] and hi[0] <= 1 + 1e-12
    _, lo, hi = difference_interval(*table, method="mn")
    z = stats.norm.isf(0.025)
    x1, n1, x2, n2 = (np.array([[float(v)]]) for v in table)
    for limit, target in ((lo[0], z), (hi[0], -z)):
        if -1 + 1e-9 < limit < 1 - 1e-9:
            assert score_statistic(x1, n1, x2, n2, np.array([limit]), "cmh")[0] == pytest.approx(target, abs=1e-6)


def test_fisher_matches_r() -> None:
    np.testing.assert_allclose(fisher_test(*counts(TWO)).p_value, [c["fisher"] for c in TWO], rtol=RELATIVE)


@pytest.mark.parametrize(("correct", "suffix"), [(True, "_yates"), (False, "")])
def test_chisq_matches_r_chisq_test_and_prop_test(correct: bool, suffix: str) -> None:
    res = chisq_test(*counts(TWO), correct=correct)
    for i, c in enumerate(TWO):
        chisq, prop = c["chisq" + suffix], c["prop_test" + suffix]
        if chisq is None:  # no responder or only responders in both arms: R gives NaN
            assert res.statistic[i] == 0.0 and res.p_value[i] == 1.0
            continue
        for ref in (chisq, prop):
            assert res.statistic[i] == pytest.approx(ref["statistic"], rel=RELATIVE)
            assert res.p_value[i] == pytest.approx(ref["p_value"], rel=RELATIVE)


@pytest.mark.parametrize(("correct", "key"), [(True, "cmh_correct"), (False, "cmh")])
def test_cmh_matches_r_mantelhaen_test(correct: bool, key: str) -> None:
    for case in STRATA:
        res = cmh_test(case["x1"], case["n1"], case["x2"], case["n2"], correct=correct)
        assert res.statistic[0] == pytest.approx(case[key]["statistic"], rel=RELATIVE)
        assert res.p_value[0] == pytest.approx(case[key]["p_value"], rel=RELATIVE)


@pytest.mark.parametrize(
    ("method", "weights", "key"),
    [("mn", "cmh", "mn_cmh"), ("mn", "inverse_variance", "mn_inverse_variance"), ("mh", "cmh", "mh")],
)
def test_stratified_differences_match_r(method: str, weights: str, key: str) -> None:
    checked = 0
    for case in STRATA:
        ref = case[key]
        if ref is None:
            continue
        est, lo, hi = stratified_difference(case["x1"], case["n1"], case["x2"], case["n2"], method=method,
                                            weights=weights)
        assert abs(est[0] - ref["estimate"]) < LIMITS
        assert abs(lo[0] - ref["lower"]) < LIMITS and abs(hi[0] - ref["upper"]) < LIMITS
        checked += 1
    assert checked >= 2


def test_stratified_mn_with_one_stratum_is_the_plain_interval() -> None:
    x1, n1, x2, n2 = counts(TWO)
    _, lo, hi = difference_interval(x1, n1, x2, n2, method="mn")
    est, lo_s, hi_s = stratified_difference(x1[:, None], n1[:, None], x2[:, None], n2[:, None], method="mn")
    np.testing.assert_allclose(lo_s, lo, atol=1e-14)
    np.testing.assert_allclose(hi_s, hi, atol=1e-14)
    np.testing.assert_allclose(est, np.array([c["mn_centre"] for c in TWO]), atol=LIMITS)


def patients(x1: list[int], n1: list[int], x2: list[int], n2: list[int]) -> pd.DataFrame:
    """Patient rows from per-stratum counts: arm 'Active' (x1 of n1) and 'Placebo' (x2 of n2)."""
    rows = []
    for k, (a, m, b, n) in enumerate(zip(x1, n1, x2, n2, strict=True)):
        rows += [("Active", f"S{k}", "Y")] * a + [("Active", f"S{k}", "N")] * (m - a)
        rows += [("Placebo", f"S{k}", "Y")] * b + [("Placebo", f"S{k}", "N")] * (n - b)
    return pd.DataFrame(rows, columns=["TRT01P", "STRAT", "CRIT1FL"])


def test_compare_responders_unstratified() -> None:
    case = TWO[0]
    df = patients([case["x1"]], [case["n1"]], [case["x2"]], [case["n2"]])
    for method in ("newcombe", "mn", "wald"):
        res = compare_responders(df, arm="TRT01P", response="CRIT1FL", reference="Placebo", method=method)
        row = res.table.loc["Active"]
        assert abs(row["lower"] / 100 - case[method][0]) < LIMITS and abs(row["upper"] / 100 - case[method][1]) < LIMITS
        assert row["p_value"] == pytest.approx(case["fisher"], rel=RELATIVE)
    res = compare_responders(df, arm="TRT01P", response="CRIT1FL", reference="Placebo", test="chisq", correct=False)
    assert res.table.loc["Active", "p_value"] == pytest.approx(case["chisq"]["p_value"], rel=RELATIVE)
    assert "Pearson chi-square" in str(res.summary())


def test_compare_responders_stratified() -> None:
    case = STRATA[1]
    df = patients(case["x1"], case["n1"], case["x2"], case["n2"])
    res = compare_responders(df, arm="TRT01P", response="CRIT1FL", reference="Placebo", strata="STRAT")
    row = res.table.loc["Active"]
    assert abs(row["difference"] / 100 - case["mn_cmh"]["estimate"]) < LIMITS
    assert abs(row["lower"] / 100 - case["mn_cmh"]["lower"]) < LIMITS
    assert abs(row["upper"] / 100 - case["mn_cmh"]["upper"]) < LIMITS
    assert row["p_value"] == pytest.approx(case["cmh_correct"]["p_value"], rel=RELATIVE)
    res = compare_responders(df, arm="TRT01P", response="CRIT1FL", reference="Placebo", strata="STRAT",
                             method="mh", correct=False)
    assert abs(res.table.loc["Active", "lower"] / 100 - case["mh"]["lower"]) < LIMITS
    assert res.table.loc["Active", "p_value"] == pytest.approx(case["cmh"]["p_value"], rel=RELATIVE)
    assert "Cochran-Mantel-Haenszel" in str(res.summary())


def test_a2201_example() -> None:
    """A2201 with the default (Newcombe) interval.

    Published: 300 mg 89% vs placebo 61%, +28% (95% CI 8.2% to 46.4%), p = 0.002. With 42/47
    and 30/49 responders the difference is +28.1 points; Fisher's p rounds to the published
    0.002; the Newcombe (11.0, 43.4) and Miettinen-Nurminen (11.3, 44.0) intervals are
    narrower than the published one, which is Santner-Snell's exact unconditional interval
    (tests/endpoints/test_responder_methods.py).
    """
    df = pd.DataFrame({
        "TRT01P": ["Placebo"] * 49 + ["300 mg"] * 47,
        "CRIT1FL": ["Y"] * 30 + ["N"] * 19 + ["Y"] * 42 + ["N"] * 5,
    })
    res = compare_responders(df, arm="TRT01P", response="CRIT1FL", reference="Placebo")
    row = res.table.loc["300 mg"]
    assert round(row["difference"]) == 28
    assert round(row["p_value"], 3) == 0.002
    ref = next(c for c in TWO if (c["x1"], c["n1"], c["x2"], c["n2"]) == (42, 47, 30, 49))
    assert abs(row["lower"] / 100 - ref["newcombe"][0]) < LIMITS


def test_bad_input() -> None:
    df = patients([5, 6], [10, 10], [3, 4], [10, 10])
    with pytest.raises(InputError, match="reference: arm 'Pbo' not found in column TRT01P"):
        compare_responders(df, arm="TRT01P", response="CRIT1FL", reference="Pbo")
    with pytest.raises(InputError, match="method"):
        compare_responders(df, arm="TRT01P", response="CRIT1FL", reference="Placebo", method="mh")
    with pytest.raises(InputError, match="test"):
        compare_responders(df, arm="TRT01P", response="CRIT1FL", reference="Placebo", strata="STRAT", test="fisher")
    lonely = pd.concat([df, pd.DataFrame({"TRT01P": ["Active"], "STRAT": ["S9"], "CRIT1FL": ["Y"]})])
    with pytest.raises(InputError, match=r"STRAT: stratum \['S9'\] has no patient in arm 'Placebo'"):
        compare_responders(lonely, arm="TRT01P", response="CRIT1FL", reference="Placebo", strata="STRAT")
    with pytest.raises(InputError, match="x1: counts must be non-negative"):
        difference_interval(-1, 10, 3, 10)
    with pytest.raises(InputError, match="x2: responders exceed"):
        difference_interval(1, 10, 11, 10)
    with pytest.raises(InputError, match="n1, n2"):
        difference_interval(0, 0, 3, 10)
    with pytest.raises(InputError, match="method"):
        difference_interval(1, 10, 3, 10, method="exact")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="stratum position"):
        stratified_difference([1, 0], [5, 0], [1, 2], [5, 5])
    with pytest.raises(InputError, match="weights: stratum position"):
        stratified_difference([0, 2], [5, 5], [0, 2], [5, 5], weights="inverse_variance")
    with pytest.raises(InputError, match="fewer than 2"):
        cmh_test([1, 1], [1, 5], [0, 1], [0, 5])
    with pytest.raises(InputError, match="CRIT1FL"):
        compare_responders(df.assign(CRIT1FL="maybe"), arm="TRT01P", response="CRIT1FL", reference="Placebo")


def test_fisher_odds_ratio_of_a_table_with_an_empty_row_or_column_is_undefined() -> None:
    # No responders, no non-responders, an empty arm: 0/0, undefined; a zero cell under a
    # non-zero numerator: infinite.
    res = fisher_test([0, 10, 0, 2], [10, 10, 0, 10], [0, 10, 1, 0], [12, 10, 10, 10])
    assert np.isnan(res.statistic[:3]).all() and res.statistic[3] == np.inf
    np.testing.assert_allclose(res.p_value[:3], 1.0, rtol=1e-12)
    assert [note.split(":")[0] for note in res.notes] == ["table 0", "table 1", "table 2", "table 3"]
    assert "undefined" in res.notes[0] and "no responders" in res.notes[0]
    assert "no non-responders" in res.notes[1] and "no patients" in res.notes[2]
    assert "infinite" in res.notes[3]
    assert fisher_test(3, 10, 1, 10).notes == ()


def test_compare_responders_says_why_the_odds_ratio_is_undefined() -> None:
    df = patients([0], [10], [0], [12])
    res = compare_responders(df, arm="TRT01P", response="CRIT1FL", reference="Placebo")
    assert np.isnan(res.table.loc["Active", "statistic"])
    assert "odds ratio 'Active' vs 'Placebo': undefined (0/0): no responders in either arm" in str(res.summary())
