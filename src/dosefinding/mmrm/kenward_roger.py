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
the variances ``Var(i)`` and the correlations for CSH, ARH(1), TOEPH and ANTE(1); the
range and ``Residual`` for SP(EXP) (see :mod:`dosefinding.mmrm.sas_scale`). ``W`` in those
parameters is ``J' W J`` with ``J[a, m] = d phi_m / d theta_a``, obtained by solving
``d Sigma / d theta_a = sum_m J[a, m] d Sigma / d phi_m``.
"""

from __future__ import annotations

from typing import cast

import numpy as np
from numpy.typing import NDArray

from dosefinding.mmrm.covariance import CovarianceModel, CovarianceStructure, with_derivatives
from dosefinding.mmrm.inference import KenwardRoger
from dosefinding.mmrm.likelihood import (
    CovarianceBlock,
    Evaluation,
    PatternStats,
    covariance_blocks,
    pattern_inverses,
    weighted_crossproducts,
)
from dosefinding.mmrm.sas_scale import LINEAR_IN_SAS_PARAMETERS, SAS_PARAMETRISED, SasCovariance

__all__ = ["KENWARD_ROGER_STRUCTURES", "kenward_roger"]

FloatArray = NDArray[np.float64]
# Structures whose SAS parametrisation (hence full ddfm=kr) is implemented.
KENWARD_ROGER_STRUCTURES = SAS_PARAMETRISED
# Relative residual allowed when expressing d Sigma / d theta through d Sigma / d phi.
_JACOBIAN_TOL = 1e-8


def _sas_structure(structure: CovarianceStructure) -> SasCovariance:
    return structure if isinstance(structure, SasCovariance) else SasCovariance(structure.k, structure)


def _second_order_sum(
    stats: PatternStats, structure: CovarianceStructure, block: CovarianceBlock, part: FloatArray,
    w_block: FloatArray, crossproducts: FloatArray,
) -> FloatArray:
    """``sum_hj W_hj R_hj`` over one group's parameters, in SAS's parameters (p, p)."""
    sas = _sas_structure(structure)
    _, first, _ = with_derivatives(structure.evaluate(part))
    phi = sas.from_matrix(structure.matrix(part))
    _, first_sas, second_sas = with_derivatives(sas.evaluate(phi))
    q = first.shape[0]
    jacobian, residual, *_ = np.linalg.lstsq(first_sas.reshape(q, -1).T, first.reshape(q, -1).T, rcond=None)
    if residual.size and residual.max() > _JACOBIAN_TOL * np.sum(first**2):
        raise AssertionError("d Sigma / d theta is not spanned by d Sigma / d phi")  # pragma: no cover
    if block.per_unit:
        assert stats.times is not None
        second_sas = with_derivatives(sas.evaluate_at(phi, stats.times[0, block.units]))[2]
    w_sas = jacobian @ w_block @ jacobian.T
    second_sum = np.tensordot(w_sas, second_sas, axes=([0, 1], [-4, -3]))  # (k, k), or (units, k, k)
    c = block.select(crossproducts)
    if block.per_unit:
        return np.einsum("uab,uabpq->pq", second_sum, c)
    return np.einsum("ab,uabpq->pq", second_sum, c)


def kenward_roger(
    stats: PatternStats,
    covariance: CovarianceStructure | CovarianceModel,
    theta: FloatArray,
    evaluation: Evaluation,
    *,
    linear: bool,
) -> KenwardRoger:
    """The Kenward-Roger inference at the REML optimum ``theta`` (``evaluation`` of order 2 there).

    ``covariance`` is one structure or a :class:`CovarianceModel` (a copy per group, and
    spatial times that may differ between subjects). ``linear=True`` leaves out the
    second-derivative term (SAS ``ddfm=kr(linear)``).

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
    model = covariance if isinstance(covariance, CovarianceModel) else CovarianceModel(covariance)
    blocks, sigma = covariance_blocks(stats, model, theta)
    phi = evaluation.beta_cov
    p_mats = -evaluation.q
    w_theta = cast(FloatArray, 2.0 * np.linalg.inv(evaluation.hessian))  # numpy's stubs: linalg gives floating[Any]
    w, _ = pattern_inverses(stats, sigma)
    crossproducts = weighted_crossproducts(stats, w)
    p_dim = phi.shape[0]

    # sum_hj W_hj Q_hj = sum_u sum_ab (sum_h D_h W_u E_h)[a, b] C_u[a, b], E_h = sum_j W_hj D_j, over each group's
    # parameters (Q_hj = 0 for parameters of different groups: no subject has both).
    q_sum = np.zeros((p_dim, p_dim))
    r_sum = np.zeros((p_dim, p_dim))
    nonlinear = not linear and model.structure.name not in LINEAR_IN_SAS_PARAMETERS
    parts = [np.asarray(theta, dtype=float)] if model.n_groups == 1 else model.split(theta)
    for block, part in zip(blocks, parts, strict=True):
        w_block = w_theta[block.params, block.params]
        weighted = np.tensordot(w_block, block.first, axes=([1], [-3]))  # (q, k, k) or (q, units, k, k)
        w_units = block.select(w)
        if block.per_unit:
            kernel = np.einsum("uhab,ubc,hucd->uad", block.first, w_units, weighted)
        else:
            kernel = np.einsum("hab,ubc,hcd->uad", block.first, w_units, weighted)
        q_sum += np.einsum("uab,uabpq->pq", kernel, block.select(crossproducts))
        if nonlinear:
            r_sum += _second_order_sum(stats, model.structure, block, part, w_block, crossproducts)
    p_sum = (p_mats @ phi @ np.tensordot(w_theta, p_mats, axes=1)).sum(axis=0)
    middle = q_sum - p_sum - 0.25 * r_sum
    adjusted = phi + 2.0 * phi @ middle @ phi
    return KenwardRoger(beta_cov=0.5 * (adjusted + adjusted.T), phi=phi, p=p_mats, theta_cov=w_theta)
