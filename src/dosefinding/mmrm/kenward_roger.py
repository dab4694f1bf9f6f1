"""Kenward-Roger (1997) components of an MMRM fit, as SAS PROC MIXED ``ddfm=kr`` computes them.

With ``Phi = (X'V^-1 X)^-1``, ``W`` the covariance of the variance parameters (twice the
inverse Hessian of -2 log likelihood: the observed information, SAS's default) and

    P_h  = X' dV^-1/dtheta_h X            = -X'V^-1 V_h V^-1 X
    Q_hj = X' dV^-1/dtheta_h V dV^-1/dtheta_j X = X'V^-1 V_h V^-1 V_j V^-1 X
    R_hj = X'V^-1 V_hj V^-1 X              (V_hj the second derivatives of V)

the adjusted covariance of the coefficients is (Kenward and Roger 1997, eq. 2; SAS's
"Kenward-Roger" Fixed Effects SE Method)

    Phi_A = Phi + 2 Phi {sum_hj W_hj (Q_hj - P_h Phi P_j - R_hj / 4)} Phi.

The part without ``R`` does not depend on how the variance parameters are written (``P``
and ``Q`` are linear in each parameter's first derivative, ``W`` transforms inversely),
so it is computed in the fit's own parametrisation; ``ddfm=kr(linear)`` (SAS's
``FIRSTORDER`` adjustment, R mmrm's "Kenward-Roger-Linear") stops there. The ``R`` term
depends on the parametrisation through the second derivatives, and SAS takes them in its
own parameters, those of its "Covariance Parameter Estimates": the entries of ``Sigma``
for UN, ``CS`` and ``Residual`` for CS, the lagged covariances for TOEP (all linear in
``Sigma``, so ``R = 0`` and kr equals kr(linear)); the variance and ``rho`` for AR(1);
the variances ``Var(i)`` and the correlations for CSH, ARH(1) and TOEPH. ``W`` in those
parameters is ``J' W J`` with ``J[a, m] = d phi_m / d theta_a``, obtained by solving
``d Sigma / d theta_a = sum_m J[a, m] d Sigma / d phi_m``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from dosefinding.errors import InputError
from dosefinding.mmrm.covariance import CovarianceStructure
from dosefinding.mmrm.inference import KenwardRoger
from dosefinding.mmrm.likelihood import Evaluation, PatternStats, pattern_inverses

__all__ = ["KENWARD_ROGER_STRUCTURES", "LINEAR_IN_SAS_PARAMETERS", "kenward_roger", "sas_parameter_derivatives"]

FloatArray = NDArray[np.float64]
# Structures whose Sigma is linear in SAS's parameters (R_hj = 0).
LINEAR_IN_SAS_PARAMETERS = ("us", "cs", "toep")
_SECOND_ORDER_BASES = {"csh": "cs", "ar1h": "ar1", "toeph": "toep"}
# Structures whose SAS parametrisation (hence full ddfm=kr) is implemented.
KENWARD_ROGER_STRUCTURES = (*LINEAR_IN_SAS_PARAMETERS, "ar1", *_SECOND_ORDER_BASES)
# Relative residual allowed when expressing d Sigma / d theta through d Sigma / d phi.
_JACOBIAN_TOL = 1e-8


def _correlation_derivatives(base: str, corr: FloatArray) -> tuple[FloatArray, FloatArray]:
    """First (m, k, k) and second (m, m, k, k) derivatives of a correlation matrix in SAS's correlation parameters."""
    k = corr.shape[0]
    lag = np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
    if base == "toep":
        first = (lag[None] == np.arange(1, k)[:, None, None]).astype(float)
        return first, np.zeros((k - 1, k - 1, k, k))
    if base == "cs":
        return (lag > 0).astype(float)[None], np.zeros((1, 1, k, k))
    rho = float(corr[0, 1])
    power1 = np.where(lag >= 1, rho ** np.maximum(lag - 1, 0), 0.0)
    power2 = np.where(lag >= 2, rho ** np.maximum(lag - 2, 0), 0.0)
    return (lag * power1)[None], (lag * (lag - 1) * power2)[None, None]


def sas_parameter_derivatives(name: str, sigma: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``d Sigma / d phi`` (q, k, k) and ``d2 Sigma / d phi d phi`` (q, q, k, k) in SAS's parameters ``phi``.

    Only for the structures not linear in SAS's parameters (``ar1, csh, ar1h, toeph``);
    the parameters are ordered as SAS prints them (``Var(i)`` before the correlations;
    ``AR(1)``, then ``Residual``).

    Examples
    --------
    >>> sigma = 4.0 * 0.5 ** np.abs(np.subtract.outer(np.arange(3), np.arange(3)))
    >>> first, second = sas_parameter_derivatives("ar1", sigma)
    >>> first[0, 0].tolist(), second[0, 0, 0].tolist()
    ([0.0, 4.0, 4.0], [0.0, 0.0, 8.0])
    """
    k = sigma.shape[0]
    if name == "ar1":
        s = float(sigma[0, 0])
        corr = sigma / s
        d_corr, d2_corr = _correlation_derivatives("ar1", corr)
        first = np.stack([s * d_corr[0], corr])
        second = np.zeros((2, 2, k, k))
        second[0, 0] = s * d2_corr[0, 0]
        second[0, 1] = second[1, 0] = d_corr[0]
        return first, second
    if name not in _SECOND_ORDER_BASES:
        raise InputError(f"covariance: Kenward-Roger with SAS's second-derivative term is not implemented for {name!r}")
    variances = np.diag(sigma)
    sd = np.sqrt(variances)
    outer = np.outer(sd, sd)
    d_corr, d2_corr = _correlation_derivatives(_SECOND_ORDER_BASES[name], sigma / outer)
    eye = np.eye(k)
    # indicator[i, a, b] = delta_ia + delta_ib: d Sigma_ab / d Var(i) = indicator Sigma_ab / (2 Var(i)).
    indicator = eye[:, :, None] + eye[:, None, :]
    half = indicator / (2 * variances[:, None, None])
    m = d_corr.shape[0]
    first = np.concatenate([half * sigma, d_corr * outer])
    second = np.zeros((k + m, k + m, k, k))
    # d2 Sigma_ab / d Var(i) d Var(j) = (half_i half_j - delta_ij half_i / Var(i)) Sigma_ab
    diagonal = eye[:, :, None, None] * (half / variances[:, None, None])[:, None]
    second[:k, :k] = (half[:, None] * half[None, :] - diagonal) * sigma
    cross = half[:, None] * (d_corr * outer)[None]
    second[:k, k:] = cross
    second[k:, :k] = cross.transpose(1, 0, 2, 3)
    second[k:, k:] = d2_corr * outer
    return first, second


def _subject_crossproducts(stats: PatternStats, w: FloatArray) -> FloatArray:
    """``C_g[a, b] = sum_i U_ia' U_ib`` (G, k, k, p, p) over the subjects of each pattern, ``U_i = W_g X_i``."""
    n_subjects, k, p = stats.x_pad.shape
    u = (w[stats.pattern] @ stats.x_pad).reshape(n_subjects, k * p)
    members = np.zeros((len(stats.n), n_subjects))
    members[stats.pattern, np.arange(n_subjects)] = 1.0
    outer = (u[:, :, None] * u[:, None, :]).reshape(n_subjects, -1)
    return (members @ outer).reshape(-1, k, p, k, p).transpose(0, 1, 3, 2, 4)


def kenward_roger(
    stats: PatternStats,
    structure: CovarianceStructure,
    theta: FloatArray,
    evaluation: Evaluation,
    *,
    linear: bool,
) -> KenwardRoger:
    """The Kenward-Roger inference at the REML optimum ``theta`` (``evaluation`` of order 2 there).

    ``linear=True`` leaves out the second-derivative term (SAS ``ddfm=kr(linear)``).

    Examples
    --------
    >>> from dosefinding.mmrm.covariance import get_structure
    >>> from dosefinding.mmrm.likelihood import evaluate
    >>> x = np.ones((6, 1)); y = np.array([1.0, 2.0, 2.0, 4.0, 3.0, 5.0])
    >>> stats = PatternStats.from_rows(x, y, subject=np.repeat(np.arange(3), 2), visit=np.tile([0, 1], 3), k=2)
    >>> structure = get_structure("us", 2)
    >>> theta = np.array([0.1, 0.2, 0.3])
    >>> kr = kenward_roger(stats, structure, theta, evaluate(stats, structure, theta, reml=True, order=2),
    ...                    linear=True)
    >>> bool(kr.beta_cov[0, 0] > kr.phi[0, 0])
    True
    """
    assert evaluation.hessian is not None and evaluation.q is not None
    sigma, first, _ = structure.evaluate(theta)
    phi = evaluation.beta_cov
    p_mats = -evaluation.q
    w_theta = 2.0 * np.linalg.inv(evaluation.hessian)
    w, _ = pattern_inverses(stats, sigma)
    crossproducts = _subject_crossproducts(stats, w)

    # sum_hj W_hj Q_hj = sum_g sum_ab (sum_h D_h W_g E_h)[a, b] C_g[a, b], E_h = sum_j W_hj D_j.
    weighted = np.tensordot(w_theta, first, axes=1)
    kernel = (first[None] @ w[:, None] @ weighted[None]).sum(axis=1)
    p_dim = phi.shape[0]
    q_sum = (kernel.reshape(-1) @ crossproducts.reshape(-1, p_dim * p_dim)).reshape(p_dim, p_dim)
    p_sum = (p_mats @ phi @ np.tensordot(w_theta, p_mats, axes=1)).sum(axis=0)
    middle = q_sum - p_sum
    if not linear and structure.name not in LINEAR_IN_SAS_PARAMETERS:
        first_sas, second_sas = sas_parameter_derivatives(structure.name, sigma)
        q = first.shape[0]
        jacobian, residual, *_ = np.linalg.lstsq(first_sas.reshape(q, -1).T, first.reshape(q, -1).T, rcond=None)
        if residual.size and residual.max() > _JACOBIAN_TOL * np.sum(first**2):
            raise AssertionError("d Sigma / d theta is not spanned by d Sigma / d phi")  # pragma: no cover
        w_sas = jacobian @ w_theta @ jacobian.T
        second_sum = np.tensordot(w_sas, second_sas, axes=2)
        r_sum = second_sum.reshape(-1) @ crossproducts.sum(axis=0).reshape(-1, p_dim * p_dim)
        middle = middle - 0.25 * r_sum.reshape(p_dim, p_dim)
    adjusted = phi + 2.0 * phi @ middle @ phi
    return KenwardRoger(beta_cov=0.5 * (adjusted + adjusted.T), phi=phi, p=p_mats, theta_cov=w_theta)
