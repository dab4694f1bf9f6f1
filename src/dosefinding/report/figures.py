"""Figures of a dose-finding report drawn as a journal draws them (the A2201 paper's Figure 2), saved as PNG / SVG.

No pyplot and no display: each helper draws on a new :class:`~matplotlib.figure.Figure`
(or on the ``ax`` given) and returns the figure, which renders with the Agg canvas
wherever it is saved. matplotlib is imported by the helpers that draw, not with the
module. Every panel takes the paper's panel ``letter`` (bold, top left), labels its axes
with units, prints plain tick labels and marks estimates with p < 0.05 by ``*``
(:mod:`dosefinding.report.figures_common`). Arms keep one colour across figures (placebo
grey, active doses from light to dark blue in the order given).

- :func:`over_time`: LS means by visit and arm from week 0 (Figure 2a, d-f);
- :func:`dose_response`: placebo-adjusted estimates by dose with the fitted curve (dotted)
  and its band (Figure 2b), drawn by :meth:`dosefinding.mod.MCPModResult.plot`;
- :func:`responder_bars`: responder percentages with n and 95% CIs (Figure 2c, left);
- :func:`category_shares`: category shares at baseline and week 24 per arm (Figure 2c, right);
- :func:`point_range`: a forest plot.

Figure 3's panels by dose are :mod:`dosefinding.report.figures_dose`; Figure 1 (patient
flow) is :mod:`dosefinding.report.figures_flow`.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from dosefinding.errors import InputError
from dosefinding.report.figures_common import (
    arm_colours,
    finish_axes,
    headroom,
    interval_errors,
    levels,
    mark_significant,
    new_axes,
    p_values,
    require_counts,
    require_frame,
    require_numeric,
    require_positive,
    significance_note,
    wrap_labels,
)
from dosefinding.report.table import check_id

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from dosefinding.mod.mcpmod import MCPModResult

__all__ = [
    "category_shares",
    "dose_response",
    "dose_response_data",
    "embed",
    "figure_bytes",
    "over_time",
    "point_range",
    "responder_bars",
    "save_figure",
    "stacked_shares",
]

FigureFormat = Literal["png", "svg"]

_DPI = 150


def over_time(
    frame: pd.DataFrame,
    *,
    x: str = "visit",
    group: str = "arm",
    estimate: str = "estimate",
    lower: str = "lower",
    upper: str = "upper",
    p_value: str | None = "p_value",
    xlabel: str = "Week",
    ylabel: str = "LS mean change from baseline (95% CI)",
    title: str = "",
    letter: str | None = None,
    baseline_point: bool = True,
    log: bool = False,
    reference: float | None = 0.0,
    ax: Axes | None = None,
) -> Figure:
    """Estimates by visit and arm with their intervals, from week 0 (the paper's Figure 2a, d, e, f).

    Parameters
    ----------
    frame
        One row per arm and visit: ``x`` (weeks, numeric: drawn to scale, in any row
        order), ``group``, ``estimate``, ``lower``, ``upper``; optionally ``p_value``
        (against placebo: ``*`` above the interval where p < 0.05, and a legend entry
        "* p < 0.05"; missing p-values carry no mark). A missing bound draws no bar.
    ylabel
        The y-axis label, with the unit (e.g. "ESSDAI, LS mean change from baseline (95% CI)").
    letter
        The paper's panel letter, drawn bold in the top-left corner.
    baseline_point
        Add the week-0 point at ``reference`` (a change from baseline is 0 there, with no
        interval) for every arm without a row at week 0.
    log
        A log-scaled y axis (drug levels, cell counts): every value must be positive.
    reference
        A horizontal line at this value (on a log axis only if positive); ``None``: none
        (then no week-0 point either).

    Notes
    -----
    The arms are drawn in the order of their categories (a categorical ``group``) or of
    appearance, the first grey (placebo), and shifted a little sideways so that their
    bars do not hide each other; x ticks are the visits (and week 0).

    Examples
    --------
    >>> frame = pd.DataFrame({"visit": [4, 12, 24] * 2, "arm": ["Placebo"] * 3 + ["300 mg"] * 3,
    ...                       "estimate": [-1.0, -2.0, -3.0, -1.5, -3.5, -5.0], "p_value": [None] * 5 + [0.01]})
    >>> frame["lower"], frame["upper"] = frame["estimate"] - 1, frame["estimate"] + 1
    >>> axes = over_time(frame, ylabel="ESSDAI change from baseline", letter="a").axes[0]
    >>> [t.get_text() for t in axes.get_xticklabels()], [t.get_text() for t in axes.texts]
    (['0', '4', '12', '24'], ['*'])
    """
    name = "over_time"
    require_frame(frame, name, [x, group, estimate, lower, upper])
    require_numeric(frame, name, [x, estimate, lower, upper])
    if frame[x].isna().any():
        raise InputError(f"{name}: column {x!r} has missing visits in row(s) {np.flatnonzero(frame[x].isna()).tolist()}")
    if log:
        require_positive(frame, name, [estimate, lower, upper])
    if baseline_point and reference is None:
        raise InputError(f"{name}: baseline_point needs the value at week 0 as reference (got reference=None)")
    data = pd.DataFrame({"arm": frame[group].astype(str).to_numpy(), "visit": frame[x].to_numpy(dtype=float),
                         "estimate": frame[estimate].to_numpy(dtype=float),
                         "lower": frame[lower].to_numpy(dtype=float), "upper": frame[upper].to_numpy(dtype=float),
                         "p": p_values(frame, name, p_value)})
    if frame[group].isna().any():
        raise InputError(f"{name}: column {group!r} has missing arms in row(s) "
                         f"{np.flatnonzero(frame[group].isna()).tolist()}")
    repeated = data[data.duplicated(["arm", "visit"])]
    if not repeated.empty:
        arm, visit = repeated.iloc[0][["arm", "visit"]]
        raise InputError(f"{name}: arm {arm!r} has more than one row at visit {visit:g}")
    interval_errors(frame, name, estimate, lower, upper)
    arms = levels(frame[group])
    if baseline_point:
        missing = [a for a in arms if not ((data["arm"] == a) & (data["visit"] == 0)).any()]
        if missing and log and reference <= 0:  # type: ignore[operator]  # not None: checked above
            raise InputError(f"{name}: the week-0 point at reference {reference:g} cannot be drawn on a log axis "
                             f"(arms without a week-0 row: {missing}); pass baseline_point=False")
        start = pd.DataFrame({"arm": missing, "visit": 0.0, "estimate": reference, "lower": np.nan, "upper": np.nan,
                              "p": np.nan})
        data = pd.concat([start, data], ignore_index=True) if missing else data
    figure, axes = new_axes(ax, (6.5, 4.5))
    colours = arm_colours(arms)
    visits = np.sort(data["visit"].unique())
    step = 0.012 * (float(visits.max() - visits.min()) or 1.0)
    stars = 0
    for k, arm in enumerate(arms):
        part = data[data["arm"] == arm].sort_values("visit")
        xs = part["visit"].to_numpy() + (k - (len(arms) - 1) / 2) * step
        axes.errorbar(xs, part["estimate"].to_numpy(), yerr=interval_errors(part, name, "estimate", "lower", "upper"),
                      fmt="-o", markersize=4, capsize=3, linewidth=1.2, color=colours[arm], label=arm)
        top = part["upper"].where(part["upper"].notna(), part["estimate"]).to_numpy()
        stars += mark_significant(axes, xs, top, part["p"].to_numpy(), colours[arm])
    if log:
        axes.set_yscale("log")
    if reference is not None and (reference > 0 or not log):
        axes.axhline(reference, color="grey", linewidth=0.8, linestyle="--", zorder=0)
    axes.set_xticks(visits)
    if stars:
        headroom(axes)
    handles, _ = axes.get_legend_handles_labels()
    axes.legend(handles=handles + ([significance_note()] if stars else []), frameon=False, fontsize=8)
    finish_axes(axes, title=title, letter=letter, xlabel=xlabel, ylabel=ylabel)
    return figure


def point_range(
    frame: pd.DataFrame,
    *,
    label: str = "arm",
    estimate: str = "estimate",
    lower: str = "lower",
    upper: str = "upper",
    xlabel: str = "Difference to placebo (95% CI)",
    title: str = "",
    letter: str | None = None,
    reference: float = 0.0,
    ax: Axes | None = None,
) -> Figure:
    """A forest plot: one horizontal point and interval per row, first row on top, a line at ``reference``.

    Examples
    --------
    >>> frame = pd.DataFrame({"arm": ["5 mg", "300 mg"], "estimate": [-0.5, -1.9], "lower": [-2.7, -4.2],
    ...                       "upper": [1.7, 0.3]})
    >>> point_range(frame).axes[0].get_yticklabels()[0].get_text()
    '300 mg'
    """
    name = "point_range"
    require_frame(frame, name, [label, estimate, lower, upper])
    require_numeric(frame, name, [estimate, lower, upper])
    figure, axes = new_axes(ax, (6.5, 0.6 * len(frame) + 1.6))
    y = np.arange(len(frame))[::-1].astype(float)
    axes.errorbar(frame[estimate].to_numpy(dtype=float), y, xerr=interval_errors(frame, name, estimate, lower, upper),
                  fmt="o", color="k", capsize=3)
    axes.axvline(reference, color="grey", linewidth=0.8, linestyle="--")
    axes.set_yticks(y[::-1], [str(v) for v in frame[label]][::-1])
    axes.set_ylim(-0.6, len(frame) - 0.4)
    finish_axes(axes, title=title, letter=letter, xlabel=xlabel)
    return figure


def dose_response(result: MCPModResult, *, title: str = "", xlabel: str = "Dose (mg)",
                  ylabel: str = "Placebo-adjusted change from baseline (95% CI)",
                  confidence_level: float = 0.95,
                  letter: str | None = None, ax: Axes | None = None) -> Figure:
    """The fitted dose-response curve (dotted) with its band over the placebo-adjusted estimates (Figure 2b).

    Draws :meth:`dosefinding.mod.MCPModResult.plot` (dots and bars: the estimates with
    their ``confidence_level`` intervals; the curve and its ``confidence_level`` band), dots the
    curve as the paper does, and puts the x ticks at the doses.

    Examples
    --------
    >>> from dosefinding import Candidates
    >>> from dosefinding.mod import mcpmod
    >>> cands = Candidates([0, 5, 50, 300], {"linear": None, "emax": 30}, max_effect=-3.5)
    >>> res = mcpmod(cands, doses=[0, 5, 50, 300], estimates=[-2.8, -3.3, -4.2, -5.6], cov=np.eye(4) * 0.5,
    ...              df=180)
    >>> axes = dose_response(res, title="ESSDAI at week 24", letter="b").axes[0]
    >>> axes.get_xlabel(), [t.get_text() for t in axes.get_xticklabels()]
    ('Dose (mg)', ['0', '5', '50', '300'])
    """
    figure, axes = new_axes(ax, (6.5, 4.5))
    result.plot(ax=axes, confidence_level=confidence_level)
    for line in axes.lines:
        if str(line.get_label()).startswith("Fitted curve"):
            line.set_linestyle(":")
            line.set_linewidth(2.0)
    doses = np.sort(result.mct.estimates.index.to_numpy(dtype=float))
    axes.set_xticks(doses)
    close = np.flatnonzero(np.diff(doses) < 0.04 * (doses[-1] - doses[0]))
    ticks = axes.xaxis.get_major_ticks()
    for i in close:  # 0 and 5 on a 0 to 300 axis: the labels side by side, not over each other
        ticks[i].label1.set_horizontalalignment("right")
        ticks[i + 1].label1.set_horizontalalignment("left")
    axes.legend(frameon=False, fontsize=8)
    finish_axes(axes, title=title, letter=letter, xlabel=xlabel, ylabel=ylabel)
    return figure


def dose_response_data(result: MCPModResult, *, confidence_level: float = 0.95, n_points: int = 101) -> dict[str, pd.DataFrame]:
    """The numbers of :func:`dose_response` for ``results.json``: the estimates with their intervals and the curve.

    Examples
    --------
    >>> from dosefinding import Candidates
    >>> from dosefinding.mod import mcpmod
    >>> cands = Candidates([0, 5, 50, 300], {"linear": None, "emax": 30}, max_effect=-3.5)
    >>> res = mcpmod(cands, doses=[0, 5, 50, 300], estimates=[-2.8, -3.3, -4.2, -5.6], cov=np.eye(4) * 0.5,
    ...              df=180)
    >>> data = dose_response_data(res, n_points=4)
    >>> list(data["curve"].index), list(data["curve"].columns)
    ([0.0, 100.0, 200.0, 300.0], ['estimate', 'se', 'lower', 'upper'])
    """
    estimates = result.effect_estimates(confidence_level)
    curve = result.predict(np.linspace(0.0, float(result.mct.estimates.index.max()), n_points),
                           confidence_level=confidence_level)
    return {"estimates": estimates.rename_axis("dose"), "curve": curve.rename_axis("dose")}


def responder_bars(
    frame: pd.DataFrame,
    *,
    group: str = "arm",
    n: str = "n",
    percent: str = "percent",
    lower: str = "lower",
    upper: str = "upper",
    p_value: str | None = "p_value",
    ylabel: str = "Patients with response, % (95% CI)",
    title: str = "",
    letter: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Responder percentages (0 to 100) by arm: bars, 95% CI whiskers, the value, n under each arm (Figure 2c, left).

    ``frame`` has one row per arm: ``group``, ``percent``, ``lower``, ``upper``, and
    ``n`` (patients in the arm, printed under its name; columns the frame lacks are not
    printed) and ``p_value`` (against placebo: ``*`` where p < 0.05) where available.

    Examples
    --------
    >>> frame = pd.DataFrame({"arm": ["Placebo", "300 mg"], "n": [49, 47], "percent": [61.2, 89.4],
    ...                       "lower": [46.2, 76.9], "upper": [74.8, 96.5], "p_value": [None, 0.002]})
    >>> axes = responder_bars(frame, letter="c").axes[0]
    >>> [t.get_text() for t in axes.texts], [t.get_text() for t in axes.get_xticklabels()]
    (['61', '89', '*'], ['Placebo\\nn = 49', '300 mg\\nn = 47'])
    """
    name = "responder_bars"
    require_frame(frame, name, [group, percent, lower, upper])
    require_numeric(frame, name, [percent, lower, upper])
    values = frame[percent].to_numpy(dtype=float)
    bad = np.flatnonzero(~((values >= 0) & (values <= 100)))
    if bad.size:
        raise InputError(f"{name}: column {percent!r} must hold percentages between 0 and 100, not so in row(s) "
                         f"{bad.tolist()}")
    errors = interval_errors(frame, name, percent, lower, upper)
    counts = require_counts(frame, name, [n])[:, 0] if n in frame.columns else None
    figure, axes = new_axes(ax, (5.0, 4.5))
    arms = [str(a) for a in frame[group]]
    colours = arm_colours(arms)
    x = np.arange(len(arms), dtype=float)
    axes.bar(x, values, color=[colours[a] for a in arms], width=0.65)
    axes.errorbar(x, values, yerr=errors, fmt="none", ecolor="k", capsize=4, linewidth=1.0)
    top = np.where(np.isfinite(errors[1]), values + np.nan_to_num(errors[1]), values)
    for xi, v, t in zip(x, values, top, strict=True):
        axes.annotate(f"{v:.0f}", (xi, t), xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                      fontsize=9)
    stars = mark_significant(axes, x, top, p_values(frame, name, p_value), offset=13.0)
    labels = wrap_labels(arms, 16)
    if counts is not None:
        labels = [f"{label}\nn = {k}" for label, k in zip(labels, counts, strict=True)]
    axes.set_xticks(x, labels, fontsize=8)
    axes.set_ylim(0, 118)
    axes.set_yticks(np.arange(0, 101, 20))
    if stars:
        axes.legend(handles=[significance_note()], frameon=False, fontsize=8, loc="upper left")
    finish_axes(axes, title=title, letter=letter, ylabel=ylabel)
    return figure


def _share_colours(categories: Sequence[str], colours: Sequence[str] | None, function: str) -> list[str]:
    import matplotlib

    if colours is None:
        return [matplotlib.colors.to_hex(c) for c in matplotlib.colormaps["RdYlGn_r"](
            np.linspace(0.15, 0.85, len(categories)))]
    if len(colours) < len(categories):
        raise InputError(f"{function}: colours: need {len(categories)} colours, got {len(colours)}")
    return list(colours)


def _stack(axes: Axes, x: np.ndarray, shares: np.ndarray, categories: Sequence[str], colours: Sequence[str],
           width: float) -> None:
    """Bars at ``x`` stacked from ``shares`` (bars x categories, percentages), segments of 5% or more labelled."""
    bottom = np.zeros(len(x))
    for j, cat in enumerate(categories):
        axes.bar(x, shares[:, j], bottom=bottom, color=colours[j], width=width, label=cat, edgecolor="white",
                 linewidth=0.6)
        for xi, b, s in zip(x, bottom, shares[:, j], strict=True):
            if s >= 5:
                axes.text(xi, b + s / 2, f"{s:.0f}", ha="center", va="center", fontsize=8)
        bottom += shares[:, j]
    axes.set_ylim(0, 100)
    handles, labels = axes.get_legend_handles_labels()
    axes.legend(handles[::-1], labels[::-1], frameon=False, fontsize=8, bbox_to_anchor=(1.01, 1.0), loc="upper left")


def category_shares(
    frame: pd.DataFrame,
    *,
    period: str = "period",
    group: str = "arm",
    category: str = "category",
    n: str = "n",
    percent: str = "percent",
    ylabel: str = "Patients (%)",
    title: str = "",
    letter: str | None = None,
    colours: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Category shares per arm at each period, e.g. baseline and week 24 side by side (Figure 2c, right).

    Parameters
    ----------
    frame
        One row per period, arm and category: ``n`` patients of the arm in the category
        at the period and their ``percent`` of the arm's patients at that period
        (``100 n / sum of n``; within 0.5). Periods, arms and categories are drawn in
        the order of their categories (categorical columns) or of appearance; the
        categories stack from the bottom (e.g. low, moderate, high).
    colours
        One colour per category; default green (first) to red (last).

    Notes
    -----
    Each bar is one arm at one period; the period and the bar's n are under it, the arm
    under its pair of bars; segments of 5% or more carry their percentage.

    Examples
    --------
    >>> frame = pd.DataFrame({"period": ["Baseline"] * 2 + ["Week 24"] * 2, "arm": "300 mg",
    ...                       "category": ["Low", "High"] * 2, "n": [10, 37, 29, 17],
    ...                       "percent": [21.3, 78.7, 63.0, 37.0]})
    >>> axes = category_shares(frame, letter="c").axes[0]
    >>> [t.get_text() for t in axes.get_xticklabels()]
    ['Baseline\\nn = 47', 'Week 24\\nn = 46']
    """
    name = "category_shares"
    require_frame(frame, name, [period, group, category, n, percent])
    require_numeric(frame, name, [percent])
    counts = require_counts(frame, name, [n])[:, 0]
    periods, arms, categories = levels(frame[period]), levels(frame[group]), levels(frame[category])
    data = pd.DataFrame({"period": frame[period].astype(str).to_numpy(), "arm": frame[group].astype(str).to_numpy(),
                         "category": frame[category].astype(str).to_numpy(), "n": counts,
                         "percent": frame[percent].to_numpy(dtype=float)})
    repeated = data[data.duplicated(["period", "arm", "category"])]
    if not repeated.empty:
        raise InputError(f"{name}: more than one row for {tuple(repeated.iloc[0][['period', 'arm', 'category']])}")
    bars = [(a, p) for a in arms for p in periods if ((data["arm"] == a) & (data["period"] == p)).any()]
    wide = data.pivot_table(index=["arm", "period"], columns="category", values=["n", "percent"], aggfunc="sum",
                            fill_value=0).reindex(pd.MultiIndex.from_tuples(bars))
    shares = wide["percent"].reindex(columns=categories).to_numpy(dtype=float)
    totals = wide["n"].reindex(columns=categories).to_numpy(dtype=float).sum(axis=1)
    expected = 100 * wide["n"].reindex(columns=categories).to_numpy(dtype=float) / np.where(totals > 0, totals, 1)[:, None]
    off = np.flatnonzero((np.abs(shares.sum(axis=1) - 100) > 0.5) | np.any(np.abs(shares - expected) > 0.5, axis=1))
    if off.size:
        arm, when = bars[off[0]]
        raise InputError(f"{name}: the percentages of arm {arm!r} at {when!r} are not 100 n / (sum of n) summing to "
                         f"100: n {wide['n'].reindex(columns=categories).iloc[off[0]].tolist()}, percent {shares[off[0]].round(1).tolist()} ({categories})")
    gap = 0.7
    centre = {a: i * (len(periods) + gap) for i, a in enumerate(arms)}
    x = np.array([centre[a] + periods.index(p) - (len(periods) - 1) / 2 for a, p in bars])
    figure, axes = new_axes(ax, (1.1 * len(bars) + 2.6, 4.5))
    _stack(axes, x, shares, categories, _share_colours(categories, colours, name), 0.8)
    axes.set_xticks(x, [f"{p}\nn = {int(t)}" for (_, p), t in zip(bars, totals, strict=True)], fontsize=8)
    below = axes.secondary_xaxis("bottom")
    below.set_xticks([centre[a] for a in arms], wrap_labels(arms, 16))
    below.tick_params(length=0, pad=26)
    below.spines["bottom"].set_visible(False)
    finish_axes(axes, title=title, letter=letter, ylabel=ylabel)
    return figure


def stacked_shares(
    frame: pd.DataFrame,
    *,
    ylabel: str = "Patients (%)",
    title: str = "",
    letter: str | None = None,
    colours: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Stacked bars of category shares at one period: rows of ``frame`` are arms, columns categories, cells percentages.

    Each bar sums to 100 (within rounding, 0.5); segments of 5% or more carry their value.
    :func:`category_shares` draws several periods (baseline and week 24) with n.

    Examples
    --------
    >>> frame = pd.DataFrame({"Low": [35.0, 61.0], "Moderate": [50.0, 37.0], "High": [15.0, 2.0]},
    ...                      index=["Placebo", "300 mg"])
    >>> [t.get_text() for t in stacked_shares(frame).axes[0].texts]
    ['35', '61', '50', '37', '15']
    """
    name = "stacked_shares"
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise InputError(f"{name}: frame must be a non-empty DataFrame (arms by categories)")
    require_numeric(frame, name, list(frame.columns))
    shares = frame.to_numpy(dtype=float)
    totals = shares.sum(axis=1)
    if np.any(shares < 0) or np.any(np.abs(totals - 100.0) > 0.5):
        raise InputError(f"{name}: each row must be non-negative percentages summing to 100, row sums "
                         f"{totals.tolist()}")
    categories = [str(c) for c in frame.columns]
    figure, axes = new_axes(ax, (1.4 * len(frame) + 2.8, 4.5))
    x = np.arange(len(frame), dtype=float)
    _stack(axes, x, shares, categories, _share_colours(categories, colours, name), 0.65)
    axes.set_xticks(x, wrap_labels(frame.index, 11))
    finish_axes(axes, title=title, letter=letter, ylabel=ylabel)
    return figure


def figure_bytes(figure: Figure, format: FigureFormat = "png") -> bytes:
    """``figure`` rendered as PNG (150 dpi) or SVG, without a time stamp, so the same figure gives the same bytes.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> figure = Figure(figsize=(2, 2)); _ = figure.subplots().plot([0, 1])
    >>> figure_bytes(figure, "svg") == figure_bytes(figure, "svg")
    True
    """
    import matplotlib
    from matplotlib.figure import Figure

    if not isinstance(figure, Figure):
        raise InputError(f"figure: must be a matplotlib Figure, got {type(figure).__name__}")
    if format not in ("png", "svg"):
        raise InputError(f"format: must be 'png' or 'svg', got {format!r}")
    buffer = io.BytesIO()
    metadata = {"Date": None} if format == "svg" else {"Software": None}
    with matplotlib.rc_context({"svg.hashsalt": "dosefinding", "svg.fonttype": "path"}):
        figure.savefig(buffer, format=format, dpi=_DPI, metadata=metadata, bbox_inches="tight", facecolor="white")
    return buffer.getvalue()


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Write ``figure`` to ``path``, PNG or SVG by its suffix; returns the path.

    Examples
    --------
    >>> import tempfile
    >>> from matplotlib.figure import Figure
    >>> figure = Figure(figsize=(2, 2)); _ = figure.subplots().plot([0, 1])
    >>> save_figure(figure, Path(tempfile.mkdtemp()) / "figure-1.svg").read_bytes()[:5]
    b'<?xml'
    """
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in ("png", "svg"):
        raise InputError(f"path: must end in .png or .svg, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(figure_bytes(figure, suffix))  # type: ignore[arg-type]  # 'png' or 'svg', checked above
    return path


def image_html(data: bytes, format: FigureFormat, alt: str) -> str:
    """An ``<img>`` holding ``data`` (PNG or SVG bytes) as a base64 data URI: no external file or URL."""
    mime = {"png": "image/png", "svg": "image/svg+xml"}[format]
    size = ""
    if format == "png" and data[12:16] == b"IHDR":
        # shown at the size of the SVG (96 px per inch), not one screen pixel per rendered pixel
        size = f' width="{round(int.from_bytes(data[16:20], "big") * 96 / _DPI)}"'
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img class="df-image" src="data:{mime};base64,{encoded}"{size} alt="{html.escape(alt)}">'


def embed(figure: Figure | bytes, *, id: str, caption: str = "", format: FigureFormat = "svg") -> str:
    """The HTML ``<figure id=...>`` of ``figure`` (a Figure, or PNG / SVG bytes of ``format``) with its caption.

    The image is inline (a base64 data URI), so the HTML file needs nothing else; an SVG
    in an ``<img>`` keeps its internal ids to itself.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> figure = Figure(figsize=(2, 2)); _ = figure.subplots().plot([0, 1])
    >>> embed(figure, id="figure-9", caption="A <line>").splitlines()[0]
    '<figure class="df-figure" id="figure-9">'
    """
    check_id(id, "id")
    data = figure if isinstance(figure, bytes) else figure_bytes(figure, format)
    parts = [f'<figure class="df-figure" id="{id}">', image_html(data, format, caption or id)]
    if caption:
        parts.append(f"<figcaption>{html.escape(caption)}</figcaption>")
    parts.append("</figure>")
    return "\n".join(parts)
