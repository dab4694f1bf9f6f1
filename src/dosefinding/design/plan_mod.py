"""Planning the Mod step: how precisely a design estimates the curve and its doses (R DoseFinding's ``planMod``).

For each true curve (an alternative of a :class:`~dosefinding.shapes.Candidates`), the
fitted shape(s) and the dose-group covariance ``S`` (``sigma^2 diag(1/n)``, or given):

* **asymptotic** (one fitted shape): the shape's best approximation to the true curve
  (generalised least squares with ``S``; the true parameters when it is of the fitted shape),
  its parameter covariance ``(F' S^-1 F)^-1`` (``F`` the gradient at the design doses), and by
  the delta method the precision of the placebo-adjusted curve, of ED_p and (given ``delta``)
  of the TD. Both gradients are exact, by implicit differentiation of ``effect(ED) = p effect(top)``
  and ``effect(TD) = delta``. R's ``calcEDgrad`` is exact for emax and exponential only and
  otherwise calls ``numDeriv::grad``, whose step is 1e-4 absolute for a parameter below 0.018 in
  size: a quadratic's b2 of order 1e-5 moves by ten times itself and R's ED SD is off (18.6 for
  the exact 25.1 in planMod's example, exponential curve fitted by a quadratic).
* **simulation**: ``n_trials`` draws of the dose-group estimates from ``N(mu, S)``, every shape
  fitted to every draw at once (:func:`~dosefinding.mod.least_squares.fit_least_squares` on
  the batch), per draw the shape with the smallest gAIC, and the metrics over the draws: effects,
  standard errors, EDs and TDs as array operations over the trials (the quadratic's in closed
  form, the others by bisection where the curve is monotone: up to the largest dose, the
  quadratic's vertex or the betamod's mode); only a monotone shape's TD beyond the largest dose
  one trial at a time through :func:`~dosefinding.curve_target_dose`.

The metrics (R's names in brackets): root mean squared error of the placebo-adjusted curve at
the active doses (``dRMSE``) and on a grid of ``curve_points`` doses (``cRMSE``); the ratio of
the ANOVA's mean squared error to the model's (``Eff-vs-ANOVA``); the probability that the
one-sided ``1 - alpha`` lower bound of the effect at the dose of largest true effect exceeds
``tau`` (``Pow(maxDose)``); the probability that the ED_p estimate lies strictly between the
true ED at ``p_lower`` and ``p_upper`` (``P(EDp)``); the length of the ``interval`` quantile
range of the simulated EDs and TDs (``lengthEDCI``, ``lengthTDCI``), the share of trials without
a TD (``P(no TD)``); and, beyond R, the probability that the TD estimate lies in the window
``td_window`` (factors of the true TD: by default within a factor of two).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from dosefinding.errors import InputError
from dosefinding.mod.least_squares import (
    LeastSquaresFit,
    LeastSquaresProblem,
    check_bounds,
    check_dose_count,
    estimates_problem,
    fit_least_squares,
)
from dosefinding.mod.target_doses import check_delta, curve_effective_dose, curve_target_dose, quadratic_roots
from dosefinding.shapes.candidates import Candidates
from dosefinding.shapes.library import Shape, get_shape
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_covariance, as_generator, as_positive_int, as_probability, as_vector

__all__ = ["FittedShape", "ModPlan", "SelectedFits", "binomial_se", "check_fitted_shapes", "check_pair",
           "dose_group_covariance", "fit_and_select", "plan_mod", "quantile_length", "simulated_estimates"]

FloatArray = NDArray[np.float64]
_EPS = float(np.finfo(float).eps)
_BISECTION_STEPS = 64
ASYMPTOTIC_COLUMNS = ("rmse_doses", "power_max_dose", "p_ed", "ed", "ed_sd", "td", "td_sd", "p_td_window")
SIMULATION_COLUMNS = (
    "rmse_doses", "rmse_doses_se", "power_max_dose", "power_max_dose_se", "p_ed", "p_ed_se",
    "eff_vs_anova", "rmse_curve", "ed_length", "td_length", "p_no_td", "p_td_window", "p_td_window_se", "na_se",
)


@dataclass(frozen=True)
class ModPlan(SummaryDisplay):
    """Precision of the Mod step under each true curve (R's ``planMod`` object and its summary).

    Attributes
    ----------
    shapes
        The shapes fitted (several: per simulated trial the one with the smallest gAIC).
    doses, cov
        The design doses and the covariance of the dose-group estimates.
    asymptotic
        One row per true curve, or ``None``: ``rmse_doses``, ``power_max_dose``, ``p_ed``
        (R's ``dRMSE``, ``Pow(maxDose)``, ``P(EDp)``), the approximate ED and its standard
        deviation ``ed_sd``, with ``delta`` the TD, ``td_sd`` and ``p_td_window``; NaN where
        the Fisher information is singular (as R's NA).
    best_parameters
        Per true curve the fitted shape's best approximation (asymptotic only).
    simulation
        One row per true curve, or ``None``: the metrics of the module docstring over the
        simulated trials, proportions with their Monte Carlo standard error (``*_se``; that of
        ``rmse_doses`` by the delta method), ``na_se`` the number of trials without a standard
        error of the effect (singular information; R's ``NAind``).
    selected
        Simulation: the share of trials in which each shape was selected, one row per true curve.
    trials
        Simulation: one row per true curve and trial: the selected ``shape``, ``mse`` of the
        curve at the active doses, the lower bound ``lower`` of the effect at the dose of largest
        true effect, ``ed`` and ``td``.
    n_trials
        The number of simulated trials per true curve (0 without simulation).
    """

    shapes: tuple[str, ...]
    doses: FloatArray
    cov: FloatArray
    asymptotic: pd.DataFrame | None
    best_parameters: dict[str, FloatArray] | None
    simulation: pd.DataFrame | None
    selected: pd.DataFrame | None
    trials: pd.DataFrame | None
    n_trials: int

    def to_frame(self) -> pd.DataFrame:
        """The simulation metrics (or the asymptotic ones without simulation), one row per true curve."""
        frame = self.simulation if self.simulation is not None else self.asymptotic
        assert frame is not None
        return frame

    def __repr__(self) -> str:
        return short_repr(self, shapes=list(self.shapes), doses=self.doses.tolist(), n_trials=self.n_trials)

    def summary(self) -> Summary:
        """R's print and summary of a planMod object: the metrics by true curve."""
        lines: list[str | SummaryTable] = [f"Fitted shape{'s' if len(self.shapes) > 1 else ''}: {', '.join(self.shapes)}"]
        if self.asymptotic is not None:
            lines += ["", "Asymptotic approximations", SummaryTable(self.asymptotic.map(lambda v: f"{v:.4g}"))]
        if self.simulation is not None:
            lines += ["", f"Simulation results ({self.n_trials} trials per true curve)",
                      SummaryTable(self.simulation.map(lambda v: f"{v:.4g}"))]
            if len(self.shapes) > 1 and self.selected is not None:
                lines += ["", "Selected shapes", SummaryTable(self.selected.map(lambda v: f"{v:.3f}"))]
        return Summary(lines, frame=self.to_frame())


def plan_mod(
    shapes: str | Sequence[str],
    alternatives: Candidates,
    *,
    n: float | ArrayLike | None = None,
    sigma: float | None = None,
    cov: ArrayLike | None = None,
    asymptotic: bool | None = None,
    simulation: bool = False,
    n_trials: int = 1000,
    seed: int | np.random.Generator = 0,
    alpha: float = 0.025,
    tau: float = 0.0,
    p: float = 0.5,
    p_lower: float = 0.25,
    p_upper: float = 0.75,
    delta: float | None = None,
    td_window: tuple[float, float] = (0.5, 2.0),
    interval: tuple[float, float] = (0.05, 0.95),
    curve_points: int = 101,
    bounds: dict[str, ArrayLike] | None = None,
    scal: float | None = None,
    off: float | None = None,
    grid_points: int | None = None,
    trials: ArrayLike | None = None,
) -> ModPlan:
    """Asymptotic and simulated precision of the Mod step under each true curve (R's ``planMod``).

    Parameters
    ----------
    shapes
        The shape fitted, or several (then per simulated trial the one with the smallest gAIC;
        asymptotic approximations need one shape).
    alternatives
        The true curves, at their doses (the design).
    n, sigma
        Patients per dose (one number or one per dose) and the residual SD: ``S = sigma^2 diag(1/n)``.
    cov
        Alternatively the covariance ``S`` of the dose-group estimates.
    asymptotic, simulation
        Which approximations to compute; ``asymptotic`` defaults to one fitted shape.
    n_trials, seed
        Simulated trials per true curve and the seed of their draws.
    alpha, tau
        Level of the one-sided lower bound of the effect at the dose of largest true effect, and
        the threshold it must exceed.
    p, p_lower, p_upper
        The ED_p estimated, and the true ED_{p_lower}, ED_{p_upper} it should lie between.
    delta
        Target effect over placebo of the TD (negative for a decreasing curve); TD metrics need it.
    td_window
        Factors of the true TD bounding the window of ``p_td_window``.
    interval
        Quantiles of the simulated EDs and TDs whose distance is ``ed_length`` and ``td_length``.
    curve_points
        Number of equally spaced doses from 0 to the largest at which ``rmse_curve`` is taken.
    bounds, scal, off, grid_points
        Bounds of the nonlinear parameters by shape name (default
        :func:`~dosefinding.shapes.default_bounds`), the betamod and linlog constants (default 1.2
        and 0.01 times the largest dose) and the starting grid's size, as for
        :func:`~dosefinding.fit_dose_response`.
    trials
        Simulated estimates to use instead of drawing them: shape ``(alternatives, n_trials, doses)``.

    Returns
    -------
    ModPlan

    Examples
    --------
    >>> from dosefinding import Candidates, plan_mod
    >>> cands = Candidates([0, 5, 50, 300], {"linear": None, "emax": [10, 100]}, max_effect=-3.5)
    >>> plan = plan_mod("emax", cands, n=[49, 47, 47, 47], sigma=5.6)
    >>> plan.asymptotic["power_max_dose"].round(3).tolist()
    [0.936, 0.934, 0.929]
    >>> sim = plan_mod(["emax", "linear"], cands, n=47, sigma=5.6, simulation=True, n_trials=200, seed=1)
    >>> sim.simulation.shape[0], round(float(sim.selected.loc["linear"].sum()), 6)
    (3, 1.0)
    """
    names = check_fitted_shapes(shapes)
    doses = alternatives.doses
    s = dose_group_covariance(n, sigma, cov, doses.size)
    asymptotic = len(names) == 1 if asymptotic is None else bool(asymptotic)
    if asymptotic and len(names) > 1:
        raise InputError(f"asymptotic: needs one fitted shape, got {list(names)}; use simulation=True")
    if not (asymptotic or simulation):
        raise InputError("asymptotic, simulation: ask for at least one of them")
    alpha = as_probability(alpha, "alpha")
    for name, value in (("p", p), ("p_lower", p_lower), ("p_upper", p_upper)):
        as_probability(value, name)
    if not p_lower < p_upper:
        raise InputError(f"p_lower, p_upper: need p_lower < p_upper, got {p_lower:g}, {p_upper:g}")
    if delta is not None:
        check_delta(delta, alternatives.direction)
    window = check_pair(td_window, "td_window", positive=True)
    quantiles = check_pair(interval, "interval", unit=True)
    if as_positive_int(curve_points, "curve_points") < 2:
        raise InputError(f"curve_points: need at least 2 doses, got {curve_points!r}")
    fitted = {name: FittedShape.build(name, doses, s, bounds, scal, off) for name in names}
    truth = _Truth.build(alternatives, s, p, p_lower, p_upper, delta)

    plan_asymptotic = best = None
    if asymptotic:
        plan_asymptotic, best = _asymptotic(fitted[names[0]], truth, s, alpha, tau, p, delta, window, grid_points)
    plan_simulation = selected = trial_frame = None
    n_sim = 0
    if simulation:
        draws = simulated_estimates(trials, truth.mu, s, n_trials, seed)
        n_sim = draws.shape[1]
        plan_simulation, selected, trial_frame = _simulate(
            fitted, truth, draws, s, alpha, tau, p, delta, window, quantiles, curve_points, grid_points)
    return ModPlan(shapes=names, doses=doses, cov=s, asymptotic=plan_asymptotic, best_parameters=best,
                   simulation=plan_simulation, selected=selected, trials=trial_frame, n_trials=n_sim)


@dataclass(frozen=True)
class FittedShape:
    """One shape fitted by generalised least squares to dose-group estimates with a given covariance; its effect,
    gradients, parameter covariance, EDs and TDs for a batch of parameter vectors (one row per simulated trial)."""

    name: str
    problem: LeastSquaresProblem
    box: FloatArray | None

    @classmethod
    def build(cls, name: str, doses: FloatArray, s: FloatArray, bounds: dict[str, ArrayLike] | None,
              scal: float | None, off: float | None) -> FittedShape:
        problem = estimates_problem(get_shape(name), doses, np.zeros(doses.size), s, scal=scal, off=off)
        check_dose_count(problem.shape, doses, False)
        box = check_bounds(None if bounds is None else bounds.get(name), problem.shape, float(doses[-1]))
        return cls(name, problem, box)

    @property
    def shape(self) -> Shape:
        return self.problem.shape

    @property
    def constant(self) -> float | FloatArray | None:
        return self.problem.constant

    @property
    def doses(self) -> FloatArray:
        return self.problem.dose

    def fit(self, y: FloatArray, grid_points: int | None) -> LeastSquaresFit:
        """Generalised least squares of the estimates ``y`` (one or a batch), with the covariance of the plan."""
        return fit_least_squares(replace(self.problem, y=y), self.box, grid_points)

    def effect(self, parameters: FloatArray, at: FloatArray) -> FloatArray:
        """Effect over placebo at doses ``at`` of each parameter vector (``(..., p)`` -> ``(..., len(at))``)."""
        linear, nonlinear = self.shape.split(parameters)
        points = np.concatenate([[0.0], at])
        basis = self.shape.basis(points, nonlinear, self.constant)
        response = np.einsum("...np,...p->...n", basis, linear)
        return response[..., 1:] - response[..., :1]

    def effect_gradient(self, parameters: FloatArray, at: FloatArray) -> FloatArray:
        """Gradient of the effect over placebo at ``at`` w.r.t. the parameters, ``(..., len(at), p)``."""
        gradient = self._gradient(np.concatenate([[0.0], at]), parameters)
        return gradient[..., 1:, :] - gradient[..., :1, :]

    def _gradient(self, dose: FloatArray, parameters: FloatArray) -> FloatArray:
        """The shape's gradient with the leading axes of ``parameters`` (a linear shape's does not depend on them)."""
        gradient = self.shape.gradient(dose, parameters, self.constant)
        return np.broadcast_to(gradient, parameters.shape[:-1] + gradient.shape[-2:])

    def covariance(self, parameters: FloatArray, s_inv: FloatArray) -> FloatArray:
        """``(F' S^-1 F)^-1`` for each parameter vector; NaN where the information is singular (R's ``solve`` fails)."""
        f = self._gradient(self.doses, parameters)
        information = f.swapaxes(-1, -2) @ s_inv @ f
        singular = np.linalg.cond(information, 1) * _EPS > 1
        safe = np.where(singular[..., None, None], np.eye(information.shape[-1]), information)
        return np.where(singular[..., None, None], np.nan, np.linalg.inv(safe))

    def effective_doses(self, parameters: FloatArray, p: float) -> FloatArray:
        """ED_p of each row of ``parameters`` as :func:`~dosefinding.curve_effective_dose` (a fraction ``p`` of the
        effect at :meth:`top_doses`), for all rows at once: the quadratic's in closed form, the others by
        bisection on ``[0, top]``, where the effect is monotone (to ``2^-64`` of the top dose)."""
        linear, _ = self.shape.split(parameters)
        top = self.top_doses(parameters)
        largest = np.abs(self.effect_at(parameters, top))
        flat = (linear[:, 1] == 0) | (largest == 0)  # no maximum effect to take a fraction of
        if self.shape.name == "quadratic":
            b1, b2 = linear[:, 1], linear[:, 2]
            ed = _smallest_positive(quadratic_roots(b1, b2, p * (b1 * top + b2 * top * top)))
        else:
            ed = self._first_reaching(parameters, 1.0, p * largest, absolute=True, high=top)
        return np.where(flat, np.nan, ed)

    def target_doses(self, parameters: FloatArray, delta: float) -> FloatArray:
        """TD of each row of ``parameters``, as :func:`~dosefinding.curve_target_dose`, for all rows at once: the
        quadratic's in closed form; the betamod's by bisection on ``[0, mode]`` where its effect at the mode reaches
        ``delta``; the monotone shapes' by bisection where the effect at the largest dose reaches it, otherwise
        (the TD beyond the largest dose, or none) one row at a time."""
        sign, size = np.sign(delta), abs(delta)
        if self.shape.name == "quadratic":
            linear, _ = self.shape.split(parameters)
            b1, b2 = sign * linear[:, 1], sign * linear[:, 2]
            with np.errstate(invalid="ignore"):
                roots = quadratic_roots(b1, b2, size)
            return np.where(4 * b2 * size + b1 * b1 < 0, np.nan, _smallest_positive(roots))
        high = self.top_doses(parameters) if self.shape.name == "betamod" else np.full(parameters.shape[0],
                                                                                        float(self.doses[-1]))
        inside = sign * self.effect_at(parameters, high) >= size
        td = np.full(parameters.shape[0], np.nan)
        td[inside] = self._first_reaching(parameters[inside], sign, np.full(int(inside.sum()), size),
                                          high=high[inside])
        if self.shape.name != "betamod":  # beyond the betamod's mode its effect falls: no TD
            td[~inside] = [self.target_dose(x, delta) for x in parameters[~inside]]
        return td

    def _first_reaching(self, parameters: FloatArray, sign: float, level: FloatArray, absolute: bool = False,
                        high: FloatArray | None = None) -> FloatArray:
        """Smallest dose in [0, high] (default the largest dose) where each row's effect, monotone there (times
        ``sign``, or its absolute value), reaches ``level``, by bisection to ``2^-64`` of ``high``; each row
        reaches it at ``high``."""
        low = np.zeros(parameters.shape[0])
        high = np.full(parameters.shape[0], float(self.doses[-1])) if high is None else high
        for _ in range(_BISECTION_STEPS):
            middle = (low + high) / 2
            effect = self.effect_at(parameters, middle)
            reached = (np.abs(effect) if absolute else sign * effect) >= level
            high, low = np.where(reached, middle, high), np.where(reached, low, middle)
        return high

    def effect_at(self, parameters: FloatArray, dose: FloatArray) -> FloatArray:
        """Effect over placebo of each row of ``parameters`` at its own dose."""
        linear, nonlinear = self.shape.split(parameters)
        points = np.column_stack([np.zeros(dose.size), dose])
        # Each row's nonlinear parameters (B, k) broadcast against its two doses (B, 2): a basis (B, 2, p).
        response = np.einsum("bnp,bp->bn", self.shape.basis(points, nonlinear, self.constant), linear)
        return response[:, 1] - response[:, 0]

    def effect_gradient_at(self, parameters: FloatArray, dose: FloatArray) -> FloatArray:
        """Gradient w.r.t. the parameters of each row's effect over placebo at its own dose, ``(B, p)``."""
        points = np.column_stack([np.zeros(dose.size), dose])
        gradient = self.shape.gradient(points, parameters, self.constant)
        return gradient[:, 1, :] - gradient[:, 0, :]

    def dose_slope_at(self, parameters: FloatArray, dose: FloatArray) -> FloatArray:
        """Derivative in dose of each row's curve at its own dose."""
        return self.shape.dose_slope(dose[:, None], parameters, self.constant)[:, 0]

    def effective_dose_gradients(self, parameters: FloatArray, ed: FloatArray, p: float,
                                 top: FloatArray | None = None) -> FloatArray:
        """Gradient of each row's ED_p in its parameters, ``(B, p)``: ``effect(ED) = p effect(top)`` differentiated
        implicitly, ``top`` (default :meth:`top_doses`) the largest dose or a stationary point of the curve, whose
        own movement does not count."""
        top = self.top_doses(parameters) if top is None else top
        with np.errstate(divide="ignore", invalid="ignore"):
            return ((p * self.effect_gradient_at(parameters, top) - self.effect_gradient_at(parameters, ed))
                    / self.dose_slope_at(parameters, ed)[:, None])

    def target_dose_gradients(self, parameters: FloatArray, td: FloatArray) -> FloatArray:
        """Gradient of each row's TD in its parameters, ``(B, p)``: ``effect(TD) = delta`` differentiated implicitly
        (:func:`~dosefinding.mod.target_doses.target_dose_gradient` for a batch)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return -self.effect_gradient_at(parameters, td) / self.dose_slope_at(parameters, td)[:, None]

    def top_doses(self, parameters: FloatArray, max_dose: float | None = None) -> FloatArray:
        """Per row the dose whose effect ED_p takes a fraction of (as :func:`~dosefinding.curve_effective_dose`):
        the largest dose (default that of the design); the quadratic's vertex when inside [0, largest dose]; the
        betamod's mode (even beyond)."""
        max_dose = float(self.doses[-1]) if max_dose is None else float(max_dose)
        top = np.full(parameters.shape[0], max_dose)
        linear, nonlinear = self.shape.split(parameters)
        if self.shape.name == "quadratic":
            with np.errstate(divide="ignore", invalid="ignore"):
                vertex = -linear[:, 1] / (2 * linear[:, 2])
            top = np.where((vertex >= 0) & (vertex <= max_dose), vertex, max_dose)
        elif self.shape.name == "betamod":
            top = nonlinear[:, 0] / (nonlinear[:, 0] + nonlinear[:, 1]) * float(self.constant)  # type: ignore[arg-type]
        return top

    def effective_dose(self, parameters: FloatArray, p: float, doses: FloatArray) -> float:
        return float(curve_effective_dose(self.name, parameters, p, doses=doses, constant=self.constant))

    def target_dose(self, parameters: FloatArray, delta: float) -> float:
        with np.errstate(over="ignore"):  # a linlog fit with a tiny slope: an infinite TD, as R's
            return float(curve_target_dose(self.name, parameters, delta, doses=self.doses, constant=self.constant))


@dataclass(frozen=True)
class SelectedFits:
    """Every shape fitted to every simulated trial, and per trial the shape of smallest gAIC.

    Attributes
    ----------
    names
        The shapes fitted.
    choice
        Per trial the index into ``names`` of the selected shape (the first on a tie, as R's ``which.min``).
    parameters
        Per shape its parameters on every trial, ``(trials, p)``.
    """

    names: tuple[str, ...]
    choice: NDArray[np.intp]
    parameters: dict[str, FloatArray]

    def groups(self) -> Iterator[tuple[str, NDArray[np.intp], FloatArray]]:
        """Per shape selected in at least one trial: its name, those trials and its parameters there."""
        for j, name in enumerate(self.names):
            rows = np.flatnonzero(self.choice == j)
            if rows.size:
                yield name, rows, self.parameters[name][rows]


def fit_and_select(fitted: Mapping[str, FittedShape], y: FloatArray, grid_points: int | None = None) -> SelectedFits:
    """Fit every shape to every row of ``y`` at once (the batched least squares) and select per row by gAIC.

    Examples
    --------
    >>> import numpy as np
    >>> doses, s = np.array([0.0, 5, 50, 300]), np.eye(4)
    >>> fitted = {name: FittedShape.build(name, doses, s, None, None, None) for name in ("linear", "emax")}
    >>> fit_and_select(fitted, np.array([[0.0, 1, 2, 3], [0.0, 2, 3, 3]])).choice.tolist()
    [0, 1]
    """
    fits = {name: shape.fit(y, grid_points) for name, shape in fitted.items()}
    gaic = np.column_stack([f.objective + 2 * f.parameters.shape[-1] for f in fits.values()])
    choice = np.argmin(np.where(np.isfinite(gaic), gaic, np.inf), axis=1)
    return SelectedFits(tuple(fits), choice, {name: f.parameters for name, f in fits.items()})


@dataclass(frozen=True)
class _Truth:
    alternatives: Candidates
    mu: FloatArray  # dose x curve
    max_dose: FloatArray  # per curve the dose of largest |effect|
    ed_lower: FloatArray
    ed_upper: FloatArray
    td: FloatArray | None

    @classmethod
    def build(cls, alternatives: Candidates, s: FloatArray, p: float, p_lower: float, p_upper: float,
              delta: float | None) -> _Truth:
        doses = alternatives.doses
        mu = np.asarray(alternatives.mean_responses(doses))
        max_dose = doses[np.argmax(np.abs(mu - mu[0]), axis=0)]

        def per_curve(dose: Callable[..., object], *args: object) -> FloatArray:
            return np.array([float(dose(m.shape, list(m.parameters.values()), *args, doses=doses,  # type: ignore[arg-type]
                                        constant=m.constant)) for m in alternatives.models])

        td = None if delta is None else per_curve(curve_target_dose, delta)
        return cls(alternatives, mu, max_dose, per_curve(curve_effective_dose, p_lower),
                   per_curve(curve_effective_dose, p_upper), td)

    @property
    def labels(self) -> list[str]:
        return list(self.alternatives.labels)


def _asymptotic(fitted: FittedShape, truth: _Truth, s: FloatArray, alpha: float, tau: float, p: float,
                delta: float | None, window: FloatArray, grid_points: int | None
                ) -> tuple[pd.DataFrame, dict[str, FloatArray]]:
    doses = fitted.doses
    s_inv: FloatArray = np.asarray(np.linalg.inv(s), dtype=np.float64)
    rows, best = [], {}
    for i, model in enumerate(truth.alternatives.models):
        mu = truth.mu[:, i]
        if model.shape == fitted.name and _same_constant(model.constant, fitted.constant):
            parameters = np.array(list(model.parameters.values()))
            bias = np.zeros(doses.size - 1)
        else:
            parameters = fitted.fit(mu, grid_points).parameters
            bias = fitted.effect(parameters, doses[1:]) - (mu[1:] - mu[0])
        best[model.label] = parameters
        v = fitted.covariance(parameters, s_inv)
        gradient = fitted.effect_gradient(parameters, doses[1:])
        variance = np.einsum("np,pq,nq->n", gradient, v, gradient)
        top = truth.max_dose[i]
        sd_top = np.sqrt(variance[doses[1:] == top][0])
        effect_top = abs(float(fitted.effect(parameters, np.array([top]))[0]))
        lower = effect_top + sd_top * stats.norm.ppf(alpha)
        up_to_top = doses[doses <= top]
        ed = fitted.effective_dose(parameters, p, up_to_top)
        # Exact, by implicit differentiation (R's numDeriv::grad steps 1e-4 absolute for a parameter below 0.018
        # in size: a quadratic's b2 of order 1e-5 moves by ten times itself, and R's SD is off by up to 35%).
        top_ed = fitted.top_doses(parameters[None, :], top)
        gradient_ed = fitted.effective_dose_gradients(parameters[None, :], np.array([ed]), p, top_ed)[0]
        ed_sd = float(np.sqrt(gradient_ed @ v @ gradient_ed)) if np.isfinite(ed) else np.nan
        row = {"rmse_doses": np.sqrt(np.mean(variance + bias**2)),
               "power_max_dose": stats.norm.sf(tau, lower, sd_top),
               "p_ed": _normal_mass(truth.ed_lower[i], truth.ed_upper[i], ed, ed_sd),
               "ed": ed, "ed_sd": ed_sd, "td": np.nan, "td_sd": np.nan, "p_td_window": np.nan}
        if delta is not None and truth.td is not None:
            td = fitted.target_dose(parameters, delta)
            # The TD's gradient by implicit differentiation: R's numerical steps (1e-4 absolute for a parameter below
            # 0.018) move a nearly linear quadratic's b2 (1e-19) off the curve: its TD, and SD, NaN.
            gradient_td = fitted.target_dose_gradients(parameters[None, :], np.array([td]))[0]
            td_sd = float(np.sqrt(gradient_td @ v @ gradient_td)) if np.isfinite(td) else np.nan
            row.update(td=td, td_sd=td_sd,
                       p_td_window=_normal_mass(window[0] * truth.td[i], window[1] * truth.td[i], td, td_sd))
        rows.append(row)
    return pd.DataFrame(rows, index=pd.Index(truth.labels, name="alternative"), columns=list(ASYMPTOTIC_COLUMNS)), best


def _simulate(fitted: dict[str, FittedShape], truth: _Truth, draws: FloatArray, s: FloatArray, alpha: float,
              tau: float, p: float, delta: float | None, window: FloatArray, quantiles: FloatArray,
              curve_points: int, grid_points: int | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    doses = truth.alternatives.doses
    s_inv: FloatArray = np.asarray(np.linalg.inv(s), dtype=np.float64)
    grid = np.linspace(doses[0], doses[-1], curve_points)[1:]
    true_grid = np.asarray(truth.alternatives.mean_responses(np.concatenate([[0.0], grid])))
    contrast = np.column_stack([-np.ones(doses.size - 1), np.eye(doses.size - 1)])
    mse_anova = float(np.mean(np.diag(contrast @ s @ contrast.T)))
    names = list(fitted)
    rows, selected_rows, trial_frames = [], [], []
    for i, label in enumerate(truth.labels):
        y = draws[i]
        n_sim = y.shape[0]
        selection = fit_and_select(fitted, y, grid_points)
        choice = selection.choice
        mu = truth.mu[:, i]
        top = truth.max_dose[i]
        mse = np.empty(n_sim)
        grid_error = np.empty((n_sim, grid.size))
        effect_top = np.empty(n_sim)
        se_top = np.empty(n_sim)
        ed = np.full(n_sim, np.nan)
        td = np.full(n_sim, np.nan)
        for name, rows_j, parameters in selection.groups():
            shape = fitted[name]
            mse[rows_j] = np.mean((shape.effect(parameters, doses[1:]) - (mu[1:] - mu[0])) ** 2, axis=1)
            grid_error[rows_j] = shape.effect(parameters, grid) - (true_grid[1:, i] - true_grid[0, i])
            effect_top[rows_j] = shape.effect(parameters, np.array([top]))[:, 0]
            gradient = shape.effect_gradient(parameters, np.array([top]))[:, 0, :]
            v = shape.covariance(parameters, s_inv)
            se_top[rows_j] = np.sqrt(np.einsum("bp,bpq,bq->b", gradient, v, gradient))
            ed[rows_j] = shape.effective_doses(parameters, p)
            if delta is not None:
                td[rows_j] = shape.target_doses(parameters, delta)
        lower = np.abs(effect_top) + se_top * stats.norm.ppf(alpha)
        missing = np.isnan(se_top)
        if missing.any():
            lower[missing] = np.abs(effect_top[missing]) + np.std(effect_top, ddof=1) * stats.norm.ppf(alpha)
        rmse = float(np.sqrt(np.mean(mse)))
        in_ed = (ed > truth.ed_lower[i]) & (ed < truth.ed_upper[i])
        power = lower > tau
        row = {"rmse_doses": rmse, "rmse_doses_se": float(np.std(mse, ddof=1) / np.sqrt(n_sim) / (2 * rmse)),
               "power_max_dose": power.mean(), "power_max_dose_se": binomial_se(power),
               "p_ed": in_ed.mean(), "p_ed_se": binomial_se(in_ed),
               "eff_vs_anova": mse_anova / rmse**2,
               "rmse_curve": float(np.sqrt(np.mean(np.mean(grid_error**2, axis=0)))),
               "ed_length": quantile_length(ed, quantiles),
               "td_length": np.nan, "p_no_td": np.nan, "p_td_window": np.nan, "p_td_window_se": np.nan,
               "na_se": int(missing.sum())}
        if delta is not None and truth.td is not None:
            in_window = (td >= window[0] * truth.td[i]) & (td <= window[1] * truth.td[i])
            row.update(td_length=quantile_length(td, quantiles), p_no_td=float(np.isnan(td).mean()),
                       p_td_window=in_window.mean(), p_td_window_se=binomial_se(in_window))
        rows.append(row)
        selected_rows.append(np.bincount(choice, minlength=len(names)) / n_sim)
        trial_frames.append(pd.DataFrame({"alternative": label, "trial": np.arange(n_sim),
                                          "shape": np.array(names, dtype=object)[choice], "mse": mse,
                                          "lower": lower, "ed": ed, "td": td}))
    index = pd.Index(truth.labels, name="alternative")
    return (pd.DataFrame(rows, index=index, columns=list(SIMULATION_COLUMNS)),
            pd.DataFrame(selected_rows, index=index, columns=pd.Index(names, name="shape")),
            pd.concat(trial_frames, ignore_index=True))


def _smallest_positive(roots: FloatArray) -> FloatArray:
    """Per column the smallest positive of the two roots (stacked on axis 0), NaN if neither is."""
    with np.errstate(invalid="ignore"):
        positive = np.where(roots > 0, roots, np.inf).min(axis=0)
    return np.where(np.isfinite(positive), positive, np.nan)


def _normal_mass(lower: float, upper: float, mean: float, sd: float) -> float:
    """``P(lower < X < upper)`` for ``X ~ N(mean, sd^2)``; a point mass when ``sd`` is 0."""
    if not np.isfinite(mean):
        return 0.0
    if sd == 0:
        return float(lower < mean < upper)
    return float(stats.norm.cdf(upper, mean, sd) - stats.norm.cdf(lower, mean, sd))


def binomial_se(hits: NDArray[np.bool_]) -> float:
    """Monte Carlo standard error of the share of ``hits``."""
    share = float(hits.mean())
    return float(np.sqrt(share * (1 - share) / hits.size))


def quantile_length(values: FloatArray, quantiles: FloatArray) -> float:
    """Distance between the ``quantiles`` of the values that are not NaN (NaN if none)."""
    found = values[~np.isnan(values)]  # as R: an infinite TD (linlog, tiny slope) counts, a missing one does not
    if found.size == 0:
        return np.nan
    low, high = np.quantile(found, quantiles)
    return float(high - low)


def _same_constant(a: ArrayLike | None, b: ArrayLike | None) -> bool:
    return a is None and b is None or (a is not None and b is not None and np.allclose(a, b, rtol=0, atol=0))


def check_fitted_shapes(shapes: str | Sequence[str]) -> tuple[str, ...]:
    """The shapes to fit, by our names: parametric (not linint), each once; :class:`InputError` naming ``shapes``."""
    names = (shapes,) if isinstance(shapes, str) else tuple(shapes)
    if not names:
        raise InputError("shapes: give at least one shape to fit")
    for name in names:
        shape = get_shape(name)
        if shape.name == "linint":
            raise InputError("shapes: plan_mod fits parametric shapes, not linint (as R's planMod)")
    if len(set(names)) < len(names):
        raise InputError(f"shapes: each shape once, got {list(names)}")
    return tuple(get_shape(name).name for name in names)


def dose_group_covariance(n: float | ArrayLike | None, sigma: float | None, cov: ArrayLike | None,
                          k: int) -> FloatArray:
    """``cov`` checked, or ``sigma^2 diag(1 / n)`` (``n`` one number or one per dose) for ``k`` doses."""
    if cov is not None:
        if n is not None or sigma is not None:
            raise InputError("cov: give cov, or n and sigma, not both")
        return as_covariance(cov, "cov", k)
    if n is None or sigma is None:
        raise InputError("n, sigma: give both, or give cov")
    n_arm = np.full(k, float(n)) if np.ndim(n) == 0 else as_vector(n, "n", length=k)  # type: ignore[arg-type]
    if not np.all(np.isfinite(n_arm) & (n_arm > 0)):
        raise InputError(f"n: patients per dose must be positive, got {n_arm.tolist()}")
    if not (np.isfinite(sigma) and sigma > 0):
        raise InputError(f"sigma: must be positive, got {sigma!r}")
    return sigma**2 * np.diag(1.0 / n_arm)


def check_pair(values: tuple[float, float], name: str, positive: bool = False, unit: bool = False) -> FloatArray:
    """Two increasing numbers (positive, or in [0, 1]); :class:`InputError` naming ``name``."""
    pair = as_vector(values, name, length=2)
    if not pair[0] < pair[1] or (positive and pair[0] <= 0) or (unit and not (0 <= pair[0] and pair[1] <= 1)):
        bound = " positive" if positive else " in [0, 1]" if unit else ""
        raise InputError(f"{name}: need two increasing{bound} numbers, got {pair.tolist()}")
    return pair


def simulated_estimates(trials: ArrayLike | None, mu: FloatArray, s: FloatArray, n_trials: int,
                        seed: int | np.random.Generator) -> FloatArray:
    """The given ``trials`` checked, or ``n_trials`` draws from ``N(mu_i, s)`` per true curve ``i`` (``mu``: dose x
    curve), as an array ``(curves, trials, doses)``."""
    n_curves, n_doses = mu.shape[1], mu.shape[0]
    if trials is not None:
        given = np.asarray(trials, dtype=float)
        if given.ndim != 3 or given.shape[0] != n_curves or given.shape[2] != n_doses or given.shape[1] < 2:
            raise InputError(f"trials: need shape ({n_curves}, n_trials >= 2, {n_doses}), got {given.shape}")
        if not np.all(np.isfinite(given)):
            raise InputError("trials: contain values that are not finite")
        return given
    if as_positive_int(n_trials, "n_trials") < 2:
        raise InputError(f"n_trials: need at least 2 trials, got {n_trials!r}")
    rng = as_generator(seed)
    root = np.linalg.cholesky(s)
    noise = rng.standard_normal((n_curves, int(n_trials), n_doses)) @ root.T
    return mu.T[:, None, :] + noise
