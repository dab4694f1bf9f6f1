"""Table 3 (``safety_table``): the overview rows once, then SOC/PT rows >= min_percent, reader-facing words only.

Exact cells on a hand-made safety set (counted by hand in the comments) and on the CDISC
pilot ADAE: one "any adverse event" row (the incidence table's own ANY EVENT row is not
repeated), no variable name in any label or footnote; the any-AE counts are those of the
CDISC pilot's Table 14-5.01 (65, 77, 76 patients).
"""

from __future__ import annotations

import pandas as pd
import pytest

from dosefinding.adam import read_adam
from dosefinding.datasets import cdisc_pilot_path
from dosefinding.endpoints import ae_incidence, ae_overview
from dosefinding.errors import InputError
from dosefinding.report.clinical import safety_table

PILOT = cdisc_pilot_path()
VARIABLES = ("AEBODSYS", "AEDECOD", "AESEV", "AESER", "AEACN", "AEREL", "DTHFL", "DSRAEFL", "TRTEMFL", "AETOXGR")


@pytest.fixture
def small() -> tuple[pd.DataFrame, pd.DataFrame]:
    # 10 patients per arm; no DTHFL in ADSL: deaths are not recorded
    adsl = pd.DataFrame({"USUBJID": [f"{a}{i}" for a in "PD" for i in range(10)],
                         "TRT01A": ["Placebo"] * 10 + ["Drug"] * 10, "SAFFL": ["Y"] * 20})
    rows = [  # subject, SOC, PT, severity, serious, action
        ("P0", "INFECTIONS AND INFESTATIONS", "NASOPHARYNGITIS", "MILD", "N", "DOSE NOT CHANGED"),
        ("P1", "INFECTIONS AND INFESTATIONS", "NASOPHARYNGITIS", "MODERATE", "N", "DOSE NOT CHANGED"),
        ("P1", "INFECTIONS AND INFESTATIONS", "SINUSITIS", "MILD", "N", "DOSE NOT CHANGED"),
        ("D0", "INFECTIONS AND INFESTATIONS", "NASOPHARYNGITIS", "SEVERE", "Y", "DRUG WITHDRAWN"),
        ("D1", "GENERAL DISORDERS AND ADMINISTRATION SITE CONDITIONS", "INJECTION SITE REACTION", "MILD", "N",
         "DOSE NOT CHANGED"),
        ("D2", "GENERAL DISORDERS AND ADMINISTRATION SITE CONDITIONS", "INJECTION SITE REACTION", "MILD", "N",
         "DOSE NOT CHANGED"),
    ]
    adae = pd.DataFrame(rows, columns=["USUBJID", "AEBODSYS", "AEDECOD", "AESEV", "AESER", "AEACN"]).assign(
        TRTEMFL="Y", AEREL="NOT RELATED", AEOUT="RECOVERED/RESOLVED")
    return adae, adsl


def test_small_safety_table_cells(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    adae, adsl = small
    kw = {"arms": ["Placebo", "Drug"]}
    table = safety_table(ae_overview(adae, adsl, **kw), ae_incidence(adae, adsl, **kw), min_percent=15)
    assert [c.label for c in table.columns] == ["Placebo (N=10)", "Drug (N=10)"]
    assert [("  " * r.level + r.label, r.cells) for r in table.rows] == [
        ("Any adverse event", ("2 (20%)", "3 (30%)")),
        ("Serious adverse events", ("0", "1 (10%)")),
        ("Adverse events leading to discontinuation", ("0", "1 (10%)")),
        ("Severe adverse events", ("0", "1 (10%)")),
        ("Infections and infestations", ("2 (20%)", "1 (10%)")),
        ("  Nasopharyngitis", ("2 (20%)", "1 (10%)")),        # sinusitis: 10% < 15%, not shown
        ("General disorders and administration site conditions", ("0", "2 (20%)")),
        ("  Injection site reaction", ("0", "2 (20%)")),
    ]
    assert table.footnotes == (
        "Patients with more than one event are counted once in each row.",
        "Deaths: not recorded in the data (no death flag).",
        ("Preferred terms reported by at least 15% of the patients in any arm, under their system organ class "
        "(MedDRA)."),
    )
    assert table.rows[1].values[1] == {"n": 1, "percent": 10.0}
    with_total = safety_table(ae_overview(adae, adsl, **kw), ae_incidence(adae, adsl, **kw), total=True, digits=1,
                              percent_sign=False)
    assert with_total.rows[0].cells == ("2 (20.0)", "3 (30.0)", "5 (25.0)")


def test_cdisc_pilot_table_3_has_one_any_event_row_and_no_internal_notes() -> None:
    adsl, adae = read_adam(PILOT / "adsl.xpt"), read_adam(PILOT / "adae.xpt")
    table = safety_table(ae_overview(adae, adsl), ae_incidence(adae, adsl), min_percent=5)
    labels = [r.label for r in table.rows]
    assert labels[:5] == ["Any adverse event", "Serious adverse events", "Adverse events leading to discontinuation",
                          "Severe adverse events", "Deaths"]
    assert sum("any" in label.lower() and "event" in label.lower() for label in labels) == 1
    assert table.rows[0].values == ({"n": 65, "percent": pytest.approx(100 * 65 / 86)},
                                    {"n": 77, "percent": pytest.approx(100 * 77 / 84)},
                                    {"n": 76, "percent": pytest.approx(100 * 76 / 84)})
    text = " ".join(labels + list(table.footnotes) + [table.title])
    assert not any(v in text for v in VARIABLES) and "ANY EVENT" not in text
    assert not any(label.isupper() for label in labels)
    assert "Application site pruritus" in labels and "General disorders and administration site conditions" in labels


def test_mismatched_tables_are_refused(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    adae, adsl = small
    overview = ae_overview(adae, adsl, arms=["Placebo", "Drug"])
    with pytest.raises(InputError, match="incidence: must be the SOC/PT table"):
        safety_table(overview, overview)
    with pytest.raises(InputError, match="different arms"):
        safety_table(overview, ae_incidence(adae, adsl, arms=["Drug", "Placebo"]))


def test_graded_data_show_the_grade_row(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    adae, adsl = small
    graded = adae.drop(columns="AESEV").assign(AETOXGR=[1, 2, 1, 3, 1, 1])
    kw = {"arms": ["Placebo", "Drug"]}
    table = safety_table(ae_overview(graded, adsl, **kw), ae_incidence(graded, adsl, **kw), min_percent=15)
    assert [(r.label, r.cells) for r in table.rows[:4]] == [
        ("Any adverse event", ("2 (20%)", "3 (30%)")), ("Serious adverse events", ("0", "1 (10%)")),
        ("Adverse events leading to discontinuation", ("0", "1 (10%)")),
        ("Adverse events of CTC grade 3 or higher", ("0", "1 (10%)"))]
