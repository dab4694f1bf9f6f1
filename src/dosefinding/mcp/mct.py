"""The multiple contrast test of the MCP step (R DoseFinding's ``MCTtest``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from dosefinding.errors import InputError
from dosefinding.mcp.contrasts import (
    OptimalContrasts,
    contrast_correlation,
    optimal_contrasts,
)
from dosefinding.mcp.first_stage import fit_cell_means
from dosefinding.mcp.max_t import MaxTDistribution
from dosefinding.shapes.candidates import Candidates
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_covariance, as_doses, as_vector, input_form

__all__ = ["Alternative", "MCTResult", "mct_test"]

Alternative = Literal["one-sided", "two-sided"]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class MCTResult(SummaryDisplay):
    """Result of the multiple contrast test.

    The numbers are kept as arrays; the labelled Series and frames are built on first access.

    Attributes
    ----------
    t_statistics
        Contrast test statistics by model (absolute values when two-sided).
    p_values
        Multiplicity-adjusted p-values by model, or ``None`` if not requested.
    critical_value
        Multiplicity-adjusted critical value, or ``None`` if not requested.
    critical_value_error
        Its estimated error, or ``None`` (see :meth:`MaxTDistribution.quantile_with_error`).
    p_value_errors
        The estimated error of each p-value (three standard errors for quasi-Monte Carlo;
        the difference from a coarser rule for the deterministic ones), or ``None``.
    contrasts, correlation
        Contrast matrix (dose x model) and the correlation of the contrast estimates.
    estimates, cov, df
        The dose-group estimates, their covariance and the degrees of freedom used.
    """

    critical_value: float | None
    df: float
    alpha: float
    alternative: Alternative
    placebo_adjusted: bool
    n_dropped: int
    critical_value_error: float | None
    _labels: tuple[str, ...] = field(repr=False)
    _doses: FloatArray = field(repr=False)
    _t: FloatArray = field(repr=False)
    _p: FloatArray | None = field(repr=False)
    _p_errors: FloatArray | None = field(repr=False)
    _contrasts: FloatArray = field(repr=False)
    _correlation: FloatArray = field(repr=False)
    _estimates: FloatArray = field(repr=False)
    _cov: FloatArray = field(repr=False)

    @cached_property
    def _label_index(self) -> pd.Index:
        # One index object for every Series and frame: an index of string labels costs as much as the arithmetic.
        return pd.Index(self._labels)

    @cached_property
    def _dose_index(self) -> pd.Index:
        return pd.Index(self._doses, name="dose")

    @cached_property
    def t_statistics(self) -> pd.Series:
        """Contrast test statistics by model."""
        return pd.Series(self._t, index=self._label_index, name="t_statistic", copy=True)

    @cached_property
    def p_values(self) -> pd.Series | None:
        """Multiplicity-adjusted p-values by model, or ``None``."""
        return None if self._p is None else pd.Series(self._p, index=self._label_index, name="p_value", copy=True)

    @cached_property
    def p_value_errors(self) -> pd.Series | None:
        """Estimated errors of the p-values, or ``None``."""
        if self._p_errors is None:
            return None
        return pd.Series(self._p_errors, index=self._label_index, name="p_value_error", copy=True)

    @cached_property
    def contrasts(self) -> pd.DataFrame:
        """Contrast matrix, dose x model."""
        return pd.DataFrame(self._contrasts, index=self._dose_index, columns=self._label_index, copy=True)

    @cached_property
    def correlation(self) -> pd.DataFrame:
        """Correlation of the contrast estimates, model x model."""
        return pd.DataFrame(self._correlation, index=self._label_index, columns=self._label_index, copy=True)

    @cached_property
    def estimates(self) -> pd.Series:
        """Dose-group estimates."""
        return pd.Series(self._estimates, index=self._dose_index, name="estimate", copy=True)

    @cached_property
    def cov(self) -> pd.DataFrame:
        """Covariance of the dose-group estimates."""
        return pd.DataFrame(self._cov, index=self._dose_index, columns=self._dose_index, copy=True)

    @property
    def significant(self) -> pd.Series:
        """Whether each contrast is significant at ``alpha`` (by p-value, else critical value)."""
        if self.p_values is not None:
            return self.p_values < self.alpha
        assert self.critical_value is not None
        return self.t_statistics > self.critical_value

    def to_frame(self) -> pd.DataFrame:
        """One row per contrast: ``t_statistic``, ``p_value`` (when computed) and ``significant``."""
        frame = self.t_statistics.to_frame()
        if self.p_values is not None:
            frame["p_value"] = self.p_values
        frame["significant"] = self.significant
        return frame

    def __repr__(self) -> str:
        return short_repr(self, contrasts=list(self._labels), significant=int(self.significant.sum()),
                          max_t=float(self._t.max()), alpha=self.alpha, alternative=self.alternative)

    def summary(self) -> Summary:
        """A printed summary laid out as R's ``print(MCTtest(...))``."""
        table = pd.DataFrame({"t-Stat": self.t_statistics.round(3)})
        if self.p_values is not None:
            table["adj-p"] = self.p_values.map(lambda p: "<0.0001" if p < 1e-4 else f"{p:.4f}")
        parts: list[str | SummaryTable] = [
            "Multiple Contrast Test",
            "",
            "Contrasts:",
            SummaryTable(self.contrasts.round(3)),
            "",
            "Contrast Correlation:",
            SummaryTable(self.correlation.round(3)),
            "",
            f"Multiple Contrast Test ({self.alternative}, df = {self.df:g}):",
            SummaryTable(table.sort_values("t-Stat", ascending=False)),
        ]
        if self.critical_value is not None:
            parts += ["", f"Critical value: {self.critical_value:.3f} (alpha = {self.alpha:g}, {self.alternative})"]
        if self.n_dropped:
            parts += ["", f"{self.n_dropped} row(s) with missing values were dropped."]
        return Summary(parts, frame=self.to_frame())


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
    df: float | None = None,
    placebo_adjusted: bool = False,
    alpha: float = 0.025,
    alternative: Alternative = "one-sided",
    contrasts: pd.DataFrame | ArrayLike | OptimalContrasts | None = None,
    critical_value: bool = True,
    p_values: bool = True,
    abseps: float = 1e-4,
    critical_value_tol: float = 1e-4,
    max_points: int = 12 << 20,
    seed: int | np.random.Generator = 0,
) -> MCTResult:
    """Multiple contrast test for a dose-response signal (the MCP step of MCP-Mod).

    Two forms, as R DoseFinding's ``MCTtest``:

    * raw data (``data``, ``dose``, ``response``, optional ``covariates``): fits the
      cell-means ANCOVA ``response ~ 0 + factor(dose) + covariates`` by least squares and
      uses its residual degrees of freedom (R's type ``"normal"``);
    * estimates (``doses``, ``estimates``, ``cov``, ``df``, default infinite): dose-group estimates with
      their covariance, e.g. LS means of an MMRM or logit-scale estimates of a logistic
      regression (R's type ``"general"``); ``placebo_adjusted`` estimates exclude dose 0.

    The test statistics ``c' est / sqrt(c' S c)`` use the optimal contrasts of the
    candidates under the estimates' covariance ``S`` unless ``contrasts`` is given.
    Adjusted p-values and the critical value come from the multivariate t distribution
    (normal when ``df`` is infinite) of the statistics: one
    :class:`~dosefinding.mcp.max_t.MaxTDistribution` serves both (deterministic rules
    for contrasts of up to five doses, errors of order 1e-7; quasi-Monte Carlo beyond),
    refined until every p-value's estimated error is below ``abseps`` and the critical
    value's below ``critical_value_tol``, or until ``max_points`` directions are used
    (with a RuntimeWarning).

    Examples
    --------
    R DoseFinding's ``MCTtest(dose, resp, biom, models = models)`` with the candidates of its
    ``MCPMod`` example (t statistics as R's; critical value 2.382):

    >>> from dosefinding import Candidates, mct_test
    >>> from dosefinding.datasets import biom
    >>> cands = Candidates([0, 0.05, 0.2, 0.6, 1], {"linear": None, "linlog": None, "emax": [0.05, 0.2],
    ...                    "exponential": 0.3, "quadratic": -0.85}, off=1)
    >>> res = mct_test(cands, data=biom(), dose="dose", response="resp")
    >>> res.t_statistics.round(3).to_dict()
    {'linear': 2.972, 'linlog': 3.109, 'emax1': 3.339, 'emax2': 3.464, 'exponential': 2.26, 'quadratic': 3.119}
    >>> round(res.critical_value, 3), bool(res.significant.all())
    (2.382, False)
    """
    if alternative not in ("one-sided", "two-sided"):
        raise InputError(f"alternative: must be 'one-sided' or 'two-sided', got {alternative!r}")
    if not 0 < alpha < 1:
        raise InputError(f"alpha: must be between 0 and 1, got {alpha}")
    if not (critical_value or p_values):
        raise InputError("critical_value, p_values: at least one must be requested")
    n_dropped = 0
    form = input_form(
        data=data, dose=dose, response=response, covariates=covariates, doses=doses, estimates=estimates,
        cov=cov, df=df, placebo_adjusted=placebo_adjusted,
    )
    # ignore[arg-type] below: input_form checked that the arguments of this form are given (not None)
    if form == "raw":
        fit = fit_cell_means(data, dose, response, covariates, drop_missing)  # type: ignore[arg-type]
        d, est, s, df_used, n_dropped = fit.doses, fit.estimates, fit.cov, fit.df, fit.n_dropped
    else:
        d = as_doses(doses, "doses", placebo=not placebo_adjusted)  # type: ignore[arg-type]
        # Copies: the result keeps these arrays and builds its frames from them later.
        est = as_vector(estimates, "estimates", length=d.size).copy()  # type: ignore[arg-type]
        s = as_covariance(cov, "cov", d.size).copy()  # type: ignore[arg-type]
        df_used = np.inf if df is None else float(df)
        if not df_used > 0:
            raise InputError(f"df: must be positive (np.inf for normal), got {df}")

    c, corr, labels = _contrast_numbers(contrasts, candidates, s, placebo_adjusted, d)
    t = (c.T @ est) / np.sqrt(np.einsum("km,kl,lm->m", c, s, c))
    if alternative == "two-sided":
        t = np.abs(t)
    distribution = MaxTDistribution(corr, df_used, two_sided=alternative == "two-sided", seed=seed)
    crit, crit_error = (
        distribution.quantile_with_error(1 - alpha, tolerance=critical_value_tol, max_points=max_points)
        if critical_value
        else (None, None)
    )
    pvals = errors = None
    if p_values:
        cdf = distribution.cdf_many(t, abseps=abseps, max_points=max_points)
        pvals = np.clip(1.0 - np.array([r.value for r in cdf]), 0.0, 1.0)
        errors = np.array([r.error for r in cdf])
    return MCTResult(
        critical_value=crit,
        df=df_used,
        alpha=alpha,
        alternative=alternative,
        placebo_adjusted=placebo_adjusted,
        n_dropped=n_dropped,
        critical_value_error=crit_error,
        _labels=labels,
        _doses=d,
        _t=t,
        _p=pvals,
        _p_errors=errors,
        _contrasts=c,
        _correlation=corr,
        _estimates=est,
        _cov=s,
    )


def _contrast_numbers(
    contrasts: pd.DataFrame | ArrayLike | OptimalContrasts | None,
    candidates: Candidates,
    cov: FloatArray,
    placebo_adjusted: bool,
    doses: FloatArray,
) -> tuple[FloatArray, FloatArray, tuple[str, ...]]:
    """The contrast matrix (dose x model), the contrasts' correlation under ``cov`` and the model labels."""
    if contrasts is None:
        oc = optimal_contrasts(candidates, cov=cov, placebo_adjusted=placebo_adjusted, doses=doses)
        return oc.matrix, oc.correlation_matrix, oc.labels
    if isinstance(contrasts, OptimalContrasts):
        contrasts = contrasts.contrasts
    if isinstance(contrasts, pd.DataFrame):
        labels = tuple(str(col) for col in contrasts.columns)
        c = contrasts.to_numpy(dtype=float)
    else:
        c = np.asarray(contrasts, dtype=float)
        if c.ndim == 1:
            c = c[:, None]
        labels = tuple(f"contrast{i + 1}" for i in range(c.shape[1]))
    if c.ndim != 2 or c.shape[0] != doses.size:
        raise InputError(
            f"contrasts: need one row per dose ({doses.size}), got shape {c.shape}"
        )
    if not np.all(np.isfinite(c)) or np.any(np.all(c == 0, axis=0)):
        raise InputError("contrasts: columns must be finite and not all zero")
    return c, contrast_correlation(c, cov), labels
