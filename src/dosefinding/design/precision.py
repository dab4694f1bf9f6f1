"""Sample size for the precision of the estimated dose-response (DoseFinding request #42).

The MCP step's sample size asks for power; the Mod step asks how well the curve, an effective
dose and the target dose will be estimated. Here each simulated trial is a parametric bootstrap
draw of the dose-group estimates from ``N(mu, S)``, ``S = sigma^2 diag(1 / n)``, under each true
curve (an alternative of a :class:`~dosefinding.shapes.Candidates`); every shape is fitted to every
draw at once and per draw the one with the smallest gAIC kept (the batched fits of
:func:`~dosefinding.design.plan_mod`). From the kept fit of each trial, with ``z`` the normal
quantile of ``confidence_level`` and the fit's Wald covariance ``(F' S^-1 F)^-1`` (``S`` known):

* ``curve_half_width``: the largest half-width ``z SE`` of the effect over placebo over the
  active doses (``at="doses"``) or a grid of ``curve_points`` doses (``at="grid"``);
* ``ed_half_width`` and ``td_half_width``: ``z SD`` of ED_p and of the TD by the delta method,
  their gradients by implicit differentiation of ``effect(ED) = p effect(top)`` and
  ``effect(TD) = delta``; undefined in a trial without a TD or with a singular information;
* ``erp``: the effective range probability of request #42, the share of trials whose ED_p
  lies strictly between the true ED at ``p_lower`` and at ``p_upper`` (R planMod's ``P(EDp)``);
* ``p_td_window``: the share of trials whose TD lies within factors ``td_window`` of the true TD;
* ``rmse``: root mean squared error of the effect over the same points (planMod's ``dRMSE``,
  ``cRMSE``); ``ed_length``, ``td_length``: the ``interval`` quantile range of the simulated
  EDs and TDs (planMod's ``lengthEDCI``, ``lengthTDCI``).

A half-width is summarised over the trials by its mean (``probability=None``: met in
expectation, over the trials where it is defined, ``p_undefined`` beside it) or by its
``probability`` quantile (met with that probability; an undefined half-width counts as not
met). Each value comes with its Monte Carlo standard error.

:func:`precision_sample_size` finds the smallest ``N`` (group sizes ``round(N * allocation)``,
as :func:`~dosefinding.design.sample_size`, whose bracketing and bisection it uses) at which the
measure meets the target under every true curve. The trials use common random numbers: one
set of standard normal draws, scaled by ``sigma / sqrt(n)`` for each ``N``, so that the
estimate is a smooth function of ``N`` and the bisection does not chase Monte Carlo noise; the
value at ``N - 1`` is reported beside the one found, and a target within two Monte Carlo
standard errors of the value found is flagged.

Request #42 (``simERP``) keeps as ED_p estimate the ED of the median of a further bootstrap
model average (``maFitMod``) within each trial; here the ED of the trial's selected fit is
kept, as planMod does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from dosefinding.design.plan_mod import (
    FittedShape,
    binomial_se,
    check_fitted_shapes,
    check_pair,
    dose_group_covariance,
    fit_and_select,
    quantile_length,
    simulated_estimates,
)
from dosefinding.design.sample_size import SampleSizeSearch, sample_size
from dosefinding.errors import InputError
from dosefinding.mod.target_doses import check_delta, curve_effective_dose, curve_target_dose
from dosefinding.shapes.candidates import Candidates
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_generator, as_positive_int, as_probability, as_vector

__all__ = ["MEASURES", "NEEDS_DELTA", "EstimationPrecision", "PrecisionSampleSize", "estimation_precision",
           "precision_sample_size"]

FloatArray = NDArray[np.float64]
Measure = Literal["curve_half_width", "ed_half_width", "td_half_width", "erp", "p_td_window", "rmse",
                  "ed_length", "td_length"]
MEASURES: dict[str, bool] = {
    "curve_half_width": False, "ed_half_width": False, "td_half_width": False, "erp": True, "p_td_window": True,
    "rmse": False, "ed_length": False, "td_length": False,
}
"""The precision measures, each with whether a larger value is better (a share) or a smaller one."""
NEEDS_DELTA = ("td_half_width", "p_td_window", "td_length")
"""The measures of the target dose, which need its target effect ``delta``."""
_COLUMNS = (
    "curve_half_width", "curve_half_width_se", "ed_half_width", "ed_half_width_se", "p_no_ed_sd",
    "td_half_width", "td_half_width_se", "p_no_td_sd", "erp", "erp_se", "p_td_window", "p_td_window_se",
    "rmse", "rmse_se", "ed_length", "td_length",
)


@dataclass(frozen=True)
class EstimationPrecision(SummaryDisplay):
    """Precision of the estimated dose-response at given group sizes, under each true curve.

    Attributes
    ----------
    n
        Patients per dose.
    values
        One row per true curve: each measure of the module docstring and its Monte Carlo
        standard error (``*_se``); ``p_no_ed_sd`` and ``p_no_td_sd`` the shares of trials without
        an ED or TD standard deviation (no TD, or a singular information).
    trials
        One row per true curve and trial: the shape ``selected``, ``curve_half_width``, ``ed``,
        ``ed_half_width``, ``td``, ``td_half_width`` (NaN where undefined) and the ``squared_error`` of the
        effect averaged over the points.
    confidence_level, probability, at
        How the half-widths were taken and summarised (``probability`` ``None``: the mean).
    n_trials
        Simulated trials per true curve.
    """

    n: NDArray[np.float64]
    values: pd.DataFrame
    trials: pd.DataFrame
    confidence_level: float
    probability: float | None
    at: str
    n_trials: int

    def to_frame(self) -> pd.DataFrame:
        """:attr:`values`."""
        return self.values

    def __repr__(self) -> str:
        return short_repr(self, n=self.n.tolist(), probability=self.probability, n_trials=self.n_trials)

    def summary(self) -> Summary:
        """The measures by true curve."""
        how = "mean" if self.probability is None else f"{self.probability:g} quantile"
        return Summary([
            f"Estimation precision at n = {', '.join(f'{k:g}' for k in self.n)} ({self.n_trials} trials per curve)",
            f"Half-widths of {self.confidence_level:.0%} Wald intervals (curve at the {self.at}): their {how}",
            SummaryTable(self.values.map(lambda v: f"{v:.4g}")),
        ], frame=self.values)


@dataclass(frozen=True)
class PrecisionSampleSize(SummaryDisplay):
    """The smallest sample size at which a precision measure meets its target under every true curve.

    Attributes
    ----------
    n
        Patients per dose at the ``N`` found.
    measure, target, probability
        The measure, its target and how half-widths were summarised (``None``: the mean).
    value, value_se
        The measure at :attr:`n` under the worst true curve, and its Monte Carlo standard error (NaN for the
        interval lengths ``ed_length`` and ``td_length``, which have none here).
    value_below
        The measure under the worst true curve at ``N - 1`` (NaN when ``N`` is 1).
    borderline
        Whether the target lies within two Monte Carlo standard errors of :attr:`value` (more
        trials would settle the last patients).
    precision
        :class:`EstimationPrecision` at :attr:`n`.
    search
        The bracketing and bisection (:class:`~dosefinding.design.SampleSizeSearch`).
    """

    n: NDArray[np.int64]
    measure: str
    target: float
    probability: float | None
    value: float
    value_se: float
    value_below: float
    borderline: bool
    precision: EstimationPrecision
    search: SampleSizeSearch

    @property
    def total(self) -> int:
        """Total number of patients."""
        return int(self.n.sum())

    def to_frame(self) -> pd.DataFrame:
        """The evaluations of the search: ``N`` and the measure under the worst true curve."""
        return self.search.evaluations

    def __repr__(self) -> str:
        return short_repr(self, n=self.n.tolist(), measure=self.measure, target=self.target, value=self.value)

    def summary(self) -> Summary:
        """The sample size, the value at it and below it, and the precision at it."""
        lines: list[str | SummaryTable | Summary] = [
            "Sample size for estimation precision",
            f"Measure: {self.measure} {'>=' if MEASURES[self.measure] else '<='} {self.target:g} under every true curve"
            + ("" if self.probability is None or MEASURES[self.measure] else f" with probability {self.probability:g}"),
            f"Sample size per arm: {', '.join(str(k) for k in self.n.tolist())} (total {self.total})",
            f"Value: {self.value:.4g} (Monte Carlo SE {self.value_se:.2g}); one patient fewer: {self.value_below:.4g}",
        ]
        if self.borderline:
            lines.append("The target is within two Monte Carlo standard errors of the value: use more trials.")
        lines += ["", self.precision.summary()]
        return Summary(lines, frame=self.to_frame())


def estimation_precision(
    shapes: str | Sequence[str],
    alternatives: Candidates,
    *,
    n: float | ArrayLike | None = None,
    sigma: float | None = None,
    cov: ArrayLike | None = None,
    confidence_level: float = 0.95,
    probability: float | None = None,
    at: Literal["doses", "grid"] = "doses",
    p: float = 0.9,
    p_lower: float = 0.75,
    p_upper: float = 0.97,
    delta: float | None = None,
    td_window: tuple[float, float] = (0.5, 2.0),
    interval: tuple[float, float] = (0.05, 0.95),
    curve_points: int = 101,
    n_trials: int = 1000,
    seed: int | np.random.Generator = 0,
    trials: ArrayLike | None = None,
    bounds: dict[str, ArrayLike] | None = None,
    scal: float | None = None,
    off: float | None = None,
    grid_points: int | None = None,
) -> EstimationPrecision:
    """Precision of the estimated curve, ED and TD at given group sizes, by parametric bootstrap.

    Parameters
    ----------
    shapes
        The shape fitted, or several (per trial the one with the smallest gAIC).
    alternatives
        The true curves, at the design's doses.
    n, sigma, cov
        Patients per dose and the residual SD, or the covariance of the dose-group estimates.
    confidence_level
        Two-sided level of the Wald intervals whose half-widths are taken.
    probability
        ``None``: half-widths averaged over the trials; a probability: their quantile.
    at
        The curve's half-width and RMSE over the active doses or a grid of ``curve_points`` doses.
    p, p_lower, p_upper
        The ED_p estimated and the true ED_{p_lower}, ED_{p_upper} bounding its effective range
        (defaults of request #42's ``simERP``: 0.9, 0.75, 0.97).
    delta
        Target effect over placebo of the TD (signed); the TD measures need it.
    td_window, interval
        As for :func:`~dosefinding.design.plan_mod`.
    curve_points
        Doses of the grid (``at="grid"``), equally spaced from 0 to the largest.
    n_trials, seed
        Simulated trials per true curve and the seed of their draws.
    trials
        Simulated estimates to use instead, ``(alternatives, n_trials, doses)``.
    bounds, scal, off, grid_points
        As for :func:`~dosefinding.fit_dose_response`.

    Returns
    -------
    EstimationPrecision

    Examples
    --------
    >>> from dosefinding import Candidates
    >>> from dosefinding.design import estimation_precision
    >>> cands = Candidates([0, 5, 50, 300], {"linear": None}, max_effect=-3.5)
    >>> prec = estimation_precision("linear", cands, n=45, sigma=5.6, n_trials=50)
    >>> round(float(prec.values.loc["linear", "curve_half_width"]), 4)  # z 5.6 300 / sqrt(45 Sxx), Sxx = 61018.75
    1.9871
    """
    setup = _Setup.build(shapes, alternatives, confidence_level, probability, at, p, p_lower, p_upper, delta,
                         td_window, interval, curve_points, bounds, scal, off, grid_points)
    k = alternatives.doses.size
    s = dose_group_covariance(n, sigma, cov, k)
    n_arm = None if cov is not None else np.broadcast_to(np.asarray(n, dtype=float), (k,)).copy()
    return setup.evaluate(n_arm, s, simulated_estimates(trials, setup.mu, s, n_trials, seed))


def precision_sample_size(
    shapes: str | Sequence[str],
    alternatives: Candidates,
    *,
    sigma: float,
    measure: Measure,
    target: float,
    allocation: ArrayLike | None = None,
    probability: float | None = None,
    upper_n: int = 50,
    max_n: int = 10_000,
    confidence_level: float = 0.95,
    at: Literal["doses", "grid"] = "doses",
    p: float = 0.9,
    p_lower: float = 0.75,
    p_upper: float = 0.97,
    delta: float | None = None,
    td_window: tuple[float, float] = (0.5, 2.0),
    interval: tuple[float, float] = (0.05, 0.95),
    curve_points: int = 101,
    n_trials: int = 1000,
    seed: int | np.random.Generator = 0,
    bounds: dict[str, ArrayLike] | None = None,
    scal: float | None = None,
    off: float | None = None,
    grid_points: int | None = None,
) -> PrecisionSampleSize:
    """Smallest sample size whose estimated dose-response meets a precision target under every true curve.

    Parameters
    ----------
    shapes, alternatives, sigma
        As for :func:`estimation_precision`.
    measure
        One of :data:`MEASURES`: a half-width, RMSE or length to bring down to ``target``, or a
        share (``erp``, ``p_td_window``) to bring up to it.
    target
        The value to reach.
    allocation
        Allocation ratios per dose (default equal); ``N`` is the smallest arm.
    probability
        For a half-width: the probability with which it must meet the target (``None``: in expectation).
    upper_n, max_n
        Starting upper end of the bracket on ``N`` (doubled as needed), and the largest ``N`` tried: a
        target not met there (a shape that cannot fit a true curve may never meet it) is an :class:`InputError`.
    confidence_level, at, p, p_lower, p_upper, delta, td_window, interval, curve_points, n_trials, seed, bounds, \
scal, off, grid_points
        As for :func:`estimation_precision`; the same standard normal draws serve every ``N``.

    Returns
    -------
    PrecisionSampleSize

    Examples
    --------
    >>> from dosefinding import Candidates
    >>> from dosefinding.design import precision_sample_size
    >>> cands = Candidates([0, 5, 50, 300], {"linear": None}, max_effect=-3.5)
    >>> found = precision_sample_size("linear", cands, sigma=5.6, measure="curve_half_width", target=1.5,
    ...                               n_trials=20)
    >>> found.n.tolist(), round(found.value, 4)  # closed form: ceil(45 (1.9871 / 1.5)^2) = ceil(78.97) = 79
    ([79, 79, 79, 79], 1.4997)
    """
    if measure not in MEASURES:
        raise InputError(f"measure: one of {list(MEASURES)}, got {measure!r}")
    if measure in NEEDS_DELTA and delta is None:
        raise InputError(f"delta: the measure {measure!r} needs the target effect delta")
    goal = float(target)
    if not np.isfinite(goal) or goal <= 0 or (MEASURES[measure] and goal >= 1):
        bound = "in (0, 1)" if MEASURES[measure] else "positive"
        raise InputError(f"target: a {measure} target must be {bound}, got {target!r}")
    if not (np.isfinite(sigma) and sigma > 0):
        raise InputError(f"sigma: must be positive, got {sigma!r}")
    k = alternatives.doses.size
    ratio = np.ones(k) if allocation is None else as_vector(allocation, "allocation", length=k)
    setup = _Setup.build(shapes, alternatives, confidence_level, probability, at, p, p_lower, p_upper, delta,
                         td_window, interval, curve_points, bounds, scal, off, grid_points)
    if as_positive_int(n_trials, "n_trials") < 2:
        raise InputError(f"n_trials: need at least 2 trials, got {n_trials!r}")
    noise = as_generator(seed).standard_normal((setup.mu.shape[1], int(n_trials), k))
    sign = 1.0 if MEASURES[measure] else -1.0
    found: dict[tuple[int, ...], EstimationPrecision] = {}
    limit = as_positive_int(max_n, "max_n")
    last = [np.ones(k, dtype=np.int64)]

    def at_sizes(group: NDArray[np.int64]) -> EstimationPrecision:
        key = tuple(group.tolist())
        if key not in found:
            variance = sigma**2 / group
            draws = setup.mu.T[:, None, :] + noise * np.sqrt(variance)
            found[key] = setup.evaluate(group.astype(float), np.diag(variance), draws)
        return found[key]

    def worst(group: NDArray[np.int64]) -> float:
        if group.min() > limit:
            raise InputError(f"target: {measure} {'>=' if sign > 0 else '<='} {goal:g} is not met under every true "
                             f"curve with {limit} patients in the smallest arm (max_n); the values at the largest N "
                             f"tried: {at_sizes(last[0]).values[measure].round(4).to_dict()}")
        last[0] = group
        return sign * float(np.min(sign * at_sizes(group).values[measure].to_numpy()))

    search = sample_size(lambda group: sign * worst(group), sign * goal, ratio, upper_n=as_positive_int(upper_n, "upper_n"),
                         tol=1e-12)
    precision = at_sizes(search.n)
    column = precision.values[measure].to_numpy()
    worst_curve = int(np.argmin(sign * column))
    value = float(column[worst_curve])
    se_column = f"{measure}_se"
    value_se = float(precision.values[se_column].iloc[worst_curve]) if se_column in precision.values else np.nan
    smallest = int(np.round(search.n.min()))
    below = np.nan
    if smallest > 1:
        below = worst(np.round((smallest - 1) * ratio / ratio.min()).astype(np.int64))
    return PrecisionSampleSize(
        n=search.n, measure=measure, target=goal, probability=probability, value=value, value_se=value_se,
        value_below=below, borderline=bool(np.isfinite(value_se) and abs(value - goal) < 2 * value_se),
        precision=precision, search=search,
    )


@dataclass(frozen=True)
class _Setup:
    """The checked arguments, the fitted shapes and the true curves' quantities shared by every ``n``."""

    names: tuple[str, ...]
    alternatives: Candidates
    bounds: dict[str, ArrayLike] | None
    scal: float | None
    off: float | None
    grid_points: int | None
    z: float
    confidence_level: float
    probability: float | None
    at: str
    points: FloatArray
    p: float
    delta: float | None
    window: FloatArray
    quantiles: FloatArray
    mu: FloatArray  # dose x curve
    true_effect: FloatArray  # point x curve
    ed_lower: FloatArray
    ed_upper: FloatArray
    td: FloatArray | None

    @classmethod
    def build(cls, shapes: str | Sequence[str], alternatives: Candidates, confidence_level: float,
              probability: float | None, at: str, p: float, p_lower: float, p_upper: float, delta: float | None,
              td_window: tuple[float, float], interval: tuple[float, float], curve_points: int,
              bounds: dict[str, ArrayLike] | None, scal: float | None, off: float | None,
              grid_points: int | None) -> _Setup:
        names = check_fitted_shapes(shapes)
        level = as_probability(confidence_level, "confidence_level")
        if probability is not None:
            as_probability(probability, "probability")
        for name, value in (("p", p), ("p_lower", p_lower), ("p_upper", p_upper)):
            as_probability(value, name)
        if not p_lower < p_upper:
            raise InputError(f"p_lower, p_upper: need p_lower < p_upper, got {p_lower:g}, {p_upper:g}")
        if delta is not None:
            check_delta(delta, alternatives.direction)
        window = check_pair(td_window, "td_window", positive=True)
        quantiles = check_pair(interval, "interval", unit=True)
        doses = alternatives.doses
        if at == "doses":
            points = doses[1:]
        elif at == "grid":
            if as_positive_int(curve_points, "curve_points") < 2:
                raise InputError(f"curve_points: need at least 2 doses, got {curve_points!r}")
            points = np.linspace(0.0, doses[-1], curve_points)[1:]
        else:
            raise InputError(f"at: 'doses' or 'grid', got {at!r}")
        mu = np.asarray(alternatives.mean_responses(doses))
        curve = np.asarray(alternatives.mean_responses(np.concatenate([[0.0], points])))

        def per_curve(dose: object, *args: float) -> FloatArray:
            return np.array([float(dose(m.shape, list(m.parameters.values()), *args, doses=doses,  # type: ignore[operator]
                                        constant=m.constant)) for m in alternatives.models])

        return cls(names, alternatives, bounds, scal, off, grid_points, float(stats.norm.ppf((1 + level) / 2)), level,
                   probability, at, points, p, delta, window, quantiles, mu, curve[1:] - curve[0],
                   per_curve(curve_effective_dose, p_lower), per_curve(curve_effective_dose, p_upper),
                   None if delta is None else per_curve(curve_target_dose, delta))

    def evaluate(self, n: FloatArray | None, s: FloatArray, draws: FloatArray) -> EstimationPrecision:
        """The measures over the simulated estimates ``draws`` (curve x trial x dose) with covariance ``s``."""
        doses = self.alternatives.doses
        fitted = {name: FittedShape.build(name, doses, s, self.bounds, self.scal, self.off) for name in self.names}
        s_inv: FloatArray = np.asarray(np.linalg.inv(s), dtype=np.float64)
        rows, frames = [], []
        for i, label in enumerate(self.alternatives.labels):
            per_trial = self._trials(fitted, draws[i], s_inv, self.true_effect[:, i])
            rows.append(self._summarise(per_trial, i))
            frames.append(per_trial.assign(alternative=label, trial=np.arange(draws.shape[1])))
        index = pd.Index(list(self.alternatives.labels), name="alternative")
        trial_frame = pd.concat(frames, ignore_index=True)
        trial_frame = trial_frame[["alternative", "trial"] + [c for c in trial_frame if c not in ("alternative", "trial")]]
        return EstimationPrecision(
            n=np.full(doses.size, np.nan) if n is None else n,
            values=pd.DataFrame(rows, index=index, columns=list(_COLUMNS)), trials=trial_frame,
            confidence_level=self.confidence_level, probability=self.probability, at=self.at, n_trials=draws.shape[1],
        )

    def _trials(self, fitted: dict[str, FittedShape], y: FloatArray, s_inv: FloatArray,
                true_effect: FloatArray) -> pd.DataFrame:
        count = y.shape[0]
        selection = fit_and_select(fitted, y, self.grid_points)
        out = {key: np.full(count, np.nan) for key in ("curve_half_width", "ed", "ed_half_width", "td", "td_half_width")}
        squared_error = np.empty(count)
        shape = np.empty(count, dtype=object)
        for name, rows, parameters in selection.groups():
            model = fitted[name]
            shape[rows] = name
            v = model.covariance(parameters, s_inv)
            gradient = model.effect_gradient(parameters, self.points)
            variance = np.einsum("bnp,bpq,bnq->bn", gradient, v, gradient)
            out["curve_half_width"][rows] = self.z * np.sqrt(variance.max(axis=1))
            squared_error[rows] = np.mean((model.effect(parameters, self.points) - true_effect) ** 2, axis=1)
            ed = model.effective_doses(parameters, self.p)
            out["ed"][rows] = ed
            out["ed_half_width"][rows] = self.z * _sd(model.effective_dose_gradients(parameters, ed, self.p), v)
            if self.delta is not None:
                td = model.target_doses(parameters, self.delta)
                out["td"][rows] = td
                out["td_half_width"][rows] = self.z * _sd(model.target_dose_gradients(parameters, td), v)
        return pd.DataFrame({"selected": shape, **out, "squared_error": squared_error})

    def _summarise(self, trials: pd.DataFrame, i: int) -> dict[str, float]:
        row: dict[str, float] = {}
        for key in ("curve_half_width", "ed_half_width", "td_half_width"):
            row[key], row[f"{key}_se"] = self._half_width(trials[key].to_numpy())
        row["p_no_ed_sd"] = float(np.isnan(trials["ed_half_width"]).mean())
        row["p_no_td_sd"] = float(np.isnan(trials["td_half_width"]).mean()) if self.delta is not None else np.nan
        ed = trials["ed"].to_numpy()
        in_range = (ed > self.ed_lower[i]) & (ed < self.ed_upper[i])
        row["erp"], row["erp_se"] = float(in_range.mean()), binomial_se(in_range)
        row["ed_length"] = quantile_length(ed, self.quantiles)
        row["p_td_window"] = row["p_td_window_se"] = row["td_length"] = np.nan
        if self.delta is not None and self.td is not None:
            td = trials["td"].to_numpy()
            in_window = (td >= self.window[0] * self.td[i]) & (td <= self.window[1] * self.td[i])
            row["p_td_window"], row["p_td_window_se"] = float(in_window.mean()), binomial_se(in_window)
            row["td_length"] = quantile_length(td, self.quantiles)
        squared = trials["squared_error"].to_numpy()
        row["rmse"] = float(np.sqrt(squared.mean()))
        row["rmse_se"] = float(squared.std(ddof=1) / np.sqrt(squared.size) / (2 * row["rmse"]))
        return row

    def _half_width(self, values: FloatArray) -> tuple[float, float]:
        if self.delta is None and np.isnan(values).all():
            return np.nan, np.nan
        if self.probability is None:
            found = values[~np.isnan(values)]
            if found.size < 2:
                return np.nan, np.nan
            return float(found.mean()), float(found.std(ddof=1) / np.sqrt(found.size))
        # The smallest h with a share >= q of half-widths at most h (the empirical quantile, no interpolation):
        # met with probability q exactly when it is at most the target; an undefined half-width is infinite.
        ordered = np.where(np.isnan(values), np.inf, values)
        q, count = self.probability, values.size
        spread = np.sqrt(q * (1 - q) / count)
        low, middle, high = np.quantile(ordered, [max(q - spread, 0.0), q, min(q + spread, 1.0)],
                                        method="inverted_cdf")
        with np.errstate(invalid="ignore"):
            return float(middle), float((high - low) / 2)


def _sd(gradient: FloatArray, v: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.einsum("bp,bpq,bq->b", gradient, v, gradient))
