"""Normal-mixture priors for one dose-group mean (RBesT's ``mixnorm``, as R DoseFinding's ``bMCTtest`` reads them).

A prior is ``sum_j w_j N(m_j, s_j^2)``: weights non-negative and summing to one, standard
deviations positive. A robust prior adds a vague component to an informative one
(:meth:`NormalMixture.robust`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from dosefinding.errors import InputError
from dosefinding.validation import as_vector

__all__ = ["NormalMixture", "check_priors", "normal_mixture"]

FloatArray = NDArray[np.float64]
_WEIGHT_SUM_TOL = 1e-8


@dataclass(frozen=True, eq=False)
class NormalMixture:
    """A mixture of normal distributions: ``weights``, ``means`` and ``sds`` of its components.

    Build it with :func:`normal_mixture`, which checks the numbers.

    Examples
    --------
    >>> from dosefinding.bayes import normal_mixture
    >>> prior = normal_mixture(weights=[0.8, 0.2], means=[0.4, 0.4], sds=[0.1, 10])
    >>> prior.n_components, round(prior.mean(), 3), round(prior.sd(), 3)
    (2, 0.4, 4.473)
    """

    weights: FloatArray
    means: FloatArray
    sds: FloatArray

    @property
    def n_components(self) -> int:
        """Number of components."""
        return int(self.weights.size)

    def mean(self) -> float:
        """Mean of the mixture."""
        return float(self.weights @ self.means)

    def sd(self) -> float:
        """Standard deviation of the mixture."""
        second = float(self.weights @ (self.sds**2 + self.means**2))
        return float(np.sqrt(max(second - self.mean() ** 2, 0.0)))

    def logpdf(self, x: ArrayLike) -> FloatArray:
        """Log density at ``x``.

        Examples
        --------
        >>> float(normal_mixture([1.0], [0.0], [1.0]).logpdf(0.0).round(4))
        -0.9189
        """
        z = (np.asarray(x, dtype=float)[..., None] - self.means) / self.sds
        log_terms = np.log(self.weights) - 0.5 * z * z - np.log(self.sds) - 0.5 * np.log(2 * np.pi)
        return special.logsumexp(log_terms, axis=-1)

    def robust(self, weight: float, mean: float, sd: float) -> NormalMixture:
        """This prior with weight ``1 - weight`` and a vague component ``N(mean, sd^2)`` of weight ``weight``
        (RBesT's ``robustify``).

        Examples
        --------
        >>> informative = normal_mixture([1.0], [-4.0], [0.6])
        >>> informative.robust(0.2, mean=-4.0, sd=5.6).weights.tolist()
        [0.8, 0.2]
        """
        if not 0 < float(weight) < 1:
            raise InputError(f"weight: the vague component's weight must be in (0, 1), got {weight!r}")
        return normal_mixture(
            np.append(self.weights * (1 - weight), weight), np.append(self.means, mean), np.append(self.sds, sd)
        )

    def __repr__(self) -> str:
        parts = ", ".join(f"{w:.4g}*N({m:.4g}, {s:.4g}^2)" for w, m, s in zip(self.weights, self.means, self.sds))
        return f"NormalMixture({parts})"


def normal_mixture(weights: ArrayLike, means: ArrayLike, sds: ArrayLike) -> NormalMixture:
    """A normal-mixture prior, checked: one weight, mean and standard deviation per component;
    weights non-negative summing to one; standard deviations positive.

    RBesT's ``mixnorm(c(w1, m1, s1), c(w2, m2, s2))`` is ``normal_mixture([w1, w2], [m1, m2], [s1, s2])``.

    Examples
    --------
    >>> from dosefinding.bayes import normal_mixture
    >>> normal_mixture(weights=[0.8, 0.2], means=[0.4, 0.4], sds=[0.1, 10])
    NormalMixture(0.8*N(0.4, 0.1^2), 0.2*N(0.4, 10^2))
    >>> normal_mixture(weights=[1.2, -0.2], means=[0, 0], sds=[1, 10])
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: weights: must be non-negative, got -0.2 at component 2
    """
    w = as_vector(weights, "weights")
    m = as_vector(means, "means", length=w.size)
    s = as_vector(sds, "sds", length=w.size)
    negative = np.flatnonzero(w < 0)
    if negative.size:
        raise InputError(f"weights: must be non-negative, got {w[negative[0]]:g} at component {negative[0] + 1}")
    if abs(float(w.sum()) - 1.0) > _WEIGHT_SUM_TOL:
        raise InputError(f"weights: must sum to 1, got {float(w.sum()):.10g} ({w.tolist()})")
    bad = np.flatnonzero(s <= 0)
    if bad.size:
        raise InputError(f"sds: must be positive, got {s[bad[0]]:g} at component {bad[0] + 1}")
    # Components of weight 0 add nothing to the prior; dropping them keeps the posterior's logs finite.
    keep = w > 0
    return NormalMixture(weights=w[keep] / w[keep].sum(), means=m[keep], sds=s[keep])


def check_priors(priors: Sequence[NormalMixture], n_doses: int) -> tuple[NormalMixture, ...]:
    """One :class:`NormalMixture` per dose, in dose order, or :class:`InputError` naming ``priors``."""
    if isinstance(priors, NormalMixture) or not isinstance(priors, Sequence):
        raise InputError("priors: give a list with one NormalMixture per dose (normal_mixture(...))")
    if len(priors) != n_doses:
        raise InputError(f"priors: need one prior per dose ({n_doses}), got {len(priors)}")
    for i, prior in enumerate(priors):
        if not isinstance(prior, NormalMixture):
            raise InputError(f"priors: entry {i + 1} is a {type(prior).__name__}, not a NormalMixture (normal_mixture(...))")
    return tuple(priors)
