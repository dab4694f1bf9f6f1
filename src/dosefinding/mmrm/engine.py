"""One MMRM fitted to a batch of data sets: a single fit (:func:`dosefinding.mmrm.mmrm`) is the batch of one.

:func:`fit_stats` takes the per-pattern sums of ``T`` data sets
(:class:`~dosefinding.mmrm.likelihood.PatternStats`) and a covariance model and runs, on all
of them at once:

1. the starting values (:mod:`dosefinding.mmrm.start`: the covariance of each data set's
   OLS residuals) and the scale ``c`` of each response, the root mean variance of that
   covariance;
2. the optimiser (:func:`dosefinding.mmrm.optimize.optimise`: batched Newton, then the
   fallback chain for the data sets that did not converge) on the response divided by
   ``c``;
3. the transformation back: ``beta c``, ``cov(beta) c^2``, ``Sigma c^2`` (``theta`` by
   :meth:`~dosefinding.mmrm.covariance.CovarianceModel.scale_theta`), and -2 log
   likelihood plus ``2 n* log c`` (``n* = n - p`` for REML, ``n`` for ML).

Why the scaling. The fit is then the same for a response in any unit: ``y`` and ``1e8 y``
go through the same iterations (up to rounding) and converge equally fast, while the
optimiser on the raw scale would need its steps in the log-Cholesky off-diagonals to
grow with the unit (unstructured covariance of a response scaled by 3e5 took minutes and
failed). The inference is exact at either scale: the fit's derivatives are taken in the
parameters of the scaled problem (``theta`` of ``Sigma / c^2``), a valid parametrisation
of the original one, in which ``Q_j = X'V^-1 V_j V^-1 X`` is ``1 / c^2`` times the scaled
problem's and the Hessian of -2 log likelihood the same; Satterthwaite's and
Kenward-Roger's degrees of freedom do not depend on the parametrisation, and their
covariances scale by ``c^2`` (:meth:`~dosefinding.mmrm.inference.CoefficientInference.scaled`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
from numpy.typing import NDArray

from dosefinding.mmrm.covariance import CovarianceModel
from dosefinding.mmrm.inference import Satterthwaite
from dosefinding.mmrm.likelihood import BatchEvaluation, PatternStats
from dosefinding.mmrm.optimize import optimise
from dosefinding.mmrm.start import ols_covariance, response_scale, starting_points

__all__ = ["MMRMFit", "fit_stats"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class MMRMFit:
    """The fits of ``T`` data sets; arrays have a leading axis over the data sets.

    Attributes
    ----------
    model, reml
        The covariance model and the method.
    scale
        ``c`` (T,), the response's scale.
    theta
        The variance parameters of ``Sigma`` of the response as given (T, q).
    m2_log_likelihood, beta, beta_cov
        -2 (Res) Log Likelihood (T,), estimates (T, p) and their model-based covariance
        ``(X'V^-1 X)^-1`` (T, p, p); NaN where the data set could not be fitted.
    converged, iterations, attempts
        Whether each fit met the criterion, its batched Newton iterations and every run
        tried (:class:`~dosefinding.mmrm.optimize.BatchOptimum`).
    theta_scaled, evaluation, stats
        The optimum of the scaled problem (``theta`` of ``Sigma / c^2``), its exact
        evaluation there and the scaled data: what Kenward-Roger and the sandwich need.
    hessian_theta
        The point of the scaled problem where the evaluation's Hessian and ``Q`` matrices
        were computed (:class:`~dosefinding.mmrm.optimize.BatchOptimum`).
    """

    model: CovarianceModel
    reml: bool
    scale: FloatArray
    theta: FloatArray
    m2_log_likelihood: FloatArray
    beta: FloatArray
    beta_cov: FloatArray
    converged: BoolArray
    iterations: NDArray[np.int64]
    attempts: tuple[tuple[str, ...], ...]
    theta_scaled: FloatArray
    evaluation: BatchEvaluation
    stats: PatternStats
    hessian_theta: FloatArray

    @property
    def fitted(self) -> BoolArray:
        """Where an optimum (converged or not) was reached (T,)."""
        return self.evaluation.ok

    def satterthwaite(self) -> Satterthwaite:
        """Satterthwaite's inference of each data set (arrays with a leading axis), at the response's scale."""
        assert self.evaluation.q is not None and self.evaluation.hessian is not None
        hessian = np.where(self.fitted[:, None, None], self.evaluation.hessian, np.nan)
        with np.errstate(invalid="ignore"):
            theta_cov = 2.0 * _inverse(hessian)
        scaled = Satterthwaite(beta_cov=self.evaluation.beta_cov, q=self.evaluation.q, theta_cov=theta_cov)
        return scaled.scaled(self.scale)

    def sigma(self) -> FloatArray:
        """``Sigma`` of each group over the visits (T, groups, k, k): at each data set's mean visit positions for
        spatial structures whose positions differ between subjects, else at the structure's."""
        parts = self.model.split(self.theta)
        positions = self.stats.visit_positions
        if positions is None or not self.model.structure.spatial:
            return self.model.structure.matrix(parts)
        return self.model.structure.evaluate_at(parts, positions[:, None, None], 0)[0][:, :, 0]


def _inverse(a: FloatArray) -> FloatArray:
    """Batched inverse, NaN for the matrices that have none."""
    out = np.full(a.shape, np.nan)
    finite = np.all(np.isfinite(a), axis=(-2, -1))
    try:
        out[finite] = np.linalg.inv(a[finite])
    except np.linalg.LinAlgError:
        for i in np.flatnonzero(finite):
            try:
                out[i] = np.linalg.inv(a[i])
            except np.linalg.LinAlgError:
                pass
    return out


def fit_stats(stats: PatternStats, model: CovarianceModel, *, reml: bool, max_iter: int = 50,
              valid: BoolArray | None = None) -> MMRMFit:
    """Fit the MMRM ``model`` to every data set of ``stats`` (see the module docstring).

    ``valid`` (T,) marks the data sets to fit (default all); the others come back NaN.

    Examples
    --------
    >>> from dosefinding.mmrm.covariance import get_structure
    >>> x = np.ones((8, 1)); y = 1e6 * np.array([1.0, 2.0, 3.0, 5.0, 2.0, 2.0, 4.0, 3.0])
    >>> stats = PatternStats.from_rows(x, y, subject=np.repeat(np.arange(4), 2), visit=np.tile([0, 1], 4), k=2)
    >>> fit = fit_stats(stats, CovarianceModel(get_structure("us", 2)), reml=True)
    >>> fit.converged.tolist(), (fit.beta / 1e6).round(4).tolist()
    ([True], [[2.7]])
    """
    empirical, ok = ols_covariance(stats)
    if valid is not None:
        ok = ok & valid
    scale = response_scale(empirical)
    scaled = stats.scaled(scale)
    n_star = stats.n_obs - (stats.p if reml else 0)
    offset = cast(FloatArray, 2.0 * n_star * np.log(scale))  # numpy's stubs: an int array times a float is floating[Any]
    starts = starting_points(empirical / (scale**2)[:, None, None], model, stats.visit_positions)
    optimum = optimise(scaled, model, reml=reml, starts=starts, valid=ok, max_iter=max_iter, offset=offset)
    e = optimum.evaluation
    fitted = e.ok[:, None]
    theta = np.where(fitted, model.scale_theta(optimum.theta, scale), np.nan)
    return MMRMFit(
        model=model, reml=reml, scale=scale, theta=theta, m2_log_likelihood=np.where(e.ok, e.value + offset, np.nan),
        beta=np.where(fitted, e.beta * scale[:, None], np.nan),
        beta_cov=np.where(fitted[:, :, None], e.beta_cov * (scale**2)[:, None, None], np.nan),
        converged=optimum.converged & e.ok, iterations=optimum.iterations, attempts=optimum.attempts,
        theta_scaled=optimum.theta, evaluation=e, stats=scaled, hessian_theta=optimum.hessian_theta,
    )
