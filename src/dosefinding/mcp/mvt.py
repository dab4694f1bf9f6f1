"""Multivariate normal and t rectangle probabilities.

Power of the multiple contrast test needs P(lower <= T <= upper) for a noncentral
multivariate t vector T of correlated contrast statistics. This module computes such
rectangle probabilities with the randomised quasi-Monte Carlo method of Genz and Bretz
(separation of variables after a Cholesky factorisation, integrated over randomly
shifted lattice points), written for our own needs:

* singular correlation matrices (more contrasts than doses, repeated contrasts) are
  handled exactly through a pivoted Cholesky factor whose rank-deficient rows become
  extra bounds on the variables already sampled;
* the noncentral t of Kshirsagar, T = (Z + delta) / sqrt(W / df), needed for power.

The central distribution of the maximum statistic (p-values, critical values) has its
own, more accurate integrator in :mod:`dosefinding.mcp.max_t`.

scipy's ``multivariate_normal.cdf`` and ``multivariate_t.cdf`` are not used: they reject
singular correlation matrices and do not give the 1e-5 absolute accuracy we need.

References
----------
Genz, A. and Bretz, F. (2009). *Computation of Multivariate Normal and t
Probabilities*. Lecture Notes in Statistics 195, Springer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import integrate, special, stats

from dosefinding.errors import InputError
from dosefinding.mcp.hermite import HermiteTable
from dosefinding.mcp.lattice import (
    N_SHIFTS,
    ShiftedLattice,
    check_accuracy,
    points_per_shift,
    summarise,
)
from dosefinding.validation import as_correlation, as_degrees_of_freedom, as_generator

__all__ = ["MvtProbability", "mvt_probability"]

_RANK_TOL = 1e-10
_FIRST_POINTS = 256
_CHUNK = 2048
_Y_CLIP = 10.0


@dataclass(frozen=True)
class MvtProbability:
    """A multivariate normal or t rectangle probability and its estimated error.

    Attributes
    ----------
    value : float
        The estimated probability.
    error : float
        Estimated absolute error: three standard errors of the mean over the random
        lattice shifts (0 when the answer is exact).
    n_points : int
        Number of integrand evaluations used (0 when the answer is exact).

    Examples
    --------
    >>> MvtProbability(value=0.25, error=0.0, n_points=0).value
    0.25
    """

    value: float
    error: float
    n_points: int


@dataclass(frozen=True)
class _Factor:
    """Pivoted Cholesky factor of a correlation matrix, rows grouped by column.

    ``L[k, :j + 1]`` holds the coefficients of row ``k`` on y_1..y_{j+1}, where ``j`` is
    the column of the group that ``k`` belongs to; ``groups[j]`` lists the rows whose
    last non-zero coefficient is on y_j, its pivot first.
    """

    L: NDArray[np.float64]
    groups: tuple[NDArray[np.intp], ...]

    @property
    def rank(self) -> int:
        return len(self.groups)


@dataclass(frozen=True)
class _Bounds:
    """Bounds on one variable y_j given y_1..y_{j-1}, one row per original coordinate.

    Row ``k`` reads ``s * lower[k] - shift[k] - coef[k] @ y <= y_j <= s * upper[k] -
    shift[k] - coef[k] @ y``, where ``s`` is the chi variable (1 for the normal).
    Only the rows with a finite limit are kept on each side.
    """

    lower_coef: NDArray[np.float64]
    lower: NDArray[np.float64]
    lower_shift: NDArray[np.float64]
    upper_coef: NDArray[np.float64]
    upper: NDArray[np.float64]
    upper_shift: NDArray[np.float64]


def mvt_probability(
    lower: ArrayLike,
    upper: ArrayLike,
    corr: ArrayLike,
    df: float = np.inf,
    delta: ArrayLike | None = None,
    *,
    abseps: float = 1e-6,
    max_points: int = 2_000_000,
    seed: int | np.random.Generator = 0,
) -> MvtProbability:
    """Probability that a multivariate t (or normal) vector lies in a rectangle.

    Computes P(lower <= T <= upper) for T = (Z + delta) / sqrt(W / df), where
    Z ~ N(0, corr) and W ~ chi2(df) are independent (the noncentral multivariate t of
    Kshirsagar, as ``mvtnorm::pmvt(type = "Kshirsagar")``). With ``df = inf`` this is
    the multivariate normal probability P(lower <= Z + delta <= upper).

    Parameters
    ----------
    lower, upper : array_like
        Limits of the rectangle, one per dimension; entries may be -inf or inf.
    corr : array_like
        Correlation matrix: symmetric, unit diagonal, positive semidefinite. It may be
        singular (rank-deficient).
    df : float, default inf
        Degrees of freedom, positive; ``np.inf`` gives the multivariate normal.
    delta : array_like, optional
        Noncentrality (mean of Z), one per dimension; zero by default.
    abseps : float, default 1e-6
        Requested absolute error. Points are doubled until the estimated error is
        below it or ``max_points`` is reached.
    max_points : int, default 2_000_000
        Largest number of integrand evaluations. Each of the 12 random shifts gets a
        power of two points, at most 2^20: the default allows 12 * 2^17 = 1,572,864.
    seed : int or numpy.random.Generator, default 0
        Seed of the random lattice shifts; the same seed gives the same numbers.

    Returns
    -------
    MvtProbability
        ``value``, estimated absolute ``error`` (three standard errors; larger than
        ``abseps`` when ``max_points`` was reached first) and ``n_points``.

    Raises
    ------
    InputError
        If an argument is malformed; the message names it.

    Examples
    --------
    >>> import numpy as np
    >>> corr = np.array([[1.0, 0.5], [0.5, 1.0]])
    >>> p = mvt_probability([-np.inf, -np.inf], [0.0, 0.0], corr)
    >>> round(p.value, 6)  # exactly 1/4 + arcsin(0.5) / (2 pi) = 1/3
    0.333333
    """
    corr_arr = as_correlation(corr)
    n = corr_arr.shape[0]
    lo = _check_vector("lower", lower, n)
    hi = _check_vector("upper", upper, n)
    shift = np.zeros(n) if delta is None else _check_vector("delta", delta, n)
    if np.any(np.isnan(shift)) or np.any(np.isinf(shift)):
        raise InputError("delta: must be finite")
    bad = np.flatnonzero(lo > hi)
    if bad.size:
        k = int(bad[0])
        raise InputError(f"lower: lower[{k}] = {lo[k]} exceeds upper[{k}] = {hi[k]}")
    df_val = as_degrees_of_freedom(df)
    abseps, max_points = check_accuracy(abseps, max_points)
    rng = as_generator(seed)

    keep = ~(np.isneginf(lo) & np.isposinf(hi))
    if not keep.all():
        corr_arr, lo, hi, shift = corr_arr[np.ix_(keep, keep)], lo[keep], hi[keep], shift[keep]
    n = lo.size
    if n == 0:
        return MvtProbability(value=1.0, error=0.0, n_points=0)
    if np.any(lo == hi):
        return MvtProbability(value=0.0, error=0.0, n_points=0)
    if n == 1:
        return MvtProbability(value=_univariate(lo[0], hi[0], df_val, shift[0]), error=0.0, n_points=0)

    factor = _factor(corr_arr, lo - shift, hi - shift)
    bounds = _bounds(factor, lo, hi, shift)
    m = _n_dims(factor.rank, df_val)
    if m == 0:
        exact = float(_integrand(bounds, df_val, np.empty((0, 1)))[0])
        return MvtProbability(value=exact, error=0.0, n_points=0)
    sampler = _Sampler(m, df_val, rng)
    value, error, n_points = sampler.adaptive(bounds, abseps, max_points)
    return MvtProbability(value=value, error=error, n_points=n_points)


class _Sampler:
    """The separated integrand averaged over shifted lattice points (see :mod:`lattice`)."""

    def __init__(self, m: int, df: float, rng: np.random.Generator) -> None:
        self.df = df
        self.lattice = ShiftedLattice(m, rng)

    def sums(self, bounds: tuple[_Bounds, ...], start: int, stop: int) -> NDArray[np.float64]:
        """Sum of the integrand over points ``start..stop-1`` of each shift."""
        total = np.zeros(N_SHIFTS)
        for first in range(start, stop, _CHUNK):
            last = min(first + _CHUNK, stop)
            f = _integrand(bounds, self.df, self.lattice.points(first, last))
            total += f.reshape(N_SHIFTS, -1).sum(axis=1)
        return total

    def adaptive(
        self, bounds: tuple[_Bounds, ...], abseps: float, max_points: int
    ) -> tuple[float, float, int]:
        """Double the points per shift until the error is below ``abseps``."""
        limit = points_per_shift(max_points)
        total = np.zeros(N_SHIFTS)
        n = 0
        batch = min(_FIRST_POINTS, limit)
        while True:
            total += self.sums(bounds, n, n + batch)
            n += batch
            value, error = summarise(total / n)
            if error < abseps or 2 * n > limit:
                return value, error, n * N_SHIFTS
            batch = n


def _integrand(bounds: tuple[_Bounds, ...], df: float, x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Genz's separated integrand at points ``x`` (QMC dimensions x number of points).

    For the t, the first row of ``x`` gives the chi variable s = sqrt(W / df); every
    other row gives one standard normal y_j by inversion within its conditional bounds.
    """
    n_points = x.shape[1]
    if np.isfinite(df):
        s = _chi_scaled(x[0], df)
        w = x[1:]
    else:
        s = None
        w = x
    rank = len(bounds)
    y = np.empty((max(rank - 1, 0), n_points))
    f = np.ones(n_points)
    for j, b in enumerate(bounds):
        e = _side(b.upper_coef, b.upper, b.upper_shift, y[:j], s, np.minimum, n_points)
        d = _side(b.lower_coef, b.lower, b.lower_shift, y[:j], s, np.maximum, n_points)
        # width = Phi(e) - Phi(d), computed in place in e; d keeps Phi(d) for the inversion.
        if e is None:
            e = np.ones(n_points)
        else:
            special.ndtr(e, out=e)
        if d is not None:
            special.ndtr(d, out=d)
            e -= d
            np.maximum(e, 0.0, out=e)
        f *= e
        if j < rank - 1:
            yj = y[j]
            np.multiply(w[j], e, out=yj)
            if d is not None:
                yj += d
            special.ndtri(yj, out=yj)
            np.clip(yj, -_Y_CLIP, _Y_CLIP, out=yj)
    return f


def _side(
    coef: NDArray[np.float64],
    limit: NDArray[np.float64],
    shift: NDArray[np.float64],
    y: NDArray[np.float64],
    s: NDArray[np.float64] | None,
    combine: np.ufunc,
    n_points: int,
) -> NDArray[np.float64] | None:
    """The tightest bound on y_j from the rows of one side (None if all infinite)."""
    k = limit.size
    if k == 0:
        return None
    if k == 1:
        bound = np.multiply(s, limit[0]) if s is not None else np.full(n_points, limit[0])
        bound -= shift[0]
        if y.shape[0]:
            bound -= coef[0] @ y
        return bound
    bounds = limit[:, None] * s if s is not None else np.repeat(limit[:, None], n_points, axis=1)
    bounds -= shift[:, None]
    if y.shape[0]:
        bounds -= coef @ y
    return combine.reduce(bounds, axis=0)


def _factor(corr: NDArray[np.float64], a: NDArray[np.float64], b: NDArray[np.float64]) -> _Factor:
    """Pivoted Cholesky factor with Genz's variable ordering and rank detection.

    At each step the variable with the smallest conditional probability of its interval
    (given the earlier variables at their conditional means) becomes the next pivot.
    Rows whose residual variance falls below ``_RANK_TOL`` are linear combinations of
    the pivots so far and join the group of the current column.
    """
    n = corr.shape[0]
    L = np.zeros((n, n))
    ybar = np.zeros(n)
    active = np.arange(n)
    groups: list[NDArray[np.intp]] = []
    for j in range(n):
        if active.size == 0:
            break
        Lj = L[active, :j]
        var = np.maximum(1.0 - np.einsum("ij,ij->i", Lj, Lj), _RANK_TOL)
        mean = Lj @ ybar[:j]
        sd = np.sqrt(var)
        prob = special.ndtr((b[active] - mean) / sd) - special.ndtr((a[active] - mean) / sd)
        best = int(np.argmin(prob))
        p = int(active[best])
        rest = active[active != p]
        L[p, j] = sd[best]
        L[rest, j] = (corr[rest, p] - L[rest, :j] @ L[p, :j]) / L[p, j]
        residual = 1.0 - np.einsum("ij,ij->i", L[rest, : j + 1], L[rest, : j + 1])
        done = rest[residual < _RANK_TOL]
        group = np.concatenate(([p], done)).astype(np.intp)
        groups.append(group)
        active = rest[residual >= _RANK_TOL]

        c = L[group, j]
        m = L[group, :j] @ ybar[:j]
        lo = np.where(c > 0, a[group] - m, b[group] - m) / c
        hi = np.where(c > 0, b[group] - m, a[group] - m) / c
        ybar[j] = _truncated_mean(float(np.max(lo)), float(np.min(hi)))
    return _Factor(L=L, groups=tuple(groups))


def _bounds(
    factor: _Factor, lower: NDArray[np.float64], upper: NDArray[np.float64], delta: NDArray[np.float64]
) -> tuple[_Bounds, ...]:
    """Limits of every column in the scale of its variable y_j (see :class:`_Bounds`)."""
    result = []
    for j, group in enumerate(factor.groups):
        c = factor.L[group, j]
        coef = factor.L[group, :j] / c[:, None]
        shift = delta[group] / c
        lo = np.where(c > 0, lower[group], upper[group]) / c
        hi = np.where(c > 0, upper[group], lower[group]) / c
        fl, fh = np.isfinite(lo), np.isfinite(hi)
        result.append(
            _Bounds(
                lower_coef=np.ascontiguousarray(coef[fl]),
                lower=lo[fl],
                lower_shift=shift[fl],
                upper_coef=np.ascontiguousarray(coef[fh]),
                upper=hi[fh],
                upper_shift=shift[fh],
            )
        )
    return tuple(result)


def _truncated_mean(lo: float, hi: float) -> float:
    """Mean of a standard normal truncated to [lo, hi] (a heuristic for the ordering)."""
    if lo >= hi:
        return 0.5 * (lo + hi)
    if lo > 0:
        return -_truncated_mean(-hi, -lo)
    mass = special.ndtr(hi) - special.ndtr(lo)
    if mass < 1e-300:
        return hi
    density = (math.exp(-0.5 * lo * lo) if np.isfinite(lo) else 0.0) - (
        math.exp(-0.5 * hi * hi) if np.isfinite(hi) else 0.0
    )
    return density / (math.sqrt(2 * math.pi) * mass)


def _n_dims(rank: int, df: float) -> int:
    """QMC dimensions: y_2..y_rank (y_1 is exact for the normal), plus chi for the t."""
    return rank - 1 + (1 if np.isfinite(df) else 0)


# s(z) = sqrt(chi2.ppf(ndtr(z), df) / df) is tabulated on a z grid and interpolated by
# cubic Hermite polynomials (error < 1e-9 for df >= 0.5): scipy's gammaincinv costs
# about 1.3 microseconds a point, which would dominate the t integrand.
_CHI_ZMAX = 8.5
_CHI_STEP = 0.02


@lru_cache(maxsize=32)
def _chi_table(df: float) -> HermiteTable:
    z = np.arange(-_CHI_ZMAX, _CHI_ZMAX + _CHI_STEP / 2, _CHI_STEP)
    return HermiteTable(-_CHI_ZMAX, _CHI_STEP, *_chi_exact(z, df))


def _chi_exact(z: NDArray[np.float64], df: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """s(z) and ds/dz, from gammaincinv, or Wilson-Hilferty for df > 1e6 where
    scipy's inversion loses accuracy (Wilson-Hilferty's relative error is < 1e-8 there)."""
    if df > 1e6:
        c = 2.0 / (9.0 * df)
        base = 1.0 - c + z * math.sqrt(c)
        x = df * base**3
        s = np.sqrt(x / df)
        return s, 3.0 * df * base**2 * math.sqrt(c) / (2.0 * np.sqrt(x * df))
    x = 2.0 * np.where(
        z < 0,
        special.gammaincinv(df / 2, special.ndtr(np.minimum(z, 0.0))),
        special.gammainccinv(df / 2, special.ndtr(-np.maximum(z, 0.0))),
    )
    s = np.sqrt(x / df)
    # ds/dz = phi(z) / (chi2.pdf(x) * 2 sqrt(x df)), in logs: x can be denormal for small df.
    positive = x > 0
    xp = np.where(positive, x, 1.0)
    log_dsdz = (
        -0.5 * z * z
        - 0.5 * math.log(2 * math.pi)
        - stats.chi2.logpdf(xp, df)
        - math.log(2.0)
        - 0.5 * (np.log(xp) + math.log(df))
    )
    return s, np.where(positive, np.exp(log_dsdz), 0.0)


def _chi_scaled(u: NDArray[np.float64], df: float) -> NDArray[np.float64]:
    """sqrt(chi2.ppf(u, df) / df), vectorised."""
    z = special.ndtri(u)
    s = _chi_table(df)(z)
    outside = np.abs(z) > _CHI_ZMAX
    if outside.any():
        s[outside] = np.sqrt(stats.chi2.ppf(u[outside], df) / df)
    return s


def _univariate(lower: float, upper: float, df: float, delta: float) -> float:
    """P(lower <= (Z + delta) / sqrt(W / df) <= upper) in one dimension, exactly."""
    if np.isinf(df):
        if lower - delta > 0:
            return float(special.ndtr(delta - lower) - special.ndtr(delta - upper))
        return float(special.ndtr(upper - delta) - special.ndtr(lower - delta))
    dist = stats.t(df) if delta == 0 else stats.nct(df, delta)
    with np.errstate(all="ignore"):
        value = dist.sf(lower) - dist.sf(upper) if lower > delta else dist.cdf(upper) - dist.cdf(lower)
    if not np.isfinite(value):
        # scipy's noncentral t gives NaN for a large noncentrality (|delta| ~ 1e10, or 50 with df 5).
        value = _univariate_by_quadrature(lower, upper, df, delta)
    return float(min(max(value, 0.0), 1.0))


def _univariate_by_quadrature(lower: float, upper: float, df: float, delta: float) -> float:
    """P(lower <= (Z + delta) / S <= upper) = E[Phi(upper S - delta) - Phi(lower S - delta)],
    S = sqrt(W / df), integrated over the standard normal quantile z of S (|z| <= 9, leaving 2e-19)."""

    def chi(z: float) -> float:
        w = stats.chi2.ppf(special.ndtr(z), df) if z < 0 else stats.chi2.isf(special.ndtr(-z), df)
        return math.sqrt(w / df)

    def integrand(z: float) -> float:
        s = chi(z)
        inside = (special.ndtr(upper * s - delta) if np.isfinite(upper) else 1.0) - (
            special.ndtr(lower * s - delta) if np.isfinite(lower) else 0.0
        )
        return float(math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) * inside)

    # The integrand steps where limit * S = delta: give quad those points.
    steps = []
    for limit in (lower, upper):
        if np.isfinite(limit) and limit != 0 and delta / limit > 0:
            z = float(special.ndtri(stats.chi2.cdf(df * (delta / limit) ** 2, df)))
            if abs(z) < 9:
                steps.append(z)
    value, _ = integrate.quad(integrand, -9.0, 9.0, points=sorted(steps) or None, epsabs=1e-13, limit=200)
    return float(value)


def _check_vector(name: str, x: ArrayLike, n: int) -> NDArray[np.float64]:
    try:
        v = np.array(x, dtype=np.float64).reshape(-1) if np.ndim(x) <= 1 else None
    except (TypeError, ValueError):
        raise InputError(f"{name}: must be numeric") from None
    if v is None:
        raise InputError(f"{name}: must be a vector, got {np.ndim(x)} dimensions")
    if v.size != n:
        raise InputError(f"{name}: has length {v.size}, but corr has dimension {n}")
    if np.any(np.isnan(v)):
        raise InputError(f"{name}: contains NaN")
    return v
