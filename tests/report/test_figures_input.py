"""Awkward input to the figure functions: each draws what it can or raises an InputError naming itself and the column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dosefinding.errors import InputError
from dosefinding.report import (
    category_shares,
    dose_estimates,
    dose_summary,
    figure_bytes,
    over_time,
    patient_flow,
    responder_bars,
)

from .figure_checks import assert_not_blank, tick_texts
from .test_figures_paper import (
    b_cells,
    discontinuations,
    drug_levels,
    essdai_categories,
    essdai_over_time,
    flow_arms,
    points,
    responders,
    rf_adjusted,
    texts,
)


def error_bars(axes: object) -> list[int]:
    """The number of bars each error-bar container draws (segments with finite ends; a missing bound draws none)."""
    return [sum(bool(np.size(segment) and np.isfinite(segment).all()) for segment in c.lines[2][0].get_segments()) if c.lines[2] else 0
            for c in axes.containers if type(c).__name__ == "ErrorbarContainer"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("function", "frame", "keyword"), [
    (over_time, essdai_over_time(), {}),
    (responder_bars, responders(), {}),
    (category_shares, essdai_categories(), {}),
    (dose_summary, b_cells(), {"ylabel": "CD19+ B cells (cells/uL)"}),
    (dose_estimates, rf_adjusted(), {"ylabel": "RF (IU/mL)"}),
])
def test_an_empty_frame_or_a_missing_column_is_named(function: object, frame: pd.DataFrame, keyword: dict) -> None:
    name = function.__name__  # type: ignore[attr-defined]
    with pytest.raises(InputError, match=f"^{name}: no rows to draw$"):
        function(frame.iloc[:0], **keyword)  # type: ignore[operator]
    column = {"over_time": "upper", "responder_bars": "lower", "category_shares": "n", "dose_summary": "sd",
              "dose_estimates": "se"}[name]
    with pytest.raises(InputError, match=rf"^{name}: column '{column}' missing \(columns: \["):
        function(frame.drop(columns=column), **keyword)  # type: ignore[operator]
    with pytest.raises(InputError, match=f"^{name}: frame must be a pandas DataFrame, got list"):
        function([1, 2], **keyword)  # type: ignore[operator]


def test_over_time_rows_in_any_order_draw_the_same_figure() -> None:
    frame = essdai_over_time()
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    # arms keep their order (and colours) when given as an ordered categorical
    shuffled["arm"] = pd.Categorical(shuffled["arm"], categories=list(pd.unique(frame["arm"])))
    ordered, mixed = over_time(frame).axes[0], over_time(shuffled).axes[0]
    assert points(mixed) == points(ordered)
    assert tick_texts(mixed) == ["0", "4", "8", "12", "16", "20", "24"]
    assert texts(mixed) == texts(ordered)
    assert [line.get_color() for line in mixed.lines] == [line.get_color() for line in ordered.lines]


def test_over_time_arm_with_one_subject_draws_its_points_without_bars() -> None:
    frame = essdai_over_time()
    alone = frame["arm"] == "Ianalumab 5 mg"
    frame.loc[alone, ["lower", "upper"]] = np.nan  # one subject: no standard error, no interval
    axes = over_time(frame).axes[0]
    assert len(points(axes)) == 4 * 7
    assert error_bars(axes) == [6, 0, 6, 6]  # the week-0 point (0 by definition) has no bar
    assert_not_blank(figure_bytes(axes.figure))


def test_all_missing_p_values_mark_nothing() -> None:
    axes = over_time(essdai_over_time().assign(p_value=np.nan)).axes[0]
    assert "*" not in texts(axes)
    assert "p < 0.05" not in [t.get_text() for t in axes.get_legend().get_texts()]
    assert "*" not in texts(responder_bars(responders().assign(p_value=np.nan)).axes[0])
    assert "*" not in texts(dose_estimates(rf_adjusted().assign(p_value=np.nan), ylabel="RF (IU/mL)").axes[0])
    with pytest.raises(InputError, match=r"over_time: column 'p_value' must hold p-values in \[0, 1\]"):
        over_time(essdai_over_time().assign(p_value=1.5))


def test_log_axis_ticks_are_plain_numbers() -> None:
    """Values within one decade: matplotlib's own log labels would read 2x10^1 (the report showed 1.8x10^1)."""
    frame = essdai_over_time().assign(estimate=lambda f: 18 + f["visit"] / 4)
    frame["lower"], frame["upper"] = frame["estimate"] * 0.9, frame["estimate"] * 1.1
    axes = over_time(frame, log=True, baseline_point=False, reference=None, ylabel="CD19+ B cells (cells/uL)").axes[0]
    labels = [t for t in tick_texts(axes, "y") if t]
    assert labels and all(t.replace(".", "").isdigit() for t in labels), labels


def test_non_positive_values_on_a_log_axis_are_refused() -> None:
    frame = essdai_over_time()  # changes from baseline: negative
    with pytest.raises(InputError, match=r"over_time: column 'estimate' has values <= 0 in row\(s\) \[0, 1,"):
        over_time(frame, log=True)
    levels = drug_levels()
    with_placebo = pd.concat([pd.DataFrame({"arm": ["Placebo"], "dose": [0.0], "n": [46], "mean": [0.0],
                                            "sd": [0.0]}), levels], ignore_index=True)
    with pytest.raises(InputError, match=r"dose_summary: column 'mean' has values <= 0 in row\(s\) \[0\]"):
        dose_summary(with_placebo, ylabel="Ianalumab (ug/mL)", log=True)
    positive = frame.assign(estimate=5.0, lower=4.0, upper=6.0)
    with pytest.raises(InputError, match="over_time: the week-0 point at reference 0 cannot be drawn on a log axis"):
        over_time(positive, log=True)
    assert over_time(positive, log=True, baseline_point=False).axes[0].get_yscale() == "log"


def test_a_dose_of_0_only() -> None:
    placebo = b_cells().iloc[:1]
    axes = dose_summary(placebo, ylabel="CD19+ B cells (cells/uL)", log=True).axes[0]
    assert points(axes) == [(0.0, 221.0)] and tick_texts(axes) == ["Placebo\nn = 46"]
    change = pd.DataFrame({"arm": ["Placebo"], "dose": [0.0], "estimate": [40.0], "se": [150.0]})
    axes = dose_estimates(change, ylabel="BAFF change (pg/mL)").axes[0]
    assert points(axes) == [(0.0, 40.0)] and tick_texts(axes) == ["Placebo"]
    assert_not_blank(figure_bytes(axes.figure))


def test_missing_sd_of_one_patient_draws_the_point_without_a_bar() -> None:
    frame = drug_levels()
    frame.loc[0, ["n", "sd"]] = [1, np.nan]
    axes = dose_summary(frame, ylabel="Ianalumab (ug/mL)").axes[0]
    assert points(axes) == [(0.0, 0.35), (1.0, 5.6), (2.0, 41.0)]
    assert error_bars(axes) == [0, 1, 1]
    assert tick_texts(axes)[0] == "5\nn = 1"


def test_doses_in_any_order_are_drawn_in_dose_order_and_checked() -> None:
    frame = rf_adjusted().iloc[::-1]
    axes = dose_estimates(frame, ylabel="RF (IU/mL)").axes[0]
    assert tick_texts(axes) == ["5", "50", "300"] and points(axes)[0] == (0.0, -5.2)
    with pytest.raises(InputError, match="dose_estimates: dose 300 has more than one row"):
        dose_estimates(pd.concat([frame, frame.iloc[:1]]), ylabel="RF (IU/mL)")
    with pytest.raises(InputError, match=r"dose_estimates: column 'se' must be >= 0, not so in row\(s\) \[2\]"):
        dose_estimates(rf_adjusted().assign(se=[1.0, 1.0, -1.0]), ylabel="RF (IU/mL)")
    with pytest.raises(InputError, match=r"dose_summary: column 'dose' must hold doses >= 0"):
        dose_summary(b_cells().assign(dose=[-1.0, 5.0, 50.0, 300.0]), ylabel="B cells")


def test_category_shares_checks_n_against_percent() -> None:
    frame = essdai_categories()
    with pytest.raises(InputError, match=r"category_shares: the percentages of arm 'Placebo' at 'Baseline' are not "
                                         r"100 n / \(sum of n\)"):
        category_shares(frame.assign(n=frame["n"] * 2 + 1))
    with pytest.raises(InputError, match=r"category_shares: column 'n' must hold counts"):
        category_shares(frame.assign(n=frame["n"] + 0.5))
    one_period = frame[frame["period"] == "Week 24"]
    assert len(category_shares(one_period).axes[0].patches) == 3 * 4


def test_patient_flow_checks_its_counts() -> None:
    arms = flow_arms()
    with pytest.raises(InputError, match="patient_flow: screened: 290 is not randomised"):
        patient_flow(screened=290, excluded={"x": 103}, arms=arms)
    with pytest.raises(InputError, match="patient_flow: screened: 150 is fewer than the 190 randomised"):
        patient_flow(screened=150, excluded=None, arms=arms)
    gone = discontinuations()
    with pytest.raises(InputError, match=r"patient_flow: discontinued has no column for arm\(s\) \['Placebo'\]"):
        patient_flow(screened=None, excluded=None, arms=arms, discontinued=gone.drop(columns="Placebo"))
    with pytest.raises(InputError, match=r"patient_flow: discontinued has column\(s\) \['Other'\]"):
        patient_flow(screened=None, excluded=None, arms=arms, discontinued=gone.assign(Other=0))
    with pytest.raises(InputError, match=r"patient_flow: discontinued: column 'Placebo' must hold counts \(whole numbers >= 0\)"):
        patient_flow(screened=None, excluded=None, arms=arms, discontinued=gone - 1)


def test_patient_flow_checks_criteria_and_discontinuation_totals() -> None:
    arms = flow_arms()
    with pytest.raises(InputError, match=r"patient_flow: criteria \['ESSPRI >= 5'\] are not reasons of excluded"):
        patient_flow(screened=293, excluded={"Age 18 to 75 years": 103}, arms=arms, criteria=["ESSPRI >= 5"])
    with pytest.raises(InputError, match="criteria must be a collection of reasons of excluded, not one string"):
        patient_flow(screened=293, excluded={"ESSPRI >= 5": 103}, arms=arms, criteria="ESSPRI >= 5")
    gone = pd.DataFrame({a: [1] for a in arms.index}, index=["ADVERSE EVENT"])
    with pytest.raises(InputError, match="arm 'Placebo' has 1 discontinuations by reason, but its count falls by 3"):
        patient_flow(screened=None, excluded=None, arms=arms, discontinued=gone)


def test_patient_flow_with_a_single_stage_draws_the_allocation() -> None:
    from .figure_checks import layout_clashes

    arms = pd.DataFrame({"Randomised": [3, 2]}, index=["Placebo", "300 mg"])
    gone = pd.DataFrame({"Placebo": [0], "300 mg": [0]}, index=["ADVERSE EVENT"])
    figure = patient_flow(screened=None, excluded=None, arms=arms, discontinued=gone)
    shown = [t.get_text() for t in figure.axes[0].texts]
    assert shown[-2:] == ["Allocated to Placebo\n(n = 3)", "Allocated to 300 mg\n(n = 2)"]
    assert not any(t.startswith("Discontinued") for t in shown)
    assert layout_clashes(figure) == []
