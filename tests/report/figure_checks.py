"""Checks of rendered figures shared by the report tests: a figure is not blank, its text is readable, its ticks.

``assert_not_blank(png_bytes)`` works on the PNG bytes alone (from
:func:`dosefinding.report.figure_bytes` or a report's ``figures/*.png``), so a test of a
written report can use it as well as a test of one figure function.
"""

from __future__ import annotations

import io
import itertools
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["agg_renderer", "assert_not_blank", "assert_readable", "ink_share", "layout_clashes", "tick_texts"]

WHITE = 0.95
"""A pixel whose red, green and blue are all at least this (of 1) counts as white paper."""
DARK = 0.35
"""A pixel whose red, green and blue are all below this is near black (the axes frame is black)."""
SPINE = 0.5
"""A row (column) of the image near black over more than this share of its width (height) is a spine."""


def _frame(dark: np.ndarray) -> tuple[int, int, int, int] | None:
    """Rows and columns (top, bottom, left, right) of the longest dark straight lines: the axes frame, if drawn."""
    rows = np.flatnonzero(dark.mean(axis=1) > SPINE)
    cols = np.flatnonzero(dark.mean(axis=0) > SPINE)
    if rows.size < 2 or cols.size < 2 or rows[-1] - rows[0] < 10 or cols[-1] - cols[0] < 10:
        return None
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def ink_share(png_bytes: bytes, *, margin: float = 0.12) -> float:
    """The share of non-white pixels of a PNG inside its axes area.

    The axes area is found in the image: the box inside the frame of the axes (the
    longest near-black horizontal and vertical lines). Without a frame (a diagram drawn
    with the axes switched off) it is the image without ``margin`` on each side. Axis
    labels, tick labels and titles lie outside the frame: an Axes with no data scores 0.
    """
    from matplotlib.image import imread

    image = imread(io.BytesIO(png_bytes), format="png")
    assert image.ndim == 3 and image.shape[2] in (3, 4), f"not an RGB(A) image: shape {image.shape}"
    rgb = image[:, :, :3]
    if image.shape[2] == 4:  # a transparent pixel shows the white page
        rgb = rgb * image[:, :, 3:4] + (1 - image[:, :, 3:4])
    frame = _frame(np.all(rgb < DARK, axis=2))
    if frame is None:
        height, width = rgb.shape[:2]
        frame = (int(margin * height), height - int(margin * height), int(margin * width), width - int(margin * width))
    top, bottom, left, right = frame
    inner = rgb[top + 3:bottom - 2, left + 3:right - 2]
    return float(np.mean(np.any(inner < WHITE, axis=2)))


def assert_not_blank(png_bytes: bytes, *, threshold: float = 0.002, margin: float = 0.12) -> float:
    """Assert that a PNG shows something in its axes area: a non-white share above ``threshold``; returns the share.

    An Axes with labels and a title but no data scores 0; the report's figures 0.005 (three
    points with bars by dose) to 0.58 (stacked bars). See :func:`ink_share`.
    """
    assert png_bytes.startswith(b"\x89PNG\r\n\x1a\n"), "not a PNG"
    share = ink_share(png_bytes, margin=margin)
    assert share > threshold, f"figure looks blank: {share:.4f} of its axes area is not white (<= {threshold})"
    return share


def assert_readable(figure: Figure, *, smallest: float = 8.0) -> None:
    """Assert that every visible text of ``figure`` (labels, ticks, legends, annotations) is at least ``smallest`` pt.

    Points are of the figure's own size in inches, the size it is saved at.
    """
    from matplotlib.text import Text

    figure.draw_without_rendering()  # ticks and legends exist once drawn
    small = sorted({(t.get_text(), t.get_fontsize()) for t in figure.findobj(Text)
                    if t.get_visible() and t.get_text().strip() and t.get_fontsize() < smallest})
    assert not small, f"text smaller than {smallest} pt: {small}"


def tick_texts(axes: Axes, which: str = "x") -> list[str]:
    """The labels of the major ticks of ``axes`` on the ``which`` axis, as drawn."""
    axes.figure.draw_without_rendering()
    labels = axes.get_xticklabels() if which == "x" else axes.get_yticklabels()
    return [t.get_text() for t in labels]


def agg_renderer(figure: Figure) -> object:
    """The Agg renderer of ``figure`` (given an Agg canvas if it has none), after a draw: text extents as saved."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)
    figure.draw_without_rendering()
    return figure.canvas.get_renderer()  # type: ignore[attr-defined]


def layout_clashes(figure: Figure) -> list[str]:
    """Where the drawn text of ``figure`` clashes: two texts whose boxes (from the renderer) intersect, or an arrow or
    line of the diagram crossing a text. An empty list: every text stands clear."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path
    from matplotlib.text import Text

    renderer = agg_renderer(figure)
    texts = [(t.get_text(), t.get_window_extent(renderer)) for t in figure.findobj(Text)
             if t.get_visible() and t.get_text().strip()]
    clashes = [f"{a!r} meets {b!r}" for i, (a, box_a) in enumerate(texts) for b, box_b in texts[i + 1:]
               if box_a.overlaps(box_b)]
    paths = [p.get_transform().transform_path(p.get_path()) for p in figure.findobj(FancyArrowPatch)]
    paths += [Path(line.get_transform().transform(line.get_xydata())) for line in figure.findobj(Line2D)
              if len(line.get_xydata()) > 1]
    points = [_along(polyline) for path in paths for polyline in path.to_polygons(closed_only=False)]
    clashes += [f"a line crosses {text!r}" for line in points for text, box in texts
                if np.any((line[:, 0] > box.x0) & (line[:, 0] < box.x1) & (line[:, 1] > box.y0) & (line[:, 1] < box.y1))]
    return clashes


def _along(polyline: np.ndarray, step: float = 0.5) -> np.ndarray:
    """Points every ``step`` pixels along a polyline (display coordinates)."""
    out = [polyline[:1]]
    for a, b in itertools.pairwise(polyline):
        k = max(2, int(np.hypot(*(b - a)) / step) + 1)
        out.append(a + np.linspace(0.0, 1.0, k)[:, None] * (b - a))
    return np.vstack(out)
