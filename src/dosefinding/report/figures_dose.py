"""Figures by dose at one visit, as the A2201 paper's Figure 3: summaries (mean +- SD) and model estimates (+- SE).

- :func:`dose_summary`: the mean +- SD of a measurement by dose (Figure 3a, serum drug
  concentration; 3b, CD19+ B cells), optionally on a log axis;
- :func:`dose_estimates`: LS-mean change from baseline, or its difference to placebo, +- SE
  by dose (Figure 3c, BAFF; 3d, RF; 3e, IgG), ``*`` where p < 0.05.

Both put one point per dose at evenly spaced positions in dose order (the doses span two
orders of magnitude: drawn to scale, 0 and 5 mg would touch), the tick under each reading
the dose ("Placebo" for dose 0) and, where given, the arm's n.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dosefinding.errors import InputError
from dosefinding.report.figures_common import (
    arm_colours,
    finish_axes,
    headroom,
    mark_significant,
    new_axes,
    p_values,
    plain_number,
    require_frame,
    require_numeric,
    require_positive,
    significance_note,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["dose_estimates", "dose_summary"]


def _by_dose(frame: pd.DataFrame, function: str, dose: str, group: str, numbers: list[str]) -> pd.DataFrame:
    """``frame`` checked (numeric ``numbers``, one row per dose, doses >= 0) and sorted by dose."""
    require_numeric(frame, function, [dose, *numbers])
    doses = frame[dose].to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(doses) | (doses < 0))
    if bad.size:
        raise InputError(f"{function}: column {dose!r} must hold doses >= 0, not so in row(s) {bad.tolist()}")
    repeated = frame[dose][frame[dose].duplicated()]
    if not repeated.empty:
        raise InputError(f"{function}: dose {float(repeated.iloc[0]):g} has more than one row; draw one row per dose")
    if frame[group].isna().any():
        raise InputError(f"{function}: column {group!r} has missing arms")
    return frame.sort_values(dose, kind="stable").reset_index(drop=True)


def _spread(frame: pd.DataFrame, function: str, column: str) -> np.ndarray:
    """The error-bar half-lengths of ``column`` (SD or SE): >= 0; missing (n = 1) draws no bar."""
    values = frame[column].to_numpy(dtype=float)
    bad = np.flatnonzero(values < 0)
    if bad.size:
        raise InputError(f"{function}: column {column!r} must be >= 0, not so in row(s) {bad.tolist()}")
    return values


def _draw(axes: Axes, frame: pd.DataFrame, function: str, *, dose: str, group: str, centre: np.ndarray,
          below: np.ndarray, above: np.ndarray, n: str | None) -> np.ndarray:
    """Points with bars at evenly spaced positions, the arms' colours, dose (and n) tick labels; returns positions.

    Without a placebo row (dose 0: placebo-adjusted estimates) the arms keep the blues
    they have beside placebo.
    """
    arms = [str(a) for a in frame[group]]
    doses = frame[dose].to_numpy(dtype=float)
    colours = arm_colours(arms if doses[0] == 0 else ["", *arms])
    x = np.arange(len(frame), dtype=float)
    for xi, arm, c, lo, hi in zip(x, arms, centre, below, above, strict=True):
        axes.errorbar([xi], [c], yerr=[[lo], [hi]], fmt="o", markersize=7, capsize=4, linewidth=1.5,
                      color=colours[arm], label=arm)
    labels = ["Placebo" if d == 0 else plain_number(d) for d in doses]
    if n is not None and n in frame.columns:
        require_numeric(frame, function, [n])
        labels = [f"{label}\nn = {plain_number(k)}" if np.isfinite(k) else label
                  for label, k in zip(labels, frame[n].to_numpy(dtype=float), strict=True)]
    axes.set_xticks(x, labels)
    axes.set_xlim(-0.6, len(frame) - 0.4)
    return x


def dose_summary(
    frame: pd.DataFrame,
    *,
    ylabel: str,
    dose: str = "dose",
    group: str = "arm",
    n: str = "n",
    mean: str = "mean",
    sd: str = "sd",
    xlabel: str = "Dose (mg)",
    title: str = "",
    letter: str | None = None,
    log: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """Mean +- SD of a measurement by dose at one visit (the paper's Figure 3a, b).

    Parameters
    ----------
    frame
        One row per dose: ``group`` (the arm, for its colour), ``dose`` (mg, 0 for
        placebo; any row order), ``n``, ``mean`` and ``sd``. A missing SD (one patient)
        draws the point without a bar.
    ylabel
        The measurement with its unit, e.g. "Serum ianalumab at week 24 (ug/mL), mean +- SD".
    log
        A log-scaled y axis (every mean must be positive); where mean - SD <= 0 only the
        upper half of the bar is drawn, as a log axis cannot show the lower.

    Examples
    --------
    >>> frame = pd.DataFrame({"arm": ["5 mg", "50 mg", "300 mg"], "dose": [5, 50, 300], "n": [44, 45, 43],
    ...                       "mean": [0.4, 6.1, 38.0], "sd": [0.3, 3.2, 17.5]})
    >>> axes = dose_summary(frame, ylabel="Ianalumab (ug/mL)", letter="a", log=True).axes[0]
    >>> [t.get_text() for t in axes.get_xticklabels()]
    ['5\\nn = 44', '50\\nn = 45', '300\\nn = 43']
    """
    name = "dose_summary"
    require_frame(frame, name, [group, dose, n, mean, sd])
    frame = _by_dose(frame, name, dose, group, [n, mean, sd])
    spread = _spread(frame, name, sd)
    centre = frame[mean].to_numpy(dtype=float)
    if log:
        require_positive(frame, name, [mean])
    below = np.where(log & (centre - spread <= 0), 0.0, spread)
    figure, axes = new_axes(ax, (4.5, 4.0))
    _draw(axes, frame, name, dose=dose, group=group, centre=centre, below=below, above=spread, n=n)
    if log:
        axes.set_yscale("log")
        axes.margins(y=0.08)
    finish_axes(axes, title=title, letter=letter, xlabel=xlabel, ylabel=ylabel)
    return figure


def dose_estimates(
    frame: pd.DataFrame,
    *,
    ylabel: str,
    dose: str = "dose",
    group: str = "arm",
    estimate: str = "estimate",
    se: str = "se",
    p_value: str | None = "p_value",
    n: str | None = "n",
    xlabel: str = "Dose (mg)",
    title: str = "",
    letter: str | None = None,
    reference: float | None = 0.0,
    ax: Axes | None = None,
) -> Figure:
    """LS mean +- SE by dose at one visit: a change from baseline or its difference to placebo (Figure 3c-e).

    Parameters
    ----------
    frame
        One row per dose: ``group`` (the arm), ``dose`` (mg, 0 for placebo; a
        placebo-adjusted frame has no placebo row), ``estimate`` and ``se``; optionally
        ``p_value`` (against placebo: ``*`` where p < 0.05) and ``n`` (printed under the
        dose). A missing SE draws the point without a bar.
    ylabel
        What is drawn with its unit, e.g. "RF, placebo-adjusted change from baseline (IU/mL), LS mean +- SE".
    reference
        A horizontal line (no change); ``None``: none.

    Examples
    --------
    >>> frame = pd.DataFrame({"arm": ["5 mg", "50 mg", "300 mg"], "dose": [5, 50, 300],
    ...                       "estimate": [-2.0, -9.5, -12.1], "se": [3.1, 3.0, 3.2], "p_value": [0.52, 0.002, 0.0002]})
    >>> axes = dose_estimates(frame, ylabel="RF change vs placebo (IU/mL)", letter="d").axes[0]
    >>> [t.get_text() for t in axes.texts], [t.get_text() for t in axes.get_xticklabels()]
    (['*', '*'], ['5', '50', '300'])
    """
    name = "dose_estimates"
    require_frame(frame, name, [group, dose, estimate, se])
    frame = _by_dose(frame, name, dose, group, [estimate, se])
    spread = _spread(frame, name, se)
    centre = frame[estimate].to_numpy(dtype=float)
    figure, axes = new_axes(ax, (4.5, 4.0))
    x = _draw(axes, frame, name, dose=dose, group=group, centre=centre, below=spread, above=spread, n=n)
    top = np.where(np.isfinite(spread), centre + spread, centre)
    stars = mark_significant(axes, x, top, p_values(frame, name, p_value))
    if reference is not None:
        axes.axhline(reference, color="grey", linewidth=0.8, linestyle="--", zorder=0)
    if stars:
        headroom(axes)
        axes.legend(handles=[significance_note()], frameon=False, fontsize=8)
    finish_axes(axes, title=title, letter=letter, xlabel=xlabel, ylabel=ylabel)
    return figure
