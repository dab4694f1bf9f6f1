"""Checks of user input at the public boundary; each failure names the argument at fault."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dosefinding.errors import InputError

__all__ = ["as_doses", "as_vector", "as_covariance"]


def as_vector(values: ArrayLike, name: str, *, length: int | None = None) -> NDArray[np.float64]:
    """A finite 1-d float array, or :class:`InputError` naming ``name``.

    Examples
    --------
    >>> as_vector([1, 2], "estimates").tolist()
    [1.0, 2.0]
    """
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: must be numeric ({exc})") from None
    array = np.atleast_1d(array)
    if array.ndim != 1:
        raise InputError(f"{name}: must be one-dimensional, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        bad = np.flatnonzero(~np.isfinite(array)).tolist()
        raise InputError(f"{name}: must be finite, got NaN or infinity at positions {bad}")
    if length is not None and array.size != length:
        raise InputError(f"{name}: must have length {length}, got {array.size}")
    return array


def as_doses(
    doses: ArrayLike, name: str = "doses", *, placebo: bool = True
) -> NDArray[np.float64]:
    """Dose levels checked to be non-negative, strictly increasing and (by default) to start at 0.

    Examples
    --------
    >>> as_doses([0, 5, 50, 300]).tolist()
    [0.0, 5.0, 50.0, 300.0]
    """
    d = as_vector(doses, name)
    if d.size < 2:
        raise InputError(f"{name}: need at least two dose levels, got {d.tolist()}")
    if np.any(d < 0):
        raise InputError(f"{name}: must be non-negative, got {d[d < 0].tolist()}")
    steps = np.diff(d)
    if np.any(steps == 0):
        raise InputError(f"{name}: duplicate dose {d[1:][steps == 0][0]:g}")
    if np.any(steps < 0):
        raise InputError(f"{name}: must be sorted in increasing order, got {d.tolist()}")
    if placebo and d[0] != 0:
        raise InputError(f"{name}: must include placebo (dose 0) as the first dose, got {d.tolist()}")
    if not placebo and d[0] == 0:
        raise InputError(f"{name}: placebo-adjusted estimates must not include dose 0")
    return d


def as_covariance(cov: ArrayLike, name: str, size: int) -> NDArray[np.float64]:
    """A symmetric positive definite ``size`` x ``size`` matrix, or :class:`InputError`.

    Examples
    --------
    >>> as_covariance([[1.0, 0.5], [0.5, 1.0]], "cov", 2).shape
    (2, 2)
    """
    try:
        s = np.asarray(cov, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: must be a numeric matrix ({exc})") from None
    if s.shape != (size, size):
        raise InputError(f"{name}: must be {size} x {size}, got shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise InputError(f"{name}: must be finite")
    if not np.allclose(s, s.T, rtol=1e-10, atol=1e-12 * np.max(np.abs(s))):
        raise InputError(f"{name}: must be symmetric")
    smallest = float(np.linalg.eigvalsh(s)[0])
    if smallest <= 1e-12 * float(np.max(np.abs(np.diag(s)))):
        raise InputError(
            f"{name}: must be positive definite, smallest eigenvalue is {smallest:.3g}"
        )
    return s
