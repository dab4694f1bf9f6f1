"""A componentwise slice sampler (Neal 2003: stepping out, then shrinkage) run on many chains at once.

Each chain follows Neal's univariate slice sampler for one coordinate after another, as R
DoseFinding's C sampler does for one chain; here the chains are the leading axis of every
array, so one evaluation of the log density serves all chains that still need one. The
chains are independent: a draw of the sampler is the state of every chain after each sweep.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

__all__ = ["slice_update"]

FloatArray = NDArray[np.float64]
LogDensity = Callable[[FloatArray, NDArray[np.intp]], FloatArray]


def slice_update(log_density: LogDensity, x: FloatArray, current: FloatArray, d: int, w: float, lower: float,
                 upper: float, rng: np.random.Generator) -> None:
    """One slice-sampling update of coordinate ``d`` of every chain, in place.

    ``x`` ``(n_chains, p)`` holds the chains' states (inside the support ``[lower, upper]`` of
    coordinate ``d``) and ``current`` ``(n_chains,)`` their log densities; ``w`` is the step of
    the stepping out; ``log_density(points, chains)`` maps points ``(m, p)`` that differ from
    the states of ``chains`` ``(m,)`` in coordinate ``d`` only to their log densities ``(m,)``.

    Examples
    --------
    A standard normal, 400 chains, 20 updates:

    >>> rng = np.random.default_rng(1)
    >>> density = lambda x, chains: -0.5 * np.sum(x * x, axis=1)
    >>> x = np.zeros((400, 1))
    >>> current = density(x, np.arange(400))
    >>> for _ in range(20):
    ...     slice_update(density, x, current, 0, 2.0, -np.inf, np.inf, rng)
    >>> bool(abs(x.std() - 1) < 0.1)
    True
    """
    n = x.shape[0]
    level = current - rng.standard_exponential(n)
    old = x[:, d].copy()
    left = old - rng.random(n) * w
    right = left + w
    np.maximum(left, lower, out=left)
    np.minimum(right, upper, out=right)
    # Stepping out, both ends of all chains in one evaluation per round.
    open_left = np.ones(n, dtype=bool)
    open_right = np.ones(n, dtype=bool)
    while True:
        il, ir = np.flatnonzero(open_left), np.flatnonzero(open_right)
        if il.size + ir.size == 0:
            break
        points = np.concatenate([x[il], x[ir]])
        points[:, d] = np.concatenate([left[il], right[ir]])
        values = log_density(points, np.concatenate([il, ir]))
        out_l = values[: il.size] > level[il]
        out_r = values[il.size :] > level[ir]
        left[il[out_l]] -= w
        right[ir[out_r]] += w
        hit_l = left < lower
        hit_r = right > upper
        left[hit_l] = lower
        right[hit_r] = upper
        open_left[il] = out_l & ~hit_l[il]
        open_right[ir] = out_r & ~hit_r[ir]
    # Shrinkage.
    pending = np.arange(n)
    while pending.size:
        candidate = left[pending] + rng.random(pending.size) * (right[pending] - left[pending])
        points = x[pending]
        points[:, d] = candidate
        values = log_density(points, pending)
        accept = values >= level[pending] - np.finfo(float).eps
        done = pending[accept]
        x[done, d] = candidate[accept]
        current[done] = values[accept]
        rejected, c = pending[~accept], candidate[~accept]
        above = c > old[rejected]
        right[rejected[above]] = c[above]
        left[rejected[~above]] = c[~above]
        pending = rejected
