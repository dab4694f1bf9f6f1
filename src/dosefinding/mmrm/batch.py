"""One MMRM fitted to many data sets at once: the first stage of simulated trials.

:func:`fit_mmrm_batch` fits the model of :func:`dosefinding.mmrm.mmrm` (the same
likelihood, parametrisation, starting values and convergence criterion, see
:mod:`dosefinding.mmrm.likelihood` and :mod:`dosefinding.mmrm.optimize`) to ``T`` trials
that share the design's structure: responses ``y`` (T, N, V) with NaN at the missing
visits and a design ``x`` (N, V, p) shared by all trials or (T, N, V, p) per trial. Every
step runs on arrays over the trials; only the trials not yet converged are iterated.

How it stays cheap. Each design column is split into visit-specific pieces (its values
at one visit, zero elsewhere); pieces that are zero for every subject are dropped and,
within a visit, a basis of the remaining ones is kept (pivoted QR), so that
``X_i = U_i C`` with ``U_i[a, j] = u_ij [visit(j) = a]`` and ``C`` mapping the ``p'``
basis pieces to the ``p`` columns. For the usual design of cell means by arm and visit
plus baseline by visit, ``p' = p`` and ``C = I``. Then, per trial and missingness
pattern ``g`` (``n_g`` subjects, ``W_g`` the inverse of ``Sigma`` over its visits,
zero-padded),

    X'V^-1 X = C' (sum_g W_g[visit(j), visit(l)] UU_g[j, l]) C,    UU_g = sum_(i in g) u_i u_i',

and the residual sums, gradient and Hessian of :func:`dosefinding.mmrm.likelihood.evaluate`
are the same contractions of ``UU_g``, ``UY_g = sum u_i y_i'`` and ``YY_g = sum y_i y_i'``
(``p'^2 G`` work per trial and evaluation instead of ``N V p^2``). When the pieces hold
the same values at every visit (cell means, covariate by visit: ``u_i`` is ``z_i`` at each
visit), ``UU_g`` tiles ``ZZ_g = sum z_i z_i'`` and ``X'V^-1 X = sum_g W_g kron ZZ_g``,
computed as such. This is exact: no imputation, the padded identity only makes the
missing visits drop out.

The optimiser is Newton's method with a backtracking line search (Armijo) on the
-2 (restricted) log likelihood, modified Hessian where it is not positive definite,
from ``mmrm()``'s starting values (the covariance of the OLS residuals over the pairs of
visits observed together, per trial). The iterations use the Hessian without REML's
``-tr(A Q_j A Q_l)`` term (see :func:`_evaluate`; it costs more than the rest together);
at the end every point is checked with the exact Hessian: a trial has converged when that
is positive definite and the Newton decrement ``g'H^-1 g`` is at most
``1e-12 max(|f|, 1)``, the criterion of ``mmrm()``, and one exact Newton step is then
taken (quadratic convergence: the remaining error falls to rounding). A trial that
does not get there in ``max_iter`` iterations, whose line search fails, or whose
``X'V^-1 X`` is singular comes back with ``converged = False`` (estimates NaN in the
last case).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import linalg

from dosefinding.errors import InputError
from dosefinding.mmrm.fit import _START_EIGEN_FLOOR
from dosefinding.mmrm.optimize import CONVERGED

__all__ = ["BatchMMRMResult", "fit_mmrm_batch"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
_LOG_2PI = float(np.log(2 * np.pi))
_STRUCTURES = ("us", "cs", "ar1")
# Relative size of a pivoted-QR diagonal below which a visit piece of a column is a
# combination of the pieces before it.
_BASIS_TOL = 1e-10
_ARMIJO = 1e-4
_MAX_HALVINGS = 40
# Largest change of one variance parameter (log scale) in one Newton step.
_MAX_STEP = 3.0
_CHUNK = 128
_EXACT_ROUNDS = 3
# Missingness patterns are coded as bits of an int64 together with the trial number.
_MAX_VISITS = 40
# Relative Newton decrement under which a full exact Newton step is taken without a line search.
_NEAR = 1e-6
# Sigma (T, k, k), its first derivatives (T, q, k, k) and m -> the contraction of the second with m.
_Sigma = tuple[FloatArray, FloatArray | None, Callable[[FloatArray], FloatArray] | None]


@dataclass(frozen=True)
class BatchMMRMResult:
    """MMRM fits of many trials with the same model.

    Attributes
    ----------
    beta, beta_cov
        Estimates (T, p) and their model-based covariance ``(X'V^-1 X)^-1`` (T, p, p).
    sigma
        The covariance matrix over the visits (T, V, V).
    theta
        The variance parameters as :mod:`dosefinding.mmrm.covariance` defines them (T, q).
    m2_log_likelihood
        SAS's -2 Res Log Likelihood (REML) or -2 Log Likelihood (ML), (T,).
    converged
        Whether each fit met ``mmrm()``'s criterion (T,); the estimates of the others are
        those of the last point reached (NaN when ``X'V^-1 X`` was singular).
    iterations
        Newton iterations per trial (T,).
    n_obs
        Observations used per trial (T,).
    covariance_structure, reml
        The model as fitted.
    """

    beta: FloatArray
    beta_cov: FloatArray
    sigma: FloatArray
    theta: FloatArray
    m2_log_likelihood: FloatArray
    converged: BoolArray
    iterations: NDArray[np.int64]
    n_obs: NDArray[np.int64]
    covariance_structure: str
    reml: bool = field(default=True)

    def contrast(self, contrasts: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Estimates (T, m) and covariance (T, m, m) of ``L beta`` for each row of ``contrasts`` (m, p).

        Examples
        --------
        >>> fit = _example_fit()
        >>> estimate, cov = fit.contrast([[0, 0, 0, 1, 0, 0, 0, 0]])
        >>> estimate.shape, cov.shape
        ((3, 1), (3, 1, 1))
        """
        c = np.atleast_2d(np.asarray(contrasts, dtype=float))
        p = self.beta.shape[1]
        if c.ndim != 2 or c.shape[1] != p:
            raise InputError(f"contrasts: need shape (m, {p}), got {np.shape(contrasts)}")
        if not np.all(np.isfinite(c)):
            raise InputError("contrasts: must be finite")
        return self.beta @ c.T, c @ self.beta_cov @ c.T

    def summary(self) -> str:
        """A short account of the batch: trials, convergence, iterations and -2 log likelihoods."""
        likelihood = "-2 Res Log Likelihood" if self.reml else "-2 Log Likelihood"
        ll = self.m2_log_likelihood[self.converged]
        lines = [
            (f"Batch MMRM: {len(self.converged)} trials, covariance {self.covariance_structure}, "
             f"{'REML' if self.reml else 'ML'}"),
            (f"Converged: {int(self.converged.sum())} of {len(self.converged)}; "
             f"iterations median {float(np.median(self.iterations)):.0f}, max {int(self.iterations.max())}"),
        ]
        if ll.size:
            lines.append(f"{likelihood} (converged): median {float(np.median(ll)):.4f}, "
                         f"range {float(ll.min()):.4f} to {float(ll.max()):.4f}")
        return "\n".join(lines)


def _example_fit() -> BatchMMRMResult:
    """Three simulated trials for the docstring examples: 2 arms x 20 subjects, 4 visits, cell means."""
    rng = np.random.default_rng(2)
    arm = np.repeat([0, 1], 20)
    x = np.zeros((40, 4, 8))
    x[np.arange(40)[:, None], np.arange(4)[None], arm[:, None] * 4 + np.arange(4)[None]] = 1.0
    y = rng.normal(size=(3, 40, 4)) + rng.normal(size=(3, 40, 1)) + 0.5 * arm[None, :, None]
    y[:, :6, 3] = np.nan
    return fit_mmrm_batch(y, x)


# --------------------------------------------------------------------------- structures


def _us_sigma(theta: FloatArray, k: int, order: int) -> _Sigma:
    """Batched :class:`dosefinding.mmrm.covariance.Unstructured` (log-Cholesky): ``Sigma``, first, second derivatives."""
    n, q = theta.shape
    rows, cols = np.tril_indices(k, -1)
    rows = np.concatenate([np.arange(k), rows])
    cols = np.concatenate([np.arange(k), cols])
    values = theta.copy()
    values[:, :k] = np.exp(theta[:, :k])
    chol = np.zeros((n, k, k))
    chol[:, rows, cols] = values
    sigma = chol @ chol.transpose(0, 2, 1)
    if order == 0:
        return sigma, None, None
    # dL_j has the single entry v_j at (rows_j, cols_j); v_j = exp(theta_j) on the diagonal, else 1.
    v = np.concatenate([values[:, :k], np.ones((n, q - k))], axis=1)
    e_row = np.eye(k)[rows]  # (q, k)
    l_col = chol[:, :, cols].transpose(0, 2, 1)  # (n, q, k): column cols_j of L
    half = v[:, :, None, None] * e_row[None, :, :, None] * l_col[:, :, None, :]  # dL_j L'
    first = half + half.transpose(0, 1, 3, 2)
    same_col = (cols[:, None] == cols[None, :]).astype(float)
    vv = v[:, :, None] * v[:, None, :] * same_col
    diag = np.arange(k)

    def second(m: FloatArray) -> FloatArray:
        # d2 Sigma / d theta_j d theta_l = dL_j dL_l' + dL_l dL_j' (+ dSigma/dtheta_j when j = l < k):
        # against a symmetric m, 2 v_j v_l [cols_j = cols_l] m[rows_j, rows_l].
        out = 2.0 * vv * m[:, rows][:, :, rows]
        out[:, diag, diag] += (first[:, :k] * m[:, None]).sum(axis=(2, 3))
        return out

    return sigma, first, second


def _cs_sigma(theta: FloatArray, k: int, order: int) -> _Sigma:
    """Batched :class:`dosefinding.mmrm.covariance.CompoundSymmetry`."""
    s = np.exp(theta[:, 0])[:, None, None]
    lower = -1.0 / (k - 1)
    e = 1.0 / (1.0 + np.exp(-theta[:, 1]))[:, None, None]
    span = 1.0 - lower
    rho, d_rho, d2_rho = lower + span * e, span * e * (1 - e), span * e * (1 - e) * (1 - 2 * e)
    eye = np.eye(k)[None]
    off = 1.0 - eye
    sigma = s * (eye + rho * off)
    if order == 0:
        return sigma, None, None
    d_t = s * d_rho * off
    first = np.stack([sigma, d_t], axis=1)
    second = np.stack([np.stack([sigma, d_t], axis=1), np.stack([d_t, s * d2_rho * off], axis=1)], axis=1)
    return sigma, first, _contraction(second)


def _ar1_sigma(theta: FloatArray, k: int, order: int) -> _Sigma:
    """Batched :class:`dosefinding.mmrm.covariance.AutoRegressive`."""
    s = np.exp(theta[:, 0])[:, None, None]
    rho = np.tanh(theta[:, 1])[:, None, None]
    lag = np.abs(np.subtract.outer(np.arange(k), np.arange(k)))[None]
    sigma = s * rho**lag
    if order == 0:
        return sigma, None, None
    d_rho = 1 - rho**2
    d2_rho = -2 * rho * d_rho
    power1 = np.where(lag >= 1, rho ** np.maximum(lag - 1, 0), 0.0)
    power2 = np.where(lag >= 2, rho ** np.maximum(lag - 2, 0), 0.0)
    d_t = s * lag * power1 * d_rho
    d2_t = s * (lag * (lag - 1) * power2 * d_rho**2 + lag * power1 * d2_rho)
    first = np.stack([sigma, d_t], axis=1)
    second = np.stack([np.stack([sigma, d_t], axis=1), np.stack([d_t, d2_t], axis=1)], axis=1)
    return sigma, first, _contraction(second)


def _contraction(second: FloatArray) -> Callable[[FloatArray], FloatArray]:
    """``m -> sum_ab second[:, j, l, a, b] m[:, a, b]`` for second derivatives (T, q, q, k, k)."""
    t_count, q, k = second.shape[0], second.shape[1], second.shape[-1]
    return lambda m: (second.reshape(t_count, q * q, k * k) @ m.reshape(t_count, k * k, 1)).reshape(t_count, q, q)


_SIGMA: dict[str, Callable[[FloatArray, int, int], _Sigma]] = {"us": _us_sigma, "cs": _cs_sigma, "ar1": _ar1_sigma}


def _n_params(structure: str, k: int) -> int:
    return k * (k + 1) // 2 if structure == "us" else 2


def _start_theta(structure: str, empirical: FloatArray) -> FloatArray:
    """Batched ``start()`` of the structures from positive definite matrices (n, k, k)."""
    k = empirical.shape[1]
    if structure == "us":
        chol = np.linalg.cholesky(empirical)
        rows, cols = np.tril_indices(k, -1)
        return np.concatenate([np.log(np.diagonal(chol, axis1=1, axis2=2)), chol[:, rows, cols]], axis=1)
    variances = np.diagonal(empirical, axis1=1, axis2=2)
    s = variances.mean(axis=1)
    sd = np.sqrt(variances)
    corr = empirical / (sd[:, :, None] * sd[:, None, :])
    if structure == "cs":
        iu = np.triu_indices(k, 1)
        rho = corr[:, iu[0], iu[1]].mean(axis=1)
        lower = -1.0 / (k - 1)
        fraction = np.clip((rho - lower) / (1 - lower), 0.05, 0.95)
        return np.stack([np.log(s), np.log(fraction / (1 - fraction))], axis=1)
    rho = np.clip(np.diagonal(corr, 1, axis1=1, axis2=2).mean(axis=1), -0.9, 0.9)
    return np.stack([np.log(s), np.arctanh(rho)], axis=1)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class _Design:
    """The visit-specific basis pieces: ``visit`` (p',), the map ``basis`` (p', p) or None for the identity."""

    visit: NDArray[np.intp]
    basis: FloatArray | None
    selector: FloatArray  # (k, p'): selector[a, j] = [visit(j) = a]
    pairs: NDArray[np.intp]  # (p', p'): visit(j) k + visit(l), to gather W[visit(j), visit(l)]
    repeated: bool = False  # the same values u_i at every visit (cell means by visit, covariate by visit)


def _design_basis(x: FloatArray) -> tuple[FloatArray, _Design]:
    """Split the columns of ``x`` (..., N, V, p) into visit pieces and keep a basis of them per visit."""
    n_subjects, k, p = x.shape[-3], x.shape[-2], x.shape[-1]
    pieces_u, visits, rows = [], [], []
    for a in range(k):
        values = x[..., a, :].reshape(-1, p)  # every subject (and trial) at visit a
        nonzero = np.flatnonzero(np.any(values != 0, axis=0))
        if nonzero.size == 0:
            continue
        sub = values[:, nonzero]
        # A basis from the first trial's rows, checked on all rows (else found from all of them).
        keep, coef = _column_basis(sub[:n_subjects])
        scale = float(np.abs(sub).max())
        if sub.shape[0] > n_subjects and np.abs(sub - sub[:, keep] @ coef).max() > _BASIS_TOL * scale:
            keep, coef = _column_basis(sub)
        block = np.zeros((keep.size, p))
        block[:, nonzero] = coef
        pieces_u.append(x[..., a, nonzero[keep]])
        visits.append(np.full(keep.size, a))
        rows.append(block)
    u = np.concatenate(pieces_u, axis=-1)
    visit = np.concatenate(visits).astype(np.intp)
    basis = np.vstack(rows)
    identity = basis.shape[0] == p and np.array_equal(basis, np.eye(p))
    selector = (visit[None, :] == np.arange(k)[:, None]).astype(float)
    pairs = visit[:, None] * k + visit[None, :]
    counts = np.bincount(visit, minlength=k)
    repeated = bool(np.all(counts == counts[0]))
    if repeated:
        by_visit = u.reshape(*u.shape[:-1], k, int(counts[0]))
        repeated = bool(np.array_equal(by_visit, np.broadcast_to(by_visit[..., :1, :], by_visit.shape)))
    return u, _Design(visit=visit, basis=None if identity else basis, selector=selector, pairs=pairs,
                      repeated=repeated)


def _column_basis(values: FloatArray) -> tuple[NDArray[np.intp], FloatArray]:
    """Columns of ``values`` forming a basis (pivoted QR) and every column as their combination (rank, m)."""
    _, r, piv = linalg.qr(values, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    rank = int(np.sum(diag > _BASIS_TOL * diag[0]))
    keep = np.sort(piv[:rank])
    coef = np.linalg.lstsq(values[:, keep], values, rcond=None)[0]
    coef[np.abs(coef) < 1e-12] = 0.0
    coef[:, keep] = np.eye(rank)
    return keep, coef


@dataclass(frozen=True)
class _Stats:
    """Per trial and missingness-pattern slot: counts (T, G), masks (T, G, k) and the sums of the module docstring."""

    n: FloatArray
    mask: FloatArray
    uu: FloatArray
    uy: FloatArray
    yy: FloatArray
    n_obs: FloatArray

    def take(self, index: NDArray[np.intp]) -> _Stats:
        return _Stats(self.n[index], self.mask[index], self.uu[index], self.uy[index], self.yy[index],
                      self.n_obs[index])


def _pattern_stats(y: FloatArray, u: FloatArray, repeated: bool = False) -> _Stats:
    """The sums per trial and pattern, from ``y`` (T, N, k) with NaN and ``u`` (N, p') or (T, N, p').

    ``repeated``: the pieces are the same ``p' / k`` values at every visit (:attr:`_Design.repeated`).
    """
    t_count, n_subjects, k = y.shape
    observed = ~np.isnan(y)
    code = observed.astype(np.int64) @ (1 << np.arange(k))
    key = np.arange(t_count)[:, None] * (1 << k) + code
    unique, inverse = np.unique(key, return_inverse=True)
    inverse = inverse.reshape(t_count, n_subjects)
    trial_of = unique >> k
    first = np.searchsorted(trial_of, np.arange(t_count))
    slot = inverse - first[:, None]
    n_slots = int(np.bincount(trial_of, minlength=t_count).max())
    codes = np.zeros((t_count, n_slots), dtype=np.int64)
    codes[trial_of, np.arange(len(unique)) - first[trial_of]] = unique & ((1 << k) - 1)
    one_hot = np.zeros((t_count, n_slots, n_subjects))
    one_hot[np.arange(t_count)[:, None], slot, np.arange(n_subjects)[None]] = 1.0
    mask = ((codes[:, :, None] >> np.arange(k)) & 1).astype(float)
    y0 = np.where(observed, y, 0.0)
    p = u.shape[-1]
    # With the same pieces at every visit (u = z at each visit), the sums are those of z, tiled.
    z = u[..., :p // k] if repeated else u
    r = z.shape[-1]
    z_t = np.broadcast_to(z, (t_count, n_subjects, r)) if z.ndim == 2 else z
    hz_t = (one_hot[:, :, :, None] * z_t[:, None]).transpose(0, 1, 3, 2).reshape(t_count, n_slots * r, n_subjects)
    uu = (hz_t @ z_t).reshape(t_count, n_slots, r, r)
    uy = (hz_t @ y0).reshape(t_count, n_slots, r, k)
    if repeated:
        uu = np.tile(uu, (1, 1, k, k))
        uy = np.tile(uy, (1, 1, k, 1))
    yy = one_hot @ (y0[:, :, :, None] * y0[:, :, None, :]).reshape(t_count, n_subjects, k * k)
    return _Stats(n=one_hot.sum(axis=2), mask=mask, uu=uu.reshape(t_count, n_slots, p, p), uy=uy,
                  yy=yy.reshape(t_count, n_slots, k, k), n_obs=observed.sum(axis=(1, 2)).astype(float))


# --------------------------------------------------------------------------- likelihood


@dataclass(frozen=True)
class _Evaluation:
    value: FloatArray
    beta: FloatArray
    beta_cov: FloatArray
    sigma: FloatArray
    ok: BoolArray
    gradient: FloatArray | None = None
    hessian: FloatArray | None = None


def _cholesky(a: FloatArray) -> tuple[FloatArray, BoolArray]:
    """Batched Cholesky factors of (..., n, n) and which matrices are positive definite (identity for the others)."""
    try:
        return np.linalg.cholesky(a), np.ones(a.shape[:-2], dtype=bool)
    except np.linalg.LinAlgError:
        pass
    size = a.shape[-1]
    flat = a.reshape(-1, size, size)
    finite = np.all(np.isfinite(flat), axis=(1, 2))
    safe = np.where(finite[:, None, None], flat, np.eye(size))
    ok = finite & (np.linalg.eigvalsh(safe)[:, 0] > 0)
    chol = np.broadcast_to(np.eye(size), flat.shape).copy()
    try:
        chol[ok] = np.linalg.cholesky(safe[ok])
    except np.linalg.LinAlgError:
        for i in np.flatnonzero(ok):  # eigvalsh and potrf disagree at the edge of definiteness
            try:
                chol[i] = np.linalg.cholesky(safe[i])
            except np.linalg.LinAlgError:
                ok[i] = False
    return chol.reshape(a.shape), ok.reshape(a.shape[:-2])


def _inverses(stats: _Stats, sigma: FloatArray) -> tuple[FloatArray, FloatArray, BoolArray]:
    """``W`` (T, G, k, k), the zero-padded inverse of ``Sigma`` over each pattern's visits, and ``log|Sigma_g|``."""
    k = sigma.shape[-1]
    both = stats.mask[:, :, :, None] * stats.mask[:, :, None, :]
    padded = sigma[:, None] * both + np.eye(k) * (1.0 - stats.mask)[:, :, None, :]
    chol, ok = _cholesky(padded)
    ok = ok.all(axis=1)
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=2, axis2=3)).sum(axis=2)
    inv_chol = np.linalg.inv(chol)
    w = (inv_chol.transpose(0, 1, 3, 2) @ inv_chol) * both
    return w, log_det, ok


def _cross(stats: _Stats, design: _Design, w: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``X'WX`` (T, p, p), ``X'Wy`` (T, p) and ``y'Wy`` (T,)."""
    t_count, n_slots, k = w.shape[0], w.shape[1], w.shape[2]
    if design.repeated:
        # sum_g W_g kron ZZ_g and sum_g sum_b W_g[a, b] ZY_g[i, b], ZZ_g and ZY_g the first blocks of uu_g, uy_g.
        r = design.visit.size // k
        zz = stats.uu[:, :, :r, :r].reshape(t_count, n_slots, r * r)
        xtwx = (w.reshape(t_count, n_slots, k * k).transpose(0, 2, 1) @ zz).reshape(t_count, k, k, r, r)
        xtwx = xtwx.transpose(0, 1, 3, 2, 4).reshape(t_count, k * r, k * r)
        xtwy = (w @ stats.uy[:, :, :r].transpose(0, 1, 3, 2)).sum(axis=1).reshape(t_count, k * r)
    else:
        w_pairs = np.take(w.reshape(t_count, n_slots, k * k), design.pairs, axis=2)
        xtwx = (w_pairs * stats.uu).sum(axis=1)
        xtwy = (w[:, :, design.visit] * stats.uy).sum(axis=(1, 3))
    ywy = (w * stats.yy).sum(axis=(1, 2, 3))
    if design.basis is not None:
        xtwx = design.basis.T @ xtwx @ design.basis
        xtwy = xtwy @ design.basis
    return xtwx, xtwy, ywy


def _middle(stats: _Stats, design: _Design, beta_t: FloatArray, cov_t: FloatArray | None) -> FloatArray:
    """Per pattern ``sum_i r_i r_i'`` (+ ``sum_i X_i A X_i'`` for REML), (T, G, k, k); ``beta_t = C beta``, ``cov_t = C A C'``."""
    s = design.selector
    e = (s[None] * beta_t[:, None, :])[:, None] @ stats.uy  # sum_i (X_i beta) y_i'
    quad = beta_t[:, :, None] * beta_t[:, None, :]
    if cov_t is not None:
        quad = quad + cov_t
    if design.repeated:
        # uu_g tiles z's sums ZZ_g: f_g[a, b] = sum_ij quad[(a, i), (b, j)] ZZ_g[i, j].
        t_count, n_slots, k = stats.yy.shape[:3]
        r = beta_t.shape[1] // k
        zz = stats.uu[:, :, :r, :r].reshape(t_count, n_slots, r * r)
        blocks = quad.reshape(t_count, k, r, k, r).transpose(0, 2, 4, 1, 3).reshape(t_count, r * r, k * k)
        f = (zz @ blocks).reshape(t_count, n_slots, k, k)
    else:
        f = s @ (quad[:, None] * stats.uu) @ s.T
    return stats.yy - e - e.transpose(0, 1, 3, 2) + f


def _evaluate(stats: _Stats, design: _Design, structure: str, theta: FloatArray, *, reml: bool,
              order: int) -> _Evaluation:
    """-2 (restricted) log likelihood of each trial at its ``theta``; gradient and Hessian for ``order >= 2``.

    ``order=3`` gives the exact Hessian of :func:`dosefinding.mmrm.likelihood.evaluate`;
    ``order=2`` leaves out REML's ``-tr(A Q_j A Q_l)`` (``A = (X'V^-1 X)^-1``), the one
    costly term (``q p'^2 G + q p^3`` per trial). That term is negative semi-definite
    and ``O(p / n)`` against the rest, so the Newton steps with the ``order=2`` matrix
    are slightly short and converge linearly at a rate of about ``p / n``.
    """
    t_count, k = stats.mask.shape[0], stats.mask.shape[2]
    sigma, first, second = _SIGMA[structure](theta, k, 0 if order <= 1 else order)
    w, log_det, ok_sigma = _inverses(stats, sigma)
    xtwx, xtwy, ywy = _cross(stats, design, w)
    chol_x, ok_x = _cholesky(xtwx)
    p = xtwx.shape[-1]
    if order == 0:
        beta_cov = np.empty((0, p, p))
        beta = np.linalg.solve(np.where(ok_x[:, None, None], xtwx, np.eye(p)), xtwy[:, :, None])[:, :, 0]
    else:
        inv_chol_x = np.linalg.inv(chol_x)
        beta_cov = inv_chol_x.transpose(0, 2, 1) @ inv_chol_x
        beta = (beta_cov @ xtwy[:, :, None])[:, :, 0]
    value = (stats.n * log_det).sum(axis=1) + ywy - (beta * xtwy).sum(axis=1)
    if reml:
        value += 2.0 * np.log(np.diagonal(chol_x, axis1=1, axis2=2)).sum(axis=1) + (stats.n_obs - p) * _LOG_2PI
    else:
        value += stats.n_obs * _LOG_2PI
    ok = ok_sigma & ok_x & np.isfinite(value)
    value = np.where(ok, value, np.inf)
    if order <= 1:
        return _Evaluation(value, beta, beta_cov, sigma, ok)
    assert first is not None and second is not None
    basis = design.basis
    beta_t = beta if basis is None else beta @ basis.T
    cov_t = None
    if reml:
        cov_t = beta_cov if basis is None else basis @ beta_cov @ basis.T
    middle = _middle(stats, design, beta_t, cov_t)
    w_middle_w = w @ middle @ w
    n = stats.n[:, :, None, None]
    m = (n * w - w_middle_w).sum(axis=1)
    q = first.shape[1]
    d_flat = first.reshape(t_count, q, k * k)
    m_flat = m.reshape(t_count, k * k, 1)
    gradient = (d_flat @ m_flat)[:, :, 0]
    hessian = second(m)
    # sum_g tr(D_j W_g D_l Z_g): the kernel sum_g W_g[b, c] Z_g[d, a] over (a, b), (c, d).
    z = 2.0 * w_middle_w - n * w
    summed = w.reshape(t_count, -1, k * k).transpose(0, 2, 1) @ z.reshape(t_count, -1, k * k)  # [b, c, d, a]
    kernel = summed.reshape(t_count, k, k, k, k).transpose(0, 4, 1, 2, 3).reshape(t_count, k * k, k * k)
    hessian += d_flat @ kernel @ d_flat.transpose(0, 2, 1)
    # g_z[j] = X'V^-1 V_j P y = sum_g sum_cd D_j[c, d] W_g[visit, c] (R_g W_g)[., d], R_g = UY_g - UU_g diag(beta) S'.
    resid = stats.uy - stats.uu @ (beta_t[:, :, None] * design.selector.T[None])[:, None]
    w_rows = w[:, :, design.visit]  # W[visit(j), :]
    kernel_z = (w_rows.transpose(0, 2, 3, 1) @ (resid @ w).transpose(0, 2, 1, 3)).reshape(t_count, -1, k * k)
    g_z = d_flat @ kernel_z.transpose(0, 2, 1)
    if basis is not None:
        g_z = g_z @ basis
    hessian -= 2.0 * g_z @ beta_cov @ g_z.transpose(0, 2, 1)
    if reml and order == 3:
        a_q = (beta_cov[:, None] @ _q_matrices(stats, design, w, first)).reshape(t_count, q, p * p)
        a_q_t = a_q.reshape(t_count, q, p, p).transpose(0, 1, 3, 2).reshape(t_count, q, p * p)
        hessian -= a_q @ a_q_t.transpose(0, 2, 1)
    hessian = 0.5 * (hessian + hessian.transpose(0, 2, 1))
    return _Evaluation(value, beta, beta_cov, sigma, ok, gradient, hessian)


def _q_matrices(stats: _Stats, design: _Design, w: FloatArray, first: FloatArray) -> FloatArray:
    """``Q_j = X'V^-1 V_j V^-1 X`` (T, q, p, p): ``sum_g (W_g D_j W_g)[visit(j), visit(l)] UU_g[j, l]``, by visit blocks."""
    t_count, n_slots, q, k = first.shape[0], w.shape[1], first.shape[1], w.shape[-1]
    p_t = design.visit.size
    w_d_w = w[:, :, None] @ first[:, None] @ w[:, :, None]  # (T, G, q, k, k)
    counts = np.bincount(design.visit, minlength=k)
    if design.repeated:
        # sum_g (W_g D_j W_g) kron ZZ_g.
        r = int(counts[0])
        zz = stats.uu[:, :, :r, :r].reshape(t_count, n_slots, r * r)
        out = (w_d_w.reshape(t_count, n_slots, q * k * k).transpose(0, 2, 1) @ zz).reshape(t_count, q, k, k, r, r)
        out = out.transpose(0, 1, 2, 4, 3, 5).reshape(t_count, q, p_t, p_t)
    elif np.all(counts == counts[0]):
        # Pieces come ordered by visit: with as many at each visit, the blocks are one batched product.
        n = int(counts[0])
        out = np.einsum("tgqab,tgaibj->tqaibj", w_d_w, stats.uu.reshape(t_count, n_slots, k, n, k, n),
                        optimize=True).reshape(t_count, q, p_t, p_t)
    else:
        out = np.zeros((t_count, q, p_t, p_t))
        groups = [np.flatnonzero(design.visit == a) for a in range(k)]
        for a, rows in enumerate(groups):
            for b, cols in enumerate(groups):
                if rows.size == 0 or cols.size == 0:
                    continue
                block = stats.uu[:, :, rows[:, None], cols[None]].reshape(t_count, n_slots, rows.size * cols.size)
                coef_ab = w_d_w[:, :, :, a, b].transpose(0, 2, 1)  # (T, q, G)
                out[:, :, rows[:, None], cols[None]] = (coef_ab @ block).reshape(t_count, q, rows.size, cols.size)
    if design.basis is not None:
        out = design.basis.T @ out @ design.basis
    return out


def _starts(stats: _Stats, design: _Design, structure: str) -> tuple[FloatArray, BoolArray]:
    """``mmrm()``'s start: the covariance of the OLS residuals over the pairs of visits observed together."""
    both = stats.mask[:, :, :, None] * stats.mask[:, :, None, :]
    identity = both * np.eye(stats.mask.shape[2])
    xtwx, xtwy, _ = _cross(stats, design, identity)
    _, ok = _cholesky(xtwx)
    beta = np.linalg.solve(np.where(ok[:, None, None], xtwx, np.eye(xtwx.shape[-1])), xtwy[:, :, None])[:, :, 0]
    beta_t = beta if design.basis is None else beta @ design.basis.T
    resid = _middle(stats, design, beta_t, None).sum(axis=1)
    pairs = (stats.n[:, :, None, None] * both).sum(axis=1)
    empirical = np.where(pairs > 0, resid / np.maximum(pairs, 1), 0.0)
    mean_var = np.diagonal(empirical, axis1=1, axis2=2).mean(axis=1)
    floor = _START_EIGEN_FLOOR * np.maximum(mean_var, np.finfo(float).tiny)
    values, vectors = np.linalg.eigh(empirical)
    empirical = (vectors * np.maximum(values, floor[:, None])[:, None, :]) @ vectors.transpose(0, 2, 1)
    return _start_theta(structure, empirical), ok


# --------------------------------------------------------------------------- optimiser


def _newton_direction(gradient: FloatArray, hessian: FloatArray,
                      value: FloatArray) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Newton step (modified where ``H`` is not positive definite), relative decrement, and where ``H`` is PD."""
    chol, pd = _cholesky(hessian)
    step = np.empty_like(gradient)
    decrement = np.full(len(value), np.inf)
    if pd.any():
        z = np.linalg.solve(chol[pd], gradient[pd][:, :, None])[:, :, 0]
        decrement[pd] = (z * z).sum(axis=1) / np.maximum(np.abs(value[pd]), 1.0)
        step[pd] = -np.linalg.solve(hessian[pd], gradient[pd][:, :, None])[:, :, 0]
    if (~pd).any():
        h = hessian[~pd]
        h = np.where(np.isfinite(h), h, 0.0)
        eigval, eigvec = np.linalg.eigh(h)
        scale = np.maximum(np.abs(eigval).max(axis=1, keepdims=True), 1.0)
        eigval = np.maximum(np.abs(eigval), 1e-8 * scale)
        g = gradient[~pd]
        step[~pd] = -np.einsum("tij,tj->ti", eigvec, np.einsum("tji,tj->ti", eigvec, g) / eigval)
    largest = np.abs(step).max(axis=1, keepdims=True)
    step = step * np.minimum(1.0, _MAX_STEP / np.maximum(largest, np.finfo(float).tiny))
    return step, decrement, pd


def _polish(stats: _Stats, design: _Design, structure: str, reml: bool, index: NDArray[np.intp],
            theta: FloatArray, step: FloatArray, out: tuple[FloatArray, FloatArray, FloatArray, FloatArray]) -> None:
    """One more Newton step at a converged point (quadratic convergence: the decrement falls to rounding), in place.

    Taken where the objective does not rise by more than rounding; ``out`` holds value, beta, beta_cov, sigma.
    """
    trial = theta[index] + step
    e = _evaluate(stats.take(index), design, structure, trial, reml=reml, order=1)
    value = out[0]
    good = e.ok & (e.value <= value[index] + 1e-13 * np.abs(value[index]))
    rows = index[good]
    theta[rows] = trial[good]
    for target, source in zip(out, (e.value, e.beta, e.beta_cov, e.sigma), strict=True):
        target[rows] = source[good]


def _fit_chunk(stats: _Stats, design: _Design, structure: str, reml: bool,
               max_iter: int) -> tuple[_Evaluation, FloatArray, BoolArray, NDArray[np.int64]]:
    """Newton iterations over the trials of one chunk; returns the last evaluation, theta, converged, iterations."""
    t_count = stats.n.shape[0]
    theta, ok_start = _starts(stats, design, structure)
    current = _evaluate(stats, design, structure, theta, reml=reml, order=2)
    converged = np.zeros(t_count, dtype=bool)
    iterations = np.zeros(t_count, dtype=np.int64)
    # The evaluation of every trial at its current point; the active trials move each iteration.
    out = (current.value.copy(), current.beta.copy(), current.beta_cov.copy(), current.sigma.copy())
    value = out[0]
    active = np.flatnonzero(current.ok & ok_start)
    assert current.gradient is not None and current.hessian is not None
    gradient, hessian = current.gradient[active], current.hessian[active]
    for iteration in range(max_iter + 1):
        step, decrement, pd = _newton_direction(gradient, hessian, value[active])
        done = pd & (decrement <= CONVERGED)
        converged[active[done]] = True
        keep = ~done
        active, step, gradient = active[keep], step[keep], gradient[keep]
        if active.size == 0 or iteration == max_iter:
            break
        iterations[active] += 1
        active, gradient, hessian = _line_search(stats, design, structure, reml, active, theta, step,
                                                 (gradient * step).sum(axis=1), out)
        if active.size == 0:
            break
    # The iterations use the Hessian without REML's trace term: check each point with the exact one
    # and take its Newton step (quadratic convergence: the decrement falls to rounding). A point
    # just short of the criterion with the exact Hessian gets up to two more exact steps.
    index = np.flatnonzero(converged)
    converged[:] = False
    for _ in range(_EXACT_ROUNDS):
        if index.size == 0:
            break
        e = _evaluate(stats.take(index), design, structure, theta[index], reml=reml, order=3)
        assert e.gradient is not None and e.hessian is not None
        step, decrement, pd = _newton_direction(e.gradient, e.hessian, e.value)
        done = pd & (decrement <= CONVERGED)
        converged[index[done]] = True
        near = pd & (decrement <= _NEAR)
        _polish(stats, design, structure, reml, index[near], theta, step[near], out)
        index = index[near & ~done]
    failed = ~(current.ok & ok_start)
    beta, beta_cov = out[1], out[2]
    beta[failed], beta_cov[failed], value[failed] = np.nan, np.nan, np.nan
    return _Evaluation(value, beta, beta_cov, out[3], ~failed), theta, converged, iterations


def _line_search(stats: _Stats, design: _Design, structure: str, reml: bool, active: NDArray[np.intp],
                 theta: FloatArray, step: FloatArray, slope: FloatArray,
                 out: tuple[FloatArray, FloatArray, FloatArray, FloatArray]
                 ) -> tuple[NDArray[np.intp], FloatArray, FloatArray]:
    """Backtracking (Armijo) along ``step`` from ``theta[active]``, in place; the trials that moved, their g and H.

    The full step is evaluated with the derivatives (it is nearly always taken); the
    shorter ones without, and the point finally taken again with them.
    """
    f0 = out[0][active]
    # A rounding allowance lets the full Newton step through at the optimum.
    allowance = 1e-13 * np.abs(f0)
    sub = stats.take(active)
    trial = theta[active] + step
    e = _evaluate(sub, design, structure, trial, reml=reml, order=2)
    assert e.gradient is not None and e.hessian is not None
    good = e.ok & (e.value <= f0 + _ARMIJO * slope + allowance)
    theta[active[good]] = trial[good]
    for target, source in zip(out, (e.value, e.beta, e.beta_cov, e.sigma), strict=True):
        target[active[good]] = source[good]
    moved, gradient, hessian = [active[good]], [e.gradient[good]], [e.hessian[good]]
    pending = np.flatnonzero(~good)
    scale = np.full(active.size, 0.5)
    accepted = np.zeros(active.size, dtype=bool)
    for _ in range(_MAX_HALVINGS):
        if pending.size == 0:
            break
        trial = theta[active[pending]] + scale[pending, None] * step[pending]
        e0 = _evaluate(sub.take(pending), design, structure, trial, reml=reml, order=0)
        good = e0.ok & (e0.value <= f0[pending] + _ARMIJO * scale[pending] * slope[pending] + allowance[pending])
        theta[active[pending[good]]] = trial[good]
        accepted[pending[good]] = True
        pending = pending[~good]
        scale[pending] *= 0.5
    index = np.flatnonzero(accepted)
    if index.size:
        e = _evaluate(sub.take(index), design, structure, theta[active[index]], reml=reml, order=2)
        assert e.gradient is not None and e.hessian is not None
        for target, source in zip(out, (e.value, e.beta, e.beta_cov, e.sigma), strict=True):
            target[active[index]] = source
        moved.append(active[index])
        gradient.append(e.gradient)
        hessian.append(e.hessian)
    return np.concatenate(moved), np.concatenate(gradient), np.concatenate(hessian)


# --------------------------------------------------------------------------- public


def _check(y: ArrayLike, x: ArrayLike, covariance: str, max_iter: int) -> tuple[FloatArray, FloatArray]:
    if covariance not in _STRUCTURES:
        raise InputError(f"covariance: must be one of {_STRUCTURES} for the batch fit, got {covariance!r}")
    if not isinstance(max_iter, int | np.integer) or max_iter < 1:
        raise InputError(f"max_iter: must be a positive integer, got {max_iter!r}")
    try:
        y_arr = np.asarray(y, dtype=float)
        x_arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"y, x: must be numeric ({exc})") from None
    if y_arr.ndim != 3:
        raise InputError(f"y: must have shape (trials, subjects, visits), got {y_arr.shape}")
    t_count, n_subjects, k = y_arr.shape
    if x_arr.ndim == 3:
        expected: tuple[int, ...] = (n_subjects, k)
        got = x_arr.shape[:2]
    elif x_arr.ndim == 4:
        expected, got = (t_count, n_subjects, k), x_arr.shape[:3]
    else:
        raise InputError(f"x: must have shape (subjects, visits, p) or (trials, subjects, visits, p), got {x_arr.shape}")
    if got != expected:
        raise InputError(f"x: shape {x_arr.shape} does not match y's {y_arr.shape} (need {expected} + (p,))")
    if t_count == 0 or k == 0 or x_arr.shape[-1] == 0:
        raise InputError(f"y, x: need at least one trial, visit and design column, got y {y_arr.shape}, "
                         f"x {x_arr.shape}")
    if not np.all(np.isfinite(x_arr)):
        raise InputError("x: must be finite (NaN or infinity found)")
    if np.any(np.isinf(y_arr)):
        raise InputError("y: must be finite or NaN (missing); infinity found")
    if k > _MAX_VISITS:
        raise InputError(f"y: at most {_MAX_VISITS} visits for the batch fit, got {k}")
    if covariance != "us" and k < 2:
        raise InputError(f"covariance: {covariance!r} needs at least 2 visits, got {k}")
    empty = np.argwhere(np.isnan(y_arr).all(axis=2))
    if empty.size:
        trial, subject = empty[0]
        raise InputError(f"y: subject {subject} of trial {trial} has no observed visit ({len(empty)} such "
                         "subject-trials); drop such subjects before the batch fit")
    p = x_arr.shape[-1]
    if n_subjects < p:
        raise InputError(f"y: {n_subjects} subjects are fewer than the {p} columns of x")
    return y_arr, x_arr


def fit_mmrm_batch(
    y: ArrayLike,
    x: ArrayLike,
    *,
    covariance: str = "us",
    reml: bool = True,
    max_iter: int = 50,
    chunk_size: int = _CHUNK,
) -> BatchMMRMResult:
    """Fit one MMRM (``mmrm()``'s model, likelihood and convergence criterion) to each of many trials.

    Parameters
    ----------
    y
        Responses (T, N, V): T trials of N subjects at V visits, NaN at a missing visit
        (any pattern, monotone or not). Every subject needs at least one visit.
    x
        Design (N, V, p) shared by all trials, or (T, N, V, p) per trial: row ``x[i, a]``
        is subject ``i``'s design row at visit ``a`` (e.g. cell means of arm by visit and
        baseline by visit). Columns must be linearly independent in every trial.
    covariance
        ``"us"`` (unstructured), ``"cs"`` or ``"ar1"``, parametrised as in
        :mod:`dosefinding.mmrm.covariance`.
    reml
        Restricted (SAS's default) or full maximum likelihood.
    max_iter
        Newton iterations per trial before it is reported as not converged.
    chunk_size
        Trials fitted together (memory grows with it).

    Returns
    -------
    BatchMMRMResult

    Raises
    ------
    InputError
        For shapes that do not match, non-finite ``x``, infinite ``y``, a subject without
        any observed visit, fewer subjects than design columns, columns of ``x`` aliased in
        every trial, more than 40 visits, or an unknown ``covariance``.

    Examples
    --------
    >>> fit = _example_fit()
    >>> fit.beta.shape, fit.sigma.shape, bool(fit.converged.all())
    ((3, 8), (3, 4, 4), True)
    """
    y_arr, x_arr = _check(y, x, covariance, max_iter)
    if not isinstance(chunk_size, int | np.integer) or chunk_size < 1:
        raise InputError(f"chunk_size: must be a positive integer, got {chunk_size!r}")
    t_count, _, k = y_arr.shape
    p = x_arr.shape[-1]
    u, design = _design_basis(x_arr)
    if design.basis is not None and np.linalg.matrix_rank(design.basis) < p:
        raise InputError("x: its columns are linearly dependent in every trial (aliased columns); drop them")
    q = _n_params(covariance, k)
    beta = np.empty((t_count, p))
    beta_cov = np.empty((t_count, p, p))
    sigma = np.empty((t_count, k, k))
    theta = np.empty((t_count, q))
    value = np.empty(t_count)
    converged = np.empty(t_count, dtype=bool)
    iterations = np.empty(t_count, dtype=np.int64)
    n_obs = (~np.isnan(y_arr)).sum(axis=(1, 2))
    for start in range(0, t_count, int(chunk_size)):
        part = slice(start, min(start + int(chunk_size), t_count))
        stats = _pattern_stats(y_arr[part], u if u.ndim == 2 else u[part], design.repeated)
        e, theta_part, conv, iters = _fit_chunk(stats, design, covariance, reml, max_iter)
        beta[part], beta_cov[part], sigma[part], value[part] = e.beta, e.beta_cov, e.sigma, e.value
        theta[part], converged[part], iterations[part] = theta_part, conv, iters
    return BatchMMRMResult(
        beta=beta, beta_cov=beta_cov, sigma=sigma, theta=theta, m2_log_likelihood=value, converged=converged,
        iterations=iterations, n_obs=n_obs, covariance_structure=covariance, reml=reml,
    )
