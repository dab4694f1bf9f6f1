"""The MMRM objective, SAS's -2 (Res) Log Likelihood with beta profiled out, and its derivatives.

Subjects contribute the visits they have: subject ``i`` with visits ``o_i`` has
``y_i ~ N(X_i beta, Sigma[o_i, o_i])``. Subjects with the same set of visits (the same
missingness pattern) share ``Sigma[o, o]``, so the data enter only through per-pattern
sums of outer products, computed once:

    n_g,  XX_g[a, b] = sum_i X_ia' X_ib,  XY_g[a, b] = sum_i X_ia' y_ib,  YY_g[a, b] = sum_i y_ia y_ib

over the subjects ``i`` of pattern ``g`` (``X_ia`` is the design row of visit ``a``). A
pattern's matrix is padded to ``k x k`` with the identity at the missing visits; its
inverse, with the missing rows and columns set to zero, is ``W_g``. Every quantity below is
then a contraction of ``W_g`` with these sums over all patterns at once: no loop runs over
subjects, and only the one-time construction of the sums loops over the patterns. The
Hessian's ``Q_j = X'V^-1 V_j V^-1 X`` goes through the subjects' zero-padded designs (one
matrix product, ``N k^2 p^2``, rather than ``G k^2 p^2 q`` over the pattern sums).

With ``V = diag(Sigma_i)``, ``P = V^-1 - V^-1 X (X'V^-1 X)^-1 X'V^-1``, ``V_j = dV/dtheta_j``:

    -2 l_REML = (n - p) log(2 pi) + log|V| + log|X'V^-1 X| + y'P y
    -2 l_ML   =  n      log(2 pi) + log|V|                  + y'P y
    d/dtheta_j      = tr(P V_j) - y'P V_j P y                      (REML; V^-1 for P in tr for ML)
    d2/dtheta_j,k   = tr(P V_jk) - tr(P V_j P V_k) + 2 y'P V_j P V_k P y - y'P V_jk P y

(SAS PROC MIXED prints the first line as -2 Res Log Likelihood.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import linalg

from dosefinding.mmrm.covariance import CovarianceStructure

__all__ = ["Evaluation", "PatternStats", "evaluate", "pattern_inverses"]

FloatArray = NDArray[np.float64]
_LOG_2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True)
class PatternStats:
    """Per-missingness-pattern sums of the data (see the module docstring).

    ``x_pad`` (N, k, p) and ``y_pad`` (N, k) hold each subject's design and response with
    zeros at the missing visits; ``pattern`` is each subject's pattern.

    Examples
    --------
    >>> x = np.ones((3, 1)); y = np.array([1.0, 2.0, 3.0])
    >>> stats = PatternStats.from_rows(x, y, subject=np.array([0, 0, 1]), visit=np.array([0, 1, 0]), k=2)
    >>> stats.n.tolist(), stats.mask.tolist()
    ([1, 1], [[True, False], [True, True]])
    """

    mask: NDArray[np.bool_]
    n: NDArray[np.int64]
    xx: FloatArray
    xy: FloatArray
    yy: FloatArray
    n_obs: int
    x_pad: FloatArray
    y_pad: FloatArray
    pattern: NDArray[np.intp]

    @classmethod
    def from_rows(
        cls,
        x: FloatArray,
        y: FloatArray,
        *,
        subject: NDArray[np.intp],
        visit: NDArray[np.intp],
        k: int,
    ) -> PatternStats:
        """Sums from one row per observation; ``subject`` codes 0..N-1, ``visit`` codes 0..k-1."""
        n_subjects, p = int(subject.max()) + 1, x.shape[1]
        present = np.zeros((n_subjects, k), dtype=bool)
        present[subject, visit] = True
        x_pad = np.zeros((n_subjects, k, p))
        x_pad[subject, visit] = x
        y_pad = np.zeros((n_subjects, k))
        y_pad[subject, visit] = y
        masks, pattern = np.unique(present, axis=0, return_inverse=True)
        pattern = pattern.ravel()
        order = np.argsort(pattern, kind="stable")
        counts = np.bincount(pattern, minlength=len(masks))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        # One matrix product per pattern (not per subject): the sums are built once per fit.
        xx = np.empty((len(masks), k, k, p, p))
        xy = np.empty((len(masks), k, k, p))
        yy = np.empty((len(masks), k, k))
        for g, (start, count) in enumerate(zip(starts, counts, strict=True)):
            members = order[start:start + count]
            x_g = x_pad[members].reshape(count, k * p)
            y_g = y_pad[members]
            xx[g] = (x_g.T @ x_g).reshape(k, p, k, p).transpose(0, 2, 1, 3)
            xy[g] = (x_g.T @ y_g).reshape(k, p, k).transpose(0, 2, 1)
            yy[g] = y_g.T @ y_g
        return cls(mask=masks, n=counts, xx=xx, xy=xy, yy=yy, n_obs=int(y.size), x_pad=x_pad, y_pad=y_pad,
                   pattern=pattern)

    @property
    def p(self) -> int:
        """Number of columns of the design."""
        return self.xx.shape[-1]


@dataclass(frozen=True)
class Evaluation:
    """The objective at one ``theta``, with what the fit and the inference need.

    ``hessian`` and ``q`` (the matrices ``X'V^-1 V_j V^-1 X``, so that
    ``d cov(beta) / d theta_j = cov(beta) Q_j cov(beta)``) are present for ``order=2``.
    """

    value: float
    beta: FloatArray
    beta_cov: FloatArray
    gradient: FloatArray | None = None
    hessian: FloatArray | None = None
    q: FloatArray | None = None


def pattern_inverses(stats: PatternStats, sigma: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``W_g`` (G, k, k), the inverse of ``Sigma`` over each pattern's visits (zeros elsewhere), and its log det.

    Raises ``numpy.linalg.LinAlgError`` when ``Sigma`` is not positive definite.
    """
    k = sigma.shape[0]
    observed = stats.mask.astype(float)
    both = observed[:, :, None] * observed[:, None, :]
    padded = sigma[None] * both + np.eye(k)[None] * (1.0 - observed)[:, None, :]
    chol = np.linalg.cholesky(padded)
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    return np.linalg.inv(padded) * both, log_det


def _pairwise_traces(first: FloatArray, w: FloatArray, z: FloatArray) -> FloatArray:
    """``out[j, k] = sum_g tr(D_j W_g D_k Z_g)`` for ``D = first`` (q, k, k), ``W, Z`` (G, k, k).

    Summing ``W_g[b, c] Z_g[d, a]`` over the patterns first leaves a ``k^4`` array, so the
    cost is ``G k^4 + q k^4`` rather than ``q^2 G k^2``.
    """
    q, k = first.shape[0], first.shape[1]
    summed = (w.reshape(-1, k * k).T @ z.reshape(-1, k * k)).reshape(k, k, k, k)  # [b, c, d, a]
    kernel = summed.transpose(3, 0, 1, 2).reshape(k * k, k * k)  # [(a, b), (c, d)]
    flat = first.reshape(q, k * k)
    return flat @ kernel @ flat.T


def evaluate(
    stats: PatternStats,
    structure: CovarianceStructure,
    theta: FloatArray,
    *,
    reml: bool,
    order: int = 1,
) -> Evaluation:
    """-2 (restricted) log likelihood at ``theta``; its gradient (order >= 1) and Hessian (order 2).

    Raises ``numpy.linalg.LinAlgError`` when ``Sigma`` or ``X'V^-1 X`` is not positive definite.

    Examples
    --------
    >>> from dosefinding.mmrm.covariance import get_structure
    >>> x = np.ones((4, 1)); y = np.array([1.0, 2.0, 2.0, 4.0])
    >>> stats = PatternStats.from_rows(x, y, subject=np.array([0, 1, 2, 3]), visit=np.zeros(4, int), k=1)
    >>> e = evaluate(stats, get_structure("us", 1), np.array([0.0]), reml=True)
    >>> round(e.value, 6), e.beta.tolist()
    (11.649926, [2.25])
    """
    p, n_groups, k = stats.p, len(stats.n), stats.mask.shape[1]
    sigma, first, second = structure.evaluate(theta)
    w, log_det = pattern_inverses(stats, sigma)

    w_flat = w.reshape(-1)
    xx_flat = stats.xx.reshape(-1, p * p)
    xtwx = (w_flat @ xx_flat).reshape(p, p)
    xtwy = w_flat @ stats.xy.reshape(-1, p)
    ywy = float(w_flat @ stats.yy.reshape(-1))
    factor = linalg.cho_factor(xtwx, lower=True, check_finite=False)
    beta = linalg.cho_solve(factor, xtwy, check_finite=False)
    beta_cov = linalg.cho_solve(factor, np.eye(p), check_finite=False)
    quad = ywy - float(beta @ xtwy)
    value = float(stats.n @ log_det) + quad
    if reml:
        value += 2.0 * float(np.log(np.diag(factor[0])).sum()) + (stats.n_obs - p) * _LOG_2PI
    else:
        value += stats.n_obs * _LOG_2PI
    if order == 0:
        return Evaluation(value=value, beta=beta, beta_cov=beta_cov)

    xy_beta = stats.xy @ beta
    resid_cross = stats.yy - xy_beta - xy_beta.transpose(0, 2, 1) + (stats.xx @ beta) @ beta
    middle = resid_cross
    if reml:
        x_cov = (xx_flat @ beta_cov.reshape(-1)).reshape(n_groups, k, k)
        middle = middle + x_cov
    w_middle_w = w @ middle @ w
    m = np.tensordot(stats.n, w, axes=1) - w_middle_w.sum(axis=0)
    q = len(theta)
    gradient = first.reshape(q, -1) @ m.reshape(-1)
    if order == 1:
        return Evaluation(value=value, beta=beta, beta_cov=beta_cov, gradient=gradient)

    # g_z[j] = X'V^-1 V_j P y = sum_g sum_ab (W D_j W)[a, b] sum_i X_ia' r_ib
    #        = sum_cd D_j[c, d] sum_g (W R_g[:, :, p] W)[c, d], with R_g[a, b] = sum_i X_ia' r_ib.
    x_resid = stats.xy - stats.xx @ beta
    left = (w.transpose(0, 2, 1) @ x_resid.reshape(n_groups, k, k * p)).reshape(n_groups, k, k, p)  # [g, c, b, p]
    w_r_w = (left.transpose(1, 3, 0, 2).reshape(k * p, n_groups * k) @ w.reshape(n_groups * k, k)).reshape(k, p, k)
    w_r_w = w_r_w.transpose(0, 2, 1)
    g_z = first.reshape(q, k * k) @ w_r_w.reshape(k * k, p)
    # sum_g tr(D_j W D_k Z_g) collects -tr(V^-1 V_j V^-1 V_k), the quadratic term's
    # 2 y'P V_j V^-1 V_k P y and (REML) the 2 tr(V^-1 V_j V^-1 X A X'V^-1 V_k) of tr(P V_j P V_k).
    z = 2.0 * w_middle_w - stats.n[:, None, None] * w
    hessian = (
        second.reshape(q, q, -1) @ m.reshape(-1)
        + _pairwise_traces(first, w, z)
        - 2.0 * g_z @ beta_cov @ g_z.T
    )
    # Q_j = sum_ab D_j[a, b] sum_i (W X_i)_a' (W X_i)_b over the subjects' padded designs.
    n_subjects = stats.x_pad.shape[0]
    w_x = (w[stats.pattern] @ stats.x_pad).reshape(n_subjects, k * p)
    cross = (w_x.T @ w_x).reshape(k, p, k, p).transpose(0, 2, 1, 3).reshape(k * k, p * p)
    q_mats = (first.reshape(q, k * k) @ cross).reshape(q, p, p)
    if reml:
        a_q = beta_cov[None] @ q_mats
        hessian -= np.einsum("jab,kba->jk", a_q, a_q)
    hessian = 0.5 * (hessian + hessian.T)
    return Evaluation(
        value=value, beta=beta, beta_cov=beta_cov, gradient=gradient, hessian=hessian, q=q_mats
    )
