"""Conjugate posterior of the dose-group means under normal-mixture priors (R DoseFinding's ``mvpostmix``).

With estimates ``y ~ N(mu, S)``, ``S`` known, and a prior on ``mu`` that is a mixture of
multivariate normals ``sum_c w_c N(m_c, V_c)``, the posterior is the mixture of the
component posteriors ``N(m'_c, V'_c)``, ``V'_c = (V_c^-1 + S^-1)^-1``,
``m'_c = V'_c (V_c^-1 m_c + S^-1 y)``, with weights proportional to ``w_c N(y; m_c, V_c + S)``
(Bernardo and Smith 1994). Independent normal-mixture priors per dose give a product prior
with one component per combination of the doses' components.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import special

from dosefinding.bayes.mixture import NormalMixture, check_priors, normal_mixture
from dosefinding.errors import InputError
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_covariance, as_doses, as_vector

__all__ = ["PosteriorMixture", "dose_levels", "mixture_posterior", "product_prior", "update_mixture"]

FloatArray = NDArray[np.float64]


def dose_levels(doses: ArrayLike) -> FloatArray:
    """Dose levels checked as :func:`~dosefinding.validation.as_doses` does, with or without placebo."""
    return as_doses(doses, "doses", placebo=float(np.min(as_vector(doses, "doses"))) == 0)


def product_prior(priors: Sequence[NormalMixture]) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The joint prior of independent per-dose mixtures: weights ``(C,)``, means ``(C, k)`` and
    prior variances ``(C, k)`` (diagonal covariances), one component per combination, the first
    dose's component varying fastest (as R's ``expand.grid``).

    Examples
    --------
    >>> from dosefinding.bayes import normal_mixture
    >>> w, m, v = product_prior([normal_mixture([0.5, 0.5], [0, 1], [1, 1]), normal_mixture([1.0], [2], [3])])
    >>> w.tolist(), m.tolist(), v.tolist()
    ([0.5, 0.5], [[0.0, 2.0], [1.0, 2.0]], [[1.0, 9.0], [1.0, 9.0]])
    """
    # R's expand.grid order: the first dose's component varies fastest.
    combinations = itertools.product(*(range(p.n_components) for p in reversed(priors)))
    index = np.array([c[::-1] for c in combinations], dtype=np.intp)
    columns = range(len(priors))
    weights = np.prod([priors[j].weights[index[:, j]] for j in columns], axis=0)
    means = np.column_stack([priors[j].means[index[:, j]] for j in columns])
    variances = np.column_stack([priors[j].sds[index[:, j]] ** 2 for j in columns])
    return weights, means, variances


def update_mixture(
    weights: FloatArray, means: FloatArray, covs: FloatArray, estimates: FloatArray, cov: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Posterior weights ``(C,)``, means ``(C, k)`` and covariances ``(C, k, k)`` of the prior mixture
    ``(weights, means, covs)`` given ``estimates ~ N(mu, cov)``; ``covs`` may be ``(C, k)`` variances.

    Examples
    --------
    One normal component: the posterior mean is the precision-weighted mean.

    >>> w, m, v = update_mixture(np.array([1.0]), np.array([[0.0]]), np.array([[1.0]]), np.array([2.0]),
    ...                          np.array([[1.0]]))
    >>> w.tolist(), m.tolist(), v.tolist()
    ([1.0], [[1.0]], [[[0.5]]])
    """
    k = estimates.size
    prior_covs = np.einsum("ci,ij->cij", covs, np.eye(k)) if covs.ndim == 2 else covs
    data_precision = np.linalg.inv(cov)
    prior_precisions = np.linalg.inv(prior_covs)
    post_covs = np.linalg.inv(prior_precisions + data_precision)
    post_covs = 0.5 * (post_covs + post_covs.swapaxes(-1, -2))
    rhs = np.einsum("cij,cj->ci", prior_precisions, means) + data_precision @ estimates
    post_means = np.einsum("cij,cj->ci", post_covs, rhs)
    # Weights from the prior predictive N(estimates; m_c, V_c + S) of each component.
    predictive = np.linalg.cholesky(prior_covs + cov)
    z = np.linalg.solve(predictive, (estimates - means)[..., None])[..., 0]
    log_det = 2 * np.sum(np.log(np.diagonal(predictive, axis1=-2, axis2=-1)), axis=-1)
    with np.errstate(divide="ignore"):
        log_w = np.log(weights) - 0.5 * (np.sum(z * z, axis=-1) + log_det + k * np.log(2 * np.pi))
    post_weights = np.exp(log_w - special.logsumexp(log_w))
    return post_weights, post_means, post_covs


@dataclass(frozen=True)
class PosteriorMixture(SummaryDisplay):
    """Posterior of the dose-group means: a mixture of multivariate normals.

    Attributes
    ----------
    weights, means, covs
        Per component: posterior weight ``(C,)``, mean ``(C, k)`` and covariance ``(C, k, k)``.
    doses
        The dose of each mean.
    """

    weights: FloatArray
    means: FloatArray
    covs: FloatArray
    doses: FloatArray

    @cached_property
    def mean(self) -> pd.Series:
        """Posterior mean by dose."""
        return pd.Series(self.weights @ self.means, index=pd.Index(self.doses, name="dose"), name="posterior_mean")

    @cached_property
    def sd(self) -> pd.Series:
        """Posterior standard deviation by dose."""
        second = self.weights @ (np.diagonal(self.covs, axis1=1, axis2=2) + self.means**2)
        return pd.Series(np.sqrt(np.maximum(second - self.mean.to_numpy() ** 2, 0.0)),
                         index=pd.Index(self.doses, name="dose"), name="posterior_sd")

    def marginal(self, dose: float) -> NormalMixture:
        """The posterior of one dose-group mean, a :class:`NormalMixture` (components of weight 0 dropped).

        Examples
        --------
        >>> from dosefinding.bayes import mixture_posterior, normal_mixture
        >>> post = mixture_posterior([normal_mixture([1.0], [0.0], [1.0])] * 2, doses=[0, 1], estimates=[2.0, 0.0],
        ...                          cov=np.eye(2))
        >>> post.marginal(0)
        NormalMixture(1*N(1, 0.7071^2))
        """
        where = np.flatnonzero(self.doses == float(dose))
        if where.size == 0:
            raise InputError(f"dose: {dose!r} is not one of the doses {self.doses.tolist()}")
        j = int(where[0])
        return normal_mixture(self.weights, self.means[:, j], np.sqrt(self.covs[:, j, j]))

    def to_frame(self) -> pd.DataFrame:
        """One row per dose: posterior mean and standard deviation."""
        return pd.concat([self.mean, self.sd], axis=1)

    def __repr__(self) -> str:
        return short_repr(self, doses=self.doses.tolist(), n_components=int(self.weights.size),
                          mean=[round(float(v), 4) for v in self.mean])

    def summary(self) -> Summary:
        """Posterior weights of the components, and mean and SD by dose."""
        weights = pd.Series(self.weights.round(3), index=[f"Comp. {i + 1}" for i in range(self.weights.size)])
        return Summary(["Posterior mixture of the dose-group means", "", "Posterior mixture weights:",
                        SummaryTable(weights.to_frame("weight").T, index=False), "", "By dose:",
                        SummaryTable(self.to_frame().round(4))], frame=self.to_frame())


def mixture_posterior(
    priors: Sequence[NormalMixture], *, doses: ArrayLike, estimates: ArrayLike, cov: ArrayLike
) -> PosteriorMixture:
    """Posterior of the dose-group means given their estimates and covariance (known), under
    independent normal-mixture priors, one per dose in dose order.

    Exact (conjugate): see the module docstring.

    Examples
    --------
    A robust prior on placebo (informative, with a vague component) and vague priors elsewhere:

    >>> import numpy as np
    >>> from dosefinding.bayes import mixture_posterior, normal_mixture
    >>> placebo = normal_mixture([1.0], [-4.0], [0.6]).robust(0.2, mean=-4.0, sd=5.6)
    >>> vague = normal_mixture([1.0], [-4.0], [20.0])
    >>> post = mixture_posterior([placebo, vague, vague, vague], doses=[0, 5, 50, 300],
    ...                          estimates=[-4.0, -4.6, -5.9, -6.6], cov=np.eye(4) * 5.6**2 / 45)
    >>> post.weights.round(3).tolist()
    [0.957, 0.043]
    >>> post.mean.round(3).tolist()
    [-4.0, -4.599, -5.897, -6.595]
    """
    d = dose_levels(doses)
    y = as_vector(estimates, "estimates", length=d.size)
    s = as_covariance(cov, "cov", d.size)
    weights, means, variances = product_prior(check_priors(priors, d.size))
    post = update_mixture(weights, means, variances, y, s)
    return PosteriorMixture(*post, doses=d)
