"""Analysis data by strategy and the ``ice`` frame of an estimand, on a hand-made ADaM trial (issue 18).

Six subjects, two arms, visits 4, 8 and 12 (days 29, 57, 85 after randomisation on 2020-01-01):

- S1 (Placebo) completes, no event;
- S2 (Placebo) stops treatment after its week-4 visit (TRTEDT 2020-01-29) and is followed up;
- S3 (High) is rescued: RESCFL on its week-8 and week-12 records;
- S4 (High) stops treatment on 2020-02-10 (after week 4) and leaves the study (no later records);
- S5 (High) stops treatment before its first visit and has no post-baseline record;
- S6 (Placebo) is rescued from week 12 and stops treatment after week 4 (two events: discontinuation first).
"""

import numpy as np
import pandas as pd
import pytest

from dosefinding.errors import InputError
from dosefinding.study.analysis_spec import parse_analysis_spec
from dosefinding.study.estimands import EstimandData, estimand_data

SPEC = '''
[study]
name = "tiny"
[data]
adsl = "adsl.csv"
adeff = "adeff.csv"
[populations]
randomised = "RANDFL"
full_analysis = "FASFL"
[arms]
doses = {Placebo = 0, High = 100}
[endpoints.SCORE]
dataset = "adeff"
primary_visit = 12
estimand = "MAIN"
[estimands.MAIN]
endpoint = "SCORE"
better = "lower"
[[estimands.MAIN.events]]
name = "Discontinuation"
strategy = "STRATEGY1"
date = "TRTEDT"
where = {EOTSTT = "DISCONTINUED"}
[[estimands.MAIN.events]]
name = "Rescue"
strategy = "STRATEGY2"
flag = "RESCFL"
[[estimands.MAIN.sensitivity]]
name = "Copy reference"
method = "CR"
[[estimands.MAIN.sensitivity]]
name = "Tipping"
method = "delta"
deltas = {8 = 1.5, 12 = 3.0}
'''


def spec_for(first: str = "treatment_policy", second: str = "hypothetical", extra: str = "") -> object:
    text = SPEC.replace('"STRATEGY1"', f'"{first}"' + ("\nvalue = 10" if first == "composite" else ""))
    text = text.replace('"STRATEGY2"', f'"{second}"' + ("\nvalue = \"worst\"" if second == "composite" else ""))
    return parse_analysis_spec(text + extra)


def adam() -> dict[str, pd.DataFrame]:
    adsl = pd.DataFrame({
        "USUBJID": ["S1", "S2", "S3", "S4", "S5", "S6"],
        "TRT01P": ["Placebo", "Placebo", "High", "High", "High", "Placebo"],
        "RANDFL": "Y", "FASFL": "Y",
        "RANDDT": "2020-01-01",
        "TRTEDT": ["2020-03-11", "2020-01-29", "2020-03-11", "2020-02-10", "2020-01-05", "2020-01-29"],
        "EOTSTT": ["COMPLETED", "DISCONTINUED", "COMPLETED", "DISCONTINUED", "DISCONTINUED", "DISCONTINUED"],
    })
    records = {  # subject: {week: CHG}
        "S1": {4: -1.0, 8: -2.0, 12: -3.0}, "S2": {4: -1.0, 8: 0.0, 12: 1.0}, "S3": {4: -2.0, 8: -4.0, 12: -6.0},
        "S4": {4: -3.0}, "S5": {}, "S6": {4: 2.0, 8: 1.0, 12: 4.0},
    }
    rows = []
    for subject, values in records.items():
        rows.append({"USUBJID": subject, "PARAMCD": "SCORE", "AVISITN": 0, "AVISIT": "Baseline", "ADT": "2020-01-01",
                     "BASE": 10.0, "AVAL": 10.0, "CHG": np.nan, "ABLFL": "Y", "RESCFL": ""})
        for week, chg in values.items():
            rescued = (subject == "S3" and week >= 8) or (subject == "S6" and week >= 12)
            date = (pd.Timestamp("2020-01-01") + pd.Timedelta(days=7 * week)).strftime("%Y-%m-%d")
            rows.append({"USUBJID": subject, "PARAMCD": "SCORE", "AVISITN": week, "AVISIT": f"Week {week}",
                         "ADT": date, "BASE": 10.0, "AVAL": 10.0 + chg, "CHG": chg, "ABLFL": "",
                         "RESCFL": "Y" if rescued else ""})
    return {"adsl": adsl, "adeff": pd.DataFrame(rows)}


def cell(result: EstimandData, subject: str, week: float, column: str = "CHG") -> float:
    d = result.data
    return float(d.loc[(d["USUBJID"] == subject) & (d["AVISITN"] == week), column].iloc[0])


def test_treatment_policy_keeps_values_and_gives_the_ice_frame() -> None:
    result = estimand_data(spec_for(), adam(), "MAIN")
    assert len(result.data) == 6 * 3  # every subject at every visit
    assert cell(result, "S2", 8) == 0.0 and cell(result, "S2", 12) == 1.0  # observed after the event: kept
    assert np.isnan(cell(result, "S4", 8)) and np.isnan(cell(result, "S5", 4))  # missed visits are missing
    ice = result.ice().sort_values("subject").reset_index(drop=True)
    expected = pd.DataFrame({"subject": ["S2", "S3", "S4", "S5", "S6"],
                             "visit": ["Week 8", "Week 8", "Week 8", "Week 4", "Week 8"],
                             "strategy": ["JR", "MAR", "JR", "JR", "JR"]})
    pd.testing.assert_frame_equal(ice, expected)


def test_hypothetical_sets_values_after_the_event_missing() -> None:
    result = estimand_data(spec_for("hypothetical", "hypothetical"), adam(), "MAIN")
    assert cell(result, "S2", 4) == -1.0
    assert np.isnan(cell(result, "S2", 8)) and np.isnan(cell(result, "S2", 12, "AVAL"))
    assert np.isnan(cell(result, "S3", 8)) and cell(result, "S3", 4) == -2.0
    assert cell(result, "S2", 12, "OBSERVED") == 1.0  # the recorded value stays beside it
    assert result.ice()["strategy"].tolist() == ["MAR"] * 5


def test_while_on_treatment_keeps_values_up_to_the_event() -> None:
    result = estimand_data(spec_for("while_on_treatment", "while_on_treatment"), adam(), "MAIN")
    kept = result.data.dropna(subset=["CHG"])
    assert sorted(zip(kept["USUBJID"], kept["AVISITN"], strict=True)) == [
        ("S1", 4), ("S1", 8), ("S1", 12), ("S2", 4), ("S3", 4), ("S4", 4), ("S6", 4)]


def test_composite_value_and_worst_fill_every_visit_after_the_event() -> None:
    result = estimand_data(spec_for("composite", "composite"), adam(), "MAIN")
    # discontinuation: CHG 10 at every visit after it, observed or not (S4 left the study)
    for subject, week in [("S2", 8), ("S2", 12), ("S4", 8), ("S4", 12), ("S5", 4), ("S6", 8), ("S6", 12)]:
        assert cell(result, subject, week) == 10.0
        assert cell(result, subject, week, "AVAL") == 20.0  # BASE + CHG
    # rescue (S3 from week 8): the worst (largest, lower is better) CHG observed at the visit
    assert cell(result, "S3", 8) == 1.0 and cell(result, "S3", 12) == 4.0
    assert result.ice().empty  # nothing left to impute


def test_two_events_first_rules_and_ties_go_to_the_first_listed() -> None:
    # S6: discontinuation (first visit affected week 8) before rescue (week 12): discontinuation rules
    result = estimand_data(spec_for("treatment_policy", "hypothetical"), adam(), "MAIN")
    assert cell(result, "S6", 12) == 4.0  # treatment policy: the rescue at week 12 does not apply
    events = result.events[result.events["USUBJID"] == "S6"].set_index("event")
    assert events.loc["Discontinuation", "first"] and not events.loc["Rescue", "first"]
    # a tie: S3 rescued from week 8 and discontinued after week 4 (first visit affected week 8 too)
    data = adam()
    data["adsl"].loc[data["adsl"]["USUBJID"] == "S3", ["EOTSTT", "TRTEDT"]] = ["DISCONTINUED", "2020-02-01"]
    tied = estimand_data(spec_for("treatment_policy", "hypothetical"), data, "MAIN")
    s3 = tied.events[tied.events["USUBJID"] == "S3"].set_index("event")
    assert s3.loc["Discontinuation", "first"] and s3.loc["Discontinuation", "visit"] == "Week 8"
    assert cell(tied, "S3", 8) == -4.0


@pytest.mark.parametrize("spelling", ["Y", "y", 1, True, " Y"])
def test_flag_spellings_mark_the_same_records(spelling: object) -> None:
    data = adam()
    data["adeff"]["RESCFL"] = data["adeff"]["RESCFL"].astype(object).map(
        lambda v: spelling if v == "Y" else (0 if isinstance(spelling, (int, bool)) else ""))
    result = estimand_data(spec_for(), data, "MAIN")
    rescue = result.events[result.events["event"] == "Rescue"]
    assert sorted(zip(rescue["USUBJID"], rescue["visit"], strict=True)) == [("S3", "Week 8"), ("S6", "Week 12")]


def test_a_value_that_is_not_a_flag() -> None:
    data = adam()
    data["adeff"].loc[3, "RESCFL"] = "Yes"
    with pytest.raises(InputError, match=r"estimands.MAIN.events\[1\].flag: 'Yes' in RESCFL of adeff is not a flag"):
        estimand_data(spec_for(), data, "MAIN")


def test_an_event_flag_on_a_subject_not_in_adsl() -> None:
    data = adam()
    extra = data["adeff"].iloc[[-1]].assign(USUBJID="S99", RESCFL="Y")
    data["adeff"] = pd.concat([data["adeff"], extra], ignore_index=True)
    with pytest.raises(InputError, match=r"estimands.MAIN.events\[1\].flag: subject\(s\) \['S99'\] with RESCFL set "
                                         r"in adeff are not in adsl"):
        estimand_data(spec_for(), data, "MAIN")


def test_an_event_date_before_randomisation() -> None:
    data = adam()
    data["adsl"].loc[1, "TRTEDT"] = "2019-12-30"
    with pytest.raises(InputError, match=r"estimands.MAIN.events\[0\].date: TRTEDT of subject 'S2' \(2019-12-30\) "
                                         r"is before randomisation \(RANDDT 2020-01-01\)"):
        estimand_data(spec_for(), data, "MAIN")


def test_an_event_flag_on_the_baseline_record() -> None:
    data = adam()
    data["adeff"].loc[0, "RESCFL"] = "Y"
    with pytest.raises(InputError, match=r"RESCFL is set on the baseline record of subject 'S1'"):
        estimand_data(spec_for(), data, "MAIN")


def test_an_event_on_randomisation_day_affects_every_visit() -> None:
    data = adam()
    data["adsl"].loc[1, "TRTEDT"] = "2020-01-01"
    result = estimand_data(spec_for("hypothetical"), data, "MAIN")
    assert result.data.loc[result.data["USUBJID"] == "S2", "CHG"].isna().all()
    assert result.ice().set_index("subject").loc["S2", "visit"] == "Week 4"


def test_an_event_without_post_baseline_data_is_in_the_ice_frame() -> None:
    result = estimand_data(spec_for(), adam(), "MAIN")
    s5 = result.data[result.data["USUBJID"] == "S5"]
    assert len(s5) == 3 and s5["CHG"].isna().all() and not s5["RECORD"].any()
    assert (s5["BASE"] == 10.0).all() and (s5["TRT01P"] == "High").all()  # from its baseline record and ADSL
    assert result.ice().set_index("subject").loc["S5", "visit"] == "Week 4"


def test_an_event_after_the_last_visit_has_no_ice_row() -> None:
    data = adam()
    data["adsl"].loc[0, ["EOTSTT", "TRTEDT"]] = ["DISCONTINUED", "2020-04-30"]
    result = estimand_data(spec_for(), data, "MAIN")
    s1 = result.events[result.events["USUBJID"] == "S1"]
    assert s1["visit"].isna().all() and "S1" not in set(result.ice()["subject"])


def test_sensitivity_frames() -> None:
    result = estimand_data(spec_for(), adam(), "MAIN")
    assert set(result.ice("Copy reference")["strategy"]) == {"CR"}
    assert result.references("Copy reference") == {"Placebo": "Placebo", "High": "Placebo"}
    deltas = result.deltas("Tipping").sort_values(["subject", "visit"]).reset_index(drop=True)
    # the values missing after the first visit affected: S3 weeks 8, 12 (rescue, hypothetical: set missing);
    # S4 weeks 8, 12 (left the study); S5 weeks 8, 12 (no delta at week 4)
    expected = pd.DataFrame({"subject": ["S3", "S3", "S4", "S4", "S5", "S5"], "visit": ["Week 12", "Week 8"] * 3,
                             "delta": [3.0, 1.5] * 3})
    pd.testing.assert_frame_equal(deltas, expected)
    with pytest.raises(InputError, match="sensitivity: 'J2R' is not a sensitivity analysis of estimand 'MAIN'"):
        result.ice("J2R")


def test_a_delta_for_a_visit_that_is_not_analysed() -> None:
    spec = spec_for(extra="")
    text = spec.text.replace("deltas = {8 = 1.5, 12 = 3.0}", "deltas = {8 = 1.5, 16 = 3.0}")
    with pytest.raises(InputError, match=r"estimands.MAIN.sensitivity\[1\].deltas: visit 16 does not exist "
                                         r"\(analysed visits of AVISITN in adeff: \['4', '8', '12'\]\)"):
        estimand_data(parse_analysis_spec(text), adam(), "MAIN")


def test_row_order_and_spelling_of_labels_do_not_matter() -> None:
    data = adam()
    shuffled = {"adsl": data["adsl"].sample(frac=1, random_state=3),
                "adeff": data["adeff"].sample(frac=1, random_state=4)}
    a, b = (estimand_data(spec_for("hypothetical"), d, "MAIN") for d in (data, shuffled))
    key = ["USUBJID", "AVISITN"]
    pd.testing.assert_frame_equal(a.ice().sort_values("subject").reset_index(drop=True),
                                  b.ice().sort_values("subject").reset_index(drop=True))
    pd.testing.assert_series_equal(a.data.sort_values(key)["CHG"].reset_index(drop=True),
                                   b.data.sort_values(key)["CHG"].reset_index(drop=True))


def test_summary_counts() -> None:
    result = estimand_data(spec_for("hypothetical"), adam(), "MAIN")
    text = str(result.summary())
    assert "A subject with two events is governed by the first." in text
    assert "EstimandData(" in repr(result)
    events = result.to_frame()
    assert events.groupby("event").size().to_dict() == {"Discontinuation": 4, "Rescue": 2}


def test_a_date_that_is_not_a_date() -> None:
    data = adam()
    data["adsl"].loc[3, "TRTEDT"] = "2020-02-31"
    with pytest.raises(InputError, match=r"estimands.MAIN.events\[0\].date: '2020-02-31' in TRTEDT of adsl is not a "
                                         r"date"):
        estimand_data(spec_for(), data, "MAIN")


def test_a_date_event_needs_the_record_dates() -> None:
    data = adam()
    data["adeff"] = data["adeff"].drop(columns="ADT")
    with pytest.raises(InputError, match=r"estimands.MAIN.events\[0\].date \(the record dates placing the event at a "
                                         r"visit\): column\(s\) ADT not found in adeff"):
        estimand_data(spec_for(), data, "MAIN")


def test_composite_worst_when_higher_is_better() -> None:
    text = spec_for("hypothetical", "composite").text.replace('better = "lower"', 'better = "higher"')
    result = estimand_data(parse_analysis_spec(text), adam(), "MAIN")
    # rescue of S3 from week 8: the smallest CHG observed at weeks 8 (-4, S3 itself) and 12 (-6)
    assert cell(result, "S3", 8) == -4.0 and cell(result, "S3", 12) == -6.0


def test_the_estimands_population() -> None:
    data = adam()
    data["adsl"]["COMPLFL"] = ["Y", "N", "Y", "Y", "Y", "Y"]
    text = spec_for().text.replace('full_analysis = "FASFL"', 'full_analysis = "FASFL"\ncompleted = "COMPLFL"')
    text = text.replace("[estimands.MAIN]\n", "[estimands.MAIN]\npopulation = \"completed\"\n")
    result = estimand_data(parse_analysis_spec(text), data, "MAIN")
    assert "S2" not in set(result.data["USUBJID"]) and "S2" not in set(result.ice()["subject"])


def test_an_unknown_estimand() -> None:
    with pytest.raises(InputError, match=r"estimand: 'OTHER' is not an estimand of the spec \(MAIN\)"):
        estimand_data(spec_for(), adam(), "OTHER")


def test_numeric_subject_identifiers() -> None:
    """Subjects read as numbers (a CSV of numeric USUBJID) give the same events as text identifiers."""
    data = adam()
    for name in data:
        data[name]["USUBJID"] = data[name]["USUBJID"].str[1:].astype(int) + 100
    ice = estimand_data(spec_for(), data, "MAIN").ice().sort_values("subject").reset_index(drop=True)
    assert ice["subject"].tolist() == ["102", "103", "104", "105", "106"]
    assert ice["visit"].tolist() == ["Week 8", "Week 8", "Week 8", "Week 4", "Week 8"]


def test_adsl_covariates_fill_the_missed_visits() -> None:
    data = adam()
    data["adsl"]["AGE"] = [30, 40, 50, 60, 70, 80]
    text = spec_for().text.replace("primary_visit = 12\n", "primary_visit = 12\ncovariates = [\"BASE\", \"AGE\"]\n")
    result = estimand_data(parse_analysis_spec(text), data, "MAIN")
    s5 = result.data[result.data["USUBJID"] == "S5"]
    assert (s5["AGE"] == 70).all() and len(s5) == 3


def test_delta_goes_to_the_active_arms_unless_the_spec_names_arms() -> None:
    """A delta-adjusted analysis shifts the imputed values of patients leaving an active arm (the usual MNAR
    assumption); placebo patients get deltas only when ``arms`` names placebo. Before ``arms``, every arm was
    shifted, so a delta on placebo and active alike moved the estimate the wrong way."""
    result = estimand_data(spec_for("hypothetical", "hypothetical"), adam(), "MAIN")
    missing_placebo = result.data[(result.data["TRT01P"] == "Placebo") & result.data["CHG"].isna()]
    assert set(missing_placebo["USUBJID"]) == {"S2", "S6"}  # values after their events set missing
    assert set(result.deltas("Tipping")["subject"]) == {"S3", "S4", "S5"}
    both = parse_analysis_spec(spec_for("hypothetical", "hypothetical").text.replace(
        "deltas = {8 = 1.5, 12 = 3.0}", 'deltas = {8 = 1.5, 12 = 3.0}\narms = ["Placebo", "High"]'))
    assert set(estimand_data(both, adam(), "MAIN").deltas("Tipping")["subject"]) == {"S2", "S3", "S4", "S5", "S6"}


@pytest.mark.parametrize("arms, message", [
    ('["Hihg"]', r"estimands.MAIN.sensitivity\[1\].arms: arm 'Hihg' does not exist \(arms: Placebo, High\)"),
    ("[]", r"estimands.MAIN.sensitivity\[1\].arms: must be a non-empty list of arms"),
])
def test_delta_arms_that_do_not_exist(arms: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_analysis_spec(spec_for().text.replace("deltas = {8 = 1.5, 12 = 3.0}",
                                                    f"deltas = {{8 = 1.5, 12 = 3.0}}\narms = {arms}"))


def test_arms_only_with_a_delta() -> None:
    with pytest.raises(InputError, match=r"estimands.MAIN.sensitivity\[0\].arms: only with method delta, not CR"):
        parse_analysis_spec(spec_for().text.replace('method = "CR"', 'method = "CR"\narms = ["High"]'))
