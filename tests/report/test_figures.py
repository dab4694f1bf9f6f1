"""Figure helpers: what each draws, the checks of their input, saving and embedding."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from dosefinding.errors import InputError
from dosefinding.report import (
    dose_response,
    embed,
    figure_bytes,
    over_time,
    patient_flow,
    point_range,
    responder_bars,
    save_figure,
    stacked_shares,
)

from .conftest import ARMS, flow_counts, mcpmod_result, over_time_frame


def test_over_time_draws_one_line_per_arm_at_the_visits() -> None:
    frame = over_time_frame()
    axes = over_time(frame).axes[0]
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ARMS
    lines = [line for line in axes.lines if line.get_marker() == "o"]
    assert len(lines) == 4
    for line, arm in zip(lines, ARMS, strict=True):
        expected = frame.loc[frame["arm"] == arm, "estimate"].to_numpy()
        np.testing.assert_array_equal(line.get_ydata(), expected)
        assert np.allclose(np.round(line.get_xdata()), [0, 4, 8, 12, 16, 20, 24], atol=0.5)
    log_axes = over_time(frame.assign(estimate=1.0, lower=0.5, upper=2.0), log=True).axes[0]
    assert log_axes.get_yscale() == "log"


def test_arm_colours_placebo_grey_then_darker_blues() -> None:
    from dosefinding.report import arm_colours

    assert arm_colours(["Placebo"]) == {"Placebo": "#7f7f7f"}
    colours = list(arm_colours(ARMS).values())
    brightness = [sum(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in colours[1:]]
    assert colours[0] == "#7f7f7f" and brightness == sorted(brightness, reverse=True)


def test_over_time_needs_visits_in_weeks() -> None:
    frame = pd.DataFrame({"visit": ["Baseline", "Week 12", "Week 24"], "arm": "Placebo", "estimate": [0.0, -1, -2]})
    frame["lower"], frame["upper"] = frame["estimate"] - 1, frame["estimate"] + 1
    with pytest.raises(InputError, match="over_time: column 'visit' must be numeric, got values such as 'Baseline'"):
        over_time(frame)


def test_interval_must_contain_the_estimate_and_columns_must_exist() -> None:
    frame = over_time_frame()
    frame.loc[3, "lower"] = frame.loc[3, "estimate"] + 1
    with pytest.raises(InputError, match=r"over_time: columns 'lower', 'upper': the interval must contain the "
                                         r"estimate, not so in row\(s\) \[3\]"):
        over_time(frame)
    with pytest.raises(InputError, match=r"^point_range: column 'upper' missing"):
        point_range(pd.DataFrame({"arm": ["a"], "estimate": [1.0], "lower": [0.0]}))
    with pytest.raises(InputError, match="point_range: column 'estimate' must be numeric"):
        point_range(pd.DataFrame({"arm": ["a"], "estimate": ["1"], "lower": [0.0], "upper": [2.0]}))


def test_point_range_puts_the_first_row_on_top() -> None:
    frame = pd.DataFrame({"arm": ["5 mg", "50 mg", "300 mg"], "estimate": [-0.5, -1.4, -1.9],
                          "lower": [-2.7, -3.6, -4.2], "upper": [1.7, 0.8, 0.3]})
    axes = point_range(frame).axes[0]
    ticks = {t.get_text(): y for t, y in zip(axes.get_yticklabels(), axes.get_yticks(), strict=True)}
    assert ticks["5 mg"] > ticks["50 mg"] > ticks["300 mg"]


def test_dose_response_is_the_mcpmod_figure() -> None:
    result = mcpmod_result()
    axes = dose_response(result, title="ESSDAI").axes[0]
    labels = [t.get_text() for t in axes.get_legend().get_texts()]
    assert labels[0] == "95% confidence band" and labels[1].startswith("Fitted curve (")
    curve = result.predict(np.linspace(0, 300, 201))
    line = next(line for line in axes.lines if line.get_label().startswith("Fitted curve"))
    np.testing.assert_array_equal(line.get_ydata(), curve["estimate"].to_numpy())
    assert axes.get_title() == "ESSDAI"


def test_responder_bars_heights_and_labels() -> None:
    frame = pd.DataFrame({"arm": ARMS, "percent": [61.2, 62.0, 72.3, 89.4], "lower": [46.0, 47, 57, 77],
                          "upper": [75.0, 76, 84, 96]})
    axes = responder_bars(frame).axes[0]
    assert [p.get_height() for p in axes.patches] == frame["percent"].tolist()
    assert [t.get_text() for t in axes.texts] == ["61", "62", "72", "89"]
    with pytest.raises(InputError, match="between 0 and 100"):
        responder_bars(frame.assign(percent=[61.0, 62.0, 72.0, 120.0], lower=0.0, upper=130.0))


def test_stacked_shares_stack_to_100_and_check_the_rows() -> None:
    frame = pd.DataFrame({"Low": [35.0, 61.0], "Moderate": [50.0, 37.0], "High": [15.0, 2.0]},
                         index=["Placebo", "300 mg"])
    axes = stacked_shares(frame).axes[0]
    tops = [p.get_y() + p.get_height() for p in axes.patches]
    assert tops[-2:] == [100.0, 100.0]
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["High", "Moderate", "Low"]  # as stacked
    with pytest.raises(InputError, match="summing to 100"):
        stacked_shares(frame * 0.9)


def test_patient_flow_counts_and_checks() -> None:
    arms = flow_counts()
    figure = patient_flow(screened=293, excluded={"Inclusion criteria not met": 96, "Other": 7}, arms=arms)
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert "Assessed for eligibility (n = 293)" in texts and "Randomised (n = 190)" in texts
    assert "Excluded (n = 103)\n\u2022 Inclusion criteria not met (n = 96)\n\u2022 Other (n = 7)" in texts
    assert "Allocated to Placebo\n(n = 49)" in texts and "Completed week 24\n(n = 43)" in texts
    # without reasons each fall gets a box beside its arrow (no bare "-3" on the arrow)
    assert sorted(t for t in texts if t.startswith("Discontinued")) == [
        "Discontinued (n = 2)", "Discontinued (n = 3)", "Discontinued (n = 3)", "Discontinued (n = 4)"]
    assert not any(t.startswith("\u2212") for t in texts)
    with pytest.raises(InputError, match="screened: 290 is not randomised"):
        patient_flow(screened=290, excluded={"x": 103}, arms=arms)
    rising = arms.assign(**{"Completed week 24": arms["Randomised"] + 1})
    with pytest.raises(InputError, match="rises from stage 'Treated' to 'Completed week 24'"):
        patient_flow(screened=297, excluded={"x": 103}, arms=rising)
    with pytest.raises(InputError, match="whole numbers"):
        patient_flow(screened=293, excluded={"x": 103}, arms=arms.astype(float) + 0.5)


def test_save_and_embed(tmp_path: Path) -> None:
    figure = Figure(figsize=(3, 2))
    figure.subplots().plot([0, 1], [1, 0])
    png = save_figure(figure, tmp_path / "f.png")
    svg = save_figure(figure, tmp_path / "sub" / "f.svg")
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert ET.fromstring(svg.read_bytes()).tag == "{http://www.w3.org/2000/svg}svg"
    assert figure_bytes(figure, "svg") == svg.read_bytes() and figure_bytes(figure, "png") == png.read_bytes()
    with pytest.raises(InputError, match="must end in .png or .svg"):
        save_figure(figure, tmp_path / "f.pdf")
    snippet = embed(figure, id="figure-2a", caption="ESSDAI <over> time", format="png")
    assert snippet.startswith('<figure class="df-figure" id="figure-2a">')
    assert "<figcaption>ESSDAI &lt;over&gt; time</figcaption>" in snippet
    data = snippet.split('src="data:image/png;base64,')[1].split('"')[0]
    assert base64.b64decode(data) == png.read_bytes()
    with pytest.raises(InputError, match="id: must be lower-case"):
        embed(figure, id="Figure 1")
    with pytest.raises(InputError, match="format"):
        figure_bytes(figure, "pdf")  # type: ignore[arg-type]
