"""Figures of sensitivity analyses for missing data: the tipping-point curve.

:func:`tipping_curve` draws a :class:`~dosefinding.imputation.TippingPoint`: the primary
contrast with its confidence band against the delta added to the imputed outcomes (top), and
the p-values of the contrast and, when computed, of the MCP-Mod test on the pooled LS means
(bottom, log scale) with their levels; a dashed line marks each tipping delta.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dosefinding.errors import InputError
from dosefinding.report.figures_common import finish_axes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from dosefinding.imputation.tipping import TippingPoint

__all__ = ["tipping_curve"]


def tipping_curve(result: TippingPoint, *, title: str = "", xlabel: str = "Delta added to imputed outcomes",
                  ylabel: str = "Difference to control (CI)", letter: str | None = None) -> Figure:
    """The tipping-point curve: the contrast and its band over the deltas, and the p-values with their levels.

    Examples
    --------
    >>> from dosefinding.datasets import antidepressant_data
    >>> from dosefinding.imputation import imputation_data, mmrm_draws, tipping_point
    >>> d = imputation_data(antidepressant_data(), subject="PATIENT", visit="VISIT", outcome="CHANGE", arm="THERAPY",
    ...                     covariates=["BASVAL"])
    >>> tp = tipping_point(mmrm_draws(d), np.linspace(0, 8, 9), arm="DRUG", control="PLACEBO", shifted_arms=["DRUG"])
    >>> figure = tipping_curve(tp, title="HAMD17 at week 6")
    >>> [axes.get_ylabel() for axes in figure.axes], figure.axes[1].get_lines()[0].get_label()
    (['Difference to control (CI)', 'p-value'], 'Difference to control (level 0.05)')
    """
    from matplotlib.figure import Figure

    curve = getattr(result, "curve", None)
    if curve is None or not {"delta", "estimate", "lower", "upper", "p_value"} <= set(curve.columns):
        raise InputError(f"result: tipping_curve needs a TippingPoint, got {type(result).__name__}")
    figure = Figure(figsize=(6.5, 6.0), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    delta = curve["delta"].to_numpy(dtype=float)
    top.fill_between(delta, curve["lower"], curve["upper"], color="#9ecae1", alpha=0.6, linewidth=0)
    contrast = ylabel.removesuffix(" (CI)")
    top.plot(delta, curve["estimate"], color="#08519c", label=contrast)
    top.axhline(0.0, color="grey", linewidth=0.8)
    bottom.plot(delta, curve["p_value"], color="#08519c", label=f"{contrast} (level {result.alpha:g})")
    bottom.axhline(result.alpha, color="#08519c", linewidth=0.8, linestyle=":")
    if result.mcp_alpha is not None and "mcp_p_value" in curve:
        bottom.plot(delta, curve["mcp_p_value"], color="#a50f15", label=f"MCP-Mod (level {result.mcp_alpha:g})")
        bottom.axhline(result.mcp_alpha, color="#a50f15", linewidth=0.8, linestyle=":")
    for value, colour in [(result.tipping_delta, "#08519c"), (result.mcp_tipping_delta, "#a50f15")]:
        if np.isfinite(value):
            for axes in (top, bottom):
                axes.axvline(value, color=colour, linewidth=0.8, linestyle="--")
    bottom.set_yscale("log")
    bottom.legend(frameon=False, fontsize=8)
    finish_axes(top, title=title, letter=letter, ylabel=ylabel)
    finish_axes(bottom, xlabel=xlabel, ylabel="p-value")
    return figure
