"""The a2201 preset against the published A2201 figures (Bowman et al., Lancet 2022; /work/shared/study/A2201.md).

Two checks, computed with plain pandas (not the package's analysis functions):

1. The virtual trial of the preset's seed (190 patients) against the published trial. Both
   are one trial of the same size, so their difference has the standard error
   ``sqrt(SE_published^2 + SE_simulated^2)`` (for a proportion the pooled two-sample SE
   ``sqrt(p (1 - p) (1/n1 + 1/n2))``; for a mean difference the published SE, read off its
   95% CI, and the simulated one). The tolerance is 3 of those SEs: a correct calibration
   fails a given check with probability 0.3%.
2. The preset's population values (a trial of 20,000 per arm, Monte Carlo error below 1% of
   the published SE) within 2 published SEs: the published figure must be an ordinary draw
   from the model (outside the central 95% is a calibration error). The calibration itself
   reaches much closer for most figures (examples/a2201_calibration.py prints the z-values;
   the largest are 1.4 for placebo's low category and -1.2 for the SD).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from dosefinding.study import load_spec, simulate_endpoint_matrix, simulate_trial

ARMS = [0.0, 5.0, 50.0, 300.0]
N_PUBLISHED = pd.Series([49, 47, 47, 47], index=ARMS)
RESPONDERS = [0.61, 0.62, 0.72, 0.89]
LOW = [0.35, 0.48, 0.52, 0.61]
HIGH = [0.15, 0.14, 0.10, 0.02]


def _ci_se(lower: float, upper: float) -> float:
    return (upper - lower) / (2 * 1.959964)


ESSDAI_DIFF, ESSDAI_DIFF_SE = -1.92, _ci_se(-4.15, 0.32)
PHGA_DIFF, PHGA_DIFF_SE = -8.4, _ci_se(-15.5, -1.2)
SFSTIM_DIFF, SFSTIM_DIFF_SE = 0.22, _ci_se(0.01, 0.38)


def _two_sample_z(p_sim: float, n_sim: float, p_pub: float, n_pub: float) -> float:
    pooled = (p_sim * n_sim + p_pub * n_pub) / (n_sim + n_pub)
    return (p_sim - p_pub) / np.sqrt(pooled * (1 - pooled) * (1 / n_sim + 1 / n_pub))


@pytest.fixture(scope="module")
def trial():
    return simulate_trial("a2201")  # the preset's seed, 2201


@pytest.fixture(scope="module")
def week24(trial):
    eff = trial.adeff
    return eff[eff["AVISITN"] == 24]


def _essdai_week24(trial) -> pd.DataFrame:
    eff = trial.adeff
    wk = eff[(eff["PARAMCD"] == "ESSDAI") & (eff["AVISITN"] == 24)].set_index("USUBJID")
    adsl = trial.adsl.set_index("USUBJID")
    return pd.DataFrame({"arm": adsl["TRT01PN"], "base": adsl["ESSDAIBL"], "aval": wk["AVAL"], "chg": wk["CHG"]})


def test_labelled_synthetic_and_sized_as_published(trial):
    assert trial.spec.synthetic and trial.adsl["STUDYID"].eq("VAY736A2201-SYNTHETIC").all()
    assert trial.adsl.groupby("TRT01PN").size().reindex(ARMS).tolist() == [49, 47, 47, 47]


def test_completers_and_baseline(trial):
    completers = int((trial.adsl["COMPLFL"] == "Y").sum())
    assert abs(_two_sample_z(completers / 190, 190, 178 / 190, 190)) < 3, completers
    base = trial.adsl["ESSDAIBL"]
    # published: mean about 13 to 14 (13.5 taken), SE from the simulated SD, same n on both sides.
    se = base.std() / np.sqrt(190)
    assert abs(base.mean() - 13.5) < 3 * np.sqrt(2) * se, base.mean()
    # published: ESSDAI >= 10 in 67, 72, 70, 70%
    share = (base >= 10).groupby(trial.adsl["TRT01PN"]).mean().reindex(ARMS)
    for dose, published in zip(ARMS, [0.67, 0.72, 0.70, 0.70], strict=True):
        assert abs(_two_sample_z(share[dose], N_PUBLISHED[dose], published, N_PUBLISHED[dose])) < 3, dose
    assert abs(_two_sample_z((base >= 10).mean(), 190, 0.70, 190)) < 3


def test_essdai_responders_and_categories(trial):
    data = _essdai_week24(trial)
    n = data.groupby("arm").size().reindex(ARMS)
    # Responders: decrease >= 3 points at week 24; missing counts as non-responder (published NRI).
    responders = (data["chg"] <= -3).groupby(data["arm"]).mean().reindex(ARMS)
    # Categories among the patients with a week-24 ESSDAI.
    seen = data.dropna(subset=["aval"])
    n_seen = seen.groupby("arm").size().reindex(ARMS)
    low = (seen["aval"] < 5).groupby(seen["arm"]).mean().reindex(ARMS)
    high = (seen["aval"] > 13).groupby(seen["arm"]).mean().reindex(ARMS)
    for i, dose in enumerate(ARMS):
        z = [
            _two_sample_z(responders[dose], n[dose], RESPONDERS[i], N_PUBLISHED[dose]),
            _two_sample_z(low[dose], n_seen[dose], LOW[i], N_PUBLISHED[dose]),
            _two_sample_z(high[dose], n_seen[dose], HIGH[i], N_PUBLISHED[dose]),
        ]
        assert max(abs(v) for v in z) < 3, (dose, responders[dose], low[dose], high[dose], z)
    # The direction the published figures show: more responders at 300 mg than on placebo.
    assert responders[300.0] > responders[0.0]


def _difference(week24: pd.DataFrame, paramcd: str) -> tuple[float, float]:
    one = week24[week24["PARAMCD"] == paramcd]
    by = one.groupby("TRTPN")["CHG"]
    mean, var, n = by.mean(), by.var(), by.size()
    return mean[300.0] - mean[0.0], float(np.sqrt(var[300.0] / n[300.0] + var[0.0] / n[0.0]))


@pytest.mark.parametrize(
    ("paramcd", "published", "published_se"),
    [("ESSDAI", ESSDAI_DIFF, ESSDAI_DIFF_SE), ("PHGA", PHGA_DIFF, PHGA_DIFF_SE),
     ("SFSTIM", SFSTIM_DIFF, SFSTIM_DIFF_SE)],
)
def test_week24_differences_300mg_vs_placebo(week24, paramcd, published, published_se):
    diff, se = _difference(week24, paramcd)
    assert abs(diff - published) < 3 * np.hypot(se, published_se), (paramcd, diff, se)


@pytest.mark.parametrize("paramcd", ["ESSPRI", "PAGA", "FACITF", "SF36PCS", "SF36MCS"])
def test_no_difference_where_none_was_published(week24, paramcd):
    diff, se = _difference(week24, paramcd)
    assert abs(diff) < 3 * se, (paramcd, diff, se)


def test_essdai_residual_sd(trial):
    """published: SD about 5.6 (the SE of the LS-mean difference, 1.14, times sqrt(49 * 47 / 96))."""
    data = _essdai_week24(trial).dropna()
    residuals = []
    for _, arm in data.groupby("arm"):
        slope, intercept = np.polyfit(arm["base"], arm["chg"], 1)
        residuals.append(arm["chg"] - intercept - slope * arm["base"])
    r = pd.concat(residuals)
    df = len(r) - 2 * 4
    sd = float(np.sqrt((r**2).sum() / df))
    published_sd = ESSDAI_DIFF_SE / np.sqrt(1 / 49 + 1 / 47)
    kurtosis = float(((r - r.mean()) ** 4).mean() / r.var(ddof=0) ** 2)
    se_sim = sd / 2 * np.sqrt((kurtosis - 1) / len(r))  # SE of an SD, from the sample kurtosis
    se_pub = published_sd / np.sqrt(2 * 170)
    assert abs(sd - published_sd) < 3 * np.hypot(se_sim, se_pub), (sd, published_sd)


def _incidence(trial, events: pd.DataFrame) -> pd.Series:
    n = trial.adsl.groupby("TRT01AN").size()
    return (events.groupby("TRTAN")["USUBJID"].nunique().reindex(n.index, fill_value=0) / n).reindex(ARMS)


SAFETY = {
    # name: (selection of ADAE rows, published incidence per arm)
    "any AE": (lambda ae: ae, [0.84, 0.85, 0.83, 0.94]),
    "injection-site reactions": (lambda ae: ae[ae["AEDECOD"] == "INJECTION SITE REACTION"], [0.04, 0.09, 0.19, 0.53]),
    "injection-related reactions": (lambda ae: ae[ae["AEDECOD"] == "INJECTION RELATED REACTION"],
                                    [0.04, 0.13, 0.11, 0.09]),
    "infections": (lambda ae: ae[ae["AEBODSYS"] == "INFECTIONS AND INFESTATIONS"], [0.57, 0.53, 0.47, 0.49]),
    "blood": (lambda ae: ae[ae["AEBODSYS"] == "BLOOD AND LYMPHATIC SYSTEM DISORDERS"], [0.10, 0.11, 0.13, 0.15]),
    "injury (15-17%)": (lambda ae: ae[ae["AEBODSYS"] == "INJURY, POISONING AND PROCEDURAL COMPLICATIONS"], [0.16] * 4),
    "leukopenia": (lambda ae: ae[ae["AEDECOD"] == "LEUKOPENIA"], [0.04, 0.06, 0.04, 0.13]),
    "neutropenia": (lambda ae: ae[ae["AEDECOD"] == "NEUTROPENIA"], [0.02, 0.06, 0.02, 0.09]),
}


@pytest.mark.parametrize("name", list(SAFETY))
def test_adverse_event_incidence(trial, name):
    select, published = SAFETY[name]
    observed = _incidence(trial, select(trial.adae))
    z = [_two_sample_z(observed[d], N_PUBLISHED[d], p, N_PUBLISHED[d]) for d, p in zip(ARMS, published, strict=True)]
    assert max(abs(v) for v in z) < 3, (name, observed.tolist(), z)


def test_serious_severe_and_discontinuing_events(trial):
    adae, adsl = trial.adae, trial.adsl
    # published: 7 of 190 patients with SAEs; severe AEs in 5 of 141 on ianalumab; 4 of 190
    # discontinued for (non-serious) AEs.
    serious = adae.loc[adae["AESER"] == "Y", "USUBJID"].nunique()
    severe = adae.loc[(adae["AESEV"] == "SEVERE") & (adae["TRTAN"] > 0), "USUBJID"].nunique()
    withdrawn = adae.loc[adae["AEACN"] == "DRUG WITHDRAWN", "USUBJID"].nunique()
    on_drug = int((adsl["TRT01AN"] > 0).sum())
    assert abs(_two_sample_z(serious / 190, 190, 7 / 190, 190)) < 3, serious
    assert abs(_two_sample_z(severe / on_drug, on_drug, 5 / 141, 141)) < 3, severe
    assert abs(_two_sample_z(withdrawn / 190, 190, 4 / 190, 190)) < 3, withdrawn


def test_biomarkers_and_drug_levels_move_as_published(trial):
    """published (qualitative): CD19+ B cells fell with dose, maximal at 50 mg; BAFF rose, near maximal
    at 50 mg; RF and IgG fell with dose. Medians of the week-24 ratio to baseline."""
    bm = trial.adbm[trial.adbm["AVISITN"] == 24]
    ratio = (bm["AVAL"] / bm["BASE"]).groupby([bm["PARAMCD"], bm["TRTPN"]]).median().unstack()
    cd19, baff = ratio.loc["CD19"], ratio.loc["BAFF"]
    assert cd19[0.0] > 0.7 and cd19[5.0] < cd19[0.0] and cd19[50.0] < 0.1 and cd19[300.0] < 0.1
    assert baff[0.0] < 1.4 and baff[5.0] > baff[0.0] and baff[50.0] > 0.8 * baff[300.0] > 2
    assert ratio.loc["RF", 300.0] < ratio.loc["RF", 0.0] and ratio.loc["IGG", 300.0] < ratio.loc["IGG", 0.0]
    trough = bm[bm["PARAMCD"] == "DRUGTRGH"].groupby("TRTPN")["AVAL"].median().reindex(ARMS)
    # Drug levels (magnitudes assumed, not published): none on placebo, rising with dose.
    assert trough[0.0] == 0 and trough.is_monotonic_increasing and trough[5.0] > 0


# --------------------------------------------------------------------------- the population


@pytest.fixture(scope="module")
def population():
    spec = load_spec("a2201")
    spec = dataclasses.replace(spec, arms=tuple(dataclasses.replace(a, n=20_000) for a in spec.arms))
    m = simulate_endpoint_matrix(spec, "ESSDAI", seed=12)
    return m


def test_population_values_are_ordinary_draws_of_the_published(population):
    m = population
    y, base, arm = m.values[0, :, -1], m.base[0], m.arm
    chg, seen = y - base, ~np.isnan(y)
    for i in range(4):
        s = arm == i
        n = N_PUBLISHED.iloc[i]
        for value, published in (
            (np.mean(seen[s] & (chg[s] <= -3)), RESPONDERS[i]),
            (np.mean(y[s & seen] < 5), LOW[i]),
            (np.mean(y[s & seen] > 13), HIGH[i]),
        ):
            assert abs(value - published) < 2 * np.sqrt(published * (1 - published) / n), (i, value, published)
    diff = np.nanmean(chg[arm == 3]) - np.nanmean(chg[arm == 0])
    assert abs(diff - ESSDAI_DIFF) < 2 * ESSDAI_DIFF_SE, diff
    completed = seen.mean()
    assert abs(190 * completed - 178) < 2 * np.sqrt(190 * (178 / 190) * (12 / 190)), completed
    assert abs(base.mean() - 13.5) < 2 * 6.2 / np.sqrt(190) and abs(np.mean(base >= 10) - 0.70) < 0.01
