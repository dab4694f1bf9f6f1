"""The CDISC pilot's CSR tables (layout ``csr`` on examples/cdiscpilot01_analysis.toml) against the pilot's
published numbers (tests/fixtures/cdiscpilot01/tlf_reference.json; sources in tlf_reference.md).

Counts must be equal. A printed mean, SD, estimate or p-value is matched to its printed digits: our
unrounded value lies within half a unit of the last printed digit (plus 1e-9 for binary fractions such
as 42.65). Rows the report does not show (the pilot's "Complete Study", its 14-3.01 descriptive
statistics, dose-response test and high-versus-low comparison) are checked against the data or the
model where this library computes them, so every published number is accounted for.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from scipy import stats

from dosefinding.datasets import cdisc_pilot_path
from dosefinding.report.table import Table
from dosefinding.study.pipeline import AnalysisResult, analyze
from report import libreoffice  # tests/report/libreoffice.py

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "cdiscpilot01_analysis.toml"
FIXTURES = ROOT / "tests" / "fixtures" / "cdiscpilot01"
REFERENCE = json.loads((FIXTURES / "tlf_reference.json").read_text(encoding="utf-8"))
ARMS = REFERENCE["arms"]


def printed(value: float, text: float, decimals: int) -> bool:
    """``value`` prints as ``text`` with ``decimals`` decimals (half a unit of the last digit, either rounding)."""
    return abs(value - text) <= 0.5 * 10.0 ** -decimals + 1e-9


def decimals_of(number: float) -> int:
    """The decimals a number was typed with in the fixture (``0.569`` -> 3, ``-1.0`` -> 1, ``12`` -> 0)."""
    text = repr(float(number))
    return 0 if float(number).is_integer() and "." not in str(number) else len(text.split(".")[1])


@pytest.fixture(scope="module")
def cdisc(tmp_path_factory: pytest.TempPathFactory) -> AnalysisResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analyze(SPEC, tmp_path_factory.mktemp("csr"))


@pytest.fixture(scope="module")
def tables(cdisc: AnalysisResult) -> dict[str, Table]:
    return {t.id: t for t in cdisc.report.tables}


@pytest.fixture(scope="module")
def adsl() -> pd.DataFrame:
    return pd.read_sas(cdisc_pilot_path() / "adsl.xpt", encoding="latin1")


def rows(table: Table, group: str | None = None) -> dict[str, tuple[Any, ...]]:
    return {r.label.strip(): r.values for r in table.rows if group is None or r.group == group}


def counts(values: tuple[Any, ...]) -> list[int]:
    return [v if isinstance(v, int) else int(v["n"]) for v in values]


def test_titles_follow_the_pilot(tables: dict[str, Table]) -> None:
    for key in ("table_14_1_01", "table_14_1_02", "table_14_2_01", "table_14_3_01", "table_14_3_11_week24_sas",
                "table_14_5_01"):
        ref = REFERENCE[key]
        number = re.match(r"Table (14-\d\.\d\d)", ref["title"]).group(1)
        table = tables[f"table-{number.replace('.', '-')}"]
        assert table.title == ref["title"]
        assert table.subtitle == f"Population: {ref['population']}"


def test_populations_14_1_01(tables: dict[str, Table], adsl: pd.DataFrame) -> None:
    ref = REFERENCE["table_14_1_01"]["rows"]
    ours = rows(tables["table-14-1-01"])
    mine = {"Randomised": "Intent-To-Treat (ITT)", "Safety set": "Safety", "Full analysis set": "Efficacy",
            "Completed": "Complete Week 24"}
    assert set(ours) == set(mine)
    for label, theirs in mine.items():
        assert counts(ours[label]) == ref[theirs][:3], label
        assert sum(counts(ours[label])) == ref[theirs][3], label
    # the pilot's "Complete Study" row is not a population flag of this ADSL: DCDECOD = "COMPLETED"
    completed = adsl[adsl["DCDECOD"] == "COMPLETED"]["TRT01P"].value_counts()
    assert [int(completed[a]) for a in ARMS] == ref["Complete Study"][:3]


def test_end_of_study_14_1_02_is_the_disposition_of_adsl(tables: dict[str, Table], cdisc: AnalysisResult) -> None:
    ref = REFERENCE["table_14_1_02"]
    ours = rows(tables["table-14-1-02"])
    assert counts(ours["Completed"]) == ref["completion"]["Completed Week 24"][:3]
    assert counts(ours["Discontinued"]) == ref["completion"]["Early Termination (prior to Week 24)"][:3]
    shown = {label: counts(v) for label, v in ours.items()
             if label not in ("Randomised", "Treated", "Completed", "Discontinued")}
    expected = {ref["adsl_reason_code"][name]: n[:3] for name, n in ref["reasons"].items() if sum(n[:3])}
    assert shown == expected
    assert cdisc.results.disposition.screened is None  # no DS here: no invented screening count
    assert "Screening: not recorded in the data." in tables["table-14-1-02"].footnotes


def test_demographics_14_2_01(tables: dict[str, Table], cdisc: AnalysisResult) -> None:
    ref = REFERENCE["table_14_2_01"]
    table = tables["table-14-2-01"]
    groups = {r.label: r.label for r in table.rows if r.heading}
    labels = dict(cdisc.results.spec.baseline.variables)  # the spec's labels name the rows (over the XPT labels)
    for column, expected in ref["continuous"].items():
        ours = rows(table, groups[labels[column]])
        assert counts(ours["n"]) == expected["n"], column
        mean_digits, sd_digits = expected["decimals"]
        for j in range(4):
            cell = ours["Mean (SD)"][j]
            assert printed(cell["mean"], expected["mean"][j], mean_digits), (column, j, cell["mean"])
            assert printed(cell["sd"], expected["sd"][j], sd_digits), (column, j, cell["sd"])
            if "median" in expected:
                assert printed(ours["Median [Q1, Q3]"][j]["median"], expected["median"][j], 1)
                assert ours["Min, Max"][j] == {"min": expected["min"][j], "max": expected["max"][j]}
    levels = {"AGEGR1": (labels["AGEGR1"], {"<65": "<65", "65-80": "65-80", ">80": ">80"}),
              "SEX": (labels["SEX"], {"M": "Male", "F": "Female"}),
              "DURDSGR1": (labels["DURDSGR1"], {"<12": "<12", ">=12": ">=12"})}
    for column, (group, names) in levels.items():
        ours = rows(table, group)
        for level, n in ref["categorical"][column].items():
            assert counts(ours[names[level]]) == n, (column, level)
    race, ethnicity = rows(table, "Race"), rows(table, "Ethnicity")
    recorded = ref["race_as_recorded"]
    assert counts(race["White"])[:3] == recorded["WHITE"]
    assert counts(race["Black or African American"])[:3] == recorded["BLACK OR AFRICAN AMERICAN"]
    assert counts(race["American Indian or Alaska Native"])[:3] == recorded["AMERICAN INDIAN OR ALASKA NATIVE"]
    # the pilot's "Race (Origin)": Caucasian + Hispanic = White (every Hispanic subject is White here)
    origin = ref["race_origin"]
    assert counts(ethnicity["Hispanic or Latino"]) == origin["Hispanic"]
    assert counts(race["White"]) == [c + h for c, h in zip(origin["Caucasian"], origin["Hispanic"], strict=True)]
    assert counts(race["Black or African American"]) == origin["African Descent"]
    assert counts(race["American Indian or Alaska Native"]) == origin["Other"]


def test_primary_ancova_locf_14_3_01(tables: dict[str, Table]) -> None:
    ref = REFERENCE["table_14_3_01"]
    ours = rows(tables["table-14-3-01"], "ADAS-Cog(11), LOCF")
    assert counts(ours["n"]) == ref["header_n"]
    for j, arm in enumerate(ARMS[1:], start=1):
        theirs = ref["versus_placebo"][arm]
        diff = ours["Difference to placebo (95% CI)"][j]
        for key, name in (("estimate", "difference"), ("se", "se"), ("lower", "lower"), ("upper", "upper")):
            assert printed(diff[key], theirs[name], decimals_of(theirs[name])), (arm, key, diff[key])
        assert printed(ours["p-value"][j], theirs["p"], 3), (arm, ours["p-value"][j])


def test_primary_ancova_locf_rows_and_model_beyond_the_table(cdisc: AnalysisResult) -> None:
    """The analysed rows reproduce the pilot's descriptive block; the model its high-versus-low contrast."""
    ref = REFERENCE["table_14_3_01"]
    fit = cdisc.results.fit("ACTOT_LOCF")
    data = fit.data
    arm = cdisc.results.spec.arms.variable
    for block, column in (("Baseline", "BASE"), ("Week 24", "AVAL"), ("Change from Baseline", "CHG")):
        theirs = ref["descriptive"][block]
        for j, name in enumerate(ARMS):
            values = data.loc[data[arm] == name, column].astype(float)
            assert len(values) == theirs["n"][j]
            assert printed(values.mean(), theirs["mean"][j], 1), (block, name, values.mean())
            assert printed(values.std(), theirs["sd"][j], 2), (block, name, values.std())
            assert printed(values.median(), theirs["median"][j], 1)
            assert printed(values.min(), theirs["min"][j], 0) and printed(values.max(), theirs["max"][j], 0)
    # high minus low dose from the fitted coefficients (treatment coding against placebo)
    names = list(fit.fit.coefficients.index)
    low = next(n for n in names if n.endswith(("Low Dose]", "Low Dose")))
    high = next(n for n in names if n.endswith(("High Dose]", "High Dose")))
    beta, cov = fit.fit.coefficients, fit.fit.coefficient_cov
    estimate = float(beta[high] - beta[low])
    se = math.sqrt(float(cov.loc[high, high] + cov.loc[low, low] - 2 * cov.loc[high, low]))
    df = fit.fit.n_obs - len(names)
    p = 2 * stats.t.sf(abs(estimate / se), df)
    half = stats.t.ppf(0.975, df) * se
    theirs = ref["high_versus_low"]
    assert printed(estimate, theirs["difference"], 1) and printed(se, theirs["se"], 2)
    assert printed(estimate - half, theirs["lower"], 1) and printed(estimate + half, theirs["upper"], 1)
    assert printed(p, theirs["p"], 3), p


def test_repeated_measures_14_3_11_equals_sas_at_week_24(tables: dict[str, Table]) -> None:
    ref = REFERENCE["table_14_3_11_week24_sas"]
    ours = rows(tables["table-14-3-11"], "ADAS-Cog(11), repeated measures")
    for j in range(3):
        assert printed(ours["LS mean change (95% CI)"][j]["estimate"], ref["lsmeans"][j], 4)
    for j, arm in enumerate(ARMS[1:], start=1):
        theirs = ref["placebo_minus_active"][arm]
        assert printed(-ours["Difference to placebo (95% CI)"][j]["estimate"], theirs["difference"], 4)
        assert printed(ours["p-value"][j], theirs["p"], 4)


def test_teae_incidence_14_5_01(tables: dict[str, Table], cdisc: AnalysisResult) -> None:
    ref = REFERENCE["table_14_5_01"]
    incidence = cdisc.results.safety.incidence
    frame = incidence.counts
    n = [int(incidence.denominators[a]) for a in ARMS]
    assert n == ref["header_n"]
    assert [int(frame.loc[("ANY EVENT", ""), a]) for a in ARMS] == ref["any"]["subjects"]
    socs = {k for k in frame.index.get_level_values(0) if k != "ANY EVENT"}
    assert socs == set(ref["system_organ_class"])
    for soc, expected in ref["system_organ_class"].items():
        assert [int(frame.loc[(soc, ""), a]) for a in ARMS] == expected, soc
    for key, expected in ref["preferred_term"].items():
        soc, term = key.split("|")
        got = [int(frame.loc[(soc, term), a]) for a in ARMS]
        assert got == expected["n"], key
        for j, printed_p in enumerate(expected["fisher_vs_placebo"], start=1):
            p = stats.fisher_exact([[got[0], n[0] - got[0]], [got[j], n[j] - got[j]]])[1]
            assert p > 0.99 if printed_p == 1.0 else printed(p, printed_p, 3), (key, j, p)
    for j, printed_p in enumerate(ref["any"]["fisher_vs_placebo"], start=1):
        any_ = ref["any"]["subjects"]
        p = stats.fisher_exact([[any_[0], n[0] - any_[0]], [any_[j], n[j] - any_[j]]])[1]
        assert printed(p, printed_p, 3)
    # the report's table: the same counts, percentages to the pilot's one decimal, every term shown
    table = tables["table-14-5-01"]
    shown = {(r.group or r.label).upper() if r.level == 0 else f"{r.group.upper()}|{r.label.upper()}": r.values
             for r in table.rows}
    assert [v["n"] for v in shown["ANY ADVERSE EVENT"]] == ref["any"]["subjects"]
    assert all(printed(v["percent"], p, 1) for v, p in zip(shown["ANY ADVERSE EVENT"], ref["any"]["percent"],
                                                             strict=True))
    for soc, expected in ref["system_organ_class"].items():
        assert [v["n"] for v in shown[soc]] == expected, soc
    for key, expected in ref["preferred_term"].items():
        assert [v["n"] for v in shown[key]] == expected["n"], key
    assert sum(r.level == 1 for r in table.rows) == int((frame.index.get_level_values(1) != "").sum())


def test_teae_rtf_converts_with_libreoffice_and_repeats_its_header(cdisc: AnalysisResult, tables: dict[str, Table],
                                                                    tmp_path: Path) -> None:
    """Table 14-5.01 (every preferred term, several pages): LibreOffice renders the planned pages, each with
    "Page i of N", the title, the population and the column header row; every body row once, in order."""
    rtf = cdisc.files.rtf["table-14-5-01"]
    planned = int(re.search(r"NUMPAGES }{\\fldrslt (\d+)}", rtf.read_text(encoding="utf-8")).group(1))
    pages = libreoffice.pdf_pages(libreoffice.rtf_to_pdf(rtf, tmp_path))
    assert len(pages) == planned > 1
    table = tables["table-14-5-01"]
    header = " ".join(c.label for c in table.columns)
    labels = []
    for number, text in enumerate(pages, start=1):
        lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
        assert lines[0] == f"Page {number} of {planned}"
        assert lines[1:4] == [table.title, table.subtitle, header], number
        labels += lines[4:]
    body = [" ".join([r.label, *r.cells]).strip() for r in table.rows]
    found = [line for line in labels if line in body]
    assert found == body
    assert all(note in " ".join(labels) for note in table.footnotes)
