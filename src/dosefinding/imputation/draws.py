"""Parameter draws of the imputation model: an MMRM with unstructured covariance, by one of three methods.

- ``"condmean"``: the REML estimate on the data (sample 0), then on each leave-one-subject-out
  data set (``resampling="jackknife"``) or on ``n_samples`` bootstrap samples of subjects
  stratified by arm (``"bootstrap"``); each sample's own data are imputed by their
  conditional mean (Wolbers et al. 2022).
- ``"approx_bayes"``: the REML estimate on ``n_samples`` bootstrap samples (approximate
  Bayesian; the original data are imputed by random draws).
- ``"bmlmi"``: bootstrapped maximum likelihood multiple imputation (von Hippel and Bartlett
  2021; rbmi's ``method_bmlmi(B, D)``): the REML estimate on ``n_samples`` (B) bootstrap
  samples, each sample's own data imputed ``imputations_per_sample`` (D) times by random
  draws; the B x D analyses are pooled by von Hippel and Bartlett's rule
  (:func:`dosefinding.imputation.von_hippel_bartlett`).
- ``"bayes"``: draws from the posterior of the MMRM by data augmentation
  (:func:`dosefinding.imputation.gibbs.gibbs_draws`).

The REML fits are :func:`dosefinding.mmrm.fit_mmrm_batch` on all samples at once (a
left-out subject is a subject without visits), in chunks, over joblib workers when
``n_jobs > 1`` or a dask.distributed cluster (:func:`dosefinding.parallel.run_tasks`).
Outcomes after an event handled by a reference-based strategy take no part in the fits
(:attr:`ImputationData.y_fit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dosefinding.errors import InputError
from dosefinding.imputation.data import ImputationData
from dosefinding.imputation.gibbs import gibbs_draws
from dosefinding.mmrm import fit_mmrm_batch
from dosefinding.parallel import run_tasks
from dosefinding.summary import Summary, SummaryDisplay, short_repr
from dosefinding.validation import as_generator, as_positive_int

__all__ = ["ParameterDraws", "mmrm_draws"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
Method = Literal["condmean", "approx_bayes", "bayes", "bmlmi"]
_CHUNK = 64
_MAX_REDRAWS = 10


@dataclass(frozen=True)
class ParameterDraws(SummaryDisplay):
    """Draws of the imputation model's parameters (D draws, p coefficients, V visits).

    Attributes
    ----------
    beta, sigma
        Coefficients (D, p) and covariance over the visits (D, V, V), or one per arm
        (D, A, V, V) when fitted with ``same_covariance=False``.
    rows
        For conditional mean imputation and BMLMI, the subjects (indices into the data) making
        up each sample's data set (D, N), -1 for a subject left out; None for the other methods
        (the original data are imputed with each draw).
    method, resampling
        How the draws were made (``resampling``: ``"jackknife"``, ``"bootstrap"`` or None).
    data
        The data they were made from.
    redrawn
        Bootstrap samples drawn again because the model could not be fitted to them.
    imputations_per_sample
        For BMLMI, the consecutive draws sharing one bootstrap sample (rbmi's D); 1 otherwise.
    """

    beta: FloatArray
    sigma: FloatArray
    rows: IntArray | None
    method: str
    resampling: str | None
    data: ImputationData
    redrawn: int = 0
    imputations_per_sample: int = 1

    @property
    def by_arm(self) -> bool:
        """Whether each arm has its own covariance matrix."""
        return self.sigma.ndim == 4

    def to_frame(self) -> pd.DataFrame:
        """One row per draw: the coefficients, then the lower triangle of the covariance."""
        v = self.sigma.shape[-1]
        low = np.tril_indices(v)
        frame = pd.DataFrame(self.beta, columns=[f"beta{j}" for j in range(self.beta.shape[1])])
        visits = self.data.visits
        blocks = self.sigma if self.by_arm else self.sigma[:, None]
        for g, block in enumerate(np.swapaxes(blocks, 0, 1)):
            prefix = f"sigma[{self.data.arms[g]}]" if self.by_arm else "sigma"
            for (a, b), values in zip(zip(*low, strict=True), block[:, low[0], low[1]].T, strict=True):
                frame[f"{prefix}[{visits[a]},{visits[b]}]"] = values
        frame.index.name = "draw"
        return frame

    def __repr__(self) -> str:
        return short_repr(self, draws=len(self.beta), method=self.method, resampling=self.resampling,
                          subjects=self.data.y.shape[0], visits=self.data.y.shape[1])

    def summary(self) -> Summary:
        """The method, the number of draws and the mean covariance over the visits."""
        text = {"condmean": "Conditional mean imputation", "approx_bayes": "Approximate Bayesian (bootstrap) draws",
                "bayes": "Bayesian posterior draws (data augmentation)",
                "bmlmi": "Bootstrapped maximum likelihood MI"}[self.method]
        extra = f", {self.resampling}" if self.resampling else ""
        if self.method == "bmlmi":
            extra = (f", {len(self.beta) // self.imputations_per_sample} bootstrap samples x "
                     f"{self.imputations_per_sample} imputations")
        lines = [(f"{text}{extra}: {len(self.beta)} draws of an unstructured-covariance MMRM "
                  f"({self.data.y.shape[0]} subjects, {self.data.y.shape[1]} visits)")]
        if self.redrawn:
            lines.append(f"Bootstrap samples drawn again (model not estimable): {self.redrawn}")
        sd = np.sqrt(np.diagonal(self.sigma.mean(axis=0), axis1=-2, axis2=-1).reshape(-1, self.sigma.shape[-1]).mean(axis=0))
        lines.append(("Residual SD by visit (mean over draws and arms): " if self.by_arm else
                      "Residual SD by visit (mean over draws): ")
                     + ", ".join(f"{v} {s:.4g}" for v, s in zip(self.data.visits, sd, strict=True)))
        return Summary(lines, frame=self.to_frame())


def _fit(data: ImputationData, rows: IntArray, n_jobs: int, scheduler: str | None, by_arm: bool
         ) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
    """REML fits of the samples given by ``rows`` (T, N): beta (T, p), sigma (T, V, V), fitted (T,)."""
    group = data.arm if by_arm else None
    tasks = [(data.y_fit, data.x, rows[start:start + _CHUNK], group) for start in range(0, len(rows), _CHUNK)]
    parts = dict(run_tasks(_fit_chunk, tasks, jobs=n_jobs, scheduler=scheduler, jobs_argument="n_jobs"))
    ordered = [parts[i] for i in range(len(tasks))]
    return (np.concatenate([p[0] for p in ordered]), np.concatenate([p[1] for p in ordered]),
            np.concatenate([p[2] for p in ordered]))


def _fit_chunk(y: FloatArray, x: FloatArray, rows: IntArray, group: IntArray | None
               ) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
    left_out = rows < 0
    safe = np.where(left_out, 0, rows)
    y_rows = np.where(left_out[:, :, None], np.nan, y[safe])
    in_place = bool(np.all(left_out | (rows == np.arange(len(y)))))  # full data or subjects left out: one design
    x_rows = x if in_place else x[safe]
    groups = None if group is None else (group if in_place else group[safe])
    fit = fit_mmrm_batch(y_rows, x_rows, covariance="us", df_method="residual", chunk_size=len(rows), group=groups)
    return fit.beta, fit.sigma, fit.converged & np.all(np.isfinite(fit.beta), axis=1)


def _bootstrap_rows(arm: IntArray, count: int, rng: np.random.Generator) -> IntArray:
    """Subjects of ``count`` bootstrap samples stratified by arm (count, N)."""
    rows = np.empty((count, len(arm)), dtype=np.intp)
    for code in np.unique(arm):
        members = np.flatnonzero(arm == code)
        rows[:, members] = members[rng.integers(0, len(members), size=(count, len(members)))]
    return rows


def _bootstrap(data: ImputationData, n_samples: int, rng: np.random.Generator, n_jobs: int,
               scheduler: str | None, by_arm: bool) -> tuple[IntArray, FloatArray, FloatArray, int]:
    rows = _bootstrap_rows(data.arm, n_samples, rng)
    beta, sigma, ok = _fit(data, rows, n_jobs, scheduler, by_arm)
    redrawn = 0
    for _ in range(_MAX_REDRAWS):
        if ok.all():
            return rows, beta, sigma, redrawn
        bad = np.flatnonzero(~ok)
        redrawn += len(bad)
        rows[bad] = _bootstrap_rows(data.arm, len(bad), rng)
        beta[bad], sigma[bad], ok[bad] = _fit(data, rows[bad], n_jobs, scheduler, by_arm)
    raise InputError(f"n_samples: the imputation model could not be fitted to {int((~ok).sum())} bootstrap samples "
                     f"after {_MAX_REDRAWS} redraws (too few subjects per arm and visit?)")


def mmrm_draws(
    data: ImputationData,
    *,
    method: Method = "condmean",
    resampling: Literal["jackknife", "bootstrap"] = "jackknife",
    n_samples: int = 1000,
    seed: int | np.random.Generator = 0,
    n_jobs: int = 1,
    scheduler: str | None = None,
    same_covariance: bool = True,
    imputations_per_sample: int = 2,
    burn_in: int = 200,
    thin: int = 5,
    chains: int = 4,
    prior: Literal["inverse_wishart", "jeffreys"] = "inverse_wishart",
) -> ParameterDraws:
    """Draw the parameters of the imputation model (MMRM, unstructured covariance common to the arms).

    Parameters
    ----------
    data
        From :func:`~dosefinding.imputation.imputation_data`.
    method
        ``"condmean"`` (conditional mean imputation), ``"approx_bayes"`` (REML on bootstrap
        samples), ``"bayes"`` (posterior draws by data augmentation) or ``"bmlmi"``
        (bootstrapped maximum likelihood MI: REML on bootstrap samples, each imputed
        ``imputations_per_sample`` times).
    resampling
        For ``"condmean"``: ``"jackknife"`` (one sample per subject left out) or ``"bootstrap"``.
    n_samples
        Bootstrap samples (BMLMI: rbmi's B), or posterior draws (not used by the jackknife).
    seed
        Seed or numpy Generator.
    n_jobs, scheduler
        joblib worker processes, or the address of a dask.distributed scheduler, for the REML
        fits of the resamples (chunks of 64 samples; the draws do not depend on them).
    same_covariance
        One covariance matrix for all arms (rbmi's default ``same_cov = TRUE``), or one per
        arm (``False``; the DIA five-macro suite's default).
    imputations_per_sample
        For ``"bmlmi"``: random imputations of each bootstrap sample (rbmi's D, at least 2);
        the draws hold each sample's parameters that many times in a row.
    burn_in, thin, chains, prior
        For ``"bayes"``: iterations discarded per chain, iterations between kept draws,
        chains run side by side, and the prior of the covariance (``"inverse_wishart"``:
        V + 2 degrees of freedom centred on the REML estimate, rbmi's default;
        ``"jeffreys"``: ``|Sigma|^-(V+1)/2``); the coefficients have a flat prior.

    Examples
    --------
    >>> import pandas as pd
    >>> from dosefinding.datasets import antidepressant_data
    >>> from dosefinding.imputation import imputation_data
    >>> d = imputation_data(antidepressant_data(), subject="PATIENT", visit="VISIT", outcome="CHANGE",
    ...                     arm="THERAPY", covariates=["BASVAL"])
    >>> draws = mmrm_draws(d, method="condmean", resampling="jackknife")
    >>> draws.beta.shape, draws.rows.shape
    ((173, 12), (173, 172))
    """
    if method not in ("condmean", "approx_bayes", "bayes", "bmlmi"):
        raise InputError(f"method: must be 'condmean', 'approx_bayes', 'bayes' or 'bmlmi', got {method!r}")
    rng = as_generator(seed)
    n_jobs = as_positive_int(n_jobs, "n_jobs")
    if not isinstance(same_covariance, bool):
        raise InputError(f"same_covariance: must be True or False, got {same_covariance!r}")
    by_arm = not same_covariance and len(data.arms) > 1
    n = data.y.shape[0]
    if method == "bayes":
        beta, sigma = gibbs_draws(data.y_fit, data.x, n_samples=as_positive_int(n_samples, "n_samples"),
                                  burn_in=burn_in, thin=thin, chains=chains, prior=prior, rng=rng,
                                  group=data.arm if by_arm else None)
        return ParameterDraws(beta=beta, sigma=sigma, rows=None, method=method, resampling=None, data=data)
    if method == "approx_bayes":
        _, beta, sigma, redrawn = _bootstrap(data, as_positive_int(n_samples, "n_samples"), rng, n_jobs, scheduler,
                                             by_arm)
        return ParameterDraws(beta=beta, sigma=sigma, rows=None, method=method, resampling=None, data=data,
                              redrawn=redrawn)
    if method == "bmlmi":
        per_sample = as_positive_int(imputations_per_sample, "imputations_per_sample")
        if per_sample < 2:
            raise InputError(f"imputations_per_sample: BMLMI needs at least 2 imputations per bootstrap sample, "
                             f"got {per_sample}")
        rows, beta, sigma, redrawn = _bootstrap(data, as_positive_int(n_samples, "n_samples"), rng, n_jobs,
                                                scheduler, by_arm)
        return ParameterDraws(beta=np.repeat(beta, per_sample, axis=0), sigma=np.repeat(sigma, per_sample, axis=0),
                              rows=np.repeat(rows, per_sample, axis=0), method=method, resampling="bootstrap",
                              data=data, redrawn=redrawn, imputations_per_sample=per_sample)
    everyone = np.arange(n, dtype=np.intp)[None, :]
    if resampling == "jackknife":
        rows = np.repeat(everyone, n + 1, axis=0)
        rows[np.arange(1, n + 1), np.arange(n)] = -1
        beta, sigma, ok = _fit(data, rows, n_jobs, scheduler, by_arm)
        if not ok.all():
            raise InputError(f"data: the imputation model cannot be fitted without subject "
                             f"{data.subjects[int(np.flatnonzero(~ok[1:])[0]) if not ok[0] else 0]!r}")
        return ParameterDraws(beta=beta, sigma=sigma, rows=rows, method=method, resampling=resampling, data=data)
    if resampling != "bootstrap":
        raise InputError(f"resampling: must be 'jackknife' or 'bootstrap', got {resampling!r}")
    full_beta, full_sigma, ok = _fit(data, everyone, 1, None, by_arm)
    if not ok.all():
        raise InputError("data: the imputation model cannot be fitted to the data")
    rows, beta, sigma, redrawn = _bootstrap(data, as_positive_int(n_samples, "n_samples"), rng, n_jobs, scheduler,
                                            by_arm)
    return ParameterDraws(beta=np.concatenate([full_beta, beta]), sigma=np.concatenate([full_sigma, sigma]),
                          rows=np.concatenate([everyone, rows]), method=method, resampling=resampling, data=data,
                          redrawn=redrawn)
