"""Table 4 (study.published) against a simulated A2201 trial: the tidy frames of ``analyze(spec).frames()``.

Every item of presets/analysis/a2201_published.toml resolves, except those whose data the
current virtual trial does not simulate yet (the adverse event lymphocyte count decreased): those fail with an InputError
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

from dosefinding.errors import InputError
from dosefinding.report import load_schema
from dosefinding.study import simulate_trial
from dosefinding.study.analysis import StudyResults
from dosefinding.study.analysis_spec import parse_analysis_spec
from dosefinding.study.pipeline import a2201_analysis_text, analyze
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
PENDING: set[str] = set()  # items the virtual trial cannot fill yet (none: every item resolves)


@pytest.fixture(scope="module")
def trial() -> tuple[StudyResults, dict[str, pd.DataFrame]]:
    with tempfile.TemporaryDirectory() as tmp:
        simulated = simulate_trial("a2201", seed=11)
        simulated.write(Path(tmp) / "adam")
        spec = parse_analysis_spec(a2201_analysis_text(), base=tmp)
        assert spec.primary is not None
        result = analyze(replace(spec, primary=replace(spec.primary, model_average_draws=0)))
        adam = {name: pd.read_csv(Path(tmp) / "adam" / f"{name}.csv") for name in ("adsl", "adeff", "adae")}
    return result, adam


@pytest.fixture(scope="module")
def frames(trial: tuple[StudyResults, dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    return trial[0].frames()


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
    for item in items:  # an item's absent value (an AE nobody had) must not hide a misspelt term
        if item.absent is not None:
            assert virtual_value(item, frames)[1] is not None or not frames["ae"]["term"].eq(
                item.where["term"]).any(), item.label
    terms = {i.where["term"] for i in items if i.absent is not None}
    assert terms <= set(frames["ae"]["term"]), terms - set(frames["ae"]["term"])


def test_virtual_values_are_the_datas(trial: tuple[StudyResults, dict[str, pd.DataFrame]],
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
    # the paper's 178 completed the 24-week treatment period: the demo's disposition reads EOTSTT
    assert value("Completed week 24, all arms") == (randomised["EOTSTT"] == "COMPLETED").sum()


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
