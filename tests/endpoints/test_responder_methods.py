"""The responder methods A2201 reports, against R (tests/fixtures/r/responder_exact_reference.R).

A2201 (SAS 9.4) reports 89% (42/47) on 300 mg against 61% (30/49) on placebo: +28% (95% CI 8.2%
to 46.4%, p = 0.002), percentages per arm "Clopper-Pearson". examples/responder_interval_search.py
tries the usual intervals and tests: only the Santner-Snell exact unconditional interval gives
8.2 to 46.4 (8.216 to 46.355); Fisher's exact test gives p = 0.0019.

Tolerances:
* Santner-Snell limits: 1e-9 absolute. Both sides take the nuisance maximum to 1e-12 in ``p2``
  (the tail is flat there, so its value is exact to far less) and the root to 1e-12; they differ
  by 2e-13.
* Clopper-Pearson and Wilson limits: 1e-12 absolute (closed forms and beta quantiles; differences 1e-16).
* Fisher's p-value: 1e-9 relative (R's own rule, as tests/endpoints/test_differences.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dosefinding import InputError
from dosefinding.endpoints import clopper_pearson, compare_responders, difference_interval, responder_rates
from dosefinding.endpoints.responders import wilson

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "r" / "responder_exact_reference.json").read_text())
EXACT_LIMITS = 1e-9
CLOSED_FORM = 1e-12
RELATIVE = 1e-9


def a2201() -> pd.DataFrame:
    return pd.DataFrame({
        "TRT01P": ["Placebo"] * 49 + ["300 mg"] * 47,
        "CRIT1FL": ["Y"] * 30 + ["N"] * 19 + ["Y"] * 42 + ["N"] * 5,
    })


def test_santner_snell_matches_r() -> None:
    cases = FIXTURE["two_sample"]
    x1, n1, x2, n2 = (np.array([c[k] for c in cases]) for k in ("x1", "n1", "x2", "n2"))
    d, lower, upper = difference_interval(x1, n1, x2, n2, method="santner_snell")
    reference = np.array([c["santner_snell"] for c in cases])
    np.testing.assert_allclose(lower, reference[:, 0], rtol=0, atol=EXACT_LIMITS)
    np.testing.assert_allclose(upper, reference[:, 1], rtol=0, atol=EXACT_LIMITS)
    assert np.all((lower <= d) & (d <= upper))


def test_santner_snell_reverses_when_arms_swap() -> None:
    _, lower, upper = difference_interval(42, 47, 30, 49, method="santner_snell")
    _, lower_swap, upper_swap = difference_interval(30, 49, 42, 47, method="santner_snell")
    assert lower_swap[0] == pytest.approx(-upper[0], abs=EXACT_LIMITS)
    assert upper_swap[0] == pytest.approx(-lower[0], abs=EXACT_LIMITS)


def test_per_arm_intervals_match_r() -> None:
    arms = FIXTURE["arms"]
    x, n = np.array([a["x"] for a in arms]), np.array([a["n"] for a in arms])
    for method, limits in (("clopper_pearson", clopper_pearson(x, n)), ("wilson", wilson(x, n))):
        reference = np.array([a[method] for a in arms])
        np.testing.assert_allclose(np.column_stack(limits), reference, rtol=0, atol=CLOSED_FORM)


def test_a2201_published_difference_is_reproduced_and_named() -> None:
    res = compare_responders(a2201(), arm="TRT01P", response="CRIT1FL", reference="Placebo", method="santner_snell")
    row = res.table.loc["300 mg"]
    published = FIXTURE["two_sample"][0]
    assert (published["x1"], published["n1"], published["x2"], published["n2"]) == (42, 47, 30, 49)
    assert row["lower"] / 100 == pytest.approx(published["santner_snell"][0], abs=EXACT_LIMITS)
    assert row["upper"] / 100 == pytest.approx(published["santner_snell"][1], abs=EXACT_LIMITS)
    assert row["p_value"] == pytest.approx(published["fisher"], rel=RELATIVE)
    # The paper's digits: 28% (95% CI 8.2% to 46.4%, p = 0.002); 89% and 61%.
    assert [round(row[k], 1) for k in ("lower", "upper")] == [8.2, 46.4]
    assert round(row["difference"]) == 28 and round(row["p_value"], 3) == 0.002
    assert res.rates.table["percent"].round().tolist() == [89.0, 61.0]
    assert (res.method_name, res.test_name, res.rates.method_name) == (
        "Santner-Snell exact unconditional", "Fisher exact", "Clopper-Pearson")
    assert "Santner-Snell exact unconditional" in str(res.summary()) and "Clopper-Pearson" in str(res.summary())


def test_rate_method_reaches_the_arms() -> None:
    res = compare_responders(a2201(), arm="TRT01P", response="CRIT1FL", reference="Placebo", rate_method="wilson")
    wilson_42_47 = next(a["wilson"] for a in FIXTURE["arms"] if (a["x"], a["n"]) == (42, 47))
    assert res.rates.table.loc["300 mg", "lower"] / 100 == pytest.approx(wilson_42_47[0], abs=CLOSED_FORM)
    assert res.rates.method_name == "Wilson score" and "Wilson score" in str(res.rates.summary())


def test_default_methods_are_unchanged() -> None:
    res = compare_responders(a2201(), arm="TRT01P", response="CRIT1FL", reference="Placebo")
    assert (res.method, res.test, res.rates.method) == ("newcombe", "fisher", "clopper_pearson")


def test_bad_input_names_the_argument() -> None:
    with pytest.raises(InputError, match=r"^x1: responders exceed patients"):
        difference_interval(48, 47, 30, 49, method="santner_snell")
    with pytest.raises(InputError, match=r"^n1, n2: every arm needs at least one patient"):
        difference_interval(0, 0, 30, 49, method="santner_snell")
    with pytest.raises(InputError, match=r"^x, n: need 0 <= x <= n and n >= 1"):
        clopper_pearson(5, 4)
    with pytest.raises(InputError, match=r"^method: must be one of .*'santner_snell'.*got 'exact'"):
        difference_interval(42, 47, 30, 49, method="exact")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^method: without strata must be one of .*got 'barnard'"):
        compare_responders(a2201(), arm="TRT01P", response="CRIT1FL", reference="Placebo",
                           method="barnard")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^method: must be one of \['clopper_pearson', 'wilson'\], got 'exact'"):
        responder_rates(a2201(), arm="TRT01P", response="CRIT1FL", method="exact")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^rate_method: must be one of .*got 'jeffreys'"):
        compare_responders(a2201(), arm="TRT01P", response="CRIT1FL", reference="Placebo",
                           rate_method="jeffreys")  # type: ignore[arg-type]
    empty_arm = a2201().assign(CRIT1FL=lambda f: f["CRIT1FL"].where(f["TRT01P"] != "Placebo"))
    with pytest.raises(InputError, match=r"^TRT01P: arm\(s\) \['Placebo'\] have no patient"):
        compare_responders(empty_arm, arm="TRT01P", response="CRIT1FL", reference="Placebo",
                           method="santner_snell", missing="exclude")
