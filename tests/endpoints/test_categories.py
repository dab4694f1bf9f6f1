"""Category and shift tables against R cut/table counts (tests/fixtures/r/endpoints_reference.R).

The R script categorises with its own rule (low < 5, moderate 5-13, high > 13), completes
the subject x visit grid (absent records are missing) and counts with table(); counts
must match exactly, percentages are n / total to 1e-12.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dosefinding import InputError
from dosefinding.endpoints import categorize, category_table, shift_table

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "r" / "endpoints_reference.json").read_text())[
    "categories"
]
DATA = pd.DataFrame(FIXTURE["data"])
ESSDAI = {"cut_points": [5, 13], "labels": ["low", "moderate", "high"], "cut_belongs_to": ["upper", "lower"]}


def test_category_counts_match_r() -> None:
    res = category_table(DATA, arm="ARM", visit="AVISIT", value="AVAL", subject="USUBJID", **ESSDAI)
    ref = {(r["AVISIT"], r["ARM"], r["category"]): r["Freq"] for r in FIXTURE["counts"]}
    assert res.table["n"].to_dict() == ref
    t = res.table
    np.testing.assert_allclose(t["percent"], 100 * t["n"] / t["total"], rtol=1e-12)
    sums = t.groupby(level=["visit", "arm"])["percent"].sum()
    np.testing.assert_allclose(sums, 100.0, rtol=1e-12)
    assert (t["total"] == 20).all()
    assert res.categories == ["low", "moderate", "high", "Missing"]
    assert "Week 24" in str(res.summary())


def test_shift_counts_match_r() -> None:
    res = shift_table(DATA, arm="ARM", visit="AVISIT", value="AVAL", baseline="BASE", subject="USUBJID", **ESSDAI)
    ref = {(r["AVISIT"], r["ARM"], r["baseline"], r["category"]): r["Freq"] for r in FIXTURE["shift"]}
    assert res.table["n"].to_dict() == ref
    no_baseline = res.table.xs(("Week 12", "Placebo", "Missing"), level=["visit", "arm", "baseline"])
    assert no_baseline["n"].sum() == 1  # S007 has no baseline
    assert "Total" in str(res.summary())


def test_without_subject_absent_records_are_not_counted() -> None:
    res = category_table(DATA, arm="ARM", visit="AVISIT", value="AVAL", **ESSDAI)
    completed = category_table(DATA, arm="ARM", visit="AVISIT", value="AVAL", subject="USUBJID", **ESSDAI)
    assert res.table["n"].sum() == len(DATA) == completed.table["n"].sum() - 2


def test_boundaries() -> None:
    values = [4.999, 5, 13, 13.001, np.nan]
    assert categorize(values, **ESSDAI).tolist() == ["low", "moderate", "moderate", "high", "Missing"]
    upper = categorize(values, cut_points=[5, 13], labels=["a", "b", "c"], cut_belongs_to="upper")
    assert upper.tolist() == ["a", "b", "c", "c", "Missing"]
    lower = categorize(values, cut_points=[5, 13], labels=["a", "b", "c"], cut_belongs_to="lower")
    assert lower.tolist() == ["a", "a", "b", "c", "Missing"]
    assert categorize([1.0], cut_points=[5, 13], labels=["a", "b", "c"], missing_label="NA").categories[-1] == "NA"


def test_order_of_arms_and_visits() -> None:
    res = category_table(DATA, arm="ARM", visit="AVISIT", value="AVAL", arms=["Placebo", "300 mg"],
                         visits=["Week 24", "Week 12"], **ESSDAI)
    assert list(res.table.index.unique("arm")) == ["Placebo", "300 mg"]
    assert list(res.table.index.unique("visit")) == ["Week 24", "Week 12"]


def test_bad_input() -> None:
    with pytest.raises(InputError, match="cut_points: must be strictly increasing"):
        categorize([1], cut_points=[13, 5], labels=["a", "b", "c"])
    with pytest.raises(InputError, match="labels: need 3 labels"):
        categorize([1], cut_points=[5, 13], labels=["a", "b"])
    with pytest.raises(InputError, match="missing_label"):
        categorize([1], cut_points=[5, 13], labels=["a", "b", "Missing"])
    with pytest.raises(InputError, match="cut_belongs_to"):
        categorize([1], cut_points=[5, 13], labels=["a", "b", "c"], cut_belongs_to=["upper"])
    with pytest.raises(InputError, match="AVAL: must be numeric"):
        category_table(DATA.assign(AVAL="high"), arm="ARM", visit="AVISIT", value="AVAL", **ESSDAI)
    with pytest.raises(InputError, match="USUBJID: more than one record"):
        category_table(pd.concat([DATA, DATA.iloc[:1]]), arm="ARM", visit="AVISIT", value="AVAL", subject="USUBJID",
                       **ESSDAI)
    moved = DATA.copy()
    moved.loc[0, "ARM"] = "300 mg"
    with pytest.raises(InputError, match="several arms"):
        category_table(moved, arm="ARM", visit="AVISIT", value="AVAL", subject="USUBJID", **ESSDAI)
    varying = DATA.copy()
    varying.loc[0, "BASE"] = 99
    with pytest.raises(InputError, match="BASE: differs"):
        shift_table(varying, arm="ARM", visit="AVISIT", value="AVAL", baseline="BASE", subject="USUBJID", **ESSDAI)
    with pytest.raises(InputError, match="not found"):
        category_table(DATA, arm="TRT01P", visit="AVISIT", value="AVAL", **ESSDAI)
    with pytest.raises(InputError, match="Week 52"):
        category_table(DATA, arm="ARM", visit="AVISIT", value="AVAL", visits=["Week 52"], **ESSDAI)
