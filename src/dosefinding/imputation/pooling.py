"""Pooling the analyses of imputed data sets into one estimate, standard error, interval and p-value.

- Rubin's rules (Bayesian and approximate Bayesian draws): the mean of the estimates, total
  variance ``W + (1 + 1/M) B`` and Barnard and Rubin's (1999) degrees of freedom from the
  complete-data ones (t intervals);
- jackknife (conditional mean imputation): the estimate on the full data, standard error
  ``sqrt((n - 1)/n sum (theta_i - mean)^2)`` over the leave-one-out estimates (normal);
- bootstrap (conditional mean imputation): the estimate on the full data, and either the
  bootstrap standard deviation (``"normal"``) or the percentile interval and p-value
  (``"percentile"``, quantile type 6 as rbmi);
- von Hippel and Bartlett (2021, section 8; bootstrapped maximum likelihood MI, B bootstrap
  samples x D imputations): the mean of the estimates, variance from a one-way random
  effects ANOVA of the estimates by bootstrap sample, and their degrees of freedom (t
  intervals; rbmi's ``get_ests_bmlmi``).

The same rules give the pooled LS means of all arms at a visit with their covariance
(:func:`pooled_lsmeans`), the input of MCP-Mod after imputation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import optimize, stats

from dosefinding.errors import InputError
from dosefinding.imputation.analysis import MIAnalysis
from dosefinding.summary import Summary, SummaryDisplay, short_repr
from dosefinding.validation import as_probability

__all__ = ["PooledResult", "barnard_rubin_df", "pool", "pooled_lsmeans", "rubin_rules", "von_hippel_bartlett"]

FloatArray = NDArray[np.float64]
Alternative = Literal["two-sided", "less", "greater"]


def barnard_rubin_df(df_complete: FloatArray, between: FloatArray, total: FloatArray, m: int) -> FloatArray:
    """Barnard and Rubin's (1999) degrees of freedom of multiply imputed estimates (rbmi's ``rubin_df``).

    ``df_complete`` may be infinite (then Rubin's 1987 ``(m - 1) / lambda^2``).

    Examples
    --------
    >>> float(barnard_rubin_df(np.array(100.0), np.array(0.1), np.array(1.0), 20).round(4))
    83.5094
    """
    df_complete, between, total = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (df_complete, between,
                                                                                               total)))
    lam = (1 + 1 / m) * between / total
    finite = np.isfinite(df_complete)
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = np.where(finite, (df_complete + 1) / (df_complete + 3) * df_complete * (1 - lam), np.inf)
        old = np.where(lam > 0, (m - 1) / lam**2, np.inf)
        combined = np.where(np.isinf(old), observed, np.where(finite, old * observed / (old + observed), old))
    return np.asarray(combined, dtype=float)


def rubin_rules(estimates: FloatArray, variances: FloatArray, df_complete: FloatArray
                ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Pooled estimate, total variance and Barnard-Rubin df of M analyses (M, ...) per quantity.

    Examples
    --------
    >>> est, var, df = rubin_rules(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 1.0]), np.array([50.0] * 3))
    >>> float(est), round(float(var), 4), round(float(df), 3)
    (2.0, 2.3333, 4.722)
    """
    m = len(estimates)
    if m < 2:
        raise InputError(f"imputations: Rubin's rules need at least 2 imputed data sets, got {m}")
    between = np.var(estimates, axis=0, ddof=1)
    within = np.mean(variances, axis=0)
    total = within + (1 + 1 / m) * between
    return np.mean(estimates, axis=0), total, barnard_rubin_df(np.mean(df_complete, axis=0), between, total, m)


def von_hippel_bartlett(estimates: FloatArray, imputations_per_sample: int
                        ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Pooled estimate (K,), covariance (K, K) and degrees of freedom (K,) of B x D BMLMI analyses (B D, K).

    The rows are B bootstrap samples of D consecutive imputations each. With the mean squares
    within (``MSW``) and between (``MSB``) bootstrap samples of a one-way ANOVA, the variance
    is ``(1 + 1/B) (MSB - MSW) / D + MSW / (B D)`` and the degrees of freedom
    ``V^2 / (((B + 1) / (B D))^2 MSB^2 / (B - 1) + MSW^2 / (B D^2 (D - 1)))``, at least 3
    (von Hippel and Bartlett 2021, section 8; rbmi's ``get_ests_bmlmi``); the covariance is
    the same expression with the sums of cross-products.

    Examples
    --------
    >>> est, cov, df = von_hippel_bartlett(np.array([[1.0], [1.2], [2.0], [2.4], [3.0], [2.8]]), 2)
    >>> round(float(est[0]), 4), round(float(cov[0, 0]), 4), round(float(df[0]), 3)
    (2.0667, 1.0778, 3.0)
    """
    values = np.asarray(estimates, dtype=float)
    values = values.reshape(len(values), -1)
    d = int(imputations_per_sample)
    if d < 2 or len(values) % d:
        raise InputError(f"imputations_per_sample: must be at least 2 and divide the {len(values)} analyses, got {d}")
    b = len(values) // d
    if b < 2:
        raise InputError(f"n_samples: von Hippel and Bartlett's rule needs at least 2 bootstrap samples, got {b}")
    by_sample = values.reshape(b, d, -1)
    sample_means = by_sample.mean(axis=1)
    point = sample_means.mean(axis=0)
    within = by_sample - sample_means[:, None]
    between = sample_means - point
    msw = np.einsum("bdk,bdl->kl", within, within) / (b * (d - 1))
    msb = d * between.T @ between / (b - 1)
    cov = (1 + 1 / b) * (msb - msw) / d + msw / (b * d)
    var = np.diagonal(cov)
    if np.any(var <= 0):
        raise InputError(f"n_samples: the von Hippel-Bartlett variance is not positive for estimate "
                         f"{int(np.flatnonzero(var <= 0)[0])} (bootstrap samples vary less than imputations "
                         f"within them); use more bootstrap samples (rbmi would report a NaN standard error)")
    df = var**2 / (((b + 1) / (b * d)) ** 2 * np.diagonal(msb) ** 2 / (b - 1)
                   + np.diagonal(msw) ** 2 / (b * d**2 * (d - 1)))
    return point, cov, np.maximum(df, 3.0)


def _quantile6(values: FloatArray, probs: FloatArray) -> FloatArray:
    """R's quantile type 6 (numpy's ``"weibull"``) along axis 0."""
    return np.quantile(values, probs, axis=0, method="weibull")


def _percentile_p(values: FloatArray) -> tuple[float, float]:
    """rbmi's percentile p-values (greater, less) of one quantity's bootstrap estimates."""
    if np.all(values == 0):
        return 1.0, 1.0
    if values.min() > 0:
        return 0.0, 1.0
    if values.max() < 0:
        return 1.0, 0.0
    if np.any(values == 0):
        ranks = stats.rankdata(values, method="ordinal") / (len(values) + 1)
        return float(ranks[values == 0].min()), float(1 - ranks[values == 0].max())
    q = optimize.brentq(lambda p: float(_quantile6(values[:, None], np.array([p]))[0, 0]), 0.0, 1.0, xtol=1e-12)
    return q, 1 - q


@dataclass(frozen=True)
class PooledResult(SummaryDisplay):
    """Pooled estimates of the parameters of an imputation analysis.

    Attributes
    ----------
    table
        One row per visit and parameter: ``estimate``, ``se``, ``lower``, ``upper``, ``df``
        (infinite for normal intervals), ``p_value``.
    method
        ``"rubin"``, ``"jackknife"``, ``"bootstrap (normal)"``, ``"bootstrap (percentile)"`` or
        ``"von Hippel-Bartlett"``.
    confidence_level, alternative
        As asked.
    analysis
        What was pooled.
    """

    table: pd.DataFrame
    method: str
    confidence_level: float
    alternative: str
    analysis: MIAnalysis

    def estimate(self, parameter: str, visit: object) -> pd.Series:
        """The row of ``parameter`` (e.g. ``"trt_DRUG"``) at ``visit``."""
        rows = self.table[(self.table["parameter"] == parameter) & (self.table["visit"] == str(visit))]
        if rows.empty:
            raise InputError(f"parameter: {parameter!r} at visit {visit!r} is not in the results")
        return rows.iloc[0]

    def to_frame(self) -> pd.DataFrame:
        """The table."""
        return self.table.copy()

    def __repr__(self) -> str:
        return short_repr(self, method=self.method, imputations=self.analysis.estimates.shape[0],
                          model=self.analysis.model, parameters=len(self.table))

    def summary(self) -> Summary:
        """The pooled table, as rbmi prints its pool object."""
        level = f"{100 * self.confidence_level:g}%"
        title = (f"Pooled {self.analysis.model.upper()} of {self.analysis.estimates.shape[0]} imputed data sets, "
                 f"method {self.method}, {level} intervals, {self.alternative}")
        return Summary([title], frame=self.table.drop(columns="arm"))


def _parametric(est: FloatArray, se: FloatArray, df: FloatArray, level: float, alternative: str
                ) -> tuple[FloatArray, FloatArray, FloatArray]:
    dist = stats.t(df)
    alpha = 1 - level
    t = est / se
    if alternative == "two-sided":
        q = dist.ppf(1 - alpha / 2)
        return est - q * se, est + q * se, 2 * dist.sf(np.abs(t))
    q = dist.ppf(1 - alpha)
    if alternative == "greater":
        return est - q * se, np.full_like(est, np.inf), dist.sf(t)
    return np.full_like(est, -np.inf), est + q * se, dist.cdf(t)


def pool(analysis: MIAnalysis, *, confidence_level: float = 0.95, alternative: Alternative = "two-sided",
         bootstrap: Literal["percentile", "normal"] = "normal") -> PooledResult:
    """Pool the analyses of the imputed data sets by the rule that fits how they were imputed.

    Parameters
    ----------
    analysis
        From :func:`~dosefinding.imputation.analyse`.
    confidence_level, alternative
        Of the intervals and p-values (``"two-sided"``, ``"less"``, ``"greater"``).
    bootstrap
        For conditional mean imputation with the bootstrap: normal intervals from the
        bootstrap standard deviation, or percentile intervals and p-values.

    Examples
    --------
    rbmi's CondMean_Inference vignette: jump to reference, jackknife, ANCOVA; the
    treatment effect at the last visit is 2.126 (SE 0.858).

    >>> import pandas as pd
    >>> from dosefinding.datasets import antidepressant_data
    >>> from dosefinding.imputation import analyse, impute, imputation_data, mmrm_draws
    >>> ad = antidepressant_data()
    >>> wide = ad.pivot(index="PATIENT", columns="VISIT", values="CHANGE").reindex(columns=["4", "5", "6", "7"])
    >>> first = wide.isna().idxmax(axis=1)[wide.isna().any(axis=1)].drop("3618")
    >>> ice = pd.DataFrame({"subject": first.index, "visit": first.values, "strategy": "JR"})
    >>> d = imputation_data(ad, subject="PATIENT", visit="VISIT", outcome="CHANGE", arm="THERAPY",
    ...                     covariates=["BASVAL"], ice=ice, references={"DRUG": "PLACEBO"})
    >>> result = pool(analyse(impute(mmrm_draws(d, method="condmean")), control="DRUG"))
    >>> result.estimate("trt_PLACEBO", 7)[["estimate", "se"]].astype(float).round(3).tolist()
    [2.126, 0.858]
    """
    level = as_probability(confidence_level, "confidence_level")
    if alternative not in ("two-sided", "less", "greater"):
        raise InputError(f"alternative: must be 'two-sided', 'less' or 'greater', got {alternative!r}")
    draws = analysis.imputed.draws
    est_all, var_all = analysis.estimates, analysis.variances
    if draws.method == "bmlmi":
        est, cov, df = von_hippel_bartlett(est_all, draws.imputations_per_sample)
        se = np.sqrt(np.diagonal(cov))
        lower, upper, p = _parametric(est, se, df, level, alternative)
        method = "von Hippel-Bartlett"
    elif draws.method != "condmean":
        est, var, df = rubin_rules(est_all, var_all, analysis.df)
        se = np.sqrt(var)
        lower, upper, p = _parametric(est, se, df, level, alternative)
        method = "rubin"
    elif draws.resampling == "jackknife":
        jack = est_all[1:]
        n = len(jack)
        est = est_all[0]
        se = np.sqrt((n - 1) / n * ((jack - jack.mean(axis=0)) ** 2).sum(axis=0))
        df = np.full_like(est, np.inf)
        lower, upper, p = _parametric(est, se, df, level, alternative)
        method = "jackknife"
    elif bootstrap == "normal":
        est, boot = est_all[0], est_all[1:]
        se = boot.std(axis=0, ddof=1)
        df = np.full_like(est, np.inf)
        lower, upper, p = _parametric(est, se, df, level, alternative)
        method = "bootstrap (normal)"
    elif bootstrap == "percentile":
        est, boot = est_all[0], est_all[1:]
        alpha = 1 - level
        se = np.full_like(est, np.nan)
        df = np.full_like(est, np.inf)
        if alternative == "two-sided":
            lower, upper = _quantile6(boot, np.array([alpha / 2, 1 - alpha / 2]))
        else:
            lower, upper = _quantile6(boot, np.array([alpha, 1 - alpha]))
            lower, upper = (lower, np.full_like(est, np.inf)) if alternative == "greater" else \
                (np.full_like(est, -np.inf), upper)
        greater, less = np.array([_percentile_p(boot[:, k]) for k in range(boot.shape[1])]).T
        p = {"two-sided": np.minimum(2 * np.minimum(greater, less), 1.0), "greater": greater, "less": less}[alternative]
        method = "bootstrap (percentile)"
    else:
        raise InputError(f"bootstrap: must be 'percentile' or 'normal', got {bootstrap!r}")
    table = analysis.parameters.assign(estimate=est, se=se, lower=lower, upper=upper, df=df, p_value=p)
    return PooledResult(table=table, method=method, confidence_level=level, alternative=alternative,
                        analysis=analysis)


def pooled_lsmeans(analysis: MIAnalysis, visit: object) -> tuple[FloatArray, FloatArray, float]:
    """Pooled LS means of all arms at ``visit`` (A,), their covariance (A, A) and degrees of freedom.

    Rubin's multivariate rule ``W + (1 + 1/M) B`` (df: the smallest Barnard-Rubin df of the
    LS means), von Hippel and Bartlett's (BMLMI; df the smallest of theirs), or the jackknife
    or bootstrap covariance of the resampled LS means (df infinite), by the imputation method.

    Examples
    --------
    >>> from dosefinding.datasets import antidepressant_data
    >>> from dosefinding.imputation import analyse, impute, imputation_data, mmrm_draws
    >>> d = imputation_data(antidepressant_data(), subject="PATIENT", visit="VISIT", outcome="CHANGE", arm="THERAPY",
    ...                     covariates=["BASVAL"])
    >>> est, cov, df = pooled_lsmeans(analyse(impute(mmrm_draws(d))), "7")
    >>> est.shape, cov.shape, df
    ((2,), (2, 2), inf)
    """
    visits = analysis.imputed.data.visits
    if str(visit) not in visits:
        raise InputError(f"visit: {visit!r} is not a visit of the data (visits {visits.tolist()})")
    v = visits.get_loc(str(visit))
    lsm, cov = analysis.lsmeans[:, v], analysis.lsmeans_cov[:, v]
    draws = analysis.imputed.draws
    if draws.method == "bmlmi":
        est, total, df = von_hippel_bartlett(lsm, draws.imputations_per_sample)
        return est, total, float(df.min())
    if draws.method != "condmean":
        m = len(lsm)
        centred = lsm - lsm.mean(axis=0)
        between = centred.T @ centred / (m - 1)
        total = cov.mean(axis=0) + (1 + 1 / m) * between
        lsm_rows = analysis.parameters["parameter"].str.startswith("lsm_") & (analysis.parameters["visit"] == str(visit))
        df = barnard_rubin_df(analysis.df[:, lsm_rows.to_numpy()].mean(axis=0), np.diagonal(between),
                              np.diagonal(total), m)
        return lsm.mean(axis=0), total, float(df.min())
    resampled = lsm[1:]
    centred = resampled - resampled.mean(axis=0)
    n = len(resampled)
    scale = (n - 1) / n if draws.resampling == "jackknife" else 1 / (n - 1)
    return lsm[0], scale * centred.T @ centred, float("inf")
