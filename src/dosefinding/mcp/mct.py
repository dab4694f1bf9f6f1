"""The multiple contrast test of the MCP step (R DoseFinding's ``MCTtest``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from dosefinding.errors import InputError
from dosefinding.mcp.contrasts import OptimalContrasts, contrast_correlation, optimal_contrasts
from dosefinding.mcp.first_stage import fit_cell_means
from dosefinding.mcp.mvt import mvt_probability, mvt_quantile
from dosefinding.shapes.candidates import Candidates
from dosefinding.validation import as_covariance, as_doses, as_vector

__all__ = ["MCTResult", "mct_test", "Alternative"]

Alternative = Literal["one-sided", "two-sided"]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class MCTResult:
    """Result of the multiple contrast test.

    Attributes
    ----------
    t_statistics
        Contrast test statistics by model (absolute values when two-sided).
    p_values
        Multiplicity-adjusted p-values by model, or ``None`` if not requested.
    critical_value
        Multiplicity-adjusted critical value, or ``None`` if not requested.
    contrasts, correlation
        Contrast matrix (dose x model) and the correlation of the contrast estimates.
    estimates, cov, df
        The dose-group estimates, their covariance and the degrees of freedom used.
    """

    t_statistics: pd.Series
    p_values: pd.Series | None
    critical_value: float | None
    contrasts: pd.DataFrame
    correlation: pd.DataFrame
    estimates: pd.Series
    cov: pd.DataFrame
    df: float
    alpha: float
    alternative: Alternative
    placebo_adjusted: bool
    n_dropped: int = 0

    @property
    def significant(self) -> pd.Series:
        """Whether each contrast is significant at ``alpha`` (by p-value, else critical value)."""
        if self.p_values is not None:
            return self.p_values < self.alpha
        assert self.critical_value is not None
        return self.t_statistics > self.critical_value

    def summary(self) -> str:
        """A printed summary laid out as R's ``print(MCTtest(...))``."""
        table = pd.DataFrame({"t-Stat": self.t_statistics.round(3)})
        if self.p_values is not None:
            table["adj-p"] = self.p_values.map(lambda p: "<0.0001" if p < 1e-4 else f"{p:.4f}")
        lines = [
            "Multiple Contrast Test",
            "",
            "Contrasts:",
            self.contrasts.round(3).to_string(),
            "",
            "Contrast Correlation:",
            self.correlation.round(3).to_string(),
            "",
            f"Multiple Contrast Test ({self.alternative}, df = {self.df:g}):",
            table.sort_values("t-Stat", ascending=False).to_string(),
        ]
        if self.critical_value is not None:
            lines += ["", f"Critical value: {self.critical_value:.3f} (alpha = {self.alpha:g}, {self.alternative})"]
        if self.n_dropped:
            lines += ["", f"{self.n_dropped} row(s) with missing values were dropped."]
        return "\n".join(lines)


def mct_test(
    candidates: Candidates,
    *,
    data: pd.DataFrame | None = None,
    dose: str | None = None,
    response: str | None = None,
    covariates: str | Sequence[str] | None = None,
    drop_missing: bool = False,
    doses: ArrayLike | None = None,
    estimates: ArrayLike | None = None,
    cov: ArrayLike | None = None,
    df: float = np.inf,
    placebo_adjusted: bool = False,
    alpha: float = 0.025,
    alternative: Alternative = "one-sided",
    contrasts: pd.DataFrame | ArrayLike | OptimalContrasts | None = None,
    critical_value: bool = True,
    p_values: bool = True,
    abseps: float = 1e-6,
    seed: int | np.random.Generator = 0,
) -> MCTResult:
    """Multiple contrast test for a dose-response signal (the MCP step of MCP-Mod).

    Two forms, as R DoseFinding's ``MCTtest``:

    * raw data (``data``, ``dose``, ``response``, optional ``covariates``): fits the
      cell-means ANCOVA ``response ~ 0 + factor(dose) + covariates`` by least squares and
      uses its residual degrees of freedom (R's type ``"normal"``);
    * estimates (``doses``, ``estimates``, ``cov``, ``df``): dose-group estimates with
      their covariance, e.g. LS means of an MMRM or logit-scale estimates of a logistic
      regression (R's type ``"general"``); ``placebo_adjusted`` estimates exclude dose 0.

    The test statistics ``c' est / sqrt(c' S c)`` use the optimal contrasts of the
    candidates under the estimates' covariance ``S`` unless ``contrasts`` is given.
    Adjusted p-values and the critical value come from the multivariate t distribution
    (normal when ``df`` is infinite) of the statistics, computed by randomised
    quasi-Monte Carlo to absolute error ``abseps``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from dosefinding import Candidates
    >>> rng = np.random.default_rng(1)
    >>> d = np.repeat([0, 5, 50, 300], 45)
    >>> y = -3.5 * d / 300 + rng.normal(0, 5.6, d.size)
    >>> cands = Candidates([0, 5, 50, 300], {"linear": None, "emax": [10, 100]},
    ...                    max_effect=-3.5)
    >>> res = mct_test(cands, data=pd.DataFrame({"dose": d, "chg": y}),
    ...                dose="dose", response="chg")
    >>> sorted(res.t_statistics.index)
    ['emax1', 'emax2', 'linear']
    """
    if alternative not in ("one-sided", "two-sided"):
        raise InputError(f"alternative: must be 'one-sided' or 'two-sided', got {alternative!r}")
    if not 0 < alpha < 1:
        raise InputError(f"alpha: must be between 0 and 1, got {alpha}")
    if not (critical_value or p_values):
        raise InputError("critical_value, p_values: at least one must be requested")
    n_dropped = 0
    if data is not None:
        if estimates is not None or cov is not None or doses is not None:
            raise InputError("data: give raw data or estimates with cov, not both")
        if dose is None or response is None:
            raise InputError("dose, response: name the dose and response columns of data")
        if placebo_adjusted:
            raise InputError("placebo_adjusted: only for estimates, not raw data")
        fit = fit_cell_means(data, dose, response, covariates, drop_missing)
        d, est, s, df_used, n_dropped = fit.doses, fit.estimates, fit.cov, fit.df, fit.n_dropped
    else:
        if estimates is None or cov is None or doses is None:
            raise InputError("doses, estimates, cov: all three are needed without raw data")
        d = as_doses(doses, "doses", placebo=not placebo_adjusted)
        est = as_vector(estimates, "estimates", length=d.size)
        s = as_covariance(cov, "cov", d.size)
        df_used = float(df)
        if not df_used > 0:
            raise InputError(f"df: must be positive (np.inf for normal), got {df}")

    c, labels = _contrast_matrix(contrasts, candidates, s, placebo_adjusted, d)
    c_cov = c.T @ s @ c
    t = (c.T @ est) / np.sqrt(np.diag(c_cov))
    if alternative == "two-sided":
        t = np.abs(t)
    corr = contrast_correlation(c, s)
    rng = np.random.default_rng(seed)
    crit = None
    if critical_value:
        tail = "both" if alternative == "two-sided" else "lower"
        crit = mvt_quantile(1 - alpha, corr, df_used, tail=tail, abseps=abseps, seed=rng)
    pvals = None
    if p_values:
        pvals = pd.Series(
            [_adjusted_p_value(ti, corr, df_used, alternative, abseps, rng) for ti in t],
            index=labels,
            name="p_value",
        )
    dose_index = pd.Index(d, name="dose")
    return MCTResult(
        t_statistics=pd.Series(t, index=labels, name="t_statistic"),
        p_values=pvals,
        critical_value=crit,
        contrasts=pd.DataFrame(c, index=dose_index, columns=labels),
        correlation=pd.DataFrame(corr, index=labels, columns=labels),
        estimates=pd.Series(est, index=dose_index, name="estimate"),
        cov=pd.DataFrame(s, index=dose_index, columns=dose_index),
        df=df_used,
        alpha=alpha,
        alternative=alternative,
        placebo_adjusted=placebo_adjusted,
        n_dropped=n_dropped,
    )


def _contrast_matrix(
    contrasts: pd.DataFrame | ArrayLike | OptimalContrasts | None,
    candidates: Candidates,
    cov: FloatArray,
    placebo_adjusted: bool,
    doses: FloatArray,
) -> tuple[FloatArray, list[str]]:
    if contrasts is None:
        oc = optimal_contrasts(candidates, cov=cov, placebo_adjusted=placebo_adjusted, doses=doses)
        return oc.contrasts.to_numpy(), list(oc.contrasts.columns)
    if isinstance(contrasts, OptimalContrasts):
        contrasts = contrasts.contrasts
    if isinstance(contrasts, pd.DataFrame):
        labels = [str(col) for col in contrasts.columns]
        c = contrasts.to_numpy(dtype=float)
    else:
        c = np.asarray(contrasts, dtype=float)
        if c.ndim == 1:
            c = c[:, None]
        labels = [f"contrast{i + 1}" for i in range(c.shape[1])]
    if c.ndim != 2 or c.shape[0] != doses.size:
        raise InputError(
            f"contrasts: need one row per dose ({doses.size}), got shape {c.shape}"
        )
    if not np.all(np.isfinite(c)) or np.any(np.all(c == 0, axis=0)):
        raise InputError("contrasts: columns must be finite and not all zero")
    return c, labels


def _adjusted_p_value(
    t: float,
    corr: FloatArray,
    df: float,
    alternative: Alternative,
    abseps: float,
    rng: np.random.Generator,
) -> float:
    m = corr.shape[0]
    upper = np.full(m, t)
    lower = -upper if alternative == "two-sided" else np.full(m, -np.inf)
    probability = mvt_probability(lower, upper, corr, df, abseps=abseps, seed=rng).value
    return float(min(max(1.0 - probability, 0.0), 1.0))
