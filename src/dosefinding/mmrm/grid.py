"""The reference grid of an MMRM: every combination of the factor levels, as design rows.

LS means and Type 3 tests are linear combinations of the model's predictions over this
grid (cell means), so both build their hypotheses here.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from functools import reduce
from typing import NamedTuple, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dosefinding.mmrm.data import MMRMData

__all__ = ["GridDesign", "estimable", "factor_levels", "grid_design", "is_factor", "kron_product"]

FloatArray = NDArray[np.float64]
# A combination counts as estimable when its aliasing is below this fraction of the terms that cancel in it.
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


class GridDesign(NamedTuple):
    """The reference grid, its design rows over the kept columns, and what decides estimability.

    ``aliasing`` holds, per grid row, each aliased column minus its value from the kept
    columns (zero everywhere without aliased columns); ``magnitude`` the sizes of the terms
    of that difference (``|aliased| + |kept| |alias map|``), in the same units, so that
    estimability is judged relative to them whatever the scale of each column. For a batch
    (``numeric`` in :func:`grid_design`) the arrays carry a leading axis over the data sets.
    """

    grid: pd.DataFrame
    design: FloatArray
    aliasing: FloatArray
    magnitude: FloatArray


def grid_design(
    data: MMRMData, levels: dict[str, list[object]], numeric: Mapping[str, FloatArray] | None = None
) -> GridDesign:
    """The grid over ``levels`` (the last variable varying fastest) as a :class:`GridDesign`.

    Every right-hand-side variable must be in ``levels``; numeric variables take the given
    values. ``numeric`` (name -> (T,) values) gives the numeric variables named one value
    per data set of a batch (their entry in ``levels`` is then a placeholder of one value):
    the arrays come back (T, rows, columns), one grid per data set, built in one pass (the
    grid returned is the first data set's).
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
    kept = design[:, [data.all_columns.index(c) for c in data.columns]]
    aliased = design[:, [data.all_columns.index(c) for c in data.aliased]]
    arrays = (kept, aliased - kept @ data.alias_map.T, np.abs(aliased) + np.abs(kept) @ np.abs(data.alias_map).T)
    if not numeric:
        return GridDesign(grid, *arrays)
    rows = len(grid) // n_sets
    return GridDesign(grid.iloc[:rows], *(a.reshape(n_sets, rows, -1) for a in arrays))


def kron_product(factors: Sequence[FloatArray]) -> FloatArray:
    """``factors[0] (x) factors[1] (x) ...``: the Kronecker product that spans the grid's factors in its order.

    Examples
    --------
    >>> kron_product([np.ones(1), np.full(2, 0.5), np.eye(2)]).shape
    (2, 4)
    """
    # numpy's stubs type kron as floating[Any]; the factors are float64
    return reduce(lambda left, right: cast(FloatArray, np.kron(left, right)), factors)


def estimable(mapping: FloatArray, grid: GridDesign) -> NDArray[np.bool_]:
    """Whether each combination ``mapping`` (rows, over the grid rows) of the cell means is estimable.

    A combination is estimable when it maps every aliased column's aliasing to zero,
    relative to the size of the terms that cancel (so not depending on column scales).
    With a batch's grid the answer is (T, rows).

    Examples
    --------
    >>> grid = GridDesign(pd.DataFrame(), np.eye(2), np.array([[1.0], [1.0]]), np.array([[1.0], [1.0]]))
    >>> estimable(np.array([[1.0, 0.0], [1.0, -1.0]]), grid).tolist()
    [False, True]
    """
    aliasing = mapping @ grid.aliasing
    return np.all(np.abs(aliasing) <= _ESTIMABLE_TOL * (np.abs(mapping) @ grid.magnitude), axis=-1)
