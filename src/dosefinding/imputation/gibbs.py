"""Posterior draws of an MMRM with unstructured covariance by data augmentation (a Gibbs sampler).

The model: subject ``i``'s outcomes ``y_i ~ N(X_i beta, Sigma_g(i))`` over the V visits (one
covariance, or one per group such as the arm), a flat prior on ``beta`` and inverse Wishart
priors on the covariances. Each iteration draws, in turn,
the missing outcomes given the observed ones, ``beta`` and ``Sigma`` (conditional normal, by
missingness pattern); ``beta`` given the completed data and ``Sigma`` (normal, the GLS
estimate and its covariance); each ``Sigma_g`` given the completed data and ``beta`` (inverse
Wishart with ``n_g + nu0`` degrees of freedom and scale ``R_g'R_g + Psi0_g``, the residuals of
the group's subjects). The chains start at
the REML estimate and run side by side (every step is batched over chains).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

from dosefinding.errors import InputError
from dosefinding.mmrm import fit_mmrm_batch
from dosefinding.validation import as_positive_int

__all__ = ["conditional_normal", "gibbs_draws", "inverse_wishart"]

FloatArray = NDArray[np.float64]


def inverse_wishart(df: float, scale: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Draws (C, V, V) from the inverse Wishart with ``df`` degrees of freedom and scales ``scale`` (C, V, V).

    Bartlett's decomposition of the Wishart of ``scale^-1``, inverted. The mean is
    ``scale / (df - V - 1)``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> draws = inverse_wishart(50.0, np.repeat(np.eye(2)[None] * 47.0, 20000, axis=0), rng)
    >>> np.round(draws.mean(axis=0), 1).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    c, v, _ = scale.shape
    lower = np.linalg.cholesky(np.linalg.inv(scale))
    a = np.zeros((c, v, v))
    rows, cols = np.tril_indices(v, -1)
    a[:, rows, cols] = rng.standard_normal((c, len(rows)))
    a[:, np.arange(v), np.arange(v)] = np.sqrt(rng.chisquare(df - np.arange(v), size=(c, v)))
    factor = lower @ a
    inverse_factor = np.linalg.inv(factor)
    return np.swapaxes(inverse_factor, -1, -2) @ inverse_factor


def conditional_normal(sigma: FloatArray, observed: NDArray[np.bool_]) -> tuple[FloatArray, FloatArray]:
    """Regression ``A = S_mo S_oo^-1`` (..., m, o) and covariance ``S_mm - A S_om`` (..., m, m) of the missing visits.

    ``sigma`` is (..., V, V); ``observed`` (V,) marks the visits conditioned on.

    Examples
    --------
    >>> a, c = conditional_normal(np.array([[1.0, 0.5], [0.5, 1.0]]), np.array([True, False]))
    >>> a.tolist(), c.tolist()
    ([[0.5]], [[0.75]])
    """
    o, m = np.flatnonzero(observed), np.flatnonzero(~observed)
    s_oo = sigma[..., o[:, None], o]
    s_mo = sigma[..., m[:, None], o]
    a = np.swapaxes(np.linalg.solve(s_oo, np.swapaxes(s_mo, -1, -2)), -1, -2) if len(o) else s_mo[..., :0]
    return a, sigma[..., m[:, None], m] - a @ np.swapaxes(s_mo, -1, -2)


def _impute(y: FloatArray, mu: FloatArray, sigma: FloatArray, group: NDArray[np.intp],
            patterns: list[tuple[NDArray[np.bool_], NDArray[np.intp]]], rng: np.random.Generator) -> FloatArray:
    """The outcomes (C, N, V) with the missing ones drawn from their conditional normal (``sigma`` (C, G, V, V))."""
    out = np.broadcast_to(y, mu.shape).copy()
    for observed, members in patterns:
        o, m = np.flatnonzero(observed), np.flatnonzero(~observed)
        for g in np.unique(group[members]):
            these = members[group[members] == g]
            a, cond = conditional_normal(sigma[:, g], observed)
            resid = y[these][:, o][None] - mu[:, these][:, :, o]  # (C, n, o)
            mean = mu[:, these][:, :, m] + np.einsum("cmo,cno->cnm", a, resid)
            chol = np.linalg.cholesky(cond)
            noise = np.einsum("cmk,cnk->cnm", chol, rng.standard_normal((mu.shape[0], len(these), len(m))))
            out[:, these[:, None], m] = mean + noise
    return out


def gibbs_draws(
    y: FloatArray,
    x: FloatArray,
    *,
    n_samples: int,
    burn_in: int = 200,
    thin: int = 5,
    chains: int = 4,
    prior: Literal["inverse_wishart", "jeffreys"] = "inverse_wishart",
    group: NDArray[np.intp] | None = None,
    rng: np.random.Generator,
) -> tuple[FloatArray, FloatArray]:
    """Posterior draws of ``beta`` (n_samples, p) and ``Sigma`` (n_samples, V, V) of the MMRM ``y ~ N(x beta, Sigma)``.

    With ``group``, one covariance per group: ``Sigma`` is (n_samples, G, V, V).

    Parameters
    ----------
    y
        Outcomes (N, V), NaN where missing; subjects without any outcome take no part.
    x
        Design (N, V, p).
    n_samples
        Draws kept, taken in turn from the chains.
    burn_in, thin, chains
        Iterations discarded per chain, iterations between kept draws, chains.
    prior
        ``"inverse_wishart"``: ``Sigma ~ IW(V + 2, Sigma_REML)`` (mean the REML estimate; the
        default prior of R rbmi's ``method_bayes``); ``"jeffreys"``: ``|Sigma|^-(V+1)/2``.
    group
        Codes 0..G-1 per subject (N,) for a covariance per group (rbmi's ``same_cov = FALSE``).
    rng
        Random numbers.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> x = np.tile(np.eye(2), (60, 1, 1))  # one mean per visit
    >>> y = rng.multivariate_normal([1.0, 2.0], [[1.0, 0.6], [0.6, 1.0]], size=60)
    >>> y[:20, 1] = np.nan
    >>> beta, sigma = gibbs_draws(y, x, n_samples=400, rng=rng)
    >>> beta.shape, sigma.shape, bool(abs(beta[:, 0].mean() - np.nanmean(y[:, 0])) < 0.1)
    ((400, 2), (400, 2, 2), True)
    """
    if prior not in ("inverse_wishart", "jeffreys"):
        raise InputError(f"prior: must be 'inverse_wishart' or 'jeffreys', got {prior!r}")
    burn_in = as_positive_int(burn_in, "burn_in") if burn_in else 0
    thin, chains = as_positive_int(thin, "thin"), as_positive_int(chains, "chains")
    seen = ~np.all(np.isnan(y), axis=1)
    codes = np.zeros(len(y), dtype=np.intp) if group is None else np.asarray(group, dtype=np.intp)
    y, x, codes = y[seen], x[seen], codes[seen]
    n, v = y.shape
    p = x.shape[2]
    fit = fit_mmrm_batch(y[None], x, covariance="us", df_method="residual", group=None if group is None else codes)
    if not fit.converged[0]:
        raise InputError(f"data: the MMRM of the imputation model does not converge ({fit.notes[0]})")
    start = fit.sigma[0].reshape(-1, v, v)  # (G, V, V)
    n_groups = len(start)
    sizes = np.bincount(codes, minlength=n_groups)
    psi0, nu0 = (start, v + 2.0) if prior == "inverse_wishart" else (np.zeros_like(start), 0.0)
    if np.any(sizes + nu0 - v + 1 <= 0):
        raise InputError(f"data: {int(sizes.min())} subjects are too few for an unstructured covariance over {v} visits")
    missing = np.isnan(y)
    keys, index = np.unique(missing, axis=0, return_inverse=True)
    patterns = [(~key, np.flatnonzero(index.ravel() == k)) for k, key in enumerate(keys) if key.any()]
    x_flat = x.reshape(n * v, p)
    beta = np.repeat(fit.beta, chains, axis=0)
    sigma = np.repeat(start[None], chains, axis=0)  # (C, G, V, V)
    per_chain = -(-n_samples // chains)
    kept_beta = np.empty((per_chain, chains, p))
    kept_sigma = np.empty((per_chain, chains, n_groups, v, v))
    for step in range(burn_in + per_chain * thin):
        mu = np.einsum("nvp,cp->cnv", x, beta)
        full = _impute(y, mu, sigma, codes, patterns, rng)
        precision = np.linalg.inv(sigma)[:, codes]  # (C, N, V, V)
        px = np.einsum("cnvw,nwp->cnvp", precision, x).reshape(chains, n * v, p)
        information = np.swapaxes(px, -1, -2) @ x_flat  # (C, p, p)
        score = np.einsum("cnp,cn->cp", px, full.reshape(chains, n * v))
        cov = np.linalg.inv(information)
        mean = np.linalg.solve(information, score[..., None])[..., 0]
        beta = mean + np.einsum("cpk,ck->cp", np.linalg.cholesky(cov), rng.standard_normal((chains, p)))
        resid = full - np.einsum("nvp,cp->cnv", x, beta)
        sigma = np.stack([inverse_wishart(sizes[g] + nu0, np.swapaxes(resid[:, codes == g], -1, -2)
                                          @ resid[:, codes == g] + psi0[g], rng) for g in range(n_groups)], axis=1)
        kept = step - burn_in
        if kept >= 0 and (kept + 1) % thin == 0:
            kept_beta[kept // thin], kept_sigma[kept // thin] = beta, sigma
    draws_sigma = kept_sigma.reshape(-1, n_groups, v, v)[:n_samples]
    return kept_beta.reshape(-1, p)[:n_samples], draws_sigma[:, 0] if group is None else draws_sigma
