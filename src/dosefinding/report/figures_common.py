"""What every report figure shares: the checks of its input frame, the panel letter, plain tick labels, arm colours.

The figure modules (:mod:`dosefinding.report.figures`, :mod:`~dosefinding.report.figures_dose`,
:mod:`~dosefinding.report.figures_flow`) draw with these, so that every panel reads alike:
an :class:`~dosefinding.errors.InputError` naming the figure function and the column for
bad input, the paper's panel letter bold in the top-left corner, tick labels as plain
numbers (``20``, not ``2x10^1``), labels as printed (``\u00b1``, ``\u2265``, ``\u00b5g/mL``:
:func:`display_text`), placebo grey and active arms in blues, text of at least 8 pt at the
saved size, and ``*`` just over the upper bar of estimates with p < 0.05.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dosefinding.errors import InputError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure

__all__ = [
    "SIGNIFICANCE",
    "arm_colours",
    "display_text",
    "finish_axes",
    "headroom",
    "interval_errors",
    "levels",
    "mark_significant",
    "new_axes",
    "p_values",
    "plain_number",
    "require_counts",
    "require_frame",
    "require_numeric",
    "require_positive",
    "significance_note",
    "wrap_labels",
]

SIGNIFICANCE = 0.05
"""Estimates with a p-value below this carry a ``*`` (the paper's "* p < 0.05")."""

_PLACEBO_GREY = "#7f7f7f"


def arm_colours(arms: Sequence[str]) -> dict[str, str]:
    """One colour per arm: the first (placebo) grey, the others light to dark blue.

    Examples
    --------
    >>> arm_colours(["Placebo", "5 mg", "300 mg"])
    {'Placebo': '#7f7f7f', '5 mg': '#6aaed6', '300 mg': '#08306b'}
    """
    import matplotlib

    arms = [str(a) for a in arms]
    if not arms:
        return {}
    active = len(arms) - 1
    positions = np.linspace(0.5, 1.0, active) if active > 1 else np.full(active, 0.75)
    blues = matplotlib.colormaps["Blues"](positions)
    return {arms[0]: _PLACEBO_GREY, **{a: matplotlib.colors.to_hex(c) for a, c in zip(arms[1:], blues, strict=True)}}


def new_axes(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    """``ax`` and its figure, or a new constrained-layout figure of ``size`` inches with one Axes.

    Examples
    --------
    >>> figure, axes = new_axes(None, (3.0, 2.0))
    >>> figure.get_size_inches().tolist(), axes.figure is figure
    ([3.0, 2.0], True)
    """
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]  # or the SubFigure ax is on: drawn on the same way
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, layout="constrained")
    return figure, figure.subplots()


def require_frame(frame: object, function: str, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` if it is a DataFrame with rows and ``columns``, else an InputError naming ``function``.

    Examples
    --------
    >>> require_frame(pd.DataFrame({"mean": [1.0]}), "dose_summary", ["mean", "sd"])
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: dose_summary: column 'sd' missing (columns: ['mean'])
    """
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{function}: frame must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        raise InputError(f"{function}: column{'s' if len(missing) > 1 else ''} {names} missing "
                         f"(columns: {list(frame.columns)})")
    if frame.empty:
        raise InputError(f"{function}: no rows to draw")
    return frame


def require_numeric(frame: pd.DataFrame, function: str, columns: Sequence[str]) -> None:
    """An InputError naming ``function`` and the column unless every one of ``columns`` is numeric.

    Examples
    --------
    >>> require_numeric(pd.DataFrame({"visit": ["Week 4"]}), "over_time", ["visit"])
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: over_time: column 'visit' must be numeric, got values such as 'Week 4'
    """
    for c in columns:
        if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c]):
            raise InputError(f"{function}: column {c!r} must be numeric, got values such as {frame[c].iloc[0]!r}")


def require_counts(frame: pd.DataFrame, function: str, columns: Sequence[str]) -> np.ndarray:
    """The counts of ``columns`` (rows x columns, integers), or an InputError unless all are whole numbers >= 0.

    Examples
    --------
    >>> require_counts(pd.DataFrame({"n": [49, 46.5]}), "responder_bars", ["n"])
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: responder_bars: column 'n' must hold counts (whole numbers >= 0), not so in row(s) [1]
    """
    require_numeric(frame, function, columns)
    for c in columns:
        values = frame[c].to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (values != np.round(values)))
        if bad.size:
            raise InputError(f"{function}: column {c!r} must hold counts (whole numbers >= 0), not so in row(s) "
                             f"{bad.tolist()}")
    return frame[list(columns)].to_numpy(dtype=float).astype(int)


def require_positive(frame: pd.DataFrame, function: str, columns: Sequence[str]) -> None:
    """An InputError unless the (non-missing) values of ``columns`` are > 0, as a log axis needs.

    Examples
    --------
    >>> require_positive(pd.DataFrame({"mean": [3.0, -1.0]}), "dose_summary", ["mean"])
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: dose_summary: column 'mean' has values <= 0 in row(s) [1], which a log axis cannot show
    """
    for c in columns:
        values = frame[c].to_numpy(dtype=float)
        bad = np.flatnonzero(values <= 0)
        if bad.size:
            raise InputError(f"{function}: column {c!r} has values <= 0 in row(s) {bad.tolist()}, which a log "
                             "axis cannot show")


def interval_errors(frame: pd.DataFrame, function: str, estimate: str, lower: str, upper: str) -> np.ndarray:
    """Error-bar lengths (2 x rows) of ``lower`` and ``upper`` about ``estimate``; a missing bound draws no bar.

    Examples
    --------
    >>> frame = pd.DataFrame({"estimate": [1.0, 2.0], "lower": [0.5, float("nan")], "upper": [2.0, 3.0]})
    >>> interval_errors(frame, "over_time", "estimate", "lower", "upper").tolist()
    [[0.5, nan], [1.0, nan]]
    """
    est, lo, hi = (frame[c].to_numpy(dtype=float) for c in (estimate, lower, upper))
    bad = (lo > est) | (hi < est)
    if np.any(bad):
        raise InputError(f"{function}: columns {lower!r}, {upper!r}: the interval must contain the {estimate}, "
                         f"not so in row(s) {np.flatnonzero(bad).tolist()}")
    errors = np.vstack([est - lo, hi - est])
    errors[:, ~(np.isfinite(errors[0]) & np.isfinite(errors[1]))] = np.nan
    return errors


def p_values(frame: pd.DataFrame, function: str, column: str | None) -> np.ndarray:
    """The p-values of ``column`` (all missing when it is ``None`` or absent); checked to lie in [0, 1]."""
    if column is None or column not in frame.columns:
        return np.full(len(frame), np.nan)
    require_numeric(frame, function, [column])
    values = frame[column].to_numpy(dtype=float)
    bad = np.flatnonzero((values < 0) | (values > 1))
    if bad.size:
        raise InputError(f"{function}: column {column!r} must hold p-values in [0, 1], not so in row(s) "
                         f"{bad.tolist()}")
    return values


def mark_significant(axes: Axes, x: Iterable[float], top: Iterable[float], p: Iterable[float],
                     colour: str = "black", offset: float = 2.0) -> int:
    """``*`` ``offset`` points above ``top`` (the interval's upper end) at each ``x`` whose p-value is below 0.05.

    The gap is measured to the drawn star itself (the glyph sits high in its line: placed
    by its text box it would float a third of a line above the bar, beside the next arm's
    point), centred over ``x``. Missing p-values (the reference arm, a visit without a
    test) carry no mark. Returns the number of marks drawn.

    Examples
    --------
    >>> figure, axes = new_axes(None, (3.0, 2.0))
    >>> mark_significant(axes, [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0.01, 0.2, float("nan")])
    1
    """
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    font = FontProperties(size=12, weight="bold")
    ink = TextPath((0, 0), "*", prop=font).get_extents()  # points, from the baseline and the left of the advance
    drawn = 0
    for xi, ti, pi in zip(x, top, p, strict=True):
        if np.isfinite(pi) and pi < SIGNIFICANCE and np.isfinite(ti):
            axes.annotate("*", (xi, ti), xytext=(-(ink.x0 + ink.x1) / 2, offset - ink.y0), textcoords="offset points",
                          ha="left", va="baseline", fontproperties=font, color=colour)
            drawn += 1
    return drawn


def headroom(axes: Axes, share: float = 0.07) -> None:
    """Raise the top of the y axis by ``share`` of its span (of its decades on a log axis): room for the ``*`` marks.

    Call it once all is drawn (it fixes the y limits).

    Examples
    --------
    >>> figure, axes = new_axes(None, (3.0, 2.0))
    >>> _ = axes.set_ylim(0.0, 10.0); headroom(axes); [round(float(v), 6) for v in axes.get_ylim()]
    [0.0, 10.7]
    """
    low, high = axes.get_ylim()
    if axes.get_yscale() == "log":
        axes.set_ylim(low, high * (high / low) ** share)
    else:
        axes.set_ylim(low, high + share * (high - low))


def significance_note() -> object:
    """A legend handle reading ``* p < 0.05`` (its label is ``p < 0.05``; the handle draws the ``*``)."""
    from matplotlib.lines import Line2D

    return Line2D([], [], linestyle="none", marker="$*$", markersize=6, color="black",
                  label=f"p < {SIGNIFICANCE:g}")


_SYMBOLS = (("+/-", "\u00b1"), ("+-", "\u00b1"), (">=", "\u2265"), ("<=", "\u2264"))
_MICRO = re.compile(r"(?<![A-Za-z])u(?=(?:g|L|l|mol|M)(?![A-Za-z]))")


def display_text(text: str) -> str:
    """``text`` as printed: ``+-`` as ``\u00b1``, ``>=`` as ``\u2265``, ``<=`` as ``\u2264``, and the micro prefix of units.

    A unit written in ASCII (``ug/mL``, ``cells/uL``, ``umol/L``) gets its ``\u00b5``; the data
    keep their spelling, only the drawn text changes.

    Examples
    --------
    >>> display_text("Ianalumab (ug/mL), mean +- SD")
    'Ianalumab (\u00b5g/mL), mean \u00b1 SD'
    >>> display_text("CD19+ B cells (cells/uL)"), display_text("ESSDAI >= 6"), display_text("Uric acid (umol/L)")
    ('CD19+ B cells (cells/\u00b5L)', 'ESSDAI \u2265 6', 'Uric acid (\u00b5mol/L)')
    >>> display_text("unchanged: uLTRA, bug, mug")
    'unchanged: uLTRA, bug, mug'
    """
    for ascii_form, symbol in _SYMBOLS:
        text = text.replace(ascii_form, symbol)
    return _MICRO.sub("\u00b5", text)


def plain_number(value: float, _position: object = None) -> str:
    """A tick label as a plain number: ``20``, ``0.5``, ``1,000``; never ``2x10^1``.

    Examples
    --------
    >>> [plain_number(v) for v in (0.05, 0.5, 18.0, 1000.0, 250000.0)]
    ['0.05', '0.5', '18', '1,000', '250,000']
    """
    if value == 0 or not np.isfinite(value):
        return "0" if value == 0 else ""
    if abs(value) >= 1000 and value == round(value):
        return f"{value:,.0f}"
    return f"{value:.6g}".replace("-", "\u2212")


def _plain_axis(axis: Axis, log: bool) -> None:
    from matplotlib.ticker import FuncFormatter, LogFormatter, LogLocator, NullFormatter, ScalarFormatter

    if not isinstance(axis.get_major_formatter(), ScalarFormatter | LogFormatter):
        return  # labels given as text (arms, periods)
    if log:
        axis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
        axis.set_minor_formatter(NullFormatter())
    axis.set_major_formatter(FuncFormatter(plain_number))


def _fit_label(axes: Axes, label: str) -> str:
    """A y label broken over lines no longer than the axes is high (at about 0.6 em a character)."""
    from matplotlib import rcParams
    from matplotlib.figure import SubFigure
    from matplotlib.font_manager import FontProperties

    parent = axes.figure  # the axes' position is a fraction of it: a Figure, or a SubFigure within one
    parent_inches = parent.bbox.height / parent.dpi if isinstance(parent, SubFigure) else parent.get_figheight()
    height = axes.get_position().height * parent_inches * 72  # points
    size = FontProperties(size=rcParams["axes.labelsize"]).get_size_in_points()
    width = max(12, int(height / (0.6 * size)))
    return "\n".join(textwrap.wrap(label, width, break_on_hyphens=False)) or label


def finish_axes(axes: Axes, *, title: str = "", letter: str | None = None, xlabel: str | None = None,
                ylabel: str | None = None) -> None:
    """Labels, plain tick labels on both axes, the title and the panel letter (bold, top left) of a panel.

    Labels and title are drawn through :func:`display_text` (``\u00b1``, ``\u00b5g/mL``); a y label
    longer than the axes is high is broken over lines.

    Examples
    --------
    >>> figure, axes = new_axes(None, (3.0, 2.0))
    >>> _ = axes.plot([1, 100], [1, 100]); axes.set_yscale("log")
    >>> finish_axes(axes, title="IgG", letter="e", ylabel="IgG (g/L)")
    >>> axes.get_title(loc="left"), axes.get_title(), axes.get_ylabel()
    ('e', 'IgG', 'IgG (g/L)')
    """
    _plain_axis(axes.xaxis, axes.get_xscale() == "log")
    _plain_axis(axes.yaxis, axes.get_yscale() == "log")
    if xlabel is not None:
        axes.set_xlabel(display_text(xlabel))
    if ylabel is not None:
        axes.set_ylabel(_fit_label(axes, display_text(ylabel)))
    if title:
        axes.set_title(display_text(title), fontsize=10)
    if letter:
        axes.set_title(letter, loc="left", fontsize=13, fontweight="bold")


def levels(values: pd.Series) -> list[str]:
    """The distinct values of ``values`` as text: in the order of the categories of a categorical, else as they appear.

    Examples
    --------
    >>> levels(pd.Series(["50 mg", "Placebo", "50 mg"]))
    ['50 mg', 'Placebo']
    >>> levels(pd.Series(pd.Categorical(["50 mg", "Placebo"], categories=["Placebo", "5 mg", "50 mg"])))
    ['Placebo', '50 mg']
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.dropna())
        return [str(c) for c in values.cat.categories if c in present]
    return [str(v) for v in pd.unique(values.dropna())]


def wrap_labels(labels: Sequence[object], width: int = 14) -> list[str]:
    """Tick labels broken over lines of about ``width`` characters, so that long arm names do not overlap.

    Examples
    --------
    >>> wrap_labels(["Ianalumab 300 mg"], 10)
    ['Ianalumab\\n300 mg']
    """
    return ["\n".join(textwrap.wrap(str(label), width)) or str(label) for label in labels]
