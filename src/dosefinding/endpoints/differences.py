"""Differences of responder proportions between arms: intervals and tests.

Intervals for ``p1 - p2`` (arm minus reference):

* ``"wald"``: ``d +- z sqrt(p1 q1 / n1 + p2 q2 / n2)``, no continuity correction;
* ``"newcombe"``: the hybrid score interval, method 10 of Newcombe (1998), Stat Med
  17:873, from the Wilson limits of each proportion;
* ``"mn"``: the Miettinen-Nurminen (1985, Stat Med 4:213) score interval, inverting the
  score statistic with the restricted maximum likelihood variance and the ``N / (N - 1)``
  factor (SAS PROC FREQ ``RISKDIFF(CL=MN)``);
* ``"santner_snell"``: the Santner-Snell exact unconditional interval
  (:mod:`dosefinding.endpoints.exact_unconditional`; SAS ``EXACT RISKDIFF(METHOD=NOSCORE)``),
  the interval study A2201 reports (28%, 95% CI 8.2% to 46.4%: 42/47 vs 30/49; with Fisher's
  p = 0.0019; ``examples/responder_interval_search.py`` tries the others).

Stratified (a 2 x 2 table per stratum):

* ``"mn"``: the stratified Miettinen-Nurminen score interval, ``sum w_h (d_h - delta) /
  sqrt(sum w_h^2 V_h(delta))`` with Cochran-Mantel-Haenszel weights ``w_h = n_h1 n_h2 /
  (n_h1 + n_h2)`` (``weights="cmh"``, the weights of Miettinen & Nurminen 1985 for the
  difference) or inverse-variance weights ``w_h = 1 / V_h(delta)`` recomputed at each
  ``delta`` (``weights="inverse_variance"``); the estimate is the root of the statistic;
* ``"mh"``: the Mantel-Haenszel common difference with Sato's (1989) variance and its
  Wald interval (SAS PROC FREQ ``COMMONRISKDIFF(CL=MH)``).

Tests of no difference: Fisher's exact test (two-sided, as R ``fisher.test``: tables no
more probable than the observed one, with R's relative tolerance 1e-7), Pearson's
chi-square with or without Yates's correction (R ``chisq.test``, ``prop.test``), and the
Cochran-Mantel-Haenszel test over strata (R ``mantelhaen.test``; with ``correct=True``
the 0.5 correction applies when ``|sum(x - E)| >= 0.5``, as R). A table without any
responder, or without any non-responder, has chi-square statistic 0 and p-value 1
(R returns NaN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from dosefinding.endpoints.exact_unconditional import santner_snell
from dosefinding.endpoints.responders import (
    RATE_METHODS,
    MissingRule,
    RateMethod,
    ResponderTable,
    arm_counts,
    responder_rates,
    wilson,
)
from dosefinding.errors import InputError
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_probability

__all__ = [
    "INTERVAL_METHODS",
    "TESTS",
    "UNSTRATIFIED_METHODS",
    "UNSTRATIFIED_TESTS",
    "IntervalMethod",
    "ProportionTest",
    "ResponderComparison",
    "StratifiedMethod",
    "chisq_test",
    "cmh_test",
    "compare_responders",
    "difference_interval",
    "fisher_test",
    "odds_ratio",
    "odds_ratio_notes",
    "stratified_difference",
]

IntervalMethod = Literal["wald", "newcombe", "mn", "santner_snell"]
StratifiedMethod = Literal["mn", "mh"]
Weights = Literal["cmh", "inverse_variance"]
TestName = Literal["fisher", "chisq", "cmh"]
INTERVAL_METHODS: dict[str, str] = {
    "wald": "Wald", "newcombe": "Newcombe hybrid score", "mn": "Miettinen-Nurminen",
    "santner_snell": "Santner-Snell exact unconditional", "mh": "Mantel-Haenszel (Sato variance)",
}
"""The interval methods of a difference and the names a table footnote prints."""
TESTS: dict[str, str] = {"fisher": "Fisher exact", "chisq": "Pearson chi-square", "cmh": "Cochran-Mantel-Haenszel"}
"""The tests and the names a table footnote prints."""
UNSTRATIFIED_METHODS: Final = ("wald", "newcombe", "mn", "santner_snell")
"""The interval methods without strata."""
UNSTRATIFIED_TESTS = ("fisher", "chisq")
"""The tests without strata."""
FloatArray = NDArray[np.float64]

_BISECTION_STEPS = 64
_FISHER_RELATIVE_TOL = 1e-7


@dataclass(frozen=True)
class ProportionTest:
    """Statistic and two-sided p-value of a test, one entry per comparison.

    The statistic is the chi-square statistic (chi-square and CMH tests) or, for
    Fisher's test, the sample odds ratio ``x1 (n2 - x2) / ((n1 - x1) x2)`` (R reports the
    conditional maximum likelihood estimate): ``inf`` when only the denominator is zero,
    NaN when both are (a table with an empty row or column, whose odds ratio is
    undefined). :attr:`notes` says which tables have such an odds ratio, and why.
    """

    statistic: FloatArray
    p_value: FloatArray
    notes: tuple[str, ...] = ()


def _counts(x1: ArrayLike, n1: ArrayLike, x2: ArrayLike, n2: ArrayLike) -> tuple[FloatArray, ...]:
    arrays = [np.asarray(v, dtype=float) for v in (x1, n1, x2, n2)]
    try:
        arrays = list(np.broadcast_arrays(*arrays))
    except ValueError:
        raise InputError(f"x1, n1, x2, n2: shapes {[a.shape for a in arrays]} do not match") from None
    for name, a in zip(("x1", "n1", "x2", "n2"), arrays, strict=True):
        if not np.all(np.isfinite(a)) or np.any(a < 0) or np.any(a != np.round(a)):
            raise InputError(f"{name}: counts must be non-negative integers, got {a.tolist()}")
    for x, n, name in ((arrays[0], arrays[1], "x1"), (arrays[2], arrays[3], "x2")):
        if np.any(x > n):
            raise InputError(f"{name}: responders exceed patients ({x.tolist()} > {n.tolist()})")
    return tuple(arrays)


def _z(confidence_level: float) -> float:
    return float(stats.norm.isf((1.0 - as_probability(confidence_level, "confidence_level")) / 2.0))


def _restricted_mle(
    x1: FloatArray, n1: FloatArray, x2: FloatArray, n2: FloatArray, delta: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Maximum likelihood ``(p1, p2)`` subject to ``p1 - p2 = delta``: the cubic's root in closed form.

    Miettinen & Nurminen (1985), appendix; Farrington & Manning (1990), eq. (3).
    """
    p1, p2 = x1 / n1, x2 / n2
    theta = n2 / n1
    a = 1.0 + theta
    b = -(1.0 + theta + p1 + theta * p2 + delta * (theta + 2.0))
    c = delta * delta + delta * (2.0 * p1 + theta + 1.0) + p1 + theta * p2
    d = -p1 * delta * (1.0 + delta)
    v = b**3 / (27.0 * a**3) - b * c / (6.0 * a * a) + d / (2.0 * a)
    u = np.sign(v) * np.sqrt(np.maximum(b * b / (9.0 * a * a) - c / (3.0 * a), 0.0))
    u3 = u**3
    ratio = np.divide(v, u3, out=np.zeros_like(v), where=u3 != 0)
    w = (np.pi + np.arccos(np.clip(ratio, -1.0, 1.0))) / 3.0
    p1_tilde = np.clip(2.0 * u * np.cos(w) - b / (3.0 * a), 0.0, 1.0)
    p2_tilde = np.clip(p1_tilde - delta, 0.0, 1.0)
    return p1_tilde, p2_tilde


def _mn_variance(x1: FloatArray, n1: FloatArray, x2: FloatArray, n2: FloatArray, delta: FloatArray) -> FloatArray:
    p1, p2 = _restricted_mle(x1, n1, x2, n2, delta)
    total = n1 + n2
    return (p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2) * total / (total - 1.0)


def score_statistic(
    x1: FloatArray, n1: FloatArray, x2: FloatArray, n2: FloatArray, delta: FloatArray, weights: Weights
) -> FloatArray:
    """Stratified score statistic at ``delta``; counts ``(..., K)``, ``delta`` broadcast over the last axis."""
    d = delta[..., None]
    variance = _mn_variance(x1, n1, x2, n2, d)
    w = n1 * n2 / (n1 + n2) if weights == "cmh" else 1.0 / variance
    numerator = np.sum(w * (x1 / n1 - x2 / n2 - d), axis=-1)
    denominator = np.sqrt(np.sum(w * w * variance, axis=-1))
    # Zero variance with a non-zero numerator only at delta = +-1: the statistic is infinite there.
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(numerator == 0, 0.0, numerator / denominator)


def _score_interval(
    x1: FloatArray, n1: FloatArray, x2: FloatArray, n2: FloatArray, z: float, weights: Weights
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Root (estimate) and limits of the score statistic by bisection on [-1, 1], all at once.

    The statistic decreases in ``delta``; a limit with no crossing is -1 or 1.
    """
    targets = np.array([0.0, z, -z])[:, None]
    shape = (3, x1.shape[0])
    lo, hi = np.full(shape, -1.0), np.full(shape, 1.0)
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        above = score_statistic(x1, n1, x2, n2, mid, weights) > targets
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    root = 0.5 * (lo + hi)
    return root[0], root[1], root[2]


def difference_interval(
    x1: ArrayLike,
    n1: ArrayLike,
    x2: ArrayLike,
    n2: ArrayLike,
    method: IntervalMethod = "newcombe",
    confidence_level: float = 0.95,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Difference ``x1/n1 - x2/n2`` and its two-sided interval, vectorised over comparisons.

    Examples
    --------
    >>> d, lower, upper = difference_interval(56, 70, 48, 80, "newcombe")
    >>> round(float(d[0]), 4), round(float(lower[0]), 4), round(float(upper[0]), 4)
    (0.2, 0.0524, 0.3339)
    >>> d, lower, upper = difference_interval(42, 47, 30, 49, "santner_snell")
    >>> round(100 * float(d[0]), 1), round(100 * float(lower[0]), 1), round(100 * float(upper[0]), 1)
    (28.1, 8.2, 46.4)
    """
    a1, m1, a2, m2 = (np.atleast_1d(v) for v in _counts(x1, n1, x2, n2))
    if a1.ndim != 1:
        raise InputError(f"x1: one count per comparison expected, got shape {a1.shape}")
    if np.any(m1 == 0) or np.any(m2 == 0):
        raise InputError(f"n1, n2: every arm needs at least one patient, got n1={m1.tolist()}, n2={m2.tolist()}")
    if method not in UNSTRATIFIED_METHODS:
        raise InputError(f"method: must be one of {list(UNSTRATIFIED_METHODS)}, got {method!r}")
    z = _z(confidence_level)
    p1, p2 = a1 / m1, a2 / m2
    d = p1 - p2
    if method == "wald":
        half = z * np.sqrt(p1 * (1 - p1) / m1 + p2 * (1 - p2) / m2)
        return d, d - half, d + half
    if method == "newcombe":
        l1, u1 = wilson(a1, m1, confidence_level)
        l2, u2 = wilson(a2, m2, confidence_level)
        return d, d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    if method == "mn":
        _, lower, upper = _score_interval(a1[:, None], m1[:, None], a2[:, None], m2[:, None], z, "cmh")
        return d, lower, upper
    lower, upper = santner_snell(a1, m1, a2, m2, as_probability(confidence_level, "confidence_level"))
    return d, lower, upper


def stratified_difference(
    x1: ArrayLike,
    n1: ArrayLike,
    x2: ArrayLike,
    n2: ArrayLike,
    method: StratifiedMethod = "mn",
    weights: Weights = "cmh",
    confidence_level: float = 0.95,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Common difference over strata and its interval; counts of shape ``(comparisons, strata)`` or ``(strata,)``.

    Examples
    --------
    >>> est, lower, upper = stratified_difference([30, 12], [33, 14], [21, 9], [33, 16], "mh")
    >>> round(float(est[0]), 4), round(float(lower[0]), 4), round(float(upper[0]), 4)
    (0.2796, 0.1173, 0.4419)
    """
    a1, m1, a2, m2 = (np.atleast_2d(v) for v in _counts(x1, n1, x2, n2))
    if a1.ndim != 2:
        raise InputError(f"x1: counts must be (comparisons, strata), got shape {a1.shape}")
    single = np.flatnonzero(np.any((m1 == 0) | (m2 == 0), axis=0))
    if single.size:
        raise InputError(f"strata: stratum position(s) {single.tolist()} lack one of the two arms")
    z = _z(confidence_level)
    if method == "mh":
        total = m1 + m2
        w = m1 * m2 / total
        est = np.sum(w * (a1 / m1 - a2 / m2), axis=1) / np.sum(w, axis=1)
        p = (m1 * m1 * a2 - m2 * m2 * a1 + m1 * m2 * (m2 - m1) / 2.0) / total**2
        q = (a1 * (m2 - a2) + a2 * (m1 - a1)) / (2.0 * total)
        se = np.sqrt((est * np.sum(p, axis=1) + np.sum(q, axis=1)) / np.sum(w, axis=1) ** 2)
        return est, est - z * se, est + z * se
    if method == "mn":
        if weights not in ("cmh", "inverse_variance"):
            raise InputError(f"weights: must be 'cmh' or 'inverse_variance', got {weights!r}")
        if weights == "inverse_variance":
            events = a1 + a2
            flat = np.flatnonzero(np.any((events == 0) | (events == m1 + m2), axis=0))
            if flat.size:
                raise InputError(
                    f"weights: stratum position(s) {flat.tolist()} have no responder or only responders, "
                    "so their inverse-variance weight is infinite; use weights='cmh'"
                )
        return _score_interval(a1, m1, a2, m2, z, weights)
    raise InputError(f"method: must be 'mn' or 'mh' with strata, got {method!r}")


def fisher_test(x1: ArrayLike, n1: ArrayLike, x2: ArrayLike, n2: ArrayLike) -> ProportionTest:
    """Two-sided Fisher exact test of each 2 x 2 table, as R ``fisher.test``.

    Examples
    --------
    >>> round(float(fisher_test(9, 10, 3, 10).p_value[0]), 6)
    0.019767
    """
    a1, m1, a2, m2 = (np.atleast_1d(v).astype(np.int64) for v in _counts(x1, n1, x2, n2))
    p_values = np.empty(a1.size)
    for i, (k, n_a, k_b, n_b) in enumerate(zip(a1, m1, a2, m2, strict=True)):
        events = k + k_b
        support = np.arange(max(0, events - n_b), min(events, n_a) + 1)
        pmf = stats.hypergeom.pmf(support, n_a + n_b, n_a, events)
        observed = stats.hypergeom.pmf(k, n_a + n_b, n_a, events)
        p_values[i] = min(1.0, float(np.sum(pmf[pmf <= observed * (1 + _FISHER_RELATIVE_TOL)])))
    odds = odds_ratio(a1, m1, a2, m2)
    notes = tuple(f"table {i}: {why}" for i, why in enumerate(odds_ratio_notes(a1, m1, a2, m2)) if why)
    return ProportionTest(statistic=odds, p_value=p_values, notes=notes)


def odds_ratio(x1: ArrayLike, n1: ArrayLike, x2: ArrayLike, n2: ArrayLike) -> FloatArray:
    """Sample odds ratio ``x1 (n2 - x2) / ((n1 - x1) x2)`` of each 2 x 2 table.

    ``inf`` where only the denominator is zero; NaN where the numerator is zero too: a
    table with an empty row (an arm without patients) or column (no responders, or no
    non-responders, in either arm) has no odds ratio. :func:`odds_ratio_notes` says why.

    Examples
    --------
    >>> odds_ratio([3, 0, 2], [10, 10, 10], [1, 0, 0], [10, 10, 10]).tolist()
    [3.857142857142857, nan, inf]
    """
    a1, m1, a2, m2 = (np.atleast_1d(v) for v in _counts(x1, n1, x2, n2))
    numerator, denominator = a1 * (m2 - a2), (m1 - a1) * a2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator != 0, numerator / np.where(denominator != 0, denominator, 1.0),
                        np.where(numerator != 0, np.inf, np.nan))


def odds_ratio_notes(x1: ArrayLike, n1: ArrayLike, x2: ArrayLike, n2: ArrayLike) -> list[str]:
    """Why the :func:`odds_ratio` of each table is undefined or infinite (``""`` where it is finite).

    Examples
    --------
    >>> odds_ratio_notes([3, 0, 2], [10, 10, 10], [1, 0, 0], [10, 10, 10])[1:]
    ['undefined (0/0): no responders in either arm', 'infinite: a zero count under the ratio']
    """
    a1, m1, a2, m2 = (np.atleast_1d(v) for v in _counts(x1, n1, x2, n2))
    notes = []
    for k, n_a, k_b, n_b in zip(a1, m1, a2, m2, strict=True):
        if n_a == 0 or n_b == 0:
            notes.append("undefined (0/0): no patients in an arm")
        elif k == k_b == 0:
            notes.append("undefined (0/0): no responders in either arm")
        elif k == n_a and k_b == n_b:
            notes.append("undefined (0/0): no non-responders in either arm")
        elif (n_a - k) * k_b == 0:
            notes.append("infinite: a zero count under the ratio")
        else:
            notes.append("")
    return notes


def chisq_test(x1: ArrayLike, n1: ArrayLike, x2: ArrayLike, n2: ArrayLike, correct: bool = True) -> ProportionTest:
    """Pearson's chi-square test of each 2 x 2 table, with Yates's correction by default (R ``chisq.test``).

    Examples
    --------
    >>> res = chisq_test(56, 70, 48, 80, correct=False)
    >>> round(float(res.statistic[0]), 4)
    7.0234
    """
    a1, m1, a2, m2 = (np.atleast_1d(v) for v in _counts(x1, n1, x2, n2))
    observed = np.stack([a1, m1 - a1, a2, m2 - a2], axis=-1)
    rows = np.stack([m1, m1, m2, m2], axis=-1)
    events = a1 + a2
    total = m1 + m2
    cols = np.stack([events, total - events, events, total - events], axis=-1)
    expected = rows * cols / total[..., None]
    deviation = np.abs(observed - expected)
    yates = np.minimum(0.5, deviation.min(axis=-1, keepdims=True)) if correct else 0.0
    terms = np.divide((deviation - yates) ** 2, expected, out=np.zeros_like(expected), where=expected > 0)
    statistic = terms.sum(axis=-1)
    return ProportionTest(statistic=statistic, p_value=stats.chi2.sf(statistic, 1))


def cmh_test(x1: ArrayLike, n1: ArrayLike, x2: ArrayLike, n2: ArrayLike, correct: bool = True) -> ProportionTest:
    """Cochran-Mantel-Haenszel test over strata, as R ``mantelhaen.test`` for 2 x 2 x K tables.

    Counts have shape ``(comparisons, strata)`` (or ``(strata,)``).

    Examples
    --------
    >>> round(float(cmh_test([30, 12], [33, 14], [21, 9], [33, 16]).p_value[0]), 6)
    0.003708
    """
    a1, m1, a2, m2 = (np.atleast_2d(v) for v in _counts(x1, n1, x2, n2))
    total = m1 + m2
    if np.any(total < 2):
        bad = np.flatnonzero(np.any(total < 2, axis=0)).tolist()
        raise InputError(f"strata: stratum position(s) {bad} have fewer than 2 patients")
    events = a1 + a2
    expected = m1 * events / total
    variance = m1 * m2 * events * (total - events) / (total * total * (total - 1.0))
    delta = np.sum(a1 - expected, axis=1)
    yates = np.where(correct & (np.abs(delta) >= 0.5), 0.5, 0.0)
    v = np.sum(variance, axis=1)
    statistic = np.divide((np.abs(delta) - yates) ** 2, v, out=np.zeros_like(v), where=v > 0)
    return ProportionTest(statistic=statistic, p_value=stats.chi2.sf(statistic, 1))


@dataclass(frozen=True)
class ResponderComparison(SummaryDisplay):
    """Each arm against the reference arm: difference of responder percentages, interval, test.

    Attributes
    ----------
    table
        One row per non-reference arm: ``percent`` and ``reference_percent`` (crude),
        ``difference``, ``lower``, ``upper`` (percentage points; for stratified methods
        the common difference), ``statistic`` and ``p_value`` of the test (for Fisher's
        test the sample odds ratio, NaN where it is undefined).
    rates
        The responder table of all arms.
    notes
        Odds ratios that are undefined or infinite, and why.
    """

    table: pd.DataFrame
    rates: ResponderTable
    reference: object
    method: str
    test: str
    strata: str | None
    weights: str | None
    correct: bool
    confidence_level: float
    notes: tuple[str, ...] = ()

    @property
    def method_name(self) -> str:
        """The interval method as a footnote names it, e.g. ``"Santner-Snell exact unconditional"``."""
        name = INTERVAL_METHODS[self.method]
        return f"stratified {name} ({self.weights} weights)" if self.strata is not None and self.method == "mn" else name

    @property
    def test_name(self) -> str:
        """The test as a footnote names it, e.g. ``"Fisher exact"``."""
        return TESTS[self.test] + (" (continuity corrected)" if self.correct and self.test != "fisher" else "")

    def to_frame(self) -> pd.DataFrame:
        """One row per non-reference arm (:attr:`table`)."""
        return self.table.copy()

    def __repr__(self) -> str:
        return short_repr(self, reference=self.reference, arms=list(self.table.index), method=self.method,
                          test=self.test, strata=self.strata, confidence_level=self.confidence_level)

    def summary(self) -> Summary:
        """Responder table, then the differences laid out as SAS PROC FREQ's risk-difference table."""
        method, test = self.method_name, self.test_name
        shown = self.table[["difference", "lower", "upper", "p_value"]].copy()
        shown[["difference", "lower", "upper"]] = shown[["difference", "lower", "upper"]].round(1)
        shown["p_value"] = shown["p_value"].map(lambda p: "<0.0001" if p < 1e-4 else f"{p:.4f}")
        lines: list[str | SummaryTable | Summary] = [
            self.rates.summary(),
            "",
            f"Difference in responders (percentage points) vs {self.reference!r}",
            f"{100 * self.confidence_level:g}% CI: {method}; p-value: {test}"
            + (f", stratified by {self.strata}" if self.strata else ""),
            SummaryTable(shown),
        ]
        lines.extend(f"Note: {note}" for note in self.notes)
        return Summary(lines, frame=self.to_frame())


def compare_responders(
    data: pd.DataFrame,
    *,
    arm: str,
    response: str,
    reference: object,
    strata: str | None = None,
    method: IntervalMethod | StratifiedMethod | None = None,
    test: TestName | None = None,
    weights: Weights = "cmh",
    correct: bool = True,
    missing: MissingRule = "non_responder",
    arms: list[object] | None = None,
    confidence_level: float = 0.95,
    rate_method: RateMethod = "clopper_pearson",
) -> ResponderComparison:
    """Responder percentages of each arm against a reference arm, with intervals and p-values.

    Parameters
    ----------
    data
        One row per patient.
    arm, response
        Column names of the arm and the responder outcome (True/False, 1/0, ``"Y"``/``"N"``).
    reference
        The reference arm (e.g. placebo).
    strata
        Column of a stratification factor; gives the common (stratified) difference.
    method
        Interval of the difference (keys of :data:`INTERVAL_METHODS`): without strata
        ``"newcombe"`` (default), ``"mn"``, ``"wald"`` or ``"santner_snell"`` (exact
        unconditional, with Fisher's test study A2201's published method); with strata
        ``"mn"`` (default, stratified Miettinen-Nurminen) or ``"mh"``.
    test
        Without strata ``"fisher"`` (default) or ``"chisq"``; with strata ``"cmh"``.
    weights
        Stratum weights of the stratified Miettinen-Nurminen interval: ``"cmh"`` or
        ``"inverse_variance"``.
    correct
        Continuity correction of the chi-square and CMH tests (R's default ``TRUE``).
    missing
        Missing outcomes as non-responders (default) or excluded.
    arms
        Arms to report (default: all); the reference is added if left out.
    confidence_level
        Level of the two-sided intervals.
    rate_method
        Interval of each arm's percentage (:func:`~dosefinding.endpoints.responder_rates`):
        ``"clopper_pearson"`` (default) or ``"wilson"``.

    Examples
    --------
    >>> df = pd.DataFrame({"TRT01P": ["Placebo"] * 49 + ["300 mg"] * 47,
    ...                    "CRIT1FL": ["Y"] * 30 + ["N"] * 19 + ["Y"] * 42 + ["N"] * 5})
    >>> res = compare_responders(df, arm="TRT01P", response="CRIT1FL", reference="Placebo")
    >>> res.table.loc["300 mg", ["difference", "lower", "upper"]].round(1).tolist()
    [28.1, 11.0, 43.4]
    >>> res = compare_responders(df, arm="TRT01P", response="CRIT1FL", reference="Placebo", method="santner_snell")
    >>> res.table.loc["300 mg", ["difference", "lower", "upper"]].round(1).tolist()
    [28.1, 8.2, 46.4]
    >>> round(float(res.table.loc["300 mg", "p_value"]), 3)
    0.002
    >>> res.method_name, res.test_name, res.rates.method_name
    ('Santner-Snell exact unconditional', 'Fisher exact', 'Clopper-Pearson')
    """
    level = as_probability(confidence_level, "confidence_level")
    if rate_method not in RATE_METHODS:
        raise InputError(f"rate_method: must be one of {sorted(RATE_METHODS)}, got {rate_method!r}")
    if arm not in getattr(data, "columns", []):
        raise InputError(f"arm: column {arm!r} not found in data")
    if reference not in set(pd.unique(data[arm].dropna())):
        raise InputError(f"reference: arm {reference!r} not found in column {arm}; arms are {list(pd.unique(data[arm].dropna()))}")
    if arms is not None and reference not in arms:
        arms = [reference, *arms]
    rates = responder_rates(data, arm=arm, response=response, missing=missing, arms=arms, confidence_level=level,
                            method=rate_method)
    arm_list = list(rates.table.index)
    if len(arm_list) < 2:
        raise InputError(f"{arm}: need at least one arm besides the reference {reference!r}")
    others = [a for a in arm_list if a != reference]
    ref_pos = arm_list.index(reference)
    pos = np.array([arm_list.index(a) for a in others])
    notes: tuple[str, ...] = ()
    if strata is None:
        method = method or "newcombe"
        test = test or "fisher"
        if method not in UNSTRATIFIED_METHODS:
            raise InputError(f"method: without strata must be one of {list(UNSTRATIFIED_METHODS)}, got {method!r}")
        if test not in ("fisher", "chisq"):
            raise InputError(f"test: without strata must be 'fisher' or 'chisq', got {test!r}")
        r = rates.table["responders"].to_numpy()
        n = rates.table["n"].to_numpy()
        counts = (r[pos], n[pos], np.full(pos.size, r[ref_pos]), np.full(pos.size, n[ref_pos]))
        d, lower, upper = difference_interval(*counts, method=method, confidence_level=level)
        result = fisher_test(*counts) if test == "fisher" else chisq_test(*counts, correct=correct)
        if test == "fisher":
            notes = tuple(f"odds ratio {a!r} vs {reference!r}: {why}"
                          for a, why in zip(others, odds_ratio_notes(*counts), strict=True) if why)
    else:
        method = method or "mn"
        test = test or "cmh"
        if method not in ("mn", "mh"):
            raise InputError(f"method: with strata must be 'mn' or 'mh', got {method!r}")
        if test != "cmh":
            raise InputError(f"test: with strata must be 'cmh', got {test!r}")
        c = arm_counts(data, arm, response, strata=strata, missing=missing, arms=arm_list)
        assert c.strata is not None
        for a, row in zip(c.arms, c.n, strict=True):
            empty = [s for s, k in zip(c.strata, row, strict=True) if k == 0]
            if empty:
                raise InputError(f"{strata}: stratum {empty} has no patient in arm {a!r}; cannot stratify")
        counts = (c.responders[pos], c.n[pos], np.broadcast_to(c.responders[ref_pos], (pos.size, len(c.strata))),
                  np.broadcast_to(c.n[ref_pos], (pos.size, len(c.strata))))
        d, lower, upper = stratified_difference(*counts, method=method, weights=weights, confidence_level=level)
        result = cmh_test(*counts, correct=correct)
    pct = rates.table["percent"].to_numpy()
    table = pd.DataFrame(
        {
            "percent": pct[pos],
            "reference_percent": pct[ref_pos],
            "difference": 100.0 * d,
            "lower": 100.0 * lower,
            "upper": 100.0 * upper,
            "statistic": result.statistic,
            "p_value": result.p_value,
        },
        index=pd.Index(others, name=arm),
    )
    return ResponderComparison(
        table=table, rates=rates, reference=reference, method=method, test=test, strata=strata,
        weights=weights if strata is not None and method == "mn" else None, correct=correct,
        confidence_level=level, notes=notes,
    )
