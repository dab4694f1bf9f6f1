"""The CONSORT 2010 patient-flow diagram (the A2201 paper's Figure 1), drawn from counts the data hold.

Nothing is invented: where the data do not record screening, the top box says so instead
of printing a count (and there is no Excluded box); exclusion and discontinuation reasons
are listed with their counts only where they are given. The boxes are measured with the
renderer before they are placed (in inches), so that no text meets another text or an
arrow whatever the number of arms and reasons: side boxes (Excluded, Discontinued) sit to
the right of the arrow they leave, the figure grows to hold them.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dosefinding.errors import InputError
from dosefinding.report.figures_common import display_text, require_counts
from dosefinding.report.table import display_value

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.text import Text

__all__ = ["NOT_SCREENED", "patient_flow"]

NOT_SCREENED = "Screening not recorded in the data"
"""The top box of :func:`patient_flow` when the data hold no screening counts."""


_SIZE = 9.0
"""Font size (pt) of every box: the figure is drawn at the size it is printed."""
_PAD, _GAP, _VGAP, _MARGIN = 0.07, 0.22, 0.2, 0.12
"""Inches: text to box edge; arrow to side box and box to box across; box to box down; the page edge."""
_MAIN_WIDTH, _SIDE_WIDTH, _EXCLUDED_WIDTH = 22, 26, 40
"""Characters per line of a box on the main arrows, of a discontinuation box, of the Excluded box."""
_REASON_LINES = 2
"""At most this many lines per reason: longer, its parenthesised detail goes, then its end ("...")."""


def _reason(reason: str, count: int, width: int, indent: str) -> list[str]:
    """``reason (n = count)`` decoded (sentence case, >= as a sign), wrapped under ``indent``, at most two lines."""
    text = display_text(display_value(reason, style="sentence"))

    def wrap(body: str) -> list[str]:
        return _with_count(body, count, width, indent, " " * len(indent) + "  ")

    lines = wrap(text)
    if len(lines) > _REASON_LINES:
        text = re.sub(r"\s*\([^()]*\)\s*$", "", text) or text
        lines = wrap(text)
    while len(lines) > _REASON_LINES:
        text = text.rsplit(" ", 1)[0].rstrip(",;:") if " " in text else text[:-1]
        lines = wrap(text + "\u2026")
    return lines


def _reason_lines(counts: Mapping[str, int] | pd.Series, width: int, indent: str = "") -> list[str]:
    return [line for reason, k in counts.items() if int(k) > 0 for line in _reason(str(reason), int(k), width, indent)]


def _with_count(text: str, n: int, width: int, indent: str = "", more: str = "") -> list[str]:
    """``text (n = n)`` in lines of ``width`` characters (the first indented by ``indent``, the others by
    ``more``); the count is never split, nor a number from its unit, and the count goes on a line of its own
    rather than break a short text."""
    count = f"(n = {int(n)})"
    if len(indent) + len(text) + 1 + len(count) <= width:
        return [f"{indent}{text} {count}"]
    bound = re.sub(r"(?<=\d) ", "\u00a0", text)  # "5 mg", "0.1 mL/min": a number keeps its unit
    lines = [line.replace("\u00a0", " ") for line in
             textwrap.wrap(bound, width, initial_indent=indent, subsequent_indent=more, break_on_hyphens=False)]
    if len(lines) > 1 and len(lines[-1]) + 1 + len(count) <= width:
        return [*lines[:-1], f"{lines[-1]} {count}"]
    return [*lines, more + count]


def _main_text(label: str, n: int) -> str:
    return "\n".join(_with_count(display_text(label), n, _MAIN_WIDTH))


def _excluded_text(excluded: Mapping[str, int], criteria: Collection[str]) -> str:
    """The Excluded box: failed criteria under "Not meeting inclusion criteria", then the other reasons."""
    failed = {r: k for r, k in excluded.items() if r in criteria}
    lines = [f"Excluded (n = {sum(int(k) for k in excluded.values())})"]
    if failed:
        lines.append(f"\u2022 Not meeting inclusion criteria (n = {sum(int(k) for k in failed.values())})")
        lines += _reason_lines(failed, _EXCLUDED_WIDTH, "    ")
    lines += _reason_lines({r: k for r, k in excluded.items() if r not in criteria}, _EXCLUDED_WIDTH, "\u2022 ")
    return "\n".join(lines)


@dataclass
class _Box:
    """A box: its text artist, size (inches, once measured) and centre (inches from the left and the top)."""

    text: Text
    left_aligned: bool = False
    width: float = 0.0
    height: float = 0.0
    x: float = 0.0
    y: float = 0.0

    def place(self, x: float, y: float) -> _Box:
        self.x, self.y = x, y
        return self

    @property
    def top(self) -> float:
        return self.y - self.height / 2

    @property
    def bottom(self) -> float:
        return self.y + self.height / 2

    @property
    def left(self) -> float:
        return self.x - self.width / 2


def patient_flow(
    *,
    screened: int | None,
    excluded: Mapping[str, int] | None,
    arms: pd.DataFrame,
    discontinued: pd.DataFrame | None = None,
    criteria: Collection[str] = (),
    title: str = "",
) -> Figure:
    """A CONSORT 2010 diagram of patient flow, drawn from counts (the paper's Figure 1).

    From the top: "Assessed for eligibility (n)"; beside its arrow, to the right, the
    "Excluded (n)" box (failed ``criteria`` grouped under "Not meeting inclusion criteria
    (n)", then the other reasons); "Randomised (n)"; then one column per arm: "Allocated to
    <arm> (n)", a box per further stage, and beside the arrow into the last stage the
    arm's "Discontinued (n)" box with its reasons. Boxes are sized from their text as the
    renderer lays it out and placed so that none meets another or an arrow, whatever the
    number of arms and reasons; the figure grows to hold them (9 pt text at the saved size).
    Reasons are drawn as a reader reads them: CDISC upper-case terms in sentence case
    (:func:`~dosefinding.report.table.display_value`), ``>=`` as ``\u2265``, wrapped, at most two
    lines each (a longer one loses its parenthesised detail, then its end).

    Parameters
    ----------
    screened
        Patients assessed for eligibility; ``None`` where the data do not record
        screening: the top box then reads "Screening not recorded in the data" and there
        is no Excluded box.
    excluded
        Patients screened but not randomised, by reason (e.g. the eligibility rule
        failed, or a DSDECOD term such as ``"WITHDRAWAL BY SUBJECT"``); their sum is
        ``screened`` minus the randomised. ``None``: reasons not recorded (with
        ``screened`` given, the box gives the count screened minus randomised and says the
        reasons are not recorded).
    arms
        One row per arm (index: arm label), one column per stage in order (e.g.
        ``"Randomised"``, ``"Received study drug"``, ``"Completed week 24"``); the counts
        may only fall from one stage to the next. The first column is the number
        randomised to the arm (drawn "Allocated to <arm>"); the others are drawn with their
        column names.
    discontinued
        Discontinuations by reason: index reason, one column per arm of ``arms``, counts
        summing to the arm's fall from the first stage to the last. Each arm's box lists
        its reasons with counts (reasons with no patient in the arm are left out).
        ``None``: reasons not recorded; each fall gets a "Discontinued (n)" box beside its
        arrow.
    criteria
        The reasons of ``excluded`` that are eligibility criteria not met (screen
        failures, e.g. DSTERM of the DSDECOD ``"SCREEN FAILURE"`` records); empty: every
        reason is listed on its own.

    Examples
    --------
    >>> arms = pd.DataFrame({"Randomised": [49, 47], "Completed week 24": [46, 44]}, index=["Placebo", "300 mg"])
    >>> gone = pd.DataFrame({"Placebo": [2, 1], "300 mg": [0, 3]}, index=["ADVERSE EVENT", "WITHDRAWAL BY SUBJECT"])
    >>> figure = patient_flow(screened=120, excluded={"ESSPRI >= 5": 20, "WITHDRAWAL BY SUBJECT": 4}, arms=arms,
    ...                       discontinued=gone, criteria=["ESSPRI >= 5"])
    >>> texts = [t.get_text() for t in figure.axes[0].texts]
    >>> print(texts[1])
    Excluded (n = 24)
    \u2022 Not meeting inclusion criteria (n = 20)
        ESSPRI \u2265 5 (n = 20)
    \u2022 Withdrawal by subject (n = 4)
    >>> print(texts[-1])
    Discontinued (n = 3)
    Withdrawal by subject
      (n = 3)
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
        gone = require_counts(discontinued, "patient_flow: discontinued", list(arms.index)).sum(axis=0)
        fall = counts[:, 0] - counts[:, -1]
        if np.any(gone != fall):
            i = int(np.flatnonzero(gone != fall)[0])
            raise InputError(f"patient_flow: discontinued: arm {arms.index[i]!r} has {gone[i]} discontinuations "
                             f"by reason, but its count falls by {fall[i]} from {arms.columns[0]!r} to "
                             f"{arms.columns[-1]!r}")
    if isinstance(criteria, str):
        raise InputError("patient_flow: criteria must be a collection of reasons of excluded, not one string")
    unknown_criteria = [str(c) for c in criteria if excluded is None or c not in excluded]
    if unknown_criteria:
        raise InputError(f"patient_flow: criteria {unknown_criteria} are not reasons of excluded "
                         f"({[] if excluded is None else list(excluded)})")

    figure, axes = _canvas()
    screen = _new_box(axes, NOT_SCREENED if screened is None else f"Assessed for eligibility (n = {int(screened)})")
    exclusion = None
    if excluded is not None:
        exclusion = _new_box(axes, _excluded_text(excluded, criteria), left_aligned=True)
    elif screened is not None:
        exclusion = _new_box(axes, f"Excluded (n = {int(screened) - randomised})\nReasons not recorded",
                             left_aligned=True)
    rand = _new_box(axes, f"Randomised (n = {randomised})")
    n_arms, n_stages = counts.shape
    stages = [[_new_box(axes, _main_text(f"Allocated to {arm}" if k == 0 else str(stage), int(counts[i, k])))
               for k, stage in enumerate(arms.columns)] for i, arm in enumerate(arms.index)]
    # side[i][k]: the box beside the arrow out of stage k of arm i
    side: list[list[_Box | None]] = [[None] * n_stages for _ in range(n_arms)]
    for i, arm in enumerate(arms.index):
        if discontinued is not None:
            column = discontinued[arm]
            if int(column.sum()):
                text = "\n".join([f"Discontinued (n = {int(column.sum())})", *_reason_lines(column, _SIDE_WIDTH)])
                side[i][n_stages - 2] = _new_box(axes, text, left_aligned=True)  # a fall: two stages at least
        else:
            for k in range(n_stages - 1):
                if counts[i, k] > counts[i, k + 1]:
                    side[i][k] = _new_box(axes, f"Discontinued (n = {int(counts[i, k] - counts[i, k + 1])})",
                                          left_aligned=True)
    heading = axes.text(0, 0, title, ha="center", va="center", fontsize=11) if title else None
    _measure(figure, [screen, rand, *([exclusion] if exclusion else []), *(b for row in stages for b in row),
                      *(b for row in side for b in row if b is not None)])

    # across: arrow positions so that neither the boxes of a row nor a side box and the next arrow meet
    widths = [max(b.width for b in row) for row in stages]
    sides = [max([b.width for b in row if b is not None], default=0.0) for row in side]
    xs = [_MARGIN + widths[0] / 2]
    for i in range(1, n_arms):
        apart = max((widths[i - 1] + widths[i]) / 2 + _GAP, _GAP + sides[i - 1] + _GAP if sides[i - 1] else 0.0)
        xs.append(xs[-1] + apart)
    middle = (xs[0] + xs[-1]) / 2
    shift = max(0.0, _MARGIN + max(screen.width, rand.width) / 2 - middle)
    xs, middle = [x + shift for x in xs], middle + shift
    right = max([x + w / 2 for x, w in zip(xs, widths, strict=True)]
                + [x + _GAP + w for x, w in zip(xs, sides, strict=True) if w]
                + [middle + max(screen.width, rand.width) / 2]
                + ([middle + _GAP + exclusion.width] if exclusion else []))

    # down: rows of boxes, with room for the side boxes beside the arrows between them
    y = _MARGIN + (0.35 if heading else 0.0)
    screen.place(middle, y + screen.height / 2)
    y = screen.bottom + _VGAP
    if exclusion:
        exclusion.place(middle + _GAP + exclusion.width / 2, y + exclusion.height / 2)
        y = exclusion.bottom + _VGAP
    else:
        y += _VGAP
    rand.place(middle, y + rand.height / 2)
    y_bar = rand.bottom + _VGAP
    y = y_bar + _VGAP
    for k in range(n_stages):
        row = max(stages[i][k].height for i in range(n_arms))
        for i in range(n_arms):
            stages[i][k].place(xs[i], y + row / 2)
        y += row
        beside = [(i, aside) for i in range(n_arms) if (aside := side[i][k]) is not None]
        if k < n_stages - 1:
            gap = max([_VGAP * 2] + [b.height + 2 * _VGAP for _, b in beside])
            for i, aside in beside:
                aside.place(xs[i] + _GAP + aside.width / 2, y + gap / 2)
            y += gap
    height = y + _MARGIN
    width = right + _MARGIN

    figure.set_size_inches(width, height)
    axes.set_xlim(0, width)
    axes.set_ylim(height, 0)  # inches from the top
    if heading is not None:
        heading.set_position((width / 2, _MARGIN + 0.15))
    for box in [screen, rand, *([exclusion] if exclusion else []), *(b for row in stages for b in row),
                *(b for row in side for b in row if b is not None)]:
        _draw_box(axes, box)
    _arrow(axes, (middle, screen.bottom), (middle, rand.top))
    if exclusion:
        _arrow(axes, (middle, exclusion.y), (exclusion.left, exclusion.y))
    _line(axes, [middle, middle], [rand.bottom, y_bar])
    _line(axes, [xs[0], xs[-1]], [y_bar, y_bar])
    for i in range(n_arms):
        _arrow(axes, (xs[i], y_bar), (xs[i], stages[i][0].top))
        for k in range(n_stages - 1):
            _arrow(axes, (xs[i], stages[i][k].bottom), (xs[i], stages[i][k + 1].top))
        for beside_box in side[i]:
            if beside_box is not None:
                _arrow(axes, (xs[i], beside_box.y), (beside_box.left, beside_box.y))
    return figure


def _canvas() -> tuple[Figure, Axes]:
    """A figure with the Agg canvas (text is measured before the layout) and one Axes over all of it, axis off."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure()
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    axes.set_axis_off()
    return figure, axes


def _new_box(axes: Axes, text: str, *, left_aligned: bool = False) -> _Box:
    return _Box(axes.text(0, 0, text, ha="left" if left_aligned else "center", va="center", fontsize=_SIZE,
                          zorder=3, linespacing=1.3), left_aligned)


def _measure(figure: Figure, boxes: Sequence[_Box]) -> None:
    """Each box's size in inches: its text as the renderer lays it out, plus the padding."""
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]  # an Agg canvas (_canvas) has one
    for box in boxes:
        extent = box.text.get_window_extent(renderer)
        box.width = extent.width / figure.dpi + 2 * _PAD
        box.height = extent.height / figure.dpi + 2 * _PAD


def _draw_box(axes: Axes, box: _Box) -> None:
    from matplotlib.patches import Rectangle

    axes.add_patch(Rectangle((box.left, box.top), box.width, box.height, facecolor="white", edgecolor="black",
                             linewidth=0.8, zorder=2))
    box.text.set_position((box.left + _PAD, box.y) if box.left_aligned else (box.x, box.y))


def _arrow(axes: Axes, start: tuple[float, float], end: tuple[float, float]) -> None:
    from matplotlib.patches import FancyArrowPatch

    axes.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=9, shrinkA=0, shrinkB=0,
                                   color="black", linewidth=0.8, zorder=1))


def _line(axes: Axes, xs: Sequence[float], ys: Sequence[float]) -> None:
    axes.plot(xs, ys, color="black", linewidth=0.8, zorder=1)
