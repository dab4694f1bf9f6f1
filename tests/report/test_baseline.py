"""Table 1 against R: tests/fixtures/r/report_baseline_reference.R (quantile type 2 = SAS QNTLDEF=5).

Tolerances: counts exact; mean, SD and quartiles 1e-12 relative (R writes 15 significant
digits to the JSON); every formatted cell is the formatting of R's number.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dosefinding.errors import InputError
from dosefinding.report import baseline_table, describe, format_mean_sd, format_n_percent
from dosefinding.report.table import display_value

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "r" / "report_baseline_reference.json"
RTOL = 1e-12


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return json.loads(REFERENCE.read_text())


@pytest.fixture(scope="module")
def data(reference: dict[str, Any]) -> pd.DataFrame:
    frame = pd.DataFrame(reference["data"])
    for column in reference["continuous"]:
        frame[column] = frame[column].astype(float)
    return frame


def close(ours: float | None, theirs: float | None) -> bool:
    if theirs is None:
        return ours is None
    return ours is not None and abs(ours - theirs) <= RTOL * max(1.0, abs(theirs))


def test_describe_matches_r_per_arm_and_in_total(reference: dict[str, Any], data: pd.DataFrame) -> None:
    worst = 0.0
    for group, stats in reference["stats"].items():
        part = data if group == "Total" else data[data["TRT01P"] == group]
        for variable, expected in stats["continuous"].items():
            ours = describe(part[variable])
            assert ours["n"] == expected["n"]
            for key in ("mean", "sd", "median", "q1", "q3", "min", "max"):
                assert close(ours[key], expected[key]), (group, variable, key, ours[key], expected[key])
                if expected[key] is not None:
                    worst = max(worst, abs(ours[key] - expected[key]) / max(1.0, abs(expected[key])))
    assert worst <= RTOL


def test_table_cells_and_values_are_rs_numbers(reference: dict[str, Any], data: pd.DataFrame) -> None:
    arms = reference["arms"]
    table = baseline_table(data, arm="TRT01P", arms=arms, variables={
        "AGE": "Age (years)", "WEIGHT": "Weight (kg)", "LAB": "Lab", "SEX": "Sex", "RACE": "Race"},
        digits={"AGE": 0, "WEIGHT": 1, "LAB": 2})
    groups = [*arms, "Total"]
    assert [c.label for c in table.columns] == [f"{g} (N={reference['stats'][g]['N']})" for g in groups]
    rows = {(r.group, r.label): r for r in table.rows}
    for variable, label, digits in (("AGE", "Age (years)", 0), ("WEIGHT", "Weight (kg)", 1), ("LAB", "Lab", 2)):
        for j, g in enumerate(groups):
            expected = reference["stats"][g]["continuous"][variable]
            assert rows[(label, "n")].values[j] == expected["n"]
            mean, sd = expected["mean"], expected["sd"]
            assert rows[(label, "Mean (SD)")].cells[j] == format_mean_sd(
                np.nan if mean is None else mean, np.nan if sd is None else sd, digits)
            quartiles = rows[(label, "Median [Q1, Q3]")].values[j]
            assert all(close(quartiles[k], expected[k]) for k in ("median", "q1", "q3"))
    # n = 1: the SD is not estimable; n = 0: nothing is
    assert rows[("Lab", "Mean (SD)")].cells[1:3] == ("3.25 (NE)", "NE (NE)")
    assert rows[("Lab", "Min, Max")].cells[2] == "NE, NE"
    for variable, label in (("SEX", "Sex"), ("RACE", "Race")):
        for j, g in enumerate(groups):
            n_arm = reference["stats"][g]["N"]
            for level, k in reference["stats"][g]["categorical"][variable].items():
                if level == "Missing" and not any(reference["stats"][h]["categorical"][variable]["Missing"]
                                                  for h in groups):
                    assert (label, "Missing") not in rows
                    continue
                row = rows[(label, level if level == "Missing" else display_value(level, variable))]
                assert row.values[j]["n"] == k and row.cells[j] == format_n_percent(k, n_arm)
    assert [r.label for r in table.rows if r.group == "Race" and not r.heading] == [
        "Asian", "Black or African American", "White", "Missing"]


def test_levels_of_a_categorical_keep_their_order_and_numbers_can_be_categories() -> None:
    data = pd.DataFrame({"ARM": ["A", "A", "B"], "GRADE": pd.Categorical(["high", "low", "low"],
                                                                          categories=["low", "high"]),
                         "ESSDAI10": [1, 0, 1]})
    table = baseline_table(data, arm="ARM", variables=["GRADE", "ESSDAI10"], categorical=["ESSDAI10"], total=False)
    assert [(r.group, r.label) for r in table.rows if not r.heading] == [
        ("GRADE", "low"), ("GRADE", "high"), ("ESSDAI10", "0"), ("ESSDAI10", "1")]
    assert [c.label for c in table.columns] == ["A (N=2)", "B (N=1)"]


def test_bad_input_names_the_column() -> None:
    data = pd.DataFrame({"ARM": ["A", None], "AGE": [40, 50]})
    with pytest.raises(InputError, match=r"ARM: 1 patient\(s\) without an arm"):
        baseline_table(data, arm="ARM", variables=["AGE"])
    with pytest.raises(InputError, match=r"missing column\(s\) \['WEIGHT'\]"):
        baseline_table(data, arm="ARM", variables=["WEIGHT"])
    with pytest.raises(InputError, match=r"arm\(s\) \['B'\] not in \['A'\]"):
        baseline_table(pd.DataFrame({"ARM": ["A", "B"], "AGE": [1, 2]}), arm="ARM", variables=["AGE"], arms=["A"])
