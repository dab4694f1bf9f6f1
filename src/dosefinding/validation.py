"""Checks of user input at the public boundary; each failure names the argument at fault."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dosefinding.errors import InputError

__all__ = [
    "InputForm",
    "as_correlation",
    "as_covariance",
    "as_degrees_of_freedom",
    "as_doses",
    "as_generator",
    "as_positive_int",
    "as_probability",
    "as_vector",
    "input_form",
]

InputForm = Literal["raw", "estimates"]

_SYMMETRY_TOL = 1e-8
_EIGEN_TOL = 1e-8


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
    # np.allclose's test, without its overhead (this check runs once per fit).
    if not np.all(np.abs(s - s.T) <= 1e-12 * np.max(np.abs(s)) + 1e-10 * np.abs(s.T)):
        raise InputError(f"{name}: must be symmetric")
    smallest = float(np.linalg.eigvalsh(s)[0])
    if smallest <= 1e-12 * float(np.max(np.abs(np.diag(s)))):
        raise InputError(
            f"{name}: must be positive definite, smallest eigenvalue is {smallest:.3g}"
        )
    return s


def as_correlation(corr: ArrayLike, name: str = "corr") -> NDArray[np.float64]:
    """A symmetric positive semidefinite matrix with unit diagonal (it may be singular).

    Asymmetry and diagonal deviations up to 1e-8 are rounded away.

    Examples
    --------
    >>> as_correlation([[1, 0.5], [0.5, 1]]).tolist()
    [[1.0, 0.5], [0.5, 1.0]]
    """
    try:
        c = np.array(corr, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: must be a numeric matrix ({exc})") from None
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] == 0:
        raise InputError(f"{name}: must be a non-empty square matrix, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise InputError(f"{name}: must be finite")
    asym = float(np.max(np.abs(c - c.T)))
    if asym > _SYMMETRY_TOL:
        raise InputError(f"{name}: not symmetric (largest |{name} - {name}.T| = {asym:.3g})")
    diag = float(np.max(np.abs(np.diag(c) - 1.0)))
    if diag > _SYMMETRY_TOL:
        raise InputError(f"{name}: diagonal must be 1 (largest deviation {diag:.3g})")
    c = 0.5 * (c + c.T)
    np.fill_diagonal(c, 1.0)
    smallest = float(np.linalg.eigvalsh(c)[0])
    if smallest < -_EIGEN_TOL:
        raise InputError(f"{name}: not positive semidefinite (smallest eigenvalue {smallest:.3g})")
    return c


def as_degrees_of_freedom(df: float, name: str = "df") -> float:
    """A positive number of degrees of freedom; ``np.inf`` stands for the normal.

    Examples
    --------
    >>> as_degrees_of_freedom(10)
    10.0
    """
    try:
        d = float(df)
    except (TypeError, ValueError):
        raise InputError(f"{name}: must be a positive number or inf, got {df!r}") from None
    if not d > 0:
        raise InputError(f"{name}: must be positive (or inf), got {df!r}")
    return d


def as_probability(probability: float, name: str = "probability") -> float:
    """A number strictly between 0 and 1.

    Examples
    --------
    >>> as_probability(0.975)
    0.975
    """
    try:
        p = float(probability)
    except (TypeError, ValueError):
        raise InputError(f"{name}: must be a number in (0, 1), got {probability!r}") from None
    if not 0 < p < 1:
        raise InputError(f"{name}: must be in (0, 1), got {probability!r}")
    return p


def as_positive_int(value: object, name: str) -> int:
    """A positive integer (not a bool, not a float), e.g. a count of trials or patients.

    Examples
    --------
    >>> as_positive_int(5000, "n_trials")
    5000
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name}: must be a positive integer, got {value!r}")
    return int(value)


def as_generator(seed: int | np.random.Generator, name: str = "seed") -> np.random.Generator:
    """A numpy Generator from an int seed (or the Generator itself).

    Examples
    --------
    >>> int(as_generator(1).integers(10)) == int(as_generator(1).integers(10))
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError):
        raise InputError(f"{name}: must be an int or numpy Generator, got {seed!r}") from None


def input_form(
    *,
    data: object | None,
    dose: str | None,
    response: str | None,
    covariates: object | None,
    doses: ArrayLike | None,
    estimates: ArrayLike | None,
    cov: ArrayLike | None,
    df: float | None,
    placebo_adjusted: bool,
) -> InputForm:
    """Which of the two input forms of the analysis functions the arguments give.

    Raw data: ``data`` with the ``dose`` and ``response`` columns named (and optional
    ``covariates``). Estimates: ``doses``, ``estimates`` and ``cov`` (and optional
    ``df``, ``placebo_adjusted``). A mix of the two, or a form missing a part, is an
    :class:`InputError` naming the arguments at fault. The values themselves are checked
    where they are used.

    Examples
    --------
    >>> input_form(data=None, dose=None, response=None, covariates=None, doses=[0, 1],
    ...            estimates=[0.0, 1.0], cov=[[1, 0], [0, 1]], df=None, placebo_adjusted=False)
    'estimates'
    """
    if data is not None:
        if any(value is not None for value in (doses, estimates, cov, df)):
            raise InputError("data: give raw data, or doses, estimates, cov and df, not both")
        if dose is None or response is None:
            raise InputError("dose, response: name the dose and response columns of data")
        if placebo_adjusted:
            raise InputError("placebo_adjusted: only for estimates, not raw data")
        return "raw"
    if doses is None or estimates is None or cov is None:
        raise InputError("doses, estimates, cov: all three are needed without raw data")
    if covariates is not None:
        raise InputError("covariates: only with raw data, not with estimates")
    return "estimates"
