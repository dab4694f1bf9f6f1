"""Power and sample size of the multiple contrast test (R DoseFinding's ``powMCT``, ``sampSizeMCT``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import special

from dosefinding.errors import InputError
from dosefinding.mcp.contrasts import OptimalContrasts, contrast_correlation, contrast_input
from dosefinding.mcp.max_t import MaxTDistribution
from dosefinding.mcp.mct import Alternative
from dosefinding.mcp.mvt import mvt_probability
from dosefinding.shapes.candidates import Candidates
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_covariance, as_generator, as_vector

__all__ = ["SampleSize", "power_mct", "sample_size_mct"]

FloatArray = NDArray[np.float64]
_SUMMARIES: dict[str, Callable[[FloatArray], float]] = {
    "mean": lambda p: float(np.mean(p)),
    "min": lambda p: float(np.min(p)),
    "max": lambda p: float(np.max(p)),
}
# Sample size: accuracy of the first power evaluation at each N (refined only near the target).
_FIRST_ACCURACY = 1e-3


def power_mct(
    contrasts: OptimalContrasts | pd.DataFrame | ArrayLike,
    alternatives: Candidates,
    *,
    n: float | ArrayLike | None = None,
    sigma: float | None = None,
    cov: ArrayLike | None = None,
    df: float | None = None,
    alpha: float = 0.025,
    alternative: Alternative = "one-sided",
    placebo_adjusted: bool | None = None,
    critical_value: float | None = None,
    abseps: float = 1e-3,
    critical_value_tol: float = 1e-4,
    seed: int | np.random.Generator = 0,
) -> pd.Series:
    """Power of the multiple contrast test under each alternative model.

    The contrast statistics follow a noncentral multivariate t distribution with
    noncentrality ``c' mu / sqrt(c' S c)`` (Kshirsagar type), ``S = sigma^2 diag(1/n)``
    and ``df = sum(n) - number of doses``, or a covariance ``cov`` with ``df`` given.
    Power is the probability that the largest statistic exceeds the critical value.

    Parameters
    ----------
    contrasts
        Contrast matrix (dose x contrast), e.g. from :func:`optimal_contrasts`.
    alternatives
        The models under which to compute power (their responses at the contrast doses).
    n, sigma
        Patients per dose (one number or one per dose) and residual standard deviation.
    cov, df
        Alternatively the covariance of the dose-group estimates and its degrees of
        freedom (``np.inf`` for normal).
    placebo_adjusted
        Contrasts for placebo-adjusted estimates; taken from ``contrasts`` when it is an
        :class:`OptimalContrasts`.
    critical_value
        Use this critical value instead of computing it at level ``alpha``.
    abseps, critical_value_tol
        Requested absolute error (three standard errors) of each power and of the
        computed critical value. The defaults (1e-3 and 1e-4) are faster and more
        accurate than R's: R's ``mvtnorm.control()`` also asks 1e-3 of each power, but
        only 1e-3 of the probability at the critical value, which leaves the critical
        value off by up to 1e-2 and the powers by about 2e-3 (see
        ``benchmarks/bench_power.py``). Give ``abseps=1e-4`` or less for more digits.
    seed
        Seed of the quasi-Monte Carlo shifts.

    Examples
    --------
    >>> from dosefinding import Candidates, optimal_contrasts
    >>> cands = Candidates([0, 5, 50, 300], {"linear": None, "emax": 10}, max_effect=-3.5)
    >>> pw = power_mct(optimal_contrasts(cands), cands, n=45, sigma=5.6, alpha=0.05)
    >>> bool(0.8 < pw["linear"] < 0.95)
    True
    """
    c, doses, adjusted, _ = contrast_input(contrasts, placebo_adjusted)
    k = c.shape[0]
    if cov is None:
        if n is None or sigma is None:
            raise InputError("n, sigma: give both, or give cov and df")
        n_arm = _per_dose(n, k)
        if not 0 < sigma < np.inf:
            raise InputError(f"sigma: must be positive and finite, got {sigma}")
        scale, scale_name = float(sigma), "sigma"
        s = np.diag(1.0 / n_arm)
        df_used = float(np.sum(n_arm) - k)
        if df_used <= 0:
            raise InputError(f"n: {n_arm.tolist()} patients leave no degrees of freedom for {k} doses")
    else:
        if n is not None or sigma is not None:
            raise InputError("cov: give cov and df, or n and sigma, not both")
        if df is None:
            raise InputError("df: needed with cov (np.inf for a normal approximation)")
        s = as_covariance(cov, "cov", k)
        scale, scale_name = math.sqrt(float(np.max(np.diag(s)))), "cov"
        s = s / scale**2
        df_used = float(df)
    if not 0 < alpha < 1:
        raise InputError(f"alpha: must be between 0 and 1, got {alpha}")
    if alternative not in ("one-sided", "two-sided"):
        raise InputError(f"alternative: must be 'one-sided' or 'two-sided', got {alternative!r}")
    if doses is None:
        doses = alternatives.doses[1:] if adjusted else alternatives.doses
    mu = _standardised_means(alternatives, doses, adjusted, scale, scale_name)
    problem = _PowerProblem.build(c, mu, s, df_used, alpha, alternative, critical_value, critical_value_tol, seed)
    power, _ = problem.power(abseps, seed)
    return pd.Series(power, index=list(alternatives.labels), name="power")


@dataclass(frozen=True)
class _PowerProblem:
    """The multiple contrast test under alternatives: what each power evaluation needs."""

    corr: FloatArray
    noncentrality: FloatArray  # (contrasts, alternatives)
    df: float
    critical_value: float
    two_sided: bool

    @classmethod
    def build(cls, c: FloatArray, mu: FloatArray, s: FloatArray, df: float, alpha: float, alternative: Alternative,
              critical_value: float | None, tolerance: float, seed: int | np.random.Generator) -> _PowerProblem:
        c = c / np.max(np.abs(c), axis=0)  # the test does not depend on each contrast's scale
        sd = np.sqrt(np.einsum("km,kl,lm->m", c, s, c))
        noncentrality = (c.T @ mu) / sd[:, None]
        two_sided = alternative == "two-sided"
        if two_sided:
            noncentrality = np.abs(noncentrality)
        corr = contrast_correlation(c, s)
        # An int seed lets MaxTDistribution reuse the geometry of this correlation.
        crit = (
            MaxTDistribution(corr, df, two_sided=two_sided, seed=seed).quantile(1 - alpha, tolerance=tolerance)
            if critical_value is None
            else float(critical_value)
        )
        return cls(corr, noncentrality, df, crit, two_sided)

    def power(self, abseps: float, seed: int | np.random.Generator) -> tuple[FloatArray, FloatArray]:
        """Power under each alternative and its error (three standard errors)."""
        m = self.corr.shape[0]
        upper = np.full(m, self.critical_value)
        lower = -upper if self.two_sided else np.full(m, -np.inf)
        rng = as_generator(seed)
        results = [mvt_probability(lower, upper, self.corr, self.df, delta=nc, abseps=abseps, seed=rng)
                   for nc in self.noncentrality.T]
        return np.array([1.0 - r.value for r in results]), np.array([r.error for r in results])


@dataclass(frozen=True)
class SampleSize(SummaryDisplay):
    """Smallest sample size reaching the target power.

    Attributes
    ----------
    n
        Patients per dose.
    power
        The summarised power at ``n``.
    power_by_model
        Power under each alternative at ``n``.
    power_errors
        The estimated error of each power (three standard errors): at most 1e-3, and at
        most ``abseps`` when the target lay within 1e-3 of the summarised power.
    """

    n: NDArray[np.int64]
    power: float
    power_by_model: pd.Series
    power_errors: pd.Series

    @property
    def total(self) -> int:
        """Total number of patients."""
        return int(self.n.sum())

    def to_frame(self) -> pd.DataFrame:
        """One row per alternative: ``power`` at :attr:`n` and its estimated ``error``."""
        return pd.DataFrame({"power": self.power_by_model, "error": self.power_errors})

    def __repr__(self) -> str:
        return short_repr(self, n=self.n.tolist(), total=self.total, power=self.power)

    def summary(self) -> Summary:
        """The patients per dose, the total and the power under each alternative."""
        return Summary([
            f"Sample size: {', '.join(str(k) for k in self.n.tolist())} patients per dose, {self.total} in total",
            f"Power: {self.power:.4f}",
            "",
            "Power by alternative:",
            SummaryTable(self.to_frame().map(lambda v: f"{v:.4f}")),
        ], frame=self.to_frame())


def sample_size_mct(
    contrasts: OptimalContrasts | pd.DataFrame | ArrayLike,
    alternatives: Candidates,
    *,
    sigma: float,
    power: float,
    allocation: ArrayLike | None = None,
    n_type: Literal["arm", "total"] = "arm",
    summary: Literal["mean", "min", "max"] = "mean",
    alpha: float = 0.025,
    alternative: Alternative = "one-sided",
    upper_n: int = 100,
    abseps: float = 1e-4,
    critical_value_tol: float = 1e-4,
    seed: int | np.random.Generator = 0,
) -> SampleSize:
    """Smallest sample size for which the test has the target power (R's ``sampSizeMCT``).

    Group sizes are ``round(N * allocation)``, where the allocation ratios are scaled to
    sum to one (``n_type="total"``: N is the total) or to have smallest entry one
    (``n_type="arm"``: N is the size of the smallest arm). The power over the
    alternatives is summarised by their mean, minimum or maximum. Unlike R, which stops
    its bisection within 0.001 of the target, the search runs until the smallest N with
    power at least ``power`` is found: each N's power is computed to 1e-3 first, and to
    ``abseps`` only when the target lies within that error; a power within ``abseps`` of
    the target is decided by its estimate. The powers reported are those of that
    decision at the N found (to 1e-3 at least, as :func:`power_mct`'s default, and to
    ``abseps`` when the target was that close).

    Examples
    --------
    >>> from dosefinding import Candidates, optimal_contrasts
    >>> cands = Candidates([0, 5, 50, 300], {"linear": None}, max_effect=-3.5)
    >>> ss = sample_size_mct(optimal_contrasts(cands), cands, sigma=5.6, power=0.8)
    >>> int(ss.n[0]) > 30
    True
    """
    c, _, adjusted, _ = contrast_input(contrasts, None)
    if adjusted:
        raise InputError("contrasts: sample size needs contrasts for estimates including placebo")
    k = c.shape[0]
    ratio = np.ones(k) if allocation is None else as_vector(allocation, "allocation", length=k)
    if np.any(ratio <= 0):
        raise InputError(f"allocation: ratios must be positive, got {ratio.tolist()}")
    if n_type not in ("arm", "total"):
        raise InputError(f"n_type: must be 'arm' or 'total', got {n_type!r}")
    if summary not in _SUMMARIES:
        raise InputError(f"summary: must be one of {list(_SUMMARIES)}, got {summary!r}")
    if not 0 < power < 1:
        raise InputError(f"power: must be between 0 and 1, got {power}")
    ratio = ratio / ratio.sum() if n_type == "total" else ratio / ratio.min()
    # One int seed for every n: the contrasts' correlation does not depend on n, so its
    # geometry is computed once (MaxTDistribution's cache).
    seed_value = seed if isinstance(seed, int) else int(seed.integers(2**32))

    if not 0 < sigma < np.inf:
        raise InputError(f"sigma: must be positive and finite, got {sigma}")
    labels = list(alternatives.labels)
    mu = _standardised_means(alternatives, alternatives.doses, False, float(sigma), "sigma")
    problems: dict[int, _PowerProblem | None] = {}

    def problem(big_n: int) -> _PowerProblem | None:
        if big_n not in problems:
            n = np.round(big_n * ratio)
            problems[big_n] = None if np.any(n < 1) or n.sum() <= k else _PowerProblem.build(
                c, mu, np.diag(1.0 / n), float(n.sum() - k), alpha, alternative, None,
                critical_value_tol, seed_value,
            )
        return problems[big_n]

    summarised: dict[int, float] = {}
    powers: dict[int, tuple[FloatArray, FloatArray]] = {}

    def reaches(big_n: int) -> bool:
        """Whether the summarised power at N reaches the target: computed to 1e-3 first, and
        more accurately only while the target lies within the error (down to ``abseps``)."""
        setting = problem(big_n)
        if setting is None:
            return False
        accuracy = max(abseps, _FIRST_ACCURACY)
        while True:
            by_model, error = setting.power(accuracy, seed_value)
            value = _SUMMARIES[summary](by_model)
            if abs(value - power) > float(error.max()) or accuracy <= abseps:
                summarised[big_n] = value
                powers[big_n] = by_model, error
                return value >= power
            accuracy = max(abseps, accuracy / 10)

    high = max(int(upper_n), 2)
    while not reaches(high):
        high *= 2
        if high > 10**7:
            raise InputError("power: not reached with 10 million patients; check the effect sizes")
    low = 1
    while high - low > 1:
        middle = _next_n(low, high, summarised, power, alpha)
        if reaches(middle):
            high = middle
        else:
            low = middle
    by_model, error = powers[high]
    return SampleSize(n=np.round(high * ratio).astype(np.int64), power=summarised[high],
                      power_by_model=pd.Series(by_model, index=labels, name="power"),
                      power_errors=pd.Series(error, index=labels, name="power_error"))


def _next_n(low: int, high: int, summarised: dict[int, float], target: float, alpha: float) -> int:
    """The next N to try between ``low`` (power below the target) and ``high`` (reaching it).

    The power of a test is nearly ``Phi(a + b sqrt(N))``: interpolate the normal quantile of
    the power linearly in sqrt(N) between the ends (from ``high`` and N = 0, where the
    quantile is about ``-z(1 - alpha)``, while ``low`` has no power yet); bisect when the
    powers are not strictly inside (0, 1). Any N strictly inside keeps the search exact.
    """
    p_low, p_high = summarised.get(low), summarised.get(high)
    middle = (low + high) // 2
    if p_high is None or not 0 < p_high < 1 or (p_low is not None and not 0 < p_low < 1):
        return middle
    z_target, z_high = float(special.ndtri(target)), float(special.ndtri(p_high))
    if p_low is None:
        x_low, z_low = 0.0, -float(special.ndtri(1 - alpha))
    else:
        x_low, z_low = math.sqrt(low), float(special.ndtri(p_low))
    if not z_low < z_target <= z_high:
        return middle
    x = x_low + (z_target - z_low) * (math.sqrt(high) - x_low) / (z_high - z_low)
    return min(max(math.ceil(x * x), low + 1), high - 1)


def _standardised_means(alternatives: Candidates, doses: FloatArray, placebo_adjusted: bool, scale: float,
                        scale_name: str) -> FloatArray:
    """The alternatives' mean responses in units of the residual standard deviation ``scale``.

    Power depends on effects and standard deviation only through their ratio: dividing first
    avoids squaring numbers near the ends of the floating-point range (1e-300, 1e300), which
    would underflow or overflow.
    """
    mu = alternatives.mean_responses(doses, placebo_adjusted=placebo_adjusted)
    if not np.all(np.isfinite(mu)):
        raise InputError(f"alternatives: mean responses at doses {np.asarray(doses).tolist()} are not all finite")
    with np.errstate(over="ignore"):
        standardised = mu / scale
    if not np.all(np.isfinite(standardised)):
        raise InputError(f"{scale_name}: the effects are {float(np.max(np.abs(mu))):.3g}, too large for a "
                         f"standard deviation of {scale:.3g} (their ratio exceeds the floating-point range)")
    return standardised


def _per_dose(n: float | ArrayLike, k: int) -> FloatArray:
    n_arm = as_vector(n, "n")
    if n_arm.size == 1:
        n_arm = np.full(k, n_arm[0])
    if n_arm.size != k or np.any(n_arm <= 0):
        raise InputError(f"n: need one positive number or one per dose ({k}), got {n_arm.tolist()}")
    return n_arm
