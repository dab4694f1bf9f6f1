"""Distribution of the maximum of a central multivariate t (or normal) vector.

The p-values and the critical value of the multiple contrast test are values of one
distribution function, that of M = max_i T_i (or max_i |T_i|) for T central multivariate
t with the contrasts' correlation. Write T = rho A u (u uniform on the unit sphere of the
correlation's rank r, rho^2 chi-square or r times F); the radius and the angle from the
nearest ``a_i`` are integrated exactly, the rest of the sphere through the exit angles of
the cells of the maximum (:mod:`~dosefinding.mcp.exit_angles`, :mod:`~dosefinding.mcp.cells`):
exactly for r = 2, by Gauss-Legendre rules between computed break points for r = 3 and 4
(contrasts of up to five doses; errors about 1e-8, reported bound at least 1e-7), by
quasi-Monte Carlo for r >= 5 (randomly shifted lattices, three standard errors).
The law of the exit angles depends on the correlation alone: one computation serves every
q (the critical value's search and all p-values) and every df, and is kept (cached by
correlation) for the next call, with the critical values found on it (by df and level). Threads
may share the cache: it, each geometry's refinement levels and the radial tables change under locks.

Two entry points share that engine: :class:`MaxTDistribution` for one correlation
(:func:`~dosefinding.mcp.mct_test`, :func:`~dosefinding.mcp.power_mct`) and
:func:`max_t_upper_tail` / :func:`significant_contrasts` for many trials at once, each with
its own correlation (simulation-based power, :mod:`dosefinding.study.power`).

References
----------
Genz, A. and Bretz, F. (2009). *Computation of Multivariate Normal and t
Probabilities*, section 4.1 (spherical-radial methods). Lecture Notes in Statistics 195.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special

from dosefinding.errors import ConvergenceError, InputError
from dosefinding.mcp.cells import MaxTGeometry, unit_loadings
from dosefinding.mcp.exit_angles import GRID_ERROR, summarise_estimates
from dosefinding.mcp.lattice import N_SHIFTS, check_accuracy
from dosefinding.mcp.mvt import MvtProbability
from dosefinding.mcp.radial import squared_radius_tail
from dosefinding.validation import (
    as_correlation,
    as_degrees_of_freedom,
    as_generator,
    as_probability,
)

__all__ = ["MaxTDistribution", "clear_caches", "max_t_upper_tail", "mvt_quantile", "significant_contrasts"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

_RANK_TOL = 1e-10
_MAX_WIDENINGS = 60
_DEFAULT_MAX_POINTS = N_SHIFTS << 20
# Roots of P(max <= q) = p found on a geometry, by (df, p, level): (root, probability error, density,
# converged); not converged: the search stopped at the first estimate, its error too large for the call.
_Roots = dict[tuple[float, float, int], tuple[float, float, float, bool]]
# Geometries of recent correlations (key: the matrix's bytes, sidedness and int seed), with the
# roots found on them: a few hundred kB each for the deterministic rules, a few MB for
# quasi-Monte Carlo refined to 1e-5.
_CACHE: OrderedDict[tuple[bytes, bool, int], tuple[MaxTGeometry, _Roots]] = OrderedDict()
# Held while the cache or a roots dict changes (threads share both; the geometries lock their own levels).
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 16
_ROOTS_KEPT = 256


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
        Seed of the quasi-Monte Carlo shifts (rank 5 and more) and of the starting angle
        of the deterministic rules; the same seed gives the same numbers.

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
        # Rounded to 1e-12, far below any effect on the probabilities, so that matrices that
        # differ in rounding only (the same contrasts under sigma^2 / n for another n) share
        # one cached geometry.
        c = np.round(as_correlation(corr), 12)
        np.fill_diagonal(c, 1.0)
        self.df = as_degrees_of_freedom(df)
        self.two_sided = bool(two_sided)
        self.size = c.shape[0]
        self.corr = c
        eigenvalues = np.linalg.eigvalsh(c)
        self.rank = int(np.sum(eigenvalues > _RANK_TOL * eigenvalues[-1]))
        self._geometry: MaxTGeometry | None
        self._roots: _Roots
        self._geometry, self._roots = (None, {}) if self.rank == 1 else _geometry(c, self.rank, self.two_sided, seed)
        self._level = 0

    @cached_property
    def loadings(self) -> FloatArray:
        """Rows of unit length with ``A A'`` the correlation (its leading eigen-directions)."""
        return unit_loadings(self.corr, self.rank)

    @property
    def n_points(self) -> int:
        """Directions of the quasi-Monte Carlo rule used so far (0 for the deterministic rules)."""
        return 0 if self._geometry is None else self._geometry.points_at(self._level)

    def cdf(self, q: float, *, abseps: float = 1e-6, max_points: int = _DEFAULT_MAX_POINTS) -> MvtProbability:
        """P(max T_i <= q), or P(max |T_i| <= q) when two-sided, with its error.

        Examples
        --------
        >>> round(MaxTDistribution([[1.0]], two_sided=True).cdf(1.959964).value, 6)
        0.95
        """
        return self.cdf_many([q], abseps=abseps, max_points=max_points)[0]

    def cdf_many(
        self, q: ArrayLike, *, abseps: float = 1e-6, max_points: int = _DEFAULT_MAX_POINTS
    ) -> list[MvtProbability]:
        """Distribution function at several points, each with its error (three standard
        errors for quasi-Monte Carlo; the difference from a coarser rule for the
        deterministic ones).

        The rules are refined until every error is below ``abseps`` or ``max_points``
        directions are reached.

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
        if self._geometry is None:
            return [MvtProbability(value=self._exact(x), error=0.0, n_points=0) for x in qs]
        while True:
            upper, error = self._upper_tail(qs, self._level)
            if error.max() < abseps or not self._geometry.has_level(self._level + 1, max_points):
                break
            self._level += 1
        if error.max() >= abseps:
            warnings.warn(
                f"MaxTDistribution.cdf_many: error {error.max():.2g} after {self._effort()} exceeds "
                f"abseps = {abseps:.2g}; {self._advice()}",
                RuntimeWarning,
                stacklevel=2,
            )
        return [MvtProbability(value=float(np.clip(1.0 - u, 0.0, 1.0)), error=float(e), n_points=self.n_points)
                for u, e in zip(upper, error, strict=True)]

    def quantile(
        self, probability: float, *, tolerance: float = 1e-4, max_points: int = _DEFAULT_MAX_POINTS
    ) -> float:
        """The q with P(max T_i <= q) = probability (max |T_i| when two-sided), to
        within ``tolerance``; see :meth:`quantile_with_error`.

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
        max_points: int = _DEFAULT_MAX_POINTS,
    ) -> tuple[float, float]:
        """The quantile and its estimated error on the q scale (the probability's error
        over the density of the maximum at q).

        The rules are refined until the error of q is below ``tolerance`` or, when
        ``abseps`` is given, the probability's error is below ``abseps``; the root is
        that of the estimated distribution function, a smooth function of q.

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
        if self._geometry is None:
            root = _increasing_root(lambda q: self._exact(q) - p, low, high, self.two_sided, "the exact probability")
            return root, 0.0
        def hopeless(error: float, density: float) -> bool:
            """Far from the accuracy asked: the level will be refined, its root need not be polished."""
            return error > 2.0 * (abseps if abseps is not None else tolerance * density)

        while True:
            # The root at a level is that of a fixed function: kept with the geometry for the next call.
            key = (self.df, p, self._level)
            finer = self._geometry.has_level(self._level + 1, max_points)
            found = self._roots.get(key)
            if found is None or not (found[3] or (finer and hopeless(found[1], found[2]))):
                found = self._root(p, low, high, self._level, hopeless if finer else None)
                with _CACHE_LOCK:
                    self._roots[key] = found
                    if len(self._roots) > _ROOTS_KEPT:
                        del self._roots[next(iter(self._roots))]
            root, error, density, _ = found
            done = error < (abseps if abseps is not None else tolerance * density)
            if done or not self._geometry.has_level(self._level + 1, max_points):
                break
            self._level += 1
        if density <= 0:
            raise ConvergenceError(
                f"mvt_quantile: the estimated distribution function is flat at q = {root:.6g} "
                f"with {self.n_points} points"
            )
        if not done:
            target = f"abseps = {abseps:.2g}" if abseps is not None else f"tolerance = {tolerance:.2g}"
            warnings.warn(
                f"mvt_quantile: probability error {error:.2g} (about {error / density:.1g} on the quantile) "
                f"after {self._effort()} misses {target}; {self._advice()}",
                RuntimeWarning,
                stacklevel=2,
            )
        return root, error / density

    def _effort(self) -> str:
        assert self._geometry is not None
        if self._geometry.deterministic:
            return f"{self._level} refinements of the deterministic rules"
        return f"{self.n_points} points"

    def _advice(self) -> str:
        assert self._geometry is not None
        if self._geometry.deterministic:
            return f"the deterministic rules stop at about {GRID_ERROR:.0e} on probabilities"
        return "raise max_points for more accuracy"

    def _upper_tail(self, q: FloatArray, level: int) -> tuple[FloatArray, FloatArray]:
        """P(max > q) (max |T| when two-sided) and its error at each q, at a level of the rules."""
        assert self._geometry is not None
        upper = self._geometry.measure(level).upper_tail(q[None, :], self.df, self.two_sided)
        value, error = summarise_estimates(upper, self._geometry.deterministic)
        return value[0], error[0]

    def _root(self, p: float, low: float, high: float, level: int,
              hopeless: Callable[[float, float], bool] | None = None) -> tuple[float, float, float, bool]:
        """Root of the estimated P(max <= q) = p at a level, its probability error, the density and
        whether the root was polished.

        The estimate is a smooth function of q: eight points across the bracket at once,
        inverse interpolation through the four around the sign change, then Newton steps
        with central differences. When ``hopeless(error, density)`` holds at the four
        points, the first estimate is returned unpolished (the caller refines the rules).
        """
        target = 1.0 - p

        def excess(q: float) -> float:
            return target - float(self._upper_tail(np.array([q]), level)[0][0])

        grid = np.linspace(low, high, 8)
        upper, grid_error = self._upper_tail(grid, level)
        values = target - upper
        above = np.flatnonzero(values > 0)
        if values[0] <= 0 < values[-1] and np.all(np.diff(values) > 0):
            crossing = int(above[0])
            first = min(max(crossing - 2, 0), grid.size - 4)
            guess = _inverse_interpolation(values[first : first + 4], grid[first : first + 4])
            near_error = float(grid_error[first : first + 4].max())
            slope = float(values[crossing] - values[crossing - 1]) / float(grid[1] - grid[0])
            if hopeless is not None and hopeless(near_error, slope):
                return guess, near_error, slope, False
        else:
            guess = _increasing_root(excess, low, high, self.two_sided, "the estimated probability", xtol=1e-12)
        # Newton steps with a central difference; a step below 1e-4 leaves an error of
        # order its square times |f'' / 2 f'| (about q / 2 in the upper tail): below 1e-8.
        step = 1e-4 * max(1.0, abs(guess))
        for _ in range(4):
            upper, error = self._upper_tail(np.array([guess - step, guess + step]), level)
            density = float(upper[0] - upper[1]) / (2 * step)
            if not density > 0:
                break
            correction = (0.5 * float(upper[0] + upper[1]) - target) / density
            guess += correction
            if abs(correction) < 1e-4:
                break
        return float(guess), float(error.max()), density, True

    def _exact(self, q: float) -> float:
        """Rank one: T = rho a u with u = +1 or -1, each with probability 1/2."""
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
    max_points: int = _DEFAULT_MAX_POINTS,
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
        Largest number of quasi-Monte Carlo directions (rank 5 and more).
    seed : int or numpy.random.Generator, default 0
        Seed of the quasi-Monte Carlo shifts; the same seed gives the same quantile.

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


def max_t_upper_tail(
    corr: ArrayLike,
    q: ArrayLike,
    df: float,
    *,
    two_sided: bool = False,
    rank: int | None = None,
    abseps: float = 1e-6,
    max_points: int = N_SHIFTS << 16,
    seed: int | np.random.Generator = 0,
) -> tuple[FloatArray, FloatArray]:
    """``P(max_i T_i > q)`` (``max_i |T_i|`` when two-sided) for many trials, each with its own
    correlation and its own values of q.

    The multiplicity-adjusted p-value of contrast j of trial k is
    ``max_t_upper_tail(corr, t)[0][k, j]`` with ``t[k, j]`` its statistic.

    Parameters
    ----------
    corr : array_like (trials, M, M)
        Correlation matrices (checked only for shape: they come from contrasts).
    q : array_like (trials, nq)
        Points at which to evaluate, per trial.
    df : float
        Degrees of freedom common to the trials (``np.inf`` for the normal).
    two_sided : bool
        Maximum of |T_i|.
    rank : int, optional
        Common rank (an upper bound); default the largest numerical rank of the matrices.
    abseps : float
        Error below which no refinement is needed (rank 5 and more: quasi-Monte Carlo
        points are doubled for the trials above it, up to ``max_points`` directions).
    seed : int or numpy.random.Generator
        Seed of the lattice shifts shared by the trials.

    Returns
    -------
    value, error : ndarray (trials, nq)

    Examples
    --------
    >>> import numpy as np
    >>> corr = np.array([np.eye(2), [[1.0, 0.5], [0.5, 1.0]]])
    >>> value, error = max_t_upper_tail(corr, [[0.0], [0.0]], np.inf)
    >>> np.round(value[:, 0], 6).tolist()  # 1 - 1/4 and 1 - 1/3
    [0.75, 0.666667]
    """
    c = np.asarray(corr, dtype=float)
    qs = np.asarray(q, dtype=float)
    if c.ndim != 3 or c.shape[1] != c.shape[2] or qs.ndim != 2 or qs.shape[0] != c.shape[0]:
        raise InputError(f"corr, q: need shapes (trials, M, M) and (trials, nq), got {c.shape} and {qs.shape}")
    df = as_degrees_of_freedom(df)
    if rank is None:
        rank = _numerical_rank(c)
    if rank == 1:
        return _rank_one_upper_tail(unit_loadings(c, 1), qs, df, two_sided), np.zeros(qs.shape)
    rng = as_generator(seed)
    value, error = _refined_upper_tail(c, qs, df, two_sided, rank, rng, max_points,
                                       lambda value, error: error.max(axis=1) >= abseps)
    return np.clip(value, 0.0, 1.0), error


def significant_contrasts(
    t: ArrayLike,
    corr: ArrayLike,
    df: ArrayLike,
    alpha: float,
    *,
    rank: int | None = None,
    max_points: int = N_SHIFTS << 16,
    seed: int | np.random.Generator = 0,
    two_sided: bool = False,
) -> tuple[BoolArray, int]:
    """Whether each contrast of each trial is significant: its adjusted p-value
    ``P(max_i T_i > t_j)`` (one-sided; ``P(max_i |T_i| > t_j)`` with ``t_j = |T_j|`` when
    two-sided) is below ``alpha``.

    Statistics below the one-contrast critical value, or above the Bonferroni one, are
    decided without integration (the adjusted critical value lies between the two). The
    others are integrated trial by trial with their own correlation; a p-value within its
    error of ``alpha`` after refinement (possible for rank 5 and more) is decided by its
    estimate and counted in ``undecided``.

    Parameters
    ----------
    t : array_like (trials, M)
        Contrast statistics (``-inf`` for a trial without them).
    corr : array_like (trials, M, M)
        Their correlations.
    df : array_like (trials,)
        Degrees of freedom of each trial (``np.inf`` for the normal).
    alpha : float
        Level of the test.
    rank : int, optional
        Common rank (an upper bound) of the correlations.
    max_points : int
        Largest number of quasi-Monte Carlo directions (rank 5 and more).
    seed : int or numpy.random.Generator
        Seed of the quasi-Monte Carlo shifts.
    two_sided : bool
        ``t`` holds absolute statistics and the test is two-sided (as ``mct_test``'s
        ``alternative="two-sided"``).

    Returns
    -------
    significant : ndarray of bool (trials, M)
    undecided : int

    Examples
    --------
    >>> import numpy as np
    >>> corr = np.array([[[1.0, 0.5], [0.5, 1.0]]] * 2)
    >>> t = np.array([[2.5, 0.3], [2.0, 1.9]])
    >>> significant, undecided = significant_contrasts(t, corr, np.full(2, np.inf), 0.025)
    >>> significant.tolist(), undecided
    ([[True, False], [False, False]], 0)
    """
    stats_ = np.asarray(t, dtype=float)
    c = np.asarray(corr, dtype=float)
    dfs = np.broadcast_to(np.asarray(df, dtype=float), stats_.shape[:1])
    alpha = as_probability(alpha, "alpha")
    n_models = stats_.shape[1]
    tail = alpha / 2 if two_sided else alpha
    with np.errstate(invalid="ignore"):
        single = np.where(np.isinf(dfs), special.ndtri(1 - tail), special.stdtrit(dfs, 1 - tail))
        bonferroni = np.where(np.isinf(dfs), special.ndtri(1 - tail / n_models),
                              special.stdtrit(dfs, 1 - tail / n_models))
    significant = stats_ >= bonferroni[:, None]
    open_ = (stats_ > single[:, None]) & ~significant
    rows = np.flatnonzero(open_.any(axis=1))
    if rows.size == 0:
        return significant, 0
    decide = open_[rows]
    trial_rank = rank if rank is not None else _numerical_rank(c[rows])
    if trial_rank == 1:
        loadings = unit_loadings(c[rows], 1)
        p_value = np.empty(decide.shape)
        for value in np.unique(dfs[rows]):
            same = dfs[rows] == value
            p_value[same] = _rank_one_upper_tail(loadings[same], stats_[rows][same], float(value), two_sided)
        error = np.zeros(p_value.shape)
    else:
        # One geometry for every open trial (it does not depend on df).
        p_value, error = _refined_upper_tail(
            c[rows], stats_[rows], dfs[rows], two_sided, trial_rank, as_generator(seed), max_points,
            lambda p, e: np.any(decide & (np.abs(p - alpha) <= e), axis=1),
        )
    significant[rows] |= decide & (p_value < alpha)
    return significant, int(np.sum(decide & (np.abs(p_value - alpha) <= error)))


def clear_caches() -> None:
    """Forget the geometries of recent correlations and the radial tables, as in a fresh
    process (benchmarks time first calls this way).

    Examples
    --------
    >>> clear_caches()
    """
    with _CACHE_LOCK:
        _CACHE.clear()
    squared_radius_tail.cache_clear()


def _numerical_rank(corr: FloatArray) -> int:
    """The largest numerical rank of correlation matrices (trials, M, M)."""
    eigenvalues = np.linalg.eigvalsh(corr)
    return int(np.max(np.sum(eigenvalues > _RANK_TOL * eigenvalues[:, -1:], axis=1)))


def _refined_upper_tail(corr: FloatArray, q: FloatArray, df: float | FloatArray, two_sided: bool, rank: int,
                        rng: np.random.Generator, max_points: int,
                        needs: Callable[[FloatArray, FloatArray], BoolArray]) -> tuple[FloatArray, FloatArray]:
    """P(max > q) and its error per trial (``df`` one value or one per trial), at level 0 of
    the rules, then at finer levels for the trials where ``needs(value, error)`` (one
    geometry for those trials per level)."""
    dfs = np.broadcast_to(np.asarray(df, dtype=float), q.shape[:1])
    geometry = MaxTGeometry(unit_loadings(corr, rank), two_sided, rng)
    value, error = _upper_tail_by_df(geometry, 0, q, dfs)
    level = 0
    while geometry.has_level(level + 1, max_points):
        open_ = np.flatnonzero(needs(value, error))
        if open_.size == 0:
            break
        level += 1
        finer = MaxTGeometry(unit_loadings(corr[open_], rank), two_sided, rng)
        value[open_], error[open_] = _upper_tail_by_df(finer, level, q[open_], dfs[open_])
    return value, error


def _upper_tail_by_df(geometry: MaxTGeometry, level: int, q: FloatArray, df: FloatArray) -> tuple[FloatArray,
                                                                                                 FloatArray]:
    """Value and error of P(max > q) per trial, each trial with its own df."""
    measure = geometry.measure(level)
    upper = np.empty((q.shape[0], measure.shape[1], q.shape[1]))
    for value in np.unique(df):
        rows = np.flatnonzero(df == value)
        upper[rows] = measure.trials(rows).upper_tail(q[rows], float(value), geometry.two_sided)
    return summarise_estimates(upper, geometry.deterministic)


def _rank_one_upper_tail(loadings: FloatArray, q: FloatArray, df: float, two_sided: bool) -> FloatArray:
    """Rank one: T = rho a u, u = +-1, with P(rho <= x) = 2 F(x) - 1 for x > 0."""
    a = loadings[..., 0]  # (trials, M)
    result = np.zeros(q.shape)
    for direction in (1.0, -1.0):
        projections = np.abs(a) if two_sided else a * direction
        m = projections.max(axis=1)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.abs(q / m)
        g = 2.0 * special.ndtr(x) - 1.0 if np.isinf(df) else 2.0 * special.stdtr(df, x) - 1.0
        below = np.where(q > 0, np.where(m <= 0, 1.0, g), np.where(q < 0, np.where(m >= 0, 0.0, 1.0 - g),
                                                                  (m < 0).astype(float)))
        result += 0.5 * (1.0 - below)
    return result


def _geometry(corr: FloatArray, rank: int, two_sided: bool, seed: int | np.random.Generator
              ) -> tuple[MaxTGeometry, _Roots]:
    """The geometry of one correlation and the roots found on it, from the cache when the same matrix,
    sidedness and int seed were seen."""
    if isinstance(seed, np.random.Generator):
        return MaxTGeometry(unit_loadings(corr, rank)[None], two_sided, seed), {}
    key = (corr.tobytes(), two_sided, int(seed))
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is None:
            cached = MaxTGeometry(unit_loadings(corr, rank)[None], two_sided, as_generator(seed)), {}
            _CACHE[key] = cached
            if len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        else:
            _CACHE.move_to_end(key)
        return cached


def _inverse_interpolation(y: FloatArray, x: FloatArray) -> float:
    """The x where the Lagrange polynomial of x in y (distinct y) is at y = 0."""
    total = 0.0
    for j in range(y.size):
        weight = 1.0
        for k in range(y.size):
            if k != j:
                weight *= float(y[k] / (y[k] - y[j]))
        total += float(x[j]) * weight
    return total


def _t_ppf(p: float, df: float) -> float:
    return float(special.ndtri(p)) if np.isinf(df) else float(special.stdtrit(df, p))


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

