"""Power by simulation: many virtual trials, each analysed as the real one (MMRM, then MCP-Mod).

Every simulated trial goes through the analysis of :mod:`dosefinding.mod.from_mmrm` and
:func:`dosefinding.mod.mcpmod` (R DoseFinding's ``MCPMod`` on the LS means with their
covariance, ``type = "general"``), computed for a whole chunk of trials at once:

1. First stage (per trial): the MMRM of the change from baseline, ``CHG ~ 0 + ARM:AVISIT +
   BASE:AVISIT`` (cell means of arm by visit plus baseline by visit), any covariance
   structure of :func:`~dosefinding.mmrm.mmrm` (unstructured by default; ``sp_exp`` on the
   visit weeks) by REML (or ML, ``reml=False``; the sandwich with ``vcov="empirical"``), fitted to
   all the trials of a chunk by
   :func:`dosefinding.mmrm.fit_mmrm_batch` (the engine of ``mmrm()``), and the LS means of
   the arms at the analysis visit with their covariance and degrees of freedom
   (``df_method``) from :func:`dosefinding.mmrm.lsmeans.lsmeans_batch`, the code of
   :meth:`~dosefinding.mmrm.MMRMResult.lsmeans` (baseline at each trial's mean over its
   observations); or, with ``first_stage="ancova"``, the ANCOVA of the analysis visit
   alone (complete cases): the same engine on that one visit, ``CHG ~ 0 + ARM + BASE``,
   with its residual degrees of freedom.
2. MCP step: each trial's optimal contrasts under its own covariance
   (:func:`~dosefinding.mcp.contrasts.unconstrained_contrasts`, the arithmetic of
   :func:`~dosefinding.mcp.optimal_contrasts`), the t statistics, and the decisions of
   :func:`~dosefinding.mcp.max_t.significant_contrasts`: each contrast's
   multiplicity-adjusted p-value ``P(max T > t)`` under the trial's own contrast
   correlation, from the engine of :class:`~dosefinding.mcp.MaxTDistribution` for all the
   trials of a chunk at once. Statistics below the one-contrast critical value or above the
   Bonferroni one are decided without integration. For up to five doses (rank up to 4) the
   p-values are computed by deterministic rules to about 1e-7; for more doses by
   quasi-Monte Carlo, refined where a p-value is within its error of ``alpha``; the
   decisions still open then (``PowerResult.undecided``, typically none) follow the
   estimate.
3. Mod step: each shape with a significant contrast is fitted by generalised least
   squares to all the trials where it is significant at once, each with its own covariance
   (:func:`~dosefinding.mod.least_squares.fit_least_squares`, the engine of
   :func:`~dosefinding.mod.fit_dose_response`: grid, then Brent or bounded Newton). The fit uses the
   placebo-adjusted LS means and their covariance: profiling ``e0`` out of the fit to the
   LS means gives exactly this objective, hence the same fitted curves and the same gAIC
   up to a constant common to the shapes. The shape with the smallest gAIC (or the
   largest t statistic, ``selection="maxT"``) is selected and its target dose (TD for
   ``delta``) computed by :func:`~dosefinding.mod.target_doses.curve_target_dose` (and its
   effective dose, ED for ``p``, by :func:`~dosefinding.mod.target_doses.curve_effective_dose`;
   the bounds of the fits as ``mcpmod``'s ``bounds``). With
   ``selection="aveAIC"`` no shape is selected: each fitted shape gets its AIC weight
   (:func:`~dosefinding.mod.selection.aic_weights`, as ``mcpmod``'s ``selection.weights``)
   and its own TD (``mcpmod``'s ``target_doses``), and the trial's TD is the AIC-weighted
   mean of the shapes' TDs (the model-averaged estimate of Buckland, Burnham and Augustin
   1997), NaN when a fitted shape's curve does not reach ``delta`` (the ED alike).

The MCP step's level and sidedness are the study's: ``alpha`` and ``alternative`` of the
spec's ``[analysis]`` table (A2201: one-sided 5%, as published), else one-sided 2.5%; an
explicit ``alpha`` or ``alternative`` wins, and the summary says which was used.
``alternative="two-sided"`` tests the absolute t statistics against ``max |T|`` as
:func:`~dosefinding.mcp.mct_test` does.

Reproducibility: the trials are cut into chunks of ``chunk_size`` (fixed, not depending
on the number of workers); chunk ``i`` draws from the ``i``-th child of
``SeedSequence(seed)``. The same seed and chunk size give bitwise the same trials and
results with one process, several (joblib, ``jobs``) or a dask.distributed cluster
(``scheduler``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from dosefinding.errors import InputError
from dosefinding.mcp.contrasts import contrast_correlation, unconstrained_contrasts
from dosefinding.mcp.max_t import significant_contrasts
from dosefinding.mcp.mct import Alternative
from dosefinding.mmrm.batch import fit_mmrm_batch
from dosefinding.mmrm.covariance import COVARIANCE_STRUCTURES
from dosefinding.mmrm.data import MMRMData, prepare_data
from dosefinding.mmrm.fit import check_options
from dosefinding.mmrm.lsmeans import lsmeans_batch
from dosefinding.mod.least_squares import LeastSquaresProblem, check_bounds, fit_least_squares, shape_constant
from dosefinding.mod.mcpmod import check_shape_bounds
from dosefinding.mod.selection import Selection, aic_weights
from dosefinding.mod.target_doses import (
    DoseEstimate,
    DoseKind,
    check_delta,
    check_dose_kind,
    curve_effective_dose,
    curve_target_dose,
)
from dosefinding.parallel import run_tasks
from dosefinding.shapes.candidates import Candidates
from dosefinding.shapes.library import get_shape
from dosefinding.study.simulate import EndpointMatrix, simulate_endpoint_matrix
from dosefinding.study.spec import TrialSpec, as_trial_spec
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_positive_int, as_probability

__all__ = ["DEFAULT_ALPHA", "PowerResult", "default_candidates", "simulate_power"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

DEFAULT_ALPHA = 0.025
"""The MCP step's level when neither the call nor the spec's ``[analysis]`` gives one (one-sided)."""

_NO_SIGNAL = "no significant contrast"
_NOT_FITTED = "first stage failed (MMRM not converged or LS means not estimable)"
_NO_FIT = "no significant shape could be fitted"


# --------------------------------------------------------------------------- the analysis


def default_candidates(doses: Any, max_effect: float) -> Candidates:
    """The A2201 candidate set scaled to the largest dose ``D``: linear, emax (ED50 ``D/30``
    and ``D/3``), sigemax (ED50 ``D/6``, h 3) and exponential (delta ``D/2``).

    For A2201 (``D = 300``) these are the five models of the trial's MCP step: ED50 10 and
    100 mg, sigemax (50 mg, 3), exponential delta 150 mg.

    Examples
    --------
    >>> default_candidates([0, 5, 50, 300], -3.5).labels
    ('linear', 'emax1', 'emax2', 'sigemax', 'exponential')
    """
    d = np.asarray(doses, dtype=float)
    top = float(d.max())
    shapes = {"linear": None, "emax": [top / 30, top / 3], "sigemax": (top / 6, 3.0), "exponential": top / 2}
    return Candidates(d, shapes, max_effect=max_effect)


@dataclass(frozen=True)
class _Analysis:
    """Everything a worker needs to analyse a chunk of trials (picklable)."""

    endpoint: str
    visit_index: int
    candidates: Candidates
    alpha: float
    delta: float | None
    first_stage: str
    covariance: str
    baseline: bool
    df: float | str | None
    selection: Selection
    dose_kind: DoseKind
    df_method: str = "satterthwaite"
    visit_weeks: tuple[float, ...] = ()
    alternative: Alternative = "one-sided"
    reml: bool = True
    vcov: str = "asymptotic"
    bounds: Mapping[str, ArrayLike] = field(default_factory=dict)
    p: float | None = None
    group: str | None = None


@dataclass(frozen=True)
class _Doses:
    """A dose estimate (TD or ED) of every trial of a chunk."""

    value: FloatArray  # (T,)
    by_shape: FloatArray  # (T, shapes): each fitted shape's (aveAIC; NaN otherwise)
    reason: NDArray[np.object_]  # (T,), why the value is NaN ("" when it is not)
    extrapolated: BoolArray  # (T,)


@dataclass(frozen=True)
class _Chunk:
    """Per-trial results of one chunk."""

    significant: BoolArray  # (T, M)
    t_statistics: FloatArray  # (T, M)
    selected: NDArray[np.int64]  # (T,), index into the fitted shapes, -1 for none (aveAIC: -2 for averaged)
    weights: FloatArray  # (T, shapes): AIC weights (aveAIC; NaN otherwise or without a significant contrast)
    target_dose: _Doses | None  # with delta
    effective_dose: _Doses | None  # with p
    first_stage_ok: BoolArray
    undecided: int


# --------------------------------------------------------------------------- first stage


def _template(formula: str, arm: NDArray[np.int64], n_arms: int, weeks: list[str], base: FloatArray) -> MMRMData:
    """The first-stage model of one trial (every subject at every visit), for the design and the LS means."""
    n, k = arm.size, len(weeks)
    arms = [str(a) for a in range(n_arms)]
    frame = pd.DataFrame({
        "USUBJID": np.repeat(np.arange(n), k),
        "ARM": pd.Categorical(np.repeat(np.array(arms)[arm], k), categories=arms),
        "AVISIT": pd.Categorical(np.tile(weeks, n), categories=weeks),
        "BASE": np.repeat(base, k),
        "CHG": np.arange(n * k, dtype=float),  # any response that the model does not fit exactly
    })
    return prepare_data(formula, frame, subject="USUBJID", visit="AVISIT")


def _design(template: MMRMData, base: FloatArray) -> FloatArray:
    """The design (T, N, V, p) of every trial: the template's, whose baseline columns are linear in BASE."""
    frame = template.frame.copy()
    kept = [template.all_columns.index(c) for c in template.columns]
    n, k = base.shape[1], len(template.visits)

    def at(value: float) -> FloatArray:
        frame["BASE"] = value
        return np.asarray(template.spec.get_model_matrix(frame, output="numpy"), dtype=float)[:, kept].reshape(n, k, -1)

    x0, slope = at(0.0), at(1.0) - at(0.0)
    assert np.allclose(at(2.0), x0 + 2.0 * slope, rtol=0, atol=1e-12), "the first-stage design is linear in BASE"
    # Written where it is not zero (the design is sparse: a few cells a row).
    subject, visit, column = np.nonzero((x0 != 0) | (slope != 0))
    x = np.zeros((base.shape[0], n, k, x0.shape[-1]))
    x[:, subject, visit, column] = x0[subject, visit, column] + base[:, subject] * slope[subject, visit, column]
    return x


def _first_stage(change: FloatArray, base: FloatArray, arm: NDArray[np.int64], n_arms: int, visit: int,
                 weeks: list[str], analysis: _Analysis, *, formula: str, covariance: str,
                 df_method: str, reml: bool = True, vcov: str = "asymptotic",
                 by_arm: bool = False) -> tuple[FloatArray, FloatArray, BoolArray, FloatArray]:
    """LS means (T, arms) at ``visit`` with their covariance and smallest df, and whether the fit worked."""
    template = _template(formula, arm, n_arms, weeks, base[0])
    observed = ~np.isnan(change)
    times = None
    if COVARIANCE_STRUCTURES[covariance].spatial:
        times = np.broadcast_to(np.asarray(analysis.visit_weeks, dtype=float), change.shape[1:])
    # One fit chunk per simulation chunk: the chunk bounds the memory already, and keeping its Q matrices
    # spares their recomputation for the LS means' df (fit_mmrm_batch's memory note).
    fit = fit_mmrm_batch(change, _design(template, base), covariance=covariance, reml=reml, df_method=df_method,
                         vcov=vcov, times=times, group=arm if by_arm else None, chunk_size=change.shape[0])
    # emmeans / lsmeans(): the covariate at its mean over the observations used.
    means = None
    if analysis.baseline:
        means = {"BASE": (base[:, :, None] * observed).sum(axis=(1, 2)) / np.maximum(observed.sum(axis=(1, 2)), 1)}
    by = "AVISIT" if len(weeks) > 1 else None
    ls = lsmeans_batch(template, fit.beta, fit.inference, specs="ARM", by=by, covariate_means=means)
    cells = [ls.index.get_loc((weeks[visit], str(a)) if by else str(a)) for a in range(n_arms)]
    estimates = ls.column("estimate")[:, cells]
    cov = ls.cov[:, cells][:, :, cells]
    df = ls.column("df")[:, cells].min(axis=1)
    ok = fit.converged & np.isfinite(estimates).all(axis=1) & np.isfinite(cov).all(axis=(1, 2))
    return estimates, cov, ok, df


def mmrm_first_stage(values: FloatArray, base: FloatArray, arm: NDArray[np.int64], n_arms: int, visit: int,
                   analysis: _Analysis) -> tuple[FloatArray, FloatArray, BoolArray, FloatArray]:
    """LS means (T, k) at the visit, their covariance (T, k, k), success and smallest df, from the MMRM of the change."""
    weeks = [str(w) for w in analysis.visit_weeks] or [str(v) for v in range(values.shape[2])]
    formula = "CHG ~ 0 + ARM:AVISIT" + (" + BASE:AVISIT" if analysis.baseline else "")
    # The LS means' df enter the MCP step only with df="min"; the residual df cost nothing otherwise.
    df_method = analysis.df_method if analysis.df == "min" else "residual"
    return _first_stage(values - base[..., None], base, arm, n_arms, visit, weeks, analysis, formula=formula,
                        covariance=analysis.covariance, df_method=df_method, reml=analysis.reml,
                        vcov=analysis.vcov, by_arm=analysis.group == "ARM")


def _ancova_estimates(values: FloatArray, base: FloatArray, arm: NDArray[np.int64], n_arms: int, visit: int,
                      analysis: _Analysis) -> tuple[FloatArray, FloatArray, BoolArray, FloatArray]:
    """LS means of ``change ~ 0 + arm (+ base)`` at one visit (complete cases), covariance and residual df.

    The MMRM of that one visit (unstructured: one variance) is the ANCOVA.
    """
    week = str(analysis.visit_weeks[visit]) if analysis.visit_weeks else str(visit)
    formula = "CHG ~ 0 + ARM" + (" + BASE" if analysis.baseline else "")
    change = values[:, :, visit:visit + 1] - base[..., None]
    return _first_stage(change, base, arm, n_arms, 0, [week], analysis, formula=formula, covariance="us",
                        df_method="residual")


# --------------------------------------------------------------------------- MCP step


# --------------------------------------------------------------------------- Mod step


def _fit_shape(shape: str, doses: FloatArray, estimates: FloatArray, cov: FloatArray, candidates: Candidates,
               bounds: ArrayLike | None) -> tuple[FloatArray, FloatArray, float | FloatArray | None]:
    """gAIC (up to a constant common to the shapes) and full dose-response parameters of ``shape``
    fitted to each trial's placebo-adjusted estimates (T, k-1) with covariance (T, k-1, k-1)."""
    model = get_shape(shape)
    active = doses[1:]
    constant = shape_constant(model, active, candidates.scal, candidates.off, True)
    problem = LeastSquaresProblem.from_covariance(model, constant, active, estimates, cov, placebo_adjusted=True)
    fit = fit_least_squares(problem, check_bounds(bounds, model, float(active[-1])))
    n_params = fit.parameters.shape[1] - 1
    return fit.objective + 2 * n_params, fit.parameters, constant


# --------------------------------------------------------------------------- one chunk


def _child(seed: np.random.SeedSequence, key: int) -> np.random.Generator:
    """A generator of the child ``key`` of ``seed`` (as ``seed.spawn`` would give, whatever it spawned before)."""
    return np.random.default_rng(np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, key)))


def chunk_trials(spec: TrialSpec, analysis: _Analysis, seed: np.random.SeedSequence, n_trials: int) -> EndpointMatrix:
    """The simulated trials of one chunk (the chunk's seed as :func:`simulate_power` spawns it)."""
    return simulate_endpoint_matrix(spec, analysis.endpoint, n_trials=n_trials, seed=_child(seed, 0))


def _analyse_chunk(spec: TrialSpec, analysis: _Analysis, seed: np.random.SeedSequence, n_trials: int) -> _Chunk:
    """Simulate ``n_trials`` trials from ``seed`` and analyse them."""
    matrix = chunk_trials(spec, analysis, seed, n_trials)
    cands = analysis.candidates
    doses = cands.doses
    n_arms = doses.size
    estimator = mmrm_first_stage if analysis.first_stage == "mmrm" else _ancova_estimates
    est, cov, ok, df = estimator(matrix.values, matrix.base, matrix.arm, n_arms, analysis.visit_index, analysis)
    if analysis.df is None and analysis.first_stage == "mmrm":
        df = np.full(n_trials, np.inf)
    elif isinstance(analysis.df, float):
        df = np.full(n_trials, analysis.df)
    df = np.where(ok, df, np.inf)
    est = np.where(ok[:, None], est, 0.0)
    cov = np.where(ok[:, None, None], cov, np.eye(n_arms))
    mu = cands.mean_responses(doses)
    c = unconstrained_contrasts(mu, cov)
    sd = np.sqrt(np.einsum("tkm,tkl,tlm->tm", c, cov, c))
    two_sided = analysis.alternative == "two-sided"
    statistic = np.einsum("tkm,tk->tm", c, est) / sd
    t = np.where(ok[:, None], np.abs(statistic) if two_sided else statistic, -np.inf)
    significant, undecided = significant_contrasts(t, contrast_correlation(c, cov), df, analysis.alpha,
                                                   rank=n_arms - 1, seed=_child(seed, 1), two_sided=two_sided)

    shape_of = [m.shape for m in cands.models]
    shapes = list(dict.fromkeys(shape_of))
    by_shape = np.column_stack([significant[:, [s == name for s in shape_of]].any(axis=1) for name in shapes])
    t_by_shape = np.column_stack([np.where(significant[:, [s == name for s in shape_of]],
                                           t[:, [s == name for s in shape_of]], -np.inf).max(axis=1)
                                  for name in shapes])
    difference = np.hstack([-np.ones((n_arms - 1, 1)), np.eye(n_arms - 1)])
    adj_est = est @ difference.T
    adj_cov = difference @ cov @ difference.T
    criteria = np.full((n_trials, len(shapes)), np.inf)
    parameters: dict[int, FloatArray] = {}
    constants: dict[int, float | FloatArray | None] = {}
    for j, name in enumerate(shapes):
        rows = np.flatnonzero(by_shape[:, j])
        if rows.size == 0:
            continue
        gaic, dr, constant = _fit_shape(name, doses, adj_est[rows], adj_cov[rows], cands, analysis.bounds.get(name))
        criteria[rows, j] = np.where(np.isfinite(gaic), gaic, np.inf)
        full = np.full((n_trials, dr.shape[1]), np.nan)
        full[rows] = dr
        parameters[j], constants[j] = full, constant
    any_signal = by_shape.any(axis=1)
    averaged = analysis.selection == "aveAIC"
    weights = np.full((n_trials, len(shapes)), np.nan)
    if averaged:
        selected = np.where(any_signal, -2, -1)
        for i in np.flatnonzero(any_signal):
            fitted = np.isfinite(criteria[i])
            if fitted.any():
                weights[i] = 0.0
                weights[i, fitted] = aic_weights(criteria[i, fitted]).to_numpy()
    else:
        score = criteria if analysis.selection == "AIC" else -t_by_shape
        selected = np.where(any_signal, np.argmin(score, axis=1), -1)

    def dose_estimates(estimate: Callable[[int, int], DoseEstimate]) -> _Doses:
        """Per trial the selected shape's dose (aveAIC: the weighted mean of the fitted shapes'), each shape's
        (aveAIC), why it is NaN and whether it lies beyond the largest dose."""
        value = np.full(n_trials, np.nan)
        by_shape = np.full((n_trials, len(shapes)), np.nan)
        reason = np.full(n_trials, "", dtype=object)
        extrapolated = np.zeros(n_trials, dtype=bool)
        reason[~any_signal] = _NO_SIGNAL
        reason[~ok] = _NOT_FITTED
        for i in np.flatnonzero(any_signal):
            if not averaged:
                one = estimate(int(selected[i]), int(i))
                value[i] = one.dose
                reason[i] = one.note if np.isnan(one.dose) else ""
                extrapolated[i] = "extrapolated" in one.note
                continue
            fitted = np.flatnonzero(weights[i] > 0)
            if fitted.size == 0:
                reason[i] = _NO_FIT
                continue
            each = {j: estimate(int(j), int(i)) for j in fitted}
            by_shape[i, fitted] = [each[j].dose for j in fitted]
            missing = [f"{shapes[j]}: {e.note}" for j, e in each.items() if np.isnan(e.dose)]
            if missing:
                reason[i] = "; ".join(missing)
                continue
            value[i] = float(weights[i, fitted] @ by_shape[i, fitted])
            extrapolated[i] = value[i] > doses[-1]
        return _Doses(value, by_shape, reason, extrapolated)

    target = effective = None
    if (delta := analysis.delta) is not None:
        target = dose_estimates(lambda j, i: curve_target_dose(
            shapes[j], parameters[j][i], delta, doses=doses, dose_kind=analysis.dose_kind,
            direction=cands.direction, constant=constants[j]))
    if (p := analysis.p) is not None:
        effective = dose_estimates(lambda j, i: curve_effective_dose(
            shapes[j], parameters[j][i], p, doses=doses, dose_kind=analysis.dose_kind, constant=constants[j]))
    return _Chunk(significant, t, selected, weights, target, effective, ok, undecided)


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class PowerResult(SummaryDisplay):
    """Operating characteristics of MCP-Mod from simulated trials.

    Attributes
    ----------
    power, power_se
        Probability that the MCP step rejects the flat dose-response (some contrast
        significant), and its Monte Carlo standard error ``sqrt(p (1 - p) / n_sims)``.
    significant
        By candidate model: the probability that its contrast is significant.
    selected
        By shape (and ``"none"``): the probability that it is the selected shape; with
        ``selection="aveAIC"`` its mean AIC weight over the trials (0 in a trial without a
        significant contrast), and ``"none"`` the probability of no significant contrast.
    target_dose
        Quantiles (0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975) of the target dose over the
        trials where it was estimated (empty without ``delta``).
    target_dose_missing
        Number of trials without a target dose, by reason.
    p, effective_dose, effective_dose_missing
        With ``p``: the same for the effective dose ED (the smallest dose giving the
        fraction ``p`` of the maximum effect; ``trials["effective_dose"]``).
    trials
        One row per simulated trial: ``significant`` (any contrast), the t statistic
        (absolute when two-sided) and significance of each model, ``selected`` shape
        (``"aveAIC"`` for an averaged trial, ``"none"``), ``target_dose``, ``extrapolated``;
        with ``"aveAIC"`` also ``weight_<shape>`` (NaN without a significant contrast, 0
        for a shape not fitted) and, with ``delta``, ``target_dose_<shape>``.
    n_sims, seed, chunk_size
        The simulation; the same three give the same numbers.
    undecided
        MCP decisions still within the integration error after refinement (decided by the
        point estimate of the adjusted p-value).
    first_stage_failures
        Trials whose first stage failed (counted as not significant).
    alternative, reml, vcov, group
        The MCP step's alternative and the MMRM's method, covariance of its estimates and
        covariance groups.
    elapsed, jobs, scheduler
        Wall time in seconds and how the chunks were run.
    """

    power: float
    power_se: float
    significant: pd.Series
    selected: pd.Series
    target_dose: pd.Series
    target_dose_missing: pd.Series
    trials: pd.DataFrame = field(repr=False)
    n_sims: int
    seed: int
    chunk_size: int
    endpoint: str
    visit: int
    first_stage: str
    covariance: str
    alpha: float
    delta: float | None
    selection: str
    undecided: int
    first_stage_failures: int
    elapsed: float
    jobs: int
    scheduler: str | None
    spec_name: str
    alternative: str = "one-sided"
    reml: bool = True
    vcov: str = "asymptotic"
    p: float | None = None
    group: str | None = None
    effective_dose: pd.Series = field(default_factory=lambda: pd.Series(dtype=float, name="effective_dose"))
    effective_dose_missing: pd.Series = field(default_factory=lambda: pd.Series(dtype=np.int64, name="trials"))
    alpha_source: str = "given"

    def to_frame(self) -> pd.DataFrame:
        """One row per simulated trial (:attr:`trials`)."""
        return self.trials.copy()

    def __repr__(self) -> str:
        return short_repr(self, spec=self.spec_name, endpoint=self.endpoint, n_sims=self.n_sims, power=self.power,
                          power_se=self.power_se, alpha=self.alpha, alternative=self.alternative,
                          selection=self.selection)

    def summary(self) -> Summary:
        """A printed account: power with its Monte Carlo error, by model and shape, and the target dose."""
        n = self.n_sims
        low, high = self.power - 1.96 * self.power_se, self.power + 1.96 * self.power_se
        method = ("REML" if self.reml else "ML") + (", empirical covariance" if self.vcov == "empirical" else "")
        structure = self.covariance + (" by arm" if self.group else "")
        stage = (f"MMRM ({structure}, {method}, LS means at week {self.visit})" if self.first_stage == "mmrm"
                 else f"ANCOVA at week {self.visit}")
        lines: list[str | SummaryTable] = [
            f"Simulation-based power: {self.spec_name}, endpoint {self.endpoint}",
            (f"{n} simulated trials (seed {self.seed}, chunks of {self.chunk_size}); {stage}; "
            f"MCP-Mod, {self.alternative} alpha {self.alpha:g} ({self.alpha_source}), selection {self.selection}"),
            "",
            (f"Power of the MCP step: {self.power:.4f} (Monte Carlo SE {self.power_se:.4f}; "
            f"95% CI {low:.4f} to {high:.4f})"),
            "",
            "Probability that the contrast is significant:",
            SummaryTable(self.significant.map(lambda v: f"{v:.4f}")),
            "",
            ("Mean AIC weight of the shape (none: no significant contrast):" if self.selection == "aveAIC"
             else "Probability that the shape is selected:"),
            SummaryTable(self.selected.rename_axis(None).map(lambda v: f"{v:.4f}")),
        ]
        if self.delta is not None:
            estimated = int(self.trials["target_dose"].notna().sum())
            averaged = ", AIC-weighted mean of the shapes' TDs" if self.selection == "aveAIC" else ""
            lines += ["", (f"Target dose (TD{averaged}, delta = {self.delta:g}), estimated in {estimated} of {n} trials "
                          f"({int(self.trials['extrapolated'].sum())} extrapolated beyond the largest dose):")]
            if estimated:
                lines.append(SummaryTable(self.target_dose.map(lambda v: f"{v:.4g}").to_frame().T, index=False))
            if len(self.target_dose_missing):
                lines += ["Not estimated:"] + [f"  {count:6d}  {why}" for why, count in self.target_dose_missing.items()]
        if self.p is not None:
            estimated = int(self.trials["effective_dose"].notna().sum())
            averaged = ", AIC-weighted mean of the shapes' EDs" if self.selection == "aveAIC" else ""
            lines += ["", f"Effective dose (ED{averaged}, p = {self.p:g}), estimated in {estimated} of {n} trials:"]
            if estimated:
                lines.append(SummaryTable(self.effective_dose.map(lambda v: f"{v:.4g}").to_frame().T, index=False))
            if len(self.effective_dose_missing):
                lines += ["Not estimated:"] + [f"  {count:6d}  {why}"
                                               for why, count in self.effective_dose_missing.items()]
        notes = []
        if self.first_stage_failures:
            notes.append(f"{self.first_stage_failures} trial(s) with a failed first stage count as not significant.")
        if self.undecided:
            notes.append(f"{self.undecided} MCP decision(s) within the integration error, decided by the estimate.")
        where = f"scheduler {self.scheduler}" if self.scheduler else f"{self.jobs} worker(s)"
        lines += [""] + notes + [f"Time: {self.elapsed:.1f} s with {where}"]
        return Summary(lines, frame=self.to_frame())


# --------------------------------------------------------------------------- running the chunks


def _progress_bar(total: int, enabled: bool) -> Callable[[int], None]:
    start = time.perf_counter()

    def update(done: int) -> None:
        if not enabled:
            return
        width = 30
        filled = int(width * done / total)
        sys.stderr.write(f"\rpower: [{'#' * filled}{'.' * (width - filled)}] {done}/{total} chunks, "
                         f"{time.perf_counter() - start:.1f} s")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    update(0)  # the bar is there from the start, not after the first chunk
    return update


def simulate_power(
    spec: TrialSpec | str | PathLike[str],
    *,
    n_sims: int = 1000,
    seed: int | None = None,
    endpoint: str | None = None,
    visit: int | None = None,
    candidates: Candidates | Mapping[str, Any] | None = None,
    alpha: float | None = None,
    delta: float | None = None,
    first_stage: str = "mmrm",
    covariance: str = "us",
    baseline: bool = True,
    df: float | str | None = None,
    selection: Selection = "AIC",
    dose_kind: DoseKind = "continuous",
    alternative: Alternative | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    chunk_size: int = 250,
    progress: bool = False,
    df_method: str = "satterthwaite",
    reml: bool = True,
    vcov: str = "asymptotic",
    bounds: Mapping[str, ArrayLike] | None = None,
    p: float | None = None,
    group: str | None = None,
) -> PowerResult:
    """Power and operating characteristics of MCP-Mod by simulating whole trials from a spec.

    Parameters
    ----------
    spec
        A :class:`~dosefinding.study.TrialSpec`, a preset name (``"a2201"``) or a TOML file.
    n_sims
        Number of simulated trials.
    seed
        Non-negative int; default the spec's ``trial.seed``.
    endpoint, visit
        The analysed endpoint (PARAMCD) and week; default the spec's ``[analysis]``
        ``endpoint`` and ``visit``, else its first endpoint and last visit.
    candidates
        :class:`~dosefinding.shapes.Candidates` on the spec's doses, or a mapping of shapes
        to guesstimates as for ``Candidates`` (with ``max_effect`` the true effect at the top
        dose); default the spec's ``[analysis]`` ``candidates`` (with its ``max_effect``, else
        the true effect at the top dose), else :func:`default_candidates`.
    alpha, alternative
        Level of the MCP step, ``"one-sided"`` (in the candidates' direction) or
        ``"two-sided"`` (absolute t statistics against ``max |T|``), as
        :func:`~dosefinding.mcp.mct_test`; default the spec's ``[analysis]`` ``alpha`` and
        ``alternative`` (A2201: one-sided 0.05), else one-sided :data:`DEFAULT_ALPHA`.
    delta
        Target effect over placebo of the TD (signed as the candidates' direction);
        default half the true effect of the largest dose at the visit.
    first_stage
        ``"mmrm"`` (every visit, any ``covariance`` structure of :func:`~dosefinding.mmrm.mmrm`:
        ``"us"``, ``"cs"``, ``"csh"``, ``"ar1"``, ``"ar1h"``, ``"toep"``, ``"toeph"``, ``"ad"``,
        ``"adh"`` or ``"sp_exp"`` on the visit weeks; test on the normal, DoseFinding's
        default for estimates, unless ``df`` is given) or ``"ancova"`` (the visit alone,
        complete cases, residual degrees of freedom).
    baseline
        Adjust for the baseline value (by visit in the MMRM).
    df
        Degrees of freedom of the MCP step: a number; ``"min"``, the smallest df of the
        trial's LS means at the visit by ``df_method`` (as
        :func:`~dosefinding.mod.from_mmrm.mmrm_estimates` with ``df="min"``); default ``inf``
        (normal) after the MMRM, the residual degrees of freedom of each trial after the
        ANCOVA.
    df_method
        Degrees of freedom of the MMRM's LS means (used with ``df="min"``): any method of
        :func:`~dosefinding.mmrm.mmrm`, ``"satterthwaite"``, ``"residual"``,
        ``"between_within"``, ``"kenward_roger"`` or ``"kenward_roger_linear"`` (the last
        three computed trial by trial, slower). Between-within follows the first stage's
        cell-means parametrisation, in which every coefficient changes within subject (the
        within-subject df).
    group
        ``"ARM"``: a covariance matrix per arm in the MMRM (``mmrm(group="ARM")``, SAS's
        ``GROUP=ARM``); the simulated trials have no other grouping variable.
    reml, vcov
        The MMRM's method (REML, or ML with ``reml=False``) and the covariance of its
        estimates (``"asymptotic"``, or the sandwich ``"empirical"`` with
        ``df_method="residual"`` or ``"between_within"``), as :func:`~dosefinding.mmrm.mmrm`;
        the ANCOVA is least squares whatever they are.
    selection
        ``"AIC"`` (smallest gAIC), ``"maxT"`` (largest t statistic) or ``"aveAIC"`` (no
        selection: the shapes' AIC weights, and the TD as their weighted mean), as
        :func:`~dosefinding.mod.mcpmod`.
    dose_kind
        ``"continuous"`` or ``"discrete"`` target dose.
    bounds
        Bounds of the nonlinear parameters by shape name, as :func:`~dosefinding.mod.mcpmod`
        (default R's ``defBnds`` at the largest dose).
    p
        Also the effective dose ED for this fraction of the maximum effect, as
        :func:`~dosefinding.mod.mcpmod` (of ``dose_kind``; the AIC-weighted mean of the
        shapes' EDs with ``"aveAIC"``).
    jobs, scheduler
        Worker processes (joblib), or the address of a dask.distributed scheduler.
    chunk_size
        Trials per chunk (each chunk has its own seed): the results depend on it, not on
        ``jobs`` or ``scheduler``.
    progress
        Show a progress bar on standard error.

    Returns
    -------
    PowerResult

    Examples
    --------
    >>> res = simulate_power("a2201", n_sims=40, seed=1, chunk_size=20)
    >>> res.n_sims, 0.0 <= res.power <= 1.0, list(res.significant.index)
    (40, True, ['linear', 'emax1', 'emax2', 'sigemax', 'exponential'])
    >>> res.alpha, res.alpha_source
    (0.05, "the spec's [analysis] alpha")
    """
    trial_spec = as_trial_spec(spec)
    n = as_positive_int(n_sims, "n_sims")
    size = as_positive_int(chunk_size, "chunk_size")
    workers = as_positive_int(jobs, "jobs")
    if seed is None:
        seed_value = trial_spec.seed
    elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed: must be a non-negative integer, got {seed!r}")
    else:
        seed_value = int(seed)
    if alpha is not None:
        level, source = alpha, "given"
    elif "alpha" in trial_spec.analysis:
        level, source = trial_spec.analysis["alpha"], "the spec's [analysis] alpha"
    else:
        level, source = DEFAULT_ALPHA, "the default; the spec's [analysis] gives none"
    side = alternative if alternative is not None else trial_spec.analysis.get("alternative", "one-sided")
    analysis = build_analysis(trial_spec, endpoint, visit, candidates, level, delta, first_stage, covariance,
                               baseline, df, selection, dose_kind, df_method, side, reml, vcov, bounds, p,
                               group)
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise InputError(f"scheduler: must be the address of a dask scheduler, got {scheduler!r}")
    n_chunks = -(-n // size)
    seeds = np.random.SeedSequence(seed_value).spawn(n_chunks)
    tasks = [(trial_spec, analysis, seeds[i], min(size, n - i * size)) for i in range(n_chunks)]
    start = time.perf_counter()
    chunks: dict[int, _Chunk] = dict(run_tasks(_analyse_chunk, tasks, jobs=workers, scheduler=scheduler,
                                               update=_progress_bar(n_chunks, progress)))
    elapsed = time.perf_counter() - start
    result = _collect([chunks[i] for i in range(n_chunks)], trial_spec, analysis, n, seed_value, size, elapsed,
                      workers, scheduler)
    return replace(result, alpha_source=source)


def build_analysis(spec: TrialSpec, endpoint: str | None, visit: int | None,
                   candidates: Candidates | Mapping[str, Any] | None, alpha: float, delta: float | None,
                   first_stage: str, covariance: str, baseline: bool, df: float | str | None, selection: str,
                   dose_kind: DoseKind, df_method: str = "satterthwaite",
                   alternative: str = "one-sided", reml: bool = True, vcov: str = "asymptotic",
                   bounds: Mapping[str, ArrayLike] | None = None, p: float | None = None,
                   group: str | None = None) -> _Analysis:
    """The checked analysis of :func:`simulate_power` (its arguments, validated, with the spec's defaults filled in)."""
    paramcd = endpoint if endpoint is not None else spec.analysis.get("endpoint", spec.endpoints[0].paramcd)
    target = spec.endpoint(paramcd)
    week = visit if visit is not None else spec.analysis.get("visit", spec.visits[-1])
    if week not in spec.visits:
        raise InputError(f"visit: {week!r} is not a visit of the spec ({list(spec.visits)})")
    visit_index = spec.visits.index(week)
    if target.scale != "identity":
        raise InputError(f"endpoint {paramcd!r}: power is simulated for endpoints on the identity scale")
    if first_stage not in ("mmrm", "ancova"):
        raise InputError(f"first_stage: must be 'mmrm' or 'ancova', got {first_stage!r}")
    if covariance not in COVARIANCE_STRUCTURES:
        raise InputError(f"covariance: must be one of {sorted(COVARIANCE_STRUCTURES)}, got {covariance!r}")
    if group not in (None, "ARM"):
        raise InputError(f"group: the covariance can differ by 'ARM' only (the simulated trials' one grouping "
                         f"variable), got {group!r}")
    if group is not None and first_stage != "mmrm":
        raise InputError("group: a covariance per arm is an option of the MMRM first stage, not of the ANCOVA")
    if not isinstance(reml, bool):
        raise InputError(f"reml: must be True or False, got {reml!r}")
    check_options(df_method, vcov, reml, covariance)
    if selection not in ("AIC", "maxT", "aveAIC"):
        raise InputError(f"selection: must be 'AIC', 'maxT' or 'aveAIC', got {selection!r}")
    if alternative not in ("one-sided", "two-sided"):
        raise InputError(f"alternative: must be 'one-sided' or 'two-sided', got {alternative!r}")
    if not isinstance(baseline, bool):
        raise InputError(f"baseline: must be True or False, got {baseline!r}")
    if df is not None and df != "min" and not (isinstance(df, (int, float)) and df > 0):
        raise InputError(f"df: must be a positive number (np.inf for the normal) or 'min', got {df!r}")
    level = as_probability(alpha, "alpha")
    kind = check_dose_kind(dose_kind)
    doses = spec.doses
    if np.any(np.diff(doses) <= 0) or doses[0] != 0:
        raise InputError(f"arms: doses must start at placebo (0) and increase, got {doses.tolist()}")
    truth = target.true_mean_change()[:, visit_index]
    effect = float(truth[-1] - truth[0])
    if isinstance(candidates, Candidates):
        cands = candidates
        if not np.array_equal(cands.doses, doses):
            raise InputError(f"candidates: doses {cands.doses.tolist()} differ from the spec's {doses.tolist()}")
    elif candidates is None and "candidates" in spec.analysis:
        top = spec.analysis.get("max_effect", effect if effect != 0 else None)
        cands = Candidates(doses, spec.analysis["candidates"], max_effect=top)
    elif candidates is None:
        if effect == 0:
            raise InputError("candidates: the spec's effect at the top dose is 0; give candidates with a direction")
        cands = default_candidates(doses, effect)
    elif isinstance(candidates, Mapping):
        cands = Candidates(doses, candidates, max_effect=effect if effect != 0 else None)
    else:
        raise InputError(f"candidates: must be Candidates or a mapping of shapes, got {type(candidates).__name__}")
    if delta is None:
        delta_value = effect / 2 if effect != 0 and (effect < 0) == (cands.direction == "decreasing") else None
    else:
        check_delta(float(delta), cands.direction)
        delta_value = float(delta)
    shape_bounds = check_shape_bounds(bounds, cands)
    for name, box in shape_bounds.items():
        check_bounds(box, get_shape(name), float(doses[-1]))  # malformed bounds now, not in a worker
    # ignore[arg-type] below: df, kind, alternative and vcov were checked above against their Literal values
    return _Analysis(paramcd, visit_index, cands, level, delta_value, first_stage, covariance, baseline,
                     df if df is None or df == "min" else float(df), selection, kind,  # type: ignore[arg-type]
                     df_method=df_method, visit_weeks=tuple(float(week) for week in spec.visits),
                     alternative=alternative, reml=reml, vcov=vcov,  # type: ignore[arg-type]
                     bounds=shape_bounds, p=None if p is None else as_probability(p, "p"), group=group)


def _collect(chunks: list[_Chunk], spec: TrialSpec, analysis: _Analysis, n: int, seed: int, size: int,
             elapsed: float, jobs: int, scheduler: str | None) -> PowerResult:
    labels = list(analysis.candidates.labels)
    shapes = list(dict.fromkeys(m.shape for m in analysis.candidates.models))
    significant = np.concatenate([c.significant for c in chunks])
    t = np.concatenate([c.t_statistics for c in chunks])
    selected = np.concatenate([c.selected for c in chunks])
    any_signal = significant.any(axis=1)
    trials = pd.DataFrame({"significant": any_signal}, index=pd.RangeIndex(n, name="trial"))
    for j, label in enumerate(labels):
        trials[f"t_{label}"] = t[:, j]
        trials[f"significant_{label}"] = significant[:, j]
    names = np.array(shapes + ["none", "aveAIC"], dtype=object)
    trials["selected"] = names[np.where(selected >= 0, selected, len(shapes) - 1 - selected)]
    averaged = analysis.selection == "aveAIC"
    empty = _Doses(np.full(n, np.nan), np.full((n, len(shapes)), np.nan), np.full(n, "", dtype=object),
                   np.zeros(n, dtype=bool))
    target = _joined([c.target_dose for c in chunks]) if analysis.delta is not None else empty
    trials["target_dose"] = target.value
    trials["extrapolated"] = target.extrapolated
    effective = _joined([c.effective_dose for c in chunks]) if analysis.p is not None else None
    if effective is not None:
        trials["effective_dose"] = effective.value
    if averaged:
        weights = np.concatenate([c.weights for c in chunks])
        for j, shape in enumerate(shapes):
            trials[f"weight_{shape}"] = weights[:, j]
        for name, doses in (("target_dose", target if analysis.delta is not None else None),
                            ("effective_dose", effective)):
            if doses is not None:
                for j, shape in enumerate(shapes):
                    trials[f"{name}_{shape}"] = doses.by_shape[:, j]
        chosen = pd.Series(np.append(np.nan_to_num(weights).mean(axis=0), 1.0 - any_signal.mean()),
                           index=pd.Index(shapes + ["none"], name="shape"), name="selected")
    else:
        chosen = trials["selected"].value_counts(normalize=True).reindex(shapes + ["none"], fill_value=0.0).rename(
            "selected").rename_axis("shape")
    power = float(any_signal.mean())
    target_quantiles, target_missing = _dose_summary(target, "target_dose")
    if analysis.delta is None:
        target_quantiles, target_missing = target_quantiles.iloc[:0], target_missing.iloc[:0]
    effective_quantiles, effective_missing = _dose_summary(effective or empty, "effective_dose")
    if effective is None:
        effective_quantiles, effective_missing = effective_quantiles.iloc[:0], effective_missing.iloc[:0]
    return PowerResult(
        power=power,
        power_se=float(np.sqrt(power * (1 - power) / n)),
        significant=pd.Series(significant.mean(axis=0), index=labels, name="significant"),
        selected=chosen,
        target_dose=target_quantiles,
        target_dose_missing=target_missing,
        effective_dose=effective_quantiles,
        effective_dose_missing=effective_missing,
        p=analysis.p,
        group=analysis.group,
        trials=trials,
        n_sims=n,
        seed=seed,
        chunk_size=size,
        endpoint=analysis.endpoint,
        visit=spec.visits[analysis.visit_index],
        first_stage=analysis.first_stage,
        covariance=analysis.covariance,
        alpha=analysis.alpha,
        delta=analysis.delta,
        selection=analysis.selection,
        alternative=analysis.alternative,
        reml=analysis.reml,
        vcov=analysis.vcov,
        undecided=int(sum(c.undecided for c in chunks)),
        first_stage_failures=int(sum(int((~c.first_stage_ok).sum()) for c in chunks)),
        elapsed=elapsed,
        jobs=jobs,
        scheduler=scheduler,
        spec_name=spec.name,
    )


def _joined(parts: list[_Doses | None]) -> _Doses:
    """The dose estimates of all the chunks, in order."""
    present = [part for part in parts if part is not None]
    return _Doses(*(np.concatenate([getattr(part, name) for part in present])
                    for name in ("value", "by_shape", "reason", "extrapolated")))


def _dose_summary(doses: _Doses, name: str) -> tuple[pd.Series, pd.Series]:
    """Quantiles of the dose over the trials where it was estimated, and the number of the others by reason."""
    probs = [0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975]
    finite = doses.value[np.isfinite(doses.value)]
    quantiles = pd.Series(np.quantile(finite, probs) if finite.size else np.full(len(probs), np.nan),
                          index=pd.Index(probs, name="prob"), name=name)
    missing = pd.Series(doses.reason[np.isnan(doses.value)], dtype=object).value_counts().rename("trials")
    return quantiles, missing
