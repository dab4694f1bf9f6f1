"""Figures of a dose-finding report: matplotlib figures, saved as PNG / SVG and embedded in HTML.

No pyplot and no display: each helper draws on a new :class:`~matplotlib.figure.Figure`
(or on the ``ax`` given) and returns the figure, which renders with the Agg canvas
wherever it is saved. matplotlib is imported by the helpers that draw, not with the module. Arms keep one colour across figures (placebo grey, active doses
from light to dark blue in the order given). The dose-response figure is
:meth:`dosefinding.mod.MCPModResult.plot`, called by :func:`dose_response`.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from dosefinding.errors import InputError
from dosefinding.report.table import check_id

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    from dosefinding.mod.mcpmod import MCPModResult

__all__ = [
    "arm_colours",
    "dose_response",
    "dose_response_data",
    "embed",
    "figure_bytes",
    "over_time",
    "patient_flow",
    "point_range",
    "responder_bars",
    "save_figure",
    "stacked_shares",
]

FigureFormat = Literal["png", "svg"]

_PLACEBO_GREY = "#7f7f7f"
_DPI = 150


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


def _axes(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, layout="constrained")
    return figure, figure.subplots()


def _columns(frame: pd.DataFrame, name: str, needed: Sequence[str]) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{name}: must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(f"{name}: missing column(s) {missing}; has {list(frame.columns)}")
    if frame.empty:
        raise InputError(f"{name}: has no rows")
    return frame


def _numeric(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    for c in columns:
        if not pd.api.types.is_numeric_dtype(frame[c]):
            raise InputError(f"{name}: column {c!r} must be numeric, got {frame[c].dtype}")


def _errors(frame: pd.DataFrame, estimate: str, lower: str, upper: str) -> np.ndarray:
    est, lo, hi = (frame[c].to_numpy(dtype=float) for c in (estimate, lower, upper))
    bad = (lo > est) | (hi < est)
    if np.any(bad):
        raise InputError(f"{lower}, {upper}: the interval must contain the {estimate}, not so in row(s) "
                         f"{np.flatnonzero(bad).tolist()}")
    return np.vstack([est - lo, hi - est])


def over_time(
    frame: pd.DataFrame,
    *,
    x: str = "visit",
    group: str = "arm",
    estimate: str = "estimate",
    lower: str = "lower",
    upper: str = "upper",
    xlabel: str = "Week",
    ylabel: str = "LS mean change from baseline (95% CI)",
    title: str = "",
    log: bool = False,
    reference: float | None = 0.0,
    ax: Axes | None = None,
) -> Figure:
    """Estimates over time by arm with confidence-interval error bars (e.g. LS means by visit).

    ``frame`` has one row per arm and visit; ``x`` is numeric (weeks: drawn to scale) or
    categorical (drawn in order of appearance). The arms are shifted a little sideways
    so that their bars do not hide each other. ``log`` draws a log-scaled y axis (drug
    levels, B-cell counts); ``reference`` a horizontal line (``None``: none).

    Examples
    --------
    >>> frame = pd.DataFrame({"visit": [4, 12, 24] * 2, "arm": ["Placebo"] * 3 + ["300 mg"] * 3,
    ...                       "estimate": [-1.0, -2.0, -3.0, -1.5, -3.5, -5.0]})
    >>> frame["lower"], frame["upper"] = frame["estimate"] - 1, frame["estimate"] + 1
    >>> [t.get_text() for t in over_time(frame).axes[0].get_legend().get_texts()]
    ['Placebo', '300 mg']
    """
    _columns(frame, "frame", [x, group, estimate, lower, upper])
    _numeric(frame, "frame", [estimate, lower, upper])
    figure, axes = _axes(ax, (7.0, 4.5))
    arms = list(pd.unique(frame[group]))
    colours = arm_colours(arms)
    numeric_x = pd.api.types.is_numeric_dtype(frame[x])
    if numeric_x:
        levels = np.sort(frame[x].unique())
        span = float(levels.max() - levels.min()) or 1.0
        step = 0.012 * span
    else:
        levels = np.array(pd.unique(frame[x]), dtype=object)
        step = 0.06
    position = {v: i for i, v in enumerate(levels)}
    for k, arm in enumerate(arms):
        part = frame[frame[group] == arm]
        base = part[x].to_numpy(dtype=float) if numeric_x else np.array([position[v] for v in part[x]], float)
        order = np.argsort(base)
        part = part.iloc[order]
        shift = (k - (len(arms) - 1) / 2) * step
        axes.errorbar(base[order] + shift, part[estimate].to_numpy(dtype=float),
                      yerr=_errors(part, estimate, lower, upper), fmt="-o", markersize=4, capsize=3,
                      color=colours[str(arm)], label=str(arm))
    if not numeric_x:
        axes.set_xticks(range(len(levels)), [str(v) for v in levels])
    if reference is not None and not log:
        axes.axhline(reference, color="grey", linewidth=0.8, zorder=0)
    if log:
        axes.set_yscale("log")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title)
    axes.legend(frameon=False)
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
    _columns(frame, "frame", [label, estimate, lower, upper])
    _numeric(frame, "frame", [estimate, lower, upper])
    figure, axes = _axes(ax, (6.5, 0.6 * len(frame) + 1.6))
    y = np.arange(len(frame))[::-1].astype(float)
    axes.errorbar(frame[estimate].to_numpy(dtype=float), y, xerr=_errors(frame, estimate, lower, upper), fmt="o",
                  color="k", capsize=3)
    axes.axvline(reference, color="grey", linewidth=0.8, linestyle="--")
    axes.set_yticks(y[::-1], [str(v) for v in frame[label]][::-1])
    axes.set_ylim(-0.6, len(frame) - 0.4)
    axes.set_xlabel(xlabel)
    if title:
        axes.set_title(title)
    return figure


def dose_response(result: MCPModResult, *, title: str = "", xlabel: str = "Dose (mg)",
                  ylabel: str = "Difference to placebo", level: float = 0.95, ax: Axes | None = None) -> Figure:
    """The fitted dose-response curve with its band over the placebo-adjusted estimates.

    Draws :meth:`dosefinding.mod.MCPModResult.plot` and labels it for the report.

    Examples
    --------
    >>> from dosefinding import Candidates
    >>> from dosefinding.mod import mcpmod
    >>> cands = Candidates([0, 5, 50, 300], {"linear": None, "emax": 30}, max_effect=-3.5)
    >>> res = mcpmod(cands, doses=[0, 5, 50, 300], estimates=[-2.8, -3.3, -4.2, -5.6], cov=np.eye(4) * 0.5,
    ...              df=180)
    >>> dose_response(res, title="ESSDAI at week 24").axes[0].get_xlabel()
    'Dose (mg)'
    """
    figure, axes = _axes(ax, (6.5, 4.5))
    result.plot(ax=axes, level=level)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.legend(frameon=False)
    if title:
        axes.set_title(title)
    return figure


def dose_response_data(result: MCPModResult, *, level: float = 0.95, n_points: int = 101) -> dict[str, pd.DataFrame]:
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
    estimates = result.effect_estimates(level)
    curve = result.predict(np.linspace(0.0, float(result.mct.estimates.index.max()), n_points), level=level)
    return {"estimates": estimates.rename_axis("dose"), "curve": curve.rename_axis("dose")}


def responder_bars(
    frame: pd.DataFrame,
    *,
    group: str = "arm",
    percent: str = "percent",
    lower: str = "lower",
    upper: str = "upper",
    ylabel: str = "Responders, % (95% CI)",
    title: str = "",
    ax: Axes | None = None,
) -> Figure:
    """Bars of responder percentages (0 to 100) by arm with confidence intervals, the value above each bar.

    Examples
    --------
    >>> frame = pd.DataFrame({"arm": ["Placebo", "300 mg"], "percent": [61.2, 89.4], "lower": [46.2, 76.9],
    ...                       "upper": [74.8, 96.5]})
    >>> [t.get_text() for t in responder_bars(frame).axes[0].texts]
    ['61', '89']
    """
    _columns(frame, "frame", [group, percent, lower, upper])
    _numeric(frame, "frame", [percent, lower, upper])
    values = frame[percent].to_numpy(dtype=float)
    if np.any((values < 0) | (values > 100)):
        raise InputError(f"{percent}: must be percentages between 0 and 100, got {values.tolist()}")
    figure, axes = _axes(ax, (6.0, 4.5))
    arms = [str(a) for a in frame[group]]
    colours = arm_colours(arms)
    x = np.arange(len(arms))
    axes.bar(x, values, color=[colours[a] for a in arms], width=0.65)
    axes.errorbar(x, values, yerr=_errors(frame, percent, lower, upper), fmt="none", ecolor="k", capsize=4)
    for xi, v, hi in zip(x, values, frame[upper].to_numpy(dtype=float), strict=True):
        axes.text(xi, hi + 2, f"{v:.0f}", ha="center", va="bottom")
    axes.set_xticks(x, _wrap(arms))
    axes.set_ylim(0, 110)
    axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title)
    return figure


def stacked_shares(
    frame: pd.DataFrame,
    *,
    ylabel: str = "Patients (%)",
    title: str = "",
    colours: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Stacked bars of category shares: rows of ``frame`` are arms, columns categories, cells percentages.

    Each bar sums to 100 (within rounding, 0.5); segments of 5% or more carry their value.

    Examples
    --------
    >>> frame = pd.DataFrame({"Low": [35.0, 61.0], "Moderate": [50.0, 37.0], "High": [15.0, 2.0]},
    ...                      index=["Placebo", "300 mg"])
    >>> [t.get_text() for t in stacked_shares(frame).axes[0].texts]
    ['35', '61', '50', '37', '15']
    """
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise InputError("frame: must be a non-empty DataFrame (arms by categories)")
    _numeric(frame, "frame", list(frame.columns))
    shares = frame.to_numpy(dtype=float)
    totals = shares.sum(axis=1)
    if np.any(shares < 0) or np.any(np.abs(totals - 100.0) > 0.5):
        raise InputError(f"frame: each row must be non-negative percentages summing to 100, row sums {totals.tolist()}")
    import matplotlib

    figure, axes = _axes(ax, (1.4 * len(frame) + 2.8, 4.5))
    cats = [str(c) for c in frame.columns]
    palette = list(colours) if colours is not None else [matplotlib.colors.to_hex(c) for c in
                                                         matplotlib.colormaps["RdYlGn_r"](np.linspace(0.15, 0.85,
                                                                                                       len(cats)))]
    if len(palette) < len(cats):
        raise InputError(f"colours: need {len(cats)} colours, got {len(palette)}")
    x = np.arange(len(frame))
    bottom = np.zeros(len(frame))
    for j, cat in enumerate(cats):
        axes.bar(x, shares[:, j], bottom=bottom, color=palette[j], width=0.65, label=cat, edgecolor="white")
        for xi, b, s in zip(x, bottom, shares[:, j], strict=True):
            if s >= 5:
                axes.text(xi, b + s / 2, f"{s:.0f}", ha="center", va="center", fontsize=9)
        bottom += shares[:, j]
    axes.set_xticks(x, _wrap(frame.index, 11))
    axes.set_ylim(0, 100)
    axes.set_ylabel(ylabel)
    handles, labels = axes.get_legend_handles_labels()
    axes.legend(handles[::-1], labels[::-1], frameon=False, bbox_to_anchor=(1.02, 1.0), loc="upper left")
    if title:
        axes.set_title(title)
    return figure


def _wrap(labels: Sequence[object], width: int = 14) -> list[str]:
    """Tick labels broken over lines of about ``width`` characters, so that long arm names do not overlap."""
    return ["\n".join(textwrap.wrap(str(label), width)) or str(label) for label in labels]


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


def patient_flow(
    *,
    screened: int,
    excluded: Mapping[str, int],
    arms: pd.DataFrame,
    title: str = "",
) -> Figure:
    """A CONSORT-style diagram of patient flow, drawn from counts (the paper's Figure 1).

    Parameters
    ----------
    screened
        Patients assessed for eligibility.
    excluded
        Patients not randomised, by reason; their sum is ``screened`` minus the randomised.
    arms
        One row per arm (index: arm label), one column per stage in order (e.g.
        ``"Randomised"``, ``"Treated"``, ``"Completed week 24"``, ``"Analysed"``); the
        counts may only fall from one stage to the next. The first column's sum is the
        number randomised. Where a count falls, the arrow carries the difference.

    Examples
    --------
    >>> arms = pd.DataFrame({"Randomised": [49, 47], "Completed week 24": [46, 44]}, index=["Placebo", "300 mg"])
    >>> figure = patient_flow(screened=120, excluded={"Inclusion criteria not met": 24}, arms=arms)
    >>> sum("Randomised (n = 96)" in t.get_text() for t in figure.axes[0].texts)
    1
    """
    if not isinstance(arms, pd.DataFrame) or arms.empty or arms.shape[1] < 1:
        raise InputError("arms: must be a DataFrame with one row per arm and one column per stage")
    _numeric(arms, "arms", list(arms.columns))
    counts = arms.to_numpy(dtype=float)
    if np.any(counts < 0) or np.any(counts != np.round(counts)):
        raise InputError(f"arms: counts must be non-negative whole numbers, got {counts.tolist()}")
    falls = np.diff(counts, axis=1)
    if np.any(falls > 0):
        arm, stage = np.argwhere(falls > 0)[0]
        raise InputError(f"arms: the count of arm {arms.index[arm]!r} rises from stage {arms.columns[stage]!r} "
                         f"to {arms.columns[stage + 1]!r}")
    randomised = int(counts[:, 0].sum())
    not_randomised = int(sum(excluded.values()))
    if int(screened) != randomised + not_randomised:
        raise InputError(f"screened: {screened} is not randomised ({randomised}, the sum of the first column of arms) "
                         f"plus excluded ({not_randomised})")
    n_arms, n_stages = counts.shape
    from matplotlib.figure import Figure

    figure = Figure(figsize=(max(7.0, 2.3 * n_arms), 3.2 + 1.1 * n_stages))
    axes = figure.add_axes((0.02, 0.02, 0.96, 0.9 if title else 0.96))
    axes.set_axis_off()
    rows = 2 + n_stages
    ys = np.linspace(0.95, 0.05, rows + 1)
    y_screen, y_rand, y_stages = ys[0], ys[2], ys[3:]
    screen = _box(axes, 0.5, y_screen, f"Assessed for eligibility (n = {int(screened)})")
    reasons = "\n".join(f"{reason} (n = {int(n)})" for reason, n in excluded.items())
    y_excl = (y_screen + y_rand) / 2
    excl = _box(axes, 0.78, y_excl, f"Excluded (n = {not_randomised})" + (f"\n{reasons}" if reasons else ""))
    rand = _box(axes, 0.5, y_rand, f"Randomised (n = {randomised})")
    _arrow(axes, screen, rand)
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
    if title:
        figure.suptitle(title)
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
    path.write_bytes(figure_bytes(figure, suffix))  # type: ignore[arg-type]
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
