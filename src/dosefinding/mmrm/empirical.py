"""The empirical (sandwich) covariance of the MMRM coefficients, SAS's EMPIRICAL option.

``A (sum_i X_i' Sigma_i^-1 r_i r_i' Sigma_i^-1 X_i) A`` with ``A = (X'V^-1 X)^-1`` and the
residuals ``r_i = y_i - X_i beta`` (the classical sandwich, no small-sample factor: CR0).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from dosefinding.mmrm.likelihood import PatternStats, pattern_inverses

__all__ = ["empirical_cov"]

FloatArray = NDArray[np.float64]


def empirical_cov(stats: PatternStats, sigma: FloatArray, beta: FloatArray, beta_cov: FloatArray) -> FloatArray:
    """The sandwich covariance of ``beta`` for the covariance matrix ``sigma`` over the visits.

    Examples
    --------
    >>> x = np.ones((4, 1)); y = np.array([1.0, 2.0, 2.0, 4.0])
    >>> stats = PatternStats.from_rows(x, y, subject=np.arange(4), visit=np.zeros(4, int), k=1)
    >>> empirical_cov(stats, np.eye(1), np.array([2.25]), np.full((1, 1), 0.25)).round(6).tolist()
    [[0.296875]]
    """
    w, _ = pattern_inverses(stats, sigma)
    resid = stats.y_pad - stats.x_pad @ beta
    scores = np.einsum("nap,nab,nb->np", stats.x_pad, w[stats.pattern], resid)
    return beta_cov @ (scores.T @ scores) @ beta_cov
