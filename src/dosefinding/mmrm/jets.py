"""Second-order forward-mode differentiation for short scalar recursions.

A :class:`Jet` carries a value with its gradient and Hessian with respect to ``q``
parameters through sums and products. The Toeplitz covariance structure uses it for the
Durbin-Levinson map from partial autocorrelations to autocorrelations, whose first and
second derivatives are otherwise long to write out by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Jet"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Jet:
    """``value``, ``gradient`` (q,) and ``hessian`` (q, q) of one scalar.

    Examples
    --------
    >>> identity = lambda t: (t, 1.0, 0.0)
    >>> x = Jet.transformed(3.0, 0, 2, identity); y = Jet.transformed(2.0, 1, 2, identity)
    >>> z = x * x * y
    >>> z.value, z.gradient.tolist(), z.hessian.tolist()
    (18.0, [12.0, 9.0], [[4.0, 6.0], [6.0, 0.0]])
    """

    value: float
    gradient: FloatArray
    hessian: FloatArray

    @classmethod
    def constant(cls, value: float, q: int) -> Jet:
        """A value that does not depend on the parameters."""
        return cls(float(value), np.zeros(q), np.zeros((q, q)))

    @classmethod
    def transformed(cls, t: float, index: int, q: int, f: Callable[[float], tuple[float, float, float]]) -> Jet:
        """``f(t)`` of parameter ``index``; ``f`` returns the value and its first two derivatives."""
        value, first, second = f(t)
        gradient = np.zeros(q)
        gradient[index] = first
        hessian = np.zeros((q, q))
        hessian[index, index] = second
        return cls(float(value), gradient, hessian)

    def __add__(self, other: Jet) -> Jet:
        return Jet(self.value + other.value, self.gradient + other.gradient, self.hessian + other.hessian)

    def __sub__(self, other: Jet) -> Jet:
        return Jet(self.value - other.value, self.gradient - other.gradient, self.hessian - other.hessian)

    def __mul__(self, other: Jet) -> Jet:
        cross = np.outer(self.gradient, other.gradient)
        return Jet(
            self.value * other.value,
            self.value * other.gradient + other.value * self.gradient,
            self.value * other.hessian + other.value * self.hessian + cross + cross.T,
        )
