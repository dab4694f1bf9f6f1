"""Rank decisions on design matrices that do not depend on the units of their columns.

A covariate recorded in cells/L instead of 10^9 cells/L, or in grams instead of
kilograms, must not change which columns of a design count as linearly dependent. The
decisions here compare each column with its own length, as R's ``lm`` (LINPACK
``dqrdc2``) does, never with the largest column.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["ALIAS_TOL", "kept_columns"]

FloatArray = NDArray[np.float64]
# Relative length of the part of a column off the columns before it under which it is aliased (R's lm).
ALIAS_TOL = 1e-7


def kept_columns(x: FloatArray) -> NDArray[np.bool_]:
    """Columns not aliased with the kept columns before them, whatever the scale of each column.

    A column is aliased when the part of it orthogonal to the kept columns before it is
    shorter than ``1e-7`` of its own length (R's ``lm``, LINPACK ``dqrdc2``, uses the same
    relative criterion); an all-zero column is aliased. The decision depends neither on
    the units of a column nor on the other columns' scales.

    Examples
    --------
    >>> x = np.column_stack([np.ones(4), [1e6, 2e6, 3e6, 5e6], [1.0, 0.0, 0.0, 1.0], [2.0, 1.0, 1.0, 2.0]])
    >>> kept_columns(x).tolist()
    [True, True, True, False]
    """
    norms = np.linalg.norm(x, axis=0)
    kept = np.zeros(x.shape[1], dtype=bool)
    basis = np.empty((x.shape[0], 0))
    for j in np.flatnonzero(norms > 0):
        column = x[:, j] / norms[j]
        for _ in range(2):  # Gram-Schmidt twice: orthogonal to rounding
            column = column - basis @ (basis.T @ column)
        length = float(np.linalg.norm(column))
        if length > ALIAS_TOL:
            kept[j] = True
            basis = np.column_stack([basis, column / length])
    return kept
