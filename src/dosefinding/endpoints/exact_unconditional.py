"""Exact unconditional interval for a difference of two proportions: Santner & Snell (1980).

The interval inverts two one-sided exact tests of ``H0: p1 - p2 = delta`` whose statistic is the
observed difference ``x1/n1 - x2/n2`` itself, at level ``(1 - confidence_level) / 2`` each. The
tail probability of a table set depends on the nuisance ``p2`` as well as on ``delta``; the test
takes its largest value over ``p2`` (the unconditional approach). The lower limit is the ``delta``
where the largest probability of a difference at least as large as observed equals
``(1 - confidence_level) / 2``, the upper limit likewise with "at most as large". This is SAS PROC
FREQ's ``EXACT RISKDIFF(METHOD=NOSCORE)``; study A2201 (SAS 9.4) reports its ESSDAI responder
difference with it (see ``examples/responder_interval_search.py``).

The largest tail probability over ``p2`` is found on a grid of :data:`NUISANCE_GRID` points and
refined by bounded Brent search around every local maximum of the grid; the limits are the roots
of the tail probability minus the level by Brent's method to 1e-12.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, stats

__all__ = ["NUISANCE_GRID", "santner_snell"]

NUISANCE_GRID = 400
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def _largest_tail(region: FloatArray, n1: int, n2: int, delta: float) -> float:
    """``max over p2`` of the probability of ``region`` (an (n1+1) x (n2+1) 0/1 matrix) at ``p1 = p2 + delta``."""
    low, high = max(0.0, -delta), min(1.0, 1.0 - delta)
    if high - low < 1e-15:
        p2 = np.array([low])
    else:
        p2 = np.linspace(low, high, NUISANCE_GRID + 1)
    k1, k2 = np.arange(n1 + 1)[:, None], np.arange(n2 + 1)[:, None]

    def probability(q2: FloatArray) -> FloatArray:
        f1 = stats.binom.pmf(k1, n1, np.clip(q2 + delta, 0.0, 1.0))
        f2 = stats.binom.pmf(k2, n2, q2)
        return np.einsum("ig,ij,jg->g", f1, region, f2)

    values = probability(p2)
    best = float(values.max())
    peaks = [i for i in range(1, p2.size - 1) if values[i] >= values[i - 1] and values[i] >= values[i + 1]]
    for i in peaks:
        found = optimize.minimize_scalar(lambda q: -float(probability(np.array([q]))[0]), method="bounded",
                                         bounds=(p2[i - 1], p2[i + 1]), options={"xatol": 1e-12})
        best = max(best, -float(found.fun))
    return best


def _limits(x1: int, n1: int, x2: int, n2: int, tail: float) -> tuple[float, float]:
    i, j = np.arange(n1 + 1)[:, None], np.arange(n2 + 1)[None, :]
    # Differences compared as integers i n2 - j n1 against x1 n2 - x2 n1: no rounding at ties.
    spread, observed = i * n2 - j * n1, x1 * n2 - x2 * n1
    at_least, at_most = (spread >= observed).astype(float), (spread <= observed).astype(float)
    if at_least.all():
        lower = -1.0
    else:
        lower = optimize.brentq(lambda t: _largest_tail(at_least, n1, n2, t) - tail, -1.0, 1.0, xtol=1e-12)
    if at_most.all():
        upper = 1.0
    else:
        upper = optimize.brentq(lambda t: _largest_tail(at_most, n1, n2, t) - tail, -1.0, 1.0, xtol=1e-12)
    return lower, upper


def santner_snell(
    x1: IntArray | FloatArray, n1: IntArray | FloatArray, x2: IntArray | FloatArray, n2: IntArray | FloatArray,
    confidence_level: float,
) -> tuple[FloatArray, FloatArray]:
    """Santner-Snell exact unconditional limits of ``p1 - p2``, one per comparison (1-d integer counts, n >= 1).

    Counts are checked by the caller (:func:`~dosefinding.endpoints.difference_interval`).

    Examples
    --------
    >>> lower, upper = santner_snell(np.array([42]), np.array([47]), np.array([30]), np.array([49]), 0.95)
    >>> round(100 * float(lower[0]), 1), round(100 * float(upper[0]), 1)
    (8.2, 46.4)
    """
    tail = (1.0 - confidence_level) / 2.0
    limits = [_limits(int(a), int(m), int(b), int(k), tail) for a, m, b, k in zip(x1, n1, x2, n2, strict=True)]
    return np.array([lo for lo, _ in limits]), np.array([hi for _, hi in limits])
