"""Predictive and conditional power of the MCP step at an interim (R DoseFinding's ``powMCTInterim``).

At an interim the dose-group estimates ``mu_0t`` have covariance ``S_0t``; at the end of
the trial they will have ``S_01``. The information still to come is
``I_t1 = S_01^-1 - S_0t^-1`` (positive definite: the final analysis knows more about every
dose), and the final estimates combine the two stages,
``mu_01 = S_01 (S_0t^-1 mu_0t + I_t1 mu_t1)`` with ``mu_t1 ~ N(mu, I_t1^-1)`` (Bornkamp et
al. 2024). Given the interim data the final contrast statistics are multivariate normal:

* conditional power assumes the true means ``mu`` (``assumed_means``; the interim
  estimates when not given): mean ``S_01 (S_0t^-1 mu_0t + I_t1 mu)``, covariance
  ``S_01 I_t1 S_01``;
* predictive power averages over the flat-prior posterior ``mu ~ N(mu_0t, S_0t)``: mean
  ``mu_0t``, covariance ``A S_0t A' + S_01 I_t1 S_01`` with ``A = S_01 I_t1``.

The power is the probability that the final multiple contrast test (normal, at level
``alpha``) rejects. The interim estimates can be any dose-group estimates with their
covariance: means with ``sigma^2 / n`` for a continuous endpoint, or the LS means of an MMRM
on the longitudinal data at the interim (:func:`dosefinding.mmrm_estimates`), where patients
without their final visit contribute through their earlier ones.

Two-sided tests: DoseFinding 1.4 computes the critical value with ``critVal``'s default,
one-sided, and then integrates over the two-sided region ``|T_i| < c``; that final test has
level above ``alpha`` (``2 alpha`` for a single contrast). Here a two-sided test uses the
two-sided critical value (``P(max |T_i| > c) = alpha``), the test the final analysis will
run; give ``critical_value`` to reproduce DoseFinding's number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from dosefinding.errors import InputError
from dosefinding.mcp.contrasts import contrast_correlation, contrast_input
from dosefinding.mcp.max_t import MaxTDistribution
from dosefinding.mcp.mct import Alternative
from dosefinding.mcp.mvt import mvt_probability
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_covariance, as_probability, as_vector

if TYPE_CHECKING:
    from dosefinding.mcp.contrasts import OptimalContrasts

__all__ = ["InterimPower", "power_mct_interim"]

FloatArray = NDArray[np.float64]
InterimKind = Literal["predictive", "conditional"]
# Relative size below which the information still to come counts as none.
_INFORMATION_TOL = 1e-10


@dataclass(frozen=True)
class InterimPower(SummaryDisplay):
    """Predictive or conditional power of the final multiple contrast test, given an interim.

    Attributes
    ----------
    power
        Probability that the final test rejects.
    error
        Its estimated absolute error (three standard errors of the quasi-Monte Carlo
        integration; the critical value's error is not included).
    kind
        ``"predictive"`` or ``"conditional"``.
    critical_value
        Critical value of the final test (normal, level ``alpha``).
    alpha, alternative
        Level and sidedness of the final test.
    assumed_means
        The means assumed for the rest of the trial (conditional power), else ``None``.
    statistic_mean, statistic_sd
        Mean and standard deviation of each final contrast statistic given the interim
        (absolute values are tested when two-sided).
    """

    power: float
    error: float
    kind: InterimKind
    critical_value: float
    alpha: float
    alternative: Alternative
    assumed_means: FloatArray | None
    statistic_mean: pd.Series
    statistic_sd: pd.Series

    def to_frame(self) -> pd.DataFrame:
        """One row per contrast: mean and SD of its final statistic given the interim."""
        return pd.DataFrame({"mean": self.statistic_mean, "sd": self.statistic_sd})

    def __repr__(self) -> str:
        return short_repr(self, kind=self.kind, power=round(self.power, 4), critical_value=round(self.critical_value, 4))

    def summary(self) -> Summary:
        """The power, the final test and the final statistics' distribution given the interim."""
        return Summary([
            f"{self.kind.capitalize()} power of the multiple contrast test: {self.power:.4f} (error {self.error:.1g})",
            f"Final test: {self.alternative}, alpha = {self.alpha:g}, critical value {self.critical_value:.4f}",
            "",
            "Final contrast statistics given the interim:",
            SummaryTable(self.to_frame().map(lambda v: f"{v:.4f}")),
        ], frame=self.to_frame())


def power_mct_interim(
    contrasts: OptimalContrasts | pd.DataFrame | ArrayLike,
    interim: Mapping[str, Any] | ArrayLike,
    interim_cov: ArrayLike | None = None,
    *,
    final_cov: ArrayLike,
    kind: InterimKind = "predictive",
    assumed_means: ArrayLike | None = None,
    alpha: float = 0.025,
    alternative: Alternative = "one-sided",
    critical_value: float | None = None,
    abseps: float = 1e-5,
    critical_value_tol: float = 1e-5,
    seed: int | np.random.Generator = 0,
) -> InterimPower:
    """Predictive or conditional power of the MCP step given interim estimates (R's ``powMCTInterim``).

    Parameters
    ----------
    contrasts
        Contrast matrix (dose x contrast): :class:`~dosefinding.OptimalContrasts`, a frame
        or an array; usually the contrasts planned for the final analysis.
    interim
        The interim dose-group estimates ``mu_0t``: a vector (then give ``interim_cov``) or
        the estimates mapping of :func:`dosefinding.mmrm_estimates` (its ``estimates`` and
        ``cov``; its ``df`` is not used: the final test is normal, as DoseFinding's).
    interim_cov
        Covariance ``S_0t`` of the interim estimates (not with a mapping).
    final_cov
        Covariance ``S_01`` the estimates will have at the final analysis, e.g.
        ``sigma^2 diag(1 / n_final)``; it must carry more information than ``interim_cov``.
    kind
        ``"predictive"`` (flat prior on the means) or ``"conditional"``.
    assumed_means
        Conditional power only: the dose-group means assumed for the rest of the trial;
        the interim estimates when not given (as DoseFinding).
    alpha, alternative
        Level and sidedness of the final multiple contrast test.
    critical_value
        Use this critical value instead of the one at level ``alpha``.
    abseps, critical_value_tol
        Requested absolute error of the power and of the critical value.
    seed
        Seed of the quasi-Monte Carlo integration.

    Returns
    -------
    InterimPower

    Raises
    ------
    InputError
        If the interim carries as much information as the final analysis or more, or an
        argument is malformed; the message names it.

    Examples
    --------
    A2201's design (doses 0, 5, 50, 300 mg, sigma 5.6, 47 patients per arm at the end) at an
    interim with 24 per arm:

    >>> import numpy as np
    >>> from dosefinding import Candidates, optimal_contrasts
    >>> from dosefinding.design import power_mct_interim
    >>> cands = Candidates([0, 5, 50, 300], {"linear": None, "emax": 10}, max_effect=-3.5)
    >>> interim = [-4.1, -4.4, -5.0, -6.3]
    >>> pp = power_mct_interim(optimal_contrasts(cands), interim, np.diag(np.full(4, 5.6**2 / 24)),
    ...                        final_cov=np.diag(np.full(4, 5.6**2 / 47)), alpha=0.05)
    >>> bool(0.5 < pp.power < 0.9), pp.kind
    (True, 'predictive')
    """
    c, contrast_doses, adjusted, labels = contrast_input(contrasts, None)
    mu_0t, s_0t = _interim_estimates(interim, interim_cov, c.shape[0], contrast_doses, adjusted)
    k = mu_0t.size
    s_01 = as_covariance(final_cov, "final_cov", k)
    if kind not in ("predictive", "conditional"):
        raise InputError(f"kind: must be 'predictive' or 'conditional', got {kind!r}")
    if alternative not in ("one-sided", "two-sided"):
        raise InputError(f"alternative: must be 'one-sided' or 'two-sided', got {alternative!r}")
    alpha = as_probability(alpha, "alpha")
    if kind == "predictive" and assumed_means is not None:
        raise InputError("assumed_means: used only for conditional power (kind='conditional')")
    assumed = None
    if kind == "conditional":
        assumed = mu_0t.copy() if assumed_means is None else as_vector(assumed_means, "assumed_means", length=k)

    info_0t: FloatArray = np.asarray(np.linalg.inv(s_0t), dtype=np.float64)
    info_t1 = _information_to_come(s_0t, s_01, info_0t)
    a = s_01 @ info_t1
    if assumed is None:
        mean, cov = mu_0t, a @ s_0t @ a.T + a @ s_01
    else:
        mean, cov = s_01 @ (info_0t @ mu_0t + info_t1 @ assumed), a @ s_01
    final_sd = np.sqrt(np.einsum("km,kl,lm->m", c, s_01, c))
    if np.any(final_sd <= 0):
        raise InputError("contrasts: a column has zero variance under final_cov")
    stat_mean = (c.T @ mean) / final_sd
    stat_cov = (c.T @ cov @ c) / np.outer(final_sd, final_sd)
    stat_sd = np.sqrt(np.diag(stat_cov))

    two_sided = alternative == "two-sided"
    if critical_value is None:
        final_corr = contrast_correlation(c, s_01)
        crit = MaxTDistribution(final_corr, np.inf, two_sided=two_sided, seed=seed).quantile(
            1 - alpha, tolerance=critical_value_tol)
    else:
        crit = float(critical_value)
        if not np.isfinite(crit):
            raise InputError(f"critical_value: must be a finite number, got {critical_value!r}")
    upper = crit / stat_sd
    lower = -upper if two_sided else np.full(upper.size, -np.inf)
    accept = mvt_probability(lower, upper, stat_cov / np.outer(stat_sd, stat_sd), np.inf,
                             delta=stat_mean / stat_sd, abseps=abseps, seed=seed)
    index = pd.Index(labels)
    return InterimPower(
        power=float(np.clip(1.0 - accept.value, 0.0, 1.0)), error=accept.error, kind=kind, critical_value=crit,
        alpha=alpha, alternative=alternative, assumed_means=assumed,
        statistic_mean=pd.Series(stat_mean, index=index, name="mean"),
        statistic_sd=pd.Series(stat_sd, index=index, name="sd"),
    )


def _interim_estimates(interim: Mapping[str, Any] | ArrayLike, interim_cov: ArrayLike | None, k: int,
                       contrast_doses: FloatArray | None, adjusted: bool) -> tuple[FloatArray, FloatArray]:
    """The interim estimates and covariance, checked against the contrasts."""
    if isinstance(interim, Mapping):
        if interim_cov is not None:
            raise InputError("interim_cov: the interim estimates mapping carries its own cov; do not give both")
        if "estimates" not in interim or "cov" not in interim:
            raise InputError(f"interim: a mapping needs 'estimates' and 'cov', got keys {sorted(interim)}")
        if bool(interim.get("placebo_adjusted", False)) != adjusted:
            raise InputError("interim: its placebo_adjusted does not match the contrasts'")
        doses = interim.get("doses")
        if doses is not None and contrast_doses is not None and (
                np.shape(doses) != contrast_doses.shape or not np.allclose(np.asarray(doses, float), contrast_doses)):
            raise InputError(f"interim: doses {np.asarray(doses).tolist()} differ from the contrasts' "
                             f"{contrast_doses.tolist()}")
        return as_vector(interim["estimates"], "interim", length=k), as_covariance(interim["cov"], "interim_cov", k)
    if interim_cov is None:
        raise InputError("interim_cov: give the covariance of the interim estimates")
    return as_vector(interim, "interim", length=k), as_covariance(interim_cov, "interim_cov", k)


def _information_to_come(s_0t: FloatArray, s_01: FloatArray, info_0t: FloatArray) -> FloatArray:
    """``S_01^-1 - S_0t^-1``, or an error if the final analysis does not add information on every dose."""
    info_t1 = np.linalg.inv(s_01) - info_0t
    info_t1 = (info_t1 + info_t1.T) / 2
    smallest = float(np.linalg.eigvalsh(info_t1)[0])
    scale = float(np.max(np.abs(np.linalg.eigvalsh(info_0t))))
    if smallest <= _INFORMATION_TOL * scale:
        raise InputError(
            "interim_cov, final_cov: the interim carries as much information as the final analysis or more "
            f"(final_cov^-1 - interim_cov^-1 has smallest eigenvalue {smallest:.3g}); the final covariance "
            "must be smaller than the interim's"
        )
    return info_t1
