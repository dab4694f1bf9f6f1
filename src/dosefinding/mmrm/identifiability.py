"""Whether the data identify the MMRM: the checks before a fit, with the reason when they do not.

A fit is refused (:func:`dosefinding.mmrm.mmrm`: :class:`InputError`; the batch: the data
set is not fitted and says why) only when the model is not identifiable, not because of a
count of parameters: 181 subjects over 20 visits identify the 210 parameters of an
unstructured matrix. Refused:

- no residual degrees of freedom, ``n - p < 1``: the mean fits the data exactly and the
  likelihood has no maximum (REML's is not defined);
- ``us``: a pair of visits never observed in the same subject (within a covariance group):
  their covariance does not enter the likelihood; ``toep`` and ``toeph``: a lag at which no
  pair of visits is observed in a subject;
- ``us`` when the subjects observed at every visit (within a group), ``c`` of them, are too
  few. Then some direction ``v`` of the visits has ``v'(y_i - X_i beta) = 0`` for each of
  them and some ``beta``, and the likelihood grows without bound as ``Sigma`` becomes
  singular along ``v`` (the other subjects' contributions stay bounded; REML's
  ``log|X'V^-1 X|`` grows by ``rank(M_v) log``, ``M_v`` the rows ``v'X_i`` of those
  subjects, so REML needs ``c > rank(M_v)`` for this). Too few means: ``c < k`` (``v`` with
  ``v'y_i = 0`` for each, and ``beta = 0``), or, when the mean is saturated by visit (each
  visit its own coefficients for the same covariates ``z_i``: ``X_i = I_k kron z_i'``,
  e.g. ``ARM * AVISIT``, ``BASE * AVISIT``), ``c < k + r`` with ``r`` the rank of their
  ``z`` (``v'y_i`` is then fitted by ``z_i'gamma`` with ``gamma = sum_a v_a beta_a``).

Other non-identifiable data (for instance too few subjects at one visit under a
heterogeneous structure) are left to the optimiser, which then reports that it did not
converge.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from dosefinding.mmrm.covariance import CovarianceModel
from dosefinding.mmrm.likelihood import PatternStats

__all__ = ["identifiability"]

FloatArray = NDArray[np.float64]
# Eigenvalues of Z'Z below this fraction of the largest count as zero (rank of the completers' design).
_RANK_TOL = 1e-10
_LAG_STRUCTURES = ("toep", "toeph")


def _per_group(stats: PatternStats, model: CovarianceModel, values: FloatArray) -> FloatArray:
    """Sums of per-slot ``values`` (T, G, ...) over the slots of each group: (T, H, ...)."""
    if model.n_groups == 1:
        return values.sum(axis=1)[:, None]
    assert stats.group is not None
    membership = (stats.group[:, :, None] == np.arange(model.n_groups)).astype(float)
    return np.einsum("tgh,tg...->th...", membership, values)


def _completers(stats: PatternStats, model: CovarianceModel) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Subjects observed at every visit ``c`` (T, H) and, for repeated pieces, the rank of their ``z`` (T, H)."""
    complete = np.all(stats.mask, axis=2)  # (T, G)
    counts = _per_group(stats, model, stats.n * complete).astype(np.int64)
    if not stats.pieces.repeated:
        return counts, np.zeros_like(counts)
    zz = _per_group(stats, model, stats.uu * complete[:, :, None, None])  # (T, H, r, r)
    eigenvalues = np.linalg.eigvalsh(zz)
    largest = np.maximum(eigenvalues[..., -1:], np.finfo(float).tiny)
    return counts, (eigenvalues > _RANK_TOL * largest).sum(axis=-1)


def _null_direction_rank(stats: PatternStats, t: int, members: NDArray[np.intp]) -> int | None:
    """``rank(M_v)`` for a direction ``v`` with ``v'y_i = 0`` for the subjects ``members`` of data set ``t``.

    ``None`` when ``v`` is zero at some visit (then subjects without every visit could
    constrain it too, and nothing is claimed).
    """
    y = stats.subject_y[t, members]
    v = np.linalg.svd(y)[2][-1]
    if np.any(np.abs(v) <= _RANK_TOL * np.abs(v).max()):
        return None
    pieces = stats.pieces
    u = stats.subject_u[min(t, len(stats.subject_u) - 1), members]
    rows = pieces.to_columns(u * v[pieces.visit])
    return int(np.linalg.matrix_rank(rows)) if rows.size else 0


def identifiability(
    stats: PatternStats,
    model: CovarianceModel,
    *,
    reml: bool,
    subject: str = "subject",
    visits: Sequence[object] | None = None,
) -> list[str]:
    """Why each data set of ``stats`` does not identify ``model`` ("" where it does); see the module docstring.

    ``subject`` and ``visits`` name the subject column and the visits in the reasons.

    Examples
    --------
    >>> from dosefinding.mmrm.covariance import get_structure
    >>> x = np.ones((6, 1)); y = np.array([1.0, 2.0, 3.0, 5.0, 2.0, 2.0])
    >>> stats = PatternStats.from_rows(x, y, subject=np.array([0, 0, 1, 1, 2, 3]), visit=np.array([0, 1, 0, 1, 2, 2]),
    ...                                k=3)
    >>> identifiability(stats, CovarianceModel(get_structure("us", 3)), reml=True)
    ["visits 0 and 2 are never observed in the same subject: their covariance under 'us' is not identifiable"]
    """
    names = [str(v) for v in (visits if visits is not None else range(stats.k))]
    structure = model.structure
    k = stats.k
    reasons = [""] * stats.n_sets
    residual_df = stats.n_obs - stats.p
    mask = stats.mask.astype(float)
    pairs = _per_group(stats, model, stats.n[:, :, None, None] * mask[:, :, :, None] * mask[:, :, None, :])
    with_data = _per_group(stats, model, stats.n * stats.mask.any(axis=2)).astype(np.int64)
    saturated = structure.name == "us" and stats.pieces.repeated and stats.pieces.n_pieces == stats.p
    if structure.name == "us":
        counts, rank = _completers(stats, model)
    for t in range(stats.n_sets):
        if residual_df[t] < 1:
            reasons[t] = (f"data: {int(stats.n_obs[t])} observations and {stats.p} fixed effects leave no residual "
                          "degrees of freedom; the likelihood has no maximum")
            continue
        for h, label in enumerate(model.groups):
            where = f" in group {label!r} ({model.column})" if model.column else ""
            seen = pairs[t, h] > 0
            if structure.name == "us" and not seen.all():
                a, b = np.argwhere(~seen)[0]
                reasons[t] = (f"visits {names[a]} and {names[b]} are never observed in the same subject{where}: their "
                              f"covariance under 'us' is not identifiable")
                break
            if structure.name in _LAG_STRUCTURES:
                lags = [lag for lag in range(1, k) if not np.diagonal(seen, lag).any()]
                if lags:
                    reasons[t] = (f"no subject{where} has two visits {lags[0]} apart: the covariance at that lag "
                                  f"under {structure.name!r} is not identifiable")
                    break
            if structure.name != "us":
                continue
            c = int(counts[t, h])
            needed, rank_v = 0, 0
            if saturated:
                needed, rank_v = k + int(rank[t, h]), int(rank[t, h])
            if 0 < c < k and needed <= k:
                direction = _null_direction_rank(stats, t, _complete_subjects(stats, model, t, h))
                if direction is not None:
                    needed, rank_v = k, direction
            if c < needed and c > (rank_v if reml else 0):
                at_every = "" if c == with_data[t, h] else " at every visit"
                rank_note = f" with a mean of rank {rank_v} at each visit" if saturated else ""
                reasons[t] = (f"{subject}: {c} subjects with data{at_every}{where}, fewer than the {needed} needed by "
                              f"covariance 'us' over {k} visits{rank_note}: the likelihood has no maximum (it grows "
                              "without bound towards a singular covariance matrix)")
                break
    return reasons


def _complete_subjects(stats: PatternStats, model: CovarianceModel, t: int, h: int) -> NDArray[np.intp]:
    """The subjects of data set ``t`` and group ``h`` observed at every visit."""
    in_group: NDArray[np.bool_] | bool = True
    if model.n_groups > 1:
        assert stats.group is not None  # a grouped model's data carry each slot's group
        in_group = stats.group[t] == h
    slots = np.flatnonzero(stats.mask[t].all(axis=1) & in_group)
    return np.flatnonzero(np.isin(stats.subject_slot[t], slots))
