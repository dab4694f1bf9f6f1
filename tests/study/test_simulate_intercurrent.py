"""Intercurrent events of the virtual trial: discontinuation of treatment and rescue medication (issue 18).

Large-trial checks compare simulated means and rates with the values the spec implies, in
closed form, within 4 Monte Carlo standard errors (as tests/study/test_simulate.py).
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dosefinding.errors import InputError
from dosefinding.study import load_spec, simulate_trial
from dosefinding.study.analysis import analyze_study
from dosefinding.study.analysis_data import load_data
from dosefinding.study.analysis_spec import parse_analysis_spec
from dosefinding.study.estimands import estimand_data
from dosefinding.study.pipeline import a2201_analysis_text
from dosefinding.study.spec import Discontinuation, Rescue, parse_spec, preset_path

Z = 4.0
N = 5_000  # per arm


@pytest.fixture(scope="module")
def spec():
    return load_spec("a2201")


def _free(spec, n: int = N, adverse_events: tuple = (), **changes: object):
    """The preset at ``n`` per arm without rounding, clipping, screening or (by default) adverse events."""
    return dataclasses.replace(
        spec, arms=tuple(dataclasses.replace(a, n=n) for a in spec.arms), screening=None,
        adverse_events=adverse_events,
        endpoints=tuple(dataclasses.replace(e, limits=None, decimals=None) for e in spec.endpoints), **changes)


def test_zero_rates_change_nothing(spec):
    """With every intercurrent-event rate 0 the datasets equal those of a spec without the tables."""
    zero = dataclasses.replace(
        spec, discontinuation=dataclasses.replace(spec.discontinuation, rates={"ADVERSE EVENT": (0.0,) * 4}),
        rescue=dataclasses.replace(spec.rescue, rate=(0.0,) * 4))
    without = dataclasses.replace(spec, discontinuation=None, rescue=None)
    a, b = simulate_trial(zero, seed=3), simulate_trial(without, seed=3)
    for name, frame in a.datasets.items():
        pd.testing.assert_frame_equal(frame, b.datasets[name])
    assert (a.adsl["EOTSTT"] == "COMPLETED").sum() == (a.adsl["EOSSTT"] == "COMPLETED").sum()
    # no record off treatment or after rescue; a subject who left the study stopped treatment
    assert (a.adeff["RESCFL"] == "").all() and (a.adeff["ONTRTFL"] == "Y").all()
    assert ((a.adsl["EOTSTT"] == "DISCONTINUED") == (a.adsl["EOSSTT"] == "DISCONTINUED")).all()


OLD_DROPOUT = '''[dropout]
rate = 0.0131
endpoint = "ESSDAI"
slope = 0.05
reasons = {"WITHDRAWAL BY SUBJECT" = 0.417, "PROTOCOL VIOLATION" = 0.25, "ADVERSE EVENT" = 0.333}
terms = {"WITHDRAWAL BY SUBJECT" = ["Subject decision", "Withdrawal of consent"], "PROTOCOL VIOLATION" = ["Non-compliance", "Disallowed medication", "Pregnancy"], "ADVERSE EVENT" = ["Adverse event"]}
'''


def _before_issue_18() -> str:
    """The a2201 preset as before issue 18 (12 dropouts, 4 for AEs) with its intercurrent-event rates 0."""
    text = preset_path("a2201").read_text(encoding="utf-8")
    start, end = text.index("\n[dropout]\n") + 1, text.index("# Discontinuation of study treatment")
    text = text[:start] + OLD_DROPOUT + "\n" + text[end:]
    text = text.replace('rates = {"ADVERSE EVENT" = [0, 0.00728, 0.00728, 0]}', 'rates = {"ADVERSE EVENT" = 0}')
    return text.replace("rate = 0.004\n", "rate = 0\n")


def test_demo_numbers_unchanged_when_intercurrent_event_rates_are_zero():
    """The demo before issue 18: ESSDAI 300 mg - placebo -2.73 (-4.78, -0.67), MCP adjusted p 0.0075 (linear;
    main at cfb7e72 gives linear 0.007466, exponential 0.006617).

    The same trial (12 dropouts) with [discontinuation] and [rescue] at rate 0, analysed by the demo's spec,
    whose estimands now select the data, gives the same numbers to 1e-6 (same rows, same fit).
    """
    trial = simulate_trial(parse_spec(_before_issue_18()))
    assert (trial.adsl["EOSSTT"] != "COMPLETED").sum() == 7 and (trial.adsl["RESCFL"] == "Y").sum() == 0
    with tempfile.TemporaryDirectory() as tmp:
        trial.write(Path(tmp) / "adam")
        spec = parse_analysis_spec(a2201_analysis_text().replace("model_average_draws = 200",
                                                                 "model_average_draws = 0"), base=tmp)
        results = analyze_study(spec)
    difference = results.endpoints["ESSDAI"].lsmeans.differences.loc[("Week 24", "VAY736 300 mg")]
    assert difference["estimate"] == pytest.approx(-2.726459, abs=1e-6)
    assert (difference["lower"], difference["upper"]) == pytest.approx((-4.781199, -0.671720), abs=1e-6)
    p = results.mcpmod.mct.p_values
    assert (p["linear"], p["exponential"]) == pytest.approx((0.007466, 0.006617), abs=1e-6)


def test_discontinuation_rates_reasons_and_follow_up(spec):
    d = Discontinuation(rates={"ADVERSE EVENT": (0.0, 0.02, 0.02, 0.04), "LACK OF EFFICACY": (0.03, 0.01, 0.0, 0.0)},
                        follow_up=0.6, washout=0.0)
    trial = simulate_trial(_free(spec, dropout=None, rescue=None, discontinuation=d), seed=4)
    adsl = trial.adsl
    arm = adsl["TRT01PN"].map({0: 0, 5: 1, 50: 2, 300: 3}).to_numpy()
    hazard = np.sum(list(d.rates.values()), axis=0)[arm]
    stopped = (adsl["EOTSTT"] == "DISCONTINUED").to_numpy()
    p = 1 - (1 - hazard) ** 6
    for a in range(4):
        chosen = arm == a
        se = np.sqrt(p[chosen][0] * (1 - p[chosen][0]) / chosen.sum())
        assert abs(stopped[chosen].mean() - p[chosen][0]) < Z * se + 1e-12, a
    # the reason in proportion to its rate (arm 5 mg: AE 2 of 3)
    five = stopped & (arm == 1)
    share = (adsl.loc[five, "DCTREAS"] == "ADVERSE EVENT").mean()
    assert abs(share - 2 / 3) < Z * np.sqrt(2 / 9 / five.sum())
    assert set(adsl.loc[arm == 0, "DCTREAS"]) <= {"", "LACK OF EFFICACY"}
    # follow-up: 60% of those who stop complete the study off treatment; the others leave for the same reason
    followed = (adsl.loc[stopped, "EOSSTT"] == "COMPLETED").mean()
    assert abs(followed - 0.6) < Z * np.sqrt(0.24 / stopped.sum())
    left = stopped & (adsl["EOSSTT"] != "COMPLETED").to_numpy()
    assert (adsl.loc[left, "DCSREAS"] == adsl.loc[left, "DCTREAS"]).all()


def _mean_change(trial, week: int, mask_subjects: pd.Series) -> tuple[float, float, int]:
    eff = trial.adeff
    rows = eff[(eff["PARAMCD"] == "PHGA") & (eff["AVISITN"] == week) & eff["USUBJID"].isin(mask_subjects)]
    return float(rows["CHG"].mean()), float(rows["CHG"].std()), len(rows)


@pytest.mark.parametrize("washout", [0.0, 12.0])
def test_off_treatment_values_return_to_placebo(spec, washout):
    """Off treatment the arm's mean effect over placebo fades linearly over the washout (PhGA, Emax in dose).

    Subjects who stop before their first visit (last dose week 0) have at week w the mean
    placebo + (1 - min(w / washout, 1)) * (arm - placebo); at week 4 with a 12-week washout two thirds remain.
    """
    d = Discontinuation(rates={"ADVERSE EVENT": (0.3,) * 4}, follow_up=1.0, washout=washout)
    trial = simulate_trial(_free(spec, dropout=None, rescue=None, discontinuation=d), seed=6)
    phga = spec.endpoint("PHGA")
    truth = phga.true_mean_change()
    adsl = trial.adsl
    first_visit = adsl["TRTEDT"] == adsl["TRTSDT"]  # stopped after the first dose
    for index, week in [(0, 4), (2, 12), (5, 24)]:
        keep = 0.0 if washout == 0 else 1 - min(week / washout, 1.0)
        expected = truth[0, index] + keep * (truth[3, index] - truth[0, index])
        who = adsl.loc[first_visit & (adsl["TRT01PN"] == 300), "USUBJID"]
        mean, sd, n = _mean_change(trial, week, who)
        assert abs(mean - expected) < Z * sd / np.sqrt(n), (week, mean, expected)


def test_rescue_rate_and_shift(spec):
    r = Rescue(rate=(0.05, 0.05, 0.05, 0.05), shift={"PHGA": -10.0})
    trial = simulate_trial(_free(spec, dropout=None, discontinuation=None, rescue=r), seed=9)
    adsl = trial.adsl
    rescued = adsl["RESCFL"] == "Y"
    p = 1 - 0.95**6
    assert abs(rescued.mean() - p) < Z * np.sqrt(p * (1 - p) / len(adsl))
    # rescued before week 4 on placebo: week-24 mean change is placebo's plus the shift
    eff = trial.adeff
    early = eff[(eff["PARAMCD"] == "PHGA") & (eff["AVISITN"] == 4) & (eff["RESCFL"] == "Y")]["USUBJID"]
    placebo = adsl.loc[adsl["TRT01PN"] == 0, "USUBJID"]
    mean, sd, n = _mean_change(trial, 24, early[early.isin(placebo)])
    expected = spec.endpoint("PHGA").true_mean_change()[0, 5] - 10.0
    assert abs(mean - expected) < Z * sd / np.sqrt(n)


def test_drug_levels_decay_off_treatment(spec):
    """Stopped after the week-8 dose (first visit off treatment week 12): the week-24 trough is the trough of 3
    doses decayed by the half-life over 24 - 8 - 4 weeks (means, as the accumulation model)."""
    pk = dataclasses.replace(spec.pk, decimals=None, lloq=0.0)
    d = Discontinuation(rates={"ADVERSE EVENT": (0.15,) * 4}, follow_up=1.0)
    trial = simulate_trial(_free(spec, n=4_000, dropout=None, rescue=None, discontinuation=d, pk=pk), seed=12)
    adsl = trial.adsl
    who = adsl.loc[(pd.to_datetime(adsl["TRTEDT"]) - pd.to_datetime(adsl["TRTSDT"])).dt.days.between(50, 62)
                   & (adsl["TRT01PN"] == 300), "USUBJID"]
    bm = trial.adbm
    levels = bm[(bm["PARAMCD"] == pk.paramcd) & (bm["AVISITN"] == 24) & bm["USUBJID"].isin(who)]["AVAL"]
    r = 2.0 ** (-(4 * 7) / pk.half_life)
    expected = pk.trough_per_mg * 300**pk.exponent * (1 - r**3) / (1 - r) * 2.0 ** (-(24 - 8 - 4) * 7 / pk.half_life)
    assert len(levels) > 100
    assert abs(levels.mean() - expected) < Z * levels.std() / np.sqrt(levels.size)


def test_adam_flags_and_dates_agree_with_the_events(spec):
    """ONTRTFL/RESCFL flag the records the dates place after the events; the estimands module finds the same."""
    trial = simulate_trial(_free(spec, n=300, adverse_events=spec.adverse_events), seed=21)
    adsl, eff = trial.adsl, trial.adeff
    rows = eff[eff["ABLFL"] != "Y"].merge(adsl[["USUBJID", "TRTEDT", "EOTSTT", "RESCDT"]], on="USUBJID")
    stopped = rows["EOTSTT"] == "DISCONTINUED"
    off = rows["ONTRTFL"] != "Y"
    assert (rows.loc[off, "ADT"] > rows.loc[off, "TRTEDT"]).all()
    assert (rows.loc[~off & stopped, "ADT"] <= rows.loc[~off & stopped, "TRTEDT"] + pd.Timedelta(days=3)).all()
    assert not off[~stopped].any()
    rescued = rows["RESCFL"] == "Y"
    assert (rows.loc[rescued, "ADT"] > rows.loc[rescued, "RESCDT"]).all()
    assert (rows.loc[~rescued & rows["RESCDT"].notna(), "ADT"] < rows.loc[~rescued & rows["RESCDT"].notna(),
                                                                         "RESCDT"]).all()
    assert ((rows["ANL02FL"] == "Y") == (~off & ~rescued)).all()
    assert adsl["RESCFL"].eq("Y").sum() > 0 and stopped.any()
    # the estimand's first visit affected of the discontinuation is the first visit flagged off treatment
    with tempfile.TemporaryDirectory() as tmp:
        trial.write(Path(tmp) / "adam")
        analysis = parse_analysis_spec(a2201_analysis_text(), base=tmp)
        result = estimand_data(analysis, load_data(analysis), "ESSDAI-primary")
    events = result.events[result.events["event"] == "Discontinuation of study treatment"].set_index("USUBJID")
    essdai = eff[(eff["PARAMCD"] == "ESSDAI") & (eff["ABLFL"] != "Y")]
    first_off = essdai[essdai["ONTRTFL"] != "Y"].groupby("USUBJID")["AVISIT"].first()
    assert len(first_off) > 0 and (events.loc[first_off.index, "visit"] == first_off).all()
    rescue = result.events[result.events["event"] == "Rescue medication"].set_index("USUBJID")
    first_rescue = essdai[essdai["RESCFL"] == "Y"].groupby("USUBJID")["AVISIT"].first()
    assert (rescue.loc[first_rescue.index, "visit"] == first_rescue).all()


TINY = '''
[trial]
name = "tiny"
synthetic = true
visits = [4, 8]
[[arms]]
name = "Placebo"
dose = 0
n = 5
[[arms]]
name = "High"
dose = 10
n = 5
[endpoints.SCORE]
baseline = {distribution = "normal", mean = 10, sd = 2}
sd = 1
change = {placebo = 0}
'''


@pytest.mark.parametrize("table, message", [
    ('[discontinuation]\nrates = {"ADVERSE EVENT" = 0.1}\nendpoint = "SCOR"',
     "discontinuation.endpoint: unknown endpoint 'SCOR' (endpoints: SCORE)"),
    ('[discontinuation]\nrates = {"ADVERSE EVENT" = 0.1}\nslope = 0.2',
     "discontinuation.endpoint: missing (the slope needs the endpoint"),
    ('[discontinuation]\nrates = {"ADVERSE EVENT" = [0.1, 0.2, 0.3]}',
     "discontinuation.rates.ADVERSE EVENT: needs 2 values (one per arm), got 3"),
    ('[discontinuation]\nrates = {"ADVERSE EVENT" = 0.6, "LACK OF EFFICACY" = 0.5}',
     "discontinuation.rates: the rates of an arm must add up to less than 1"),
    ('[discontinuation]\nrates = {}', "discontinuation.rates: needs at least one reason"),
    ('[discontinuation]\nrates = {"ADVERSE EVENT" = 0.1}\nterms = {"LACK OF EFFICACY" = ["x"]}',
     "discontinuation.terms.LACK OF EFFICACY: not a reason of discontinuation.rates (ADVERSE EVENT)"),
    ('[discontinuation]\nrates = {"ADVERSE EVENT" = 0.1}\nfollow_up = 1.5', "discontinuation.follow_up: must be at most 1"),
    ('[discontinuation]\nrates = {"ADVERSE EVENT" = 0.1}\nwashout = -4', "discontinuation.washout: must be at least 0"),
    ('[rescue]\nrate = 0.1\nshift = {SCOR = 1}', "rescue.shift.SCOR: unknown endpoint or biomarker 'SCOR'"),
    ('[rescue]\nrate = 1.0', "rescue.rate: must be at most 0.999"),
    ('[rescue]\nrate = 0.1\nslope = 1', "rescue.endpoint: missing (the slope needs the endpoint"),
])
def test_bad_intercurrent_event_tables(table: str, message: str) -> None:
    with pytest.raises(InputError) as error:
        parse_spec(TINY + table)
    assert str(error.value).startswith(message), str(error.value)


def test_tiny_trial_with_both_events() -> None:
    spec = parse_spec(TINY + '[discontinuation]\nrates = {"ADVERSE EVENT" = 0.4}\nfollow_up = 0.5\n'
                             '[rescue]\nrate = 0.4\nshift = {SCORE = -1}\n')
    trial = simulate_trial(spec, seed=2)
    assert {"EOTSTT", "DCTREAS", "RESCFL", "RESCDT"} <= set(trial.adsl.columns)
    assert "Completed treatment" in str(trial.summary()) and "Rescue medication" in str(trial.summary())
