"""The distribution of the maximum statistic from the exit angles of its cells.

Write a central multivariate t (or normal) vector of rank r as ``T = rho * A u``: u uniform
on the unit sphere of R^r, ``rho^2`` chi-square(r) or r * F(r, df) (:mod:`~dosefinding.mcp.radial`),
and the rows ``a_i`` of A unit vectors (``A A'`` is the correlation). Split the sphere into
the cells ``C_i`` where ``a_i . u`` is the largest coordinate. Inside ``C_i``, on the great
half-circle leaving ``a_i`` in the direction w (a unit vector orthogonal to ``a_i``),
``max_j a_j . u = cos(theta)`` at angle theta from ``a_i``, and the half-circle leaves the
cell at the exit angle ``phi_i(w) = arccot(beta_i(w))``, ``beta_i(w) = max_{j != i} b_ij . w``,
``b_ij = (a_j)_perp / (1 - a_i . a_j)``. The radius and theta are integrated exactly:

    P(max_i T_i > q) = (1 / Z_r) sum_i E_w[ H_q(phi_i(w)) ],
    H_q(phi) = int_0^min(phi, pi/2) P(rho^2 > q^2 / cos^2 theta) sin^(r-2) theta dtheta,

with ``Z_r = int_0^pi sin^(r-2)``; and ``P(max_i T_i <= q) = (1 / Z_r) sum_i E_w[H_q(phi_i(w))]``
for q < 0, with theta over (pi/2, phi_i) instead. Only the law of the exit angles depends
on the correlation; the degrees of freedom and q enter through H_q alone.

:class:`ExitAngleMeasure` stores that law, compressed: each point (a value of beta with its
weight) is spread over the two nodes of its cell of a grid in ``v = asinh(beta / BETA_0)``
by the cubic Hermite basis, so that the sum over the points of any function f of v equals
``sum_n W0_n f(v_n) + W1_n f'(v_n)``, exactly for the cubic Hermite interpolant of f.
Evaluating a probability then costs one pass over the grid, whatever the number of points
(:mod:`~dosefinding.mcp.cells` computes them). For rank 4 the points are the ends of
intervals of ``y = beta`` and f is ``Phi_q(y) = int_0^y H_q(arccot t) dt``
(``kind="antiderivative"``).

Several estimates are kept side by side (axis ``estimates``): the randomly shifted
lattices of quasi-Monte Carlo, or a fine and a coarse deterministic rule; see
:func:`summarise_estimates`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from dosefinding.mcp.radial import SquaredRadiusTail, squared_radius_tail

__all__ = [
    "BETA_0",
    "GRID_ERROR",
    "Q_SMALL",
    "ExitAngleMeasure",
    "Kind",
    "TailIntegrals",
    "sphere_constant",
    "summarise_estimates",
    "tail_integrals",
]

FloatArray = NDArray[np.float64]
Kind = Literal["tail", "antiderivative"]

# The grid: v = asinh(beta / BETA_0) in steps of _STEP up to beta = +-1e8 (exit angles
# within 1e-8 of 0 or pi, where H is constant to that order). Near beta = 0 (theta near
# pi/2, where q ~ 0 puts all the variation) the step in beta is BETA_0 * _STEP = 8e-5;
# for large beta it is 4% of beta.
BETA_0 = 0.002
_STEP = 0.04
_HALF = math.ceil(math.asinh(1e8 / BETA_0) / _STEP)
_NODES = 2 * _HALF + 1
# |q| below this is interpolated (the tail integrand's scale near theta = pi/2 is q).
Q_SMALL = 1e-3
# Bound on the error of the grid itself (cubic Hermite and Simpson in v), common to every
# estimate and so not seen in their spread: probabilities differ from those of a grid four
# times finer by at most 3e-8 (rank 4, the antiderivative, is the worst), and from the exact
# references of tests/mcp/test_exit_angles.py by less than this bound.
GRID_ERROR = 1e-7


@dataclass(frozen=True)
class _Grid:
    """Nodes (n) and midpoints (m) of the v grid, with what the tail integrals need there."""

    v: FloatArray  # nodes, then midpoints
    beta: FloatArray
    jacobian: FloatArray  # |d phi / d v|
    cosh: FloatArray  # d beta / d v
    log_ratio: FloatArray  # log(1 + 1 / beta^2) = log(1 / cos^2 phi)
    angle: FloatArray  # phi


@lru_cache(maxsize=1)
def _grid() -> _Grid:
    nodes = (np.arange(_NODES) - _HALF) * _STEP
    v = np.concatenate([nodes, nodes[:-1] + _STEP / 2])
    beta = BETA_0 * np.sinh(v)
    with np.errstate(divide="ignore"):
        log_ratio = np.log1p(1.0 / (beta * beta))
    return _Grid(
        v=v,
        beta=beta,
        jacobian=BETA_0 * np.cosh(v) / (1.0 + beta * beta),
        cosh=BETA_0 * np.cosh(v),
        log_ratio=log_ratio,
        angle=np.arctan2(1.0, beta),
    )


def sphere_constant(rank: int) -> float:
    """``Z_r = int_0^pi sin(t)^(r-2) dt``, the normaliser of the angle from a fixed direction.

    Examples
    --------
    >>> round(sphere_constant(3), 12), round(sphere_constant(4) / math.pi, 12)
    (2.0, 0.5)
    """
    return math.sqrt(math.pi) * math.exp(math.lgamma((rank - 1) / 2) - math.lgamma(rank / 2))


class ExitAngleMeasure:
    """The compressed law of the exit angles of many correlation matrices at once.

    Parameters
    ----------
    rank : int
        Rank r of the correlations (the dimension of u).
    shape : tuple of int
        ``(trials, estimates)``: one measure per trial, several estimates of each.
    kind : {"tail", "antiderivative"}
        Whether the points are values of beta weighted for H_q (``"tail"``) or interval
        ends weighted for Phi_q (``"antiderivative"``, rank 4).

    Examples
    --------
    >>> m = ExitAngleMeasure(2, (1, 1))
    >>> m.add(np.full((1, 1, 2), -np.inf), np.full((1, 1, 2), 0.5))  # one vector: one cell
    >>> round(float(m.upper_tail(np.array([[1.959964]]), np.inf)[0, 0, 0]), 6)  # P(T > 1.96)
    0.025
    """

    def __init__(self, rank: int, shape: tuple[int, int], kind: Kind = "tail") -> None:
        self.rank = rank
        self.kind = kind
        self.n_points = 0
        self.w0 = np.zeros(shape + (_NODES,))
        self.w1_right = np.zeros(shape + (_NODES,))
        self.w1_left = np.zeros(shape + (_NODES,))
        self.linear = np.zeros(shape)
        self._below_cache: dict[tuple[int, int], FloatArray] = {}

    @property
    def shape(self) -> tuple[int, int]:
        """``(trials, estimates)``."""
        return self.linear.shape

    def trials(self, rows: NDArray[np.intp]) -> ExitAngleMeasure:
        """The measure of some of the trials only."""
        other = ExitAngleMeasure(self.rank, (len(rows), self.shape[1]), self.kind)
        for name in ("w0", "w1_right", "w1_left", "linear"):
            setattr(other, name, getattr(self, name)[rows])
        other.n_points = self.n_points
        return other

    def copy(self) -> ExitAngleMeasure:
        """An independent copy."""
        other = ExitAngleMeasure(self.rank, self.shape, self.kind)
        for name in ("w0", "w1_right", "w1_left", "linear"):
            getattr(other, name)[...] = getattr(self, name)
        other.n_points = self.n_points
        return other

    def scale(self, factor: float) -> None:
        """Multiply every weight by ``factor`` (before adding more points of a finer average)."""
        for array in (self.w0, self.w1_right, self.w1_left, self.linear):
            array *= factor
        self._below_cache.clear()

    def add(self, beta: FloatArray, weight: FloatArray, trial: NDArray[np.intp] | None = None,
            estimate: int | NDArray[np.intp] | None = None) -> None:
        """Add points beta with their weights.

        Either (trials, estimates, n) arrays, or flat arrays of points with the ``trial``
        (array) and ``estimate`` (int or array) each belongs to. Weights are in units of
        ``1 / Z_r`` of probability: ``sum(weight * f(beta))`` becomes ``Z_r`` times the
        probability.
        """
        trials, estimates = self.shape
        # The (trial, estimate) slot of each point, broadcast against beta only where needed.
        if trial is None:
            slot = np.arange(trials * estimates).reshape(trials, estimates, 1)
        else:
            assert estimate is not None, "flat points need both their trial and their estimate"
            slot = trial * estimates + estimate
        # Position on the grid: cell (its left node) and t in [0, 1] within it.
        t = np.clip(beta, -1e8, 1e8)
        t *= 1.0 / BETA_0
        np.arcsinh(t, out=t)
        t *= 1.0 / _STEP
        t += _HALF
        cell = np.floor(t)
        np.clip(cell, 0, _NODES - 2, out=cell)
        t -= cell
        np.clip(t, 0.0, 1.0, out=t)
        index = cell.astype(np.intp)
        index += slot * _NODES
        # The Hermite basis functions are cubics in t: spread the moments sum w t^k (k = 0..3)
        # of each grid cell, then combine them on the (few) nodes.
        size = trials * estimates * _NODES
        shape = self.w0.shape
        at = index.reshape(-1)
        moment = np.broadcast_to(weight, beta.shape).reshape(-1)
        t = t.reshape(-1)
        s0 = np.bincount(at, moment, size)
        moment = moment * t
        s1 = np.bincount(at, moment, size)
        moment *= t
        s2 = np.bincount(at, moment, size)
        moment *= t
        s3 = np.bincount(at, moment, size).reshape(shape)
        s0, s1, s2 = s0.reshape(shape), s1.reshape(shape), s2.reshape(shape)
        # Left node: (1 - t)^2 (1 + 2 t) and (1 - t)^2 t; right node: t^2 (3 - 2 t) and -t^2 (1 - t).
        self.w0 += s0 - 3.0 * s2 + 2.0 * s3
        self.w0[..., 1:] += (3.0 * s2 - 2.0 * s3)[..., :-1]
        self.w1_right += (s1 - 2.0 * s2 + s3) * _STEP
        self.w1_left[..., 1:] -= (s2 - s3)[..., :-1] * _STEP
        if self.kind == "antiderivative":
            negative = beta < 0
            self.linear += np.bincount(np.broadcast_to(slot, beta.shape)[negative], (weight * beta)[negative],
                                       trials * estimates).reshape(self.shape)
        self.n_points += int(beta.size)
        self._below_cache.clear()

    def upper_tail(self, q: FloatArray, df: float, two_sided: bool = False) -> FloatArray:
        """``P(max_i T_i > q)`` (``P(max_i |T_i| > q)`` for a two-sided measure, whose cells
        are those of +-a_i) of shape (trials, estimates, nq), for each trial's own q (trials, nq).

        Examples
        --------
        >>> m = ExitAngleMeasure(2, (1, 1))
        >>> m.add(np.full((1, 1, 2), -np.inf), np.full((1, 1, 2), 0.5))  # one vector: one cell
        >>> round(float(m.upper_tail(np.array([[-1.0]]), np.inf)[0, 0, 0]), 6)  # P(T > -1)
        0.841345
        """
        q = np.asarray(q, dtype=float)
        if two_sided:
            positive = q > 0
            q = np.where(positive, q, 1.0)
        # Where |q| < Q_SMALL the grid cannot resolve the tail integrand: interpolate.
        small = np.abs(q) < Q_SMALL
        integrals = self._integrals(np.where(small, np.where(q < 0, -Q_SMALL, Q_SMALL), q), df)
        # For q > 0 the integral is P(max > q); for q < 0 it is P(max <= q).
        upper = np.where(q[:, None, :] > 0, integrals, 1.0 - integrals)
        if small.any():
            edge = np.full(q.shape, Q_SMALL)
            below_edge = 1.0 - self._integrals(edge, df)  # P(max <= Q_SMALL)
            if two_sided:
                # P(max |T| <= q) is proportional to q^r near 0.
                near = 1.0 - below_edge * ((q / Q_SMALL) ** self.rank)[:, None, :]
            else:
                # The distribution function is smooth at 0 (and exact there, where the
                # integrand's jump falls on a node): quadratic through -Q_SMALL, 0, Q_SMALL.
                at_minus = self._integrals(-edge, df)
                at_zero = self._integrals(np.zeros(q.shape), df)
                x = (q / Q_SMALL)[:, None, :]
                cdf = at_zero + 0.5 * x * (below_edge - at_minus) + 0.5 * x * x * (below_edge + at_minus - 2 * at_zero)
                near = 1.0 - cdf
            upper = np.where(small[:, None, :], near, upper)
        if two_sided:
            upper = np.where(positive[:, None, :], upper, 1.0)
        return upper

    def _integrals(self, q: FloatArray, df: float) -> FloatArray:
        """``sum_points weight * f_q(point) / Z_r`` for each (trial, estimate, q)."""
        tails = tail_integrals(q, self.rank, df, self.kind)
        start = tails.start
        total = np.einsum("tsn,tkn->tsk", self.w0[..., start:], tails.f)
        total += np.einsum("tsn,tkn->tsk", self.w1_right[..., start:], tails.right)
        total += np.einsum("tsn,tkn->tsk", self.w1_left[..., start:], tails.left)
        if start:
            # Below the window f is the plateau H_q(pi/2) (kind "tail"), or H_q(pi/2) * beta for
            # beta >= 0 and 0 below (the bounded part of Phi_q, kind "antiderivative").
            total += self._below(start)[:, :, None] * tails.plateau[:, None, :]
        if self.kind == "antiderivative":
            total += self.linear[:, :, None] * tails.plateau[:, None, :]
        return total / sphere_constant(self.rank)

    def _below(self, start: int) -> FloatArray:
        """The weights' pairing with f = 1 (tail) or f = beta, beta >= 0 (antiderivative) on nodes below ``start``."""
        key = (start, self.n_points)
        if key not in self._below_cache:
            self._below_cache[key] = self._pairing_below(start)
        return self._below_cache[key]

    def _pairing_below(self, start: int) -> FloatArray:
        grid = _grid()
        if self.kind == "tail":
            return self.w0[..., :start].sum(axis=-1)
        zero = _HALF
        beta, slope = grid.beta[zero:start], grid.cosh[zero:start]
        total = self.w0[..., zero:start] @ beta + (self.w1_right[..., zero:start] + self.w1_left[..., zero:start]) @ slope
        # Below beta = 0 the bounded part is 0: no left slope at the zero node.
        return total - self.w1_left[..., zero] * grid.cosh[zero]


@dataclass(frozen=True)
class TailIntegrals:
    """f_q on the grid nodes from ``start`` on, with its right and left derivatives in v.

    ``plateau`` is H_q(pi/2) for q > 0, the value of H_q below the window (and the factor
    H_q(pi) of the linear part of Phi_q); the window starts at 0 unless every q > 0.
    """

    start: int
    f: FloatArray
    right: FloatArray
    left: FloatArray
    plateau: FloatArray


@dataclass(frozen=True)
class _Window:
    """Grid values on the nodes from ``start`` on, with the midpoints interleaved (node, mid, node, ...)."""

    log_ratio: FloatArray
    weight: FloatArray  # sin^(r-2) phi * |d phi / d v|
    top: float  # sin^(r-2) phi * phi / (r - 1) at the last node: H above the grid per unit of Q
    beta: FloatArray
    cosh: FloatArray  # d beta / d v


@lru_cache(maxsize=1024)
def _window(start: int, rank: int) -> _Window:
    grid = _grid()
    nodes = np.arange(start, _NODES)
    points = np.empty(2 * nodes.size - 1, dtype=np.intp)
    points[0::2] = nodes
    points[1::2] = _NODES + nodes[:-1]
    beta = grid.beta[points]
    sine = (1.0 + beta * beta) ** (-(rank - 2) / 2)
    return _Window(
        log_ratio=grid.log_ratio[points],
        weight=sine * grid.jacobian[points],
        top=float(sine[-1] * grid.angle[_NODES - 1] / max(rank - 1, 1)),
        beta=beta,
        cosh=grid.cosh[points],
    )


def tail_integrals(q: FloatArray, rank: int, df: float, kind: Kind) -> TailIntegrals:
    """f_q at the grid nodes for each q of an array (trials, nq): H_q (``kind="tail"``, see
    the module docstring) or the bounded part of Phi_q (``"antiderivative"``), whose linear
    part is ``H_q(pi) * beta`` for beta < 0.

    For q > 0 the integrand vanishes (below 1e-20) where ``q^2 / cos^2 phi`` is large: the
    nodes below that, where H_q is constant, are left out.
    """
    shape = q.shape
    flat = q.reshape(-1)
    n = _NODES
    radial = squared_radius_tail(rank, df)
    start = 0
    if flat.size and flat.min() > 0:
        # log_ratio decreases with v above beta = 0: the first node where the smallest q's
        # integrand is non-negligible, less one.
        threshold = radial.log_max - 2.0 * math.log(float(flat.min()))
        start = _HALF + 1 + int(np.searchsorted(-_grid().log_ratio[_HALF + 1 : n], -threshold))
        start = max(_HALF + 1, min(start - 1, n - 2))
    window = _window(start, rank)
    if start:
        # Every point lies above beta = 0, and log x >= 2 log Q_SMALL is inside the table;
        # above log_max the tail is below 1e-20, so clipping there costs nothing.
        log_x = np.minimum(2.0 * np.log(flat)[:, None] + window.log_ratio[None, :], radial.log_max)
        values = radial(log_x)
    else:
        values = _tail_values(flat, radial, window)
    g = values * window.weight  # -dH/dv at nodes (even) and midpoints (odd)
    at_nodes = g[:, 0::2]
    below_zero = at_nodes
    if start == 0 and np.any(flat == 0):
        # At q = 0 the integrand jumps at beta = 0 (theta = pi/2): 0 above, sin^(r-2) = 1 below.
        below_zero = at_nodes.copy()
        below_zero[:, _HALF] = np.where(flat == 0, _grid().jacobian[_HALF], at_nodes[:, _HALF])
    # H from the top (phi = 0, v = +V) down: Simpson on each cell, plus the sliver above.
    cells = at_nodes[:, :-1] + 4.0 * g[:, 1::2] + below_zero[:, 1:]
    cells *= _STEP / 6.0
    m = at_nodes.shape[1]
    top = values[:, -1] * window.top
    h = np.empty((flat.size, m))
    h[:, -1] = top
    np.cumsum(cells[:, ::-1], axis=1, out=h[:, -2::-1])
    h[:, :-1] += top[:, None]
    right, left = -at_nodes, -below_zero
    plateau = h[:, 0]
    if kind == "antiderivative":
        h, right, left = _antiderivative(h, right, left, start, window)
    return TailIntegrals(start, h.reshape(shape + (m,)), right.reshape(shape + (m,)), left.reshape(shape + (m,)),
                         plateau.reshape(shape))


def _tail_values(q: FloatArray, radial: SquaredRadiusTail, window: _Window) -> FloatArray:
    """Q(q^2 / cos^2 phi) on the whole grid, on the half where the integrand lives (beta > 0
    for q > 0, beta < 0 otherwise) and 0 elsewhere."""
    beta = window.beta
    with np.errstate(divide="ignore", invalid="ignore"):  # q = 0 gives log x = -inf (nan at beta = 0)
        log_x = 2.0 * np.log(np.abs(q))[:, None] + window.log_ratio[None, :]
    lives = np.where((q > 0)[:, None], (beta > 0)[None, :], (beta < 0)[None, :])
    values = np.zeros(log_x.shape)
    inside = lives & (log_x <= radial.log_max)
    values[inside] = radial(log_x[inside])
    return values


def _antiderivative(h: FloatArray, right_slope: FloatArray, left_slope: FloatArray, start: int,
                    window: _Window) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The bounded part of Phi_q(beta) = int_0^beta H_q(arccot t) dt on the nodes from ``start``.

    For beta > 0 it is ``int_0^v H beta'(v) dv``; for beta < 0, ``Phi_q = H_q(pi) beta +
    int_v^0 (H_q(pi) - H) beta'(v) dv``. Both parts vanish at beta = 0. A window starting
    above beta = 0 (q > 0) has H = H_q(pi) below it, so the bounded part is
    ``H_q(pi) * beta`` at its start.
    """
    beta, cosh, cosh_mid = window.beta[0::2], window.cosh[0::2], window.cosh[1::2]
    h_pi = h[:, :1]
    # H at the midpoints from its cubic Hermite interpolant (values and slopes in v).
    h_mid = 0.5 * (h[:, :-1] + h[:, 1:]) + (_STEP / 8.0) * (right_slope[:, :-1] - left_slope[:, 1:])
    phi = np.empty(h.shape)
    if start:
        integrand = h * cosh
        cells = integrand[:, :-1] + 4.0 * h_mid * cosh_mid + integrand[:, 1:]
        cells *= _STEP / 6.0
        phi[:, :1] = h_pi * beta[0]
        np.cumsum(cells, axis=1, out=phi[:, 1:])
        phi[:, 1:] += phi[:, :1]
        return phi, integrand, integrand
    above = beta >= 0
    integrand = np.where(above[None, :], h, h_pi - h) * cosh[None, :]
    integrand_mid = np.where(above[None, :-1], h_mid, h_pi - h_mid) * cosh_mid[None, :]
    derivative = np.where(above[None, :], integrand, -integrand)
    zero = _HALF
    # At beta = 0 the integrand jumps (H(0) versus H(pi) - H(0)): one-sided values there.
    right_zero = h[:, zero] * cosh[zero]
    left_zero = (h_pi[:, 0] - h[:, zero]) * cosh[zero]
    begin = integrand[:, :-1].copy()
    end = integrand[:, 1:].copy()
    begin[:, zero] = right_zero
    end[:, zero - 1] = left_zero
    cells = (_STEP / 6.0) * (begin + 4.0 * integrand_mid + end)
    phi[:, zero] = 0.0
    phi[:, zero + 1 :] = np.cumsum(cells[:, zero:], axis=1)
    phi[:, :zero] = np.cumsum(cells[:, :zero][:, ::-1], axis=1)[:, ::-1]
    right = derivative.copy()
    left = derivative
    right[:, zero] = right_zero
    left[:, zero] = -left_zero
    return phi, right, left


def summarise_estimates(values: FloatArray, deterministic: bool) -> tuple[FloatArray, FloatArray]:
    """Value and error over the estimates axis (axis 1 of (trials, estimates, ...)).

    Deterministic rules: the fine rule's value (first) and its difference from the coarse
    one (second); quasi-Monte Carlo: the mean over the shifts and three standard errors.
    Both errors include ``GRID_ERROR``.

    Examples
    --------
    >>> value, error = summarise_estimates(np.array([[[0.5], [0.5 + 1e-7]]]), True)
    >>> float(value[0, 0]), round(float(error[0, 0]), 12)
    (0.5, 2e-07)
    """
    if deterministic:
        return values[:, 0], np.abs(values[:, 0] - values[:, 1]) + GRID_ERROR
    count = values.shape[1]
    mean = values.mean(axis=1)
    error = 3.0 * values.std(axis=1, ddof=1) / math.sqrt(count) + GRID_ERROR
    return mean, error

