"""Formatting helpers and the immutable Table."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from dosefinding.errors import InputError
from dosefinding.report import (
    SYNTHETIC_LABEL,
    Column,
    Table,
    format_estimate_ci,
    format_mean_sd,
    format_median_iqr,
    format_n_percent,
    format_number,
    format_p_value,
)
from dosefinding.report.table import json_value


@pytest.mark.parametrize(("x", "digits", "text"), [
    (2.675, 2, "2.68"),  # binary 2.67499999...: rounded as written, as SAS ROUND does
    (0.125, 2, "0.13"),  # exactly half: away from zero, not to even
    (-0.125, 2, "-0.13"),
    (1.005, 2, "1.01"),
    (-0.04, 1, "0.0"),  # no negative zero
    (-0.05, 1, "-0.1"),
    (12, 0, "12"),
    (12, 2, "12.00"),
    (1e-7, 3, "0.000"),
    (123456.789, 1, "123456.8"),
    (np.float32(0.5), 0, "1"),
    (float("nan"), 1, "NE"),
    (None, 1, "NE"),
    (float("inf"), 1, "Inf"),
])
def test_format_number_rounds_half_away_from_zero_on_the_decimal_value(x: float, digits: int, text: str) -> None:
    assert format_number(x, digits) == text


def test_format_number_rejects_bad_digits_and_non_numbers() -> None:
    with pytest.raises(InputError, match="digits"):
        format_number(1.0, -1)
    with pytest.raises(InputError, match="digits"):
        format_number(1.0, 1.5)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="x: must be a number"):
        format_number("abc")  # type: ignore[arg-type]


def test_n_percent() -> None:
    assert format_n_percent(12, 49) == "12 (24.5)"
    assert format_n_percent(1, 3, 0) == "1 (33)"
    assert format_n_percent(2, 3, 1) == "2 (66.7)"
    assert format_n_percent(0, 49) == "0"
    assert format_n_percent(0, 49, zero="0 (0.0)") == "0 (0.0)"
    assert format_n_percent(47, 47) == "47 (100)"
    assert format_n_percent(1, 200) == "1 (0.5)"
    with pytest.raises(InputError, match="larger than the total"):
        format_n_percent(50, 49)
    with pytest.raises(InputError, match="whole numbers"):
        format_n_percent(1.5, 49)
    with pytest.raises(InputError, match="n, total"):
        format_n_percent(float("nan"), 49)


def test_mean_sd_median_and_estimate_layouts() -> None:
    assert format_mean_sd(48.27, 12.134) == "48.3 (12.13)"
    assert format_mean_sd(48.27, 12.134, 0, 1) == "48 (12.1)"
    assert format_median_iqr(13, 10.5, 16.25) == "13.0 [10.5, 16.3]"
    assert format_estimate_ci(-1.9215, -4.1532, 0.3166) == "-1.92 (-4.15, 0.32)"
    assert format_estimate_ci(28.0, 8.2, 46.4, 1) == "28.0 (8.2, 46.4)"
    assert format_estimate_ci(float("nan"), float("nan"), float("nan")) == "NE (NE, NE)"


@pytest.mark.parametrize(("p", "digits", "text"), [
    (0.0917, 3, "0.092"),
    (0.001, 3, "0.001"),
    (0.00099999, 3, "<0.001"),
    (0.0, 3, "<0.001"),
    (0.0499, 3, "0.050"),
    (0.9994, 3, "0.999"),
    (0.9996, 3, ">0.999"),
    (1.0, 3, ">0.999"),
    (0.00042, 4, "0.0004"),
    (0.00004, 4, "<0.0001"),
    (float("nan"), 3, ""),
])
def test_p_values(p: float, digits: int, text: str) -> None:
    assert format_p_value(p, digits) == text


def test_p_value_outside_0_1_is_an_error() -> None:
    with pytest.raises(InputError, match="p: must be a probability"):
        format_p_value(1.2)
    with pytest.raises(InputError, match="digits"):
        format_p_value(0.5, 0)


def test_json_value_turns_numpy_and_nan_into_json() -> None:
    assert json_value(np.int64(3)) == 3 and type(json_value(np.int64(3))) is int
    assert json_value(np.float64(np.nan)) is None and json_value(float("inf")) is None
    assert json_value(np.bool_(True)) is True
    assert json_value({"ci": np.array([1.0, np.nan])}) == {"ci": [1.0, None]}
    assert json_value(pd.NA) is None
    with pytest.raises(InputError, match="cannot be written to results.json"):
        json_value(object())


def test_numeric_frame_keeps_raw_values_and_formats_cells() -> None:
    frame = pd.DataFrame({"Published": [-1.92, 61.0], "Virtual": [-1.714, np.nan]}, index=["Diff", "Resp"])
    table = Table.from_frame(frame, id="table-4", title="Published vs virtual", digits=2)
    assert [r.cells for r in table.rows] == [("-1.92", "-1.71"), ("61.00", "NE")]
    assert [r.values for r in table.rows] == [(-1.92, -1.714), (61.0, None)]
    assert [c.label for c in table.columns] == ["Published", "Virtual"]
    assert not table.spanners


def test_two_level_columns_give_spanners() -> None:
    columns = pd.MultiIndex.from_tuples([("5 mg", "n"), ("5 mg", "%"), ("300 mg", "n"), ("300 mg", "%")])
    table = Table.from_frame(pd.DataFrame([["3", "6.4", "25", "53.2"]], columns=columns, index=["ISR"]),
                             id="t", title="t")
    assert table.spanners
    assert [c.key for c in table.columns] == ["5 mg: n", "5 mg: %", "300 mg: n", "300 mg: %"]
    assert table.rows[0].values == (None,) * 4  # text cells without values: no numbers claimed


def test_two_level_index_gives_groups_with_their_own_rows_and_headings() -> None:
    index = pd.MultiIndex.from_tuples([("Any event", ""), ("Infections", ""), ("Infections", "Nasopharyngitis"),
                                       ("Blood", "Leukopenia"), ("Blood", "Neutropenia")])
    frame = pd.DataFrame({"Placebo": ["41 (83.7)", "28 (57.1)", "9 (18.4)", "2 (4.1)", "1 (2.0)"]}, index=index)
    table = Table.from_frame(frame, id="table-3", title="AEs")
    layout = [(r.label, r.level, r.heading, r.group, r.cells) for r in table.rows]
    assert layout == [
        ("Any event", 0, False, "Any event", ("41 (83.7)",)),
        ("Infections", 0, False, "Infections", ("28 (57.1)",)),
        ("Nasopharyngitis", 1, False, "Infections", ("9 (18.4)",)),
        ("Blood", 0, True, None, ("",)),  # no row of its own: a heading is added
        ("Leukopenia", 1, False, "Blood", ("2 (4.1)",)),
        ("Neutropenia", 1, False, "Blood", ("1 (2.0)",)),
    ]


def test_group_and_concat_build_a_baseline_table() -> None:
    age = Table.from_frame(pd.DataFrame({"Placebo": ["48.0 (12.30)"]}, index=["Mean (SD)"]), id="age", title="",
                           group="Age (years)", footnotes=["SD: standard deviation."])
    sex = Table.from_frame(pd.DataFrame({"Placebo": ["47 (95.9)"]}, index=["Female"]), id="sex", title="",
                           footnotes=["SD: standard deviation."])
    table = Table.concat([age, sex], id="table-1", title="Table 1", stub_header="Characteristic")
    assert [(r.label, r.level, r.heading) for r in table.rows] == [("Age (years)", 0, True), ("Mean (SD)", 1, False),
                                                                  ("Female", 0, False)]
    assert table.footnotes == ("SD: standard deviation.",)
    assert str(table.summary()).splitlines() == [
        "Table 1",
        "",
        "Characteristic  Placebo",
        "Age (years)",
        "  Mean (SD)     48.0 (12.30)",
        "Female          47 (95.9)",
        "SD: standard deviation.",
    ]
    other = Table.from_frame(pd.DataFrame({"Active": ["1"]}, index=["x"]), id="o", title="")
    with pytest.raises(InputError, match="'o' has columns"):
        Table.concat([age, other], id="t", title="t")
    with pytest.raises(InputError, match="at least one"):
        Table.concat([], id="t", title="t")


def test_table_is_immutable_and_checked() -> None:
    table = Table.from_frame(pd.DataFrame({"A": [1.0]}, index=["x"]), id="t", title="T")
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.title = "other"  # type: ignore[misc]
    assert table.with_footnotes("note").footnotes == ("note",) and table.footnotes == ()
    with pytest.raises(InputError, match="id: must be lower-case"):
        Table.from_frame(pd.DataFrame({"A": [1.0]}), id="Table 1", title="T")
    with pytest.raises(InputError, match=r"rows\[0\] \('x'\) of table 't': has 2 cells"):
        Table(id="t", title="T", columns=(Column("A"),), rows=(dataclasses.replace(
            table.rows[0], cells=("1", "2"), values=(1, 2)),))
    with pytest.raises(InputError, match="cells must be formatted strings"):
        Table(id="t", title="T", columns=(Column("A"),), rows=(dataclasses.replace(table.rows[0], cells=(1.0,)),))
    with pytest.raises(InputError, match="values: must be a DataFrame of the shape"):
        Table.from_frame(pd.DataFrame({"A": ["1"]}), id="t", title="T", values=pd.DataFrame({"A": [1, 2]}))
    with pytest.raises(InputError, match="frame: must be a pandas DataFrame"):
        Table.from_frame([[1]], id="t", title="T")  # type: ignore[arg-type]


def test_to_dict_and_to_frame_hold_cells_values_and_labels() -> None:
    frame = pd.DataFrame({"n": [49, 47]}, index=pd.Index(["Placebo", "300 mg"], name="Arm"))
    table = Table.from_frame(frame, id="t", title="T", digits=0, synthetic=True)
    d = table.to_dict()
    assert d["stub_header"] == "Arm" and d["synthetic"] is True
    assert d["rows"][1] == {"label": "300 mg", "group": None, "level": 0, "heading": False, "cells": ["47"],
                            "values": [47]}
    assert table.to_frame().loc["300 mg", "n"] == "47"
    assert SYNTHETIC_LABEL in str(table.summary())


def test_display_value_decodes_cdisc_terms_and_leaves_the_rest() -> None:
    from dosefinding.report.table import display_value

    cases = {("F", "SEX"): "Female", ("m", "SEX"): "Male", ("SEVERE", "AESEV"): "Severe",
             ("WHITE", None): "White", ("AMERICAN INDIAN OR ALASKA NATIVE", None): "American Indian or Alaska Native",
             ("NATIVE HAWAIIAN OR OTHER PACIFIC ISLANDER", None): "Native Hawaiian or Other Pacific Islander",
             ("NOT HISPANIC OR LATINO", "ETHNIC"): "Not Hispanic or Latino", ("ESSDAI >= 10", "STRAT1R"): "ESSDAI >= 10",
             ("Xanomeline High Dose", "TRT01P"): "Xanomeline High Dose", ("<65", "AGEGR1"): "<65", ("F", None): "F"}
    assert {key: display_value(*key) for key in cases} == cases
    assert display_value("BLOOD AND LYMPHATIC SYSTEM DISORDERS", style="sentence") == (
        "Blood and lymphatic system disorders")
    with pytest.raises(InputError, match="style: must be 'title' or 'sentence'"):
        display_value("X", style="upper")
