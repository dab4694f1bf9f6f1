"""Adverse-event tables on the CDISC pilot study (CDISCPILOT01, ADAE with ADSL).

Two independent references:

- hand counts written here with plain pandas on the raw XPT files (``pandas.read_sas``,
  not :func:`dosefinding.adam.read_adam`): distinct USUBJID with TRTEMFL == "Y" and a
  given AEDECOD / AEBODSYS, per ADSL TRT01A among ADSL SAFFL == "Y";
- base R (tests/fixtures/r/safety_reference.R, foreign::read.xport, fisher.test,
  poisson.test): every SOC and PT count, Fisher p-values against placebo, the overview,
  maximum severity and exposure-adjusted rates.

Tolerances: counts exactly; Fisher p-values 1e-9 relative (both sum the same
hypergeometric probabilities; measured 4e-15); patient-years and rates 1e-12 relative
(sums of whole days); exact Poisson limits 1e-10 relative (R qgamma vs scipy chi2.ppf,
measured 3e-15).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dosefinding.adam import read_adam
from dosefinding.datasets import cdisc_pilot_path
from dosefinding.endpoints.adverse_events import (
    ANY_EVENT,
    ae_by_severity,
    ae_incidence,
    ae_overview,
    ae_special_interest,
)
from dosefinding.endpoints.exposure import exposure_adjusted_rates
from dosefinding.endpoints.safety import safety_set
from dosefinding.errors import InputError

DATA = cdisc_pilot_path()
FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "r" / "safety_reference.json").read_text())
ARMS = ["Placebo", "Xanomeline Low Dose", "Xanomeline High Dose"]


def _raw(name: str) -> pd.DataFrame:
    frame = pd.read_sas(DATA / name, format="xport", encoding=None)
    for col in frame.columns:
        if frame[col].dtype == object:
            frame[col] = frame[col].map(lambda v: v.decode("latin-1") if isinstance(v, bytes) else v)
    return frame


@pytest.fixture(scope="module")
def raw() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _raw("adae.xpt"), _raw("adsl.xpt")


@pytest.fixture(scope="module")
def adam() -> tuple[pd.DataFrame, pd.DataFrame]:
    return read_adam(DATA / "adae.xpt"), read_adam(DATA / "adsl.xpt")


@pytest.fixture(scope="module")
def incidence(adam):
    adae, adsl = adam
    return ae_incidence(adae, adsl, reference="Placebo")


def _hand_count(raw, column: str, value: str) -> dict[str, int]:
    adae, adsl = raw
    safety = adsl[adsl["SAFFL"] == "Y"]
    events = adae[(adae["TRTEMFL"] == "Y") & (adae[column] == value)]
    subjects = set(events["USUBJID"])
    return {arm: int(safety[(safety["TRT01A"] == arm) & safety["USUBJID"].isin(subjects)].shape[0]) for arm in ARMS}


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("AEDECOD", "APPLICATION SITE PRURITUS"),
        ("AEDECOD", "DIZZINESS"),
        ("AEDECOD", "SINUS BRADYCARDIA"),
        ("AEBODSYS", "CARDIAC DISORDERS"),
        ("AEBODSYS", "SKIN AND SUBCUTANEOUS TISSUE DISORDERS"),
    ],
)
def test_counts_match_hand_count(raw, incidence, column, value):
    expected = _hand_count(raw, column, value)
    counts = incidence.counts
    if column == "AEBODSYS":
        row = counts.loc[(value, "")]
    else:
        row = counts.xs(value, level="AEDECOD").iloc[0]
    assert {arm: int(row[arm]) for arm in ARMS} == expected
    assert int(row["Total"]) == sum(expected.values())


def test_denominators_are_safety_population_by_treatment_received(raw, incidence):
    _, adsl = raw
    safety = adsl[adsl["SAFFL"] == "Y"]
    expected = safety["TRT01A"].value_counts()
    assert incidence.denominators[ARMS].to_dict() == {arm: int(expected[arm]) for arm in ARMS}
    assert incidence.denominators["Total"] == len(safety) == 254
    assert incidence.denominators.to_dict() == {**FIXTURE["N"], "Total": 254}


def test_application_site_pruritus_by_hand_numbers(incidence):
    """Hand count from the listing: 6, 22, 22 subjects (of 86, 84, 84)."""
    row = incidence.counts.loc[("GENERAL DISORDERS AND ADMINISTRATION SITE CONDITIONS", "APPLICATION SITE PRURITUS")]
    assert row.tolist() == [6, 22, 22, 50]
    pct = incidence.percent.loc[("GENERAL DISORDERS AND ADMINISTRATION SITE CONDITIONS", "APPLICATION SITE PRURITUS")]
    np.testing.assert_allclose(pct.to_numpy(), [600 / 86, 2200 / 84, 2200 / 84, 5000 / 254], rtol=1e-12)


def test_every_soc_and_pt_matches_r(incidence):
    counts, p = incidence.counts, incidence.p_values
    assert counts.loc[(ANY_EVENT, "")][ARMS].to_dict() == FIXTURE["any"]["n"]
    soc_rows = [key for key in counts.index if key[0] != ANY_EVENT and key[1] == ""]
    pt_rows = [key for key in counts.index if key[1] != ""]
    assert len(soc_rows) == len(FIXTURE["soc"]) == 23
    assert len(pt_rows) == len(FIXTURE["pt"]) == 242 - 12  # 12 PTs occur only before treatment
    for ref in FIXTURE["soc"]:
        key = (ref["soc"], "")
        assert counts.loc[key, ARMS].to_dict() == ref["n"], key
        np.testing.assert_allclose(p.loc[key, ARMS[1:]].to_numpy(float), [ref["p"][a] for a in ARMS[1:]], rtol=1e-9)
    for ref in FIXTURE["pt"]:
        key = (ref["soc"], ref["pt"])
        assert counts.loc[key, ARMS].to_dict() == ref["n"], key
        np.testing.assert_allclose(p.loc[key, ARMS[1:]].to_numpy(float), [ref["p"][a] for a in ARMS[1:]], rtol=1e-9)
    np.testing.assert_allclose(
        p.loc[(ANY_EVENT, ""), ARMS[1:]].to_numpy(float), [FIXTURE["any"]["p"][a] for a in ARMS[1:]], rtol=1e-9
    )


def test_fisher_p_values_agree_with_scipy(incidence):
    n = incidence.denominators
    for key in incidence.counts.index[:40]:
        row = incidence.counts.loc[key]
        for arm in ARMS[1:]:
            table = [[row[arm], n[arm] - row[arm]], [row["Placebo"], n["Placebo"] - row["Placebo"]]]
            expected = stats.fisher_exact(table).pvalue
            assert incidence.p_values.loc[key, arm] == pytest.approx(expected, rel=1e-9)


def test_rows_sorted_by_decreasing_total_then_name(incidence):
    index = incidence.counts.index
    total = incidence.counts["Total"]
    socs = [key for key in index if key[1] == "" and key[0] != ANY_EVENT]
    keys = [(-total[key], key[0]) for key in socs]
    assert keys == sorted(keys)
    assert index[0] == (ANY_EVENT, "")
    for soc, _ in socs:
        pts = [key for key in index if key[0] == soc and key[1] != ""]
        keys = [(-total[key], key[1]) for key in pts]
        assert keys == sorted(keys)
        # each PT directly follows its SOC row
        position = index.get_loc((soc, ""))
        assert list(index[position + 1 : position + 1 + len(pts)]) == pts


def test_soc_count_at_most_sum_of_its_pts_and_at_least_max(incidence):
    counts = incidence.counts
    for soc in {key[0] for key in counts.index if key[0] != ANY_EVENT}:
        pts = counts.loc[[key for key in counts.index if key[0] == soc and key[1] != ""]]
        soc_row = counts.loc[(soc, "")]
        assert (soc_row <= pts.sum()).all() and (soc_row >= pts.max()).all()


def test_overview_matches_r(adam):
    adae, adsl = adam
    table = ae_overview(adae, adsl, reference="Placebo")
    ref = FIXTURE["overview"]
    counts = table.counts
    for label, key in [
        ("Any TEAE", "any"),
        ("Serious TEAE", "serious"),
        ("Severe TEAE", "severe"),
        ("Related TEAE", "related"),
        ("TEAE leading to discontinuation", "discontinued_dsraefl"),
        ("TEAE with fatal outcome", "fatal"),
        ("Deaths", "deaths"),
    ]:
        assert counts.loc[label, ARMS].to_dict() == ref[key], label
    assert any("action taken with study treatment is not recorded" in note for note in table.notes)
    assert any("Relationship to study treatment missing for" in note for note in table.notes)
    assert "Overview of TEAE" in str(table.summary())


def test_overview_discontinuation_from_aeacn_when_present(adam):
    adae, adsl = adam
    adae = adae.copy()
    withdrawn = adae.index[(adae["AEDECOD"] == "APPLICATION SITE PRURITUS") & (adae["TRTEMFL"] == "Y")]
    adae.loc[withdrawn, "AEACN"] = "DRUG WITHDRAWN"
    counts = ae_overview(adae, adsl).counts
    expected = ae_incidence(adae, adsl).counts.xs("APPLICATION SITE PRURITUS", level="AEDECOD").iloc[0]
    assert counts.loc["TEAE leading to discontinuation"].tolist() == expected.tolist()
    with pytest.raises(InputError, match="DSRAEFL"):
        ae_overview(adae, adsl.drop(columns="DSRAEFL"), discontinuation="DSRAEFL")


def test_maximum_severity_matches_r_and_adds_up(adam, incidence):
    adae, adsl = adam
    table = ae_by_severity(adae, adsl)
    ref = FIXTURE["severity"]
    for level in ("MILD", "MODERATE", "SEVERE"):
        assert table.counts.loc[(ANY_EVENT, "", level), ARMS].to_dict() == ref["any"][level]
    for item in ref["pts"]:
        rows = table.counts.xs(item["pt"], level="AEDECOD")
        for level in ("MILD", "MODERATE", "SEVERE"):
            assert rows.xs(level, level="AESEV").iloc[0][ARMS].to_dict() == item["levels"][level]
    summed = table.counts.groupby(level=[0, 1], sort=False).sum()
    pd.testing.assert_frame_equal(summed.loc[incidence.counts.index], incidence.counts, check_names=False)


def test_severity_rejects_unknown_level(adam):
    adae, adsl = adam
    adae = adae.copy()
    adae.loc[adae.index[0], "AESEV"] = "LIFE THREATENING"
    adae.loc[adae.index[0], "TRTEMFL"] = "Y"
    with pytest.raises(InputError, match="AESEV value 'LIFE THREATENING'"):
        ae_by_severity(adae, adsl)


def test_grade_table_with_aetoxgr():
    adsl = pd.DataFrame({"USUBJID": ["a", "b", "c"], "TRT01A": ["P", "D", "D"], "SAFFL": ["Y"] * 3})
    adae = pd.DataFrame(
        {
            "USUBJID": ["a", "b", "b", "c"],
            "TRTEMFL": ["Y"] * 4,
            "AEBODSYS": ["BLOOD"] * 4,
            "AEDECOD": ["LYMPHOPENIA", "LYMPHOPENIA", "NEUTROPENIA", "LYMPHOPENIA"],
            "AETOXGR": [1.0, 3.0, 2.0, 3.0],
        }
    )
    table = ae_by_severity(adae, adsl, by="AETOXGR", arms=["P", "D"])
    assert table.counts.loc[("BLOOD", "", "3")].tolist() == [0, 2, 2]
    assert table.counts.loc[("BLOOD", "LYMPHOPENIA", "1")].tolist() == [1, 0, 1]
    assert table.counts.loc[("BLOOD", "NEUTROPENIA", "2")].tolist() == [0, 1, 1]


def test_special_interest_lists_and_mappings(raw, adam):
    adae, adsl = adam
    pts = ["APPLICATION SITE PRURITUS", "APPLICATION SITE ERYTHEMA"]
    grouped = ae_special_interest(adae, adsl, {"Application site reactions": pts, "Absent": ["NOT A TERM"]})
    single = ae_special_interest(adae, adsl, [p.lower() for p in pts])
    raw_ae, raw_sl = raw
    safety = raw_sl[raw_sl["SAFFL"] == "Y"]
    subjects = set(raw_ae[(raw_ae["TRTEMFL"] == "Y") & raw_ae["AEDECOD"].isin(pts)]["USUBJID"])
    expected = [int(safety[(safety["TRT01A"] == a) & safety["USUBJID"].isin(subjects)].shape[0]) for a in ARMS]
    assert grouped.counts.loc["Application site reactions", ARMS].tolist() == expected
    assert grouped.counts.loc["Absent"].tolist() == [0, 0, 0, 0]
    assert grouped.notes == ("No TEAE in the population with the preferred term(s) NOT A TERM.",)
    assert single.counts.loc["application site pruritus", ARMS].tolist() == [6, 22, 22]
    with pytest.raises(InputError, match="terms"):
        ae_special_interest(adae, adsl, "APPLICATION SITE PRURITUS")


def test_exposure_adjusted_rates_match_r(adam):
    adae, adsl = adam
    first = exposure_adjusted_rates(adae, adsl)
    whole = exposure_adjusted_rates(adae, adsl, time="treatment")
    ref = FIXTURE["eair"]
    cases = [((ANY_EVENT, ""), ref["any"])]
    for item in ref["pts"]:
        cases.append((first.subjects.xs(item["pt"], level="AEDECOD", drop_level=False).index[0], item["arms"]))
    for key, arms in cases:
        for arm in ARMS:
            r = arms[arm]
            assert first.subjects.loc[key, arm] == r["n"]
            assert first.years.loc[key, arm] == pytest.approx(r["years"], rel=1e-12)
            assert first.rates.loc[key, arm] == pytest.approx(r["rate"], rel=1e-12)
            assert first.lower.loc[key, arm] == pytest.approx(r["lower"], rel=1e-10)
            assert first.upper.loc[key, arm] == pytest.approx(r["upper"], rel=1e-10)
            assert whole.years.loc[key, arm] == pytest.approx(r["years_treatment"], rel=1e-12)
    assert (first.years <= whole.years + 1e-12).all().all()
    assert "time to first event" in str(first.summary())


def test_arm_argument_and_order(adam):
    adae, adsl = adam
    planned = ae_incidence(adae, adsl, arm="TRT01P", arms=list(reversed(ARMS)))
    assert list(planned.counts.columns) == [*reversed(ARMS), "Total"]
    with pytest.raises(InputError, match="TRT01X"):
        ae_incidence(adae, adsl, arm="TRT01X")
    with pytest.raises(InputError, match="reference"):
        ae_incidence(adae, adsl, reference="Drug")


def test_bad_input_named():
    adsl = pd.DataFrame({"USUBJID": ["a"], "TRT01A": ["P"], "SAFFL": ["Y"]})
    with pytest.raises(InputError, match="not in adsl"):
        safety_set(pd.DataFrame({"USUBJID": ["z"], "TRTEMFL": ["Y"]}), adsl)
    with pytest.raises(InputError, match="AEDECOD is blank"):
        ae_incidence(pd.DataFrame({"USUBJID": ["a"], "TRTEMFL": ["Y"], "AEBODSYS": ["X"], "AEDECOD": [""]}), adsl)
    with pytest.raises(InputError, match="TRTSDT"):
        exposure_adjusted_rates(
            pd.DataFrame({"USUBJID": ["a"], "TRTEMFL": ["Y"], "AEBODSYS": ["X"], "AEDECOD": ["Y"]}), adsl
        )


def test_read_adam_decodes_xpt_like_raw_reader(raw, adam, tmp_path):
    raw_ae, _ = raw
    adae, _ = adam
    assert adae.shape == raw_ae.shape == (1191, len(raw_ae.columns))
    assert adae["AEDECOD"].tolist() == raw_ae["AEDECOD"].tolist()
    assert isinstance(adae["USUBJID"].iloc[0], str)
    bad = tmp_path / "adae.sas7bdat"
    bad.write_text("")
    with pytest.raises(InputError, match="unsupported ADaM file type"):
        read_adam(bad)
    with pytest.raises(InputError, match="no such file"):
        read_adam(tmp_path / "missing.xpt")


def test_blank_soc_error_counts_the_named_subjects_events():
    adsl = pd.DataFrame({"USUBJID": ["a", "b"], "TRT01A": ["P", "D"], "SAFFL": ["Y", "Y"]})
    adae = pd.DataFrame({"USUBJID": ["a", "b", "b", "b"], "TRTEMFL": ["Y"] * 4,
                         "AEBODSYS": ["", None, " ", "SKIN"], "AEDECOD": ["X", "Y", "Z", "RASH"]})
    with pytest.raises(InputError) as error:
        ae_incidence(adae, adsl)
    message = str(error.value)
    assert "AEBODSYS is blank for subject 'a' (1 of their events;" in message
    assert "3 events of 2 subjects in all" in message


def test_overview_without_death_flag_has_no_invented_deaths_row(adam):
    """Without ADSL DTHFL deaths are not recorded: no Deaths row, a note in the table's language."""
    adae, adsl = adam
    table = ae_overview(adae, adsl.drop(columns="DTHFL"))
    assert "Deaths" not in table.counts.index
    assert "Deaths: not recorded in the data (no death flag)." in table.notes
    assert not any(name in note for note in table.notes for name in ("DTHFL", "AEACN", "AEREL", "DSRAEFL"))
    assert not any("(" in label and label.endswith(")") for label in table.counts.index)
