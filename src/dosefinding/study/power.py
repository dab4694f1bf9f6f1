"""Power by simulation: many virtual trials, each analysed as the real one (MMRM, then MCP-Mod).

Every simulated trial goes through the analysis of :mod:`dosefinding.mod.from_mmrm` and
:func:`dosefinding.mod.mcpmod` (R DoseFinding's ``MCPMod`` on the LS means with their
covariance, ``type = "general"``), computed for a whole chunk of trials at once:

1. First stage (per trial): the MMRM of the change from baseline, cell means of arm by
   visit plus baseline by visit, unstructured (or ``cs``, ``ar1``) covariance by REML
   (:func:`dosefinding.mmrm.batch.fit_mmrm_batch`, the model of :func:`~dosefinding.mmrm.mmrm`),
   and the LS means of the arms at the analysis visit (baseline at its mean over the
   observations, as :meth:`~dosefinding.mmrm.MMRMResult.lsmeans`) with their covariance;
   or, with ``first_stage="ancova"``, the ANCOVA of the analysis visit alone (complete
   cases, closed form) with its residual degrees of freedom.
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
   squares (the search of :func:`~dosefinding.mod.fit_dose_response`: grid, then Brent or
   bounded Newton) to all the trials where it is significant at once. The fit uses the
   placebo-adjusted LS means and their covariance: profiling ``e0`` out of the fit to the
   LS means gives exactly this objective, hence the same fitted curves and the same gAIC
   up to a constant common to the shapes. The shape with the smallest gAIC (or the
   largest t statistic, ``selection="maxT"``) is selected and its target dose (TD for
   ``delta``) computed by :func:`~dosefinding.mod.target_doses.curve_target_dose`.

Reproducibility: the trials are cut into chunks of ``chunk_size`` (fixed, not depending
on the number of workers); chunk ``i`` draws from the ``i``-th child of
``SeedSequence(seed)``. The same seed and chunk size give bitwise the same trials and
results with one process, several (joblib, ``jobs``) or a dask.distributed cluster
(``scheduler``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dosefinding.errors import InputError
from dosefinding.mcp.contrasts import contrast_correlation, unconstrained_contrasts
from dosefinding.mcp.max_t import significant_contrasts
from dosefinding.mmrm.batch import fit_mmrm_batch
from dosefinding.mod.fit import _check_bounds, _check_grid_points, _constant_for, _LeastSquares, _search
from dosefinding.mod.target_doses import DoseKind, check_delta, check_dose_kind, curve_target_dose
from dosefinding.shapes.candidates import Candidates
from dosefinding.shapes.library import get_shape
from dosefinding.study.simulate import EndpointMatrix, _as_spec, simulate_endpoint_matrix
from dosefinding.study.spec import TrialSpec
from dosefinding.validation import as_probability

__all__ = ["PowerResult", "default_candidates", "simulate_power"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

_NO_SIGNAL = "no significant contrast"
_NOT_FITTED = "first stage failed (MMRM not converged or LS means not estimable)"


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
    df: float | None
    selection: str
    dose_kind: DoseKind


@dataclass(frozen=True)
class _Chunk:
    """Per-trial results of one chunk."""

    significant: BoolArray  # (T, M)
    t_statistics: FloatArray  # (T, M)
    selected: NDArray[np.int64]  # (T,), index into the fitted shapes, -1 for none
    target_dose: FloatArray  # (T,)
    reason: NDArray[np.object_]  # (T,), why the TD is NaN ("" when it is not)
    extrapolated: BoolArray
    first_stage_ok: BoolArray
    undecided: int


# --------------------------------------------------------------------------- first stage


def _mmrm_estimates(values: FloatArray, base: FloatArray, arm: NDArray[np.int64], n_arms: int, visit: int,
                    analysis: _Analysis) -> tuple[FloatArray, FloatArray, BoolArray]:
    """LS means (T, k) at the visit and their covariance (T, k, k) from the batched MMRM of the change."""
    change = values - base[..., None]
    n_trials, n_subjects, n_visits = change.shape
    empty = np.isnan(change).all(axis=2)
    estimates = np.full((n_trials, n_arms), np.nan)
    cov = np.full((n_trials, n_arms, n_arms), np.nan)
    ok = np.zeros(n_trials, dtype=bool)
    n_base = n_visits if analysis.baseline else 0
    p = n_arms * n_visits + n_base
    visits = np.arange(n_visits)
    # A subject without any visit takes no part in the fit: per trial, sort such subjects
    # last, and fit together the trials that have the same number of them.
    counts = empty.sum(axis=1)
    for count in np.unique(counts):
        rows = np.flatnonzero(counts == count)
        order = np.argsort(empty[rows], axis=1, kind="stable")[:, : n_subjects - count]
        y = np.take_along_axis(change[rows], order[:, :, None], axis=1)
        arms = arm[order]
        x = np.zeros(y.shape + (p,))
        t_idx = np.arange(rows.size)[:, None, None]
        s_idx = np.arange(y.shape[1])[None, :, None]
        x[t_idx, s_idx, visits[None, None, :], arms[:, :, None] * n_visits + visits[None, None, :]] = 1.0
        b = np.take_along_axis(base[rows], order, axis=1)
        if analysis.baseline:
            x[t_idx, s_idx, visits[None, None, :], n_arms * n_visits + visits[None, None, :]] = b[:, :, None]
        fit = fit_mmrm_batch(y, x, covariance=analysis.covariance, reml=True)
        observed = ~np.isnan(y)
        # emmeans / lsmeans(): the covariate at its mean over the observations used.
        mean_base = (b[:, :, None] * observed).sum(axis=(1, 2)) / observed.sum(axis=(1, 2))
        contrast = np.zeros((rows.size, n_arms, p))
        contrast[:, np.arange(n_arms), np.arange(n_arms) * n_visits + visit] = 1.0
        if analysis.baseline:
            contrast[:, :, n_arms * n_visits + visit] = mean_base[:, None]
        est = np.einsum("tap,tp->ta", contrast, fit.beta)
        c = contrast @ fit.beta_cov @ contrast.transpose(0, 2, 1)
        good = fit.converged & np.isfinite(est).all(axis=1) & np.isfinite(c).all(axis=(1, 2))
        estimates[rows], cov[rows], ok[rows] = est, c, good
    return estimates, cov, ok


def _ancova_estimates(values: FloatArray, base: FloatArray, arm: NDArray[np.int64], n_arms: int, visit: int,
                      analysis: _Analysis) -> tuple[FloatArray, FloatArray, BoolArray, FloatArray]:
    """LS means of ``change ~ 0 + arm (+ base)`` at one visit (complete cases), covariance and residual df."""
    change = values[:, :, visit] - base
    observed = ~np.isnan(change)
    y = np.where(observed, change, 0.0)
    columns = [np.broadcast_to(np.eye(n_arms)[arm], change.shape + (n_arms,))]
    if analysis.baseline:
        columns.append(base[:, :, None])
    x = np.concatenate(columns, axis=2) * observed[:, :, None]
    xtx = np.einsum("tnp,tnq->tpq", x, x)
    xty = np.einsum("tnp,tn->tp", x, y)
    n_obs = observed.sum(axis=1)
    p = x.shape[2]
    counts = np.einsum("tnp->tp", x[:, :, :n_arms])
    ok = (counts > 0).all(axis=1) & (n_obs > p)
    xtx = np.where(ok[:, None, None], xtx, np.eye(p))
    beta = np.linalg.solve(xtx, xty[..., None])[..., 0]
    residual = (y - np.einsum("tnp,tp->tn", x, beta)) * observed
    df = np.maximum(n_obs - p, 1).astype(float)
    sigma2 = (residual * residual).sum(axis=1) / df
    beta_cov = sigma2[:, None, None] * np.linalg.inv(xtx)
    contrast = np.zeros((change.shape[0], n_arms, p))
    contrast[:, np.arange(n_arms), np.arange(n_arms)] = 1.0
    if analysis.baseline:
        contrast[:, :, n_arms] = ((base * observed).sum(axis=1) / np.maximum(n_obs, 1))[:, None]
    estimates = np.einsum("tap,tp->ta", contrast, beta)
    cov = contrast @ beta_cov @ contrast.transpose(0, 2, 1)
    return estimates, cov, ok, df


# --------------------------------------------------------------------------- MCP step


# --------------------------------------------------------------------------- Mod step


@dataclass(frozen=True)
class _TrialLeastSquares(_LeastSquares):
    """Placebo-adjusted GLS fits of one shape to many trials, each with its own covariance.

    Each row of ``y`` holds a trial's estimates followed by its whitener (row by row), so
    that the subsets of rows the search takes (``dataclasses.replace(problem, y=y[rows])``)
    keep every whitener with its estimates; ``whitener`` (T, n, n) is unpacked from it.
    """

    def __post_init__(self) -> None:
        n = self.dose.size
        object.__setattr__(self, "whitener", self.y[..., n:].reshape(self.y.shape[:-1] + (n, n)))

    @cached_property
    def whitened_y(self) -> FloatArray:
        assert self.whitener is not None
        return (self.whitener @ self.y[..., : self.dose.size, None])[..., 0]

    @cached_property
    def _fixed(self) -> tuple[FloatArray, FloatArray]:
        # Placebo-adjusted estimates without covariates: no column is fixed.
        return np.zeros((self.dose.size, 0)), self.whitened_y

    def projected_residual(
        self, nonlinear: FloatArray, rows: slice | NDArray[np.intp] = slice(None)
    ) -> tuple[FloatArray, FloatArray]:
        # Each trial has its own whitener: a subset of trials is a problem of its own.
        if isinstance(rows, slice):
            return super().projected_residual(nonlinear)
        return replace(self, y=self.y[rows]).projected_residual(nonlinear)


def _fit_shape(shape: str, doses: FloatArray, estimates: FloatArray, cov: FloatArray,
               candidates: Candidates) -> tuple[FloatArray, FloatArray, float | FloatArray | None]:
    """gAIC (up to a constant common to the shapes) and full dose-response parameters of ``shape``
    fitted to each trial's placebo-adjusted estimates (T, k-1) with covariance (T, k-1, k-1)."""
    model = get_shape(shape)
    active = doses[1:]
    constant = _constant_for(model, active, candidates.scal, candidates.off, True)
    whitener = np.linalg.inv(np.linalg.cholesky(cov))
    packed = np.concatenate([estimates, whitener.reshape(estimates.shape[0], -1)], axis=1)
    problem = _TrialLeastSquares(model, constant, active, packed, np.empty((active.size, 0)), True)
    box = _check_bounds(None, model, float(active[-1]))
    if box is None:
        theta = np.empty((estimates.shape[0], 0))
    else:
        theta, _ = _search(problem, box, _check_grid_points(None, box.shape[0]))
    coefficients, residual = problem.solve(theta)
    dr = problem.dose_response_parameters(coefficients, theta)
    n_params = dr.shape[1] - 1
    return np.sum(residual * residual, axis=1) + 2 * n_params, dr, constant


# --------------------------------------------------------------------------- one chunk


def _child(seed: np.random.SeedSequence, key: int) -> np.random.Generator:
    """A generator of the child ``key`` of ``seed`` (as ``seed.spawn`` would give, whatever it spawned before)."""
    return np.random.default_rng(np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, key)))


def _chunk_trials(spec: TrialSpec, analysis: _Analysis, seed: np.random.SeedSequence, n_trials: int) -> EndpointMatrix:
    """The simulated trials of one chunk."""
    return simulate_endpoint_matrix(spec, analysis.endpoint, n_trials=n_trials, seed=_child(seed, 0))


def _analyse_chunk(spec: TrialSpec, analysis: _Analysis, seed: np.random.SeedSequence, n_trials: int) -> _Chunk:
    """Simulate ``n_trials`` trials from ``seed`` and analyse them."""
    matrix = _chunk_trials(spec, analysis, seed, n_trials)
    cands = analysis.candidates
    doses = cands.doses
    n_arms = doses.size
    if analysis.first_stage == "mmrm":
        est, cov, ok = _mmrm_estimates(matrix.values, matrix.base, matrix.arm, n_arms, analysis.visit_index, analysis)
        df = np.full(n_trials, np.inf if analysis.df is None else analysis.df)
    else:
        est, cov, ok, df = _ancova_estimates(matrix.values, matrix.base, matrix.arm, n_arms, analysis.visit_index,
                                             analysis)
        if analysis.df is not None:
            df = np.full(n_trials, analysis.df)
    est = np.where(ok[:, None], est, 0.0)
    cov = np.where(ok[:, None, None], cov, np.eye(n_arms))
    mu = cands.response_matrix(doses).to_numpy()
    c = unconstrained_contrasts(mu, cov)
    sd = np.sqrt(np.einsum("tkm,tkl,tlm->tm", c, cov, c))
    t = np.where(ok[:, None], np.einsum("tkm,tk->tm", c, est) / sd, -np.inf)
    significant, undecided = significant_contrasts(t, contrast_correlation(c, cov), df, analysis.alpha,
                                                   rank=n_arms - 1, seed=_child(seed, 1))

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
        gaic, dr, constant = _fit_shape(name, doses, adj_est[rows], adj_cov[rows], cands)
        criteria[rows, j] = np.where(np.isfinite(gaic), gaic, np.inf)
        full = np.full((n_trials, dr.shape[1]), np.nan)
        full[rows] = dr
        parameters[j], constants[j] = full, constant
    any_signal = by_shape.any(axis=1)
    score = criteria if analysis.selection == "AIC" else -t_by_shape
    selected = np.where(any_signal, np.argmin(score, axis=1), -1)

    target = np.full(n_trials, np.nan)
    reason = np.full(n_trials, "", dtype=object)
    extrapolated = np.zeros(n_trials, dtype=bool)
    reason[~any_signal] = _NO_SIGNAL
    reason[~ok] = _NOT_FITTED
    if analysis.delta is not None:
        for i in np.flatnonzero(any_signal):
            j = int(selected[i])
            estimate = curve_target_dose(shapes[j], parameters[j][i], analysis.delta, doses=doses,
                                         kind=analysis.dose_kind, direction=cands.direction, constant=constants[j])
            target[i] = estimate.dose
            if np.isnan(estimate.dose):
                reason[i] = estimate.note
            extrapolated[i] = "extrapolated" in estimate.note
    return _Chunk(significant, t, selected, target, reason, extrapolated, ok, undecided)


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class PowerResult:
    """Operating characteristics of MCP-Mod from simulated trials.

    Attributes
    ----------
    power, power_se
        Probability that the MCP step rejects the flat dose-response (some contrast
        significant), and its Monte Carlo standard error ``sqrt(p (1 - p) / n_sims)``.
    significant
        By candidate model: the probability that its contrast is significant.
    selected
        By shape (and ``"none"``): the probability that it is the selected shape.
    target_dose
        Quantiles (0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975) of the target dose over the
        trials where it was estimated (empty without ``delta``).
    target_dose_missing
        Number of trials without a target dose, by reason.
    trials
        One row per simulated trial: ``significant`` (any contrast), the t statistic and
        significance of each model, ``selected`` shape, ``target_dose``, ``extrapolated``.
    n_sims, seed, chunk_size
        The simulation; the same three give the same numbers.
    undecided
        MCP decisions still within the integration error after refinement (decided by the
        point estimate of the adjusted p-value).
    first_stage_failures
        Trials whose first stage failed (counted as not significant).
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

    def summary(self) -> str:
        """A printed account: power with its Monte Carlo error, by model and shape, and the target dose."""
        n = self.n_sims
        low, high = self.power - 1.96 * self.power_se, self.power + 1.96 * self.power_se
        stage = (f"MMRM ({self.covariance}, REML, LS means at week {self.visit})" if self.first_stage == "mmrm"
                 else f"ANCOVA at week {self.visit}")
        lines = [
            f"Simulation-based power: {self.spec_name}, endpoint {self.endpoint}",
            (f"{n} simulated trials (seed {self.seed}, chunks of {self.chunk_size}); {stage}; "
            f"MCP-Mod, one-sided alpha {self.alpha:g}, selection {self.selection}"),
            "",
            (f"Power of the MCP step: {self.power:.4f} (Monte Carlo SE {self.power_se:.4f}; "
            f"95% CI {low:.4f} to {high:.4f})"),
            "",
            "Probability that the contrast is significant:",
            self.significant.map(lambda v: f"{v:.4f}").to_string(),
            "",
            "Probability that the shape is selected:",
            self.selected.rename_axis(None).map(lambda v: f"{v:.4f}").to_string(),
        ]
        if self.delta is not None:
            estimated = int(self.trials["target_dose"].notna().sum())
            lines += ["", (f"Target dose (TD, delta = {self.delta:g}), estimated in {estimated} of {n} trials "
                          f"({int(self.trials['extrapolated'].sum())} extrapolated beyond the largest dose):")]
            if estimated:
                lines.append(self.target_dose.map(lambda v: f"{v:.4g}").to_frame().T.to_string(index=False))
            if len(self.target_dose_missing):
                lines += ["Not estimated:"] + [f"  {count:6d}  {why}" for why, count in self.target_dose_missing.items()]
        notes = []
        if self.first_stage_failures:
            notes.append(f"{self.first_stage_failures} trial(s) with a failed first stage count as not significant.")
        if self.undecided:
            notes.append(f"{self.undecided} MCP decision(s) within the integration error, decided by the estimate.")
        where = f"scheduler {self.scheduler}" if self.scheduler else f"{self.jobs} worker(s)"
        lines += [""] + notes + [f"Time: {self.elapsed:.1f} s with {where}"]
        return "\n".join(lines)


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

    return update


def _run_indexed(index: int, spec: TrialSpec, analysis: _Analysis, seed: np.random.SeedSequence,
                 n_trials: int) -> tuple[int, _Chunk]:
    return index, _analyse_chunk(spec, analysis, seed, n_trials)


def _run_chunks(tasks: list[tuple[int, TrialSpec, _Analysis, np.random.SeedSequence, int]], jobs: int,
                scheduler: str | None, update: Callable[[int], None]) -> Iterator[tuple[int, _Chunk]]:
    if scheduler is not None:
        try:
            from dask.distributed import Client, as_completed
        except ImportError:
            raise InputError("scheduler: needs dask.distributed (pip install 'dosefinding[dask]')") from None
        with Client(scheduler) as client:
            futures = client.map(_run_indexed, *zip(*tasks), pure=False)
            for done, future in enumerate(as_completed(futures), start=1):
                yield future.result()
                update(done)
        return
    if jobs == 1:
        for done, task in enumerate(tasks, start=1):
            yield _run_indexed(*task)
            update(done)
        return
    try:
        from joblib import Parallel, delayed, parallel_config
    except ImportError:
        raise InputError("jobs: more than one worker needs joblib (pip install joblib)") from None
    with parallel_config(backend="loky", inner_max_num_threads=1):
        results = Parallel(n_jobs=jobs, return_as="generator_unordered")(delayed(_run_indexed)(*t) for t in tasks)
        for done, result in enumerate(results, start=1):
            yield result
            update(done)


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name}: must be a positive integer, got {value!r}")
    return int(value)


def simulate_power(
    spec: TrialSpec | str | PathLike[str],
    *,
    n_sims: int = 1000,
    seed: int | None = None,
    endpoint: str | None = None,
    visit: int | None = None,
    candidates: Candidates | Mapping[str, Any] | None = None,
    alpha: float = 0.025,
    delta: float | None = None,
    first_stage: str = "mmrm",
    covariance: str = "us",
    baseline: bool = True,
    df: float | None = None,
    selection: str = "AIC",
    dose_kind: DoseKind = "continuous",
    jobs: int = 1,
    scheduler: str | None = None,
    chunk_size: int = 250,
    progress: bool = False,
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
        dose); default :func:`default_candidates`.
    alpha
        One-sided level of the MCP step.
    delta
        Target effect over placebo of the TD (signed as the candidates' direction);
        default half the true effect of the largest dose at the visit.
    first_stage
        ``"mmrm"`` (every visit; ``covariance`` ``"us"``, ``"cs"`` or ``"ar1"``; test on the
        normal, DoseFinding's default for estimates, unless ``df`` is given) or
        ``"ancova"`` (the visit alone, complete cases, residual degrees of freedom).
    baseline
        Adjust for the baseline value (by visit in the MMRM).
    df
        Degrees of freedom of the MCP step; default ``inf`` (normal) after the MMRM, the
        residual degrees of freedom of each trial after the ANCOVA.
    selection
        ``"AIC"`` (smallest gAIC) or ``"maxT"``.
    dose_kind
        ``"continuous"`` or ``"discrete"`` target dose.
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
    """
    trial_spec = _as_spec(spec)
    n = _positive_int(n_sims, "n_sims")
    size = _positive_int(chunk_size, "chunk_size")
    workers = _positive_int(jobs, "jobs")
    if seed is None:
        seed_value = trial_spec.seed
    elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed: must be a non-negative integer, got {seed!r}")
    else:
        seed_value = int(seed)
    analysis = _build_analysis(trial_spec, endpoint, visit, candidates, alpha, delta, first_stage, covariance,
                               baseline, df, selection, dose_kind)
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise InputError(f"scheduler: must be the address of a dask scheduler, got {scheduler!r}")
    n_chunks = -(-n // size)
    seeds = np.random.SeedSequence(seed_value).spawn(n_chunks)
    tasks = [(i, trial_spec, analysis, seeds[i], min(size, n - i * size)) for i in range(n_chunks)]
    start = time.perf_counter()
    chunks: dict[int, _Chunk] = dict(_run_chunks(tasks, workers, scheduler, _progress_bar(n_chunks, progress)))
    elapsed = time.perf_counter() - start
    return _collect([chunks[i] for i in range(n_chunks)], trial_spec, analysis, n, seed_value, size, elapsed,
                    workers, scheduler)


def _build_analysis(spec: TrialSpec, endpoint: str | None, visit: int | None,
                    candidates: Candidates | Mapping[str, Any] | None, alpha: float, delta: float | None,
                    first_stage: str, covariance: str, baseline: bool, df: float | None, selection: str,
                    dose_kind: DoseKind) -> _Analysis:
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
    if covariance not in ("us", "cs", "ar1"):
        raise InputError(f"covariance: must be 'us', 'cs' or 'ar1', got {covariance!r}")
    if selection not in ("AIC", "maxT"):
        raise InputError(f"selection: must be 'AIC' or 'maxT', got {selection!r}")
    if not isinstance(baseline, bool):
        raise InputError(f"baseline: must be True or False, got {baseline!r}")
    if df is not None and not (isinstance(df, (int, float)) and df > 0):
        raise InputError(f"df: must be a positive number (np.inf for the normal), got {df!r}")
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
    return _Analysis(paramcd, visit_index, cands, level, delta_value, first_stage, covariance, baseline,
                     None if df is None else float(df), selection, kind)


def _collect(chunks: list[_Chunk], spec: TrialSpec, analysis: _Analysis, n: int, seed: int, size: int,
             elapsed: float, jobs: int, scheduler: str | None) -> PowerResult:
    labels = list(analysis.candidates.labels)
    shapes = list(dict.fromkeys(m.shape for m in analysis.candidates.models))
    significant = np.concatenate([c.significant for c in chunks])
    t = np.concatenate([c.t_statistics for c in chunks])
    selected = np.concatenate([c.selected for c in chunks])
    target = np.concatenate([c.target_dose for c in chunks])
    reason = np.concatenate([c.reason for c in chunks])
    any_signal = significant.any(axis=1)
    trials = pd.DataFrame({"significant": any_signal}, index=pd.RangeIndex(n, name="trial"))
    for j, label in enumerate(labels):
        trials[f"t_{label}"] = t[:, j]
        trials[f"significant_{label}"] = significant[:, j]
    names = np.array(shapes + ["none"], dtype=object)
    trials["selected"] = names[np.where(selected >= 0, selected, len(shapes))]
    trials["target_dose"] = target
    trials["extrapolated"] = np.concatenate([c.extrapolated for c in chunks])
    power = float(any_signal.mean())
    missing = pd.Series(reason[np.isnan(target)]).value_counts() if analysis.delta is not None else pd.Series(
        dtype=np.int64)
    probs = [0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975]
    finite = target[np.isfinite(target)]
    quantiles = pd.Series(np.quantile(finite, probs) if finite.size else np.full(len(probs), np.nan),
                          index=pd.Index(probs, name="prob"), name="target_dose")
    return PowerResult(
        power=power,
        power_se=float(np.sqrt(power * (1 - power) / n)),
        significant=pd.Series(significant.mean(axis=0), index=labels, name="significant"),
        selected=trials["selected"].value_counts(normalize=True).reindex(list(names), fill_value=0.0).rename(
            "selected").rename_axis("shape"),
        target_dose=quantiles if analysis.delta is not None else quantiles.iloc[:0],
        target_dose_missing=missing.rename("trials"),
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
        undecided=int(sum(c.undecided for c in chunks)),
        first_stage_failures=int(sum(int((~c.first_stage_ok).sum()) for c in chunks)),
        elapsed=elapsed,
        jobs=jobs,
        scheduler=scheduler,
        spec_name=spec.name,
    )
