"""Bayesian and bootstrap fitting of one dose-response shape to dose-group estimates (R DoseFinding's ``bFitMod``).

Both take estimates ``y`` at the doses with covariance ``S`` and return draws of the shape's
parameters (:class:`DoseResponseDraws`):

* Bayes: the likelihood ``exp(-(y - f(theta))' S^-1 (y - f(theta)) / 2)`` times a prior per
  parameter (:mod:`dosefinding.bayes.parameter_priors`), sampled by
  :class:`~dosefinding.bayes.shape_sampler.ShapePosterior` (Gibbs draws of the linear parameters,
  slice sampling as DoseFinding's C sampler for the others, the linear parameters integrated out
  where their priors allow) on many chains at once: a pilot of at most 100 chains starts around the least-squares
  fit and runs ``burn_in`` sweeps (the step widths set in the first half to twice the pilot's interquartile range;
  DoseFinding takes 1/1.3 of it), each pilot chain then seeds ``n_chains / 100`` chains, which one more discarded
  sweep sets apart, and each chain gives ``n_draws / n_chains`` draws. Chains of one pilot lineage are
  correlated, so the effective sample size then comes from the lineages (:func:`lineage_effective_sample_size`).
* bootstrap: draws of ``N(y, S)``, each fitted by generalised least squares as
  :func:`~dosefinding.mod.fit_dose_response` fits estimates (the draws of
  :func:`~dosefinding.mod.model_average` with one shape).

Placebo-adjusted estimates are fitted by ``f(dose) - f(0)``, the shape without ``e0`` (``d0``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from dosefinding.bayes.parameter_priors import ParameterPrior
from dosefinding.bayes.shape_sampler import ShapePosterior
from dosefinding.errors import InputError
from dosefinding.mod.averaging import check_probs, model_average, quantile_table
from dosefinding.mod.fit import PredictionKind, fit_dose_response
from dosefinding.mod.least_squares import estimates_problem
from dosefinding.mod.target_doses import DoseKind, check_delta, check_dose_kind, curve_target_dose
from dosefinding.shapes.library import Shape, get_shape
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_generator

__all__ = ["DoseResponseDraws", "bayes_fit_dose_response", "bootstrap_fit_dose_response", "effective_sample_size",
           "lineage_effective_sample_size"]

FloatArray = NDArray[np.float64]
DEFAULT_PROBS = (0.025, 0.25, 0.5, 0.75, 0.975)
_ADAPT_AFTER = (1, 2, 4, 8, 16, 32, 64)
_PILOT_CHAINS = 100
_WIDTH_IQRS = 2.0
_SPLIT_SWEEPS = 1


@dataclass(frozen=True)
class DoseResponseDraws(SummaryDisplay):
    """Draws of the parameters of one dose-response shape: posterior (Bayes) or bootstrap.

    Attributes
    ----------
    shape, method
        The shape and ``"bayes"`` or ``"bootstrap"``.
    samples
        One row per draw, one column per parameter (without ``e0``, or ``d0`` for linint,
        when placebo-adjusted).
    effective_sample_size
        Per parameter, the effective number of independent draws (Bayes, at most the number of draws;
        ``None`` for bootstrap).
    n_chains
        Number of chains (Bayes; ``None`` for bootstrap).
    doses, estimates, cov, placebo_adjusted, constant
        What was fitted; ``constant`` is ``off``, ``scal`` or linint's nodes, else ``None``.
    priors
        The prior of each parameter (Bayes), else empty.
    """

    shape: str
    method: Literal["bayes", "bootstrap"]
    samples: pd.DataFrame
    effective_sample_size: pd.Series | None
    n_chains: int | None
    doses: FloatArray
    estimates: FloatArray
    cov: FloatArray
    placebo_adjusted: bool
    constant: float | tuple[float, ...] | None
    priors: Mapping[str, ParameterPrior]

    @cached_property
    def _full_parameters(self) -> FloatArray:
        values = self.samples.to_numpy()
        if self.placebo_adjusted:
            values = np.concatenate([np.zeros((values.shape[0], 1)), values], axis=1)
        return values

    def curves(self, doses: ArrayLike, kind: PredictionKind = "full") -> pd.DataFrame:
        """Each draw's curve at ``doses``: mean response (``"full"``) or effect over placebo (``"effect"``);
        placebo-adjusted fits give the effect either way."""
        d = np.atleast_1d(np.asarray(doses, dtype=float))
        if kind not in ("full", "effect"):
            raise InputError(f"kind: must be 'full' or 'effect', got {kind!r}")
        model = get_shape(self.shape)
        values = curve_values(model, self._full_parameters, d, self.constant)
        if kind == "effect" or self.placebo_adjusted:
            values = values - curve_values(model, self._full_parameters, np.zeros(1), self.constant)
        return pd.DataFrame(values, columns=pd.Index(d, name="dose")).rename_axis("draw")

    def predict(self, doses: ArrayLike, kind: PredictionKind = "full",
                probs: Sequence[float] = DEFAULT_PROBS) -> pd.DataFrame:
        """Quantiles over the draws of the curve at ``doses`` (R's ``predict.bFitMod``; rows: probabilities).

        Examples
        --------
        >>> import numpy as np
        >>> from dosefinding.bayes import bootstrap_fit_dose_response
        >>> fit = bootstrap_fit_dose_response("linear", doses=[0, 1, 2], estimates=[0.0, 1.0, 2.0],
        ...                                   cov=np.eye(3) * 0.01, n_draws=200, seed=1)
        >>> fit.predict([0, 2], probs=[0.5]).round(1).to_numpy().tolist()
        [[0.0, 2.0]]
        """
        return quantile_table(self.curves(doses, kind), check_probs(probs))

    def target_doses(self, delta: float, dose_kind: DoseKind = "continuous") -> pd.Series:
        """Each draw's target dose (R's ``TD`` on a ``bFitMod``), NaN where its curve does not reach ``delta``."""
        check_delta(delta)
        kind = check_dose_kind(dose_kind)
        doses = np.concatenate([[0.0], self.doses]) if self.placebo_adjusted else self.doses
        values = [curve_target_dose(self.shape, row, delta, doses=doses, dose_kind=kind, constant=self.constant).dose
                  for row in self._full_parameters]
        return pd.Series(values, name="target_dose").rename_axis("draw")

    def to_frame(self) -> pd.DataFrame:
        """One row per parameter: mean, SD, quantiles (and effective sample size for Bayes)."""
        s = self.samples
        frame = pd.concat([s.mean().rename("mean"), s.std().rename("sd"),
                           quantile_table(s, np.array(DEFAULT_PROBS)).T], axis=1)
        if self.effective_sample_size is not None:
            frame["n_eff"] = self.effective_sample_size
        return frame.rename_axis("parameter")

    def __repr__(self) -> str:
        return short_repr(self, shape=self.shape, method=self.method, n_draws=len(self.samples),
                          mean={k: round(float(v), 4) for k, v in self.samples.mean().items()})

    def summary(self) -> Summary:
        """A printed summary laid out as R's ``print(bFitMod(...))``."""
        what = "posterior" if self.method == "bayes" else "bootstrap"
        return Summary([
            "Dose Response Model", "", f"Model: {self.shape}", "",
            f"Summary of {what} draws ({len(self.samples)} draws)",
            SummaryTable(self.to_frame().map(lambda v: f"{v:.4g}")), "", "Fitted to:",
            SummaryTable(pd.Series(self.estimates, index=pd.Index(self.doses, name="dose")).map(lambda v: f"{v:.5g}")
                         .to_frame("estimate").T, index=False),
        ], frame=self.to_frame())


def curve_values(model: Shape, parameters: FloatArray, doses: FloatArray,
                 constant: float | tuple[float, ...] | None) -> FloatArray:
    """The shape's response at ``doses`` for each row of full parameter vectors ``(m, p)``: ``(m, n_doses)``."""
    linear, nonlinear = model.split(parameters)
    basis = model.basis(doses, nonlinear, constant)  # (m, k, L), or (k, L) for the linear shapes
    return linear @ basis.T if basis.ndim == 2 else np.einsum("mkl,ml->mk", basis, linear)


def effective_sample_size(chains: FloatArray) -> FloatArray:
    """Effective sample size of draws ``(n_iterations, n_chains, p)`` per parameter: the multi-chain
    autocorrelations (Gelman et al., BDA3 11.5) summed with Geyer's initial positive sequence.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> bool(abs(effective_sample_size(rng.normal(size=(50, 100, 1)))[0] / 5000 - 1) < 0.2)
    True
    """
    n, m, p = chains.shape
    centred = chains - chains.mean(axis=0)
    spectrum = np.fft.rfft(centred, n=2 * n, axis=0)
    autocov = np.fft.irfft(spectrum * np.conj(spectrum), axis=0)[:n] / n  # (lag, chain, p)
    within = autocov[0].mean(axis=0) * n / max(n - 1, 1)
    between = n * chains.mean(axis=0).var(axis=0, ddof=1) if m > 1 else np.zeros(p)
    var_plus = within * (n - 1) / n + between / n
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = 1 - (within - autocov.mean(axis=1)) / var_plus  # (lag, p)
    out = np.empty(p)
    for j in range(p):
        pairs = rho[: n - n % 2, j].reshape(-1, 2).sum(axis=1)
        positive = np.flatnonzero(pairs < 0)
        pairs = pairs[: positive[0] if positive.size else pairs.size]
        tau = -1 + 2 * np.sum(np.minimum.accumulate(pairs)) if pairs.size else 1.0
        out[j] = n * m / max(tau, 1.0 / np.log10(max(n * m, 10)))
    return out


def lineage_effective_sample_size(chains: FloatArray, n_lineages: int) -> FloatArray:
    """Effective sample size of draws ``(n_iterations, n_chains, p)`` per parameter when chain ``i`` descends from
    independent lineage ``i % n_lineages`` (chains started at copies of the same state are correlated): the
    variance of the draws over the variance of their mean, estimated from the lineages' sums (a ratio
    estimator over independent batches).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> independent = rng.normal(size=(10, 1000, 1))
    >>> bool(abs(lineage_effective_sample_size(independent, 100)[0] / 10_000 - 1) < 0.35)
    True
    >>> copies = np.tile(rng.normal(size=(10, 100, 1)), (1, 10, 1))  # ten identical copies of each lineage
    >>> bool(abs(lineage_effective_sample_size(copies, 100)[0] / 1_000 - 1) < 0.35)
    True
    """
    n, m, p = chains.shape
    lineage = np.arange(m) % n_lineages
    sums = np.stack([np.bincount(lineage, weights=chains[..., j].sum(axis=0), minlength=n_lineages)
                     for j in range(p)], axis=1)  # (lineages, p)
    counts = n * np.bincount(lineage, minlength=n_lineages)[:, None]
    total = n * m
    mean = sums.sum(axis=0) / total
    var_mean = n_lineages / (n_lineages - 1) * np.sum((sums - counts * mean) ** 2, axis=0) / total**2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(var_mean > 0, chains.reshape(-1, p).var(axis=0, ddof=1) / var_mean, float(total))


def _check_priors(priors: Mapping[str, ParameterPrior] | Sequence[ParameterPrior], names: tuple[str, ...]
                  ) -> dict[str, ParameterPrior]:
    if isinstance(priors, Mapping):
        missing = [n for n in names if n not in priors]
        extra = [n for n in priors if n not in names]
        if missing or extra:
            raise InputError(f"priors: need one prior for each of {list(names)}; missing {missing}, unknown {extra}")
        checked = {n: priors[n] for n in names}
    else:
        if isinstance(priors, ParameterPrior) or len(priors) != len(names):
            count = 1 if isinstance(priors, ParameterPrior) else len(priors)
            raise InputError(f"priors: {count} given, need one for each of {list(names)}")
        checked = dict(zip(names, priors))
    for name, prior in checked.items():
        if not isinstance(prior, ParameterPrior):
            raise InputError(f"priors: {name}: a {type(prior).__name__}, not a ParameterPrior (normal_prior(...), ...)")
    return checked


def _count(value: int | None, name: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name}: must be a positive integer, got {value!r}")
    return int(value)


def bayes_fit_dose_response(
    shape: str,
    *,
    doses: ArrayLike,
    estimates: ArrayLike,
    cov: ArrayLike,
    priors: Mapping[str, ParameterPrior] | Sequence[ParameterPrior],
    placebo_adjusted: bool = False,
    n_draws: int = 1000,
    n_chains: int | None = None,
    burn_in: int = 10,
    start: ArrayLike | None = None,
    scal: float | None = None,
    off: float | None = None,
    seed: int | np.random.Generator = 0,
) -> DoseResponseDraws:
    """Posterior draws of a dose-response shape's parameters (R DoseFinding's ``bFitMod(type = "Bayes")``).

    Parameters
    ----------
    shape
        One of the shape names (R's spellings work too).
    doses, estimates, cov
        Dose levels (increasing; from placebo unless ``placebo_adjusted``), estimates per dose
        and their covariance, taken as known: the likelihood is ``N(estimates; f(doses), cov)``.
    priors
        One :class:`~dosefinding.bayes.ParameterPrior` per parameter, by name (or in the
        order of the shape's parameters, as R's list); the parameters are those of
        :func:`~dosefinding.mod.fit_dose_response` (without ``e0`` when placebo-adjusted).
    placebo_adjusted
        The estimates are differences to placebo.
    n_draws
        Number of draws returned.
    n_chains
        Number of chains run together (default ``max(1, n_draws // 10)``); each gives
        ``ceil(n_draws / n_chains)`` draws after ``burn_in`` sweeps.
    burn_in
        Sweeps discarded, run on a pilot of at most 100 chains that then seeds the others (the widths are set
        in the first half); 0: every chain from its start, no pilot.
    start
        Centre of the chains' starting points (default: the least-squares fit, moved inside
        the priors' supports).
    scal, off
        As for :func:`~dosefinding.mod.fit_dose_response`.
    seed
        Seed (int or numpy Generator).

    Examples
    --------
    R's help example (biom, Emax shape; beta prior on ed50 over [0, 1.5]):

    >>> import numpy as np
    >>> from dosefinding.bayes import bayes_fit_dose_response, beta_prior, normal_prior
    >>> from dosefinding.datasets import biom
    >>> data = biom()
    >>> means = data.groupby("dose")["resp"].mean()
    >>> n = data.groupby("dose")["resp"].size().to_numpy()
    >>> sigma2 = float(data.groupby("dose")["resp"].var().mul(n - 1).sum() / (len(data) - len(n)))
    >>> fit = bayes_fit_dose_response("emax", doses=means.index, estimates=means, cov=np.diag(sigma2 / n),
    ...     priors={"e0": normal_prior(0, 10), "emax": normal_prior(0, 100), "ed50": beta_prior(0, 1.5, 0.45, 1.7)},
    ...     n_draws=4000, seed=1)
    >>> fit.samples.median().round(1).tolist()
    [0.4, 0.8, 0.3]
    >>> fit.predict([0, 1], probs=[0.5]).round(1).to_numpy().tolist()
    [[0.4, 1.0]]
    """
    model = get_shape(shape)
    problem = estimates_problem(model, doses, estimates, cov, placebo_adjusted=placebo_adjusted, scal=scal, off=off)
    names = model.parameter_names(problem.constant)[int(placebo_adjusted):]
    checked = _check_priors(priors, names)
    n_draws = _count(n_draws, "n_draws", 1000)
    chains = _count(n_chains, "n_chains", max(1, n_draws // 10))
    burn = _count(burn_in, "burn_in", 10) if burn_in else 0
    rng = as_generator(seed)
    d, y, whitener = problem.dose, problem.y, problem.whitener
    assert whitener is not None
    posterior = ShapePosterior(model, problem.constant, d, y, whitener, list(checked.values()), placebo_adjusted)
    lower, upper = posterior.lower, posterior.upper

    if start is None:
        fit = fit_dose_response(model.name, doses=d, estimates=y, cov=cov, placebo_adjusted=placebo_adjusted,
                                scal=scal, off=off)
        centre = fit.parameters.to_numpy()[: len(names)]
        spread = np.sqrt(np.abs(np.diag(fit.cov.to_numpy())[: len(names)]))
        centre = np.array([_inside(c, lo, hi) for c, lo, hi in zip(centre, lower, upper)])
    else:
        centre = np.asarray(start, dtype=float)
        if centre.shape != (len(names),):
            raise InputError(f"start: need one value for each of {list(names)}, got shape {centre.shape}")
        if (np.any(centre <= lower) or np.any(centre >= upper)
                or not np.all(np.isfinite(posterior.log_density(centre[None])))):
            raise InputError(f"start: {centre.tolist()} is outside the priors' supports or has zero posterior density")
        spread = np.maximum(np.abs(centre) * 0.1, 1e-3)
    span = np.where(np.isfinite(upper - lower), (upper - lower) / 4, np.inf)
    spread = np.minimum(np.where(np.isfinite(spread) & (spread > 0), spread, 1.0), span)
    # The burn-in (and the widths' adaptation) runs on a pilot of at most _PILOT_CHAINS chains; each pilot chain
    # then starts chains / pilot chains, which _SPLIT_SWEEPS more sweeps (discarded) set apart.
    pilot = min(chains, _PILOT_CHAINS) if burn else chains
    state = _starting_points(centre, spread, lower, upper, pilot, rng, posterior.log_density)

    kept = -(-n_draws // chains)
    widths = np.where(posterior.log_scale, 1.0, np.maximum(2 * spread, 0.1 * np.abs(centre)))
    for sweep in range(burn):
        posterior.sweep(state, widths, rng)
        if sweep + 1 in _ADAPT_AFTER and sweep < burn // 2 and pilot >= 4:
            # DoseFinding sets the widths to IQR / 1.3 of a pilot run; twice the IQR of the chains (after 1, 2, 4, ...
            # sweeps) takes fewer rounds of stepping out and as many effective draws (the sampler is valid for any).
            q75, q25 = np.percentile(posterior.working(state), [75, 25], axis=0)
            widths = np.where(q75 > q25, _WIDTH_IQRS * (q75 - q25), widths)
    if pilot < chains:
        state = np.resize(state, (chains, len(names)))
        for _ in range(_SPLIT_SWEEPS):
            posterior.sweep(state, widths, rng)
    draws = np.empty((kept, chains, len(names)))
    for sweep in range(kept):
        posterior.sweep(state, widths, rng)
        draws[sweep] = state
    ess = effective_sample_size(draws) if pilot == chains else lineage_effective_sample_size(draws, pilot)
    samples = draws.transpose(1, 0, 2).reshape(-1, len(names))[:n_draws]
    constant = problem.constant
    return DoseResponseDraws(
        shape=model.name,
        method="bayes",
        samples=pd.DataFrame(samples, columns=list(names)).rename_axis("draw"),
        effective_sample_size=pd.Series(np.minimum(ess * n_draws / (kept * chains), n_draws), index=list(names),
                                        name="n_eff"),
        n_chains=chains,
        doses=d,
        estimates=y,
        cov=np.asarray(cov, dtype=float),
        placebo_adjusted=placebo_adjusted,
        constant=tuple(constant.tolist()) if isinstance(constant, np.ndarray) else constant,
        priors=checked,
    )


def _inside(value: float, lower: float, upper: float) -> float:
    """``value`` moved inside ``(lower, upper)`` as DoseFinding's projPrBnds: 5% of the range (or 0.25) from the bound."""
    if lower < value < upper:
        return value
    span = upper - lower if np.isfinite(upper - lower) else 5.0
    return lower + 0.05 * span if value <= lower else upper - 0.05 * span


def _starting_points(centre: FloatArray, spread: FloatArray, lower: FloatArray, upper: FloatArray, chains: int,
                     rng: np.random.Generator, log_posterior: Callable[[FloatArray], FloatArray]) -> FloatArray:
    """Chains' starts: ``centre`` plus normal noise of SD ``spread``; a start outside the support or of zero
    density is the centre itself."""
    points = centre + rng.standard_normal((chains, centre.size)) * spread
    bad = np.any((points <= lower) | (points >= upper), axis=1)
    points[bad] = centre
    values = log_posterior(points)
    points[~np.isfinite(values)] = centre
    if not np.isfinite(log_posterior(centre[None])[0]):
        raise InputError(f"priors: the posterior density is zero at the start {centre.tolist()}; give start=")
    return points


def bootstrap_fit_dose_response(
    shape: str,
    *,
    doses: ArrayLike,
    estimates: ArrayLike,
    cov: ArrayLike,
    placebo_adjusted: bool = False,
    n_draws: int | None = None,
    draws: ArrayLike | None = None,
    bounds: ArrayLike | None = None,
    scal: float | None = None,
    off: float | None = None,
    grid_points: int | None = None,
    seed: int | np.random.Generator = 0,
) -> DoseResponseDraws:
    """Bootstrap draws of a dose-response shape's parameters (R DoseFinding's ``bFitMod(type = "bootstrap")``).

    ``n_draws`` (default 1000) draws of ``N(estimates, cov)`` (or the given ``draws``, one row per
    draw), each fitted by generalised least squares within ``bounds`` (default
    :func:`~dosefinding.shapes.default_bounds`), as :func:`~dosefinding.mod.fit_dose_response`.

    Examples
    --------
    >>> import numpy as np
    >>> from dosefinding.bayes import bootstrap_fit_dose_response
    >>> fit = bootstrap_fit_dose_response("emax", doses=[0, 5, 50, 300], estimates=[-4.0, -4.6, -5.9, -6.6],
    ...                                   cov=np.eye(4) * 5.6**2 / 45, n_draws=200, seed=1)
    >>> fit.samples.columns.tolist(), fit.samples.shape
    (['e0', 'emax', 'ed50'], (200, 3))
    """
    model = get_shape(shape)
    bound_map = None if bounds is None else {model.name: bounds}
    averaged = model_average([model.name], doses=doses, estimates=estimates, cov=cov,
                             placebo_adjusted=placebo_adjusted, n_draws=n_draws, draws=draws, bounds=bound_map,
                             scal=scal, off=off, grid_points=grid_points, seed=seed)
    return DoseResponseDraws(
        shape=model.name,
        method="bootstrap",
        samples=averaged.parameters[model.name],
        effective_sample_size=None,
        n_chains=None,
        doses=averaged.doses,
        estimates=averaged.estimates.to_numpy(),
        cov=averaged.cov.to_numpy(),
        placebo_adjusted=placebo_adjusted,
        constant=averaged.constants[model.name],
        priors={},
    )
