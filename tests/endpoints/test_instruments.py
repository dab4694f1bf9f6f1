"""Instrument scoring against the published scoring rules, and property tests.

Sources (cited per test):
- ESSDAI: Seror et al., Ann Rheum Dis 2010;69:1103-9, Table 3 (domain weights and activity
  levels) and the table of domain scores in the ESSDAI user guide (Seror et al., RMD Open
  2015;1:e000022): e.g. constitutional low = 3, moderate = 6; lymphadenopathy 4, 8, 12;
  articular 2, 4, 6; cutaneous 3, 6, 9; muscular moderate = 12, high = 18; CNS moderate =
  10, high = 15 (no low level); range 0-123. Activity levels: low < 5, moderate 5-13, high
  >= 14 (Seror et al., Ann Rheum Dis 2016;75:382-9).
- ClinESSDAI: Seror et al., Ann Rheum Dis 2016;75:1945-50 (11 domains, re-estimated weights).
- ESSPRI: Seror et al., Ann Rheum Dis 2011;70:968-72 (mean of dryness, fatigue, pain, 0-10).
- FACIT-Fatigue: FACIT-Fatigue scoring guidelines v4 (facit.org): 13 items 0-4, all but
  An5 and An7 reversed, score = sum x 13 / answered if more than half answered, 0-52.
- RAND-36: RAND 36-Item Health Survey 1.0 scoring instructions (rand.org), Tables 1-2, and
  their worked energy/fatigue example (items 23, 27, 29 = 4, 3, 3, item 31 blank -> 46.7).
- SF-36 PCS/MCS: Ware, Kosinski & Keller 1994 (1990 US general population coefficients).

Tolerances: integer-valued scores exactly; prorated and averaged scores 1e-12 absolute.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosefinding.endpoints.instruments import (
    A2201_ELIGIBILITY_DOMAINS,
    CLINESSDAI_WEIGHTS,
    ESSDAI_DOMAINS,
    ESSDAI_LEVELS,
    FACIT_FATIGUE_ITEMS,
    RAND36_RECODE,
    SF36_US1990,
    clinessdai,
    essdai,
    essdai_category,
    essdai_domain_scores,
    esspri,
    facit_fatigue,
    rand36_scales,
    sf36_summary,
    vas_mm,
)
from dosefinding.errors import InputError

ZERO = dict.fromkeys(ESSDAI_DOMAINS, 0)


# ---------------------------------------------------------------- ESSDAI


@pytest.mark.parametrize(
    ("domain", "published"),
    [
        ("constitutional", {1: 3, 2: 6}),
        ("lymphadenopathy", {1: 4, 2: 8, 3: 12}),
        ("glandular", {1: 2, 2: 4}),
        ("articular", {1: 2, 2: 4, 3: 6}),
        ("cutaneous", {1: 3, 2: 6, 3: 9}),
        ("pulmonary", {1: 5, 2: 10, 3: 15}),
        ("renal", {1: 5, 2: 10, 3: 15}),
        ("muscular", {1: 6, 2: 12, 3: 18}),
        ("pns", {1: 5, 2: 10, 3: 15}),
        ("cns", {2: 10, 3: 15}),
        ("haematological", {1: 2, 2: 4, 3: 6}),
        ("biological", {1: 1, 2: 2}),
    ],
)
def test_essdai_domain_scores_are_the_published_points(domain, published):
    """Seror 2010 Table 3 / user guide 2015: points of each activity level."""
    assert set(ESSDAI_LEVELS[domain]) == {0, *published}
    frame = pd.DataFrame([ZERO | {domain: level} for level in published])
    assert essdai(frame).tolist() == [float(v) for v in published.values()]
    scores = essdai_domain_scores(frame)
    assert scores[domain].tolist() == [float(v) for v in published.values()]


def test_essdai_range_and_worked_example():
    """Seror 2010: range 0-123. Worked example: arthralgias with morning stiffness > 30 min
    (articular low, 1 x 2), major parotid swelling > 3 cm (glandular moderate, 2 x 2),
    lymphopenia 500-1000/mm3 (haematological low, 1 x 2) and IgG 16-20 g/L (biological
    low, 1 x 1): 2 + 4 + 2 + 1 = 9; all four domains are among A2201's 7, so the subtotal
    is 9 too; category moderate (5-13)."""
    worst = {d: max(levels) for d, levels in ESSDAI_LEVELS.items()}
    patient = ZERO | {"articular": 1, "glandular": 2, "haematological": 1, "biological": 1}
    frame = pd.DataFrame([ZERO, worst, patient])
    assert essdai(frame).tolist() == [0.0, 123.0, 9.0]
    assert essdai(frame, domains=A2201_ELIGIBILITY_DOMAINS).tolist() == [0.0, 6 + 12 + 4 + 6 + 9 + 6 + 2, 9.0]
    assert list(essdai_category(essdai(frame))) == ["low", "high", "moderate"]


def test_essdai_category_cutoffs():
    """Seror 2016: low < 5, moderate 5-13, high >= 14; missing stays missing."""
    cats = essdai_category(pd.Series([0, 4.99, 5, 13, 13.5, 14, 123, np.nan]))
    assert list(cats.astype(object)[:7]) == ["low", "low", "moderate", "moderate", "moderate", "high", "high"]
    assert pd.isna(cats[7])
    with pytest.raises(InputError, match="non-negative"):
        essdai_category([-1])


def test_clinessdai_weights_and_range():
    """Seror 2016 (ClinESSDAI): 11 domains without biological; maximum 135."""
    assert "biological" not in CLINESSDAI_WEIGHTS and len(CLINESSDAI_WEIGHTS) == 11
    worst = {d: max(ESSDAI_LEVELS[d]) for d in CLINESSDAI_WEIGHTS}
    assert clinessdai(worst).tolist() == [135.0]
    assert clinessdai(dict.fromkeys(CLINESSDAI_WEIGHTS, 0) | {"muscular": 1, "articular": 2}).tolist() == [13.0]


@pytest.mark.parametrize(
    ("domain", "level"),
    [("cns", 1), ("constitutional", 3), ("biological", 3), ("renal", 4), ("glandular", -1), ("pns", 1.5)],
)
def test_essdai_invalid_level_names_domain_and_value(domain, level):
    with pytest.raises(InputError, match=rf"{domain} .* = {level!r}"):
        essdai(ZERO | {domain: level})


def test_essdai_missing_and_mapped_columns():
    with pytest.raises(InputError, match="renal .* is missing"):
        essdai(ZERO | {"renal": None})
    assert np.isnan(essdai(ZERO | {"renal": None}, allow_missing=True).iloc[0])
    with pytest.raises(InputError, match="missing item column"):
        essdai({"articular": 1})
    renamed = {f"ESS_{d.upper()}": 0 for d in ESSDAI_DOMAINS} | {"ESS_CNS": 2}
    columns = {d: f"ESS_{d.upper()}" for d in ESSDAI_DOMAINS}
    assert essdai(renamed, columns=columns).tolist() == [10.0]


essdai_rows = st.fixed_dictionaries({d: st.sampled_from(levels) for d, levels in ESSDAI_LEVELS.items()})


@settings(max_examples=100, deadline=None)
@given(essdai_rows, st.sampled_from(ESSDAI_DOMAINS))
def test_essdai_range_and_monotone_in_each_domain(row, domain):
    score = essdai(row).iloc[0]
    assert 0 <= score <= 123
    assert clinessdai(row).iloc[0] <= 135
    levels = ESSDAI_LEVELS[domain]
    higher = [v for v in levels if v > row[domain]]
    if higher:
        assert essdai(row | {domain: higher[0]}).iloc[0] > score
    assert essdai(row, domains=A2201_ELIGIBILITY_DOMAINS).iloc[0] <= score


# ---------------------------------------------------------------- ESSPRI


def test_esspri_mean_and_validation():
    """Seror 2011: ESSPRI = (dryness + fatigue + pain) / 3."""
    frame = pd.DataFrame({"dryness": [7, 0, 10], "fatigue": [5, 0, 10], "pain": [4, 0, 10]})
    np.testing.assert_allclose(esspri(frame).to_numpy(), [16 / 3, 0, 10], atol=1e-12)
    with pytest.raises(InputError, match=r"pain .* = 11"):
        esspri({"dryness": 1, "fatigue": 1, "pain": 11})
    with pytest.raises(InputError, match="fatigue .* is missing"):
        esspri({"dryness": 1, "fatigue": None, "pain": 1})
    with pytest.raises(InputError, match="non-numeric"):
        esspri({"dryness": "high", "fatigue": 1, "pain": 1})


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 10), min_size=3, max_size=3), st.integers(0, 2), st.floats(0, 10))
def test_esspri_range_and_monotone(values, which, new):
    row = dict(zip(("dryness", "fatigue", "pain"), values, strict=True))
    score = esspri(row).iloc[0]
    assert 0 <= score <= 10
    item = ("dryness", "fatigue", "pain")[which]
    changed = esspri(row | {item: new}).iloc[0]
    assert np.sign(round(changed - score, 12)) == np.sign(round((new - row[item]) / 3, 12))


# ---------------------------------------------------------------- FACIT-Fatigue


def test_facit_fatigue_worked_examples():
    """FACIT-F scoring guide: reverse all but An5, An7; prorate sum x 13 / answered."""
    all_zero = dict.fromkeys(FACIT_FATIGUE_ITEMS, 0)
    all_four = dict.fromkeys(FACIT_FATIGUE_ITEMS, 4)
    best = all_zero | {"An5": 4, "An7": 4}
    worst = all_four | {"An5": 0, "An7": 0}
    frame = pd.DataFrame([all_zero, all_four, best, worst])
    result = facit_fatigue(frame)
    assert result["score"].tolist() == [44.0, 8.0, 52.0, 0.0]
    assert result["answered"].tolist() == [13] * 4
    # 7 of 13 answered (more than half): HI7=1 (scores 3), An5=3 (3), five items 0 (4 each):
    # sum 26, score 26 x 13 / 7.
    seven = (
        dict.fromkeys(FACIT_FATIGUE_ITEMS, None)
        | {"HI7": 1, "An5": 3}
        | dict.fromkeys(["An1", "An2", "An3", "An4", "An8"], 0)
    )
    six = seven | {"An8": None}
    out = facit_fatigue(pd.DataFrame([seven, six]))
    assert out["score"].iloc[0] == pytest.approx(26 * 13 / 7, abs=1e-12)
    assert np.isnan(out["score"].iloc[1]) and out["answered"].tolist() == [7, 6]


def test_facit_fatigue_invalid_item():
    with pytest.raises(InputError, match=r"An12 .* = 5"):
        facit_fatigue(dict.fromkeys(FACIT_FATIGUE_ITEMS, 0) | {"An12": 5})
    with pytest.raises(InputError, match="missing item column"):
        facit_fatigue({"HI7": 1})


facit_rows = st.fixed_dictionaries({item: st.integers(0, 4) for item in FACIT_FATIGUE_ITEMS})


@settings(max_examples=100, deadline=None)
@given(facit_rows, st.sampled_from(FACIT_FATIGUE_ITEMS))
def test_facit_fatigue_range_reversal_and_monotonicity(row, item):
    score = facit_fatigue(row)["score"].iloc[0]
    assert 0 <= score <= 52
    mirrored = facit_fatigue({k: 4 - v for k, v in row.items()})["score"].iloc[0]
    assert score + mirrored == 52
    if row[item] < 4:
        raised = facit_fatigue(row | {item: row[item] + 1})["score"].iloc[0]
        assert (raised > score) if item in ("An5", "An7") else (raised < score)


# ---------------------------------------------------------------- RAND-36 / SF-36


def _rand_items(value_for: dict[int, float | None] | None = None, default: int = 1) -> dict[str, object]:
    items = {f"Q{k}": default for k in range(1, 37)}
    for k, v in (value_for or {}).items():
        items[f"Q{k}"] = v
    return items


def test_rand36_worked_example_and_extremes():
    """RAND scoring instructions: VT from 23, 27, 29 = 4, 3, 3 (40, 60, 40), 31 blank -> 46.7;
    the best and the worst responses give 100 and 0 on every scale."""
    vt = rand36_scales(_rand_items({23: 4, 27: 3, 29: 3, 31: None}))["VT"].iloc[0]
    assert vt == pytest.approx(140 / 3, abs=1e-12)
    best = {k: (1 if values[0] == 100 else len(values)) for k, values in RAND36_RECODE.items()}
    worst = {k: (len(values) if values[0] == 100 else 1) for k, values in RAND36_RECODE.items()}
    scales = rand36_scales(pd.DataFrame([_rand_items(best), _rand_items(worst)]))
    assert scales.iloc[0].tolist() == [100.0] * 8
    assert scales.iloc[1].tolist() == [0.0] * 8
    # PF items 3-12 answered "limited a little" (2 -> 50) except two "not limited" (3 -> 100)
    pf = rand36_scales(_rand_items({k: 2 for k in range(3, 13)} | {3: 3, 4: 3}))["PF"].iloc[0]
    assert pf == pytest.approx((8 * 50 + 2 * 100) / 10, abs=1e-12)


def test_rand36_invalid_response():
    with pytest.raises(InputError, match=r"item 13 .* = 3"):
        rand36_scales(_rand_items({13: 3}))
    with pytest.raises(InputError, match=r"item 21 .* = 7"):
        rand36_scales(_rand_items({21: 7}))


def test_sf36_summary_coefficients():
    """Ware, Kosinski & Keller 1994: T = 50 + 10 * sum(coef * z); at the 1990 US means both 50;
    one SD below the mean on PF alone moves PCS by -10 x 0.42402 and MCS by -10 x -0.22999."""
    means = {s: v[0] for s, v in SF36_US1990.items()}
    down_pf = means | {"PF": means["PF"] - SF36_US1990["PF"][1]}
    out = sf36_summary(pd.DataFrame([means, down_pf]))
    np.testing.assert_allclose(out.to_numpy(), [[50, 50], [45.7598, 52.2999]], atol=1e-9)
    with pytest.raises(InputError, match="MH"):
        sf36_summary(pd.DataFrame([means | {"MH": 120}]))


@settings(max_examples=100, deadline=None)
@given(st.fixed_dictionaries({f"Q{k}": st.integers(1, len(v)) for k, v in RAND36_RECODE.items()}))
def test_rand36_scales_in_range(items):
    scales = rand36_scales(items)
    assert ((scales >= 0) & (scales <= 100)).all().all()
    summary = sf36_summary(scales)
    assert np.isfinite(summary.to_numpy()).all()


# ---------------------------------------------------------------- VAS


def test_vas_validation():
    assert vas_mm([0, 55, 100], "PhGA").tolist() == [0.0, 55.0, 100.0]
    with pytest.raises(InputError, match=r"PaGA .* = 101"):
        vas_mm([10, 101], "PaGA")
    with pytest.raises(InputError, match="PhGA .* is missing"):
        vas_mm([10, None], "PhGA", allow_missing=False)
