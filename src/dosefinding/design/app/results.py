"""The numbers of the design page, computed by the library's functions from a checked design.

Every number the page shows comes from here (the page's script only draws them):

* the candidate curves on a grid of doses (:meth:`~dosefinding.shapes.CandidateModel.response`);
* the optimal contrasts for the design's group sizes and their correlation
  (:func:`~dosefinding.mcp.optimal_contrasts` with ``weights = n``);
* the power of the multiple contrast test under each candidate (:func:`~dosefinding.mcp.power_mct`);
* the smallest group sizes, in the design's allocation, reaching the target power
  (:func:`~dosefinding.mcp.sample_size_mct`), and the power on a grid of sizes around it
  (:func:`~dosefinding.design.power_n`).

Examples
--------
>>> from dosefinding.design.app.inputs import DEFAULTS, read_design
>>> numbers = design_numbers(read_design(DEFAULTS))
>>> numbers["labels"]
['linear', 'emax1', 'emax2', 'sigemax', 'exponential']
>>> [round(p, 2) for p in numbers["power"]["by_model"]]
[0.91, 0.89, 0.9, 0.92, 0.92]
>>> numbers["sample_size"]["n"]
[34, 34, 34, 34]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dosefinding.design.app.inputs import DesignInput
from dosefinding.design.sample_size import power_n
from dosefinding.errors import InputError
from dosefinding.mcp.contrasts import optimal_contrasts
from dosefinding.mcp.power import power_mct, sample_size_mct

__all__ = ["CURVE_POINTS", "POWER_GRID_POINTS", "design_numbers"]

CURVE_POINTS = 201
"""Doses on the grid of the candidate curves (plus the design's doses)."""
POWER_GRID_POINTS = 12
"""Most sample sizes on the power-by-size grid."""


def design_numbers(design: DesignInput) -> dict[str, Any]:
    """Everything the page shows for ``design``, as JSON-ready lists (dose-major matrices)."""
    cands = design.candidates
    doses = design.doses
    grid = np.union1d(np.linspace(0.0, float(doses[-1]), CURVE_POINTS), doses)
    contrasts = optimal_contrasts(cands, weights=design.n)
    power = power_mct(contrasts, cands, n=design.n, sigma=design.sigma, alpha=design.alpha,
                      alternative=design.alternative)
    if not np.all(np.isfinite(power)):
        lost = [label for label, p in power.items() if not np.isfinite(p)]
        raise InputError(f"shapes: the power under {', '.join(lost)} cannot be computed (not finite); "
                         "its effects are too many standard errors: check the guesstimates")
    summaries = {"mean": float(power.mean()), "min": float(power.min()), "max": float(power.max())}
    smallest = int(design.n.min())
    sample_size: dict[str, Any]
    try:
        found = sample_size_mct(contrasts, cands, sigma=design.sigma, power=design.target_power,
                                allocation=design.n, summary=design.summary, alpha=design.alpha,
                                alternative=design.alternative)
        sample_size = {"n": found.n.tolist(), "total": found.total, "power": found.power,
                       "by_model": found.power_by_model.tolist(), "target": design.target_power,
                       "summary": design.summary}
        centre = int(found.n.min())
    except InputError as exc:  # e.g. an effect too small for any trial: the page shows why
        sample_size = {"error": str(exc)}
        centre = smallest
    return {
        "doses": doses.tolist(),
        "labels": list(cands.labels),
        "descriptions": [m.description for m in cands.models],
        "direction": cands.direction,
        "n": design.n.tolist(),
        "curves": {"doses": grid.tolist(),
                   "responses": [m.response(grid).tolist() for m in cands.models],
                   "at_doses": [m.response(doses).tolist() for m in cands.models]},
        "contrasts": contrasts.matrix.tolist(),
        "correlation": contrasts.correlation_matrix.tolist(),
        "power": {"by_model": power.tolist(), **summaries},
        "sample_size": sample_size,
        "power_by_n": _power_by_n(design, contrasts, centre, smallest),
        "truth": design.truth,
    }


def _power_by_n(design: DesignInput, contrasts: Any, centre: int, current: int) -> dict[str, Any]:
    """Power on a grid of the smallest arm's size, from about a quarter of ``centre`` to twice it (at least to
    ``current``)."""
    high = max(2 * centre, current, 4)
    low = max(2, centre // 4)
    step = max(1, math.ceil((high - low) / (POWER_GRID_POINTS - 1)))
    table = power_n(contrasts, design.candidates, upper_n=high, lower_n=low, step=step, allocation=design.n,
                    sigma=design.sigma, alpha=design.alpha, alternative=design.alternative)
    values = table.values
    return {"N": values.index.tolist(), "min": values["min"].tolist(), "mean": values["mean"].tolist(),
            "max": values["max"].tolist(), "by_model": values[list(design.candidates.labels)].to_numpy().tolist()}
