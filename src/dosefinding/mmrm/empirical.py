"""The empirical (sandwich) covariance of the MMRM coefficients, SAS's EMPIRICAL option.

``A (sum_i X_i' Sigma_i^-1 r_i r_i' Sigma_i^-1 X_i) A`` with ``A = (X'V^-1 X)^-1`` and the
residuals ``r_i = y_i - X_i beta`` (the classical sandwich, no small-sample factor: CR0).
Each subject's score ``X_i' W r_i`` comes from its visit pieces
(:class:`~dosefinding.mmrm.likelihood.VisitPieces`): ``C' (u_i o (W r_i)[visit])``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from dosefinding.mmrm.likelihood import PatternStats, pattern_inverses

__all__ = ["empirical_cov", "sandwich"]

FloatArray = NDArray[np.float64]


def empirical_cov(stats: PatternStats, sigma: FloatArray, beta: FloatArray, beta_cov: FloatArray) -> FloatArray:
    """The sandwich covariance of ``beta`` of a single data set for ``Sigma`` (k, k), or one per slot (G, k, k).

    Examples
    --------
    >>> x = np.ones((4, 1)); y = np.array([1.0, 2.0, 2.0, 4.0])
    >>> stats = PatternStats.from_rows(x, y, subject=np.arange(4), visit=np.zeros(4, int), k=1)
    >>> empirical_cov(stats, np.eye(1), np.array([2.25]), np.full((1, 1), 0.25)).round(6).tolist()
    [[0.296875]]
    """
    w, _ = pattern_inverses(stats, sigma)
    return sandwich(stats, w[None], beta[None], beta_cov[None])[0]


def sandwich(stats: PatternStats, w: FloatArray, beta: FloatArray, beta_cov: FloatArray) -> FloatArray:
    """The sandwich covariance (T, p, p) of every data set of ``stats``, from each slot's ``W_g`` (T, G, k, k),
    the estimates (T, p) and their model-based covariance (T, p, p)."""
    pieces = stats.pieces
    u = stats.subject_u
    fitted = (u * pieces.from_columns(beta)[:, None, :]) @ pieces.selector.T  # X_i beta at every visit
    resid = stats.subject_y - fitted
    w_subject = np.take_along_axis(w, stats.subject_slot[:, :, None, None], axis=1)
    w_resid = np.einsum("tnab,tnb->tna", w_subject, resid)
    scores = pieces.to_columns(u * w_resid[:, :, pieces.visit])
    return beta_cov @ (scores.transpose(0, 2, 1) @ scores) @ beta_cov
