"""The A2201 paper's figures (Figures 1 to 3) drawn from numbers like the trial's: what each panel shows.

The frames below are made up to the scale of the published results (ESSDAI about -4 to -6
points at week 24, responders 61 to 89%, B cells depleted at 50 and 300 mg); they test
the drawing, not any statistic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from dosefinding.report import (
    category_shares,
    dose_estimates,
    dose_response,
    dose_summary,
    figure_bytes,
    over_time,
    patient_flow,
    responder_bars,
)

from .conftest import ARMS, N, mcpmod_result
from .figure_checks import agg_renderer, assert_not_blank, assert_readable, layout_clashes, tick_texts

WEEKS = [4, 8, 12, 16, 20, 24]


def essdai_over_time() -> pd.DataFrame:
    """ESSDAI LS-mean change by arm and visit (Figure 2a), p-values against placebo for the active arms."""
    final = {"Placebo": -4.0, "Ianalumab 5 mg": -4.3, "Ianalumab 50 mg": -4.6, "Ianalumab 300 mg": -5.9}
    rows = [{"arm": arm, "visit": w, "estimate": end * np.sqrt(w / 24), "se": 0.8}
            for arm, end in final.items() for w in WEEKS]
    frame = pd.DataFrame(rows)
    frame["lower"], frame["upper"] = frame["estimate"] - 1.97 * frame["se"], frame["estimate"] + 1.97 * frame["se"]
    frame["p_value"] = np.where(frame["arm"] == "Placebo", np.nan, 0.4)
    frame.loc[(frame["arm"] == "Ianalumab 300 mg") & frame["visit"].isin([12, 16]), "p_value"] = 0.03
    frame.loc[(frame["arm"] == "Ianalumab 300 mg") & (frame["visit"] == 24), "p_value"] = 0.092
    return frame


def responders() -> pd.DataFrame:
    """ESSDAI responders (>= 3 points) at week 24 (Figure 2c, left): published percentages, Clopper-Pearson CIs."""
    return pd.DataFrame({"arm": ARMS, "n": N, "responders": [30, 29, 34, 42], "percent": [61.2, 61.7, 72.3, 89.4],
                         "lower": [46.2, 46.4, 57.4, 76.9], "upper": [74.8, 75.5, 84.4, 96.5],
                         "p_value": [np.nan, 0.95, 0.27, 0.002]})


def essdai_categories() -> pd.DataFrame:
    """Low (< 5), moderate (5-13), high (> 13) ESSDAI at baseline and week 24 (Figure 2c, right)."""
    baseline = {"Placebo": (0, 29, 20), "Ianalumab 5 mg": (0, 27, 20), "Ianalumab 50 mg": (0, 30, 17),
                "Ianalumab 300 mg": (0, 29, 18)}
    week24 = {"Placebo": (16, 23, 7), "Ianalumab 5 mg": (21, 17, 6), "Ianalumab 50 mg": (23, 17, 4),
              "Ianalumab 300 mg": (26, 16, 1)}
    rows = []
    for period, counts in (("Baseline", baseline), ("Week 24", week24)):
        for arm, ns in counts.items():
            for category, k in zip(["Low (<5)", "Moderate (5-13)", "High (>13)"], ns, strict=True):
                rows.append({"period": period, "arm": arm, "category": category, "n": k,
                             "percent": 100 * k / sum(ns)})
    return pd.DataFrame(rows)


def drug_levels() -> pd.DataFrame:
    """Serum ianalumab at week 24 by dose, mean and SD (Figure 3a)."""
    return pd.DataFrame({"arm": ARMS[1:], "dose": [5.0, 50.0, 300.0], "n": [44, 45, 43], "mean": [0.35, 5.6, 41.0],
                         "sd": [0.42, 3.1, 18.0]})


def b_cells() -> pd.DataFrame:
    """CD19+ B cells at week 24 by dose, mean and SD (Figure 3b): SD above the mean at 50 and 300 mg."""
    return pd.DataFrame({"arm": ARMS, "dose": [0.0, 5.0, 50.0, 300.0], "n": [46, 44, 45, 43],
                         "mean": [221.0, 96.0, 8.1, 6.2], "sd": [118.0, 81.0, 12.5, 9.4]})


def rf_adjusted() -> pd.DataFrame:
    """Placebo-adjusted change in RF at week 24, LS mean and SE (Figure 3d): no placebo row."""
    return pd.DataFrame({"arm": ARMS[1:], "dose": [5.0, 50.0, 300.0], "estimate": [-5.2, -24.8, -30.5],
                         "se": [8.1, 8.0, 8.2], "p_value": [0.52, 0.002, 0.0003]})


def baff_change() -> pd.DataFrame:
    """Change in BAFF from baseline at week 24, LS mean and SE (Figure 3c), placebo included."""
    return pd.DataFrame({"arm": ARMS, "dose": [0.0, 5.0, 50.0, 300.0], "n": [46, 44, 45, 43],
                         "estimate": [40.0, 810.0, 2230.0, 2410.0], "se": [150.0, 152.0, 151.0, 153.0],
                         "p_value": [np.nan, 0.0004, 1e-12, 1e-13]})


def flow_arms() -> pd.DataFrame:
    return pd.DataFrame({"Randomised": N, "Received study drug": N, "Completed week 24": [46, 44, 45, 43]},
                        index=ARMS)


def discontinuations() -> pd.DataFrame:
    """Reasons as DSDECOD spells them (CDISC terms in upper case)."""
    return pd.DataFrame({"Placebo": [0, 2, 1, 0], "Ianalumab 5 mg": [2, 1, 0, 0], "Ianalumab 50 mg": [2, 0, 0, 0],
                         "Ianalumab 300 mg": [0, 3, 0, 1]},
                        index=["ADVERSE EVENT", "WITHDRAWAL BY SUBJECT", "LOST TO FOLLOW-UP", "PHYSICIAN DECISION"])


CRITERIA = [("ESSDAI >= 6 over 7 domains (biological, haematological, articular, cutaneous, glandular, "
             "lymphadenopathy, constitutional)"), "ESSPRI >= 5", "Anti-Ro/SSA positive",
            "Stimulated salivary flow > 0.1 mL/min"]


def exclusions() -> dict[str, int]:
    """The paper's 103 excluded: 96 screen failures by the rule failed (DSTERM), 7 by their DSDECOD event."""
    return dict(zip(CRITERIA, [40, 26, 18, 12], strict=True)) | {"WITHDRAWAL BY SUBJECT": 5, "OTHER": 2}


def figure_set() -> dict[str, Figure]:
    """Every panel of the paper's Figures 1 to 3, as the report draws them (also saved by hand for a look)."""
    result = mcpmod_result()
    return {
        "figure-1": patient_flow(screened=293, excluded=exclusions(), arms=flow_arms(),
                                 discontinued=discontinuations(), criteria=CRITERIA),
        "figure-2a": over_time(essdai_over_time(), letter="a", title="ESSDAI",
                               ylabel="ESSDAI, change from baseline (points)"),
        "figure-2b": dose_response(result, letter="b", title="ESSDAI at week 24",
                                   ylabel="ESSDAI, placebo-adjusted change (points)"),
        "figure-2c-i": responder_bars(responders(), letter="c", title="ESSDAI reduction >= 3 points, week 24"),
        "figure-2c-ii": category_shares(essdai_categories(), title="ESSDAI disease activity"),
        "figure-3a": dose_summary(drug_levels(), letter="a", log=True, title="Serum ianalumab, week 24",
                                  ylabel="Ianalumab (ug/mL), mean +- SD"),
        "figure-3b": dose_summary(b_cells(), letter="b", log=True, title="CD19+ B cells, week 24",
                                  ylabel="CD19+ B cells (cells/uL), mean +- SD"),
        "figure-3c": dose_estimates(baff_change(), letter="c", title="BAFF, week 24",
                                    ylabel="BAFF, change from baseline (pg/mL), LS mean \u00b1 SE"),
        "figure-3d": dose_estimates(rf_adjusted(), letter="d", title="RF, week 24",
                                    ylabel="RF, placebo-adjusted change (IU/mL), LS mean \u00b1 SE"),
    }


@pytest.fixture(scope="module")
def figures() -> dict[str, Figure]:
    return figure_set()


def points(axes: object) -> list[tuple[float, float]]:
    """The (x, y) of every point drawn with an error bar (the data lines of the error-bar containers)."""
    out = []
    for container in axes.containers:  # type: ignore[attr-defined]
        line = getattr(container, "lines", (None,))[0]
        if line is not None:
            out += [(float(x), float(y)) for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True)]
    return out


def texts(axes: object) -> list[str]:
    return [t.get_text() for t in axes.texts]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["figure-1", "figure-2a", "figure-2b", "figure-2c-i", "figure-2c-ii", "figure-3a",
                                  "figure-3b", "figure-3c", "figure-3d"])
def test_no_panel_is_blank_and_all_text_is_readable(figures: dict[str, Figure], name: str) -> None:
    share = assert_not_blank(figure_bytes(figures[name], "png"))
    assert share < 0.9, f"{name}: {share:.2f} of the inner area is ink: all black?"
    assert_readable(figures[name])


def test_an_empty_axes_counts_as_blank() -> None:
    figure = Figure(figsize=(6.5, 4.5), layout="constrained")
    axes = figure.subplots()
    axes.set_xlabel("Week")
    axes.set_ylabel("ESSDAI, change from baseline (points)")
    axes.set_title("ESSDAI")
    with pytest.raises(AssertionError, match="figure looks blank"):
        assert_not_blank(figure_bytes(figure, "png"))


def test_panel_letters_are_bold_top_left(figures: dict[str, Figure]) -> None:
    for name, letter in [("figure-2a", "a"), ("figure-2b", "b"), ("figure-2c-i", "c"), ("figure-3a", "a"),
                         ("figure-3d", "d")]:
        axes = figures[name].axes[0]
        assert axes.get_title(loc="left") == letter, name
        bold = [t for t in figures[name].findobj(Text) if t.get_text() == letter and t.get_fontweight() == "bold"]
        assert len(bold) == 1 and bold[0].get_fontsize() >= 12, name
    assert figures["figure-2c-ii"].axes[0].get_title(loc="left") == ""


def test_over_time_starts_at_week_0_ticks_at_the_visits_and_marks_significance(figures: dict[str, Figure]) -> None:
    axes = figures["figure-2a"].axes[0]
    assert tick_texts(axes) == ["0", "4", "8", "12", "16", "20", "24"]
    drawn = points(axes)
    assert len(drawn) == 4 * 7  # 4 arms x (week 0 + 6 visits)
    assert sum(1 for x, y in drawn if abs(x) < 0.5 and y == 0.0) == 4
    assert texts(axes).count("*") == 2  # 300 mg at weeks 12 and 16; p = 0.092 at week 24 is not marked
    assert "p < 0.05" in [t.get_text() for t in axes.get_legend().get_texts()]
    assert axes.get_ylabel() == "ESSDAI, change from baseline (points)" and axes.get_xlabel() == "Week"


def test_dose_response_curve_is_dotted_with_ticks_at_the_doses(figures: dict[str, Figure]) -> None:
    axes = figures["figure-2b"].axes[0]
    curve = next(line for line in axes.lines if line.get_label().startswith("Fitted curve"))
    assert curve.get_linestyle() == ":"
    assert tick_texts(axes) == ["0", "5", "50", "300"]
    assert axes.collections, "no confidence band"


def test_responder_bars_n_under_each_arm_whiskers_and_star(figures: dict[str, Figure]) -> None:
    axes = figures["figure-2c-i"].axes[0]
    assert [round(p.get_height(), 1) for p in axes.patches] == [61.2, 61.7, 72.3, 89.4]
    assert tick_texts(axes) == [f"{label}\nn = {n}" for label, n in
                                zip(ARMS, N,
                                    strict=True)]
    whiskers = [c for c in axes.containers if type(c).__name__ == "ErrorbarContainer"]
    assert len(whiskers) == 1 and len(whiskers[0].lines[2][0].get_segments()) == 4
    assert texts(axes) == ["61", "62", "72", "89", "*"]


def test_category_shares_baseline_and_week_24_per_arm_with_n(figures: dict[str, Figure]) -> None:
    axes = figures["figure-2c-ii"].axes[0]
    assert len(axes.patches) == 3 * 8  # 3 categories x 4 arms x 2 periods
    assert tick_texts(axes) == ["Baseline\nn = 49", "Week 24\nn = 46", "Baseline\nn = 47", "Week 24\nn = 44",
                                "Baseline\nn = 47", "Week 24\nn = 44", "Baseline\nn = 47", "Week 24\nn = 43"]
    arm_axis = axes.child_axes[0]
    assert [t.get_text() for t in arm_axis.get_xticklabels()] == ARMS
    tops = [p.get_y() + p.get_height() for p in axes.patches[-8:]]
    np.testing.assert_allclose(tops, 100.0)
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["High (>13)", "Moderate (5-13)", "Low (<5)"]


def test_dose_summary_mean_and_sd_by_dose_plain_log_ticks(figures: dict[str, Figure]) -> None:
    axes = figures["figure-3b"].axes[0]
    assert points(axes) == [(0.0, 221.0), (1.0, 96.0), (2.0, 8.1), (3.0, 6.2)]
    assert tick_texts(axes) == ["Placebo\nn = 46", "5\nn = 44", "50\nn = 45", "300\nn = 43"]
    assert axes.get_yscale() == "log"
    y_ticks = [t for t in tick_texts(axes, "y") if t]
    assert y_ticks and all(t.replace(",", "").replace(".", "").isdigit() for t in y_ticks), y_ticks
    # mean - SD < 0 at 50 and 300 mg: only the upper half of the bar on a log axis
    bars = [c for c in axes.containers if type(c).__name__ == "ErrorbarContainer"]
    low_ends = [seg[0][1] for c in bars for seg in c.lines[2][0].get_segments()]
    assert low_ends == [221.0 - 118.0, 96.0 - 81.0, 8.1, 6.2]


def test_dose_estimates_se_bars_stars_and_blues_without_placebo(figures: dict[str, Figure]) -> None:
    from dosefinding.report import arm_colours

    axes = figures["figure-3d"].axes[0]
    assert points(axes) == [(0.0, -5.2), (1.0, -24.8), (2.0, -30.5)]
    assert tick_texts(axes) == ["5", "50", "300"]
    assert texts(axes).count("*") == 2
    bars = [c for c in axes.containers if type(c).__name__ == "ErrorbarContainer"]
    segment = bars[0].lines[2][0].get_segments()[0]
    np.testing.assert_allclose([segment[0][1], segment[1][1]], [-5.2 - 8.1, -5.2 + 8.1])
    colours = arm_colours(ARMS)
    import matplotlib.colors as mcolors

    assert mcolors.to_hex(bars[0].lines[0].get_color()) == colours["Ianalumab 5 mg"]  # not placebo grey
    baff = figures["figure-3c"].axes[0]
    assert tick_texts(baff)[0] == "Placebo\nn = 46" and texts(baff).count("*") == 3


def test_patient_flow_lists_exclusions_and_discontinuations(figures: dict[str, Figure]) -> None:
    shown = texts(figures["figure-1"].axes[0])
    assert "Assessed for eligibility (n = 293)" in shown and "Randomised (n = 190)" in shown
    assert ("Excluded (n = 103)\n"
            "\u2022 Not meeting inclusion criteria (n = 96)\n"
            "    ESSDAI \u2265 6 over 7 domains (n = 40)\n"  # the list of domains goes: at most two lines a reason
            "    ESSPRI \u2265 5 (n = 26)\n"
            "    Anti-Ro/SSA positive (n = 18)\n"
            "    Stimulated salivary flow >\n      0.1 mL/min (n = 12)\n"  # a number keeps its unit
            "\u2022 Withdrawal by subject (n = 5)\n"
            "\u2022 Other (n = 2)") in shown
    assert "Discontinued (n = 3)\nWithdrawal by subject\n  (n = 2)\nLost to follow-up (n = 1)" in shown
    assert "Discontinued (n = 4)\nWithdrawal by subject\n  (n = 3)\nPhysician decision (n = 1)" in shown
    assert "Allocated to Ianalumab\n300 mg (n = 47)" in shown and "Completed week 24\n(n = 43)" in shown
    assert not any("(n = 0)" in t for t in shown)
    assert not any(t.startswith("\u2212") for t in shown), "the falls are in the Discontinued boxes, not on arrows"
    assert not any(c.isupper() and len(c) > 3 for t in shown for c in t.split() if c.isalpha() and c != "ESSDAI"
                   and c != "ESSPRI"), shown


def _box_of(figure: Figure, start: str) -> object:
    """The window extent of the text starting with ``start``."""
    renderer = agg_renderer(figure)
    return next(t for t in figure.axes[0].texts if t.get_text().startswith(start)).get_window_extent(renderer)


def test_patient_flow_side_boxes_sit_beside_the_arrows(figures: dict[str, Figure]) -> None:
    figure = figures["figure-1"]
    assert layout_clashes(figure) == []
    assessed, excluded, randomised = (_box_of(figure, s) for s in ("Assessed", "Excluded", "Randomised"))
    main = (assessed.x0 + assessed.x1) / 2
    assert excluded.x0 > main and assessed.y0 > excluded.y1 and excluded.y0 > randomised.y1  # right of the arrow
    received = _box_of(figure, "Received")
    completed = _box_of(figure, "Completed")
    gone = _box_of(figure, "Discontinued (n = 3)\nWithdrawal")
    assert received.y0 > gone.y1 and gone.y0 > completed.y1 and gone.x0 > (received.x0 + received.x1) / 2


@pytest.mark.parametrize("n_arms", [2, 3, 4, 6])
@pytest.mark.parametrize("n_reasons", [1, 2, 5, 8])
def test_patient_flow_text_never_meets_text_or_arrows(n_arms: int, n_reasons: int) -> None:
    reasons = ["ADVERSE EVENT", "WITHDRAWAL BY SUBJECT", "LOST TO FOLLOW-UP", "PHYSICIAN DECISION",
               "PROTOCOL VIOLATION", "LACK OF EFFICACY", "NON-COMPLIANCE WITH STUDY DRUG", "STUDY TERMINATED BY SPONSOR"]
    names = ["Placebo", *[f"Ianalumab {d} mg" for d in (5, 50, 150, 300, 600)][:n_arms - 1]]
    gone = pd.DataFrame(1, index=reasons[:n_reasons], columns=names)
    arms = pd.DataFrame({"Randomised": 47, "Received study drug": 47, "Completed week 24": 47 - n_reasons},
                        index=names)
    excluded = dict(zip(CRITERIA + reasons, range(3, 3 + 4 + n_reasons), strict=False))
    figure = patient_flow(screened=int(arms["Randomised"].sum()) + sum(excluded.values()), excluded=excluded,
                          arms=arms, discontinued=gone, criteria=CRITERIA)
    assert layout_clashes(figure) == []
    assert_readable(figure, smallest=9.0)
    patches = [p.get_window_extent() for p in figure.axes[0].patches if type(p).__name__ == "Rectangle"]
    assert len(patches) == 3 + 4 * n_arms  # assessed, excluded, randomised; 3 stages and a side box per arm
    assert not [(a, b) for i, a in enumerate(patches) for b in patches[i + 1:] if a.overlaps(b)]


def test_patient_flow_without_screening_says_so() -> None:
    shown = texts(patient_flow(screened=None, excluded=None, arms=flow_arms()).axes[0])
    assert shown[0] == "Screening not recorded in the data"
    assert not any(t.startswith(("Excluded", "Assessed")) for t in shown)
    assert "Randomised (n = 190)" in shown
    derived = patient_flow(screened=293, excluded=None, arms=flow_arms())
    assert "Excluded (n = 103)\nReasons not recorded" in texts(derived.axes[0])
    assert "Discontinued (n = 3)" in texts(derived.axes[0])  # without reasons: the fall, beside its arrow
    assert layout_clashes(derived) == []


def test_units_and_signs_are_drawn_as_printed(figures: dict[str, Figure]) -> None:
    # the data and the callers spell units in ASCII ("ug/mL", "+-", ">="); the figures print the signs
    assert figures["figure-3a"].axes[0].get_ylabel().replace("\n", " ") == "Ianalumab (\u00b5g/mL), mean \u00b1 SD"
    assert figures["figure-3b"].axes[0].get_ylabel().replace("\n", " ") == "CD19+ B cells (cells/\u00b5L), mean \u00b1 SD"
    assert figures["figure-2c-i"].axes[0].get_title() == "ESSDAI reduction \u2265 3 points, week 24"
    long = dose_estimates(rf_adjusted(), ylabel="Rheumatoid factor, placebo-adjusted change from baseline, "
                                                "LS mean +- SE (IU/mL)")
    axes = long.axes[0]
    label = axes.yaxis.label.get_window_extent(agg_renderer(long))
    assert label.height <= axes.get_window_extent().height, "the y label runs past the axes: not wrapped"


def test_a_panel_on_a_subfigure_wraps_its_label_to_the_panel() -> None:
    # The label's width comes from the axes' height; on a SubFigure that height is the SubFigure's, not the figure's.
    parent = Figure(figsize=(9.0, 4.0), layout="constrained")
    left, _ = parent.subfigures(1, 2)
    axes = left.subplots()
    dose_estimates(rf_adjusted(), ylabel="Rheumatoid factor, placebo-adjusted change from baseline, LS mean +- SE "
                                         "(IU/mL)", ax=axes)
    label = axes.yaxis.label.get_window_extent(agg_renderer(parent))
    assert label.height <= axes.get_window_extent().height, "the y label runs past the axes: not wrapped"


def _marks_and_caps(figure: Figure) -> list[tuple[float, float]]:
    """For each ``*`` as rendered: (the gap from the top of the cap under it to the star's lowest ink; the offset of
    the star's ink centre from the cap's centre), in points, found in the pixels (the star and the caps drawn and
    hidden in turn)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    figure.set_dpi(200)

    def pixels() -> np.ndarray:
        figure.canvas.draw()
        return np.asarray(figure.canvas.buffer_rgba())[:, :, :3].astype(int).copy()  # type: ignore[attr-defined]

    axes = figure.axes[0]
    caps = [line for c in axes.containers if type(c).__name__ == "ErrorbarContainer" for line in c.lines[1]]
    drawn = pixels()
    for line in caps:
        line.set_visible(False)
    cap_ink = np.any(drawn != pixels(), axis=2)
    for line in caps:
        line.set_visible(True)
    out = []
    for star in [t for t in axes.texts if t.get_text() == "*"]:
        star.set_visible(False)
        rows, cols = np.nonzero(np.any(drawn != pixels(), axis=2))
        star.set_visible(True)
        bottom = rows.max()  # image rows count down
        near = cap_ink[:, int(cols.min()):int(cols.max()) + 1].copy()
        near[:bottom + 1] = False
        cap_rows, cap_cols = np.nonzero(near)
        top = cap_rows.min()
        cap_cols = cap_cols[cap_rows <= top + 1] + cols.min()
        scale = 72.0 / figure.dpi
        out.append(((top - bottom - 1) * scale, ((cols.min() + cols.max()) / 2 - cap_cols.mean()) * scale))
    return out


@pytest.mark.parametrize("name", ["figure-2a", "figure-3d"])
def test_significance_marks_sit_on_the_upper_bar(name: str) -> None:
    marks = _marks_and_caps(figure_set()[name])
    assert marks
    for gap, across in marks:
        assert 0.5 <= gap <= 3.0, f"{name}: the * is {gap:.1f} pt above its bar (floats beside the next point)"
        assert abs(across) <= 1.0, f"{name}: the * is {across:.1f} pt off its bar"
