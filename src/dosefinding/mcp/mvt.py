"""Multivariate normal and t probabilities and quantiles.

The multiple contrast test of MCP-Mod needs P(max_i T_i <= q) for a vector T of
correlated t (or normal) statistics: its p-values, its critical value and its power.
This module computes those rectangle probabilities with the randomised quasi-Monte Carlo
method of Genz and Bretz (separation of variables after a Cholesky factorisation,
integrated over a randomly shifted rank-1 lattice), written for our own needs:

* singular correlation matrices (more contrasts than doses, repeated contrasts) are
  handled exactly through a pivoted Cholesky factor whose rank-deficient rows become
  extra bounds on the variables already sampled;
* the noncentral t of Kshirsagar, T = (Z + delta) / sqrt(W / df), needed for power;
* quantiles found with common random numbers, so the estimated probability is a smooth
  monotone function of the limit and a bracketing root finder applies.

scipy's ``multivariate_normal.cdf`` and ``multivariate_t.cdf`` are not used: they reject
singular correlation matrices and do not give the 1e-5 absolute accuracy we need.

References
----------
Genz, A. and Bretz, F. (2009). *Computation of Multivariate Normal and t
Probabilities*. Lecture Notes in Statistics 195, Springer.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special, stats

from dosefinding.errors import ConvergenceError, InputError

__all__ = ["MvtProbability", "mvt_probability", "mvt_quantile"]

_RANK_TOL = 1e-10
_SYMMETRY_TOL = 1e-8
_EIGEN_TOL = 1e-8
_N_SHIFTS = 12
_FIRST_POINTS = 1024
_CHUNK = 2048
_LATTICE_BITS = 20
_MAX_PER_SHIFT = 1 << _LATTICE_BITS
_ERROR_FACTOR = 3.0
_Y_CLIP = 10.0
_MIN_POINTS = 8 * _N_SHIFTS
_MAX_WIDENINGS = 60
_REVERSED_10_BITS = np.array([int(f"{i:010b}"[::-1], 2) for i in range(1024)], dtype=np.int64)

# Generating vector of an embedded rank-1 lattice sequence (2^10 to 2^20 points),
# made by _search_lattice(): component j >= 1 is the best of 1024 random odd candidates
# below 2^20 for the 2^10..2^20-point lattices together, in a weighted Korobov space with
# product weights 0.6^j (Genz's ordering makes the first coordinates matter most).
# Checked against frac(sqrt(prime)) (Richtmyer) generators on our integrands: 2-3 times
# smaller standard errors for the same number of points.
_LATTICE = np.array(
    [
        1, 118495, 350669, 913007, 288863, 749523, 664233, 1030473,
        907543, 306297, 509409, 865129, 660609, 237863, 426579, 555683,
        785821, 416269, 54479, 881093, 893233, 475459, 127139, 697409,
        803757, 490757, 624341, 500243, 508267, 155099, 673605, 504015,
    ],
    dtype=np.float64,
)


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
        Largest number of integrand evaluations (the lattice has 2^20 points, so at
        most 12 * 2^20 are used).
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
    corr_arr = _check_corr(corr)
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
    df_val = _check_df(df)
    _check_accuracy(abseps, max_points)
    rng = _as_generator(seed)

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
        return MvtProbability(value=float(_integrand(bounds, df_val, np.empty((0, 1)))[0]), error=0.0, n_points=0)
    sampler = _Sampler(m, df_val, rng)
    value, error, n_points = sampler.adaptive(bounds, abseps, max_points)
    return MvtProbability(value=value, error=error, n_points=n_points)


def mvt_quantile(
    probability: float,
    corr: ArrayLike,
    df: float = np.inf,
    *,
    tail: str = "lower",
    abseps: float = 1e-6,
    max_points: int = 2_000_000,
    seed: int | np.random.Generator = 0,
) -> float:
    """Equicoordinate quantile of a central multivariate t (or normal) distribution.

    Finds q with P(T_i <= q for all i) = probability (``tail="lower"``) or
    P(|T_i| <= q for all i) = probability (``tail="both"``), where T is multivariate t
    with correlation ``corr`` and ``df`` degrees of freedom (normal for ``df = inf``).
    This is the critical value of the maximum-contrast test.

    The same lattice points and random shifts are used for every q, so the estimated
    probability is a smooth increasing function of q, and its root is found with
    ``scipy.optimize.brentq``. The number of points is the one at which the probability
    at the root is estimated to within ``abseps``.

    Parameters
    ----------
    probability : float
        Target probability, in (0, 1).
    corr : array_like
        Correlation matrix: symmetric, unit diagonal, positive semidefinite; may be
        singular.
    df : float, default inf
        Degrees of freedom, positive; ``np.inf`` gives the multivariate normal.
    tail : {"lower", "both"}, default "lower"
        One-sided (all T_i <= q) or two-sided (all |T_i| <= q).
    abseps : float, default 1e-6
        Requested absolute error of the probability at the quantile.
    max_points : int, default 2_000_000
        Largest number of integrand evaluations per probability.
    seed : int or numpy.random.Generator, default 0
        Seed of the random lattice shifts; the same seed gives the same quantile.

    Returns
    -------
    float
        The quantile q.

    Raises
    ------
    InputError
        If an argument is malformed; the message names it.
    ConvergenceError
        If the root cannot be bracketed.

    Warns
    -----
    RuntimeWarning
        If ``max_points`` was reached before the probability error fell below
        ``abseps``.

    Examples
    --------
    >>> import numpy as np
    >>> round(mvt_quantile(0.95, np.eye(2)), 4)  # normal, sqrt(0.95) per coordinate
    1.9545
    """
    p = _check_probability(probability)
    corr_arr = _check_corr(corr)
    df_val = _check_df(df)
    if tail not in ("lower", "both"):
        raise InputError(f"tail: must be 'lower' or 'both', got {tail!r}")
    _check_accuracy(abseps, max_points)
    rng = _as_generator(seed)
    n = corr_arr.shape[0]
    two_sided = tail == "both"

    # Bonferroni and a single coordinate bracket the root: P(T_1 <= q) >= P(max <= q) >=
    # 1 - n P(T_1 > q).
    if two_sided:
        q_low, q_high = _t_ppf((1 + p) / 2, df_val), _t_ppf(1 - (1 - p) / (2 * n), df_val)
    else:
        q_low, q_high = _t_ppf(p, df_val), _t_ppf(1 - (1 - p) / n, df_val)
    if n == 1:
        return float(q_low)

    def limits(q: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return np.full(n, -q if two_sided else -np.inf), np.full(n, q)

    zero = np.zeros(n)
    lo0, hi0 = limits(0.5 * (q_low + q_high))
    factor = _factor(corr_arr, lo0, hi0)
    m = _n_dims(factor.rank, df_val)

    if m == 0:

        def excess(q: float) -> float:
            return float(_integrand(_bounds(factor, *limits(q), zero), df_val, np.empty((0, 1)))[0]) - p

        return _increasing_root(excess, q_low, q_high, two_sided, "the exact probability")

    # Solve first with few points, then fix the number of points by the error at that
    # root and solve again from there; every q sees the same points.
    sampler = _Sampler(m, df_val, rng)
    n_first = min(_FIRST_POINTS, max_points // _N_SHIFTS)

    def excess_first(q: float) -> float:
        return sampler.estimate(_bounds(factor, *limits(q), zero), n_first)[0] - p

    q1 = _increasing_root(excess_first, q_low, q_high, two_sided, f"{n_first * _N_SHIFTS} points")
    step = 1e-3 * max(1.0, abs(q1))
    q_below = max(q1 - step, 0.0) if two_sided else q1 - step
    density = (excess_first(q1 + step) - excess_first(q_below)) / (q1 + step - q_below)

    value, error, n_points = sampler.adaptive(_bounds(factor, *limits(q1), zero), abseps, max_points)
    if error >= abseps:
        warnings.warn(
            f"mvt_quantile: probability error {error:.2g} after {n_points} points exceeds "
            f"abseps = {abseps:.2g}; raise max_points for a more accurate quantile",
            RuntimeWarning,
            stacklevel=2,
        )
    n_final = n_points // _N_SHIFTS

    def excess_final(q: float) -> float:
        return sampler.estimate(_bounds(factor, *limits(q), zero), n_final)[0] - p

    guess = q1 - (value - p) / density if density > 0 else q1 + step
    if guess == q1:
        return float(q1)
    return _increasing_root(excess_final, q1, guess, two_sided, f"{n_points} points", known={q1: value - p})


class _Sampler:
    """Randomly shifted rank-1 lattice sequence with the tent (baker's) transform.

    Point ``n`` of the sequence is ``frac(phi(n) * z + shift)``, where ``phi`` reverses
    the 20 bits of ``n`` (base-2 radical inverse) and ``z`` is ``_LATTICE``: the first
    2^k points form a full lattice of 2^k points for every k <= 20, and any prefix is
    well spread. So estimates from different point counts share their points, and every
    q of a quantile search sees the same points (common random numbers).
    """

    def __init__(self, m: int, df: float, rng: np.random.Generator) -> None:
        self.m = m
        self.df = df
        self.generator = _LATTICE[:m]
        self.extra = _richtmyer(m)[_LATTICE.size :]
        self.shifts = rng.random((_N_SHIFTS, m))

    def points(self, start: int, stop: int) -> NDArray[np.float64]:
        """Tent-transformed points ``start..stop-1`` of every shift, (m, shifts * count)."""
        n = np.arange(start, stop, dtype=np.int64)
        u = _radical_inverse(n)
        x = np.empty((self.m, _N_SHIFTS, n.size))
        k = self.generator.size
        np.multiply(self.generator[:, None, None], u[None, None, :], out=x[:k])
        if self.extra.size:
            # Beyond the tabulated lattice, Kronecker (Richtmyer) coordinates of n.
            np.multiply(self.extra[:, None, None], n[None, None, :].astype(np.float64), out=x[k:])
        x += self.shifts.T[:, :, None]
        x -= np.floor(x)
        x *= 2.0
        x -= 1.0
        np.abs(x, out=x)
        return x.reshape(self.m, -1)

    def sums(self, bounds: tuple[_Bounds, ...], start: int, stop: int) -> NDArray[np.float64]:
        """Sum of the integrand over points ``start..stop-1`` of each shift."""
        total = np.zeros(_N_SHIFTS)
        for first in range(start, stop, _CHUNK):
            last = min(first + _CHUNK, stop)
            f = _integrand(bounds, self.df, self.points(first, last))
            total += f.reshape(_N_SHIFTS, -1).sum(axis=1)
        return total

    def estimate(self, bounds: tuple[_Bounds, ...], n: int) -> tuple[float, float]:
        """Probability and error from the first ``n`` points of every shift."""
        return _summarise(self.sums(bounds, 0, n) / n)

    def adaptive(self, bounds: tuple[_Bounds, ...], abseps: float, max_points: int) -> tuple[float, float, int]:
        """Double the points per shift until the error is below ``abseps``."""
        limit = min(max_points // _N_SHIFTS, _MAX_PER_SHIFT)
        total = np.zeros(_N_SHIFTS)
        n = 0
        batch = min(_FIRST_POINTS, limit)
        while True:
            total += self.sums(bounds, n, n + batch)
            n += batch
            value, error = _summarise(total / n)
            batch = min(n, limit - n)
            if error < abseps or batch <= 0:
                return value, error, n * _N_SHIFTS


def _search_lattice(dims: int, n_candidates: int = 1024, weight: float = 0.6, seed: int = 20240917) -> list[int]:
    """Component-by-component search that produced ``_LATTICE`` (about an hour; not used
    at run time).

    Component j >= 1 minimises, over ``n_candidates`` random odd integers below 2^20, the
    sum over k = 10..20 of log e_k^2, where e_k^2 is the squared worst-case error of the
    2^k-point lattice in the Korobov space of smoothness 2 with product weights
    ``weight ** j`` (kernel 1 + weight^j 2 pi^2 B_2(x) per coordinate).
    """
    n = 1 << _LATTICE_BITS
    index = np.arange(n, dtype=np.int64)
    x = index / n
    bernoulli = 2 * np.pi**2 * (x * x - x + 1 / 6)
    product = np.ones(n)
    rng = np.random.default_rng(seed)
    z = [1]
    product *= 1 + bernoulli
    for j in range(1, dims):
        candidates = rng.integers(0, n // 2, size=n_candidates) * 2 + 1
        best = (np.inf, 0, product)
        for c in candidates:
            trial = product * (1 + weight**j * bernoulli[(index * int(c)) & (n - 1)])
            crit = sum(np.log(trial[:: 1 << (_LATTICE_BITS - k)].mean() - 1) for k in range(10, _LATTICE_BITS + 1))
            if crit < best[0]:
                best = (crit, int(c), trial)
        z.append(best[1])
        product = best[2]
    return z


def _radical_inverse(n: NDArray[np.int64]) -> NDArray[np.float64]:
    """Base-2 radical inverse of 20-bit integers, as exact floats in [0, 1)."""
    low = _REVERSED_10_BITS.take(n & 1023)
    high = _REVERSED_10_BITS.take((n >> 10) & 1023)
    return (low * 1024 + high) * (1.0 / (1 << _LATTICE_BITS))


def _summarise(means: NDArray[np.float64]) -> tuple[float, float]:
    value = float(np.mean(means))
    error = _ERROR_FACTOR * float(np.std(means, ddof=1)) / math.sqrt(means.size)
    return min(max(value, 0.0), 1.0), error


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
    f: NDArray[np.float64] | float = 1.0
    for j, b in enumerate(bounds):
        d = _side(b.lower_coef, b.lower, b.lower_shift, y[:j], s, np.maximum)
        e = _side(b.upper_coef, b.upper, b.upper_shift, y[:j], s, np.minimum)
        d = 0.0 if d is None else special.ndtr(d)
        e = 1.0 if e is None else special.ndtr(e)
        width = np.maximum(e - d, 0.0)
        f = f * width
        if j < rank - 1:
            y[j] = special.ndtri(d + w[j] * width)
            np.clip(y[j], -_Y_CLIP, _Y_CLIP, out=y[j])
    return np.broadcast_to(f, (n_points,))


def _side(
    coef: NDArray[np.float64],
    limit: NDArray[np.float64],
    shift: NDArray[np.float64],
    y: NDArray[np.float64],
    s: NDArray[np.float64] | None,
    combine: np.ufunc,
) -> NDArray[np.float64] | float | None:
    """The tightest bound on y_j from the rows of one side (None if all infinite)."""
    k = limit.size
    if k == 0:
        return None
    if k == 1:
        bound = limit[0] * s - shift[0] if s is not None else limit[0] - shift[0]
        if y.shape[0]:
            bound = bound - coef[0] @ y
        return bound
    bound = (limit[:, None] * s if s is not None else limit[:, None]) - shift[:, None]
    if y.shape[0]:
        bound = bound - coef @ y
    return combine.reduce(bound, axis=0)


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
        p = int(active[np.argmin(prob)])
        rest = active[active != p]
        L[p, j] = math.sqrt(var[np.argmin(prob)])
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


@lru_cache(maxsize=64)
def _richtmyer_cached(m: int) -> tuple[float, ...]:
    primes: list[int] = []
    k = 2
    while len(primes) < m:
        if all(k % p for p in primes if p * p <= k):
            primes.append(k)
        k += 1
    return tuple(math.sqrt(p) % 1.0 for p in primes)


def _richtmyer(m: int) -> NDArray[np.float64]:
    """Generating vector frac(sqrt(p_j)) of the first ``m`` primes."""
    return np.array(_richtmyer_cached(m))


# s(z) = sqrt(chi2.ppf(ndtr(z), df) / df) is tabulated on a z grid and interpolated by
# cubic Hermite polynomials (error < 1e-9 for df >= 0.5): scipy's gammaincinv costs
# about 1.3 microseconds a point, which would dominate the t integrand.
_CHI_ZMAX = 8.5
_CHI_STEP = 0.02


@lru_cache(maxsize=32)
def _chi_table(df: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Hermite coefficients (a, b, c, d) per interval of s(z) on the z grid."""
    z = np.arange(-_CHI_ZMAX, _CHI_ZMAX + _CHI_STEP / 2, _CHI_STEP)
    s, dsdz = _chi_exact(z, df)
    h = _CHI_STEP
    s0, s1, d0, d1 = s[:-1], s[1:], dsdz[:-1] * h, dsdz[1:] * h
    coef = np.stack([s0, d0, -3 * s0 - 2 * d0 + 3 * s1 - d1, 2 * s0 + d0 - 2 * s1 + d1])
    return z, coef


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
    grid, coef = _chi_table(df)
    t = (z - grid[0]) * (1.0 / _CHI_STEP)
    i = np.floor(t)
    np.clip(i, 0, grid.size - 2, out=i)
    idx = i.astype(np.intp)
    tau = t - i
    s = coef[3].take(idx)
    s *= tau
    s += coef[2].take(idx)
    s *= tau
    s += coef[1].take(idx)
    s *= tau
    s += coef[0].take(idx)
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
    if lower > delta:
        return float(max(dist.sf(lower) - dist.sf(upper), 0.0))
    return float(max(dist.cdf(upper) - dist.cdf(lower), 0.0))


def _t_ppf(p: float, df: float) -> float:
    return float(special.ndtri(p)) if np.isinf(df) else float(stats.t.ppf(p, df))


def _increasing_root(
    func: Callable[[float], float],
    a: float,
    b: float,
    two_sided: bool,
    what: str,
    known: dict[float, float] | None = None,
) -> float:
    """Root of an increasing ``func`` by brentq, first moving [a, b] until it brackets.

    ``known`` holds values of ``func`` already computed, which are not computed again.
    """
    memo = dict(known or {})

    def f(q: float) -> float:
        if q not in memo:
            memo[q] = func(q)
        return memo[q]

    a, b = min(a, b), max(a, b)
    fa, fb = f(a), f(b)
    for _ in range(_MAX_WIDENINGS):
        if fa <= 0 <= fb:
            break
        width = 2 * (b - a)
        if fa > 0:
            b, fb = a, fa
            a = max(a - width, 0.0) if two_sided else a - width
            fa = f(a)
        else:
            a, fa = b, fb
            b = b + width
            fb = f(b)
    else:
        raise ConvergenceError(
            f"mvt_quantile: could not bracket the quantile with {what} after {_MAX_WIDENINGS} "
            f"widenings: probability - target is {fa:.3g} at q = {a:.6g} and {fb:.3g} at q = {b:.6g}"
        )
    if fa == 0:
        return float(a)
    if fb == 0:
        return float(b)
    return float(optimize.brentq(f, a, b, xtol=1e-7, rtol=1e-12))


def _check_corr(corr: ArrayLike) -> NDArray[np.float64]:
    try:
        c = np.array(corr, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"corr: must be a numeric matrix ({exc})") from None
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] == 0:
        raise InputError(f"corr: must be a non-empty square matrix, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise InputError("corr: must be finite")
    asym = float(np.max(np.abs(c - c.T)))
    if asym > _SYMMETRY_TOL:
        raise InputError(f"corr: not symmetric (largest |corr - corr.T| = {asym:.3g})")
    diag = float(np.max(np.abs(np.diag(c) - 1.0)))
    if diag > _SYMMETRY_TOL:
        raise InputError(f"corr: diagonal must be 1 (largest deviation {diag:.3g})")
    c = 0.5 * (c + c.T)
    np.fill_diagonal(c, 1.0)
    smallest = float(np.linalg.eigvalsh(c)[0])
    if smallest < -_EIGEN_TOL:
        raise InputError(f"corr: not positive semidefinite (smallest eigenvalue {smallest:.3g})")
    return c


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


def _check_df(df: float) -> float:
    try:
        d = float(df)
    except (TypeError, ValueError):
        raise InputError(f"df: must be a positive number or inf, got {df!r}") from None
    if not d > 0:
        raise InputError(f"df: must be positive (or inf), got {df!r}")
    return d


def _check_probability(probability: float) -> float:
    try:
        p = float(probability)
    except (TypeError, ValueError):
        raise InputError(f"probability: must be a number in (0, 1), got {probability!r}") from None
    if not 0 < p < 1:
        raise InputError(f"probability: must be in (0, 1), got {probability!r}")
    return p


def _check_accuracy(abseps: float, max_points: int) -> None:
    if not (isinstance(abseps, (int, float)) and abseps > 0):
        raise InputError(f"abseps: must be a positive number, got {abseps!r}")
    if not isinstance(max_points, (int, np.integer)) or isinstance(max_points, bool):
        raise InputError(f"max_points: must be an integer, got {max_points!r}")
    if max_points < _MIN_POINTS:
        raise InputError(f"max_points: must be at least {_MIN_POINTS}, got {max_points}")


def _as_generator(seed: int | np.random.Generator) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError):
        raise InputError(f"seed: must be an int or numpy Generator, got {seed!r}") from None
