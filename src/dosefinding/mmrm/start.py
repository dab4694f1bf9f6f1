"""Starting values of the MMRM fit and the scale of the response: one rule for a single fit and a batch.

From the ordinary least squares fit of each data set, the covariance of its residuals over
the pairs of visits observed together (a pair never observed together gets 0), with its
eigenvalues kept above 1e-3 of its mean variance; the second start is its diagonal (the
variances alone). A spatial structure's range starts from the mean distance between
consecutive visits, at each data set's mean visit positions. The square root of the mean
variance is the scale by which the response
is divided before the fit (:mod:`dosefinding.mmrm.engine`): the starting covariance of the
scaled response has mean variance 1, whatever the units of the response.
"""

from __future__ import annotations

from typing import cast

import numpy as np
from numpy.typing import NDArray

from dosefinding.mmrm.covariance import CovarianceModel
from dosefinding.mmrm.likelihood import PatternStats, cross_products, residual_crossproducts

__all__ = ["ols_covariance", "response_scale", "starting_points"]

FloatArray = NDArray[np.float64]
# Eigenvalues of the starting covariance are kept above this fraction of its mean variance.
_EIGEN_FLOOR = 1e-3


def ols_covariance(stats: PatternStats) -> tuple[FloatArray, NDArray[np.bool_]]:
    """The covariance of the OLS residuals over the pairs of visits observed together (T, k, k), and where OLS is
    defined (its normal equations positive definite).

    Examples
    --------
    >>> x = np.ones((6, 1)); y = np.array([1.0, 2.0, 3.0, 5.0, 2.0, 2.0])
    >>> stats = PatternStats.from_rows(x, y, subject=np.repeat(np.arange(3), 2), visit=np.tile([0, 1], 3), k=2)
    >>> empirical, ok = ols_covariance(stats)
    >>> empirical[0].round(4).tolist(), ok.tolist()
    ([[0.9167, 0.75], [0.75, 2.25]], [True])
    """
    mask = stats.mask.astype(float)
    both = mask[:, :, :, None] * mask[:, :, None, :]
    xtx, xty, _ = cross_products(stats, both * np.eye(stats.k))
    p = xtx.shape[-1]
    try:
        np.linalg.cholesky(xtx)
        ok = np.ones(len(xtx), dtype=bool)
    except np.linalg.LinAlgError:
        ok = np.array([bool(np.linalg.eigvalsh(a)[0] > 0) if np.all(np.isfinite(a)) else False for a in xtx])
    # cast: numpy's stubs type linalg results as floating[Any]
    beta = cast(FloatArray, np.linalg.solve(np.where(ok[:, None, None], xtx, np.eye(p)), xty[:, :, None])[:, :, 0])
    resid = (residual_crossproducts(stats, stats.pieces.from_columns(beta), None) * both).sum(axis=1)
    pairs = (stats.n[:, :, None, None] * both).sum(axis=1)
    return np.where(pairs > 0, resid / np.maximum(pairs, 1), 0.0), ok


def response_scale(empirical: FloatArray) -> FloatArray:
    """The root mean variance of each empirical covariance (T,), 1 where it is not positive and finite."""
    variance = np.diagonal(empirical, axis1=-2, axis2=-1).mean(axis=-1)
    good = np.isfinite(variance) & (variance > 0)
    return np.where(good, np.sqrt(np.where(good, variance, 1.0)), 1.0)


def starting_points(empirical: FloatArray, model: CovarianceModel,
                    positions: FloatArray | None = None) -> list[tuple[str, FloatArray]]:
    """The named starts (T, q): from the empirical covariance (T, k, k), eigenvalues floored, and from its diagonal.

    ``positions`` (T, k) or (T, k, d): each data set's mean visit positions, for spatial structures.
    """
    variances = np.diagonal(empirical, axis1=-2, axis2=-1)
    floor = _EIGEN_FLOOR * np.maximum(variances.mean(axis=-1), np.finfo(float).tiny)
    values, vectors = np.linalg.eigh(empirical)
    floored = (vectors * np.maximum(values, floor[:, None])[:, None, :]) @ vectors.transpose(0, 2, 1)
    diagonal = np.maximum(variances, floor[:, None])[:, :, None] * np.eye(empirical.shape[-1])
    return [("OLS residual covariance", model.start(floored, positions)),
            ("OLS residual variances", model.start(diagonal, positions))]
