"""The reference grid of an MMRM: every combination of the factor levels, as design rows.

LS means and Type 3 tests are linear combinations of the model's predictions over this
grid (cell means), so both build their hypotheses here.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dosefinding.mmrm.data import MMRMData

__all__ = ["estimable", "factor_levels", "grid_design", "is_factor"]

FloatArray = NDArray[np.float64]
# A combination counts as estimable when its aliasing is below this fraction of its size.
_ESTIMABLE_TOL = 1e-8


def is_factor(frame: pd.DataFrame, name: str) -> bool:
    """Whether column ``name`` enters the model as a factor (categorical or non-numeric).

    Examples
    --------
    >>> is_factor(pd.DataFrame({"a": ["x"], "b": [1.0]}), "a"), is_factor(pd.DataFrame({"b": [1.0]}), "b")
    (True, False)
    """
    dtype = frame[name].dtype
    return isinstance(dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(dtype)


def factor_levels(data: MMRMData) -> dict[str, list[object]]:
    """The levels of each factor on the right-hand side, in formulaic's order (categories or sorted)."""
    levels = {}
    for name in data.covariates:
        if not is_factor(data.frame, name):
            continue
        values = data.frame[name]
        if isinstance(values.dtype, pd.CategoricalDtype):
            levels[name] = list(values.cat.categories)
        else:
            levels[name] = list(np.sort(values.unique()))
    return levels


def grid_design(
    data: MMRMData, levels: dict[str, list[object]], numeric: Mapping[str, FloatArray] | None = None
) -> tuple[pd.DataFrame, FloatArray, FloatArray]:
    """The grid over ``levels`` (the last variable varying fastest), its design rows (kept columns) and aliasing.

    Every right-hand-side variable must be in ``levels``; numeric variables take the given
    values. The third array holds, per grid row, each aliased column minus its value from
    the kept columns: a linear combination ``L`` of the rows is estimable when ``L`` maps
    it to zero (always, without aliased columns).

    ``numeric`` (name -> (T,) values) gives the numeric variables named one value per data
    set of a batch (their entry in ``levels`` is then a placeholder of one value): the
    design and aliasing come back (T, rows, columns), one grid per data set, built in one
    pass (the grid returned is the first data set's).
    """
    names = list(levels)
    grid = pd.DataFrame(list(itertools.product(*levels.values())), columns=names)
    n_sets = 1
    if numeric:
        n_sets = len(next(iter(numeric.values())))
        rows = len(grid)
        grid = pd.concat([grid] * n_sets, ignore_index=True)
        for name, values in numeric.items():
            grid[name] = np.repeat(np.asarray(values, dtype=float), rows)
    for name in names:
        if is_factor(data.frame, name):
            grid[name] = pd.Categorical(grid[name], categories=levels[name])
        else:
            grid[name] = grid[name].astype(float)
    design = np.asarray(data.spec.get_model_matrix(grid), dtype=float)
    kept = [data.all_columns.index(c) for c in data.columns]
    aliased = [data.all_columns.index(c) for c in data.aliased]
    aliasing = design[:, aliased] - design[:, kept] @ data.alias_map.T
    design = design[:, kept]
    if not numeric:
        return grid, design, aliasing
    rows = len(grid) // n_sets
    return (grid.iloc[:rows], design.reshape(n_sets, rows, -1), aliasing.reshape(n_sets, rows, -1))


def estimable(aliasing: FloatArray, rows: FloatArray) -> NDArray[np.bool_]:
    """Whether each combination (aliasing and design rows combined alike, (..., m, a) and (..., m, p)) is estimable."""
    scale = np.maximum(np.abs(rows).max(axis=(-2, -1), initial=0.0), 1.0)
    return np.all(np.abs(aliasing) <= _ESTIMABLE_TOL * np.asarray(scale)[..., None, None], axis=-1)
