"""The CONSORT-style patient-flow diagram (the A2201 paper's Figure 1), drawn from counts the data hold.

Nothing is invented: where the data do not record screening, the top box says so instead
of printing a count; exclusion and discontinuation reasons are listed with their counts
only where they are given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dosefinding.errors import InputError
from dosefinding.report.figures_common import require_counts

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.text import Text

__all__ = ["NOT_SCREENED", "patient_flow"]

NOT_SCREENED = "Screening not recorded in the data"
"""The top box of :func:`patient_flow` when the data hold no screening counts."""


def _box(axes: Axes, x: float, y: float, text: str) -> Text:
    return axes.text(x, y, text, ha="center", va="center", fontsize=9, zorder=3, transform=axes.transAxes,
                     bbox={"boxstyle": "square,pad=0.5", "facecolor": "white", "edgecolor": "black",
                           "linewidth": 0.8})


def _arrow(axes: Axes, start: Text | tuple[float, float], end: Text) -> None:
    """An arrow from a box (or a point in axes fraction) to a box, clipped at the boxes' edges."""
    from matplotlib.text import Text

    props = {"arrowstyle": "-|>", "color": "black", "linewidth": 0.8, "shrinkA": 0, "shrinkB": 0,
             "patchB": end.get_bbox_patch()}
    if isinstance(start, Text):
        props["patchA"] = start.get_bbox_patch()
        axes.annotate("", xy=(0.5, 0.5), xycoords=end, xytext=(0.5, 0.5), textcoords=start, arrowprops=props)
    else:
        axes.annotate("", xy=(0.5, 0.5), xycoords=end, xytext=start, textcoords="axes fraction", arrowprops=props)


def _line(axes: Axes, xs: Sequence[float], ys: Sequence[float]) -> None:
    axes.plot(xs, ys, color="black", linewidth=0.8, transform=axes.transAxes, zorder=1)


def _reasons(counts: Mapping[str, int] | pd.Series) -> str:
    return "\n".join(f"{reason} (n = {int(k)})" for reason, k in counts.items() if int(k) > 0)


def patient_flow(
    *,
    screened: int | None,
    excluded: Mapping[str, int] | None,
    arms: pd.DataFrame,
    discontinued: pd.DataFrame | None = None,
    title: str = "",
) -> Figure:
    """A CONSORT-style diagram of patient flow, drawn from counts (the paper's Figure 1).

    Parameters
    ----------
    screened
        Patients assessed for eligibility; ``None`` where the data do not record
        screening: the top box then reads "Screening not recorded in the data".
    excluded
        Patients screened but not randomised, by reason (e.g. the eligibility rule
        failed); their sum is ``screened`` minus the randomised. ``None``: reasons not
        recorded (with ``screened`` given, the box gives the count screened minus
        randomised and says the reasons are not recorded).
    arms
        One row per arm (index: arm label), one column per stage in order (e.g.
        ``"Randomised"``, ``"Treated"``, ``"Completed week 24"``); the counts may only
        fall from one stage to the next. The first column's sum is the number
        randomised. Where a count falls, the arrow carries the difference.
    discontinued
        Discontinuations by reason: index reason, one column per arm of ``arms``,
        counts. Each arm gets a box under its stages listing its reasons with counts
        (reasons with no patient in the arm are left out). ``None``: no such box.

    Examples
    --------
    >>> arms = pd.DataFrame({"Randomised": [49, 47], "Completed week 24": [46, 44]}, index=["Placebo", "300 mg"])
    >>> gone = pd.DataFrame({"Placebo": [2, 1], "300 mg": [0, 3]}, index=["Adverse event", "Withdrawal by subject"])
    >>> figure = patient_flow(screened=120, excluded={"Inclusion criteria not met": 24}, arms=arms, discontinued=gone)
    >>> texts = [t.get_text() for t in figure.axes[0].texts]
    >>> "Randomised (n = 96)" in texts, "Discontinued (n = 3)\\nWithdrawal by subject (n = 3)" in texts
    (True, True)
    >>> patient_flow(screened=None, excluded=None, arms=arms).axes[0].texts[0].get_text()
    'Screening not recorded in the data'
    """
    if not isinstance(arms, pd.DataFrame) or arms.empty or arms.shape[1] < 1:
        raise InputError("patient_flow: arms must be a DataFrame with one row per arm and one column per stage")
    counts = require_counts(arms, "patient_flow: arms", list(arms.columns))
    falls = np.diff(counts, axis=1)
    if np.any(falls > 0):
        arm, stage = np.argwhere(falls > 0)[0]
        raise InputError(f"patient_flow: arms: the count of arm {arms.index[arm]!r} rises from stage "
                         f"{arms.columns[stage]!r} to {arms.columns[stage + 1]!r}")
    randomised = int(counts[:, 0].sum())
    if excluded is not None:
        bad = {reason: k for reason, k in excluded.items() if not (float(k) >= 0 and float(k) == round(float(k)))}
        if bad:
            raise InputError(f"patient_flow: excluded: counts must be whole numbers >= 0, got {bad}")
    not_randomised = None if excluded is None else int(sum(int(k) for k in excluded.values()))
    if screened is not None:
        if not_randomised is not None and int(screened) != randomised + not_randomised:
            raise InputError(f"patient_flow: screened: {screened} is not randomised ({randomised}, the sum of the "
                             f"first column of arms) plus excluded ({not_randomised})")
        if int(screened) < randomised:
            raise InputError(f"patient_flow: screened: {screened} is fewer than the {randomised} randomised")
    if discontinued is not None:
        if not isinstance(discontinued, pd.DataFrame):
            raise InputError("patient_flow: discontinued must be a DataFrame (index reason, one column per arm)")
        missing = [str(a) for a in arms.index if a not in discontinued.columns]
        if missing:
            raise InputError(f"patient_flow: discontinued has no column for arm(s) {missing} (give 0 counts for an "
                             "arm without discontinuations)")
        unknown = [str(a) for a in discontinued.columns if a not in arms.index]
        if unknown:
            raise InputError(f"patient_flow: discontinued has column(s) {unknown} that are not arms of arms")
        require_counts(discontinued, "patient_flow: discontinued", list(discontinued.columns))

    n_arms, n_stages = counts.shape
    from matplotlib.figure import Figure

    extra = 0 if discontinued is None else 1
    longest = max([len(excluded) if excluded else 1] + ([int((discontinued > 0).sum().max())]
                                                        if discontinued is not None else []))
    figure = Figure(figsize=(max(7.0, 2.3 * n_arms), 3.2 + 1.1 * (n_stages + extra) + 0.15 * longest))
    axes = figure.add_axes((0.02, 0.02, 0.96, 0.9 if title else 0.96))
    axes.set_axis_off()
    ys = np.linspace(0.95, 0.05, 2 + n_stages + extra + 1)
    y_screen, y_rand, y_stages = ys[0], ys[2], ys[3:3 + n_stages]
    screen = _box(axes, 0.5, y_screen, NOT_SCREENED if screened is None
                  else f"Assessed for eligibility (n = {int(screened)})")
    y_excl = (y_screen + y_rand) / 2
    rand = _box(axes, 0.5, y_rand, f"Randomised (n = {randomised})")
    _arrow(axes, screen, rand)
    if excluded is not None or screened is not None:
        if excluded is None:
            text = f"Excluded (n = {int(screened) - randomised})\nReasons not recorded"  # type: ignore[arg-type]
        else:
            reasons = _reasons(excluded)
            text = f"Excluded (n = {not_randomised})" + (f"\n{reasons}" if reasons else "")
        excl = _box(axes, 0.78, y_excl, text)
        _arrow(axes, (0.5, y_excl), excl)
    xs = (np.arange(n_arms) + 0.5) / n_arms
    y_bar = (y_rand + y_stages[0]) / 2 + 0.02
    _line(axes, [0.5, 0.5], [y_rand, y_bar])
    _line(axes, [xs[0], xs[-1]], [y_bar, y_bar])
    for i, arm in enumerate(arms.index):
        boxes = [_box(axes, xs[i], y_stages[k], (f"{arm}\n" if k == 0 else "") + f"{stage}\n(n = {int(counts[i, k])})")
                 for k, stage in enumerate(arms.columns)]
        _arrow(axes, (xs[i], y_bar), boxes[0])
        for k in range(n_stages - 1):
            _arrow(axes, boxes[k], boxes[k + 1])
            drop = int(counts[i, k] - counts[i, k + 1])
            if drop:
                axes.text(xs[i] + 0.01, (y_stages[k] + y_stages[k + 1]) / 2, f"\u2212{drop}", fontsize=8,
                          ha="left", va="center", transform=axes.transAxes)
        if discontinued is not None:
            column = discontinued[arm]
            reasons = _reasons(column)
            _box(axes, xs[i], ys[-1], f"Discontinued (n = {int(column.sum())})" + (f"\n{reasons}" if reasons else ""))
    if title:
        figure.suptitle(title)
    return figure
