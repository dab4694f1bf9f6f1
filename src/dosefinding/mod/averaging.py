"""Bootstrap model averaging (bagging) of dose-response shapes, as R DoseFinding's ``maFitMod``.

Draws of the dose-group estimates from their normal approximation ``N(est, S)``; every
shape fitted to every draw by generalised least squares (as :func:`fit_dose_response`
fits estimates); per draw the shape with the smallest gAIC; quantiles over the draws of
that shape's curve and target dose.

The fits of all draws run at once (:func:`~dosefinding.mod.least_squares.fit_least_squares`
on the batch of draws): the profiled objective is matrix algebra over a batch of responses,
so the starting grid, Brent's method (one nonlinear parameter) and the bounded Newton
search (two) step every draw together, each draw taking the path that its fit alone would take.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from dosefinding.errors import InputError
from dosefinding.mod.fit import PredictionKind
from dosefinding.mod.least_squares import check_bounds, check_dose_count, estimates_problem, fit_least_squares
from dosefinding.mod.target_doses import DoseKind, check_delta, check_dose_kind, curve_target_dose
from dosefinding.shapes.library import get_shape
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_generator, as_probability

__all__ = ["ModelAverage", "check_probs", "model_average", "quantile_table"]

FloatArray = NDArray[np.float64]
DEFAULT_PROBS = (0.025, 0.25, 0.5, 0.75, 0.975)


@dataclass(frozen=True)
class ModelAverage(SummaryDisplay):
    """Bootstrap model averaging over draws of the estimates (R's ``maFitMod``).

    Attributes
    ----------
    shapes
        The shapes fitted to every draw.
    draws
        The draws of the estimates, one row per draw, one column per dose.
    gaic
        gAIC of every shape on every draw (``objective + 2 p``).
    selected
        Per draw the shape with the smallest gAIC (the first of them on a tie, as R's
        ``which.min``).
    frequencies
        Fraction of draws on which each shape was selected.
    parameters
        Per shape, its parameters on every draw (named as :class:`DoseResponseFit`'s:
        without ``e0`` when placebo-adjusted).
    converged
        Per draw and shape, whether the local search converged.
    constants
        Per shape its constant (``off``, ``scal`` or linint's nodes), else ``None``.
    kind
        ``"full"`` (mean response) or ``"effect"`` (over placebo) curves; placebo-adjusted
        estimates give the effect either way.
    curves
        Per draw the selected shape's curve at the prediction doses.
    quantiles
        Quantiles of :attr:`curves` over the draws (rows: probabilities; R's default type 7).
    delta, dose_kind, target_doses, target_dose_quantiles
        With a target effect ``delta``: per draw the selected curve's target dose (NaN
        where the curve does not reach ``delta``) and the quantiles over the draws where
        it does (``None`` without ``delta``).
    doses, estimates, cov, placebo_adjusted
        The estimates drawn from and their covariance.
    warnings
        What went wrong numerically, if anything.

    Examples
    --------
    >>> import numpy as np
    >>> from dosefinding import model_average
    >>> from dosefinding.datasets import glycobrom
    >>> data = glycobrom()  # LS means of FEV1 and their standard errors
    >>> ma = model_average(["emax", "linear"], doses=data["dose"], estimates=data["fev1"],
    ...                    cov=np.diag(data["sdev"] ** 2), n_draws=200, seed=1)
    >>> ma.frequencies.index.tolist(), ma.quantiles.shape
    (['emax', 'linear'], (5, 5))
    """

    shapes: tuple[str, ...]
    draws: pd.DataFrame
    gaic: pd.DataFrame
    selected: pd.Series
    frequencies: pd.Series
    parameters: Mapping[str, pd.DataFrame]
    converged: pd.DataFrame
    constants: Mapping[str, float | tuple[float, ...] | None]
    kind: PredictionKind
    curves: pd.DataFrame
    quantiles: pd.DataFrame
    delta: float | None
    dose_kind: DoseKind
    target_doses: pd.Series | None
    target_dose_quantiles: pd.Series | None
    doses: FloatArray
    estimates: pd.Series
    cov: pd.DataFrame
    placebo_adjusted: bool
    warnings: tuple[str, ...]

    def predict(
        self, doses: ArrayLike, kind: PredictionKind | None = None, probs: Sequence[float] = DEFAULT_PROBS
    ) -> pd.DataFrame:
        """Quantiles over the draws of the selected curves at ``doses`` (R's ``predict.maFit``).

        Examples
        --------
        >>> ma = model_average(["linear"], doses=[0, 1, 2], estimates=[0.0, 1.0, 2.0],
        ...                    cov=np.eye(3) * 0.01, n_draws=100, seed=1)
        >>> ma.predict([0, 2], probs=[0.5]).round(1).to_numpy().tolist()
        [[0.0, 2.0]]
        """
        curves = _selected_curves(self, _check_doses(doses), self.kind if kind is None else _check_kind(kind))
        return quantile_table(curves, check_probs(probs))

    def to_frame(self) -> pd.DataFrame:
        """The quantiles of the curve over the draws: one row per dose, one column per probability."""
        return self.quantiles.T.rename_axis(index="dose")

    def __repr__(self) -> str:
        return short_repr(self, shapes=list(self.shapes), n_draws=len(self.selected),
                          frequencies={k: round(float(v), 4) for k, v in self.frequencies.items()},
                          delta=self.delta, dose_kind=self.dose_kind)

    def summary(self) -> Summary:
        """A printed summary laid out as R's ``print`` of a ``maFit``, with the curve's quantiles."""
        counts = self.selected.value_counts().reindex(list(self.shapes), fill_value=0)
        scale = "effect over placebo" if self.placebo_adjusted or self.kind == "effect" else "mean response"
        lines: list[str | SummaryTable] = [
            "Bootstrap model averaging fits",
            "",
            "Specified summary data:",
            "doses: " + ", ".join(f"{d:g}" for d in self.doses),
            "mean: " + ", ".join(f"{v:.3g}" for v in self.estimates),
            "Covariance Matrix:",
            SummaryTable(self.cov.map(lambda v: f"{v:.3g}")),
            "",
            "Models fitted: " + ", ".join(self.shapes),
            "",
            f"Models selected by gAIC on bootstrap samples (n_draws = {len(self.selected)})",
            SummaryTable(counts.to_frame().T, index=False),
            "",
            f"Quantiles of the {scale} by dose",
            SummaryTable(self.quantiles.map(lambda v: f"{v:.4g}")),
        ]
        if self.target_doses is not None and self.target_dose_quantiles is not None:
            reached = float(np.mean(np.isfinite(self.target_doses.to_numpy())))
            lines += [
                "",
                f"Target dose ({self.dose_kind}, delta = {self.delta:g}), reached on {reached:.1%} of draws:",
                SummaryTable(self.target_dose_quantiles.map(lambda v: f"{v:.4g}").to_frame().T, index=False),
            ]
        if self.warnings:
            lines += [""] + list(self.warnings)
        return Summary(lines, frame=self.to_frame())


def model_average(
    shapes: Sequence[str],
    *,
    doses: ArrayLike,
    estimates: ArrayLike,
    cov: ArrayLike,
    placebo_adjusted: bool = False,
    n_draws: int | None = None,
    draws: ArrayLike | None = None,
    predict_doses: ArrayLike | None = None,
    kind: PredictionKind = "full",
    probs: Sequence[float] = DEFAULT_PROBS,
    delta: float | None = None,
    dose_kind: DoseKind = "continuous",
    bounds: Mapping[str, ArrayLike] | None = None,
    scal: float | None = None,
    off: float | None = None,
    grid_points: int | None = None,
    seed: int | np.random.Generator = 0,
) -> ModelAverage:
    """Bootstrap model averaging (bagging) of dose-response shapes, as R DoseFinding's ``maFitMod``.

    Draws ``n_draws`` vectors of estimates from ``N(estimates, cov)``, fits every shape
    to every draw by generalised least squares (each fit as :func:`fit_dose_response`
    with ``estimates=draw``, bounds and grid included), keeps per draw the shape with
    the smallest gAIC, and reports quantiles over the draws of the kept curves (and of
    their target doses, given ``delta``) and how often each shape was kept.

    Parameters
    ----------
    shapes
        Names of the shapes to fit (R's spellings work too).
    doses, estimates, cov
        Dose levels (increasing; starting at 0 unless placebo-adjusted), estimates per
        dose and their covariance.
    placebo_adjusted
        The estimates are differences to placebo (the shapes are then fitted without
        ``e0``, as ``fit_dose_response(placebo_adjusted=True)``).
    n_draws
        Number of draws (default 1000, R's ``nSim``).
    draws
        Draws to use instead of sampling, shape ``(n_draws, n_doses)`` (for example R's,
        to reproduce its fits draw by draw).
    predict_doses
        Doses of :attr:`ModelAverage.curves` (default: the doses, with placebo).
    kind
        ``"full"`` (mean response, R's ``"ls-means"``) or ``"effect"`` (over placebo).
    probs
        Probabilities of the quantiles (default R's: 0.025, 0.25, 0.5, 0.75, 0.975).
    delta, dose_kind
        Target effect over placebo (signed: negative for a decreasing curve) and the kind
        of target dose (``"continuous"`` or ``"discrete"``, from the doses with placebo).
    bounds
        ``(lower, upper)`` of the nonlinear parameters by shape name (default
        :func:`~dosefinding.shapes.default_bounds` at the largest dose).
    scal, off, grid_points
        As for :func:`fit_dose_response`.
    seed
        Seed (int or numpy Generator) of the draws.

    Examples
    --------
    >>> ma = model_average(["emax", "exponential", "linear"], doses=[5, 50, 300],
    ...                    estimates=[-0.6, -1.1, -1.92], cov=0.34 * (np.eye(3) + 1),
    ...                    placebo_adjusted=True, n_draws=500, delta=-1.0, seed=2201)
    >>> ma.frequencies.round(2).tolist()
    [0.39, 0.0, 0.61]
    >>> print(ma.summary())  # doctest: +ELLIPSIS
    Bootstrap model averaging fits
    ...
    """
    names = _check_shapes(shapes)
    kind = _check_kind(kind)
    probabilities = check_probs(probs)
    if delta is not None:
        check_delta(delta)
    dose_kind = check_dose_kind(dose_kind)
    bounds_by_shape = _check_bounds_mapping(bounds, names)
    problems = {
        name: estimates_problem(get_shape(name), doses, estimates, cov, placebo_adjusted=placebo_adjusted,
                                scal=scal, off=off)
        for name in names
    }
    first = problems[names[0]]
    covariance = np.asarray(cov, dtype=float)  # checked by estimates_problem
    sampled = _draws(draws, n_draws, first.y, covariance, seed)
    design_doses = first.dose
    with_placebo = np.concatenate([[0.0], design_doses]) if placebo_adjusted else design_doses
    curve_doses = with_placebo if predict_doses is None else _check_doses(predict_doses)

    gaic, parameters, converged, constants, warnings = {}, {}, {}, {}, []
    for name, problem in problems.items():
        model = get_shape(name)
        check_dose_count(model, design_doses, placebo_adjusted)
        box = check_bounds(bounds_by_shape.get(name), model, float(design_doses[-1]))
        fit = fit_least_squares(replace(problem, y=sampled), box, grid_points)
        dr, found = fit.parameters, fit.converged
        n_params = dr.shape[1] - int(placebo_adjusted)
        gaic[name] = fit.objective + 2 * n_params
        names_of = list(model.parameter_names(problem.constant))[int(placebo_adjusted) :]
        parameters[name] = pd.DataFrame(dr[:, int(placebo_adjusted) :], columns=names_of).rename_axis("draw")
        converged[name] = found
        constant = problem.constant
        constants[name] = tuple(constant.tolist()) if isinstance(constant, np.ndarray) else constant
        if not found.all():
            warnings.append(f"The local search of {name} did not converge on {int(np.sum(~found))} draws.")

    gaic_table = pd.DataFrame(gaic).rename_axis("draw")
    scores = gaic_table.to_numpy()
    choice = np.argmin(np.where(np.isfinite(scores), scores, np.inf), axis=1)
    selected = pd.Series(np.array(names, dtype=object)[choice], index=gaic_table.index, name="shape")
    frequencies = selected.value_counts(normalize=True).reindex(list(names), fill_value=0.0).rename("frequency")
    result = ModelAverage(
        shapes=names,
        draws=pd.DataFrame(sampled, columns=pd.Index(design_doses, name="dose")).rename_axis("draw"),
        gaic=gaic_table,
        selected=selected,
        frequencies=frequencies,
        parameters=parameters,
        converged=pd.DataFrame(converged).rename_axis("draw"),
        constants=constants,
        kind=kind,
        curves=pd.DataFrame(),
        quantiles=pd.DataFrame(),
        delta=None if delta is None else float(delta),
        dose_kind=dose_kind,
        target_doses=None,
        target_dose_quantiles=None,
        doses=design_doses,
        estimates=pd.Series(first.y, index=pd.Index(design_doses, name="dose"), name="estimate"),
        cov=pd.DataFrame(
            covariance,
            index=pd.Index(design_doses, name="dose"),
            columns=pd.Index(design_doses, name="dose"),
        ),
        placebo_adjusted=placebo_adjusted,
        warnings=tuple(warnings),
    )
    curves = _selected_curves(result, curve_doses, kind)
    targets = None if delta is None else _target_doses(result, float(delta), result.dose_kind, with_placebo)
    return replace(
        result,
        curves=curves,
        quantiles=quantile_table(curves, probabilities),
        target_doses=targets,
        target_dose_quantiles=None if targets is None else quantile_table(targets.dropna().to_frame(), probabilities)[
            targets.name
        ],
    )


def _check_shapes(shapes: Sequence[str]) -> tuple[str, ...]:
    if isinstance(shapes, str):
        shapes = [shapes]
    names = tuple(get_shape(name).name for name in shapes)
    if not names:
        raise InputError("shapes: give at least one shape to fit")
    if len(set(names)) < len(names):
        raise InputError(f"shapes: each shape only once, got {list(shapes)}")
    return names


def _check_kind(kind: str) -> PredictionKind:
    if kind not in ("full", "effect"):
        raise InputError(f"kind: must be 'full' or 'effect', got {kind!r}")
    return kind  # type: ignore[return-value]  # one of PredictionKind's values, checked above


def check_probs(probs: Sequence[float]) -> FloatArray:
    """Probabilities of quantiles, each in (0, 1), at least one; :class:`InputError` naming ``probs``.

    Examples
    --------
    >>> check_probs([0.5, 0.975]).tolist()
    [0.5, 0.975]
    """
    values = np.array([as_probability(p, "probs") for p in np.atleast_1d(np.asarray(probs, dtype=object))])
    if values.size == 0:
        raise InputError("probs: give at least one probability")
    return values


def _check_doses(doses: ArrayLike) -> FloatArray:
    try:
        values = np.atleast_1d(np.asarray(doses, dtype=float))
    except (TypeError, ValueError) as exc:
        raise InputError(f"predict_doses: must be numeric ({exc})") from None
    if values.ndim != 1 or not np.all(np.isfinite(values)) or np.any(values < 0):
        raise InputError(f"predict_doses: must be finite non-negative doses, got {values.tolist()}")
    return values


def _check_bounds_mapping(
    bounds: Mapping[str, ArrayLike] | None, names: tuple[str, ...]
) -> dict[str, ArrayLike]:
    if bounds is None:
        return {}
    if not isinstance(bounds, Mapping):
        raise InputError(f"bounds: must map shape names to (lower, upper) bounds, got {type(bounds).__name__}")
    checked = {get_shape(name).name: value for name, value in bounds.items()}
    unknown = sorted(set(checked) - set(names))
    if unknown:
        raise InputError(f"bounds: given for {unknown}, which are not among the shapes {list(names)}")
    return checked


def _draws(
    draws: ArrayLike | None,
    n_draws: int | None,
    mean: FloatArray,
    cov: FloatArray,
    seed: int | np.random.Generator,
) -> FloatArray:
    """The given draws, checked, or ``n_draws`` draws from ``N(mean, cov)``."""
    if draws is not None:
        if n_draws is not None:
            raise InputError("n_draws: give n_draws or draws, not both")
        try:
            values = np.asarray(draws, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InputError(f"draws: must be numeric ({exc})") from None
        if values.ndim != 2 or values.shape[1] != mean.size or values.shape[0] < 1:
            raise InputError(f"draws: need shape (n_draws, {mean.size}), got {values.shape}")
        if not np.all(np.isfinite(values)):
            raise InputError("draws: must be finite")
        return values
    count = 1000 if n_draws is None else n_draws
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise InputError(f"n_draws: must be a positive integer, got {n_draws!r}")
    return as_generator(seed).multivariate_normal(mean, cov, size=int(count), method="cholesky")


def _selected_curves(result: ModelAverage, doses: FloatArray, kind: PredictionKind) -> pd.DataFrame:
    """Per draw the selected shape's mean response (or effect over placebo) at ``doses``."""
    curves = np.empty((len(result.selected), doses.size))
    chosen = result.selected.to_numpy()
    for name in result.shapes:
        rows = np.flatnonzero(chosen == name)
        if rows.size == 0:
            continue
        model = get_shape(name)
        dr = result.parameters[name].to_numpy()[rows]
        if result.placebo_adjusted:
            dr = np.concatenate([np.zeros((rows.size, 1)), dr], axis=1)
        linear, nonlinear = model.split(dr)
        constant = result.constants[name]
        value = _batched_response(model.basis(doses, nonlinear, constant), linear)
        if kind == "effect" or result.placebo_adjusted:
            value = value - _batched_response(model.basis(np.zeros(1), nonlinear, constant), linear)
        curves[rows] = value
    return pd.DataFrame(curves, index=result.selected.index, columns=pd.Index(doses, name="dose"))


def _batched_response(basis: FloatArray, linear: FloatArray) -> FloatArray:
    """``basis @ linear`` per draw: a basis per draw ``(B, m, L)`` (or one for all, ``(m, L)``), linear ``(B, L)``."""
    return linear @ basis.T if basis.ndim == 2 else np.einsum("bml,bl->bm", basis, linear)


def _target_doses(result: ModelAverage, delta: float, dose_kind: DoseKind, doses: FloatArray) -> pd.Series:
    """Per draw the selected curve's target dose, NaN where it does not reach ``delta``."""
    values = np.empty(len(result.selected))
    for i, name in enumerate(result.selected):
        dr = result.parameters[name].iloc[i].to_numpy()
        if result.placebo_adjusted:
            dr = np.concatenate([[0.0], dr])
        values[i] = curve_target_dose(name, dr, delta, doses=doses, dose_kind=dose_kind, constant=result.constants[name]).dose
    return pd.Series(values, index=result.selected.index, name="target_dose")


def quantile_table(values: pd.DataFrame, probs: FloatArray) -> pd.DataFrame:
    """Quantiles of each column (R's default type 7, numpy's ``"linear"``), rows named by probability.

    Examples
    --------
    >>> quantile_table(pd.DataFrame({"a": [1.0, 2.0, 3.0]}), np.array([0.5])).to_dict()
    {'a': {0.5: 2.0}}
    """
    array = values.to_numpy()
    table = np.quantile(array, probs, axis=0) if array.shape[0] else np.full((probs.size, array.shape[1]), np.nan)
    return pd.DataFrame(table, index=pd.Index(probs, name="prob"), columns=values.columns)

