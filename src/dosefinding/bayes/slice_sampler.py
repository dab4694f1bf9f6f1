"""A componentwise slice sampler (Neal 2003: stepping out, then shrinkage) run on many chains at once.

Each chain follows Neal's univariate slice sampler for one coordinate after another, as R
DoseFinding's C sampler does for one chain; here the chains are the leading axis of every
array, so one evaluation of the log density serves all chains that still need one. Each
evaluation also looks ahead: the next three positions of the stepping out, and the next four
candidates of the shrinkage (each on the interval that the rejection of the ones before it
leaves), so that a chain takes the same path as one position at a time, in a few rounds. The
chains are independent: a draw of the sampler is the state of every chain after each sweep.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

__all__ = ["slice_update"]

FloatArray = NDArray[np.float64]
# Positions of the stepping out and candidates of the shrinkage evaluated together per round.
_STEPS = 3
_STEP_INDEX = np.arange(_STEPS, dtype=float)
_SHRINKS = 4
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
    chains = np.arange(n)
    # Stepping out: the next _STEPS positions of both ends of every open chain in one evaluation.
    open_left, open_right = chains, chains
    while open_left.size + open_right.size:
        ends_l = left[open_left, None] - w * _STEP_INDEX
        ends_r = right[open_right, None] + w * _STEP_INDEX
        values = _evaluate(log_density, x, d, np.concatenate([open_left, open_right]),
                           np.concatenate([np.maximum(ends_l, lower), np.minimum(ends_r, upper)]))
        left[open_left], still_l = _stepped(ends_l, values[: open_left.size] > level[open_left, None], w, lower, -1)
        right[open_right], still_r = _stepped(ends_r, values[open_left.size :] > level[open_right, None], w, upper, 1)
        open_left, open_right = open_left[still_l], open_right[still_r]
    # Shrinkage: the next _SHRINKS candidates of every pending chain, each on the interval left if all
    # before it are rejected (the path the sequential procedure takes), in one evaluation.
    pending = chains
    while pending.size:
        lo, hi, here = left[pending], right[pending], old[pending]
        candidates = np.empty((pending.size, _SHRINKS))
        for k in range(_SHRINKS):
            c = lo + rng.random(pending.size) * (hi - lo)
            candidates[:, k] = c
            above = c > here
            hi = np.where(above, c, hi)
            lo = np.where(above, lo, c)
        values = _evaluate(log_density, x, d, pending, candidates).reshape(pending.size, _SHRINKS)
        accept = values >= level[pending, None] - np.finfo(float).eps
        found = accept.any(axis=1)
        first = np.argmax(accept, axis=1)
        done = pending[found]
        x[done, d] = candidates[found, first[found]]
        current[done] = values[found, first[found]]
        left[pending], right[pending] = lo, hi
        pending = pending[~found]


def _evaluate(log_density: LogDensity, x: FloatArray, d: int, chains: NDArray[np.intp], values: FloatArray
              ) -> FloatArray:
    """Log densities at the states of ``chains`` with coordinate ``d`` set to each column of ``values``
    ``(len(chains), j)``, flattened chain by chain."""
    repeat = values.shape[1]
    owners = np.repeat(chains, repeat)
    points = np.take(x, owners, axis=0)  # several times faster than x[owners] for rows
    points[:, d] = values.ravel()
    return log_density(points, owners).reshape(chains.size, repeat)


def _stepped(ends: FloatArray, in_slice: NDArray[np.bool_], w: float, bound: float, sign: int
             ) -> tuple[FloatArray, NDArray[np.bool_]]:
    """Where each chain's sequential stepping out stops among its next positions ``ends`` ``(m, j)`` (``sign``
    -1 to the left, +1 to the right), and whether it goes on: at the first position outside the slice, or at
    ``bound`` when the step after a position inside it would cross the bound (R DoseFinding's rule)."""
    beyond = sign * (ends + sign * w - bound) > 0  # the step after this position crosses the bound
    stop = ~in_slice | beyond
    found = stop.any(axis=1)
    first = np.argmax(stop, axis=1)
    rows = np.arange(ends.shape[0])
    at = ends[rows, first]
    crossed = in_slice[rows, first] & beyond[rows, first]
    position = np.where(found, np.where(crossed, bound, at), ends[:, -1] + sign * w)
    return position, np.logical_not(found)
