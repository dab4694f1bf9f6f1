"""Priors for the parameters of a dose-response shape (R DoseFinding's ``bFitMod`` prior list).

Four kinds, as DoseFinding: normal (mean, sd), Student t (location, scale, df), log-normal
(meanlog, sdlog) and a beta distribution scaled to an interval (lower, upper, a, b). The log
densities are those of R's ``dnorm``, ``dt``, ``dlnorm`` and ``dbeta`` (minus ``log(upper - lower)``),
``-inf`` outside the support.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from dosefinding.errors import InputError

__all__ = ["ParameterPrior", "beta_prior", "lognormal_prior", "normal_prior", "t_prior"]

FloatArray = NDArray[np.float64]
PriorKind = Literal["normal", "t", "lognormal", "beta"]
_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


@dataclass(frozen=True)
class ParameterPrior:
    """The prior of one parameter: its ``kind`` and ``parameters`` (see the module docstring).

    Build it with :func:`normal_prior`, :func:`t_prior`, :func:`lognormal_prior` or :func:`beta_prior`.
    """

    kind: PriorKind
    parameters: tuple[float, ...]

    @property
    def support(self) -> tuple[float, float]:
        """Lower and upper end of the support."""
        if self.kind == "lognormal":
            return 0.0, np.inf
        if self.kind == "beta":
            return self.parameters[0], self.parameters[1]
        return -np.inf, np.inf

    def logpdf(self, x: ArrayLike) -> FloatArray:
        """Log density at ``x`` (``-inf`` outside the support).

        Examples
        --------
        >>> float(normal_prior(0, 1).logpdf(0.0).round(6))
        -0.918939
        >>> beta_prior(0, 1.5, 0.45, 1.7).logpdf([-0.1, 2.0]).tolist()
        [-inf, -inf]
        """
        v = np.asarray(x, dtype=float)
        p = self.parameters
        constant = self._log_constant
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.kind == "normal":
                z = (v - p[0]) / p[1]
                return constant - 0.5 * z * z
            if self.kind == "t":
                z = (v - p[0]) / p[1]
                return constant - (p[2] + 1) / 2 * np.log1p(z * z / p[2])
            if self.kind == "lognormal":
                positive = v > 0
                logv = np.log(np.where(positive, v, 1.0))
                z = (logv - p[0]) / p[1]
                return np.where(positive, constant - 0.5 * z * z - logv, -np.inf)
            lower, upper, a, b = p
            u = (v - lower) / (upper - lower)
            value = constant + (a - 1) * np.log(u) + (b - 1) * np.log1p(-u)
            if a != 1 and b != 1:  # NaN exactly outside [0, 1]; at 0 or 1 the logs' infinities are R's dbeta's
                return np.where(np.isnan(value), -np.inf, value)
            # Outside [0, 1] the logs are NaN; at 0 or 1 the density is 0, finite or infinite as R's dbeta.
            value = np.where((u < 0) | (u > 1), -np.inf, value)
            at_end = (u == 0) | (u == 1)
            if np.any(at_end):
                value[at_end] = constant + special.xlogy(a - 1, u[at_end]) + special.xlog1py(b - 1, -u[at_end])
            return value

    @cached_property
    def _log_constant(self) -> float:
        """The log density's terms that do not depend on the value."""
        p = self.parameters
        if self.kind in ("normal", "lognormal"):
            return float(-np.log(p[1]) - _LOG_SQRT_2PI)
        if self.kind == "t":
            nu = p[2]
            return float(special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * np.log(nu * np.pi) - np.log(p[1]))
        return float(-special.betaln(p[2], p[3]) - np.log(p[1] - p[0]))


def _positive(value: float, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: must be a number, got {value!r}") from None
    if not (np.isfinite(v) and v > 0):
        raise InputError(f"{name}: must be positive, got {value!r}")
    return v


def _finite(value: float, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: must be a number, got {value!r}") from None
    if not np.isfinite(v):
        raise InputError(f"{name}: must be finite, got {value!r}")
    return v


def normal_prior(mean: float, sd: float) -> ParameterPrior:
    """Normal prior (R's ``norm = c(mean, sd)``).

    Examples
    --------
    >>> normal_prior(0, 10)
    ParameterPrior(kind='normal', parameters=(0.0, 10.0))
    """
    return ParameterPrior("normal", (_finite(mean, "mean"), _positive(sd, "sd")))


def t_prior(location: float, scale: float, df: float) -> ParameterPrior:
    """Student t prior (R's ``t = c(location, scale, df)``).

    Examples
    --------
    >>> t_prior(0, 10, 3).parameters
    (0.0, 10.0, 3.0)
    """
    return ParameterPrior("t", (_finite(location, "location"), _positive(scale, "scale"), _positive(df, "df")))


def lognormal_prior(meanlog: float, sdlog: float) -> ParameterPrior:
    """Log-normal prior (R's ``lnorm = c(meanlog, sdlog)``).

    Examples
    --------
    >>> lognormal_prior(3, 1.5).support
    (0.0, inf)
    """
    return ParameterPrior("lognormal", (_finite(meanlog, "meanlog"), _positive(sdlog, "sdlog")))


def beta_prior(lower: float, upper: float, a: float, b: float) -> ParameterPrior:
    """Beta prior scaled to ``[lower, upper]`` (R's ``beta = c(lower, upper, a, b)``).

    Examples
    --------
    >>> beta_prior(0, 1.5, 0.45, 1.7).support
    (0.0, 1.5)
    >>> beta_prior(2, 1, 1, 1)
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: lower, upper: need lower < upper, got 2 and 1
    """
    lo, hi = _finite(lower, "lower"), _finite(upper, "upper")
    if not lo < hi:
        raise InputError(f"lower, upper: need lower < upper, got {lower!r} and {upper!r}")
    return ParameterPrior("beta", (lo, hi, _positive(a, "a"), _positive(b, "b")))
