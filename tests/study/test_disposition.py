"""Screening with the study's eligibility rules, disposition (DS and ADSL), and the virtual trial's new data.

Screening counts are Monte Carlo quantities: candidates are screened until 190 are randomised,
so the number not randomised is negative binomial. Over ``SEEDS`` trials the mean number
screened (and failing) must be within 4 of its standard errors of the model's expectation,
computed here in closed form, and that expectation within 1 of the published 293 (96); with
the seeds fixed the outcome is deterministic.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from dosefinding.errors import InputError
from dosefinding.randomization import A2201_RULES
from dosefinding.study import load_spec, parse_spec, simulate_trial
from dosefinding.study.spec import preset_path

SEEDS = 60
PUBLISHED_SCREENED, PUBLISHED_FAILED, PUBLISHED_OTHER = 293, 96, 7


@pytest.fixture(scope="module")
def spec():
    return load_spec("a2201")


@pytest.fixture(scope="module")
def trial(spec):
    return simulate_trial(spec)


def test_the_spec_screens_with_the_services_rules_object(spec):
    assert spec.screening.rules is A2201_RULES


def test_ds_and_adsl_agree(trial):
    ds, adsl = trial.ds, trial.adsl
    screening = ds[ds["DSSCAT"] == "SCREENING"]
    # one screening record per candidate; randomised = ADSL, exactly
    assert screening["USUBJID"].is_unique
    randomised = screening.loc[screening["DSDECOD"] == "RANDOMIZED", "USUBJID"]
    assert sorted(randomised) == sorted(adsl["USUBJID"])
    failures = screening[screening["DSDECOD"] == "SCREEN FAILURE"]
    others = screening[~screening["DSDECOD"].isin(["RANDOMIZED", "SCREEN FAILURE"])]
    assert len(screening) == len(adsl) + len(failures) + len(others)
    assert not screening.loc[screening["DSDECOD"] != "RANDOMIZED", "USUBJID"].isin(adsl["USUBJID"]).any()
    # a screen failure's term is the text of the rule it fails, its reason the rule's own account
    texts = {rule.text: rule for rule in A2201_RULES.rules}
    assert failures["DSTERM"].isin(texts).all() and len(failures) > 50
    for term, reason in zip(failures["DSTERM"], failures["DSREAS"], strict=True):
        assert reason.startswith(texts[term].field), (term, reason)
    assert (others["DSDECOD"] == "WITHDRAWAL BY SUBJECT").all()
    # the end of the treatment period: COMPLETED or ADSL's reason, with its verbatim term
    period = ds[ds["DSSCAT"] == "TREATMENT PERIOD"].set_index("USUBJID").reindex(adsl["USUBJID"])
    completed = adsl["EOSSTT"].eq("COMPLETED").to_numpy()
    assert (period["DSDECOD"].to_numpy() == np.where(completed, "COMPLETED", adsl["DCSREAS"])).all()
    assert (period["DSTERM"].to_numpy()[~completed] == adsl["DCSREASP"].to_numpy()[~completed]).all()
    assert (period["DSSTDT"].to_numpy() == adsl["EOSDT"].to_numpy()).all()
    assert ((adsl["DSRAEFL"] == "Y") == (adsl["DCSREAS"] == "ADVERSE EVENT")).all()
    # ADAE: the last event of each subject who stopped treatment for an AE, and no other, has the drug withdrawn
    withdrawn = trial.adae.loc[trial.adae["AEACN"] == "DRUG WITHDRAWN"]
    assert sorted(withdrawn["USUBJID"]) == sorted(adsl.loc[adsl["DCTREAS"] == "ADVERSE EVENT", "USUBJID"])
    last = trial.adae.groupby("USUBJID")["ASTDY"].max()
    assert (withdrawn["ASTDY"].to_numpy() == last[withdrawn["USUBJID"]].to_numpy()).all()
    assert set(adsl["DCSREAS"]) <= {"", "WITHDRAWAL BY SUBJECT", "PROTOCOL VIOLATION", "ADVERSE EVENT"}
    assert (ds["DSCAT"] == "DISPOSITION EVENT").all()
    assert (ds.groupby("USUBJID")["DSSEQ"].agg(lambda s: list(s) == list(range(1, len(s) + 1)))).all()


def test_randomised_subjects_pass_the_rules_with_their_baseline_values(spec, trial):
    adsl = trial.adsl
    values = {field: adsl[column].tolist() if column != "SSAFL" else (adsl[column] == "Y").tolist()
              for field, column in spec.screening.fields.items()}
    assert A2201_RULES.evaluate(values).all()
    assert (adsl["ESSPRIBL"] >= 5).all() and (adsl["SFSTIMBL"] > 0.1).all() and (adsl["SSAFL"] == "Y").all()


def test_a_randomised_subject_that_would_fail_a_rule_is_an_error(spec):
    """The rules are evaluated on the randomised subjects too: a baseline allowing ESSPRI < 5 is refused."""
    esspri = spec.endpoint("ESSPRI")
    loose = dataclasses.replace(esspri, baseline=dataclasses.replace(esspri.baseline, lower=2.0))
    bad = dataclasses.replace(spec, endpoints=tuple(loose if e.paramcd == "ESSPRI" else e for e in spec.endpoints))
    with pytest.raises(InputError, match=r"^screening\.fields\.ESSPRI: a randomised subject fails rule ESSPRI"):
        simulate_trial(bad)


def test_screening_counts_are_near_the_published_over_seeds(spec):
    sc = spec.screening
    p_fail, p_other = sc.ineligible, (1 - sc.ineligible) * sc.other
    p_rand = 1 - p_fail - p_other
    n = int(spec.sizes.sum())
    # not randomised ~ negative binomial(n, p_rand); each is a screen failure with probability q
    mean_not, var_not = n * (1 - p_rand) / p_rand, n * (1 - p_rand) / p_rand**2
    q = p_fail / (p_fail + p_other)
    expected = {"screened": n + mean_not, "failed": q * mean_not, "other": (1 - q) * mean_not}
    sd = {"screened": np.sqrt(var_not), "failed": np.sqrt(mean_not * q * (1 - q) + q**2 * var_not),
          "other": np.sqrt(mean_not * q * (1 - q) + (1 - q) ** 2 * var_not)}
    assert abs(expected["screened"] - PUBLISHED_SCREENED) < 1 and abs(expected["failed"] - PUBLISHED_FAILED) < 1
    assert abs(expected["other"] - PUBLISHED_OTHER) < 1
    counts = []
    for seed in range(SEEDS):
        t = simulate_trial(spec, seed=seed)
        s = t.ds[t.ds["DSSCAT"] == "SCREENING"]
        assert t.adsl.groupby("TRT01PN").size().tolist() == [49, 47, 47, 47]
        counts.append({"screened": len(s), "failed": int((s["DSDECOD"] == "SCREEN FAILURE").sum()),
                       "other": int((s["DSDECOD"] == "WITHDRAWAL BY SUBJECT").sum())})
    observed = pd.DataFrame(counts).mean()
    for key, value in expected.items():
        assert abs(observed[key] - value) < 4 * sd[key] / np.sqrt(SEEDS), (key, observed[key], value)


def test_new_parameters_with_units_and_week24_drug_levels(spec, trial):
    params = trial.adeff.attrs["parameters"] | trial.adbm.attrs["parameters"]
    assert params["SFUNSTIM"] == "Unstimulated whole salivary flow (mL/min)"
    assert params["SCHIRMER"] == "Schirmer test (mm/5 min)"
    for code, unit in (("CD19", "cells/uL"), ("BAFF", "pg/mL"), ("RF", "IU/mL"), ("IGG", "g/L"), ("DRUGTRGH", "ug/mL"),
                       ("PHGA", "mm"), ("PAGA", "mm"), ("SFSTIM", "mL/min")):
        assert params[code].endswith(f"({unit})"), code
    assert set(trial.adeff["PARAMCD"]) >= {"ESSDAI", "PHGA", "ESSPRI", "PAGA", "SFSTIM", "SFUNSTIM", "SCHIRMER",
                                           "FACITF", "SF36PCS", "SF36MCS"}
    bm = trial.adbm
    for code in ("CD19", "BAFF", "RF", "IGG"):
        one = bm[(bm["PARAMCD"] == code) & (bm["AVISITN"] == 24)]
        np.testing.assert_allclose(one["CHG"], one["AVAL"] - one["BASE"], rtol=1e-12)
    # drug level at week 24 for every subject who completed (placebo: 0, flagged BLQ)
    trough = bm[(bm["PARAMCD"] == "DRUGTRGH") & (bm["AVISITN"] == 24)].set_index("USUBJID")
    completers = trial.adsl.loc[trial.adsl["COMPLFL"] == "Y", "USUBJID"]
    assert completers.isin(trough.index).all()
    placebo = trough[trough["TRTPN"] == 0]
    assert (placebo["AVAL"] == 0).all() and (placebo["BLQFL"] == "Y").all()
    # published: CD19 and IgG maximal (and BAFF near maximal) at 50 mg; RF falls with dose (population values)
    effect = {code: spec.endpoint(code).true_mean_change()[:, -1] for code in ("CD19", "BAFF", "RF", "IGG")}
    for code in ("CD19", "BAFF", "IGG"):
        assert abs(effect[code][2]) >= 0.85 * abs(effect[code][3]), code
    assert np.all(np.diff(effect["RF"]) < 0) and np.all(np.diff(effect["IGG"]) < 0)


def test_baseline_characteristics_at_the_pooled_published_rates(spec):
    """10,000 subjects: each rate within 4 Monte Carlo SEs of the pooled published value."""
    n = 2_500
    large = dataclasses.replace(spec, arms=tuple(dataclasses.replace(a, n=n) for a in spec.arms), screening=None)
    trial = simulate_trial(large, seed=3)
    adsl = trial.adsl
    total = 4 * n
    pooled = {"ANAFL": (0.98 * 49 + 0.87 * 47 + 0.85 * 47 + 0.87 * 47) / 190,
              "RFFL": (0.33 * 49 + 0.39 * 47 + 0.40 * 47 + 0.43 * 47) / 190,
              "HYPERGFL": (0.53 * 49 + 0.45 * 47 + 0.43 * 47 + 0.49 * 47) / 190, "SSAFL": 1.0}
    for name, p in pooled.items():
        share = float((adsl[name] == "Y").mean())
        assert abs(share - p) <= 4 * np.sqrt(p * (1 - p) / total), (name, share, p)
    # RF positive and hypergammaglobulinaemia are the biomarkers' baselines at or above their cuts
    base = trial.adbm[trial.adbm["ABLFL"] == "Y"].pivot(index="USUBJID", columns="PARAMCD", values="BASE")
    flags = adsl.set_index("USUBJID")
    assert ((flags["RFFL"] == "Y") == (base["RF"].reindex(flags.index) >= 20)).all()
    assert ((flags["HYPERGFL"] == "Y") == (base["IGG"].reindex(flags.index) >= 16)).all()
    # published: mean time since diagnosis 5 to 7 years by arm
    assert 5 <= adsl["DIAGDUR"].mean() <= 7 and (adsl["DIAGDUR"] >= 0).all()
    assert adsl.attrs["labels"]["DIAGDUR"] == "Time since diagnosis (years)"


SCREENING = """
[screening]
rules = "a2201"
ineligible = 0.3
reasons = {ESSPRI = 0.5, AGE = 0.5}
failing = {ESSPRI = [2.0, 4.9], AGE = [76, 80]}
fields = {AGE = "AGE", ESSDAI7 = "ESSDAIBL", ESSPRI = "ESSPRIBL", ANTIRO = "SSAFL", SALFLOW = "SFSTIMBL"}
"""


def _a2201_with(screening: str) -> str:
    text = preset_path("a2201").read_text(encoding="utf-8")
    start = text.index("[screening]")
    end = text.index("# ----", start)
    return text[:start] + screening + "\n" + text[end:]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("ESSPRI = 0.5, AGE", "ESSPRO = 0.5, AGE", "screening.reasons.ESSPRO: no rule 'ESSPRO' in the eligibility rules"),
        ("ESSPRI = 0.5, AGE = 0.5", "ESSPRI = 0.5, AGE = 0.4", "screening.reasons: shares must add up to 1, got 0.9"),
        ("AGE = [76, 80]", "AGE = [70, 80]", "screening.failing.AGE: [70, 80] must fail rule AGE"),
        ("ESSPRI = [2.0, 4.9], ", "", "screening.failing.ESSPRI: missing"),
        ('ESSPRI = "ESSPRIBL"', 'ESSPRI = "ESSPRI"', "screening.fields.ESSPRI: 'ESSPRI' is not an ADSL column"),
        (', SALFLOW = "SFSTIMBL"', "", "screening.fields.SALFLOW: missing"),
        ('rules = "a2201"', 'rules = "a2202"', "screening.rules: 'a2202' is neither a randomisation preset"),
        ("ineligible = 0.3", "ineligible = 1.3", "screening.ineligible: must be at most 1"),
    ],
)
def test_bad_screening_names_the_key(old, new, message):
    assert old in SCREENING, old
    text = _a2201_with(SCREENING.replace(old, new, 1))
    with pytest.raises(InputError) as info:
        parse_spec(text)
    assert str(info.value).startswith(message) and "\n" not in str(info.value), str(info.value)


def test_the_modified_screening_parses():
    spec = parse_spec(_a2201_with(SCREENING))
    assert dict(spec.screening.reasons) == {"ESSPRI": 0.5, "AGE": 0.5} and spec.screening.failing["AGE"] == (76, 80)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('"PROTOCOL VIOLATION" = ["Non', '"PROTOCOL VIOLATIONS" = ["Non',
         "dropout.terms.PROTOCOL VIOLATIONS: not a reason of dropout.reasons"),
        ('biomarker = "RF"', 'biomarker = "RFX"', "characteristics.RFFL.biomarker: unknown biomarker 'RFX'"),
        ("probability = 0.893", "probability = 1.893", "characteristics.ANAFL.probability: must be at most 1"),
        ("alpha = 0.05", "alpha = 0", "analysis.alpha: must be greater than 0"),
        ('alternative = "one-sided"', 'alternative = "greater"', "analysis.alternative: must be one of"),
    ],
)
def test_bad_preset_keys_name_the_key(old, new, message):
    text = preset_path("a2201").read_text(encoding="utf-8")
    assert old in text, old
    with pytest.raises(InputError) as info:
        parse_spec(text.replace(old, new, 1))
    assert str(info.value).startswith(message) and "\n" not in str(info.value), str(info.value)
