"""The Bayesian multiple contrast test of Fleischer et al. (2022) (R DoseFinding's ``bMCTtest``).

The dose-group means get the conjugate posterior of :mod:`dosefinding.bayes.posterior`
(estimates ``N(mu, S)`` with ``S`` known; independent normal-mixture priors per dose). Each
contrast ``c' mu`` is then a mixture of normals, and the test statistic of contrast ``c`` is
its posterior probability of being positive, ``sum_j w_j Phi(c' m_j / sqrt(c' V_j c))``. A
dose-response signal is established when the largest of them exceeds a threshold: given, or
``Phi(q)`` with ``q`` the frequentist one-sided critical value of the max-T test at ``alpha``
(multivariate normal, as DoseFinding), so that with vague priors the Bayesian test decides
as the frequentist one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from dosefinding.bayes.mixture import NormalMixture, check_priors
from dosefinding.bayes.posterior import PosteriorMixture, dose_levels, product_prior, update_mixture
from dosefinding.errors import InputError
from dosefinding.mcp.contrasts import OptimalContrasts
from dosefinding.mcp.first_stage import fit_cell_means
from dosefinding.mcp.mct import mct_test
from dosefinding.shapes.candidates import Candidates
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_covariance, as_probability, as_vector, input_form

__all__ = ["BayesMCTResult", "bayes_mct_test"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class BayesMCTResult(SummaryDisplay):
    """Result of the Bayesian multiple contrast test.

    Attributes
    ----------
    posterior_probabilities
        Per contrast, the posterior probability that it is positive.
    critical_value
        The threshold the largest posterior probability must exceed.
    critical_value_from_alpha
        Whether the threshold is ``Phi`` of the frequentist critical value at ``alpha``
        (else it was given).
    alpha
        Level of the frequentist critical value.
    t_statistics
        Per contrast (rows) and posterior component (columns): ``c' m_j / sqrt(c' V_j c)``.
    contrasts
        Contrast matrix, dose x model.
    posterior
        The posterior mixture of the dose-group means.
    estimates, cov
        The dose-group estimates and their covariance (the likelihood).
    """

    critical_value: float
    critical_value_from_alpha: bool
    alpha: float
    posterior: PosteriorMixture
    _labels: tuple[str, ...]
    _probabilities: FloatArray
    _t: FloatArray
    _contrasts: FloatArray
    _estimates: FloatArray
    _cov: FloatArray

    @cached_property
    def _dose_index(self) -> pd.Index:
        return pd.Index(self.posterior.doses, name="dose")

    @cached_property
    def posterior_probabilities(self) -> pd.Series:
        """Posterior probability that each contrast is positive."""
        return pd.Series(self._probabilities, index=pd.Index(self._labels), name="posterior_probability")

    @cached_property
    def t_statistics(self) -> pd.DataFrame:
        """Per contrast and posterior component, the contrast's posterior mean over its SD."""
        columns = [f"Comp. {i + 1}" for i in range(self._t.shape[1])]
        return pd.DataFrame(self._t, index=pd.Index(self._labels), columns=columns)

    @cached_property
    def contrasts(self) -> pd.DataFrame:
        """Contrast matrix, dose x model."""
        return pd.DataFrame(self._contrasts, index=self._dose_index, columns=pd.Index(self._labels))

    @cached_property
    def estimates(self) -> pd.Series:
        """The dose-group estimates."""
        return pd.Series(self._estimates, index=self._dose_index, name="estimate")

    @cached_property
    def cov(self) -> pd.DataFrame:
        """Their covariance."""
        return pd.DataFrame(self._cov, index=self._dose_index, columns=self._dose_index)

    @property
    def significant(self) -> pd.Series:
        """Whether each contrast's posterior probability exceeds the threshold."""
        return (self.posterior_probabilities > self.critical_value).rename("significant")

    def to_frame(self) -> pd.DataFrame:
        """One row per contrast: ``posterior_probability`` and ``significant``."""
        return pd.concat([self.posterior_probabilities, self.significant], axis=1)

    def __repr__(self) -> str:
        return short_repr(self, contrasts=list(self._labels), significant=int(self.significant.sum()),
                          max_probability=float(self._probabilities.max()), critical_value=self.critical_value)

    def summary(self) -> Summary:
        """A printed summary laid out as R's ``print(bMCTtest(...))``."""
        table = self.t_statistics.round(3)
        table["posterior probability"] = self.posterior_probabilities.map(lambda p: f"{p:.4f}")
        table = table.iloc[np.argsort(-self._probabilities, kind="stable")]
        weights = pd.Series(self.posterior.weights.round(3), index=self.t_statistics.columns)
        how = f" (alpha = {self.alpha:g}, one-sided)" if self.critical_value_from_alpha else ""
        return Summary([
            "Bayesian MCP-Mod", "", "Contrasts:", SummaryTable(self.contrasts.round(3)), "",
            "Posterior Mixture Weights:", SummaryTable(weights.to_frame().T, index=False), "",
            "Bayesian t-statistics:", SummaryTable(table), "",
            f"Critical value (for maximum posterior probability): {self.critical_value:.4f}{how}",
        ], frame=self.to_frame())


def bayes_mct_test(
    candidates: Candidates,
    priors: Sequence[NormalMixture],
    *,
    data: pd.DataFrame | None = None,
    dose: str | None = None,
    response: str | None = None,
    drop_missing: bool = False,
    doses: ArrayLike | None = None,
    estimates: ArrayLike | None = None,
    cov: ArrayLike | None = None,
    alpha: float = 0.025,
    contrasts: pd.DataFrame | ArrayLike | OptimalContrasts | None = None,
    critical_value: float | None = None,
    seed: int | np.random.Generator = 0,
) -> BayesMCTResult:
    """Bayesian multiple contrast test for a dose-response signal (R DoseFinding's ``bMCTtest``).

    Two forms, as ``bMCTtest``: raw data (``data``, ``dose``, ``response``: the cell means
    and their covariance ``sigma^2 diag(1/n_i)``, R's type ``"normal"``) or estimates
    (``doses``, ``estimates``, ``cov``, R's type ``"general"``). The covariance is taken as
    known. ``priors`` holds one :class:`~dosefinding.bayes.NormalMixture` per dose, in
    increasing dose order; see the module docstring for the test.

    Parameters
    ----------
    candidates
        Candidate shapes; their optimal contrasts (ignoring the priors, as DoseFinding) are
        used unless ``contrasts`` is given.
    priors
        One prior per dose, placebo first.
    alpha
        Level of the frequentist critical value from which the threshold is derived.
    contrasts
        Contrasts to use instead (dose x model), e.g. optimal contrasts under prior
        effective sample sizes (Fleischer et al. 2022).
    critical_value
        Threshold for the largest posterior probability, in (0, 1); default from ``alpha``.
    seed
        Seed of the quasi-Monte Carlo rules of the critical value (contrasts of more than five doses).

    Examples
    --------
    R's help example (biom; informative robust prior on placebo, vague elsewhere):

    >>> from dosefinding import Candidates
    >>> from dosefinding.bayes import bayes_mct_test, normal_mixture
    >>> from dosefinding.datasets import biom
    >>> cands = Candidates([0, 0.05, 0.2, 0.6, 1], {"emax": 0.05, "linear": None, "logistic": [0.5, 0.1],
    ...                                              "linint": [0, 1, 1, 1]})
    >>> placebo = normal_mixture(weights=[0.8, 0.2], means=[0.4, 0.4], sds=[0.1, 10])
    >>> vague = normal_mixture(weights=[1.0], means=[0.0], sds=[10.0])
    >>> res = bayes_mct_test(cands, [placebo] + [vague] * 4, data=biom(), dose="dose", response="resp")
    >>> res.posterior_probabilities.round(4).to_dict()
    {'emax': 1.0, 'linear': 0.999, 'logistic': 0.9979, 'linint': 0.9999}
    >>> round(res.critical_value, 4), bool(res.significant.any())
    (0.9889, True)
    """
    alpha = as_probability(alpha, "alpha")
    form = input_form(data=data, dose=dose, response=response, covariates=None, doses=doses,
                      estimates=estimates, cov=cov, df=None, placebo_adjusted=False)
    if form == "raw":
        fit = fit_cell_means(data, dose, response, None, drop_missing)  # type: ignore[arg-type]
        d, y, s = fit.doses, fit.estimates, fit.cov
    else:
        d = dose_levels(doses)  # type: ignore[arg-type]
        y = as_vector(estimates, "estimates", length=d.size)  # type: ignore[arg-type]
        s = as_covariance(cov, "cov", d.size)  # type: ignore[arg-type]
    checked = check_priors(priors, d.size)
    if critical_value is not None:
        threshold = as_probability(critical_value, "critical_value")
    frequentist = mct_test(candidates, doses=d, estimates=y, cov=s, alpha=alpha, contrasts=contrasts,
                           critical_value=critical_value is None, p_values=critical_value is not None, seed=seed)
    if critical_value is None:
        if frequentist.critical_value is None:
            raise InputError("critical_value: could not be derived from alpha")  # pragma: no cover - requested above
        threshold = float(stats.norm.cdf(frequentist.critical_value))
    c = frequentist.contrasts.to_numpy()
    weights, means, covs = update_mixture(*product_prior(checked), y, s)
    t = (means @ c).T / np.sqrt(np.einsum("km,ckl,lm->mc", c, covs, c))
    return BayesMCTResult(
        critical_value=threshold,
        critical_value_from_alpha=critical_value is None,
        alpha=alpha,
        posterior=PosteriorMixture(weights, means, covs, d),
        _labels=tuple(str(label) for label in frequentist.contrasts.columns),
        _probabilities=stats.norm.cdf(t) @ weights,
        _t=t,
        _contrasts=c,
        _estimates=y,
        _cov=s,
    )
