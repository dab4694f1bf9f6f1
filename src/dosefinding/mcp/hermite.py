"""Cubic Hermite interpolation on a uniform grid, for special functions in hot loops.

scipy's incomplete gamma and beta inverses and distribution functions cost about a
microsecond a point; the integrators evaluate them millions of times for one answer.
A table of values and slopes on a fine grid, interpolated by cubic Hermite polynomials,
costs a few numpy passes and has error of order step^4 times the fourth derivative.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["HermiteTable"]


class HermiteTable:
    """Piecewise cubic Hermite interpolant of f from f and f' on ``start + step * i``.

    Parameters
    ----------
    start, step : float
        The grid ``start, start + step, ...``.
    values, slopes : ndarray
        f and its derivative at the grid points from ``first`` on.
    first : int, default 0
        Index on the grid of the first value (a table of part of a grid interpolates
        exactly as the table of the whole grid does).

    Examples
    --------
    >>> x = np.arange(0.0, 1.01, 0.01)
    >>> table = HermiteTable(0.0, 0.01, np.exp(x), np.exp(x))
    >>> bool(abs(table(np.array([0.555]))[0] - np.exp(0.555)) < 1e-10)
    True
    """

    def __init__(self, start: float, step: float, values: NDArray[np.float64], slopes: NDArray[np.float64],
                 first: int = 0) -> None:
        self.start = start
        self.step = step
        self.first = first
        self.stop = start + step * (first + values.size - 1)
        v0, v1 = values[:-1], values[1:]
        d0, d1 = slopes[:-1] * step, slopes[1:] * step
        self.coef = np.stack([v0, d0, -3 * v0 - 2 * d0 + 3 * v1 - d1, 2 * v0 + d0 - 2 * v1 + d1])

    def __call__(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Interpolated f(x); x outside the grid gets the end interval's cubic (the
        caller handles those points)."""
        t = (x - self.start) * (1.0 / self.step)
        if self.first:
            t -= self.first
        i = np.floor(t)
        np.clip(i, 0, self.coef.shape[1] - 1, out=i)
        idx = i.astype(np.intp)
        tau = t - i
        result = self.coef[3].take(idx)
        result *= tau
        result += self.coef[2].take(idx)
        result *= tau
        result += self.coef[1].take(idx)
        result *= tau
        result += self.coef[0].take(idx)
        return result
