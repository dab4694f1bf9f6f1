"""Randomly shifted rank-1 lattice points for quasi-Monte Carlo integration on [0, 1]^m.

Both integrators of this package (:mod:`dosefinding.mcp.mvt` for rectangle
probabilities, :mod:`dosefinding.mcp.max_t` for the distribution of the maximum
statistic) draw their points here, average the integrand within each of ``N_SHIFTS``
independent random shifts, and take the spread of those averages as the error.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from dosefinding.errors import InputError

__all__ = [
    "MAX_PER_SHIFT",
    "MIN_POINTS",
    "N_SHIFTS",
    "ShiftedLattice",
    "check_accuracy",
    "points_per_shift",
    "summarise",
]

N_SHIFTS = 12
LATTICE_BITS = 20
MAX_PER_SHIFT = 1 << LATTICE_BITS
MIN_POINTS = 8 * N_SHIFTS
# The reported error is this many standard errors of the mean over the shifts.
ERROR_FACTOR = 3.0
_REVERSED_10_BITS = np.array([int(f"{i:010b}"[::-1], 2) for i in range(1024)], dtype=np.int64)

# Generating vector of an embedded rank-1 lattice sequence (2^10 to 2^20 points), from a
# component-by-component search (the function _search_lattice in mvt.py at commit
# 61a1635, about an hour): component j >= 1 is the best of 1024 random odd candidates
# below 2^20 for the 2^10..2^20-point lattices together, by the sum of the log squared
# worst-case errors in a Korobov space of smoothness 2 with product weights 0.6^j (the
# first coordinates matter most). On our integrands it gives 2-3 times smaller standard
# errors than frac(sqrt(prime)) (Richtmyer) generators for the same number of points.
# For the rank-5 maximum statistic (3 periodic coordinates) a component-by-component vector
# for dimension 3, for 2^8..2^16 points, and scrambled Sobol' points did no better.
_LATTICE = np.array(
    [
        1, 118495, 350669, 913007, 288863, 749523, 664233, 1030473,
        907543, 306297, 509409, 865129, 660609, 237863, 426579, 555683,
        785821, 416269, 54479, 881093, 893233, 475459, 127139, 697409,
        803757, 490757, 624341, 500243, 508267, 155099, 673605, 504015,
    ],
    dtype=np.float64,
)


class ShiftedLattice:
    """Points of a rank-1 lattice sequence under ``N_SHIFTS`` random shifts, tent-transformed by default.

    Point ``n`` of shift ``k`` is ``tent(frac(phi(n) * z + shift_k))``, where ``phi``
    reverses the 20 bits of ``n`` (base-2 radical inverse), ``z`` is the tabulated
    generating vector and ``tent(x) = |2x - 1|`` (the baker's transform), which suits
    integrands that are smooth but not periodic on the cube. An integrand that is already
    periodic in every coordinate wants the plain shifted points (``tent=False``): the tent
    would fold it at 1/2 and put kinks there and at the ends. The first 2^k
    points form a full lattice for every k <= 20, so estimates from different point
    counts share their points. Dimensions beyond the table use Kronecker (Richtmyer)
    coordinates of ``n``.

    Parameters
    ----------
    dims : int
        Dimension m of the points.
    rng : numpy.random.Generator
        Source of the random shifts.
    tent : bool, default True
        Apply the tent transform to every coordinate.

    Examples
    --------
    >>> lattice = ShiftedLattice(3, np.random.default_rng(0))
    >>> lattice.points(0, 4).shape  # (dims, N_SHIFTS * 4), shift by shift
    (3, 48)
    """

    def __init__(self, dims: int, rng: np.random.Generator, *, tent: bool = True) -> None:
        self.dims = dims
        self.tent = tent
        self.generator = _LATTICE[:dims]
        self.extra = _richtmyer(dims)[_LATTICE.size :]
        self.shifts = rng.random((N_SHIFTS, dims))

    def points(self, start: int, stop: int) -> NDArray[np.float64]:
        """Points ``start..stop-1`` of every shift, as an array (dims, N_SHIFTS * count)."""
        n = np.arange(start, stop, dtype=np.int64)
        u = _radical_inverse(n)
        x = np.empty((self.dims, N_SHIFTS, n.size))
        k = self.generator.size
        np.multiply(self.generator[:, None, None], u[None, None, :], out=x[:k])
        if self.extra.size:
            np.multiply(self.extra[:, None, None], n[None, None, :].astype(np.float64), out=x[k:])
        x += self.shifts.T[:, :, None]
        x -= np.floor(x)
        if self.tent:
            x *= 2.0
            x -= 1.0
            np.abs(x, out=x)
        return x.reshape(self.dims, -1)


def summarise(means: NDArray[np.float64]) -> tuple[float, float]:
    """Estimate (clipped to [0, 1]) and error from the averages of the shifts.

    Examples
    --------
    >>> summarise(np.full(N_SHIFTS, 0.5))
    (0.5, 0.0)
    """
    value = float(np.mean(means))
    error = ERROR_FACTOR * float(np.std(means, ddof=1)) / math.sqrt(means.size)
    return min(max(value, 0.0), 1.0), error


def points_per_shift(max_points: int) -> int:
    """The largest power of two of points per shift that ``max_points`` allows.

    Point counts stay powers of two, where the points form a full lattice: a partial
    next level spreads worse and can raise the error instead of lowering it.

    Examples
    --------
    >>> points_per_shift(2_000_000)
    131072
    """
    return 1 << int(math.log2(min(max_points // N_SHIFTS, MAX_PER_SHIFT)))


def check_accuracy(abseps: float, max_points: int, name: str = "abseps") -> tuple[float, int]:
    """``abseps`` as a positive float and ``max_points`` as an int of at least ``MIN_POINTS``;
    ``name`` is the accuracy argument's name in error messages.

    Examples
    --------
    >>> check_accuracy(1e-5, 2e6)
    (1e-05, 2000000)
    """
    try:
        eps = float(abseps)
    except (TypeError, ValueError):
        raise InputError(f"{name}: must be a positive number, got {abseps!r}") from None
    if not eps > 0:
        raise InputError(f"{name}: must be a positive number, got {abseps!r}")
    if isinstance(max_points, bool) or not isinstance(max_points, (int, float, np.integer, np.floating)):
        raise InputError(f"max_points: must be an integer, got {max_points!r}")
    if not (np.isfinite(max_points) and int(max_points) == max_points):
        raise InputError(f"max_points: must be an integer, got {max_points!r}")
    if max_points < MIN_POINTS:
        raise InputError(f"max_points: must be at least {MIN_POINTS}, got {max_points}")
    return eps, int(max_points)


def _radical_inverse(n: NDArray[np.int64]) -> NDArray[np.float64]:
    """Base-2 radical inverse of 20-bit integers, as exact floats in [0, 1)."""
    low = _REVERSED_10_BITS.take(n & 1023)
    high = _REVERSED_10_BITS.take((n >> 10) & 1023)
    return (low * 1024 + high) * np.float64(1.0 / (1 << LATTICE_BITS))


@lru_cache(maxsize=64)
def _richtmyer_cached(m: int) -> tuple[float, ...]:
    primes: list[int] = []
    k = 2
    while len(primes) < m:
        if all(k % p for p in primes if p * p <= k):
            primes.append(k)
        k += 1
    return tuple(math.sqrt(p) % 1.0 for p in primes)


def _richtmyer(m: int) -> NDArray[np.float64]:
    """Generating vector frac(sqrt(p_j)) of the first ``m`` primes."""
    return np.array(_richtmyer_cached(m))
