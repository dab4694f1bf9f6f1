"""Table 4 (study.published) against a simulated A2201 trial analysed by the CURRENT pipeline.

``frames_from_analysis`` below is a stand-in: it builds the tidy frames of the results
(names and columns as ``StudyResults.frames()`` will give them, see the layout part of
issue 15) from the current ``analyze()`` result and the ADaM data. When the layout's
``StudyResults.frames()`` exists it replaces this adapter, and the pending items below
must resolve too.

Every item of presets/analysis/a2201_published.toml resolves, except those whose data the
current virtual trial does not simulate yet (screening, time since diagnosis, ANA / RF /
hypergammaglobulinaemia flags, lymphocyte count decreased): those fail with an InputError
naming the item and its selector, and the test pins that list so it cannot grow unseen.
The virtual values the items pick equal direct counts on the ADaM data (1e-12).
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import replace
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest

from dosefinding.endpoints import ae_incidence, ae_overview, compare_responders, responder_rates
from dosefinding.endpoints.adverse_events import ANY_EVENT
from dosefinding.errors import InputError
from dosefinding.report import load_schema
from dosefinding.study import simulate_trial
from dosefinding.study.analysis_spec import parse_analysis_spec
from dosefinding.study.pipeline import AnalysisResult, a2201_analysis_text, analyze, categories
from dosefinding.study.published import (
    a2201_published_path,
    load_not_compared,
    load_published,
    published_frame,
    published_table,
    virtual_value,
)

ARMS = ["Placebo", "VAY736 5 mg", "VAY736 50 mg", "VAY736 300 mg"]
RESPONDER = "ESSDAI responders (decrease >= 3 points), week 24"
PENDING = {  # needs from the virtual trial (issue 15): screening, disease characteristics, lab AEs
    "Patients screened", "Excluded at screening",
    *(f"{what}, {arm}" for what in ("Time since diagnosis, mean (years)", "ANA positive (%)", "RF positive (%)",
                                    "Hypergammaglobulinaemia (%)", "Lymphocyte count decreased (%)")
      for arm in ("placebo", "5 mg", "50 mg", "300 mg")),
}


def _flag(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip().eq("Y").fillna(False).astype(bool)


def frames_from_analysis(result: AnalysisResult, adam: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tidy frames of issue 15 from the current pipeline's result (stand-in for StudyResults.frames())."""
    spec = result.spec
    adsl = adam["adsl"]
    randomised = adsl[_flag(adsl["RANDFL"])]
    arm = randomised["TRT01P"]
    stages = {"Randomised": randomised, "Treated": randomised[_flag(randomised["SAFFL"])],
              "Completed": randomised[_flag(randomised["COMPLFL"])],
              "Discontinued": randomised[randomised["EOSSTT"] == "DISCONTINUED"]}
    disposition = pd.DataFrame([{"stage": s, "arm": a, "n": int((rows["TRT01P"] == a).sum())}
                                for s, rows in stages.items() for a in ARMS])
    reasons = sorted(r for r in randomised["DCSREAS"].fillna("").unique() if r)
    discontinuation = pd.DataFrame([{"reason": r, "arm": a, "n": int(((arm == a) & (randomised["DCSREAS"] == r)).sum())}
                                    for r in reasons for a in ARMS])
    baseline = []
    for variable in ("AGE", "WEIGHTBL"):
        for a in ARMS:
            x = randomised.loc[arm == a, variable].astype(float)
            baseline.append({"variable": variable, "label": variable, "level": None, "arm": a, "n": int(x.count()),
                             "mean": x.mean(), "sd": x.std(ddof=1), "count": None, "percent": None})
    for variable in ("SEX", "RACE", "STRAT1R"):
        for level in sorted(randomised[variable].dropna().unique()):
            for a in ARMS:
                x = randomised.loc[arm == a, variable]
                k = int((x == level).sum())
                baseline.append({"variable": variable, "label": variable, "level": level, "arm": a, "n": len(x),
                                 "mean": None, "sd": None, "count": k, "percent": 100.0 * k / len(x)})
    lsmeans, differences = [], []
    for name, fit in result.endpoints.items():
        visit_number = {label: v for v, label in fit.visits.items()}
        analysed = fit.data.dropna(subset=[fit.spec.response])
        for (label, a), row in fit.lsmeans.estimates.iterrows():
            n = int(((analysed[fit.spec.visit_label] == label) & (analysed["TRT01P"] == a)).sum())
            lsmeans.append({"endpoint": name, "arm": a, "visit": visit_number[label], "estimate": row["estimate"],
                            "se": row["se"], "lower": row["lower"], "upper": row["upper"], "n": n})
        for (label, a), row in fit.lsmeans.differences.iterrows():
            differences.append({"endpoint": name, "arm": a, "visit": visit_number[label], "estimate": row["estimate"],
                                "se": row["se"], "lower": row["lower"], "upper": row["upper"], "p_value": row["p"]})
    assert result.mcpmod is not None
    mct = result.mcpmod.mct
    mcp = pd.DataFrame({"shape": list(mct.t_statistics.index), "t": mct.t_statistics.to_numpy(),
                        "p_value": mct.p_values.to_numpy()})  # type: ignore[union-attr]
    fas = randomised[_flag(randomised["FASFL"])][["USUBJID", "TRT01P"]]
    adeff = adam["adeff"]
    week24 = adeff[(adeff["PARAMCD"] == "ESSDAI") & (adeff["ANL01FL"] == "Y") & (adeff["AVISITN"] == 24)]
    response = fas.merge(week24[["USUBJID", "CHG"]], on="USUBJID", how="left")
    response["R"] = np.where(response["CHG"].isna(), np.nan, (response["CHG"] <= -3).astype(float))
    rates = responder_rates(response, arm="TRT01P", response="R", arms=ARMS).table.reset_index(names="arm")
    tests = compare_responders(response, arm="TRT01P", response="R", reference="Placebo", arms=ARMS)
    responders = rates.assign(name=RESPONDER)[["name", "arm", "n", "responders", "percent", "lower", "upper"]]
    responder_tests = tests.table.reset_index(names="arm").assign(name=RESPONDER)[
        ["name", "arm", "difference", "lower", "upper", "p_value"]]
    category_rows = []
    for c, _, shares in categories(spec, result.endpoints):
        for a in shares.index:
            for k in shares.columns:
                category_rows.append({"name": c.name, "period": "Week 24", "arm": a, "category": k, "n": None,
                                      "percent": float(shares.loc[a, k])})
    adae = adam["adae"]
    kw = {"arm": "TRT01A", "arms": ARMS}
    overview, incidence = ae_overview(adae, adsl, **kw), ae_incidence(adae, adsl, **kw)
    ae = []
    for table, overall in ((overview, True), (incidence, False)):
        for key, counts in table.counts.iterrows():
            if overall:
                soc, term = "", (ANY_EVENT if key == "Any TEAE" else key)
            else:
                soc, term = key
                if soc == ANY_EVENT:
                    continue
            for a in ARMS:
                ae.append({"soc": soc, "term": term, "arm": a, "n": int(counts[a]),
                           "percent": float(table.percent.loc[key, a])})
    return {"disposition": disposition, "discontinuation": discontinuation, "baseline": pd.DataFrame(baseline),
            "lsmeans": pd.DataFrame(lsmeans), "differences": pd.DataFrame(differences), "mcp": mcp,
            "responders": responders, "responder_tests": responder_tests,
            "categories": pd.DataFrame(category_rows), "ae": pd.DataFrame(ae)}


@pytest.fixture(scope="module")
def trial() -> tuple[AnalysisResult, dict[str, pd.DataFrame]]:
    with tempfile.TemporaryDirectory() as tmp:
        simulated = simulate_trial("a2201", seed=11)
        simulated.write(Path(tmp) / "adam")
        spec = parse_analysis_spec(a2201_analysis_text(), base=tmp)
        assert spec.primary is not None
        result = analyze(replace(spec, primary=replace(spec.primary, model_average_draws=0)))
        adam = {name: pd.read_csv(Path(tmp) / "adam" / f"{name}.csv") for name in ("adsl", "adeff", "adae")}
    return result, adam


@pytest.fixture(scope="module")
def frames(trial: tuple[AnalysisResult, dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    return frames_from_analysis(*trial)


def test_every_item_resolves_but_the_pending_ones(frames: dict[str, pd.DataFrame]) -> None:
    items = load_published(a2201_published_path())
    assert len(items) == 120
    failed = {}
    for item in items:
        try:
            virtual_value(item, frames)
        except InputError as exc:
            failed[item.label] = str(exc)
    assert set(failed) == PENDING
    for label, message in failed.items():
        assert message.startswith(f"published item {label!r} (") and "where {" in message, message


def test_virtual_values_are_the_datas(trial: tuple[AnalysisResult, dict[str, pd.DataFrame]],
                                      frames: dict[str, pd.DataFrame]) -> None:
    result, adam = trial
    items = {i.label: i for i in load_published(a2201_published_path()) if i.label not in PENDING}
    adsl, adae = adam["adsl"], adam["adae"]
    safety = adsl[(adsl["SAFFL"] == "Y") & (adsl["RANDFL"] == "Y")]
    teae = adae[adae["TRTEMFL"] == "Y"]

    def value(label: str) -> float:
        return virtual_value(items[label], frames)[0]

    n300 = int((safety["TRT01A"] == "VAY736 300 mg").sum())
    isr = teae.loc[teae["AEDECOD"] == "INJECTION SITE REACTION", "USUBJID"]
    expected = 100 * safety.loc[safety["TRT01A"] == "VAY736 300 mg", "USUBJID"].isin(isr).sum() / n300
    assert value("Injection site reaction (%), 300 mg") == pytest.approx(expected, rel=1e-12)
    active = safety[safety["TRT01A"] != "Placebo"]
    serious = set(teae.loc[teae["AESER"] == "Y", "USUBJID"])
    assert value("Serious adverse events, all arms (patients)") == safety["USUBJID"].isin(serious).sum()
    assert value("Patients treated with ianalumab") == len(active)
    female = adsl[(adsl["RANDFL"] == "Y") & (adsl["TRT01P"] == "Placebo")]["SEX"].eq("F").mean() * 100
    assert value("Female (%), placebo") == pytest.approx(female, rel=1e-12)
    diff = result.endpoints["ESSDAI"].lsmeans.differences.loc[("Week 24", "VAY736 300 mg"), "estimate"]
    assert value("ESSDAI change, 300 mg minus placebo") == pytest.approx(diff, rel=1e-12)
    p = np.sort(result.mcpmod.mct.p_values.to_numpy())  # type: ignore[union-attr]
    assert value("MCP step, largest adjusted p-value") == pytest.approx(p[-1], rel=1e-12)
    assert value("MCP step, smallest adjusted p-value") == pytest.approx(p[0], rel=1e-12)
    randomised = adsl[adsl["RANDFL"] == "Y"]
    assert value("Completed week 24, all arms") == (randomised["COMPLFL"] == "Y").sum()


def test_table_4_shows_the_distance_in_published_ses(frames: dict[str, pd.DataFrame]) -> None:
    items = [i for i in load_published(a2201_published_path()) if i.label not in PENDING]
    table = published_table(items, frames, not_compared=load_not_compared(a2201_published_path()))
    rows = {r.label: r for r in table.rows}
    essdai = rows["ESSDAI change, 300 mg minus placebo"]
    virtual = essdai.values[1]["value"]
    se = (0.32 + 4.15) / (2 * 1.959963984540054)
    assert essdai.values[2] == pytest.approx(se, rel=1e-15)
    assert essdai.values[3] == pytest.approx((virtual + 1.92) / se, rel=1e-12)
    assert essdai.cells[0] == "-1.92 (-4.15, 0.32)" and essdai.cells[4] == "SE from the 95% CI"
    assert rows["ESSDAI change, 300 mg minus placebo: p-value"].cells[2:4] == ("n/a", "n/a")
    assert rows["MCP step, smallest adjusted p-value"].cells[0] == "< 0.025"
    assert rows["MCP step, smallest adjusted p-value"].cells[3] in ("within", "outside")
    white = rows["White (%), placebo"]
    assert white.values[2] == pytest.approx(100 * math.sqrt(0.9 * 0.1 / 49), rel=1e-15)
    assert rows["Randomised, placebo"].cells[2:] == ("n/a", "n/a", "fixed by the design (equal allocation)")
    frame = published_frame(items, frames)
    assert frame["label"].tolist() == [i.label for i in items]
    schema = load_schema()  # the table as results.json holds it
    document = json.loads(json.dumps(table.to_dict())) | {"files": []}
    jsonschema.validate(document, {"$defs": schema["$defs"], **schema["$defs"]["table"]})
    assert [r.label for r in table.rows if r.heading] == list(dict.fromkeys(i.section for i in items))
