"""Second-order forward-mode differentiation for short scalar recursions, over a batch of parameter vectors.

A :class:`Jet` carries a value with its gradient and Hessian with respect to ``q``
parameters through sums and products; every part may carry leading batch axes (one value
per member of a batch of parameter vectors). The Toeplitz covariance structure uses it for
the Durbin-Levinson map from partial autocorrelations to autocorrelations, whose first and
second derivatives are otherwise long to write out by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Jet"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Jet:
    """``value`` (...), ``gradient`` (..., q) and ``hessian`` (..., q, q) of one scalar (per batch member).

    Examples
    --------
    >>> identity = lambda t: (t, 1.0, 0.0)
    >>> x = Jet.transformed(3.0, 0, 2, identity); y = Jet.transformed(2.0, 1, 2, identity)
    >>> z = x * x * y
    >>> float(z.value), z.gradient.tolist(), z.hessian.tolist()
    (18.0, [12.0, 9.0], [[4.0, 6.0], [6.0, 0.0]])
    >>> batch = Jet.transformed(np.array([1.0, 2.0]), 0, 1, identity)
    >>> (batch * batch).gradient.tolist()
    [[2.0], [4.0]]
    """

    value: FloatArray
    gradient: FloatArray
    hessian: FloatArray

    @classmethod
    def constant(cls, value: ArrayLike, q: int) -> Jet:
        """A value that does not depend on the parameters."""
        value = np.asarray(value, dtype=float)
        return cls(value, np.zeros((*value.shape, q)), np.zeros((*value.shape, q, q)))

    @classmethod
    def transformed(cls, t: ArrayLike, index: int, q: int,
                    f: Callable[[FloatArray], tuple[ArrayLike, ArrayLike, ArrayLike]]) -> Jet:
        """``f(t)`` of parameter ``index``; ``f`` returns the value and its first two derivatives."""
        value, first, second = (np.asarray(part, dtype=float) for part in f(np.asarray(t, dtype=float)))
        gradient = np.zeros((*value.shape, q))
        gradient[..., index] = first
        hessian = np.zeros((*value.shape, q, q))
        hessian[..., index, index] = second
        return cls(value, gradient, hessian)

    def __add__(self, other: Jet) -> Jet:
        return Jet(self.value + other.value, self.gradient + other.gradient, self.hessian + other.hessian)

    def __sub__(self, other: Jet) -> Jet:
        return Jet(self.value - other.value, self.gradient - other.gradient, self.hessian - other.hessian)

    def __mul__(self, other: Jet) -> Jet:
        cross = self.gradient[..., :, None] * other.gradient[..., None, :]
        a, b = self.value[..., None], other.value[..., None]
        return Jet(
            self.value * other.value,
            a * other.gradient + b * self.gradient,
            a[..., None] * other.hessian + b[..., None] * self.hessian + cross + np.swapaxes(cross, -1, -2),
        )
