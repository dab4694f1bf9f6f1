"""Responder analysis per arm: counts, percentages and Clopper-Pearson (or Wilson score) intervals.

A responder column may hold booleans, the numbers 0 and 1, or the ADaM flag values
``"Y"`` and ``"N"`` (as in ``CRIT1FL`` or ``AVALC``); a missing value (NaN, None,
``pd.NA``, or an empty string) is a missing outcome. Anything else is an
:class:`~dosefinding.errors.InputError` naming the column and the values at fault.
ADaM allows ``CRITyFL`` to be null for "criterion not met": such data must be filled
with ``"N"`` first, or every null counts as a missing outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from dosefinding.endpoints.levels import column_levels
from dosefinding.errors import InputError
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_probability

__all__ = [
    "RATE_METHODS",
    "MissingRule",
    "RateMethod",
    "ResponderTable",
    "arm_counts",
    "as_responder",
    "clopper_pearson",
    "responder_rates",
    "wilson",
]

MissingRule = Literal["non_responder", "exclude"]
RateMethod = Literal["clopper_pearson", "wilson"]
RATE_METHODS: dict[str, str] = {"clopper_pearson": "Clopper-Pearson", "wilson": "Wilson score"}
"""The per-arm interval methods and the names a table footnote prints."""
FloatArray = NDArray[np.float64]

_TRUE = ["Y", 1]  # also matches 1.0 and True
_FALSE = ["N", 0]  # also matches 0.0 and False


def as_responder(values: pd.Series, name: str) -> FloatArray:
    """Responder values as floats: 1.0, 0.0, or NaN for a missing outcome.

    Examples
    --------
    >>> as_responder(pd.Series(["Y", "N", None, ""]), "CRIT1FL").tolist()
    [1.0, 0.0, nan, nan]
    """
    series = pd.Series(values)
    missing = series.isna().to_numpy() | (series.astype(object) == "").to_numpy()
    present = series[~missing]
    is_true = present.isin(_TRUE).to_numpy()
    is_false = present.isin(_FALSE).to_numpy()
    bad = ~(is_true | is_false)
    if bad.any():
        shown = sorted({repr(v) for v in present[bad].unique()})[:5]
        raise InputError(
            f"{name}: responder values must be True/False, 1/0 or 'Y'/'N' (missing allowed), "
            f"got {', '.join(shown)}"
        )
    out = np.full(series.size, np.nan)
    out[np.flatnonzero(~missing)] = is_true.astype(float)
    return out


def clopper_pearson(
    x: NDArray[np.int64] | int, n: NDArray[np.int64] | int, confidence_level: float = 0.95
) -> tuple[FloatArray, FloatArray]:
    """Clopper-Pearson (exact) two-sided limits for ``x`` responders out of ``n``, vectorised.

    The limits are the beta quantiles of R ``binom.test``: 0 when ``x = 0`` and 1 when
    ``x = n``.

    Examples
    --------
    >>> lower, upper = clopper_pearson([0, 42], [10, 47])
    >>> lower.round(4).tolist(), upper.round(4).tolist()
    ([0.0, 0.769], [0.3085, 0.9645])
    """
    x_arr = np.atleast_1d(np.asarray(x, dtype=float))
    n_arr = np.atleast_1d(np.asarray(n, dtype=float))
    if np.any(n_arr < 1) or np.any(x_arr < 0) or np.any(x_arr > n_arr):
        raise InputError(f"x, n: need 0 <= x <= n and n >= 1, got x={x_arr.tolist()}, n={n_arr.tolist()}")
    tail = (1.0 - as_probability(confidence_level, "confidence_level")) / 2.0
    with np.errstate(invalid="ignore"):
        lower = np.where(x_arr > 0, stats.beta.ppf(tail, x_arr, n_arr - x_arr + 1), 0.0)
        upper = np.where(x_arr < n_arr, stats.beta.isf(tail, x_arr + 1, n_arr - x_arr), 1.0)
    return lower, upper


def wilson(x: ArrayLike, n: ArrayLike, confidence_level: float = 0.95) -> tuple[FloatArray, FloatArray]:
    """Wilson score limits for ``x`` responders out of ``n`` (R ``prop.test(x, n, correct = FALSE)``), vectorised.

    Counts are not checked here: :func:`responder_rates` and
    :func:`~dosefinding.endpoints.difference_interval` check them first.

    Examples
    --------
    >>> lower, upper = wilson(np.array([42.0]), np.array([47.0]))
    >>> round(float(lower[0]), 4), round(float(upper[0]), 4)
    (0.7741, 0.9537)
    """
    x_arr, n_arr = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    z = float(stats.norm.isf((1.0 - as_probability(confidence_level, "confidence_level")) / 2.0))
    p = x_arr / n_arr
    centre = (p + z * z / (2 * n_arr)) / (1 + z * z / n_arr)
    half = z * np.sqrt(p * (1 - p) / n_arr + z * z / (4 * n_arr * n_arr)) / (1 + z * z / n_arr)
    return np.maximum(centre - half, 0.0), np.minimum(centre + half, 1.0)


@dataclass(frozen=True)
class ArmCounts:
    """Responders and analysed patients per arm (and stratum), and missing outcomes per arm."""

    arms: list[object]
    strata: list[object] | None
    responders: NDArray[np.int64]
    n: NDArray[np.int64]
    n_missing: NDArray[np.int64]


def arm_counts(
    data: pd.DataFrame,
    arm: str,
    response: str,
    *,
    strata: str | None = None,
    missing: MissingRule = "non_responder",
    arms: list[object] | None = None,
) -> ArmCounts:
    """Count responders per arm (rows) and stratum (columns, one column without ``strata``).

    Missing outcomes count as non-responders (``missing="non_responder"``) or are left
    out (``"exclude"``). Arms come in the order of ``arms``, else of a categorical
    column's categories, else sorted.

    Examples
    --------
    >>> df = pd.DataFrame({"arm": ["A", "A", "B"], "y": [1, None, 0]})
    >>> c = arm_counts(df, "arm", "y")
    >>> c.responders.ravel().tolist(), c.n.ravel().tolist(), c.n_missing.tolist()
    ([1, 0], [2, 1], [1, 0])
    """
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data: must be a pandas DataFrame, got {type(data).__name__}")
    if missing not in ("non_responder", "exclude"):
        raise InputError(f"missing: must be 'non_responder' or 'exclude', got {missing!r}")
    columns = [arm, response] + ([strata] if strata is not None else [])
    absent = [c for c in columns if c not in data.columns]
    if absent:
        raise InputError(f"data: column(s) {absent} not found; columns are {list(data.columns)}")
    if data[arm].isna().any():
        raise InputError(f"{arm}: {int(data[arm].isna().sum())} row(s) have no arm")
    y = as_responder(data[response], response)
    arm_levels = column_levels(data[arm], arms, arm)
    arm_index = pd.Categorical(data[arm], categories=arm_levels).codes
    if strata is not None:
        if data[strata].isna().any():
            raise InputError(f"{strata}: {int(data[strata].isna().sum())} row(s) have no stratum")
        stratum_levels = column_levels(data[strata], None, strata)
        stratum_index = pd.Categorical(data[strata], categories=stratum_levels).codes
    else:
        stratum_levels, stratum_index = None, np.zeros(len(data), dtype=np.int64)
    keep = arm_index >= 0
    is_missing = np.isnan(y)
    if missing == "exclude":
        analysed = keep & ~is_missing
    else:
        analysed = keep
    shape = (len(arm_levels), 1 if stratum_levels is None else len(stratum_levels))
    cell = arm_index * shape[1] + stratum_index
    size = shape[0] * shape[1]
    n = np.bincount(cell[analysed], minlength=size).reshape(shape)
    r = np.bincount(cell[analysed & (y == 1)], minlength=size).reshape(shape)
    n_missing = np.bincount(arm_index[keep & is_missing], minlength=shape[0])
    return ArmCounts(list(arm_levels), stratum_levels, r, n, n_missing)


@dataclass(frozen=True)
class ResponderTable(SummaryDisplay):
    """Responders per arm with their intervals.

    Attributes
    ----------
    table
        One row per arm: ``n`` (patients analysed), ``responders``, ``missing``
        (missing outcomes), ``percent``, ``lower``, ``upper`` (interval, in percent).
    missing_rule
        How missing outcomes were counted: ``"non_responder"`` or ``"exclude"``.
    confidence_level
        Level of the two-sided intervals.
    method
        The interval method, a key of :data:`RATE_METHODS`; :attr:`method_name` is its printed name.
    """

    table: pd.DataFrame
    missing_rule: MissingRule
    confidence_level: float
    method: RateMethod = "clopper_pearson"

    @property
    def method_name(self) -> str:
        """The interval method as a footnote names it, e.g. ``"Clopper-Pearson"``."""
        return RATE_METHODS[self.method]

    def to_frame(self) -> pd.DataFrame:
        """One row per arm (:attr:`table`)."""
        return self.table.copy()

    def __repr__(self) -> str:
        return short_repr(self, arms=list(self.table.index), responders=self.table["responders"].tolist(),
                          n=self.table["n"].tolist(), method=self.method, confidence_level=self.confidence_level)

    def summary(self) -> Summary:
        """The table as a clinical summary prints it: ``n/N (%)`` and the interval, its method named."""
        t = self.table
        rows = pd.DataFrame(
            {
                "n/N": [f"{r}/{n}" for r, n in zip(t["responders"], t["n"], strict=True)],
                "%": t["percent"].round(1),
                f"{100 * self.confidence_level:g}% CI ({self.method_name})": [
                    f"({lo:.1f}, {hi:.1f})" for lo, hi in zip(t["lower"], t["upper"], strict=True)
                ],
                "missing": t["missing"],
            },
            index=t.index,
        )
        rule = "counted as non-responders" if self.missing_rule == "non_responder" else "excluded"
        return Summary(["Responders", SummaryTable(rows), "", f"Missing outcomes {rule}."], frame=self.to_frame())


def responder_rates(
    data: pd.DataFrame,
    *,
    arm: str,
    response: str,
    missing: MissingRule = "non_responder",
    arms: list[object] | None = None,
    confidence_level: float = 0.95,
    method: RateMethod = "clopper_pearson",
) -> ResponderTable:
    """Responder percentages per arm with Clopper-Pearson (exact, the default) or Wilson score intervals.

    Parameters
    ----------
    data
        One row per patient.
    arm, response
        Column names of the arm and of the responder outcome (True/False, 1/0 or
        ``"Y"``/``"N"``; missing allowed).
    missing
        ``"non_responder"`` (default, as in study A2201): a missing outcome counts as a
        non-responder in the denominator; ``"exclude"``: the patient is left out.
    arms
        The arms to report, in this order (default: all, sorted or in categorical order).
    confidence_level
        Level of the two-sided intervals.
    method
        ``"clopper_pearson"`` (default; study A2201's method) or ``"wilson"``.

    Examples
    --------
    >>> df = pd.DataFrame({"TRT01P": ["Placebo"] * 4 + ["300 mg"] * 4,
    ...                    "CRIT1FL": ["Y", "N", "N", None, "Y", "Y", "Y", "N"]})
    >>> res = responder_rates(df, arm="TRT01P", response="CRIT1FL", arms=["Placebo", "300 mg"])
    >>> res.table[["n", "responders", "percent"]].to_dict("index")
    {'Placebo': {'n': 4, 'responders': 1, 'percent': 25.0}, '300 mg': {'n': 4, 'responders': 3, 'percent': 75.0}}
    >>> res.method_name
    'Clopper-Pearson'
    """
    level = as_probability(confidence_level, "confidence_level")
    if method not in RATE_METHODS:
        raise InputError(f"method: must be one of {sorted(RATE_METHODS)}, got {method!r}")
    counts = arm_counts(data, arm, response, missing=missing, arms=arms)
    n, r = counts.n[:, 0], counts.responders[:, 0]
    empty = [a for a, k in zip(counts.arms, n, strict=True) if k == 0]
    if empty:
        raise InputError(f"{arm}: arm(s) {empty} have no patient with an outcome to analyse")
    lower, upper = clopper_pearson(r, n, level) if method == "clopper_pearson" else wilson(r, n, level)
    table = pd.DataFrame(
        {
            "n": n,
            "responders": r,
            "missing": counts.n_missing,
            "percent": 100.0 * r / n,
            "lower": 100.0 * lower,
            "upper": 100.0 * upper,
        },
        index=pd.Index(counts.arms, name=arm),
    )
    return ResponderTable(table=table, missing_rule=missing, confidence_level=level, method=method)
