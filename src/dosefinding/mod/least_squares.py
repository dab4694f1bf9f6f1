"""Least squares of one dose-response shape: the fitting engine of the Mod step.

Every shape is linear in its leading parameters given the nonlinear ones, so the fit
profiles the linear parameters (and any covariate coefficients) out in closed form and
searches only over the nonlinear ones, within bounds: first on a grid, then locally from
the best grid point (Brent's method for one nonlinear parameter, a bounded Newton search
for two). Both steps follow DoseFinding 1.0-3, so that a fit starts where R starts and
lands where R lands.

One :class:`LeastSquaresProblem` holds one response or a batch of responses, each
optionally with its own covariance (whitener); :func:`fit_least_squares` fits all of them
at once, each response taking the steps that its fit alone would take (the arithmetic
grouped over the batch may differ in the last bits, so a search can stop elsewhere within
its tolerance). The single fit (a batch of one inside the search) of
:func:`~dosefinding.mod.fit_dose_response`, the bootstrap draws of
:func:`~dosefinding.mod.model_average` and the simulated trials of
:func:`~dosefinding.study.power.simulate_power` all go through it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import cast

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from dosefinding.errors import ConvergenceError, InputError
from dosefinding.shapes.library import Shape, default_bounds
from dosefinding.validation import as_covariance, as_doses, as_vector

__all__ = [
    "DEFAULT_GRID_POINTS",
    "LeastSquaresFit",
    "LeastSquaresProblem",
    "check_bounds",
    "check_dose_count",
    "check_grid_points",
    "estimates_problem",
    "fit_least_squares",
    "search_nonlinear",
    "shape_constant",
    "start_grid",
]

FloatArray = NDArray[np.float64]
Rows = slice | NDArray[np.intp]

# The golden-lattice sizes of DoseFinding's getGrid: a two-parameter grid has the
# smallest of these sizes that is at least the requested number of points, and the
# previous size as its generator.
_LATTICE_SIZES = (
    3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597, 2584, 4181, 6765,
    10946, 17711, 28657, 46368, 75025,
)
DEFAULT_GRID_POINTS = {1: 30, 2: 144}
"""Default size of the starting grid by number of nonlinear parameters (R's ``gridSize``)."""
_BRENT_TOLERANCE = float(np.sqrt(np.finfo(float).eps))
# Gauss-Newton steps of a two-parameter search before it turns to Newton's (see _bounded_newton).
_GAUSS_NEWTON_STEPS = 3
# Constants of _bounded_newton: the forward-difference offsets of the three points of an
# evaluation (none, then each parameter's), the 2x2 identity row-major, and the parameters
# whose being held makes entry (k, l) of a row-major 2x2 matrix the identity's.
_TINY = float(np.finfo(float).tiny)
_DIFFERENCE_OFFSETS = np.array([[[0.0, 0.0]], [[1.0, 0.0]], [[0.0, 1.0]]])
_IDENTITY_2X2 = np.array([1.0, 0.0, 0.0, 1.0])
_HELD_ROW, _HELD_COLUMN = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])


@dataclass(frozen=True)
class LeastSquaresProblem:
    """``||W (y - f(dose; theta) - C gamma)||^2 + extra_rss`` with ``f`` linear given ``theta``.

    ``W`` is a diagonal (``row_weights``), a full matrix (``whitener``, ``(n, n)``) or the
    identity. Raw data without covariates are fitted through their dose-group means with
    weights ``sqrt(n)``; ``extra_rss`` is then the within-group sum of squares. Estimates
    with covariance ``S`` have the whitener ``L^-1``, ``S = L L'`` (:meth:`from_covariance`).

    ``y`` may be a batch of responses, shape ``(B, n)`` (the draws of model averaging, the
    trials of a simulation): the profile, the solve and the projected residual then work on
    every row at once, with one row of nonlinear parameters per response. Each response
    may have its own whitener (``whitener`` of shape ``(B, n, n)``, a covariance per
    simulated trial); a subset of the responses is :meth:`take`.

    Attributes
    ----------
    shape, constant
        The shape fitted and its constant (``off``, ``scal`` or the linint nodes).
    dose
        The dose of each row (``n``); placebo-adjusted estimates exclude placebo.
    y
        The responses, ``(n,)`` or a batch ``(B, n)``.
    covariates
        Covariate columns ``C`` (``(n, c)``, possibly ``c = 0``) entering linearly.
    placebo_adjusted
        Whether ``f`` is ``f(dose) - f(0)``, the shape without ``e0`` (or ``d0``).

    Examples
    --------
    >>> from dosefinding.shapes import get_shape
    >>> problem = LeastSquaresProblem.from_covariance(
    ...     get_shape("emax"), None, np.array([0.0, 10.0, 100.0]), np.array([0.0, 0.5, 0.9]),
    ...     np.eye(3) * 0.01, placebo_adjusted=False)
    >>> problem.profile(np.array([[10.0], [20.0]])).round(4).tolist()
    [0.0017, 1.2895]
    """

    shape: Shape
    constant: float | FloatArray | None
    dose: FloatArray
    y: FloatArray
    covariates: FloatArray
    placebo_adjusted: bool
    extra_rss: float = 0.0
    row_weights: FloatArray | None = None
    whitener: FloatArray | None = None

    @classmethod
    def from_covariance(
        cls,
        shape: Shape,
        constant: float | FloatArray | None,
        doses: FloatArray,
        estimates: FloatArray,
        cov: FloatArray,
        placebo_adjusted: bool,
    ) -> LeastSquaresProblem:
        """Generalised least squares of ``estimates`` (``(n,)`` or ``(B, n)``) with covariance
        ``cov`` (``(n, n)``, or one per response ``(B, n, n)``), checked by the caller."""
        whitener = np.linalg.inv(np.linalg.cholesky(cov))
        return cls(shape, constant, doses, estimates, np.empty((doses.size, 0)), placebo_adjusted, whitener=whitener)

    def take(self, rows: Rows) -> LeastSquaresProblem:
        """The problem of the responses ``rows`` of a batch (with their whiteners)."""
        whitener = self.whitener
        return replace(self, y=self.y[rows], whitener=whitener[rows] if whitener is not None and whitener.ndim == 3
                       else whitener)

    def whiten(self, x: FloatArray, rows: Rows = slice(None)) -> FloatArray:
        """``W x`` for columns ``x`` of shape ``(..., n, p)`` (vectors: :meth:`whiten_vectors`).

        With a whitener per response, ``x`` has the responses ``rows`` on axis -3.
        """
        if self.row_weights is not None:
            return x * self.row_weights[:, None]
        whitener = self.whitener
        if whitener is not None:
            return (whitener[rows] if whitener.ndim == 3 else whitener) @ x
        return x

    def whiten_vectors(self, x: FloatArray) -> FloatArray:
        """``W x`` for vectors ``x`` of shape ``(..., n)``, with the arithmetic of :meth:`whiten` on one column.

        With a whitener per response, ``x`` has the responses on axis -2.
        """
        if self.row_weights is not None:
            return x * self.row_weights
        if self.whitener is not None:
            return (self.whitener @ x[..., None])[..., 0]
        return x

    @cached_property
    def whitened_y(self) -> FloatArray:
        """``W y`` for each response (rows of a batch)."""
        if self.row_weights is not None:
            return self.y * self.row_weights
        if self.whitener is not None:
            return self.whiten_vectors(self.y) if self.whitener.ndim == 3 else (self.whitener @ self.y.T).T
        return self.y

    def basis(self, nonlinear: FloatArray) -> FloatArray:
        """Unwhitened basis of the fitted linear parameters (``f(dose) - f(0)`` without ``e0`` when placebo-adjusted)."""
        basis = self.shape.basis(self.dose, nonlinear, self.constant)
        if self.placebo_adjusted:
            at_zero = self.shape.basis(np.zeros(1), nonlinear, self.constant)
            basis = basis[..., 1:] - at_zero[..., 1:]
        return basis

    def design(self, nonlinear: FloatArray) -> FloatArray:
        """Whitened design ``[basis, covariates]``, batched over leading dims of ``nonlinear``."""
        basis = self.basis(nonlinear)
        covariates = np.broadcast_to(self.covariates, basis.shape[:-1] + self.covariates.shape[-1:])
        return self.whiten(np.concatenate([basis, covariates], axis=-1))

    @cached_property
    def _fixed(self) -> tuple[FloatArray, FloatArray]:
        """Orthonormal basis of the whitened columns that do not move with the nonlinear
        parameters (``e0``'s ones unless placebo-adjusted, and the covariates), and the
        whitened responses projected off them (one basis per response with a whitener each)."""
        fixed = self.covariates if self.placebo_adjusted else np.column_stack([np.ones(self.dose.size), self.covariates])
        q, _ = np.linalg.qr(self.whiten(fixed))
        return q, _projected(self.whitened_y, q, vectors=True)

    def profile(self, nonlinear: FloatArray) -> FloatArray:
        """Residual sum of squares minimised over the linear parameters.

        ``nonlinear`` has shape ``(..., k)`` and broadcasts against the batch of responses:
        ``(G, k)`` for one response gives ``(G,)``; for a batch ``(B, n)``, ``(B, k)``
        gives one value per response and ``(G, 1, k)`` a ``(G, B)`` grid.
        """
        curve = self.shape.curve(self.dose, nonlinear, self.constant)
        if self.placebo_adjusted:
            curve = curve - self.shape.curve(np.zeros(1), nonlinear, self.constant)
        # Every nonlinear shape is ``e0 + slope * curve(dose; theta)``, so only the curve
        # column moves with ``theta``: project it off the fixed columns and regress on it.
        _, residual, _ = self._regress(_projected(self.whiten_vectors(curve), self._fixed[0], vectors=True))
        return (residual * residual).sum(axis=-1) + self.extra_rss

    def _regress(self, curve: FloatArray, rows: Rows = slice(None)) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Slope and residual of the responses (``rows`` of a batch), projected off the fixed columns,
        on the projected ``curve``, and the squared length of ``curve``."""
        fixed_residual = self._fixed[1][rows]
        # np.add.reduce is ndarray.sum without its Python-level wrapper (as np.maximum.reduce for max below).
        length2 = np.add.reduce(curve * curve, axis=-1)
        slope = np.add.reduce(curve * fixed_residual, axis=-1) / length2
        return slope, fixed_residual - slope[..., None] * curve, length2

    def solve(self, nonlinear: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Linear parameters and covariate coefficients given ``nonlinear``, and the whitened residual.

        Batched: one row of ``nonlinear`` per response (or one ``nonlinear`` for all).
        """
        design = self.design(nonlinear)
        wy = self.whitened_y
        if design.ndim == 2:
            # cast: numpy's stubs type linalg results as floating[Any]
            coefficients = cast(FloatArray, np.linalg.lstsq(design, wy.T, rcond=None)[0].T)
            return coefficients, wy - coefficients @ design.T
        # A design per response (B, n, p): least squares by QR, response by response.
        q, r = np.linalg.qr(design)
        qty = np.einsum("bnp,bn->bp", q, wy)
        coefficients = cast(FloatArray, np.linalg.solve(r, qty[..., None])[..., 0])
        return coefficients, wy - np.einsum("bnp,bp->bn", q, qty)

    def dose_response_parameters(self, coefficients: FloatArray, nonlinear: FloatArray) -> FloatArray:
        """The shape's full parameter vector(s): linear ones (with the fixed 0 of ``e0`` when placebo-adjusted), then nonlinear ones."""
        n_linear = coefficients.shape[-1] - self.covariates.shape[1]
        linear = coefficients[..., :n_linear]
        if self.placebo_adjusted:
            linear = np.concatenate([np.zeros(linear.shape[:-1] + (1,)), linear], axis=-1)
        nonlinear = np.broadcast_to(nonlinear, linear.shape[:-1] + nonlinear.shape[-1:])
        return np.concatenate([linear, nonlinear], axis=-1)

    def jacobian(self, dr: FloatArray) -> FloatArray:
        """Unwhitened derivative of the mean w.r.t. the fitted parameters (``dr`` holds the fixed 0).

        Columns: the shape's parameters (its nonlinear ones last), then the covariates;
        batched over leading dims of ``dr``.
        """
        gradient = self.shape.gradient(self.dose, dr, self.constant)
        if self.placebo_adjusted:
            gradient = (gradient - self.shape.gradient(np.zeros(1), dr, self.constant))[..., 1:]
        covariates = np.broadcast_to(self.covariates, gradient.shape[:-1] + self.covariates.shape[-1:])
        return np.concatenate([gradient, covariates], axis=-1)

    def projected_residual(self, nonlinear: FloatArray, rows: Rows = slice(None)) -> tuple[FloatArray, FloatArray]:
        """Whitened residual at the profiled linear parameters, and its Jacobian w.r.t. ``nonlinear``.

        The Jacobian is Kaufman's variable-projection one, ``-(I - QQ') W dF/dtheta`` with
        ``Q`` an orthonormal basis of the whitened design; ``2 J' r`` is the exact gradient
        of the profiled objective. With one moving column, ``dF/dtheta`` is the slope
        times the curve's derivative, and ``Q`` is the fixed columns' basis plus the
        projected curve. ``nonlinear`` broadcasts against the responses ``rows`` of the
        batch as in :meth:`profile`.
        """
        columns = self.shape.moving_columns(self.dose, nonlinear, self.constant)
        if self.placebo_adjusted:
            columns = columns - self.shape.moving_columns(np.zeros(1), nonlinear, self.constant)
        # Column 0 is the curve, the others its derivatives; whiten and project off the fixed columns.
        q = self._fixed[0]
        moving = _projected(self.whiten(columns, rows).swapaxes(-1, -2), q if q.ndim == 2 else q[rows])
        curve, derivative = moving[..., 0, :], moving[..., 1:, :]
        slope, residual, length2 = self._regress(curve, rows)
        along = np.add.reduce(derivative * curve[..., None, :], axis=-1) / length2[..., None]
        derivative = derivative - along[..., None] * curve[..., None, :]
        return residual, -slope[..., None, None] * derivative.swapaxes(-1, -2)


def _projected(x: FloatArray, q: FloatArray, vectors: bool = False) -> FloatArray:
    """``x`` projected off the orthonormal columns ``q``: ``(n, m)``, or one ``(..., n, m)`` per response.

    ``x`` holds rows ``(..., c, n)`` (with ``q`` per response, the responses on axis -3),
    or ``vectors`` ``(..., n)`` (the responses on axis -2).
    """
    if q.size == 0:
        return x
    if q.ndim == 2:
        return x - (x @ q) @ q.T
    if vectors:
        return _projected(x[..., None, :], q)[..., 0, :]
    return x - (x @ q) @ q.swapaxes(-1, -2)


def estimates_problem(
    shape: Shape,
    doses: ArrayLike,
    estimates: ArrayLike,
    cov: ArrayLike,
    *,
    placebo_adjusted: bool = False,
    scal: float | None = None,
    off: float | None = None,
) -> LeastSquaresProblem:
    """The generalised least-squares problem of dose-group ``estimates`` with covariance ``cov``, checked.

    ``doses`` increase (from placebo unless ``placebo_adjusted``); ``cov`` is symmetric positive
    definite; ``scal`` and ``off`` as for :func:`shape_constant`.

    Examples
    --------
    >>> from dosefinding.shapes import get_shape
    >>> problem = estimates_problem(get_shape("linear"), [0, 1, 2], [0.0, 1.1, 1.9], np.eye(3))
    >>> problem.y.tolist(), problem.whitener.tolist() == np.eye(3).tolist()
    ([0.0, 1.1, 1.9], True)
    """
    d = as_doses(doses, "doses", placebo=not placebo_adjusted)
    est = as_vector(estimates, "estimates", length=d.size)
    s = as_covariance(cov, "cov", d.size)
    constant = shape_constant(shape, d, scal, off, placebo_adjusted)
    return LeastSquaresProblem.from_covariance(shape, constant, d, est, s, placebo_adjusted)


@dataclass(frozen=True)
class LeastSquaresFit:
    """The least-squares fit of every response of a :class:`LeastSquaresProblem`.

    Leading axes follow the responses: none for one response ``(n,)``, ``(B,)`` for a batch.

    Attributes
    ----------
    nonlinear
        The nonlinear parameters found, ``(k,)`` or ``(B, k)`` (``k = 0`` for linear shapes).
    converged
        Whether the local search converged (always for linear shapes).
    coefficients
        The linear parameters (without the fixed ``e0`` when placebo-adjusted), then the
        covariate coefficients.
    residual
        The whitened residual ``W (y - fitted)``.
    parameters
        The shape's full parameter vector(s), with the fixed 0 of ``e0`` (``d0``) when
        placebo-adjusted.
    objective
        ``||W (y - fitted)||^2 + extra_rss``: the residual sum of squares (raw data) or
        ``(y - f)' S^-1 (y - f)`` (estimates).
    """

    nonlinear: FloatArray
    converged: NDArray[np.bool_]
    coefficients: FloatArray
    residual: FloatArray
    parameters: FloatArray
    objective: FloatArray


def fit_least_squares(
    problem: LeastSquaresProblem, box: FloatArray | None, grid_points: int | None = None
) -> LeastSquaresFit:
    """Fit the shape to every response of ``problem``: search the nonlinear parameters within
    ``box`` (``None`` for linear shapes, see :func:`search_nonlinear`), then solve for the linear ones.

    Examples
    --------
    >>> from dosefinding.shapes import get_shape
    >>> emax = get_shape("emax")
    >>> doses = np.array([0.0, 10.0, 50.0, 100.0])
    >>> problem = estimates_problem(emax, doses, emax.response(doses, [0.0, 1.0, 10.0]), np.eye(4) * 0.01)
    >>> fit = fit_least_squares(problem, check_bounds(None, emax, 100.0))
    >>> fit.parameters.round(2).tolist(), bool(fit.converged)
    ([0.0, 1.0, 10.0], True)
    >>> batch = fit_least_squares(replace(problem, y=np.array([problem.y, 2 * problem.y])),
    ...                           check_bounds(None, emax, 100.0))
    >>> batch.parameters.round(2).tolist()
    [[0.0, 1.0, 10.0], [0.0, 2.0, 10.0]]
    """
    responses = problem.y.shape[:-1]
    if box is None:
        nonlinear, converged = np.empty(responses + (0,)), np.ones(responses, dtype=bool)
    else:
        nonlinear, converged = search_nonlinear(problem, box, check_grid_points(grid_points, box.shape[0]))
    coefficients, residual = problem.solve(nonlinear)
    # One response: a dot product, as the fit has always summed its squares.
    rss = residual @ residual if residual.ndim == 1 else np.sum(residual * residual, axis=-1)
    return LeastSquaresFit(
        nonlinear=nonlinear,
        converged=converged,
        coefficients=coefficients,
        residual=residual,
        parameters=problem.dose_response_parameters(coefficients, nonlinear),
        objective=rss + problem.extra_rss,
    )


def shape_constant(
    model: Shape, doses: FloatArray, scal: float | None, off: float | None, placebo_adjusted: bool
) -> float | FloatArray | None:
    """The constant of ``model`` fitted to ``doses`` (increasing): linlog's ``off`` (default 1% of
    the largest dose), betamod's ``scal`` (default 1.2 times it), linint's nodes (the doses,
    with placebo when placebo-adjusted); ``None`` for the other shapes.

    Examples
    --------
    >>> from dosefinding.shapes import get_shape
    >>> shape_constant(get_shape("betamod"), np.array([0.0, 50.0, 100.0]), None, None, False)
    120.0
    """
    max_dose = float(doses[-1])
    if model.constant == "off":
        value = 0.01 * max_dose if off is None else float(off)
        if not value > 0:
            raise InputError(f"off: must be positive, got {value:g}")
        return value
    if model.constant == "scal":
        value = 1.2 * max_dose if scal is None else float(scal)
        if not value >= max_dose:
            raise InputError(f"scal: must be at least the largest dose {max_dose:g}, got {value:g}")
        return value
    if model.constant == "nodes":
        return np.concatenate([[0.0], doses]) if placebo_adjusted else doses
    return None


def check_dose_count(model: Shape, doses: FloatArray, placebo_adjusted: bool) -> None:
    """Enough distinct doses that the nonlinear parameters change the fit (and the linear ones are identified)."""
    if model.name == "linint":
        return
    needed = len(model.linear_parameters) - int(placebo_adjusted) + int(not model.is_linear)
    if doses.size < needed:
        active = "" if placebo_adjusted else f", {needed - 1} of them active"
        raise InputError(
            f"doses: need at least {needed} distinct doses{active} to fit the {model.name} shape; got {doses.tolist()}"
        )


def check_bounds(bounds: ArrayLike | None, model: Shape, max_dose: float) -> FloatArray | None:
    """``bounds`` checked as ``(lower, upper)`` per nonlinear parameter of ``model``, shape ``(k, 2)``
    (default :func:`~dosefinding.shapes.default_bounds` at ``max_dose``); ``None`` for a linear shape.

    Examples
    --------
    >>> from dosefinding.shapes import get_shape
    >>> check_bounds([1.0, 50.0], get_shape("emax"), 100.0).tolist()
    [[1.0, 50.0]]
    """
    names = model.nonlinear_parameters
    if not names:
        if bounds is not None:
            raise InputError(f"bounds: the {model.name} shape has no nonlinear parameters to bound")
        return None
    if bounds is None:
        return default_bounds(model.name, max_dose)
    try:
        box = np.asarray(bounds, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"bounds: must be numeric ({exc})") from None
    if box.shape == (2,) and len(names) == 1:
        box = box[None, :]
    if box.shape != (len(names), 2):
        raise InputError(
            f"bounds: need one (lower, upper) row for each of {list(names)}, shape ({len(names)}, 2); "
            f"got shape {box.shape}"
        )
    for name, (lower, upper) in zip(names, box):
        if not (np.isfinite(lower) and np.isfinite(upper) and 0 < lower < upper):
            raise InputError(f"bounds: {name} needs finite 0 < lower < upper, got ({lower:g}, {upper:g})")
    return box


def check_grid_points(grid_points: int | None, n_nonlinear: int) -> int:
    """The size of the starting grid: ``grid_points`` checked, by default :data:`DEFAULT_GRID_POINTS`.

    Examples
    --------
    >>> check_grid_points(None, 2)
    144
    """
    if grid_points is None:
        return DEFAULT_GRID_POINTS[n_nonlinear]
    if isinstance(grid_points, bool) or not isinstance(grid_points, (int, np.integer)) or grid_points < 1:
        raise InputError(f"grid_points: must be a positive integer, got {grid_points!r}")
    return int(grid_points)


def start_grid(box: FloatArray, n_points: int) -> FloatArray:
    """DoseFinding's getGrid over the bounds ``box`` ``(k, 2)``: midpoints for one parameter, a golden lattice for two.

    Two-parameter grids have the smallest lattice size (a Fibonacci number) of at least ``n_points``.

    Examples
    --------
    >>> start_grid(np.array([[0.0, 1.0]]), 4).ravel().tolist()
    [0.125, 0.375, 0.625, 0.875]
    """
    lower, upper = box[:, 0], box[:, 1]
    return _unit_grid(box.shape[0], n_points) * (upper - lower) + lower


@lru_cache(maxsize=16)
def _unit_grid(n_parameters: int, n_points: int) -> FloatArray:
    """The grid of :func:`start_grid` in the unit box (read-only: it is shared between fits)."""
    if n_parameters == 1:
        unit = ((2 * np.arange(1, n_points + 1) - 1) / (2 * n_points))[:, None]
    else:
        wanted = min(max(n_points, 5), _LATTICE_SIZES[-1])
        i = next(j for j, size in enumerate(_LATTICE_SIZES) if size >= wanted)
        size, generator = _LATTICE_SIZES[i], _LATTICE_SIZES[i - 1]
        k = np.arange(1, size + 1)
        unit = np.column_stack([(k - 0.5) / size, np.mod((generator * k - 0.5) / size, 1.0)])
    unit.flags.writeable = False
    return unit


def search_nonlinear(problem: LeastSquaresProblem, box: FloatArray, n_points: int) -> tuple[FloatArray, FloatArray]:
    """Nonlinear parameters minimising the profiled objective: grid, then a local search.

    For every response of the problem at once: ``y`` of shape ``(n,)`` gives ``theta`` of
    shape ``(k,)`` and a 0-d ``converged``; a batch ``(B, n)`` gives ``(B, k)`` and ``(B,)``.
    Each response follows its own path, the same as it would alone.
    """
    batch = problem if problem.y.ndim == 2 else replace(problem, y=problem.y[None])
    grid = start_grid(box, n_points)
    with np.errstate(all="ignore"):
        rss = batch.profile(grid[:, None, :])
    rss = np.where(np.isfinite(rss), rss, np.inf)
    best = np.argmin(rss, axis=0)
    if not np.all(np.isfinite(rss[best, np.arange(best.size)])):
        raise ConvergenceError(
            f"no point of a {grid.shape[0]}-point grid over the bounds {box.tolist()} of "
            f"{list(problem.shape.nonlinear_parameters)} gives a finite residual sum of squares"
        )
    start = grid[best]
    lower, upper = box[:, 0], box[:, 1]
    with np.errstate(all="ignore"):
        if box.shape[0] == 1:
            # As DoseFinding: Brent's method within 1.1 grid steps of the best grid point.
            step = (upper[0] - lower[0]) / n_points
            a = np.maximum(start[:, 0] - 1.1 * step, lower[0])
            b = np.minimum(start[:, 0] + 1.1 * step, upper[0])
            if a.size == 1:
                # scipy's bounded Brent for one response: the same steps as _brent, in scalars (faster).
                result = optimize.minimize_scalar(
                    lambda t: batch.profile(np.array([[t]]))[0],
                    bounds=(a[0], b[0]),
                    method="bounded",
                    options={"xatol": _BRENT_TOLERANCE},
                )
                x, converged = np.array([result.x]), np.array([result.success])
            else:
                x, converged = _brent(lambda t: batch.profile(t[:, None]), a, b)
            theta = _snap_to_bound(batch, x, lower[0], upper[0])[:, None]
        else:
            theta, converged = _bounded_newton(batch, lower, upper, start)
    if problem.y.ndim == 2:
        return theta, converged
    return theta[0], converged[0]


def _brent(
    objective: Callable[[FloatArray], FloatArray], a: FloatArray, b: FloatArray, max_evaluations: int = 500
) -> tuple[FloatArray, FloatArray]:
    """Minima of ``objective`` on the intervals ``[a, b]`` by Brent's method, elementwise.

    The steps of scipy's ``minimize_scalar(method="bounded")`` (Brent's fmin, as R's
    ``optimize``) with ``xatol`` sqrt(eps), taken for all intervals at once: each element
    makes the choices it would make alone, and stops on its own criterion.
    """
    golden = 0.5 * (3.0 - np.sqrt(5.0))
    sqrt_eps = np.sqrt(2.2e-16)
    a, b = a.copy(), b.copy()
    xf = a + golden * (b - a)
    fx = objective(xf)
    nfc, fnfc, fulc, ffulc = xf, fx, xf, fx
    rat = e = np.zeros_like(a)
    xm = 0.5 * (a + b)
    tol1 = sqrt_eps * np.abs(xf) + _BRENT_TOLERANCE / 3.0
    tol2 = 2.0 * tol1
    active = np.abs(xf - xm) > tol2 - 0.5 * (b - a)
    n_evaluations = 1
    while active.any() and n_evaluations < max_evaluations:
        # A parabola through the three best points, if acceptable; else a golden section.
        try_parabola = np.abs(e) > tol1
        r = (xf - nfc) * (fx - ffulc)
        q = (xf - fulc) * (fx - fnfc)
        p = (xf - fulc) * q - (xf - nfc) * r
        q = 2.0 * (q - r)
        p = np.where(q > 0.0, -p, p)
        q = np.abs(q)
        parabolic = try_parabola & (np.abs(p) < np.abs(0.5 * q * e)) & (p > q * (a - xf)) & (p < q * (b - xf))
        parabola_step = p / q
        x = xf + parabola_step
        near_end = ((x - a) < tol2) | ((b - x) < tol2)
        toward_middle = np.sign(xm - xf) + ((xm - xf) == 0)
        parabola_step = np.where(near_end, tol1 * toward_middle, parabola_step)
        golden_e = np.where(xf >= xm, a - xf, b - xf)
        new_e = np.where(parabolic, rat, golden_e)
        new_rat = np.where(parabolic, parabola_step, golden * golden_e)
        sign = np.sign(new_rat) + (new_rat == 0)
        x = xf + sign * np.maximum(np.abs(new_rat), tol1)
        fu = objective(x)
        n_evaluations += 1

        better = fu <= fx
        worse = ~better
        shift_new = worse & ((fu <= fnfc) | (nfc == xf))
        third = worse & ~shift_new & ((fu <= ffulc) | (fulc == xf) | (fulc == nfc))
        updates = {
            "a": np.where(better, np.where(x >= xf, xf, a), np.where(x < xf, x, a)),
            "b": np.where(better, np.where(x >= xf, b, xf), np.where(x < xf, b, x)),
            "fulc": np.where(better | shift_new, nfc, np.where(third, x, fulc)),
            "ffulc": np.where(better | shift_new, fnfc, np.where(third, fu, ffulc)),
            "nfc": np.where(better, xf, np.where(shift_new, x, nfc)),
            "fnfc": np.where(better, fx, np.where(shift_new, fu, fnfc)),
            "xf": np.where(better, x, xf),
            "fx": np.where(better, fu, fx),
        }
        a, b = np.where(active, updates["a"], a), np.where(active, updates["b"], b)
        fulc, ffulc = np.where(active, updates["fulc"], fulc), np.where(active, updates["ffulc"], ffulc)
        nfc, fnfc = np.where(active, updates["nfc"], nfc), np.where(active, updates["fnfc"], fnfc)
        xf, fx = np.where(active, updates["xf"], xf), np.where(active, updates["fx"], fx)
        e, rat = np.where(active, new_e, e), np.where(active, new_rat, rat)
        xm = 0.5 * (a + b)
        tol1 = sqrt_eps * np.abs(xf) + _BRENT_TOLERANCE / 3.0
        tol2 = 2.0 * tol1
        active &= np.abs(xf - xm) > tol2 - 0.5 * (b - a)
    return xf, ~active & np.isfinite(xf) & np.isfinite(fx)


def _bounded_newton(
    problem: LeastSquaresProblem, lower: FloatArray, upper: FloatArray, start: FloatArray, max_iterations: int = 100
) -> tuple[FloatArray, FloatArray]:
    """Bounded damped Newton search of two nonlinear parameters, one row per response.

    In coordinates scaled to the unit box. The gradient of the profiled objective is exact
    (``J' r`` with Kaufman's variable-projection Jacobian); its Hessian comes from
    forward differences of that gradient, evaluated in the same batched call as the
    point itself. The first _GAUSS_NEWTON_STEPS steps use Gauss-Newton's ``J' J``
    instead (up to the first refused step), which heads for the basin that R's nlminb and a
    trust-region Gauss-Newton search find where the start lies between two local minima;
    ``J' J`` alone misses the curvature of the residuals, which in the curved valleys of
    sigemax fits makes its steps overshoot and converge only linearly. A parameter on a
    bound whose gradient points outward is held there; the step of the others is damped
    (Levenberg's ``H + lambda I``, lambda raised until the matrix is positive definite)
    and clipped to the box, and taken only if it lowers the objective. Each response stops when a taken step moves it by less than 1e-15 (in
    the unit box) or lowers its objective by less than 1e-15 relative, when its projected
    gradient vanishes, or when no step lowers the objective any more (a refused step
    whose predicted decrease is below 1e-15 relative, or damping above 1e20). Only the
    responses still searching are evaluated. Each response's state (objective, gradient,
    both Hessians, position) is one packed row, and what no response needs in an
    iteration (Gauss-Newton's Hessian after the first steps, the predicted decrease while
    the damping is large, the bound masks when nothing is on a bound) is not computed.
    """
    width = upper - lower
    size = start.shape[0]
    difference = 1e-7
    tiny, offsets, identity = _TINY, _DIFFERENCE_OFFSETS, _IDENTITY_2X2
    held_row, held_column = _HELD_ROW, _HELD_COLUMN

    def evaluate(unit: FloatArray, wanted: NDArray[np.bool_], gauss_newton: bool) -> FloatArray:
        """The packed state at ``unit`` for the ``wanted`` responses, NaN for the others.

        Columns: objective, gradient (2), Gauss-Newton's and Newton's Hessians (4 each,
        row-major), then ``unit`` (2); all in the unit box. Gauss-Newton's is left unset
        unless ``gauss_newton`` (once no response can use it any more).
        """
        if wanted.all():
            return evaluate_rows(unit, slice(None), gauss_newton)
        state = np.full((size, 13), np.nan)
        if wanted.any():
            rows = np.flatnonzero(wanted)
            state[rows] = evaluate_rows(unit[rows], rows, gauss_newton)
        return state

    def evaluate_rows(unit: FloatArray, rows: slice | NDArray[np.intp], gauss_newton: bool) -> FloatArray:
        steps = np.where(unit + difference <= 1.0, difference, -difference)
        points = unit + steps * offsets
        residual, jacobian = problem.projected_residual(np.where(points >= 1, upper, lower + points * width), rows)
        jacobian = jacobian * width
        gradients = np.einsum("...nk,...n->...k", jacobian, residual)
        # columns[b, k, j]: the change of gradient k along parameter j, over its step.
        columns = (gradients[1:] - gradients[0]).transpose(1, 2, 0) / steps[:, None, :]
        state = np.empty((unit.shape[0], 13))
        state[:, 0] = np.add.reduce(residual[0] * residual[0], axis=-1)
        state[:, 1:3] = gradients[0]
        if gauss_newton:
            np.einsum("bnk,bnl->bkl", jacobian[0], jacobian[0], out=state[:, 3:7].reshape(-1, 2, 2))
        state[:, 7:11] = (0.5 * (columns + columns.swapaxes(1, 2))).reshape(-1, 4)
        state[:, 11:] = unit
        return state

    state = evaluate((start - lower) / width, np.ones(size, dtype=bool), True)
    damping = np.full(size, 1e-3)
    converged = np.zeros(size, dtype=bool)
    newton = np.zeros(size, dtype=bool)
    for iteration in range(max_iterations):
        value, gradient, unit = state[:, 0], state[:, 1:3], state[:, 11:]
        if iteration == _GAUSS_NEWTON_STEPS:
            newton[:] = True
        held = np.where(gradient > 0, unit <= 0, unit >= 1)
        any_held = held.any()
        free_gradient = np.where(held, 0.0, gradient) if any_held else gradient
        g0, g1 = free_gradient.T
        converged |= (g0 == 0) & (g1 == 0)
        if converged.all():
            break
        if iteration >= _GAUSS_NEWTON_STEPS:
            curvature = state[:, 7:11]
        else:
            curvature = np.where(newton[:, None], state[:, 7:11], state[:, 3:7])
        scale = np.maximum(np.abs(curvature[:, 0]), np.abs(curvature[:, 3])) + tiny
        m = curvature + (damping * scale)[:, None] * identity
        if any_held:
            # Rows and columns of held parameters are the identity's.
            m = np.where(held[:, held_row] | held[:, held_column], identity, m)
        a, b, c, d = m.T
        det = a * d - b * c
        positive = (a > 0) & (d > 0) & (det > 0)
        step = np.empty_like(unit)
        step[:, 0] = b * g1 - d * g0
        step[:, 1] = c * g0 - a * g1
        if positive.all():
            step /= det[:, None]
        else:
            step = np.where(positive[:, None], step / np.where(positive, det, 1.0)[:, None], 0.0)
        # np.minimum(np.maximum(...)) is np.clip without its Python-level overhead.
        trial = np.minimum(np.maximum(unit + step, 0.0), 1.0)
        # Where the model promises less than rounding of the objective, no step can be seen to lower it.
        settling = positive & newton & (damping <= 1e-6)
        if settling.any():
            predicted = -np.einsum("bk,bk->b", free_gradient + 0.5 * np.einsum("bkl,bl->bk", m.reshape(-1, 2, 2), step), step)
            converged |= settling & (predicted <= 1e-15 * value)
        trying = positive & ~converged
        # The next iteration can use Gauss-Newton's Hessian only among its first steps.
        new_state = evaluate(trial, trying, iteration + 1 < _GAUSS_NEWTON_STEPS and not newton.all())
        new_value = new_state[:, 0]
        moved = np.maximum.reduce(np.abs(trial - unit), axis=-1)
        taken = trying & (new_value < value)
        refused = ~converged & ~taken
        converged |= taken & ((moved <= 1e-15) | (value - new_value <= 1e-15 * value))
        state = np.where(taken[:, None], new_state, state)
        if refused.any():
            converged |= refused & positive & ((moved <= 1e-15) | (damping > 1e20))
            damping = np.where(taken, np.maximum(damping / 10, 1e-12), np.where(refused, damping * 10, damping))
            newton |= refused
        else:
            damping = np.where(taken, np.maximum(damping / 10, 1e-12), damping)
    return _from_unit(state[:, 11:], lower, upper), converged


def _from_unit(unit: FloatArray, lower: FloatArray, upper: FloatArray) -> FloatArray:
    """Parameters at ``unit`` (within [0, 1]) of the box, exactly on a bound at 0 or 1."""
    return np.where(unit >= 1, upper, lower + unit * (upper - lower))


def _snap_to_bound(problem: LeastSquaresProblem, x: FloatArray, lower: float, upper: float) -> FloatArray:
    """A bound, where Brent's method stopped within its tolerance of it and the bound is no worse.

    Brent's method never evaluates the ends of its interval, so a minimum on a bound is
    only approached to within the tolerance. Elementwise over a batch of responses.
    """
    tolerance = 3 * (_BRENT_TOLERANCE * np.abs(x) + _BRENT_TOLERANCE / 3)
    at_x = problem.profile(x[:, None])
    snapped = x
    for bound in (upper, lower):
        at_bound = problem.profile(np.full((x.size, 1), bound))
        snapped = np.where((np.abs(x - bound) <= tolerance) & (at_bound <= at_x), bound, snapped)
    return snapped
