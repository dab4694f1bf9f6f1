"""Sample size for any target function of the group sizes (R DoseFinding's ``sampSize``, ``targN``, ``powN``).

A target function maps the patients per dose (integers, ``round(N * allocation)``) to a number
that grows with ``N``: the power of the MCP step, the probability that the Mod step estimates the
ED or the TD well (:func:`~dosefinding.design.plan_mod`), anything the trial must reach.

* :func:`sample_size` brackets and bisects ``N`` exactly as R's ``sampSize``: the upper bound is
  doubled until the target is reached, the lower one halved until it is not, then bisection
  stops once the value is within ``tol`` of the target or the bracket is one apart, and ``N``
  is raised by one until the value reaches the target.
* :func:`target_n` evaluates the function on a grid of ``N`` (R's ``targN``); :func:`power_n`
  does so for the power of the multiple contrast test (R's ``powN``).

``N`` is the size of the smallest arm (``n_type="arm"``; the allocation ratios scaled to a
smallest entry of one) or the total (``n_type="total"``; ratios scaled to sum to one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from dosefinding.errors import InputError
from dosefinding.mcp.power import power_mct
from dosefinding.shapes.candidates import Candidates
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_covariance, as_positive_int, as_vector

__all__ = ["SampleSizeSearch", "TargetByN", "power_n", "sample_size", "target_n"]

NType = Literal["arm", "total"]
TargetFunction = Callable[[NDArray[np.int64]], Any]
_SUMMARIES: dict[str, Callable[..., Any]] = {"min": np.min, "mean": np.mean, "max": np.max}


@dataclass(frozen=True)
class SampleSizeSearch(SummaryDisplay):
    """The sample size found by :func:`sample_size` and the bisection that found it.

    Attributes
    ----------
    n
        Patients per dose at the ``N`` found.
    value
        The target function at :attr:`n` (R prints it rounded to 4 digits).
    target
        The value aimed at.
    allocation
        The allocation ratios (smallest one, as R prints them).
    n_type
        ``"arm"`` or ``"total"``: what ``N`` counts.
    evaluations
        Every ``N`` evaluated, in order, with the target function's value (R's ``verbose`` trace).
    """

    n: NDArray[np.int64]
    value: float
    target: float
    allocation: NDArray[np.float64]
    n_type: NType
    evaluations: pd.DataFrame

    @property
    def total(self) -> int:
        """Total number of patients."""
        return int(self.n.sum())

    def to_frame(self) -> pd.DataFrame:
        """The evaluations of the search: ``N`` and the value of the target function."""
        return self.evaluations

    def __repr__(self) -> str:
        return short_repr(self, n=self.n.tolist(), total=self.total, value=self.value)

    def summary(self) -> Summary:
        """R's print of a sampSize object, with the search's evaluations."""
        return Summary([
            "Sample size calculation",
            "",
            f"Allocation ratios: {', '.join(f'{r:.4g}' for r in self.allocation)}",
            f"Total sample size: {self.total}",
            f"Sample size per arm: {', '.join(str(k) for k in self.n.tolist())}",
            f"Target function: {self.value:.4f} (target {self.target:g})",
            "",
            "Evaluations:",
            SummaryTable(self.evaluations, index=False),
        ], frame=self.to_frame())


@dataclass(frozen=True)
class TargetByN(SummaryDisplay):
    """The target function on a grid of sample sizes (R's ``targN`` and ``powN`` objects).

    Attributes
    ----------
    values
        One row per ``N`` (index ``N``): the target function's values (one column per entry
        when it returns several), then their summaries (``min``, ``mean``, ``max``).
    group_sizes
        Patients per dose at each ``N`` (one row per ``N``, one column per dose).
    n_type
        ``"arm"`` or ``"total"``: what ``N`` counts.
    """

    values: pd.DataFrame
    group_sizes: pd.DataFrame
    n_type: NType

    def to_frame(self) -> pd.DataFrame:
        """:attr:`values`."""
        return self.values

    def __repr__(self) -> str:
        return short_repr(self, n=self.values.index.tolist(), columns=list(self.values.columns))

    def summary(self) -> Summary:
        """The values by ``N``."""
        what = "smallest arm" if self.n_type == "arm" else "total"
        return Summary([f"Target function by sample size (N: {what})",
                        SummaryTable(self.values.map(lambda v: f"{v:.4f}"))], frame=self.values)


def sample_size(
    target_function: TargetFunction,
    target: float,
    allocation: ArrayLike,
    *,
    upper_n: int,
    lower_n: int | None = None,
    tol: float = 0.001,
    n_type: NType = "arm",
) -> SampleSizeSearch:
    """Smallest ``N`` (to ``tol``) whose group sizes reach ``target`` (R's ``sampSize``).

    Parameters
    ----------
    target_function
        Maps the patients per dose (integer array) to one number, increasing in ``N``.
    target
        The value to reach.
    allocation
        Allocation ratios per dose, positive (up to proportionality).
    upper_n, lower_n
        Starting bracket of ``N`` (``lower_n`` defaults to ``upper_n // 2``); widened as needed.
    tol
        Bisection stops once the value is within ``tol`` of ``target``.
    n_type
        ``"arm"``: ``N`` is the smallest arm; ``"total"``: the total.

    Examples
    --------
    >>> from scipy.stats import norm
    >>> def z_power(n):  # the highest dose against placebo: effect 3.5, SD 5.6, one-sided 2.5%
    ...     return norm.cdf(3.5 / (5.6 * (1 / n[0] + 1 / n[-1]) ** 0.5) - norm.ppf(0.975))
    >>> found = sample_size(z_power, 0.8, [1, 1, 1, 1], upper_n=40)
    >>> found.n.tolist(), round(found.value, 4)
    ([41, 41, 41, 41], 0.8078)
    """
    ratio = _allocation(allocation, n_type)
    goal = _finite(target, "target")
    tol = _finite(tol, "tol")
    if tol <= 0:
        raise InputError(f"tol: must be positive, got {tol:g}")
    upper = as_positive_int(upper_n, "upper_n")
    lower = upper // 2 if lower_n is None else as_positive_int(lower_n, "lower_n")
    evaluated: list[tuple[int, float]] = []

    def excess(big_n: int) -> float:
        value = _scalar(target_function(_group_sizes(big_n, ratio)))
        evaluated.append((big_n, value))
        return value - goal

    upper_value = excess(upper)
    while upper_value < 0:
        upper *= 2
        if upper > 10**8:
            raise InputError(f"target: {goal:g} not reached with N = 10^8; check the target function")
        upper_value = excess(upper)
    lower_value = excess(lower)
    while lower_value > 0:
        lower = int(np.round(lower / 2))
        if lower == 0:
            raise InputError(f"target: already reached at N = 1, cannot find a lower limit on N below {goal:g}")
        lower_value = excess(lower)
    # As R: when the bracket is already one apart there is no bisection step; R then fails, we take the upper end.
    current_n, current = upper, upper_value
    while abs(current) > tol and upper > lower + 1:
        current_n = int(np.round((upper + lower) / 2))
        current = excess(current_n)
        if current > 0:
            upper = current_n
        else:
            lower = current_n
    while current < 0:
        current_n += 1
        current = excess(current_n)
    return SampleSizeSearch(
        n=_group_sizes(current_n, ratio), value=current + goal, target=goal, allocation=ratio / ratio.min(),
        n_type=n_type, evaluations=pd.DataFrame(evaluated, columns=["N", "value"]),
    )


def target_n(
    target_function: TargetFunction,
    allocation: ArrayLike,
    *,
    upper_n: int,
    lower_n: int,
    step: int,
    n_type: NType = "arm",
    summaries: Sequence[str] = ("min", "mean", "max"),
) -> TargetByN:
    """The target function at ``N = lower_n, lower_n + step, ..., <= upper_n`` (R's ``targN``).

    Parameters
    ----------
    target_function
        Maps the patients per dose to a number, or to several (a sequence, array or Series;
        a Series names the columns).
    allocation, n_type
        As for :func:`sample_size`.
    upper_n, lower_n, step
        The grid of ``N``.
    summaries
        Summaries over the function's values per ``N``: any of ``"min"``, ``"mean"``, ``"max"``.

    Examples
    --------
    >>> from scipy.stats import norm
    >>> def z_power(n):
    ...     return norm.cdf(3.5 / (5.6 * (1 / n[0] + 1 / n[-1]) ** 0.5) - norm.ppf(0.975))
    >>> grid = target_n(z_power, [1, 1, 1, 1], upper_n=60, lower_n=20, step=20, summaries=["mean"])
    >>> grid.values["mean"].round(4).tolist()
    [0.5066, 0.7982, 0.9283]
    """
    ratio = _allocation(allocation, n_type)
    lower = as_positive_int(lower_n, "lower_n")
    upper = as_positive_int(upper_n, "upper_n")
    by = as_positive_int(step, "step")
    if upper < lower:
        raise InputError(f"upper_n: must be at least lower_n {lower}, got {upper}")
    wanted = [summaries] if isinstance(summaries, str) else list(summaries)
    unknown = [s for s in wanted if s not in _SUMMARIES]
    if unknown:
        raise InputError(f"summaries: each one of {list(_SUMMARIES)}, got {unknown}")
    grid = np.arange(lower, upper + 1, by)
    sizes = np.array([_group_sizes(int(big_n), ratio) for big_n in grid])
    rows = [_values(target_function(n)) for n in sizes]
    columns = rows[0].index
    if any(not row.index.equals(columns) for row in rows):
        raise InputError("target_function: must return the same number of values (with the same names) for every N")
    values = pd.DataFrame([row.to_numpy() for row in rows], index=pd.Index(grid, name="N"), columns=columns)
    for name in wanted:
        values[name] = _SUMMARIES[name](values[list(columns)].to_numpy(), axis=1)
    group_sizes = pd.DataFrame(sizes, index=pd.Index(grid, name="N"),
                               columns=[f"arm{k + 1}" for k in range(ratio.size)])
    return TargetByN(values=values, group_sizes=group_sizes, n_type=n_type)


def power_n(
    contrasts: Any,
    alternatives: Candidates,
    *,
    upper_n: int,
    lower_n: int,
    step: int,
    allocation: ArrayLike | None = None,
    sigma: float | None = None,
    cov: ArrayLike | None = None,
    n_type: NType | None = None,
    summaries: Sequence[str] = ("min", "mean", "max"),
    **power_options: Any,
) -> TargetByN:
    """Power of the multiple contrast test under each alternative on a grid of ``N`` (R's ``powN``).

    With ``sigma``, the power at group sizes ``n`` is :func:`~dosefinding.power_mct` with ``n`` and
    ``sigma`` (``df = sum(n) - doses``). With ``cov``, the covariance of one patient's worth of
    estimates (R's ``S``), the power at total ``N`` uses ``cov / N`` and ``df = inf``, and ``N``
    is the total.

    Parameters
    ----------
    contrasts, alternatives
        As for :func:`~dosefinding.power_mct` (contrasts for estimates including placebo).
    upper_n, lower_n, step, summaries
        As for :func:`target_n`.
    allocation
        Allocation ratios per dose (default balanced).
    sigma, cov
        The residual SD, or the covariance of one patient's worth of estimates.
    n_type
        ``"arm"`` (default with ``sigma``) or ``"total"`` (the only choice with ``cov``).
    **power_options
        Passed to :func:`~dosefinding.power_mct` (``alpha``, ``alternative``, ``abseps``, ...).

    Examples
    --------
    >>> from dosefinding import Candidates, optimal_contrasts
    >>> cands = Candidates([0, 5, 50, 300], {"linear": None, "emax": 10}, max_effect=-3.5)
    >>> grid = power_n(optimal_contrasts(cands), cands, sigma=5.6, upper_n=60, lower_n=20, step=40, alpha=0.05)
    >>> grid.values.round(2)["min"].tolist()
    [0.67, 0.98]
    """
    for forbidden in ("n", "placebo_adjusted", "df"):
        if forbidden in power_options:
            raise InputError(f"{forbidden}: set by power_n; use target_n with power_mct for other settings")
    k = alternatives.doses.size
    ratio_in = np.ones(k) if allocation is None else allocation
    if cov is not None:
        if sigma is not None:
            raise InputError("cov: give sigma or cov, not both")
        if n_type == "arm":
            raise InputError("n_type: must be 'total' with cov (cov / N is the covariance at total N)")
        per_patient = as_covariance(cov, "cov", k)

        def power(n: NDArray[np.int64]) -> pd.Series:
            return power_mct(contrasts, alternatives, cov=per_patient / n.sum(), df=np.inf, **power_options)

        return target_n(power, ratio_in, upper_n=upper_n, lower_n=lower_n, step=step, n_type="total",
                        summaries=summaries)
    if sigma is None:
        raise InputError("sigma: needed (or cov)")

    def power_sigma(n: NDArray[np.int64]) -> pd.Series:
        return power_mct(contrasts, alternatives, n=n, sigma=sigma, **power_options)

    return target_n(power_sigma, ratio_in, upper_n=upper_n, lower_n=lower_n, step=step,
                    n_type=n_type or "arm", summaries=summaries)


def _allocation(allocation: ArrayLike, n_type: str) -> NDArray[np.float64]:
    if n_type not in ("arm", "total"):
        raise InputError(f"n_type: must be 'arm' or 'total', got {n_type!r}")
    ratio = as_vector(allocation, "allocation")
    if not np.all(np.isfinite(ratio) & (ratio > 0)):
        raise InputError(f"allocation: ratios must be positive, got {ratio.tolist()}")
    ratio = ratio / ratio.sum()
    return ratio / ratio.min() if n_type == "arm" else ratio


def _group_sizes(big_n: int, ratio: NDArray[np.float64]) -> NDArray[np.int64]:
    return np.round(big_n * ratio).astype(np.int64)  # half to even, as R's round



def _finite(value: object, name: str) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{name}: must be a number, got {value!r}") from None
    if not np.isfinite(number):
        raise InputError(f"{name}: must be finite, got {value!r}")
    return number


def _scalar(value: Any) -> float:
    array = np.asarray(value, dtype=float)
    if array.size != 1:
        raise InputError(f"target_function: must return one number for sample_size, got {array.size}")
    number = float(array.reshape(-1)[0])
    if not np.isfinite(number):
        raise InputError(f"target_function: returned {number}, not a finite number")
    return number


def _values(value: Any) -> pd.Series:
    if isinstance(value, pd.Series):
        series = value.astype(float)
    else:
        array = np.atleast_1d(np.asarray(value, dtype=float))
        if array.ndim != 1:
            raise InputError(f"target_function: must return a number or a vector, got shape {array.shape}")
        series = pd.Series(array, index=["value"] if array.size == 1 else [f"value{i + 1}" for i in range(array.size)])
    if not np.all(np.isfinite(series.to_numpy())):
        raise InputError(f"target_function: returned values that are not finite: {series.tolist()}")
    return series
