"""Distribution of the maximum of a central multivariate t (or normal) vector.

The p-values and the critical value of the multiple contrast test are values of one
distribution function, that of M = max_i T_i (or max_i |T_i|) for T central
multivariate t with the contrasts' correlation. This module computes it by
spherical-radial integration: write T = rho L u, with L L' the correlation (rank r), u
uniform on the unit sphere of R^r and rho >= 0 an independent radius, so that

    P(M <= q) = E_u[ G((q / m(u))^2) ],   m(u) = max_i (L u)_i  (or max_i |(L u)_i|),

for q > 0 (the rays with m(u) <= 0 count 1), where G is the distribution function of
rho^2: chi-square with r degrees of freedom for the normal, r times an F(r, df) variable
for the t. The radius is integrated exactly, only the sphere by quasi-Monte Carlo
(randomly shifted lattice points mapped to directions). In the upper tail, where
critical values and small p-values live, this is several times more accurate than
separating all variables (:mod:`dosefinding.mcp.mvt`) when the correlation is singular
or nearly so, as contrast correlations are; near q = 0, where the radial integrand jumps
across m(u) = 0, separation of variables is better and is used instead. And m(u) does
not depend on q: one set of directions serves every p-value and the whole search for
the critical value.

References
----------
Genz, A. and Bretz, F. (2009). *Computation of Multivariate Normal and t
Probabilities*, section 4.1 (spherical-radial methods). Lecture Notes in Statistics 195.
Deak, I. (1980). Three digit accurate multiple normal probabilities. *Numerische
Mathematik* 35, 369-380.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special, stats

from dosefinding.errors import ConvergenceError, InputError
from dosefinding.mcp.hermite import HermiteTable
from dosefinding.mcp.lattice import (
    N_SHIFTS,
    ShiftedLattice,
    check_accuracy,
    points_per_shift,
    summarise,
)
from dosefinding.mcp.mvt import MvtProbability, SeparatedMaximum, mvt_probability
from dosefinding.validation import (
    as_correlation,
    as_degrees_of_freedom,
    as_generator,
    as_probability,
)

__all__ = ["MaxTDistribution", "mvt_quantile"]

FloatArray = NDArray[np.float64]

_RANK_TOL = 1e-10
_FIRST_POINTS = 1024
_TRIAL_POINTS = 1 << 14
_CHUNK = 16384
_MAX_WIDENINGS = 60
# Grid of log squared radius for the tables of G: below it G < 1e-13 for r >= 1 and is
# computed directly; above it G is computed directly too (heavy t tails).
_LOG_MIN = -60.0
_LOG_MAX = 80.0
_LOG_STEP = 0.005


class MaxTDistribution:
    """Distribution function of the maximum of a central multivariate t or normal vector.

    Parameters
    ----------
    corr : array_like
        Correlation matrix of T: symmetric, unit diagonal, positive semidefinite; may be
        singular (more contrasts than doses).
    df : float, default inf
        Degrees of freedom; ``np.inf`` gives the multivariate normal.
    two_sided : bool, default False
        Distribution of max |T_i| instead of max T_i.
    seed : int or numpy.random.Generator, default 0
        Seed of the random lattice shifts; the same seed gives the same numbers.

    Examples
    --------
    >>> import numpy as np
    >>> dist = MaxTDistribution(np.eye(2))
    >>> round(dist.cdf(0.0).value, 6)  # both of two independent normals below 0
    0.25
    >>> round(dist.quantile(0.95), 4)  # sqrt(0.95) per coordinate
    1.9545
    """

    def __init__(
        self,
        corr: ArrayLike,
        df: float = np.inf,
        *,
        two_sided: bool = False,
        seed: int | np.random.Generator = 0,
    ) -> None:
        c = as_correlation(corr)
        self.df = as_degrees_of_freedom(df)
        self.two_sided = bool(two_sided)
        self.size = c.shape[0]
        eigenvalues, vectors = np.linalg.eigh(c)
        order = np.argsort(eigenvalues)[::-1]
        keep = order[eigenvalues[order] > _RANK_TOL * eigenvalues.max()]
        # The leading direction goes to the lattice's best (first) coordinate.
        self.loadings = vectors[:, keep] * np.sqrt(eigenvalues[keep])
        self.rank = keep.size
        self._radial = _radial_cdf(self.rank, self.df)
        rng = as_generator(seed)
        self._lattice = ShiftedLattice(self.rank, rng)
        self._seed = int(rng.integers(2**63))
        self.corr = c
        # Per shift and direction: log m(u) and the sign of m(u).
        self._log_max = np.empty((N_SHIFTS, 0))
        self._positive = np.empty((N_SHIFTS, 0), dtype=bool)

    @property
    def n_points(self) -> int:
        """Directions drawn so far, over all shifts."""
        return self._log_max.size

    def cdf(self, q: float, *, abseps: float = 1e-6, max_points: int = N_SHIFTS << 20) -> MvtProbability:
        """P(max T_i <= q), or P(max |T_i| <= q) when two-sided, with its error.

        Examples
        --------
        >>> round(MaxTDistribution([[1.0]], two_sided=True).cdf(1.959964).value, 6)
        0.95
        """
        return self.cdf_many([q], abseps=abseps, max_points=max_points)[0]

    def cdf_many(
        self, q: ArrayLike, *, abseps: float = 1e-6, max_points: int = N_SHIFTS << 20
    ) -> list[MvtProbability]:
        """Distribution function at several points, each with its error and points used.

        One set of directions serves every q and is doubled until every error is below
        ``abseps`` or ``max_points`` is reached. Where, at the first level, separation of
        variables has the smaller error (q near 0, where the radial integrand jumps),
        that q is computed by :func:`~dosefinding.mcp.mvt.mvt_probability` instead.

        Warns
        -----
        RuntimeWarning
            If some error is still above ``abseps`` after ``max_points``.

        Examples
        --------
        >>> results = MaxTDistribution([[1.0, 0.5], [0.5, 1.0]]).cdf_many([0.0, 9.0])
        >>> [round(r.value, 6) for r in results]  # 1/4 + arcsin(0.5) / (2 pi) = 1/3 at 0
        [0.333333, 1.0]
        """
        qs = np.atleast_1d(np.asarray(q, dtype=float))
        if qs.ndim != 1 or np.any(np.isnan(qs)):
            raise InputError(f"q: must be a vector of numbers, got {q!r}")
        abseps, max_points = check_accuracy(abseps, max_points)
        if self.rank == 1:
            return [MvtProbability(value=self._exact(x), error=0.0, n_points=0) for x in qs]
        limit = points_per_shift(max_points)
        first = min(_FIRST_POINTS, limit)
        self._ensure(first)
        results: dict[int, MvtProbability] = {}
        radial = []
        for i, x in enumerate(qs):
            value, error = self._estimate(x)
            if error < abseps:
                results[i] = MvtProbability(value=value, error=error, n_points=self.n_points)
            elif self._rectangle(x, abseps, first * N_SHIFTS).error < error:
                results[i] = self._rectangle(x, abseps, max_points)
            else:
                radial.append(i)
        while radial:
            estimates = {i: self._estimate(qs[i]) for i in radial}
            for i, (value, error) in estimates.items():
                results[i] = MvtProbability(value=value, error=error, n_points=self.n_points)
            radial = [i for i in radial if estimates[i][1] >= abseps]
            if not radial or 2 * self._log_max.shape[1] > limit:
                break
            self._ensure(2 * self._log_max.shape[1])
        ordered = [results[i] for i in range(qs.size)]
        worst = max(ordered, key=lambda r: r.error)
        if worst.error >= abseps:
            warnings.warn(
                f"MaxTDistribution.cdf_many: error {worst.error:.2g} after {worst.n_points} points exceeds "
                f"abseps = {abseps:.2g}; raise max_points for more accurate probabilities",
                RuntimeWarning,
                stacklevel=2,
            )
        return ordered

    def quantile(
        self, probability: float, *, tolerance: float = 1e-4, max_points: int = N_SHIFTS << 20
    ) -> float:
        """The q with P(max T_i <= q) = probability (max |T_i| when two-sided), to
        within ``tolerance`` (three standard errors).

        See :meth:`quantile_with_error`, which also returns the error of q.

        Examples
        --------
        >>> round(MaxTDistribution([[1.0]], 10.0).quantile(0.95), 4)  # the t quantile
        1.8125
        """
        return self.quantile_with_error(probability, tolerance=tolerance, max_points=max_points)[0]

    def quantile_with_error(
        self,
        probability: float,
        *,
        tolerance: float = 1e-4,
        abseps: float | None = None,
        max_points: int = N_SHIFTS << 20,
    ) -> tuple[float, float]:
        """The quantile and its estimated error (three standard errors, on the q scale).

        The root is found with few points first. Both integrators (spherical-radial
        and separation of variables) are then run at a moderate budget there, and the
        one with the smaller error is refined: points are doubled until the error of q
        (the probability's error over the density of the maximum at q) is below
        ``tolerance``, or, when ``abseps`` is given, until the probability's error is
        below ``abseps``; the root is then found again with all the points.

        Warns
        -----
        RuntimeWarning
            If ``max_points`` was reached first.

        Examples
        --------
        >>> q, error = MaxTDistribution([[1.0, 0.5], [0.5, 1.0]]).quantile_with_error(0.95)
        >>> round(q, 3), error < 1e-4
        (1.916, True)
        """
        p = as_probability(probability)
        tolerance, max_points = check_accuracy(tolerance, max_points, "tolerance")
        if abseps is not None:
            abseps = check_accuracy(abseps, max_points)[0]
        low, high = self._bracket(p)
        if self.size == 1:
            return low, 0.0
        if self.rank == 1:
            root = _increasing_root(lambda q: self._exact(q) - p, low, high, self.two_sided, "the exact probability")
            return root, 0.0
        limit = points_per_shift(max_points)
        first = min(_FIRST_POINTS, limit)

        def radial(q: float, per_shift: int) -> tuple[float, float]:
            self._ensure(per_shift)
            return self._estimate(q)

        q = _increasing_root(
            lambda x: radial(x, first)[0] - p, low, high, self.two_sided, f"{first * N_SHIFTS} points", xtol=1e-6
        )
        estimate: Callable[[float, int], tuple[float, float]] = radial
        per_shift = first
        if not self._accurate(radial, q, first, abseps, tolerance):
            # Which integrator converges faster depends on the correlation (separation
            # of variables in many full-rank dimensions, spherical-radial when nearly
            # singular): compare them at a moderate budget.
            per_shift = min(_TRIAL_POINTS, limit)
            seed = np.random.default_rng(self._seed)
            separated = SeparatedMaximum(self.corr, self.df, self.two_sided, q, seed)
            if separated.estimate(q, per_shift)[1] < radial(q, per_shift)[1]:
                estimate = separated.estimate
        while True:
            value, error = estimate(q, per_shift)
            density = self._density(lambda x, n=per_shift: estimate(x, n)[0], q)
            done = error < (abseps if abseps is not None else tolerance * density)
            if done or 2 * per_shift > limit:
                break
            per_shift *= 2
        if density <= 0:
            raise ConvergenceError(
                f"mvt_quantile: the estimated distribution function is flat at q = {q:.6g} "
                f"with {per_shift * N_SHIFTS} points"
            )
        # The root with all the points is within a few errors of q; it needs no more
        # precision than a hundredth of its own error.
        width = 10 * max(error, abs(value - p)) / density
        root = _increasing_root(
            lambda x: estimate(x, per_shift)[0] - p,
            max(q - width, 0.0) if self.two_sided else q - width,
            q + width,
            self.two_sided,
            f"{per_shift * N_SHIFTS} points",
            xtol=max(1e-10, 0.01 * error / density),
        )
        if not done:
            target = f"abseps = {abseps:.2g}" if abseps is not None else f"tolerance = {tolerance:.2g}"
            warnings.warn(
                f"mvt_quantile: probability error {error:.2g} (about {error / density:.1g} on the quantile) "
                f"after {per_shift * N_SHIFTS} points misses {target}; raise max_points for a more "
                "accurate quantile",
                RuntimeWarning,
                stacklevel=2,
            )
        return root, error / density

    def _ensure(self, per_shift: int) -> None:
        """Draw directions until every shift has ``per_shift`` of them."""
        start = self._log_max.shape[1]
        if per_shift <= start:
            return
        log_max = np.empty((N_SHIFTS, per_shift))
        positive = np.empty((N_SHIFTS, per_shift), dtype=bool)
        log_max[:, :start] = self._log_max
        positive[:, :start] = self._positive
        for first in range(start, per_shift, _CHUNK):
            last = min(first + _CHUNK, per_shift)
            z = special.ndtri(self._lattice.points(first, last).clip(1e-17, 1.0 - 1e-16))
            z /= np.sqrt(np.einsum("ij,ij->j", z, z))
            projections = self.loadings @ z
            if self.two_sided:
                np.abs(projections, out=projections)
            m = projections.max(axis=0)
            with np.errstate(divide="ignore"):
                log_max[:, first:last] = np.log(np.abs(m)).reshape(N_SHIFTS, -1)
            positive[:, first:last] = (m > 0).reshape(N_SHIFTS, -1)
        self._log_max, self._positive = log_max, positive

    def _estimate(self, q: float) -> tuple[float, float]:
        """P(max <= q) and its error from the directions drawn so far."""
        if q <= 0 and self.two_sided:
            return 0.0, 0.0
        if q == 0:
            return summarise((~self._positive).mean(axis=1))
        # Along direction u, max T = rho m(u) with rho > 0: below q > 0 when rho < q / m
        # (always when m <= 0); below q < 0 when m < 0 and rho > q / m.
        log_radius2 = 2.0 * (math.log(abs(q)) - self._log_max)
        g = self._radial(log_radius2)
        f = np.where(self._positive, g, 1.0) if q > 0 else np.where(self._positive, 0.0, 1.0 - g)
        return summarise(f.mean(axis=1))

    def _rectangle(self, q: float, abseps: float, max_points: int) -> MvtProbability:
        """P(max <= q) by separation of variables, with its own fixed seed."""
        lower = np.full(self.size, -q if self.two_sided else -np.inf)
        return mvt_probability(
            lower, np.full(self.size, q), self.corr, self.df, abseps=abseps, max_points=max_points, seed=self._seed
        )

    def _accurate(
        self,
        estimate: Callable[[float, int], tuple[float, float]],
        q: float,
        per_shift: int,
        abseps: float | None,
        tolerance: float,
    ) -> bool:
        """Whether ``estimate`` at q with ``per_shift`` points meets the accuracy asked."""
        error = estimate(q, per_shift)[1]
        if abseps is not None:
            return error < abseps
        return error < tolerance * self._density(lambda x: estimate(x, per_shift)[0], q)

    def _density(self, cdf: Callable[[float], float], q: float) -> float:
        """Slope of ``cdf`` at q by a central difference."""
        step = 1e-4 * max(1.0, abs(q))
        below = max(q - step, 0.0) if self.two_sided else q - step
        return (cdf(q + step) - cdf(below)) / (q + step - below)

    def _exact(self, q: float) -> float:
        """Rank one: T = rho L u with u = +1 or -1, each with probability 1/2."""
        return 0.5 * sum(self._ray(q, direction) for direction in (1.0, -1.0))

    def _ray(self, q: float, direction: float) -> float:
        projections = self.loadings[:, 0] * direction
        if self.two_sided:
            projections = np.abs(projections)
        m = float(projections.max())
        if q == 0:
            return float(m < 0)
        if q > 0 and m <= 0:
            return 1.0
        if q < 0 and m >= 0:
            return 0.0
        # In one dimension rho is |T_1|: P(rho <= x) = 2 F(x) - 1.
        x = abs(q / m)
        g = float(2.0 * special.ndtr(x) - 1.0 if np.isinf(self.df) else 2.0 * special.stdtr(self.df, x) - 1.0)
        return g if q > 0 else 1.0 - g

    def _bracket(self, p: float) -> tuple[float, float]:
        """Bonferroni and a single coordinate bracket the quantile:
        P(T_1 <= q) >= P(max <= q) >= 1 - n P(T_1 > q)."""
        n = self.size
        if self.two_sided:
            return _t_ppf((1 + p) / 2, self.df), _t_ppf(1 - (1 - p) / (2 * n), self.df)
        return _t_ppf(p, self.df), _t_ppf(1 - (1 - p) / n, self.df)


def mvt_quantile(
    probability: float,
    corr: ArrayLike,
    df: float = np.inf,
    *,
    tail: str = "lower",
    abseps: float = 1e-6,
    max_points: int = N_SHIFTS << 20,
    seed: int | np.random.Generator = 0,
) -> float:
    """Equicoordinate quantile of a central multivariate t (or normal) distribution.

    Finds q with P(T_i <= q for all i) = probability (``tail="lower"``) or
    P(|T_i| <= q for all i) = probability (``tail="both"``), where T is multivariate t
    with correlation ``corr`` and ``df`` degrees of freedom (normal for ``df = inf``):
    the critical value of the maximum-contrast test. See :class:`MaxTDistribution`.

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
    max_points : int, default 12 * 2**20
        Largest number of directions.
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
    if tail not in ("lower", "both"):
        raise InputError(f"tail: must be 'lower' or 'both', got {tail!r}")
    distribution = MaxTDistribution(corr, df, two_sided=tail == "both", seed=seed)
    return distribution.quantile_with_error(probability, abseps=abseps, max_points=max_points)[0]


@lru_cache(maxsize=64)
def _radial_table(rank: int, df: float) -> HermiteTable:
    log_r2 = np.arange(_LOG_MIN, _LOG_MAX + _LOG_STEP / 2, _LOG_STEP)
    values, slopes = _radial_exact(log_r2, rank, df)
    return HermiteTable(_LOG_MIN, _LOG_STEP, values, slopes)


def _radial_exact(log_r2: FloatArray, rank: int, df: float) -> tuple[FloatArray, FloatArray]:
    """G and dG/d log(r^2) of the squared radius: chi-square(rank), or rank * F(rank, df)."""
    r2 = np.exp(log_r2)
    with np.errstate(invalid="ignore"):
        if np.isinf(df):
            values = special.chdtr(rank, r2)
            log_density = stats.chi2.logpdf(r2, rank)
        else:
            values = special.fdtr(rank, df, r2 / rank)
            log_density = stats.f.logpdf(r2 / rank, rank, df) - math.log(rank)
        slopes = np.where(np.isfinite(r2) & (r2 > 0), np.exp(log_density + log_r2), 0.0)
    return values, slopes


def _radial_cdf(rank: int, df: float) -> Callable[[FloatArray], FloatArray]:
    """G(exp(x)) for an array x of log squared radii (+inf gives 1, -inf gives 0)."""
    table = _radial_table(rank, df)

    def cdf(log_r2: FloatArray) -> FloatArray:
        inside = (log_r2 >= _LOG_MIN) & (log_r2 <= _LOG_MAX)
        if inside.all():
            return table(log_r2)
        result = np.empty_like(log_r2)
        result[inside] = table(log_r2[inside])
        outside = ~inside
        result[outside] = _radial_exact(log_r2[outside], rank, df)[0]
        return result

    return cdf


def _t_ppf(p: float, df: float) -> float:
    return float(special.ndtri(p)) if np.isinf(df) else float(stats.t.ppf(p, df))


def _increasing_root(
    func: Callable[[float], float],
    a: float,
    b: float,
    two_sided: bool,
    what: str,
    xtol: float = 1e-10,
) -> float:
    """Root of an increasing ``func`` by brentq, first moving [a, b] until it brackets."""
    memo: dict[float, float] = {}

    def f(q: float) -> float:
        if q not in memo:
            memo[q] = func(q)
        return memo[q]

    a, b = min(a, b), max(a, b)
    fa, fb = f(a), f(b)
    for _ in range(_MAX_WIDENINGS):
        if fa <= 0 <= fb:
            break
        width = max(2 * (b - a), 1e-3 * max(1.0, abs(a)))
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
    return float(optimize.brentq(f, a, b, xtol=xtol, rtol=1e-12))
