"""Fitting one dose-response shape by (generalised) least squares, as R DoseFinding's ``fitMod``.

Every shape is linear in its leading parameters given the nonlinear ones, so the fit
profiles the linear parameters (and any covariate coefficients) out in closed form and
searches only over the nonlinear ones, within bounds: first on a grid, then locally from
the best grid point. Both steps follow DoseFinding 1.0-3, so that the fit starts where R
starts and lands where R lands.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, stats

from dosefinding.errors import ConvergenceError, InputError
from dosefinding.mcp.first_stage import cell_means, patient_data
from dosefinding.mod.target_doses import DoseEstimate, DoseKind, curve_effective_dose, curve_target_dose
from dosefinding.shapes.candidates import Direction
from dosefinding.shapes.library import Shape, default_bounds, get_shape
from dosefinding.validation import as_covariance, as_doses, as_vector, input_form

__all__ = ["DoseResponseFit", "fit_dose_response"]

FloatArray = NDArray[np.float64]
PredictionKind = Literal["full", "effect"]

# The golden-lattice sizes of DoseFinding's getGrid: a two-parameter grid has the
# smallest of these sizes that is at least the requested number of points, and the
# previous size as its generator.
_LATTICE_SIZES = (
    3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597, 2584, 4181, 6765,
    10946, 17711, 28657, 46368, 75025,
)
_DEFAULT_GRID_POINTS = {1: 30, 2: 144}
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
class DoseResponseFit:
    """A dose-response shape fitted to raw data or to dose-group estimates.

    Attributes
    ----------
    shape
        Name of the fitted shape.
    parameters
        Estimates by name: the shape's parameters (without ``e0``, or ``d0`` for
        linint, when the data are placebo-adjusted), then covariate coefficients.
    cov
        Their covariance: ``sigma^2 (J'J)^-1`` for raw data, ``(J' S^-1 J)^-1`` for
        estimates, with ``J`` the gradient of the mean (and the covariate columns).
    objective
        Residual sum of squares (raw data) or ``(est - f)' S^-1 (est - f)`` (estimates).
    df
        Residual degrees of freedom (raw data) or the ``df`` given with the estimates.
    residual_sd, log_likelihood, aic
        For raw data only: ``sqrt(objective / df)``, the normal log-likelihood at the
        maximum-likelihood variance ``objective / n`` and ``-2 logLik + 2 (p + 1)``.
    gaic
        For estimates only: ``objective + 2 p``.
    converged
        Whether the local search of the nonlinear parameters converged (always true
        for the linear shapes).
    on_bound
        For each nonlinear parameter, ``"lower"``, ``"upper"`` or ``""``.
    bounds
        Lower and upper bound of each nonlinear parameter (empty for linear shapes).
    fit_type
        ``"normal"`` (raw data) or ``"general"`` (estimates with covariance).
    placebo_adjusted
        Whether the estimates were placebo-adjusted (the model then has no ``e0``).
    constant
        ``off`` (linlog), ``scal`` (betamod) or the nodes (linint), else ``None``.
    doses
        The dose levels fitted.
    covariate_means
        The covariate columns at which ``predict(kind="full")`` evaluates the model:
        numeric covariates at their mean and the levels of a categorical covariate
        weighted equally (R's ``"ls-means"``). Empty without covariates.
    estimates
        The estimates fitted to (estimates only).
    n_dropped
        Rows of raw data dropped for missing values.
    warnings
        What went wrong numerically, if anything.

    The labelled (pandas) attributes are built from the arrays on first access: a fit
    inside a simulation loop that reads only numbers does not pay for the labels.
    """

    shape: str
    _parameter_names: tuple[str, ...]
    _parameter_values: FloatArray
    _covariance: FloatArray
    objective: float
    df: float
    residual_sd: float | None
    log_likelihood: float | None
    aic: float | None
    gaic: float | None
    converged: bool
    _bound_sides: tuple[str, ...]
    _bound_values: FloatArray
    fit_type: Literal["normal", "general"]
    placebo_adjusted: bool
    constant: float | tuple[float, ...] | None
    doses: FloatArray
    _covariate_names: tuple[str, ...]
    _covariate_values: FloatArray
    _estimate_values: FloatArray | None
    n_dropped: int
    warnings: tuple[str, ...]

    @cached_property
    def parameters(self) -> pd.Series:
        """Estimates by name (see the class docstring)."""
        return pd.Series(self._parameter_values, index=list(self._parameter_names), name="estimate")

    @cached_property
    def cov(self) -> pd.DataFrame:
        """Covariance of :attr:`parameters`, labelled by parameter on both axes."""
        names = list(self._parameter_names)
        return pd.DataFrame(self._covariance, index=names, columns=names)

    @cached_property
    def on_bound(self) -> pd.Series:
        """``"lower"``, ``"upper"`` or ``""`` for each nonlinear parameter."""
        return pd.Series(list(self._bound_sides), index=self._nonlinear_index, dtype=object, name="on_bound")

    @cached_property
    def bounds(self) -> pd.DataFrame:
        """Lower and upper bound of each nonlinear parameter (empty for linear shapes)."""
        return pd.DataFrame(self._bound_values, index=self._nonlinear_index, columns=["lower", "upper"])

    @cached_property
    def covariate_means(self) -> pd.Series:
        """Covariate columns at which ``predict(kind="full")`` evaluates the model, by name."""
        if not self._covariate_names:
            return pd.Series(dtype=float)
        return pd.Series(self._covariate_values, index=list(self._covariate_names))

    @cached_property
    def estimates(self) -> pd.Series | None:
        """The estimates fitted to, by dose (estimates only)."""
        if self._estimate_values is None:
            return None
        return pd.Series(self._estimate_values, index=pd.Index(self.doses, name="dose"), name="estimate")

    @property
    def _nonlinear_index(self) -> pd.Index:
        return pd.Index(get_shape(self.shape).nonlinear_parameters, dtype=object)

    def predict(
        self,
        doses: ArrayLike,
        kind: PredictionKind = "full",
        se: bool = False,
        level: float = 0.95,
    ) -> pd.DataFrame:
        """Predicted mean response (``"full"``) or effect over placebo (``"effect"``).

        With covariates, ``"full"`` predictions put the covariates at
        :attr:`covariate_means` (R's ``predict(..., predType = "ls-means")``). For
        placebo-adjusted estimates both kinds give the effect over placebo. With
        ``se=True`` the standard errors come from the delta method, and ``lower`` and
        ``upper`` bound a ``level`` confidence interval from the t distribution with
        :attr:`df` degrees of freedom (normal when infinite).

        Examples
        --------
        >>> fit = fit_dose_response("linear", doses=[0, 1, 2], estimates=[1.0, 2.0, 3.1],
        ...                         cov=np.eye(3) * 0.01)
        >>> fit.predict([0, 2], kind="effect")["estimate"].round(3).tolist()
        [0.0, 2.1]
        """
        if kind not in ("full", "effect"):
            raise InputError(f"kind: must be 'full' or 'effect', got {kind!r}")
        if not 0 < level < 1:
            raise InputError(f"level: must be between 0 and 1, got {level}")
        d = as_vector(doses, "doses")
        if np.any(d < 0):
            raise InputError(f"doses: must be non-negative, got {d[d < 0].tolist()}")
        shape = get_shape(self.shape)
        dr = self._full_dose_response_parameters()
        n_dr = dr.size
        value = shape.response(d, dr, self._constant)
        gradient = shape.gradient(d, dr, self._constant)
        covariate_columns = np.zeros((d.size, self.covariate_means.size))
        if kind == "effect" or self.placebo_adjusted:
            value = value - shape.response(np.zeros(1), dr, self._constant)
            gradient = gradient - shape.gradient(np.zeros(1), dr, self._constant)
        else:
            value = value + self.covariate_means.to_numpy() @ self.parameters.to_numpy()[n_dr:]
            covariate_columns[:] = self.covariate_means.to_numpy()
        if self.placebo_adjusted:
            gradient = gradient[:, 1:]
        table = pd.DataFrame({"estimate": value}, index=pd.Index(d, name="dose"))
        if se:
            g = np.hstack([gradient, covariate_columns])
            table["se"] = np.sqrt(np.einsum("ij,jk,ik->i", g, self.cov.to_numpy(), g))
            quantile = float(stats.t.ppf(0.5 + level / 2, self.df))
            table["lower"] = table["estimate"] - quantile * table["se"]
            table["upper"] = table["estimate"] + quantile * table["se"]
        return table

    def target_dose(
        self,
        delta: float,
        kind: DoseKind = "continuous",
        direction: Direction | None = None,
        doses: ArrayLike | None = None,
    ) -> DoseEstimate:
        """Smallest dose whose effect over placebo reaches ``delta`` (R's ``TD``).

        ``delta`` is signed (negative for a decreasing curve); a discrete TD is chosen
        from ``doses`` (default: the fitted doses, with placebo). See
        :func:`~dosefinding.mod.target_doses.curve_target_dose`.

        Examples
        --------
        >>> fit = fit_dose_response("linear", doses=[0, 1, 2], estimates=[1.0, 2.0, 3.0],
        ...                         cov=np.eye(3) * 0.01)
        >>> round(fit.target_dose(0.5).dose, 6), fit.target_dose(0.5, kind="discrete").dose
        (0.5, 1.0)
        """
        return curve_target_dose(
            self.shape, self._full_dose_response_parameters(), delta, doses=self._design_doses(doses),
            kind=kind, direction=direction, constant=self._constant,
        )

    def effective_dose(self, p: float, kind: DoseKind = "continuous", doses: ArrayLike | None = None) -> DoseEstimate:
        """Smallest dose giving a fraction ``p`` of the maximum effect (R's ``ED``).

        The maximum effect is taken at the largest fitted dose (within the dose range for
        quadratic and betamod); a discrete ED is chosen from ``doses`` (default: the
        fitted doses, with placebo). See
        :func:`~dosefinding.mod.target_doses.curve_effective_dose`.

        Examples
        --------
        >>> fit = fit_dose_response("linear", doses=[0, 1, 2], estimates=[1.0, 2.0, 3.0],
        ...                         cov=np.eye(3) * 0.01)
        >>> round(fit.effective_dose(0.5).dose, 6)
        1.0
        """
        return curve_effective_dose(
            self.shape, self._full_dose_response_parameters(), p, doses=self._design_doses(doses),
            kind=kind, constant=self._constant,
        )

    def _design_doses(self, doses: ArrayLike | None) -> ArrayLike:
        """``doses``, by default the fitted doses with placebo (which placebo-adjusted fits lack)."""
        if doses is not None:
            return doses
        return np.concatenate([[0.0], self.doses]) if self.placebo_adjusted else self.doses

    def summary(self) -> str:
        """A printed summary laid out as R's ``print`` of a ``fitMod`` result."""
        n_dr = self.parameters.size - self.covariate_means.size
        lines = [
            "Dose Response Model",
            "",
            f"Model: {self.shape}",
            f"Fit-type: {self.fit_type}",
            "",
            "Coefficients dose-response model",
            _signif_row(self.parameters.iloc[:n_dr]),
        ]
        if self.fit_type == "normal":
            if self.covariate_means.size:
                lines += ["Coefficients additional covariates", _signif_row(self.parameters.iloc[n_dr:])]
            lines += [
                "",
                f"Degrees of freedom: {self.df:g}",
                f"Residual standard error: {self.residual_sd:.4g}",
            ]
        else:
            assert self.estimates is not None
            lines += [
                "",
                "Fitted to:",
                _signif_row(self.estimates.set_axis([f"{d:g}" for d in self.estimates.index])),
                "",
                f"Generalized residual sum of squares: {self.objective:.4g}",
            ]
        bound_notes = [
            f"{name} is on its {side} bound {self.bounds.loc[name, side]:g}"
            for name, side in self.on_bound.items()
            if side
        ]
        if bound_notes or not self.converged or self.warnings:
            lines.append("")
        lines += bound_notes
        if not self.converged:
            lines.append("The local search of the nonlinear parameters did not converge.")
        lines += list(self.warnings)
        return "\n".join(lines)

    @property
    def _constant(self) -> float | FloatArray | None:
        if isinstance(self.constant, tuple):
            return np.array(self.constant)
        return self.constant

    def _full_dose_response_parameters(self) -> FloatArray:
        """The shape's full parameter vector, with the fixed 0 of ``e0``/``d0`` when placebo-adjusted."""
        n_dr = self.parameters.size - self.covariate_means.size
        dr = self.parameters.to_numpy()[:n_dr]
        return np.concatenate([[0.0], dr]) if self.placebo_adjusted else dr


def _signif_row(values: pd.Series) -> str:
    return values.map(lambda v: f"{v:.4g}").to_frame().T.to_string(index=False)


@dataclass(frozen=True)
class _LeastSquares:
    """``||W (y - f(dose; theta) - C gamma)||^2 + extra_rss`` with ``f`` linear given ``theta``.

    ``W`` is a diagonal (``row_weights``), a full matrix (``whitener``) or the identity.
    Raw data without covariates are fitted through their dose-group means with weights
    ``sqrt(n)``; ``extra_rss`` is then the within-group sum of squares.

    ``y`` may be a batch of responses, shape ``(B, n)`` (the draws of model averaging):
    the profile, the solve and the projected residual then work on every row at once,
    with one row of nonlinear parameters per response.
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

    def whiten(self, x: FloatArray) -> FloatArray:
        """``W x`` for columns ``x`` of shape ``(..., n, p)`` (vectors: :meth:`whiten_vectors`)."""
        if self.row_weights is not None:
            return x * self.row_weights[:, None]
        if self.whitener is not None:
            return self.whitener @ x
        return x

    def whiten_vectors(self, x: FloatArray) -> FloatArray:
        """``W x`` for vectors ``x`` of shape ``(..., n)``, with the arithmetic of :meth:`whiten` on one column."""
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
            return (self.whitener @ self.y.T).T
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
        whitened responses projected off them."""
        fixed = self.covariates if self.placebo_adjusted else np.column_stack([np.ones(self.dose.size), self.covariates])
        q, _ = np.linalg.qr(self.whiten(fixed))
        wy = self.whitened_y
        return q, wy - (wy @ q) @ q.T

    def profile(self, nonlinear: FloatArray) -> FloatArray:
        """Residual sum of squares minimised over the linear parameters.

        ``nonlinear`` has shape ``(..., k)`` and broadcasts against the batch of responses:
        ``(G, k)`` for one response gives ``(G,)``; for a batch ``(B, n)``, ``(B, k)``
        gives one value per response and ``(G, 1, k)`` a ``(G, B)`` grid.
        """
        curve = self.shape.curve(self.dose, nonlinear, self.constant)
        if self.placebo_adjusted:
            curve = curve - self.shape.curve(np.zeros(1), nonlinear, self.constant)
        _, residual, _ = self._regress(self._projected_curve(self.whiten_vectors(curve)))
        return (residual * residual).sum(axis=-1) + self.extra_rss

    def _projected_curve(self, curve: FloatArray) -> FloatArray:
        """Whitened vectors ``(..., n)`` projected off the fixed columns.

        Every nonlinear shape is ``e0 + slope * curve(dose; theta)``, so only the curve
        column moves with ``theta``: project it off the fixed columns and regress on it.
        """
        q, _ = self._fixed
        return curve - (curve @ q) @ q.T

    def _regress(
        self, curve: FloatArray, rows: slice | NDArray[np.intp] = slice(None)
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
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
            coefficients = np.linalg.lstsq(design, wy.T, rcond=None)[0].T
            return coefficients, wy - coefficients @ design.T
        # A design per response (B, n, p): least squares by QR, response by response.
        q, r = np.linalg.qr(design)
        qty = np.einsum("bnp,bn->bp", q, wy)
        coefficients = np.linalg.solve(r, qty[..., None])[..., 0]
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

    def projected_residual(
        self, nonlinear: FloatArray, rows: slice | NDArray[np.intp] = slice(None)
    ) -> tuple[FloatArray, FloatArray]:
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
        moving = self._projected_curve(self.whiten(columns).swapaxes(-1, -2))
        curve, derivative = moving[..., 0, :], moving[..., 1:, :]
        slope, residual, length2 = self._regress(curve, rows)
        along = np.add.reduce(derivative * curve[..., None, :], axis=-1) / length2[..., None]
        derivative = derivative - along[..., None] * curve[..., None, :]
        return residual, -slope[..., None, None] * derivative.swapaxes(-1, -2)


@dataclass(frozen=True)
class _Prepared:
    """The least-squares problem of one input form, with what the result reports about the data."""

    problem: _LeastSquares
    fit_type: Literal["normal", "general"]
    n_obs: int
    n_dropped: int
    covariate_names: tuple[str, ...]
    covariate_means: FloatArray
    estimates: FloatArray | None


def fit_dose_response(
    shape: str,
    *,
    data: pd.DataFrame | None = None,
    dose: str | None = None,
    response: str | None = None,
    covariates: str | Sequence[str] | None = None,
    drop_missing: bool = False,
    doses: ArrayLike | None = None,
    estimates: ArrayLike | None = None,
    cov: ArrayLike | None = None,
    df: float | None = None,
    placebo_adjusted: bool = False,
    bounds: ArrayLike | None = None,
    scal: float | None = None,
    off: float | None = None,
    grid_points: int | None = None,
) -> DoseResponseFit:
    """Fit one dose-response shape by least squares (the Mod step of MCP-Mod).

    Two forms, as R DoseFinding's ``fitMod``:

    * raw data (``data``, ``dose``, ``response``, optional ``covariates``): least
      squares of the response on the shape, covariates entering linearly (R's type
      ``"normal"`` with ``addCovars``);
    * estimates (``doses``, ``estimates``, ``cov``, optional ``df``): generalised least
      squares ``(est - f(doses))' cov^-1 (est - f(doses))`` (R's type ``"general"``);
      ``placebo_adjusted`` estimates exclude dose 0 and are fitted by ``f(dose) - f(0)``,
      the shape without ``e0`` (DoseFinding refuses logistic and linlog here; they are
      fitted the same way).

    The linear parameters and covariate coefficients are profiled out in closed form.
    The nonlinear parameters are searched within ``bounds`` (default
    :func:`~dosefinding.shapes.default_bounds` at the largest dose) as DoseFinding does:
    the best point of a grid over the bounds, then Brent's method within 1.1 grid steps
    of it (one parameter) or a bounded Gauss-Newton, then Newton, search from it (two
    parameters).

    Parameters
    ----------
    shape
        One of the shape names (R's spellings work too).
    data, dose, response, covariates, drop_missing
        Raw data: one row per patient; the dose and numeric response columns; covariate
        column names or a formula right-hand side (``"gender + age"``), categorical
        ones with treatment coding; whether to drop rows with missing values.
    doses, estimates, cov, df
        Estimates: dose levels (increasing; starting at 0 unless placebo-adjusted),
        estimates per dose, their covariance, and the degrees of freedom of confidence
        intervals (default infinite).
    placebo_adjusted
        The estimates are differences to placebo (estimates form only).
    bounds
        ``(lower, upper)`` per nonlinear parameter, shape ``(k, 2)``, positive.
    scal, off
        Scale of betamod (default 1.2 times the largest dose) and offset of linlog
        (default 1% of the largest dose); other shapes ignore them.
    grid_points
        Size of the starting grid; default 30 for one nonlinear parameter and 144 for
        two (R's ``gridSize``). Two-parameter grids are rounded up to a lattice size.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> d = np.repeat([0.0, 5.0, 50.0, 300.0], 3)
    >>> y = 0.2 - 3.0 * d / (20.0 + d) + np.tile([-0.1, 0.0, 0.1], 4)
    >>> fit = fit_dose_response("emax", data=pd.DataFrame({"dose": d, "chg": y}),
    ...                         dose="dose", response="chg")
    >>> fit.parameters.round(3).tolist()
    [0.2, -3.0, 20.0]
    """
    model = get_shape(shape)
    form = input_form(
        data=data, dose=dose, response=response, covariates=covariates, doses=doses, estimates=estimates,
        cov=cov, df=df, placebo_adjusted=placebo_adjusted,
    )
    if form == "raw":
        prepared = _prepare_raw(model, data, dose, response, covariates, drop_missing, scal, off)  # type: ignore[arg-type]
    else:
        prepared = _prepare_estimates(model, doses, estimates, cov, placebo_adjusted, scal, off)  # type: ignore[arg-type]
    problem = prepared.problem
    # Estimates come with strictly increasing doses (as_doses checks them).
    fitted_doses = np.unique(problem.dose) if form == "raw" else problem.dose.copy()
    _check_dose_count(model, fitted_doses, placebo_adjusted)
    box = _check_bounds(bounds, model, float(fitted_doses[-1]))

    if box is None:
        theta, converged = np.empty(0), True
    else:
        theta, found = _search(problem, box, _check_grid_points(grid_points, box.shape[0]))
        converged = bool(found)
    coefficients, residual = problem.solve(theta)
    objective = float(residual @ residual) + problem.extra_rss
    dr = problem.dose_response_parameters(coefficients, theta)

    covariate_names = prepared.covariate_names
    names = model.parameter_names(problem.constant)[int(placebo_adjusted) :] + covariate_names
    values = np.concatenate([dr[int(placebo_adjusted) :], coefficients[coefficients.size - len(covariate_names) :]])
    n_params = len(names)

    log_likelihood: float | None = None
    residual_sd: float | None = None
    aic: float | None = None
    gaic: float | None = None
    if prepared.fit_type == "normal":
        n = prepared.n_obs
        df_value = float(n - n_params)
        if df_value <= 0:
            raise InputError(f"data: {n} observations leave no residual degrees of freedom for {n_params} parameters")
        sigma2 = objective / df_value
        log_likelihood = float(-n / 2 * (np.log(2 * np.pi) + 1 + np.log(objective / n)))
        residual_sd = float(np.sqrt(sigma2))
        aic = -2 * log_likelihood + 2 * (n_params + 1)
    else:
        df_value = np.inf if df is None else float(df)
        if not df_value > 0:
            raise InputError(f"df: must be positive (np.inf for normal), got {df}")
        sigma2 = 1.0
        gaic = objective + 2 * n_params

    warnings: list[str] = []
    if not converged:
        warnings.append("The local search of the nonlinear parameters stopped before convergence.")
    covariance = _parameter_covariance(problem, dr, sigma2, warnings)
    sides = () if box is None else tuple("lower" if t == lo else "upper" if t == hi else "" for t, (lo, hi) in zip(theta, box))
    constant = problem.constant
    return DoseResponseFit(
        shape=model.name,
        _parameter_names=names,
        _parameter_values=values,
        _covariance=covariance,
        objective=objective,
        df=df_value,
        residual_sd=residual_sd,
        log_likelihood=log_likelihood,
        aic=aic,
        gaic=gaic,
        converged=converged,
        _bound_sides=sides,
        _bound_values=np.empty((0, 2)) if box is None else box,
        fit_type=prepared.fit_type,
        placebo_adjusted=placebo_adjusted,
        constant=tuple(constant.tolist()) if isinstance(constant, np.ndarray) else constant,
        doses=fitted_doses,
        _covariate_names=covariate_names,
        _covariate_values=prepared.covariate_means,
        _estimate_values=prepared.estimates,
        n_dropped=prepared.n_dropped,
        warnings=tuple(warnings),
    )


def _prepare_raw(
    model: Shape,
    data: pd.DataFrame,
    dose: str,
    response: str,
    covariates: str | Sequence[str] | None,
    drop_missing: bool,
    scal: float | None,
    off: float | None,
) -> _Prepared:
    # The cell-means fit checks the columns, missing values and covariate design; without
    # covariates the model is fitted through its group means, weighted by group size.
    patients = patient_data(data, dose, response, covariates, drop_missing)
    cells = cell_means(patients)
    constant = _constant_for(model, cells.doses, scal, off, placebo_adjusted=False)
    n_obs = int(cells.n_per_dose.sum())
    if patients.design is None:
        sigma2 = cells.cov[0, 0] * cells.n_per_dose[0]
        problem = _LeastSquares(
            model,
            constant,
            cells.doses,
            cells.estimates,
            np.empty((cells.doses.size, 0)),
            False,
            extra_rss=float(sigma2 * cells.df),
            row_weights=np.sqrt(cells.n_per_dose),
        )
        return _Prepared(problem, "normal", n_obs, cells.n_dropped, (), np.empty(0), None)
    design = patients.design
    problem = _LeastSquares(model, constant, patients.dose, patients.response, patients.covariate_matrix, False)
    variables = list(patients.frame.columns[2:])
    means = _covariate_means(design, patients.frame, variables)
    return _Prepared(problem, "normal", n_obs, cells.n_dropped, tuple(design.columns)[1:], means, None)


def _prepare_estimates(
    model: Shape,
    doses: ArrayLike,
    estimates: ArrayLike,
    cov: ArrayLike,
    placebo_adjusted: bool,
    scal: float | None,
    off: float | None,
) -> _Prepared:
    d = as_doses(doses, "doses", placebo=not placebo_adjusted)
    est = as_vector(estimates, "estimates", length=d.size)
    s = as_covariance(cov, "cov", d.size)
    whitener = np.linalg.inv(np.linalg.cholesky(s))
    constant = _constant_for(model, d, scal, off, placebo_adjusted)
    problem = _LeastSquares(model, constant, d, est, np.empty((d.size, 0)), placebo_adjusted, whitener=whitener)
    return _Prepared(problem, "general", d.size, 0, (), np.empty(0), est)


def _constant_for(
    model: Shape, doses: FloatArray, scal: float | None, off: float | None, placebo_adjusted: bool
) -> float | FloatArray | None:
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


def _covariate_means(design: pd.DataFrame, frame: pd.DataFrame, variables: list[str]) -> FloatArray:
    """Average covariate row over a reference grid: numeric columns at their mean, every level of the others."""
    levels = []
    for name in variables:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            levels.append([float(column.mean())])
        else:
            levels.append(sorted(pd.unique(column)))
    reference = pd.DataFrame(list(itertools.product(*levels)), columns=variables)
    rows = design.model_spec.get_model_matrix(reference)
    return np.asarray(rows, dtype=float)[:, 1:].mean(axis=0)


def _check_dose_count(model: Shape, doses: FloatArray, placebo_adjusted: bool) -> None:
    """Enough distinct doses that the nonlinear parameters change the fit (and the linear ones are identified)."""
    if model.name == "linint":
        return
    needed = len(model.linear_parameters) - int(placebo_adjusted) + int(not model.is_linear)
    if doses.size < needed:
        active = "" if placebo_adjusted else f", {needed - 1} of them active"
        raise InputError(
            f"doses: need at least {needed} distinct doses{active} to fit the {model.name} shape; got {doses.tolist()}"
        )


def _check_bounds(bounds: ArrayLike | None, model: Shape, max_dose: float) -> FloatArray | None:
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


def _check_grid_points(grid_points: int | None, n_nonlinear: int) -> int:
    if grid_points is None:
        return _DEFAULT_GRID_POINTS[n_nonlinear]
    if isinstance(grid_points, bool) or not isinstance(grid_points, (int, np.integer)) or grid_points < 1:
        raise InputError(f"grid_points: must be a positive integer, got {grid_points!r}")
    return int(grid_points)


def _start_grid(box: FloatArray, n_points: int) -> FloatArray:
    """DoseFinding's getGrid: midpoints for one parameter, a golden lattice for two."""
    lower, upper = box[:, 0], box[:, 1]
    return _unit_grid(box.shape[0], n_points) * (upper - lower) + lower


@lru_cache(maxsize=16)
def _unit_grid(n_parameters: int, n_points: int) -> FloatArray:
    """The grid of :func:`_start_grid` in the unit box (read-only: it is shared between fits)."""
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


def _search(problem: _LeastSquares, box: FloatArray, n_points: int) -> tuple[FloatArray, FloatArray]:
    """Nonlinear parameters minimising the profiled objective: grid, then a local search.

    For every response of the problem at once: ``y`` of shape ``(n,)`` gives ``theta`` of
    shape ``(k,)`` and a 0-d ``converged``; a batch ``(B, n)`` gives ``(B, k)`` and ``(B,)``.
    Each response follows its own path, the same as it would alone.
    """
    batch = problem if problem.y.ndim == 2 else replace(problem, y=problem.y[None])
    grid = _start_grid(box, n_points)
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
    problem: _LeastSquares, lower: FloatArray, upper: FloatArray, start: FloatArray, max_iterations: int = 100
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


def _snap_to_bound(problem: _LeastSquares, x: FloatArray, lower: float, upper: float) -> FloatArray:
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


def _parameter_covariance(
    problem: _LeastSquares, dr: FloatArray, sigma2: float, warnings: list[str]
) -> FloatArray:
    """``sigma2 (J' W' W J)^-1`` by a QR decomposition of the whitened Jacobian."""
    jacobian = problem.whiten(problem.jacobian(dr))
    r = np.linalg.qr(jacobian, mode="r")
    diagonal = np.abs(np.diag(r))
    n_params = jacobian.shape[1]
    if diagonal.size < n_params or diagonal.min() <= np.finfo(float).eps * max(jacobian.shape) * diagonal.max():
        warnings.append("The covariance of the parameters is singular (the gradient is rank deficient); it is NaN.")
        return np.full((n_params, n_params), np.nan)
    r_inv = np.linalg.inv(r)
    return sigma2 * (r_inv @ r_inv.T)
