"""MCP-Mod in one call (R DoseFinding's ``MCPMod``): the test, the fits, the choice, the doses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from dosefinding.errors import InputError
from dosefinding.mcp.mct import Alternative, MCTResult, mct_test
from dosefinding.mod.fit import DoseResponseFit, fit_dose_response
from dosefinding.mod.selection import ModelSelection, Selection, select_model
from dosefinding.mod.target_doses import DoseKind, check_delta, check_dose_kind
from dosefinding.shapes.candidates import Candidates
from dosefinding.shapes.library import get_shape
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_probability

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["MCPModResult", "mcpmod"]


@dataclass(frozen=True)
class MCPModResult(SummaryDisplay):
    """Result of :func:`mcpmod`.

    Attributes
    ----------
    mct
        The MCP step: the multiple contrast test of all candidates.
    fits
        Fits of the shapes with a significant contrast, by shape name in candidate order
        (empty when no contrast is significant).
    selection
        The choice among the fits (``None`` when nothing is significant).
    target_doses
        By fitted shape: ``TD`` (with :attr:`delta`) and / or ``ED`` (with :attr:`p`) of
        kind :attr:`dose_kind`; NaN where the curve does not reach the target.
    notes
        Why a target dose is NaN, or that a TD is extrapolated beyond the largest dose.

    Examples
    --------
    See :func:`mcpmod`.
    """

    mct: MCTResult
    fits: Mapping[str, DoseResponseFit]
    selection: ModelSelection | None
    target_doses: pd.DataFrame
    dose_kind: DoseKind
    delta: float | None
    p: float | None
    notes: tuple[str, ...]

    @property
    def selected_fit(self) -> DoseResponseFit | None:
        """The fit of the selected shape (``None`` for ``"aveAIC"`` or without a significant contrast)."""
        if self.selection is None or self.selection.selected is None:
            return None
        return self.fits[self.selection.selected]

    def effect_estimates(self, confidence_level: float = 0.95) -> pd.DataFrame:
        """Placebo-adjusted estimates of the active doses with ``confidence_level`` intervals.

        From the MCP step's estimates and covariance (differences to placebo unless the
        estimates are placebo-adjusted already), with the t distribution on its degrees
        of freedom (normal when infinite).
        """
        quantile = _quantile(confidence_level, self.mct.df)
        est, cov = self.mct.estimates.to_numpy(), self.mct.cov.to_numpy()
        doses = self.mct.estimates.index
        if not self.mct.placebo_adjusted:
            est = est[1:] - est[0]
            cov = cov[1:, 1:] - cov[1:, :1] - cov[:1, 1:] + cov[0, 0]
            doses = doses[1:]
        table = pd.DataFrame({"estimate": est, "se": np.sqrt(np.diag(cov))}, index=doses)
        table["lower"] = table["estimate"] - quantile * table["se"]
        table["upper"] = table["estimate"] + quantile * table["se"]
        return table

    def predict(self, doses: ArrayLike, confidence_level: float = 0.95) -> pd.DataFrame:
        """The effect curve over placebo at ``doses`` with a ``confidence_level`` band.

        The selected fit's :meth:`~dosefinding.mod.DoseResponseFit.predict` for
        ``"AIC"`` and ``"maxT"``. For ``"aveAIC"`` the AIC-weighted mean of the fits, with
        the standard error of Buckland, Burnham and Augustin (1997),
        ``sum_i w_i sqrt(se_i^2 + (f_i - f)^2)``, and the t quantile on the MCP step's
        degrees of freedom (R's MCPMod has no averaged curve; ``model_average`` gives
        the bootstrap one).
        """
        if self.selection is None:
            raise InputError("no candidate shape is significant: there is no dose-response curve to predict")
        fit = self.selected_fit
        if fit is not None:
            return fit.predict(doses, kind="effect", se=True, confidence_level=confidence_level)
        assert self.selection.weights is not None
        weights = self.selection.weights.to_numpy()
        tables = [self.fits[shape].predict(doses, kind="effect", se=True, confidence_level=confidence_level)
                  for shape in self.fits]
        curves = np.column_stack([t["estimate"].to_numpy() for t in tables])
        ses = np.column_stack([t["se"].to_numpy() for t in tables])
        mean = curves @ weights
        se = np.sqrt(ses**2 + (curves - mean[:, None]) ** 2) @ weights
        table = pd.DataFrame({"estimate": mean, "se": se}, index=tables[0].index)
        quantile = _quantile(confidence_level, self.mct.df)
        table["lower"] = table["estimate"] - quantile * table["se"]
        table["upper"] = table["estimate"] + quantile * table["se"]
        return table

    def plot(self, ax: Axes | None = None, confidence_level: float = 0.95, n_points: int = 201) -> Figure:
        """The dose-response figure: estimates with intervals, the curve and its band.

        Placebo-adjusted estimates by dose with ``confidence_level`` intervals, and the
        effect curve of :meth:`predict` with its ``confidence_level`` band, on ``ax`` (a matplotlib
        Axes) or on a new figure; returns the figure. No pyplot: the figure draws with
        the Agg canvas wherever it is saved.
        """
        if self.selection is None:
            raise InputError("no candidate shape is significant: there is no dose-response curve to plot")
        if ax is None:
            from matplotlib.figure import Figure

            figure = Figure(figsize=(6.0, 4.5))
            axes = figure.subplots()
        else:
            axes, figure = ax, ax.figure  # type: ignore[assignment]  # or the SubFigure ax is on: drawn on alike
        max_dose = float(self.mct.estimates.index.max())
        curve = self.predict(np.linspace(0.0, max_dose, n_points), confidence_level=confidence_level)
        points = self.effect_estimates(confidence_level)
        percent = f"{100 * confidence_level:g}%"
        label = self.selection.selected or "AIC-weighted average"
        axes.fill_between(curve.index, curve["lower"], curve["upper"], alpha=0.25, color="C0",
                          label=f"{percent} confidence band")
        axes.plot(curve.index, curve["estimate"], color="C0", label=f"Fitted curve ({label})")
        axes.errorbar(points.index, points["estimate"],
                      yerr=[points["estimate"] - points["lower"], points["upper"] - points["estimate"]],
                      fmt="o", color="k", capsize=3, label=f"Estimate with {percent} CI")
        axes.axhline(0.0, color="grey", linewidth=0.8)
        axes.set_xlabel("Dose")
        axes.set_ylabel("Effect over placebo")
        axes.legend()
        return figure

    def to_frame(self) -> pd.DataFrame:
        """One row per fitted shape: the selection criterion (and weight), ``selected``, and its TD and/or ED.

        Empty (no rows) when no contrast is significant; the MCP step's rows are ``mct.to_frame()``.
        """
        if self.selection is None:
            return pd.DataFrame(index=pd.Index([], name="shape"))
        return self.selection.to_frame().join(self.target_doses).rename_axis("shape")

    def __repr__(self) -> str:
        selected = None if self.selection is None else self.selection.selected or self.selection.method
        return short_repr(self, candidates=list(self.mct.t_statistics.index),
                          significant=int(self.mct.significant.sum()), fitted=list(self.fits), selected=selected,
                          dose_kind=self.dose_kind, alpha=self.mct.alpha)

    def summary(self) -> Summary:
        """A printed summary laid out as R's ``print(MCPMod(...))``."""
        lines: list[str | SummaryTable | Summary] = ["MCPMod", "", self.mct.summary(), ""]
        if self.selection is None:
            lines.append(f"No candidate model is significant at alpha = {self.mct.alpha:g}.")
            return Summary(lines, frame=self.to_frame())
        lines.append("Estimated Dose Response Models:")
        for shape, fit in self.fits.items():
            lines += ["", f"{shape} model", SummaryTable(fit.parameters.round(3).to_frame().T, index=False)]
        lines += ["", self.selection.summary()]
        for column, name, value in (("TD", "delta", self.delta), ("ED", "p", self.p)):
            if column in self.target_doses:
                lines += ["", f"Estimated {column} ({self.dose_kind}), {name} = {value:g}",
                          SummaryTable(self.target_doses[column].round(4))]
        lines += list(self.notes)
        return Summary(lines, frame=self.to_frame())


def mcpmod(
    candidates: Candidates,
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
    selection: Selection = "AIC",
    delta: float | None = None,
    p: float | None = None,
    dose_kind: DoseKind = "continuous",
    alpha: float = 0.025,
    alternative: Alternative = "one-sided",
    bounds: Mapping[str, ArrayLike] | None = None,
    seed: int | np.random.Generator = 0,
) -> MCPModResult:
    """The MCP-Mod procedure in one call, as R DoseFinding's ``MCPMod``.

    1. MCP step: :func:`~dosefinding.mcp.mct_test` of all candidates.
    2. Mod step: every shape with a significant contrast is fitted
       (:func:`~dosefinding.mod.fit_dose_response`, default bounds at the largest dose,
       the candidates' ``off`` and ``scal``); one fit per shape, however many candidates
       it has.
    3. Selection (:func:`~dosefinding.mod.select_model`): the smallest AIC (raw data) or
       gAIC (estimates), the largest t statistic, or AIC weights (``"aveAIC"``).
    4. Target doses of every fit: TD for the effect ``delta`` over placebo, in the
       candidates' direction, and / or ED for the fraction ``p`` of the maximum effect.

    Parameters
    ----------
    candidates
        The candidate models (R's ``Mods``); their direction is that of the TD.
    data, dose, response, covariates, drop_missing
        Raw data, as for :func:`~dosefinding.mcp.mct_test`.
    doses, estimates, cov, df, placebo_adjusted
        Estimates with their covariance (``df`` default infinite), as for
        :func:`~dosefinding.mcp.mct_test`.
    selection
        ``"AIC"``, ``"maxT"`` or ``"aveAIC"`` (R's ``selModel``).
    delta
        Target effect over placebo of the TD, signed as the candidates' direction
        (negative for decreasing; R's ``Delta`` is its absolute value).
    p
        Fraction of the maximum effect of the ED.
    dose_kind
        ``"continuous"`` (R's MCPMod) or ``"discrete"`` (the smallest dose of the design).
    alpha, alternative, seed
        Of the multiple contrast test.
    bounds
        Bounds of the nonlinear parameters by shape name (defaults as R's ``defBnds``).

    Examples
    --------
    R DoseFinding's example, ``MCPMod(dose, resp, biom, models, Delta = 0.5)`` with
    ``models <- Mods(linear = NULL, linlog = NULL, emax = c(0.05, 0.2), exponential = 0.3,
    quadratic = -0.85, doses = c(0, 0.05, 0.2, 0.6, 1), addArgs = list(off = 1))``, gives the
    same selection and target doses:

    >>> from dosefinding import Candidates, mcpmod
    >>> from dosefinding.datasets import biom
    >>> cands = Candidates([0, 0.05, 0.2, 0.6, 1], {"linear": None, "linlog": None, "emax": [0.05, 0.2],
    ...                    "exponential": 0.3, "quadratic": -0.85}, off=1)
    >>> res = mcpmod(cands, data=biom(), dose="dose", response="resp", delta=0.5)
    >>> res.selection.selected, res.target_doses["TD"].round(4).to_dict()
    ('emax', {'linear': 0.8951, 'linlog': 0.8145, 'emax': 0.2886, 'quadratic': 0.3871})
    """
    if selection not in ("AIC", "maxT", "aveAIC"):
        raise InputError(f"selection: must be 'AIC', 'maxT' or 'aveAIC', got {selection!r}")
    dose_kind = check_dose_kind(dose_kind)
    if delta is not None:
        check_delta(delta, candidates.direction)
    fraction = None if p is None else as_probability(p, "p")
    shape_bounds = check_shape_bounds(bounds, candidates)
    mct = mct_test(
        candidates, data=data, dose=dose, response=response, covariates=covariates, drop_missing=drop_missing,
        doses=doses, estimates=estimates, cov=cov, df=df, placebo_adjusted=placebo_adjusted, alpha=alpha,
        alternative=alternative, seed=seed,
    )
    shape_of = {model.label: model.shape for model in candidates.models}
    significant = mct.t_statistics[mct.significant]
    t_by_shape = significant.groupby(significant.index.map(shape_of), sort=False).max()
    columns = [name for name, value in (("TD", delta), ("ED", fraction)) if value is not None]
    if t_by_shape.empty:
        empty = pd.DataFrame(columns=columns, index=pd.Index([], name="shape"), dtype=float)
        return MCPModResult(mct, {}, None, empty, dose_kind, delta, fraction, ())
    fits = {
        shape: fit_dose_response(
            shape, data=data, dose=dose, response=response, covariates=covariates, drop_missing=drop_missing,
            doses=doses, estimates=estimates, cov=cov, df=df, placebo_adjusted=placebo_adjusted,
            bounds=shape_bounds.get(shape), scal=candidates.scal, off=candidates.off,
        )
        for shape in t_by_shape.index
    }
    chosen = select_model(fits, selection, t_by_shape)
    table = pd.DataFrame(index=pd.Index(list(fits), name="shape"), columns=columns, dtype=float)
    notes = []
    for shape, fit in fits.items():
        estimates_of_fit = []
        if delta is not None:
            estimates_of_fit.append(fit.target_dose(delta, dose_kind=dose_kind, direction=candidates.direction))
        if fraction is not None:
            estimates_of_fit.append(fit.effective_dose(fraction, dose_kind=dose_kind))
        for estimate in estimates_of_fit:
            table.loc[shape, estimate.quantity] = estimate.dose
            if estimate.note:
                notes.append(f"{shape}: {estimate.quantity} {estimate.note}")
    return MCPModResult(mct, fits, chosen, table, dose_kind, delta, fraction, tuple(notes))


def check_shape_bounds(bounds: Mapping[str, ArrayLike] | None, candidates: Candidates) -> dict[str, ArrayLike]:
    """``bounds`` of the nonlinear parameters by shape name (R's sigEmax, betaMod, linInt too), keyed by our shape names, as
    :func:`mcpmod` takes them: an :class:`InputError` for an unknown shape or bounds that exclude a
    candidate's own guesstimate (malformed bounds are reported by the fit).

    Examples
    --------
    >>> cands = Candidates([0, 5, 50, 300], {"emax": 25.0}, max_effect=-3.0)
    >>> check_shape_bounds({"sigEmax": [[1, 400], [0.5, 5]], "emax": [1, 400]}, cands)
    {'sigemax': [[1, 400], [0.5, 5]], 'emax': [1, 400]}
    """
    checked = _check_bounds(bounds)
    _check_guesstimates_within(candidates, checked)
    return checked


def _check_bounds(bounds: Mapping[str, ArrayLike] | None) -> dict[str, ArrayLike]:
    if bounds is None:
        return {}
    if not isinstance(bounds, Mapping):
        raise InputError(f"bounds: must map shape names to (lower, upper) rows, got {type(bounds).__name__}")
    checked = {}
    for name, value in bounds.items():
        try:
            checked[get_shape(name).name] = value
        except InputError as exc:
            raise InputError(f"bounds: {exc}") from None
    return checked


def _check_guesstimates_within(candidates: Candidates, bounds: Mapping[str, ArrayLike]) -> None:
    """Bounds that exclude a candidate's own nonlinear parameters contradict the design."""
    for model in candidates.models:
        names = get_shape(model.shape).nonlinear_parameters
        if model.shape not in bounds or not names:
            continue
        try:
            box = np.asarray(bounds[model.shape], dtype=float).reshape(-1, 2)
        except (TypeError, ValueError):
            continue  # malformed bounds are reported by the fit, with their expected shape
        if box.shape[0] != len(names):
            continue
        for name, (lower, upper) in zip(names, box, strict=True):
            value = float(model.parameters[name])
            if not lower <= value <= upper:
                raise InputError(
                    f"bounds: {model.shape} bounds ({lower:g}, {upper:g}) for {name} exclude the "
                    f"candidate {model.label}'s guesstimate {name} = {value:g}"
                )


def _quantile(confidence_level: float, df: float) -> float:
    as_probability(confidence_level, "confidence_level")
    return float(stats.t.ppf(0.5 + confidence_level / 2, df))
