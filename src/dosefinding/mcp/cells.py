"""Exit angles of the cells of ``max_i a_i . u``: the angular part of the maximum statistic.

:mod:`~dosefinding.mcp.exit_angles` reduces the distribution of ``max_i T_i`` to the law of
the exit angles ``phi_i(w) = arccot(beta_i(w))``, ``beta_i(w) = max_j b_ij . w`` over unit
vectors w orthogonal to ``a_i``. This module computes that law (as weighted points
compressed into an :class:`~dosefinding.mcp.exit_angles.ExitAngleMeasure`) for many
correlation matrices at once:

* rank 2: w is +-1, two points per cell, exact;
* rank 3: w runs over a circle; ``beta_i`` is the upper envelope of sinusoids, smooth
  between the angles where two of them cross or one crosses a level; Gauss-Legendre
  nodes between consecutive such angles (a fine and a coarse rule: their difference, plus
  the grid's own bound of 1e-7, is the error estimate; actual errors are about 1e-8);
* rank 4: w runs over a 2-sphere. Each cell of ``beta_i`` (where ``b_ij . w`` is the
  largest) is described in polar coordinates around ``b_ij``: on the meridian of
  longitude omega it is an interval of colatitude psi, cut by the other constraints, on
  which ``beta_i = |b_ij| cos(psi)``; with the weight ``sin(psi) d psi = -d(cos psi)`` the
  integral over psi is exact (``Phi_q``, the antiderivative of H_q) and only the
  longitude is integrated numerically, by Gauss-Legendre between the longitudes where
  the cutting constraint changes;
* rank 5 and more: w by quasi-Monte Carlo (randomly shifted lattice points on the
  sphere); the spread over the shifts is the error estimate.

Contrasts that coincide (correlation 1, or -1 for two-sided tests) are counted once.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache
from itertools import combinations

import numpy as np
from numpy.typing import NDArray
from scipy import special

from dosefinding.mcp.exit_angles import ExitAngleMeasure, Kind
from dosefinding.mcp.lattice import N_SHIFTS, ShiftedLattice

__all__ = ["CellVectors", "MaxTGeometry", "cell_vectors", "unit_loadings"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

# Contrasts with 1 - correlation below this are the same statistic.
_DUPLICATE = 1e-12
_RANK_TOL = 1e-10
# Levels of beta (and of y = |b| cos psi), with 0 and their negatives, where a binding
# constraint's piece is cut: H_q(arccot y) goes from 0 to its plateau as y falls from about
# 10 to q / 7, fastest near y = 1 (near y = q for small q); without the cuts a sinusoid of
# large amplitude (nearly equal contrasts) crosses that range within a fraction of its piece.
_LEVELS = np.array([0.01, 0.1, 0.5, 2.0, 8.0])
# Levels of t = cot(psi) (rank 4), where y = |b| t / sqrt(1 + t^2) is also cut: y(omega) is
# singular at t = +-i, at imaginary distance asinh(1 / amplitude) from the zero of t, so
# pieces must shrink towards that zero when the amplitude is large.
_T_LEVELS = np.array([-4.0, -1.0, 1.0, 4.0])
# Gauss-Legendre orders (fine, coarse) of the deterministic ranks at level 0: the fine rule
# is typically within 1e-8 of the exact value, the coarse within 1e-6 (tests/mcp/test_exit_angles.py).
_ORDERS = {3: (8, 6), 4: (8, 6)}
# Longest piece of angle (radians) of the Gauss rules.
_LONGEST = 0.8
# Signs of the weights of a meridian's interval ends (rank 4): y at psi_hi, y at psi_lo.
_ENDS = np.array([-1.0, 1.0])
_MAX_LEVELS = 3


def unit_loadings(corr: FloatArray, rank: int | None = None) -> FloatArray:
    """Rows ``a_i`` of unit length with ``A A'`` the correlation (or its best rank-r approximation).

    ``corr`` is (M, M) or (T, M, M); the leading eigen-directions come first. Without
    ``rank`` it is the number of eigenvalues above 1e-10 times the largest (one matrix).

    Examples
    --------
    >>> a = unit_loadings(np.array([[1.0, 0.6], [0.6, 1.0]]))
    >>> np.round(a @ a.T, 12).tolist()
    [[1.0, 0.6], [0.6, 1.0]]
    """
    eigenvalues, vectors = np.linalg.eigh(corr)
    eigenvalues, vectors = eigenvalues[..., ::-1], vectors[..., ::-1]
    if rank is None:
        rank = int(np.sum(eigenvalues > _RANK_TOL * eigenvalues[..., :1]))
    loadings = vectors[..., :rank] * np.sqrt(np.clip(eigenvalues[..., None, :rank], 0.0, None))
    return loadings / np.linalg.norm(loadings, axis=-1, keepdims=True)


class CellVectors:
    """The vectors ``b_ij`` of every cell i, with the constraints and cells that count.

    Attributes
    ----------
    b : ndarray (T, cells, J, r - 1)
        ``b_ij = B_i' a_j / (1 - a_i . a_j)`` in an orthonormal basis ``B_i`` of the
        complement of ``a_i``; j runs over the other vectors (and over all ``-a_j`` for a
        two-sided test).
    active : ndarray (T, cells, J)
        False for a constraint that repeats ``a_i`` itself.
    weight : ndarray (T, cells)
        0 for a cell that repeats an earlier one; 2 for two-sided tests (the cell of
        ``-a_i`` is the mirror image of that of ``a_i``), else 1.
    """

    def __init__(self, b: FloatArray, active: BoolArray, weight: FloatArray) -> None:
        self.b = b
        self.active = active
        self.weight = weight

    def maximum(self, x: FloatArray) -> FloatArray:
        """``max_j b_ij . w`` over the active j, from ``x`` = the products (..., J) per constraint."""
        return np.where(self.active_like(x), x, -np.inf).max(axis=-1)

    def active_like(self, x: FloatArray) -> BoolArray:
        extra = x.ndim - self.active.ndim
        return self.active.reshape(self.active.shape[:2] + (1,) * extra + self.active.shape[2:])


def cell_vectors(loadings: FloatArray, two_sided: bool) -> CellVectors:
    """The cell vectors of unit loadings (T, M, r); see :class:`CellVectors`.

    Examples
    --------
    >>> cv = cell_vectors(np.eye(2)[None], False)  # two independent statistics
    >>> np.abs(cv.b[0, :, :, 0]).tolist()  # a_j seen from a_i, divided by 1 - 0
    [[1.0], [1.0]]
    """
    m = loadings.shape[1]
    vectors = np.concatenate([loadings, -loadings], axis=1) if two_sided else loadings
    n = vectors.shape[1]
    others = np.array([[k for k in range(n) if k != i] for i in range(m)], dtype=np.intp)
    basis = _complement_basis(loadings)  # (T, M, r, r - 1)
    seen = vectors[:, others]  # (T, M, J, r)
    c = np.einsum("tijr,tir->tij", seen, loadings)
    projected = np.einsum("tijr,tirs->tijs", seen, basis)
    same = 1.0 - c < _DUPLICATE
    b = np.where(same[..., None], 0.0, projected / np.where(same, 1.0, 1.0 - c)[..., None])
    # A statistic that repeats an earlier one (|.| for two-sided tests) has no cell, and its
    # constraints, the same as the earlier one's, are left out.
    correlation = np.einsum("tir,tjr->tij", loadings, loadings)
    repeats = (np.abs(correlation) if two_sided else correlation) > 1.0 - _DUPLICATE
    redundant = np.tril(repeats, k=-1).any(axis=2)  # (T, M)
    weight = np.where(redundant, 0.0, 2.0 if two_sided else 1.0)
    active = ~same & ~redundant[:, others % m]
    return CellVectors(b, active, weight)


class MaxTGeometry:
    """The exit-angle measures of many correlations' unit loadings (T, M, r), level by level.

    Ranks up to 4 use the deterministic rules of the module docstring, with Gauss-Legendre
    orders doubled at each level; higher ranks quasi-Monte Carlo with ``points`` directions
    per shift at level 0, doubled at each level (the points of a level include those of
    the levels below). A level, once computed, is kept: the same level always gives the
    same numbers. ``rng`` draws the lattice shifts (and the starting angle of the
    deterministic rules).

    Examples
    --------
    >>> g = MaxTGeometry(unit_loadings(np.eye(2))[None], False, np.random.default_rng(0))
    >>> p = g.measure(0).upper_tail(np.array([[0.0]]), np.inf)[0, 0, 0]  # P(max of 2 > 0)
    >>> round(float(p), 9)
    0.75
    """

    def __init__(self, loadings: FloatArray, two_sided: bool, rng: np.random.Generator, points: int = 1024) -> None:
        self.rank = loadings.shape[2]
        self.two_sided = two_sided
        self.cells = cell_vectors(loadings, two_sided)
        self.deterministic = self.rank <= 4
        self.points = points
        self._turn = float(rng.random()) * 2 * math.pi
        if not self.deterministic:
            # w lives on the unit sphere of R^(r-1); the 3-sphere (rank 5) has a map
            # from the unit cube (Hopf coordinates, see _sphere_points), periodic in every
            # coordinate, which needs one lattice dimension less than normalising Gaussian
            # points, and plain shifted lattice points.
            hopf = self.rank == 5
            self._lattice = ShiftedLattice(3 if hopf else self.rank - 1, rng, tent=not hopf)
        self._levels: list[ExitAngleMeasure] = []
        self._lock = threading.Lock()

    def per_shift(self, level: int) -> int:
        """Directions per shift at a level (quasi-Monte Carlo)."""
        return self.points << level

    def points_at(self, level: int) -> int:
        """Directions (all shifts) at a level, or 0 for the deterministic rules."""
        return 0 if self.deterministic else N_SHIFTS * self.per_shift(level)

    def has_level(self, level: int, max_points: int) -> bool:
        """Whether ``level`` exists within ``max_points`` directions (3 levels for the deterministic rules)."""
        if self.deterministic:
            return level < _MAX_LEVELS
        return level == 0 or self.points_at(level) <= max_points

    def measure(self, level: int) -> ExitAngleMeasure:
        """The exit-angle measure at ``level`` (computed on first use, by one thread at a time:
        each level extends the one below it)."""
        if level < len(self._levels):
            return self._levels[level]
        with self._lock:
            while len(self._levels) <= level:
                self._levels.append(self._next_level())
        return self._levels[level]

    def _next_level(self) -> ExitAngleMeasure:
        level = len(self._levels)
        if self.deterministic:
            return self._deterministic(1 << level)
        n_trials = self.cells.weight.shape[0]
        if level == 0:
            measure = ExitAngleMeasure(self.rank, (n_trials, N_SHIFTS))
            start, stop = 0, self.points
        else:
            measure = self._levels[-1].copy()
            start, stop = self.per_shift(level - 1), self.per_shift(level)
            measure.scale(start / stop)
        w, density = _sphere_points(self._lattice.points(start, stop), self.rank - 1)  # (r - 1, shifts * count)
        count = stop - start
        density = density.reshape(1, N_SHIFTS, count) / stop
        # Inactive constraints get -inf added: max_j over contiguous rows, one j at a time.
        offset = np.where(self.cells.active, 0.0, -np.inf)  # (T, M, J)
        for i in range(self.cells.weight.shape[1]):
            x = np.matmul(self.cells.b[:, i], w)  # (T, J, shifts * count)
            beta = x[:, 0] + offset[:, i, 0, None]
            for j in range(1, x.shape[1]):
                np.maximum(beta, x[:, j] + offset[:, i, j, None], out=beta)
            weight = self.cells.weight[:, i, None, None] * density
            measure.add(beta.reshape(n_trials, N_SHIFTS, count), weight)
        return measure

    def _deterministic(self, factor: int) -> ExitAngleMeasure:
        n_trials = self.cells.weight.shape[0]
        kind: Kind = "antiderivative" if self.rank == 4 else "tail"
        measure = ExitAngleMeasure(self.rank, (n_trials, 2), kind)
        if self.rank == 2:
            trial, beta, weight = _rank_two(self.cells)
            for fixed in (0, 1):
                measure.add(beta, weight, trial, fixed)
            return measure
        points = _rank_three if self.rank == 3 else _rank_four
        trial, beta, weight, estimate = points(self.cells, _paired_rule(_ORDERS[self.rank], factor), self._turn)
        measure.add(beta, weight, trial, estimate)
        return measure


def _sphere_points(x: FloatArray, dim: int) -> tuple[FloatArray, FloatArray]:
    """Points of the unit cube (lattice dimensions, n) mapped to points (dim, n) on the unit
    sphere of R^dim, with the density of the sphere's uniform law against the cube's at each.

    dim 4: Hopf coordinates ``(r cos 2 pi x_1, r sin 2 pi x_1, s cos 2 pi x_2, s sin 2 pi x_2)``
    with ``s^2 = 1 - r^2 = p(x_0)``, ``p(t) = t^2 (3 - 2 t)`` and density ``p'(t) = 6 t (1 - t)``:
    the uniform ``s^2`` of the equal-volume map, periodised so that the integrand is
    periodic in every coordinate and the lattice points need no tent transform (which
    folds the angles). Against ``s^2 = x_0`` with the tent on every coordinate, the spread
    of the shifts at 1024 to 4096 points per shift is about ten times smaller on
    DoseFinding's 6-contrast example. Otherwise normalised Gaussian points, density 1.
    """
    if dim == 4:
        t = x[0]
        square = t * t * (3.0 - 2.0 * t)
        density = 6.0 * t * (1.0 - t)
        points = np.empty((4, x.shape[1]))
        for row, (radius, angle) in enumerate(((np.sqrt(1.0 - square), x[1]), (np.sqrt(square), x[2]))):
            angle = angle * (2 * math.pi)
            np.cos(angle, out=points[2 * row])
            np.sin(angle, out=points[2 * row + 1])
            points[2 * row : 2 * row + 2] *= radius
        return points, density
    z = special.ndtri(x.clip(1e-17, 1.0 - 1e-16))
    return z / np.sqrt(np.einsum("ij,ij->j", z, z)), np.ones(x.shape[1])


@lru_cache(maxsize=16)
def _paired_rule(orders: tuple[int, int], factor: int) -> tuple[FloatArray, FloatArray, NDArray[np.intp]]:
    """The fine and the coarse Gauss-Legendre rules on [-1, 1] (orders times ``factor``) side by
    side: nodes, weights and the estimate (0 fine, 1 coarse) of each node."""
    rules = [np.polynomial.legendre.leggauss(order * factor) for order in orders]
    return (np.concatenate([x for x, _ in rules]), np.concatenate([w for _, w in rules]),
            np.repeat(np.arange(2), [x.size for x, _ in rules]))


def _complement_basis(a: FloatArray) -> FloatArray:
    """Orthonormal bases (..., r, r - 1) of the complements of unit vectors a (..., r): the
    last r - 1 columns of the Householder reflection that maps a to a multiple of e_1."""
    r = a.shape[-1]
    sign = np.where(a[..., :1] >= 0, 1.0, -1.0)
    v = a.copy()
    v[..., :1] += sign
    reflection = np.eye(r) - 2.0 * v[..., :, None] * v[..., None, :] / np.einsum("...i,...i->...", v, v)[
        ..., None, None]
    return reflection[..., :, 1:]


def _rank_two(cells: CellVectors) -> tuple[NDArray[np.intp], FloatArray, FloatArray]:
    """w = +1 and -1, each with probability 1/2."""
    b = cells.b[..., 0]  # (T, M, J)
    beta = np.stack([cells.maximum(b), cells.maximum(-b)], axis=-1)  # (T, M, 2)
    weight = np.broadcast_to(0.5 * cells.weight[..., None], beta.shape)
    trial = np.broadcast_to(np.arange(b.shape[0])[:, None, None], beta.shape)
    return trial.reshape(-1), beta.reshape(-1), weight.reshape(-1)


def _intervals(breaks: FloatArray, period: float, turn: float) -> tuple[FloatArray, FloatArray]:
    """Consecutive break angles (..., P) on a circle of length ``period`` cut into P + 1
    intervals (low, high), measured from ``turn``."""
    breaks = np.sort(np.mod(breaks - turn, period), axis=-1)
    shape = breaks.shape[:-1]
    edges = np.concatenate([np.zeros(shape + (1,)), breaks, np.full(shape + (1,), period)], axis=-1)
    return edges[..., :-1] + turn, edges[..., 1:] + turn


def _gauss_nodes(low: FloatArray, high: FloatArray, rule: tuple[FloatArray, FloatArray, NDArray[np.intp]]
                 ) -> tuple[FloatArray, FloatArray]:
    """Nodes and weights (..., G) of a rule on [-1, 1] (see :func:`_paired_rule`) on each interval (low, high)."""
    x, w, _ = rule
    half = 0.5 * (high - low)[..., None]
    return low[..., None] + half * (1.0 + x), half * w


def _pair_breaks(coef_x: FloatArray, coef_y: FloatArray, usable: BoolArray) -> FloatArray:
    """Angles where ``coef_x[j] cos + coef_y[j] sin`` of two constraints are equal (2 per pair)."""
    j = coef_x.shape[-1]
    pairs = np.array(list(combinations(range(j), 2)), dtype=np.intp).reshape(-1, 2)
    dx = coef_x[..., pairs[:, 0]] - coef_x[..., pairs[:, 1]]
    dy = coef_y[..., pairs[:, 0]] - coef_y[..., pairs[:, 1]]
    angle = np.arctan2(dy, dx)
    ok = usable[..., pairs[:, 0]] & usable[..., pairs[:, 1]]
    angle = np.where(ok, angle, 0.0)
    return np.concatenate([angle + math.pi / 2, angle - math.pi / 2], axis=-1)


def _level_breaks(coef_x: FloatArray, coef_y: FloatArray, levels: FloatArray, usable: BoolArray) -> FloatArray:
    """Angles where ``coef_x[j] cos + coef_y[j] sin`` equals each level (levels broadcast to
    (..., J, L)): 2 per level reached, as (..., 2 J L)."""
    amplitude = np.hypot(coef_x, coef_y)[..., None]
    centre = np.arctan2(coef_y, coef_x)[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = levels / amplitude
    ok = usable[..., None] & (np.abs(ratio) <= 1.0)
    spread = np.arccos(np.where(ok, ratio, 1.0))
    pieces = [np.where(ok, centre + spread, 0.0), np.where(ok, centre - spread, 0.0)]
    return np.concatenate([p.reshape(p.shape[:-2] + (-1,)) for p in pieces], axis=-1)


def _rank_three(cells: CellVectors, rule: tuple[FloatArray, FloatArray, NDArray[np.intp]], turn: float) -> tuple[
        NDArray[np.intp], FloatArray, FloatArray, NDArray[np.intp]]:
    """w = (cos omega, sin omega): beta is the largest of the sinusoids ``b_ij . w``, one of
    them between two consecutive crossings (decided at the middle of each interval); the
    paired rule is applied on the pieces between those crossings and the angles where the
    largest crosses 0 or a level. The points (trial, beta, weight, estimate)."""
    b = cells.b  # (T, M, J, 2)
    bx, by = b[..., 0], b[..., 1]
    active = cells.active
    low, high = _intervals(_pair_breaks(bx, by, active), 2 * math.pi, turn)  # (T, M, P + 1)
    middle = 0.5 * (low + high)
    x = bx[:, :, None, :] * np.cos(middle)[..., None] + by[:, :, None, :] * np.sin(middle)[..., None]
    binding = np.where(active[:, :, None, :], x, -np.inf).argmax(axis=-1)  # (T, M, P + 1)
    where = np.nonzero((high > low) & (cells.weight > 0)[..., None] & np.any(active, axis=-1)[..., None])
    owner = where[:2]
    pick = binding[where][:, None]
    bx, by = np.take_along_axis(bx[owner], pick, axis=-1), np.take_along_axis(by[owner], pick, axis=-1)  # (F, 1)
    levels = np.concatenate([-_LEVELS[::-1], [0.0], _LEVELS])
    low, high, piece = _level_cuts(bx, by, np.broadcast_to(levels, (bx.shape[0], levels.size)), low[where],
                                   high[where])
    omega, quad = _gauss_nodes(low, high, rule)  # (F, G)
    beta = bx[piece] * np.cos(omega) + by[piece] * np.sin(omega)
    weight = quad * (cells.weight[owner][piece] / (2 * math.pi))[:, None]
    trial = np.repeat(where[0][piece], omega.shape[1])
    return trial, beta.reshape(-1), weight.reshape(-1), np.tile(rule[2], omega.shape[0])


def _rank_four(cells: CellVectors, rule: tuple[FloatArray, FloatArray, NDArray[np.intp]], turn: float) -> tuple[
        NDArray[np.intp], FloatArray, FloatArray, NDArray[np.intp]]:
    """Interval ends ``y = |b_ij| cos(psi)`` with weights +-(longitude weight) / (4 pi |b_ij|),
    for every cell i and pole j at once; the points (trial, y, weight, estimate) of the paired rule.

    The upper and lower bounds of psi on the meridian are set by one constraint each
    between two consecutive crossings of constraints (the pair breaks): which ones, and
    whether the meridian meets the region of pole j at all, is decided at the middle of
    each such interval. The rules are applied to the intervals that meet it only, cut
    where either binding constraint crosses a level of y.
    """
    b = cells.b  # (T, M, J, 3)
    n_constraints = b.shape[2]
    rest = _others(n_constraints)
    norm = np.linalg.norm(b, axis=-1)  # (T, M, J)
    pole_ok = cells.active & (norm > 0)
    safe_norm = np.where(pole_ok, norm, 1.0)
    pole = np.where(pole_ok[..., None], b / safe_norm[..., None], np.array([1.0, 0.0, 0.0]))
    basis = _complement_basis(pole)  # (T, M, J, 3, 2)
    others = b[:, :, rest]  # (T, M, J, K, 3)
    usable = cells.active[:, :, rest] & pole_ok[..., None]
    d = norm[..., None] - np.einsum("tmjkr,tmjr->tmjk", others, pole)
    d = np.where(d == 0.0, 1e-300, d)
    # Constraint k on the meridian omega: t_k = (u_k cos omega + v_k sin omega) / d_k, and
    # psi <= arccot(t_k) if d_k > 0, psi >= arccot(t_k) if d_k < 0.
    ux = np.einsum("tmjkr,tmjr->tmjk", others, basis[..., 0]) / d
    vy = np.einsum("tmjkr,tmjr->tmjk", others, basis[..., 1]) / d
    low, high = _intervals(_pair_breaks(ux, vy, usable), 2 * math.pi, turn)  # (T, M, J, P + 1)
    # psi_hi = arccot(upper), upper = max t_k over d_k > 0 (none: -inf, psi_hi = pi);
    # psi_lo = arccot(lower), lower = min t_k over d_k < 0 (none: +inf, psi_lo = 0).
    middle = 0.5 * (low + high)
    t = ux[..., None, :] * np.cos(middle)[..., None] + vy[..., None, :] * np.sin(middle)[..., None]
    t_upper = np.where((usable & (d > 0))[..., None, :], t, -np.inf)
    t_lower = np.where((usable & (d < 0))[..., None, :], t, np.inf)
    k_upper, k_lower = t_upper.argmax(axis=-1), t_lower.argmin(axis=-1)
    upper = np.take_along_axis(t_upper, k_upper[..., None], axis=-1)[..., 0]
    lower = np.take_along_axis(t_lower, k_lower[..., None], axis=-1)[..., 0]
    scale = cells.weight[:, :, None] * pole_ok / safe_norm / (4 * math.pi)
    where = np.nonzero((lower > upper) & (high > low) & (scale > 0)[..., None])
    owner = where[:3]
    # The binding constraints of each kept interval as sinusoids plus an offset (-inf or
    # +inf for none): columns (upper, lower).
    pick = np.stack([k_upper[where], k_lower[where]], axis=-1)  # (F, 2)
    ux = np.take_along_axis(ux[owner], pick, axis=-1)
    vy = np.take_along_axis(vy[owner], pick, axis=-1)
    offset = np.stack([np.where(np.isfinite(upper[where]), 0.0, -np.inf),
                       np.where(np.isfinite(lower[where]), 0.0, np.inf)], axis=-1)
    ux, vy = np.where(np.isfinite(offset), ux, 0.0), np.where(np.isfinite(offset), vy, 0.0)
    low, high, scale, length = low[where], high[where], scale[owner], norm[owner]  # (F,)
    # Cut where a binding constraint crosses a level of y (H_q's scale) or of t (t = +-i,
    # where y is singular, lies at imaginary distance asinh(1 / amplitude) from t = 0).
    y_levels = np.concatenate([-_LEVELS[::-1], [0.0], _LEVELS])
    with np.errstate(invalid="ignore", divide="ignore"):
        t_levels = np.where(np.abs(y_levels) < length[:, None],
                            y_levels / np.sqrt(np.maximum(length[:, None] ** 2 - y_levels**2, 0.0)), np.inf)
    t_levels = np.concatenate([t_levels, np.broadcast_to(_T_LEVELS, (length.size, _T_LEVELS.size))], axis=-1)
    low, high, owner_index = _level_cuts(ux, vy, t_levels, low, high)
    ux, vy, offset, scale, length = ux[owner_index], vy[owner_index], offset[owner_index], scale[owner_index], \
        length[owner_index]
    omega, quad = _gauss_nodes(low, high, rule)  # (F, G)
    bound = ux[:, None, :] * np.cos(omega)[..., None] + vy[:, None, :] * np.sin(omega)[..., None] + offset[:, None]
    # y at psi_hi (weight -1), then at psi_lo (the larger y, weight +1), for each node.
    y = length[:, None, None] * _cos_arccot(bound)  # (F, G, 2)
    weight = np.where(bound[..., 1:] > bound[..., :1], (quad * scale[:, None])[..., None] * _ENDS, 0.0)
    trial = np.repeat(where[0][owner_index], 2 * omega.shape[1])
    return trial, y.reshape(-1), weight.reshape(-1), np.tile(np.repeat(rule[2], 2), omega.shape[0])


def _level_cuts(ux: FloatArray, vy: FloatArray, levels: FloatArray, low: FloatArray,
                high: FloatArray) -> tuple[FloatArray, FloatArray, NDArray[np.intp]]:
    """Intervals (low, high) of angle (F,) cut where one of their binding sinusoids
    ``ux cos + vy sin`` (F, C) crosses one of its levels (F, L; +inf for none): the pieces
    (low, high) and the interval each belongs to."""
    crossings = _level_breaks(ux, vy, levels[:, None, :], np.ones(ux.shape, dtype=bool))  # (F, 2 C L)
    turns = (crossings - low[:, None]) * (1 / (2 * math.pi))
    inside = low[:, None] + (turns - np.floor(turns)) * (2 * math.pi)
    edges = np.sort(np.concatenate([low[:, None], np.where(inside < high[:, None], inside, high[:, None]),
                                    high[:, None]], axis=-1), axis=-1)
    piece_low, piece_high = edges[:, :-1], edges[:, 1:]
    keep = np.nonzero(piece_high > piece_low)
    piece_low, piece_high, owner = piece_low[keep], piece_high[keep], keep[0]
    # Pieces longer than _LONGEST are split evenly.
    parts = np.ceil((piece_high - piece_low) * (1 / _LONGEST)).astype(np.intp)
    if np.all(parts == 1):
        return piece_low, piece_high, owner
    index = np.repeat(np.arange(parts.size), parts)
    step = (piece_high - piece_low)[index] / parts[index]
    part = np.arange(index.size) - np.repeat(np.cumsum(parts) - parts, parts)
    start = piece_low[index] + part * step
    return start, np.where(part == parts[index] - 1, piece_high[index], start + step), owner[index]


def _others(n: int) -> NDArray[np.intp]:
    """For each of n constraints, the indices of the others (n, n - 1)."""
    return np.array([[k for k in range(n) if k != j] for j in range(n)], dtype=np.intp).reshape(n, n - 1)


def _cos_arccot(t: FloatArray) -> FloatArray:
    """cos(arccot t) = t / sqrt(1 + t^2), with +-inf giving +-1."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(np.isinf(t), np.sign(t), t / np.sqrt(1.0 + t * t))
