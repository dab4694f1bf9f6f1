"""Fitting one dose-response shape by (generalised) least squares, as R DoseFinding's ``fitMod``.

The input forms (raw data with covariates, estimates with covariance) become a
:class:`~dosefinding.mod.least_squares.LeastSquaresProblem`, fitted by
:func:`~dosefinding.mod.least_squares.fit_least_squares` (the linear parameters profiled
out, the nonlinear ones searched on a grid, then locally, as DoseFinding 1.0-3); this
module adds what a fit reports: parameter covariance, AIC or gAIC, predictions, target doses.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from dosefinding.errors import InputError
from dosefinding.mcp.first_stage import cell_means, patient_data
from dosefinding.mod.least_squares import (
    LeastSquaresProblem,
    check_bounds,
    check_dose_count,
    estimates_problem,
    fit_least_squares,
    shape_constant,
)
from dosefinding.mod.target_doses import DoseEstimate, DoseKind, curve_effective_dose, curve_target_dose
from dosefinding.shapes.candidates import Direction
from dosefinding.shapes.library import Shape, get_shape
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_vector, input_form

__all__ = ["DoseResponseFit", "fit_dose_response"]

FloatArray = NDArray[np.float64]
PredictionKind = Literal["full", "effect"]


@dataclass(frozen=True)
class DoseResponseFit(SummaryDisplay):
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
        confidence_level: float = 0.95,
    ) -> pd.DataFrame:
        """Predicted mean response (``"full"``) or effect over placebo (``"effect"``).

        With covariates, ``"full"`` predictions put the covariates at
        :attr:`covariate_means` (R's ``predict(..., predType = "ls-means")``). For
        placebo-adjusted estimates both kinds give the effect over placebo. With
        ``se=True`` the standard errors come from the delta method, and ``lower`` and
        ``upper`` bound a ``confidence_level`` interval from the t distribution with
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
        if not 0 < confidence_level < 1:
            raise InputError(f"confidence_level: must be between 0 and 1, got {confidence_level}")
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
            quantile = float(stats.t.ppf(0.5 + confidence_level / 2, self.df))
            table["lower"] = table["estimate"] - quantile * table["se"]
            table["upper"] = table["estimate"] + quantile * table["se"]
        return table

    def target_dose(
        self,
        delta: float,
        dose_kind: DoseKind = "continuous",
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
        >>> round(fit.target_dose(0.5).dose, 6), fit.target_dose(0.5, dose_kind="discrete").dose
        (0.5, 1.0)
        """
        return curve_target_dose(
            self.shape, self._full_dose_response_parameters(), delta, doses=self._design_doses(doses),
            dose_kind=dose_kind, direction=direction, constant=self._constant,
        )

    def effective_dose(self, p: float, dose_kind: DoseKind = "continuous", doses: ArrayLike | None = None) -> DoseEstimate:
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
            dose_kind=dose_kind, constant=self._constant,
        )

    def _design_doses(self, doses: ArrayLike | None) -> ArrayLike:
        """``doses``, by default the fitted doses with placebo (which placebo-adjusted fits lack)."""
        if doses is not None:
            return doses
        return np.concatenate([[0.0], self.doses]) if self.placebo_adjusted else self.doses

    def to_frame(self) -> pd.DataFrame:
        """One row per parameter: ``estimate`` and ``se``."""
        return pd.DataFrame({"estimate": self.parameters, "se": np.sqrt(np.diag(self.cov.to_numpy()))})

    def __repr__(self) -> str:
        criterion = {"AIC": self.aic} if self.fit_type == "normal" else {"gAIC": self.gaic}
        return short_repr(self, shape=self.shape, fit_type=self.fit_type,
                          parameters={k: round(float(v), 4) for k, v in self.parameters.items()},
                          **criterion, converged=self.converged)

    def summary(self) -> Summary:
        """A printed summary laid out as R's ``print`` of a ``fitMod`` result."""
        n_dr = self.parameters.size - self.covariate_means.size
        lines: list[str | SummaryTable] = [
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
        return Summary(lines, frame=self.to_frame())

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


def _signif_row(values: pd.Series) -> SummaryTable:
    return SummaryTable(values.map(lambda v: f"{v:.4g}").to_frame().T, index=False)


@dataclass(frozen=True)
class _Prepared:
    """The least-squares problem of one input form, with what the result reports about the data."""

    problem: LeastSquaresProblem
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
        # ignore[arg-type] below: input_form checked that this form's arguments are given
        prepared = _prepare_raw(model, data, dose, response, covariates, drop_missing, scal, off)  # type: ignore[arg-type]
    else:
        # ignore[arg-type] below: input_form checked that this form's arguments are given
        prepared = _prepare_estimates(model, doses, estimates, cov, placebo_adjusted, scal, off)  # type: ignore[arg-type]
    problem = prepared.problem
    # Estimates come with strictly increasing doses (as_doses checks them).
    fitted_doses = np.unique(problem.dose) if form == "raw" else problem.dose.copy()
    check_dose_count(model, fitted_doses, placebo_adjusted)
    box = check_bounds(bounds, model, float(fitted_doses[-1]))
    fit = fit_least_squares(problem, box, grid_points)
    theta, converged, coefficients, dr = fit.nonlinear, bool(fit.converged), fit.coefficients, fit.parameters
    objective = float(fit.objective)

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
    constant = shape_constant(model, cells.doses, scal, off, placebo_adjusted=False)
    n_obs = int(cells.n_per_dose.sum())
    if patients.design is None:
        sigma2 = cells.cov[0, 0] * cells.n_per_dose[0]
        problem = LeastSquaresProblem(
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
    problem = LeastSquaresProblem(model, constant, patients.dose, patients.response, patients.covariate_matrix, False)
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
    problem = estimates_problem(model, doses, estimates, cov, placebo_adjusted=placebo_adjusted, scal=scal, off=off)
    return _Prepared(problem, "general", problem.dose.size, 0, (), np.empty(0), problem.y)


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


def _parameter_covariance(
    problem: LeastSquaresProblem, dr: FloatArray, sigma2: float, warnings: list[str]
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
