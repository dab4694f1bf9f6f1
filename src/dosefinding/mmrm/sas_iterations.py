"""SAS PROC MIXED's own iterations: MIVQUE0 starting values, then Newton-Raphson in SAS's covariance parameters.

``mmrm(..., optimizer="sas")`` runs what PROC MIXED runs by default (no ``PARMS``
statement, ``METHOD=REML`` or ``ML``), so that it stops where SAS stops:

1. Iteration 0 is the null model, independent errors with one variance (SAS's
   "Iteration History" row 0 and its "Null Model Likelihood Ratio Test").
2. The starting values are MIVQUE0 (Rao 1971; Goodnight 1978): with
   ``V = sum_k phi_k V_k`` linear in SAS's parameters ``phi`` and
   ``Q = I - X (X'X)^- X'``, the solution of ``sum_l tr(Q V_k Q V_l) phi_l = r' V_k r``
   (``r`` the least-squares residuals; with a WEIGHT statement, of the weighted data).
   For ML, SAS's listings are reproduced with ``tr(V_k V_l)`` in place of
   ``tr(Q V_k Q V_l)`` (the ML scoring equations at ``V = I``).
3. Newton-Raphson on -2 (restricted) log likelihood with its observed Hessian, both in
   SAS's parameters (:mod:`dosefinding.mmrm.sas_scale`: the entries ``UN(i,j)`` for
   TYPE=UN, ``CS`` and ``Residual`` for TYPE=CS), taking full steps. Without GROUP=, SAS
   profiles the residual variance out of CS ("Residual Variance Method: Profile"): the
   iterations are then in ``CS / Residual`` alone (:class:`Profiled`, :func:`profile`).
   SAS's "Evaluations" count the likelihood evaluations of each iteration, the first
   including the starting values.
4. It stops when the relative Hessian criterion ``g' H^-1 g / |f|`` (SAS's default
   ``CONVH=1E-8``) is at most 1e-8, ``f`` the objective without its constant
   (``(n - p) log 2 pi`` for REML, ``n log 2 pi`` for ML); SAS prints it as "Criterion".

On fev_data this reproduces SAS's "Iteration History" to every printed digit for UN and
CS, REML and ML, with and without GROUP= (tests/mmrm/test_sas_iterations.py). A step is
halved while it leaves the parameter space or increases the objective, and a Hessian
that is not positive definite is ridged; the fev fits need neither, so these safeguards
are ours, not checked against SAS. Not implemented, because SAS's path is not reproduced: TOEP (from MIVQUE0,
SAS's first iteration takes 4 evaluations to 3863.53621989, ours 2 to 3868.23993594) and
the structures not linear in SAS's parameters (AR(1), CSH, ARH(1), TOEPH, ANTE(1),
SP(EXP)), whose starting values SAS does not document (for AR(1) REML the start that
reproduces SAS's iterations is rho = 0.3015 or 0.5503, no MIVQUE0 statistic we tried).

Full steps can stop short of the optimum on a flat likelihood (as on fev_data, where
SAS's -2 Res Log Likelihood is 6e-6 above it): use the default optimiser for the optimum,
this one to reproduce a SAS listing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from dosefinding.errors import ConvergenceError, InputError
from dosefinding.mmrm.covariance import (
    CovarianceModel,
    CovarianceStructure,
    MemberwiseStructure,
    get_structure,
    with_derivatives,
)
from dosefinding.mmrm.likelihood import Evaluation, PatternStats, evaluate
from dosefinding.mmrm.sas_scale import SasCovariance, sas_scale

__all__ = [
    "PROFILED", "SAS_STRUCTURES", "Profiled", "SasIterations", "mivque0", "newton_raphson", "null_model", "profile",
    "sas_iterations", "sas_model",
]

FloatArray = NDArray[np.float64]
Objective = Callable[[FloatArray, int], Evaluation]
# Structures whose SAS iterations are implemented (and checked against SAS's Iteration History).
SAS_STRUCTURES = ("us", "cs")
CONVH = 1e-8
MAX_ITERATIONS = 50
MAX_EVALUATIONS = 150
_HALVINGS = 30
_LOG_2PI = float(np.log(2.0 * np.pi))


def sas_model(model: CovarianceModel) -> CovarianceModel:
    """``model`` in SAS's parameters, or :class:`InputError` if SAS's iterations are not implemented for it.

    Examples
    --------
    >>> from dosefinding.mmrm.covariance import get_structure
    >>> sas_model(CovarianceModel(get_structure("us", 3))).structure.n_params
    6
    """
    if model.structure.name not in SAS_STRUCTURES:
        raise InputError(f"optimizer: 'sas' is implemented for covariance in {SAS_STRUCTURES}, "
                         f"not {model.structure.name!r}; use the default optimizer")
    return sas_scale(model)


# Ungrouped structures whose residual variance SAS profiles out of the iterations, with its position in SAS's
# parameters ("Residual Variance Method: Profile").
PROFILED = {"cs": 1, "toep": 0, "ar1": 1, "sp_exp": 1}


@dataclass(frozen=True)
class Profiled(MemberwiseStructure):
    """SAS's structure with the residual variance factored out: ``psi = (gamma, s2)``, ``Sigma = s2 C(gamma)``.

    ``C(gamma)`` is SAS's matrix at the parameters with the residual variance set to 1
    (``gamma`` the ratios ``CS / Residual`` and ``TOEP(l + 1) / TOEP(1)``, or ``rho`` and the
    range themselves for AR(1) and SP(EXP)).

    Examples
    --------
    >>> from dosefinding.mmrm.covariance import get_structure
    >>> from dosefinding.mmrm.sas_scale import SasCovariance
    >>> profiled = Profiled(3, SasCovariance(3, get_structure("cs", 3)))
    >>> profiled.matrix(np.array([0.5, 2.0]))[0].tolist(), profiled.sas_phi(np.array([0.5, 2.0])).tolist()
    ([3.0, 1.0, 1.0], [1.0, 2.0])
    """

    sas: CovarianceStructure

    @property
    def name(self) -> str:  # type: ignore[override]  # a property: the wrapped structure's
        return self.sas.name

    @property
    def n_params(self) -> int:
        return self.sas.n_params

    def derivatives_of_one(self, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        index = PROFILED[self.name]
        gamma, s2 = np.asarray(theta[:-1], dtype=float), float(theta[-1])
        corr, d_corr, d2_corr = with_derivatives(self.sas.evaluate(np.insert(gamma, index, 1.0)))
        keep = np.delete(np.arange(self.n_params), index)
        first = np.concatenate([s2 * d_corr[keep], corr[None]])
        second = np.zeros((self.n_params, *first.shape))
        second[:-1, :-1] = s2 * d2_corr[np.ix_(keep, keep)]
        second[:-1, -1] = second[-1, :-1] = d_corr[keep]
        return s2 * corr, first, second

    def sas_phi(self, psi: FloatArray) -> FloatArray:
        """SAS's parameters at ``psi``."""
        assert isinstance(self.sas, SasCovariance)
        return self.sas.from_matrix(self.matrix(psi))

    def start(self, empirical: FloatArray) -> FloatArray:
        assert isinstance(self.sas, SasCovariance)
        phi = self.sas.from_matrix(empirical)
        index = PROFILED[self.name]
        s2 = float(phi[index])
        gamma = np.delete(phi, index)
        if self.name in ("cs", "toep"):
            gamma = gamma / s2
        return np.append(gamma, s2)

    def sas_parameters(self, theta: FloatArray) -> dict[str, float]:
        return self.sas.sas_parameters(self.sas_phi(theta))

    def scale_theta(self, theta: FloatArray, factor: ArrayLike) -> FloatArray:
        """``(gamma, s2 factor^2)``: the ratios stay, the residual variance scales."""
        out = np.array(theta, dtype=float)
        out[..., -1] *= np.asarray(factor, dtype=float) ** 2
        return out


def profiled_variance(objective: Objective, gamma: FloatArray, n_star: int) -> float:
    """``s2_hat(gamma) = r'C^-1 r / n*``, from the derivative of ``objective`` in ``s2`` at ``s2 = 1``."""
    at_one = objective(np.append(gamma, 1.0), 1)
    assert at_one.gradient is not None
    return (n_star - float(at_one.gradient[-1])) / n_star


def profile(objective: Objective, n_star: int) -> Objective:
    """The objective of ``gamma`` with the residual variance profiled out (``objective`` of ``(gamma, s2)``).

    ``-2 l = n* log s2 + r'C^-1 r / s2 + ...`` (``n* = n - p`` for REML, ``n`` for ML), so
    ``s2_hat = r'C^-1 r / n*``, read off the derivative at ``s2 = 1``; the Hessian is the
    Schur complement, exact where ``d / d s2 = 0``.
    """

    def profiled(gamma: FloatArray, order: int) -> Evaluation:
        full = objective(np.append(gamma, profiled_variance(objective, gamma, n_star)), max(order, 1))
        assert full.gradient is not None
        hessian = None
        if full.hessian is not None:
            h = full.hessian
            hessian = h[:-1, :-1] - np.outer(h[:-1, -1], h[-1, :-1]) / h[-1, -1]
        return Evaluation(value=full.value, beta=full.beta, beta_cov=full.beta_cov, gradient=full.gradient[:-1],
                          hessian=hessian, q=None if full.q is None else full.q[:-1])

    return profiled


def _basis_per_pattern(stats: PatternStats, model: CovarianceModel) -> FloatArray:
    """``B[g, m] = M_g dSigma/dphi_m M_g`` (G, q, k, k): each parameter's matrix over pattern ``g``'s visits."""
    structure = model.structure
    _, basis, _ = with_derivatives(structure.evaluate(np.zeros(structure.n_params)))
    observed = stats.mask[0].astype(float)
    per_group = basis[None] * observed[:, None, :, None] * observed[:, None, None, :]
    q0 = structure.n_params
    n_slots = stats.n.shape[1]
    out = np.zeros((n_slots, model.n_params, *basis.shape[1:]))
    groups = np.zeros(n_slots, dtype=np.intp) if stats.group is None else stats.group[0]
    for h in range(model.n_groups):
        members = groups == h
        out[members, h * q0:(h + 1) * q0] = per_group[members]
    return out


def _least_squares(stats: PatternStats) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(X'X)^-1``, the residual cross products per pattern (G, k, k) and ``sum_i X_ia' X_ib`` (G, k, k, p, p)."""
    xx, xy, yy = (sums[0] for sums in stats.design_sums())
    xtx = np.einsum("gaapq->pq", xx)
    xty = np.einsum("gaap->p", xy)
    inverse = np.linalg.pinv(xtx)
    beta = inverse @ xty
    xy_beta = xy @ beta
    resid = yy - xy_beta - xy_beta.transpose(0, 2, 1) + (xx @ beta) @ beta
    return inverse, resid, xx


def mivque0(stats: PatternStats, model: CovarianceModel, *, reml: bool = True) -> FloatArray:
    """MIVQUE0 estimates of SAS's covariance parameters of ``model`` (a :func:`sas_model`, linear in them).

    ``reml=False`` gives SAS's starting values for ML (without the projection ``Q`` in the
    traces; see the module docstring).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=(300, 2)) @ np.array([[2.0, 0.0], [1.0, 1.0]]).T
    >>> stats = PatternStats.from_rows(np.ones((600, 1)), y.ravel(), subject=np.repeat(np.arange(300), 2),
    ...                                visit=np.tile([0, 1], 300), k=2)
    >>> from dosefinding.mmrm.covariance import get_structure
    >>> mivque0(stats, sas_model(CovarianceModel(get_structure("us", 2)))).round(1).tolist()
    [4.0, 2.0, 2.0]
    """
    inverse, resid, xx = _least_squares(stats)
    basis = _basis_per_pattern(stats, model)
    n = stats.n[0]
    # tr(V_k V_l), tr((X'X)^-1 X'V_l V_k X) and G_k = X'V_k X, as sums over the patterns.
    traces = np.einsum("g,gkab,glba->kl", n, basis, basis)
    b = np.einsum("gkab,gab->k", basis, resid)
    if not reml:
        return np.linalg.solve(traces, b)
    products = basis[:, :, None] @ basis[:, None]  # [g, k, l] = B_k B_l
    cross = np.einsum("gklab,gabpq,qp->kl", products, xx, inverse)
    g_mats = np.einsum("gkab,gabpq->kpq", basis, xx)
    a = traces - cross - cross.T + np.einsum("kpq,qr,lrs,sp->kl", g_mats, inverse, g_mats, inverse)
    return np.linalg.solve(a, b)


def null_model(stats: PatternStats, model: CovarianceModel, *, reml: bool) -> float:
    """-2 (restricted) log likelihood of the null model: independent errors with one variance (SAS's iteration 0)."""
    _, resid, _ = _least_squares(stats)
    n_obs = int(stats.n_obs[0])
    variance = float(np.einsum("gaa->", resid)) / (n_obs - stats.p if reml else n_obs)
    k = model.structure.k
    independent = sas_scale(CovarianceModel(get_structure("us", k), groups=model.groups, column=model.column))
    phi = np.tile(independent.structure.start(variance * np.eye(k)), model.n_groups)
    return evaluate(stats, independent, phi, reml=reml, order=0).value


@dataclass(frozen=True)
class SasIterations:
    """Where SAS's iterations stopped: ``phi``, the evaluation there (order 2) and SAS's "Iteration History"."""

    phi: FloatArray
    evaluation: Evaluation
    history: pd.DataFrame


def _criterion(evaluation: Evaluation, constant: float) -> float:
    assert evaluation.gradient is not None and evaluation.hessian is not None
    step = np.linalg.solve(evaluation.hessian, evaluation.gradient)
    return float(evaluation.gradient @ step) / abs(evaluation.value - constant)


def _newton_step(evaluation: Evaluation) -> FloatArray:
    """``H^-1 g``, with a ridge added to ``H`` until it is positive definite."""
    assert evaluation.gradient is not None and evaluation.hessian is not None
    hessian = evaluation.hessian
    ridge = 0.0
    scale = max(float(np.max(np.abs(np.diag(hessian)))), np.finfo(float).tiny)
    for _ in range(60):
        try:
            chol = np.linalg.cholesky(hessian + ridge * np.eye(len(hessian)))
            return np.linalg.solve(chol.T, np.linalg.solve(chol, evaluation.gradient))
        except np.linalg.LinAlgError:
            ridge = max(2.0 * ridge, 1e-8 * scale)
    raise ConvergenceError("optimizer='sas': the Hessian could not be made positive definite")


def newton_raphson(
    objective: Objective, start: FloatArray, null: float, *, constant: float, reml: bool
) -> SasIterations:
    """PROC MIXED's Newton-Raphson from ``start``; iteration 0 is ``null``, the null model's objective.

    ``constant`` is the objective's ``log 2 pi`` term, left out of the criterion's
    denominator as SAS does. Raises :class:`ConvergenceError` with the iteration history
    when the starting values are not a positive definite matrix, or SAS's limits (50
    iterations, 150 evaluations) are reached before the criterion.

    Examples
    --------
    >>> def quadratic(phi, order):
    ...     return Evaluation(value=float(phi @ phi) + 10.0, beta=np.zeros(0), beta_cov=np.zeros((0, 0)),
    ...                       gradient=2 * phi, hessian=2 * np.eye(phi.size))
    >>> run = newton_raphson(quadratic, np.ones(2), 12.0, constant=0.0, reml=True)
    >>> run.phi.round(12).tolist(), run.history["Iteration"].tolist()
    ([0.0, 0.0], [0, 1])
    """
    label = "-2 Res Log Like" if reml else "-2 Log Like"
    rows: list[tuple[int, int, float, float]] = [(0, 1, null, float("nan"))]

    def history() -> pd.DataFrame:
        return pd.DataFrame(rows, columns=["Iteration", "Evaluations", label, "Criterion"])

    try:
        current = objective(start, 2)
    except np.linalg.LinAlgError:
        raise ConvergenceError(f"optimizer='sas': the MIVQUE0 starting values are not a positive definite "
                               f"covariance matrix: {np.round(start, 6).tolist()}") from None
    phi, evaluations, total = np.asarray(start, dtype=float), 1, 1
    for iteration in range(1, MAX_ITERATIONS + 1):
        step = _newton_step(current)
        for halving in range(_HALVINGS):
            trial = phi - 0.5**halving * step
            evaluations += 1
            try:
                with np.errstate(invalid="ignore", divide="ignore"):
                    candidate = objective(trial, 2)
            except np.linalg.LinAlgError:
                continue
            if np.isfinite(candidate.value) and candidate.value <= current.value:
                break
        else:
            rows.append((iteration, evaluations, current.value, float("nan")))
            raise ConvergenceError(f"optimizer='sas': no step stayed in the parameter space and decreased the "
                                   f"objective at iteration {iteration}; iteration history:\n"
                                   f"{history().to_string(index=False)}")
        phi, current = trial, candidate
        criterion = _criterion(current, constant)
        rows.append((iteration, evaluations, current.value, criterion))
        total += evaluations
        if criterion <= CONVH:
            return SasIterations(phi=phi, evaluation=current, history=history())
        if total >= MAX_EVALUATIONS:
            break
        evaluations = 0
    raise ConvergenceError(f"optimizer='sas': SAS's criterion (CONVH {CONVH:g}) was not met within its limits "
                           f"({MAX_ITERATIONS} iterations, {MAX_EVALUATIONS} evaluations); PROC MIXED would "
                           f"report 'Did not converge'. Iteration history:\n{history().to_string(index=False)}")


def sas_iterations(stats: PatternStats, model: CovarianceModel, *, reml: bool) -> SasIterations:
    """PROC MIXED's iterations for ``model`` (a :func:`sas_model`): MIVQUE0, then Newton-Raphson, profiled if SAS does.

    Returns SAS's parameters where SAS stops, the evaluation there (order 2, in SAS's
    parameters, residual variance included) and SAS's "Iteration History".

    Examples
    --------
    >>> from dosefinding.mmrm.covariance import get_structure
    >>> rng = np.random.default_rng(2)
    >>> y = rng.normal(size=(100, 3)) + rng.normal(size=(100, 1))
    >>> stats = PatternStats.from_rows(np.ones((300, 1)), y.ravel(), subject=np.repeat(np.arange(100), 3),
    ...                                visit=np.tile([0, 1, 2], 100), k=3)
    >>> run = sas_iterations(stats, sas_model(CovarianceModel(get_structure("cs", 3))), reml=True)
    >>> run.history.columns.tolist(), bool(run.history["Criterion"].iloc[-1] <= CONVH)
    (['Iteration', 'Evaluations', '-2 Res Log Like', 'Criterion'], True)
    """
    n_star = int(stats.n_obs[0]) - (stats.p if reml else 0)
    constant = n_star * _LOG_2PI
    null = null_model(stats, model, reml=reml)
    start = mivque0(stats, model, reml=reml)

    def full(phi: FloatArray, order: int) -> Evaluation:
        return evaluate(stats, model, phi, reml=reml, order=order)

    if model.n_groups > 1 or model.structure.name not in PROFILED:
        run = newton_raphson(full, start, null, constant=constant, reml=reml)
        return run
    structure = Profiled(model.structure.k, model.structure)
    profiled_model = CovarianceModel(structure)

    def of_psi(psi: FloatArray, order: int) -> Evaluation:
        return evaluate(stats, profiled_model, psi, reml=reml, order=order)

    gamma = structure.start(model.structure.matrix(start))[:-1]
    run = newton_raphson(profile(of_psi, n_star), gamma, null, constant=constant, reml=reml)
    phi = structure.sas_phi(np.append(run.phi, profiled_variance(of_psi, run.phi, n_star)))
    return SasIterations(phi=phi, evaluation=full(phi, 2), history=run.history)
