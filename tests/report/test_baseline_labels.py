"""Table 1 as a reader sees it: the data's own labels, decoded values, Y/N flags as one row, journal decimals.

Exact cell strings on small hand-made frames; on the CDISC pilot ADSL (the XPT's own
variable labels) no raw code (``F``, ``WHITE``) and no variable name is left in the table.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dosefinding.adam import read_adam
from dosefinding.datasets import cdisc_pilot_path
from dosefinding.errors import InputError
from dosefinding.report import baseline_table

ADSL = cdisc_pilot_path() / "adsl.xpt"


def xpt_labels(path: Path) -> dict[str, str]:
    """The variable labels of a SAS transport file (what read_adam puts in ``attrs["labels"]``)."""
    with pd.read_sas(path, format="xport", iterator=True, encoding=None) as reader:
        return {f["name"].decode().strip(): f["label"].decode("latin-1").strip() for f in reader.fields}


@pytest.fixture
def patients() -> pd.DataFrame:
    frame = pd.DataFrame({
        "TRT01P": ["Placebo"] * 4 + ["300 mg"] * 3,
        "AGE": [40, 50, 61, 43, 45, 55, 52],
        "WEIGHTBL": [60.25, 71.0, 80.5, 66.0, 90.0, 58.5, 77.25],
        "SEX": ["F", "F", "M", "F", "F", "F", "F"],
        "RACE": ["WHITE", "WHITE", "BLACK OR AFRICAN AMERICAN", "ASIAN", "WHITE", "WHITE", "WHITE"],
        "ANAFL": ["Y", "Y", "N", "Y", "Y", "N", None],
        "DTHFL": ["", "", "Y", "", "", "", ""],
    })
    frame.attrs["labels"] = {"AGE": "Age (years)", "ANAFL": "ANA positive", "SEX": "Sex", "RACE": "Race"}
    return frame


def test_labels_decoded_values_and_flags_in_journal_style(patients: pd.DataFrame) -> None:
    table = baseline_table(patients, arm="TRT01P", variables={"AGE": "", "WEIGHTBL": "Weight (kg)", "SEX": "",
                                                              "RACE": "", "ANAFL": "", "DTHFL": "Died"},
                           statistics=["mean_sd"], sd_digits=1, percent_digits=0, percent_sign=True, total=False)
    assert [(r.label, r.cells) for r in table.rows] == [
        ("Age (years), mean (SD)", ("48.5 (9.3)", "50.7 (5.1)")),
        ("Weight (kg), mean (SD)", ("69.4 (8.6)", "75.3 (15.8)")),
        ("Sex", ("", "")),
        ("Female", ("3 (75%)", "3 (100%)")),
        ("Male", ("1 (25%)", "0")),
        ("Race", ("", "")),
        ("Asian", ("1 (25%)", "0")),
        ("Black or African American", ("1 (25%)", "0")),
        ("White", ("2 (50%)", "3 (100%)")),
        ("ANA positive", ("3 (75%)", "1 (33%)")),
        ("Missing", ("0", "1 (33%)")),   # ANAFL has N: a blank is missing
        ("Died", ("1 (25%)", "0")),      # DTHFL is Y or blank: a blank is "no"
    ]
    anafl = next(r for r in table.rows if r.label == "ANA positive")
    assert anafl.values[1] == {"n": 1, "percent": pytest.approx(100 / 3, rel=1e-15)}


def test_paper_style(patients: pd.DataFrame) -> None:
    from dosefinding.report.baseline import PAPER_STYLE

    table = baseline_table(patients, arm="TRT01P", variables=["AGE", "SEX"], **PAPER_STYLE)
    assert [(r.label, r.cells) for r in table.rows] == [
        ("Age (years), mean (SD)", ("48.5 (9.3)", "50.7 (5.1)")), ("Sex", ("", "")),
        ("Female", ("3 (75%)", "3 (100%)")), ("Male", ("1 (25%)", "0"))]


def test_label_order_given_then_data_then_name(patients: pd.DataFrame) -> None:
    """A label the report gives (the paper's "Age (years)") wins over the data's ("Age at screening"); the data's
    label names a column the report gives no label for (or only its name)."""
    patients.attrs["labels"] = {"AGE": "Age at screening", "WEIGHTBL": "Weight at baseline"}
    table = baseline_table(patients, arm="TRT01P", variables={"AGE": "Age (years)", "WEIGHTBL": "WEIGHTBL"},
                           statistics=["mean_sd"])
    assert [r.label for r in table.rows] == ["Age (years), mean (SD)", "Weight at baseline, mean (SD)"]
    patients.attrs["labels"] = {}
    bare = baseline_table(patients, arm="TRT01P", variables=["WEIGHTBL"],
                          statistics=["n"])
    assert bare.rows[0].label == "WEIGHTBL, n"


def test_decode_false_keeps_the_data_values(patients: pd.DataFrame) -> None:
    table = baseline_table(patients, arm="TRT01P", variables=["SEX", "ANAFL"], decode=False)
    assert [r.label for r in table.rows if not r.heading] == ["F", "M", "N", "Y", "Missing"]


def test_bad_statistics_and_digits_are_named(patients: pd.DataFrame) -> None:
    with pytest.raises(InputError, match=r"statistics: must be some of"):
        baseline_table(patients, arm="TRT01P", variables=["AGE"], statistics=["mean"])
    with pytest.raises(InputError, match=r"sd_digits: column\(s\) \['BMI'\]"):
        baseline_table(patients, arm="TRT01P", variables=["AGE"], sd_digits={"BMI": 1})


def test_cdisc_pilot_adsl_shows_labels_and_decoded_values() -> None:
    adsl = read_adam(ADSL)
    adsl.attrs["labels"] = xpt_labels(ADSL)
    table = baseline_table(adsl, arm="TRT01P", variables=["AGE", "AGEGR1", "SEX", "RACE", "ETHNIC", "WEIGHTBL",
                                                          "DTHFL"],
                           arms=["Placebo", "Xanomeline Low Dose", "Xanomeline High Dose"],
                           statistics=["mean_sd"], sd_digits=1, percent_digits=0)
    labels = [r.label for r in table.rows]
    assert labels == [
        "Age, mean (SD)", "Pooled Age Group 1", "65-80", "<65", ">80", "Sex", "Female", "Male",
        "Race", "American Indian or Alaska Native", "Black or African American", "White",
        "Ethnicity", "Hispanic or Latino", "Not Hispanic or Latino", "Baseline Weight (kg), mean (SD)",
        "Subject Died?"]
    raw = {"F", "M", "WHITE", "BLACK OR AFRICAN AMERICAN", "HISPANIC OR LATINO", "Y", "N"}
    names = set(adsl.columns)
    assert not any(label in raw or label in names for label in labels)
    # the counts are the data's: 53 women and 33 men on placebo (CDISC pilot Table 14-2.01)
    female = next(r for r in table.rows if r.label == "Female")
    assert female.cells[0] == "53 (62)" and female.values[0]["n"] == 53


def test_disease_characteristics_rows_when_the_data_have_them(patients: pd.DataFrame) -> None:
    from dosefinding.report.baseline import DISEASE_CHARACTERISTICS

    data = patients.assign(DIAGDUR=[5.0, 6.5, 7.0, 4.5, 3.0, 8.0, 6.0], RFFL=["Y", "N", "N", "Y", "Y", "Y", "N"])
    table = baseline_table(data, arm="TRT01P", variables={"AGE": ""}, optional=DISEASE_CHARACTERISTICS,
                           statistics=["mean_sd"], sd_digits=1, percent_digits=0, total=False)
    assert [(r.label, r.cells) for r in table.rows if r.label != "Missing"] == [
        ("Age (years), mean (SD)", ("48.5 (9.3)", "50.7 (5.1)")),
        ("Time since diagnosis (years), mean (SD)", ("5.8 (1.2)", "5.7 (2.5)")),
        ("ANA positive", ("3 (75)", "1 (33)")),
        ("RF positive", ("2 (50)", "2 (67)")),
    ]


def test_one_statistic_per_variable_is_one_row(patients: pd.DataFrame) -> None:
    rows = [baseline_table(patients, arm="TRT01P", variables={"AGE": ""}, statistics=[s], total=False).rows[0]
            for s in ("n", "median_iqr", "min_max")]
    assert [(r.label, r.cells) for r in rows] == [
        ("Age (years), n", ("4", "3")),
        ("Age (years), median [Q1, Q3]", ("46.5 [41.5, 55.5]", "52.0 [45.0, 55.0]")),
        ("Age (years), min, max", ("40.0, 61.0", "45.0, 55.0")),
    ]
