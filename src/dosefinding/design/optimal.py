"""Optimal designs for dose-finding: D-optimal, TD-optimal, their mixture, a criterion of your own
(R DoseFinding's ``optDesign``, ``calcCrit`` and ``rndDesign``).

A design gives each dose a share ``w_i`` of the patients. Under candidate model ``m`` with
gradient ``g_i`` of the mean response at dose ``i`` (in the model's parameters), the Fisher
information per patient is ``M_m = sum_i a_i r_i g_i g_i'`` (up to the residual variance), where
``a_i`` is the share of all patients on dose ``i`` (with ``n_old`` patients already treated and
``n`` to come, ``a = (n w + n_old) / (n + sum(n_old))``) and ``r_i`` an optional weight of the
response at dose ``i`` (the inverse of its relative variance). With model probabilities ``p_m``:

* ``"D"``: ``sum_m p_m (-log det M_m) / k_m`` (``k_m`` the number of parameters, or 1 with
  ``standardize=False``): precise estimation of the whole curve.
* ``"TD"``: ``sum_m p_m log(b_m' M_m^- b_m)``, ``b_m`` the gradient of the target dose in the
  parameters (:func:`~dosefinding.mod.target_doses.target_dose_gradient`), ``M^-`` the
  Moore-Penrose inverse: the asymptotic variance of the estimated TD (Dette et al. 2008).
* ``"D&TD"``: ``sum_m p_m (-0.5 log det M_m / k_m + 0.5 log(b_m' M_m^- b_m))``.
* a function ``criterion(allocation, doses) -> float`` of your own.

A continuous design (the shares; any dose grid) is found by Newton's method with the criterion's
exact gradient and Hessian: on the shares, then, where a share belongs on its lower bound, in
softmax coordinates; with upper bounds on the shares, by a trust-region interior-point method.
An exact design (``exact=True``, integer numbers of patients out of ``n``, optionally in groups)
is the best of all allocations, enumerated.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from dosefinding.errors import InputError
from dosefinding.mod.target_doses import check_delta, continuous_target_dose, gradient_at_target_dose
from dosefinding.shapes.candidates import CandidateModel, Candidates
from dosefinding.shapes.library import get_shape
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_doses, as_generator, as_vector

__all__ = ["DesignCriterion", "OptimalDesign", "design_criterion", "optimal_design", "round_design"]

FloatArray = NDArray[np.float64]
DesignCriterion = Literal["D", "TD", "D&TD"]
UserCriterion = Callable[[FloatArray, FloatArray], float]

_CRITERIA: dict[str, DesignCriterion] = {"D": "D", "Dopt": "D", "TD": "TD", "D&TD": "D&TD", "Dopt&TD": "D&TD"}
_TITLES = {"D": "D-optimal", "TD": "TD-optimal", "D&TD": "D- and TD-optimal (equal weight)", "user": "optimal"}
# Singular values below this fraction of the largest are zero in the Moore-Penrose inverse (as DoseFinding).
_SINGULAR = 1e-15
# A dose with a share at most this (and no patients already) does not count as used (as DoseFinding).
_USED = 1e-4
_SUM_TOLERANCE = 1.5e-8  # sqrt of the machine epsilon, as DoseFinding
_CHUNK = 20_000
_SHARE_STEPS = 12  # Newton steps on the shares before the softmax coordinates take over
_INTERIOR = 1e-6  # a share this close (relative) to its lower bound may belong on it: softmax coordinates decide
_LONGEST_STEP = 5.0  # in the softmax coordinates: a share changes at most e^5-fold in a step
_STATIONARY = 1e-10  # largest derivative of the criterion in the softmax coordinates at the optimum
_ROUNDING = 1e-14  # relative fall of the criterion that a Newton step may promise and still be rounding error


@dataclass(frozen=True)
class OptimalDesign(SummaryDisplay):
    """An optimal design: the share of the (next) patients on each dose.

    Attributes
    ----------
    doses
        The doses of the design.
    weights
        Share of the ``n`` patients to come on each dose (summing to 1); for an exact design,
        whole numbers of patients divided by ``n``.
    criterion
        ``"D"``, ``"TD"``, ``"D&TD"`` or ``"user"``.
    value
        The criterion at the design (smaller is better; ``exp`` of a difference of two values
        is a relative efficiency).
    n, n_old
        Patients to come (``None`` for a continuous design without ``n``) and patients already
        on each dose.
    exact
        Whether the design was enumerated over whole numbers of patients.
    converged, message
        The optimizer's report (an exact design is always converged).
    labels, probabilities
        The candidate models and their probabilities (empty for a user criterion).

    Examples
    --------
    >>> from dosefinding import Candidates
    >>> des = optimal_design(Candidates([0, 10, 100], {"emax": 15}), criterion="TD", delta=0.5)
    >>> des.weights.round(3).tolist(), round(des.value, 4)
    ([0.5, 0.482, 0.018], 8.8902)
    """

    doses: FloatArray
    weights: FloatArray
    criterion: str
    value: float
    n: float | None
    n_old: FloatArray
    exact: bool
    converged: bool
    message: str
    labels: tuple[str, ...]
    probabilities: FloatArray

    @property
    def patients(self) -> FloatArray | None:
        """Patients to come per dose, ``n * weights`` (whole numbers for an exact design), or None without ``n``."""
        return None if self.n is None else self.n * self.weights

    def to_frame(self) -> pd.DataFrame:
        """One row per dose: its weight, and with ``n`` the patients to come (and already treated)."""
        frame = pd.DataFrame({"weight": self.weights}, index=pd.Index(self.doses, name="dose"))
        if self.n is not None:
            frame["patients"] = self.n * self.weights
        if np.any(self.n_old > 0):
            frame["n_old"] = self.n_old
        return frame

    def __repr__(self) -> str:
        return short_repr(self, criterion=self.criterion, doses=self.doses.tolist(),
                          weights=[round(w, 4) for w in self.weights.tolist()], value=self.value, exact=self.exact)

    def summary(self) -> Summary:
        """The design as DoseFinding prints it (doses with a weight above 0.001), then the criterion."""
        kind = f"{'Exact' if self.exact else 'Continuous'} {_TITLES[self.criterion]} design"
        models = f" over {len(self.labels)} candidate model(s)" if self.labels else ""
        shown = self.to_frame()[self.weights > 1e-3]
        lines: list[str | SummaryTable] = [kind + models, SummaryTable(shown.round(5)), f"Criterion: {self.value:.6g}"]
        if not self.converged:
            lines.append(f"The optimizer did not converge: {self.message}")
        return Summary(lines, frame=self.to_frame())


@dataclass(frozen=True)
class _Information:
    """The candidate models at the design's doses, in arrays padded to the largest number of parameters.

    A model with ``k`` parameters fills the leading ``k`` of ``P`` columns of its gradients; its
    information matrix gets the mean of its own eigenvalues on the padded diagonal, which leaves
    the determinant (once divided out), the inverse on the model's parameters and the singular-value
    threshold (relative to the largest) as they are, and lets one batched eigen-decomposition serve all models.
    """

    gradients: FloatArray  # (m, n_doses, P)
    td_gradients: FloatArray | None  # (m, P)
    probabilities: FloatArray  # (m,)
    k: FloatArray  # parameters per model (m,)
    scale: FloatArray  # divisor of the log-determinant (k, or 1 unstandardized)
    padding: FloatArray  # (m, P, P): 1 on the padded diagonal
    transposed: FloatArray  # (m, P, n_doses): the gradients transposed
    right: FloatArray  # (m, P, n_doses + 1): the gradients transposed, then the TD gradients (without: n_doses)
    uninformed: NDArray[np.int64]  # (m,): k minus the rank of the model's gradients over all the doses

    def _decompose(
        self, allocation: FloatArray, cutoff: float | None = _SINGULAR
    ) -> tuple[FloatArray, FloatArray, NDArray[np.bool_], FloatArray]:
        """Eigenvalues (absolute, as singular values), eigenvectors, the kept ones and the log of the padding.

        Kept: those above ``cutoff`` times the largest (DoseFinding's rule), or with ``cutoff=None`` all but
        the smallest ``k - rank`` of each model (the directions no allocation of the doses informs): with every
        share positive the rest are positive, however small.
        """
        if allocation.ndim == 1:
            info = (np.swapaxes(self.gradients, 1, 2) * allocation) @ self.gradients
        else:
            info = np.einsum("kd,mdi,mdj->kmij", allocation, self.gradients, self.gradients, optimize=True)
        fill = np.einsum("...ii->...", info) / self.k
        info += fill[..., None, None] * self.padding
        eigenvalues, vectors = np.linalg.eigh(info)
        s = np.abs(eigenvalues)
        kept: NDArray[np.bool_]
        if cutoff is None:
            kept = np.broadcast_to(np.arange(s.shape[-1]) >= self.uninformed[:, None], s.shape)
        else:
            kept = s > cutoff * s.max(axis=-1, keepdims=True)
        with np.errstate(divide="ignore"):
            log_fill = (self.gradients.shape[2] - self.k) * np.log(fill)
        return s, vectors, kept, log_fill

    def values(
        self, allocation: FloatArray, criterion: DesignCriterion, support: NDArray[np.bool_] | None = None
    ) -> FloatArray:
        """The criterion at each row of ``allocation`` (shares of all patients).

        With ``support`` (the doses each design uses), a design using fewer doses than a model with
        positive probability has parameters gets ``inf``: it cannot estimate that model (DoseFinding's
        ``calcCrit`` gives NA). Otherwise a singular information matrix enters through its
        Moore-Penrose inverse, as DoseFinding's ``optDesign``.
        """
        s, vectors, kept, log_fill = self._decompose(allocation)
        terms = np.zeros(s.shape[:2])
        weight = 0.5 if criterion == "D&TD" else 1.0
        with np.errstate(divide="ignore", invalid="ignore"):  # singular designs: inf, or inf - inf, made inf below
            if criterion in ("D", "D&TD"):
                terms += weight * (log_fill - np.log(s).sum(axis=-1)) / self.scale
            if criterion in ("TD", "D&TD"):
                assert self.td_gradients is not None
                projection = np.einsum("kmij,mi->kmj", vectors, self.td_gradients) ** 2
                variance = np.where(kept, projection / np.where(kept, s, 1.0), 0.0).sum(axis=-1)
                terms += weight * np.log(variance)
        total = np.where(self.probabilities > 0, self.probabilities * terms, 0.0).sum(axis=-1)
        if support is not None:
            needed = self.k[self.probabilities > 0].max()
            total = np.where(support.sum(axis=-1) < needed, np.inf, total)
        return total

    def _gram(self, allocation: FloatArray) -> tuple[FloatArray, FloatArray]:
        """With ``M^- = R R'`` (every informed eigenvalue of each model's information kept) and ``X = R' [G' b]``:
        the Gram matrix ``X' X`` (``(m, d + 1, d + 1)``: ``G M^- G'``, then ``G M^- b`` and ``b' M^- b`` in the last
        column; ``(m, d, d)`` without TD gradients) and ``log det`` of the informed part of ``M``.

        Where every model's doses inform all its parameters ``M`` is positive definite: ``R = L^-T`` of its
        Cholesky factor ``L`` (the padded diagonal set to 1, which leaves the model's block of ``L`` as it is),
        one batched factorisation and solve; otherwise (or if it fails) by eigenvalues.
        """
        if not self.uninformed.any():
            try:
                lower = np.linalg.cholesky((self.transposed * allocation) @ self.gradients + self.padding)
            except np.linalg.LinAlgError:
                pass
            else:
                solved = np.linalg.solve(lower, self.right)  # L^-1 [G' b]
                log_det = 2 * np.log(np.diagonal(lower, axis1=1, axis2=2)).sum(axis=-1)
                return np.swapaxes(solved, 1, 2) @ solved, log_det
        s, vectors, kept, log_fill = self._decompose(allocation, cutoff=None)
        inverse_s = np.where(kept, 1.0 / np.where(kept, s, 1.0), 0.0)
        projected = np.swapaxes(vectors * np.sqrt(inverse_s)[:, None, :], 1, 2) @ self.right
        with np.errstate(divide="ignore"):
            log_det = np.log(s).sum(axis=-1) - log_fill
        return np.swapaxes(projected, 1, 2) @ projected, log_det

    def derivatives(self, allocation: FloatArray, criterion: DesignCriterion) -> tuple[float, FloatArray, FloatArray]:
        """The criterion at one allocation, its gradient and its Hessian in the shares.

        With ``L_ij = g_i' M^- g_j`` and ``c_i = g_i' M^- b``: ``-log det M`` has gradient ``-L_ii`` and
        Hessian ``L_ij^2``; ``log v`` (``v = b' M^- b``) has gradient ``-c_i^2 / v`` and Hessian
        ``2 c_i c_j L_ij / v - c_i^2 c_j^2 / v^2``. Every eigenvalue of ``M`` that the doses inform is kept,
        so the criterion grows without bound as a design nears one that cannot estimate a model or its TD.
        """
        gram, log_det = self._gram(allocation)
        size = allocation.size
        leverage = gram[:, :size, :size]  # L (m, d, d)
        weight = 0.5 if criterion == "D&TD" else 1.0
        value = 0.0
        gradient = np.zeros(size)
        curvature = np.zeros_like(leverage)  # per model, the Hessian's terms that multiply L elementwise
        hessian = np.zeros((size, size))
        if criterion in ("D", "D&TD"):
            factor = weight * self.probabilities / self.scale
            value -= float(factor @ log_det)
            gradient -= factor @ np.diagonal(leverage, axis1=1, axis2=2)
            curvature += factor[:, None, None] * leverage
        if criterion in ("TD", "D&TD"):
            variance = gram[:, size, size]
            u = gram[:, :size, size] / np.sqrt(variance)[:, None]  # c_i / sqrt(v)
            c2 = u * u
            factor = weight * self.probabilities
            value += float(factor @ np.log(variance))
            gradient -= factor @ c2
            curvature += (2.0 * factor)[:, None, None] * (u[:, :, None] * u[:, None, :])
            hessian -= (c2.T * factor) @ c2
        hessian += (curvature * leverage).sum(axis=0)
        return value, gradient, hessian


def optimal_design(
    candidates: Candidates | Sequence[CandidateModel] | None = None,
    probabilities: ArrayLike | None = None,
    *,
    doses: ArrayLike | None = None,
    criterion: str | UserCriterion = "D",
    delta: float | None = None,
    standardize: bool = True,
    response_weights: ArrayLike | None = None,
    n: float | None = None,
    n_old: ArrayLike | None = None,
    lower: float | ArrayLike = 0.0,
    upper: float | ArrayLike = 1.0,
    exact: bool = False,
    group_size: int = 1,
    max_designs: int = 1_000_000,
) -> OptimalDesign:
    """The optimal share of patients per dose for the candidate models (R DoseFinding's ``optDesign``).

    Parameters
    ----------
    candidates
        The candidate models with all parameters: a :class:`~dosefinding.shapes.Candidates` or a
        sequence of :class:`~dosefinding.shapes.CandidateModel` (parameters set by hand, as in
        Dette et al. 2008). Not needed for a criterion of your own.
    probabilities
        Probability of each candidate model, in order, summing to 1; by default equal.
    doses
        The doses the design may use (a grid for a continuous design); by default the
        candidates' doses.
    criterion
        ``"D"``, ``"TD"``, ``"D&TD"`` (R's ``"Dopt"`` and ``"Dopt&TD"`` work too), or a
        function ``criterion(allocation, doses) -> float`` to minimise, given the share of all
        patients per dose (R's ``userCrit``).
    delta
        The target effect over placebo of the TD (needed for ``"TD"`` and ``"D&TD"``): positive
        for an increasing curve, negative for a decreasing one (R's ``Delta`` with its direction).
        Each candidate's TD must lie within the doses.
    standardize
        Divide each model's log-determinant by its number of parameters (R's ``standDopt``).
    response_weights
        Weight of the response at each dose, the inverse of its relative variance (e.g.
        ``mu (1 - mu)`` for a logistic regression); by default 1.
    n, n_old
        Patients to come and patients already on each dose (a design at an interim analysis:
        the criterion is that of the whole trial). ``n`` is needed for an exact design and with ``n_old``.
    lower, upper
        Bounds on the share of the patients to come on each dose (one number or one per dose).
    exact
        Enumerate all allocations of ``n`` patients (in groups of ``group_size``) within the
        bounds and return the best; at most ``max_designs`` allocations are enumerated.

    Returns
    -------
    OptimalDesign

    Examples
    --------
    DoseFinding's example: an Emax model, the D-, TD- and mixed optimal designs.

    >>> from dosefinding import Candidates
    >>> emax = Candidates([0, 10, 100], {"emax": 15})
    >>> optimal_design(emax).weights.round(4).tolist()
    [0.3333, 0.3333, 0.3333]
    >>> optimal_design(emax, criterion="D&TD", delta=0.5).weights.round(4).tolist()
    [0.4219, 0.4106, 0.1675]
    >>> optimal_design(emax, criterion="TD", delta=0.5, n=30, exact=True, group_size=5).patients.tolist()
    [15.0, 10.0, 5.0]
    """
    kind, user = _criterion(criterion)
    if candidates is None and user is None:
        raise InputError("candidates: give the candidate models, or a criterion function of your own")
    models = _models(candidates) if candidates is not None else ()
    d = _design_doses(doses if doses is not None or not isinstance(candidates, Candidates) else candidates.doses)
    if exact and n is None:
        raise InputError("n: an exact design needs the number of patients n")
    cohort, old = _cohort(n, n_old, d.size)
    low = _bound(lower, d.size, "lower")
    high = _bound(upper, d.size, "upper")
    if low.sum() > 1 + 1e-12:
        raise InputError(f"lower: the lower bounds sum to {low.sum():g} > 1, so no design meets them")
    if high.sum() < 1 - 1e-12:
        raise InputError(f"upper: the upper bounds sum to {high.sum():g} < 1, so no design meets them")
    if np.any(low > high):
        raise InputError(f"lower: exceeds upper at dose(s) {d[low > high].tolist()}")
    labels: tuple[str, ...] = ()
    probs = np.empty(0)
    if user is None:
        probs = _probabilities(probabilities, len(models))
        info = _information(models, probs, d, kind, delta, standardize, response_weights, models if candidates is None
                            else candidates)
        labels = tuple(m.label for m in models)
    share = cohort / (cohort + old.sum())
    offset = old / (cohort + old.sum())

    def allocation(w: FloatArray) -> FloatArray:
        return share * w + offset

    if exact:
        return _exact_design(d, allocation, kind if user is None else None, info if user is None else None, user,
                             cohort, old, low, high, group_size, max_designs, labels, probs)
    if user is None and not old.any():
        def criterion_at(w: FloatArray) -> tuple[float, FloatArray, FloatArray]:
            return info.derivatives(w, kind)
    elif user is None:
        def criterion_at(w: FloatArray) -> tuple[float, FloatArray, FloatArray]:
            value, gradient, hessian = info.derivatives(allocation(w), kind)
            return value, share * gradient, share * share * hessian
    else:
        def criterion_at(w: FloatArray) -> tuple[float, FloatArray, FloatArray]:
            return float(user(allocation(w), d)), np.full(d.size, np.nan), np.full((d.size, d.size), np.nan)
    weights, value_at, converged, message = _minimise(criterion_at, low, high, user is None)
    if value_at is not None:
        value = value_at
    elif user is not None:
        value = float(user(allocation(weights), d))
    else:
        value = float(info.values(allocation(weights)[None], kind)[0])
    return OptimalDesign(d, weights, kind if user is None else "user", value, None if n is None else cohort, old,
                         False, converged, message, labels, probs)


def _minimise(
    criterion_at: Callable[[FloatArray], tuple[float, FloatArray, FloatArray]],
    low: FloatArray,
    high: FloatArray,
    analytic: bool,
) -> tuple[FloatArray, float | None, bool, str]:
    """The shares (within the bounds, summing to 1) that minimise the criterion, and the criterion there where
    the search has it as :func:`optimal_design` reports it (else None).

    Without upper bounds: Newton's method with the criterion's exact Hessian on the shares (within
    the simplex, each step keeping 1% of the distance to the lower bounds), which finds an optimum
    inside in a few steps; if that fails or a share nears its bound, on ``z`` with shares ``low + (1 - sum(low)) softmax(z)`` (BFGS
    with differences for a criterion of your own). The shares stay positive, so the search never
    steps onto a design that cannot estimate a model (where the criterion jumps to infinity), and
    shares that should be 0 come out below about 1e-6. With upper bounds, a trust-region
    interior-point method on the shares.
    """
    size = low.size
    free = 1.0 - low.sum()
    if np.all(high >= 1.0):
        def shares(z: FloatArray) -> FloatArray:
            e = np.exp(z - z.max())
            return low + free * e / e.sum()

        def in_z(z: FloatArray) -> tuple[float, FloatArray, FloatArray]:
            e = np.exp(z - z.max())
            soft = e / e.sum()
            value, g, h = criterion_at(low + free * soft)
            outer = np.outer(soft, soft)
            jacobian = free * (np.diag(soft) - outer)
            # The curvature of the softmax, sum_i g_i d2 w_i / dz dz', with u = free g:
            # diag(u s) - (u s) s' - s (u s)' + (u . s) (2 s s' - diag(s)).
            us = free * g * soft
            cross = np.outer(us, soft)
            curvature = np.diag(us - us.sum() * soft) - cross - cross.T + 2 * us.sum() * outer
            return value, jacobian @ g, jacobian @ h @ jacobian + curvature

        if analytic:
            # Newton on the shares themselves first: an optimum inside the simplex (where the criterion is
            # nearly quadratic) takes a few steps. Else the softmax coordinates, from equal shares (not from
            # where the first search stopped: shares it took near 0 would be slow to come back).
            w, value, success = _newton_on_shares(criterion_at, low, free)
            if success and np.all(w - low > _INTERIOR * free):
                return w, value, True, "converged"
            z, success, message = _newton(in_z, np.zeros(size))
        else:
            result = optimize.minimize(lambda z: criterion_at(shares(z))[0], np.zeros(size), jac="3-point",
                                       method="BFGS", options={"gtol": 1e-10, "maxiter": 5000})
            z, success, message = result.x, bool(result.success), str(result.message)
        w = shares(z)
        if analytic:
            gradient = criterion_at(w)[1]
        else:
            gradient = optimize.approx_fprime(w, lambda v: criterion_at(v)[0], 1e-7)
        soft = (w - low) / free
        # The search may stop on precision loss at the optimum: converged where the shares are stationary.
        stationary = float(np.max(np.abs(soft * (gradient - soft @ gradient)))) < (1e-6 if analytic else 1e-5)
        converged = success or stationary
        return w, None, converged, "converged" if converged else message
    start = low + free / (high.sum() - low.sum()) * (high - low)
    with warnings.catch_warnings():  # its quasi-Newton update skips steps that do not change the gradient, and says so
        warnings.filterwarnings("ignore", message="delta_grad == 0.0", category=UserWarning)
        result = optimize.minimize(
            (lambda w: criterion_at(w)[:2]) if analytic else (lambda w: criterion_at(w)[0]), start,
            jac=True if analytic else "3-point", method="trust-constr", bounds=optimize.Bounds(low, high),
            constraints=[optimize.LinearConstraint(np.ones((1, size)), 1.0, 1.0)],
            options={"gtol": 1e-12, "xtol": 1e-14, "maxiter": 5000},
        )
    w = np.clip(result.x, low, high)
    return w / w.sum(), None, bool(result.success), str(result.message)


@functools.cache
def _simplex_basis(size: int) -> FloatArray:
    """An orthonormal basis (columns) of the directions in which shares of ``size`` doses keep their sum."""
    basis = np.linalg.qr(np.column_stack([np.ones(size), np.eye(size)[:, :-1]]))[0][:, 1:]
    basis.flags.writeable = False
    return basis


def _newton_on_shares(
    criterion_at: Callable[[FloatArray], tuple[float, FloatArray, FloatArray]], low: FloatArray, free: float
) -> tuple[FloatArray, float, bool]:
    """Newton's method on the shares from equal ones, at most ``_SHARE_STEPS`` steps (as :func:`_newton`, in
    coordinates of the plane of the simplex), each step keeping 1% of each share's distance to its lower bound;
    it gives up (unconverged) where that leaves a share within 0.1% of its bound: the optimum may lie on it.
    Returns the shares, the criterion there and whether they are stationary (:func:`_negligible`)."""
    basis = _simplex_basis(low.size)
    w = low + free / low.size
    value, g, h = criterion_at(w)
    for _ in range(_SHARE_STEPS):
        gradient = g @ basis
        if np.abs(gradient).max() < _STATIONARY:
            return w, value, True
        step = _newton_step(gradient, basis.T @ h @ basis)
        change = basis @ step
        shrinking = change < 0
        room = (w - low)[shrinking] / -change[shrinking]
        alpha = 1.0
        if room.size and room.min() < 1.0:
            alpha = 0.99 * float(room.min())
            if (w + alpha * change - low).min() < 1e-3 * free:
                return w, value, False
        slope = float(gradient @ step)
        if _negligible(slope, value):
            return w, value, True
        accepted = _line_search(criterion_at, w, change, alpha, value, slope)
        if accepted is None:
            return w, value, False
        w, value, g, h = accepted
    return w, value, False


def _newton_step(gradient: FloatArray, hessian: FloatArray) -> FloatArray:
    """The Newton step on the absolute eigenvalues of the Hessian (a descent direction where it is indefinite),
    at most ``_LONGEST_STEP`` long in any coordinate."""
    eigenvalues, vectors = np.linalg.eigh(hessian)
    size = np.abs(eigenvalues)
    step = -vectors @ ((vectors.T @ gradient) / np.maximum(size, 1e-10 * max(size.max(), 1e-300)))
    step *= min(1.0, _LONGEST_STEP / np.abs(step).max())
    return step


def _negligible(slope: float, value: float) -> bool:
    """Whether a Newton step would lower the criterion by less than its rounding error: stationary to working
    precision, where an ill-conditioned information matrix leaves the gradient above ``_STATIONARY``."""
    return -slope < _ROUNDING * max(1.0, abs(value))


def _newton(
    derivatives: Callable[[FloatArray], tuple[float, FloatArray, FloatArray]],
    z: FloatArray,
    steps: int = 500,
) -> tuple[FloatArray, bool, str]:
    """Minimise a smooth function by :func:`_newton_step` steps and :func:`_line_search`."""
    value, gradient, hessian = derivatives(z)
    for _ in range(steps):
        if np.max(np.abs(gradient)) < _STATIONARY:
            return z, True, "converged"
        step = _newton_step(gradient, hessian)
        slope = float(gradient @ step)
        if _negligible(slope, value):
            return z, True, "converged"
        accepted = _line_search(derivatives, z, step, 1.0, value, slope)
        if accepted is None:
            return z, False, "the line search found no lower criterion"
        z, value, gradient, hessian = accepted
    return z, False, f"no convergence in {steps} Newton steps"


def _line_search(
    derivatives: Callable[[FloatArray], tuple[float, FloatArray, FloatArray]],
    x: FloatArray,
    direction: FloatArray,
    alpha: float,
    value: float,
    slope: float,
) -> tuple[FloatArray, float, FloatArray, FloatArray] | None:
    """The point ``x + alpha direction``, ``alpha`` halved until the value falls by 1e-4 of what the slope
    promises (Armijo), with the value, gradient and Hessian there; None if no step above 1e-12 does."""
    while alpha > 1e-12:
        trial = x + alpha * direction
        new_value, new_gradient, new_hessian = derivatives(trial)
        if new_value <= value + 1e-4 * alpha * slope:
            return trial, new_value, new_gradient, new_hessian
        alpha /= 2
    return None


def design_criterion(
    design: ArrayLike | OptimalDesign,
    candidates: Candidates | Sequence[CandidateModel],
    probabilities: ArrayLike | None = None,
    *,
    doses: ArrayLike | None = None,
    criterion: str = "D",
    delta: float | None = None,
    standardize: bool = True,
    response_weights: ArrayLike | None = None,
    n: float | None = None,
    n_old: ArrayLike | None = None,
) -> float | FloatArray:
    """The design criterion of one design or of each row of a matrix of designs (R DoseFinding's ``calcCrit``).

    Parameters
    ----------
    design
        Shares of the patients to come per dose (summing to 1), a matrix of such rows, or an
        :class:`OptimalDesign`.
    candidates, probabilities, doses, criterion, delta, standardize, response_weights, n, n_old
        As for :func:`optimal_design` (``doses`` by default the design's or the candidates').

    Returns
    -------
    float or numpy.ndarray
        The criterion (one per row for a matrix): ``inf`` where the design cannot estimate a
        model (D: fewer doses with patients than parameters) or a TD (TD: its gradient outside
        the range of the information matrix). DoseFinding's ``calcCrit`` gives NA for any
        design with fewer doses than parameters, even where the TD can be estimated.

    Examples
    --------
    DoseFinding's example: the D-optimal design for a beta model against six equal groups (R: 0.6778).

    >>> import numpy as np
    >>> from dosefinding import Candidates
    >>> beta = Candidates([0, 0.49, 25.2, 108.07, 150], {"betamod": (0.33, 2.31)}, max_effect=0.4, scal=200)
    >>> best = optimal_design(beta)
    >>> equal = design_criterion(np.full(6, 1 / 6), beta, doses=[0, 10, 25, 50, 100, 150])
    >>> round(float(np.exp(best.value - equal)), 4)
    0.6778
    """
    if isinstance(design, OptimalDesign):
        doses = design.doses if doses is None else doses
        design = design.weights
    kind, user = _criterion(criterion)
    if user is not None:
        raise InputError("criterion: design_criterion computes 'D', 'TD' or 'D&TD'; call your own function directly")
    models = _models(candidates)
    d = _design_doses(doses if doses is not None or not isinstance(candidates, Candidates) else candidates.doses)
    try:
        rows = np.asarray(design, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"design: must be numeric shares per dose, got {design!r}") from None
    single = rows.ndim == 1
    rows = np.atleast_2d(rows)
    if rows.ndim != 2 or rows.shape[1] != d.size:
        raise InputError(f"design: needs one share per dose ({d.size}), got shape {np.shape(design)}")
    if not np.all(np.isfinite(rows)) or np.any(rows < 0):
        raise InputError("design: shares must be finite and non-negative")
    bad = np.abs(rows.sum(axis=1) - 1) > 1e-6
    if np.any(bad):
        raise InputError(f"design: each design must sum to 1, row(s) {np.flatnonzero(bad).tolist()} sum to "
                         f"{rows.sum(axis=1)[bad].round(6).tolist()}")
    cohort, old = _cohort(n, n_old, d.size)
    probs = _probabilities(probabilities, len(models))
    info = _information(models, probs, d, kind, delta, standardize, response_weights, candidates)
    values = _criterion_of_designs(info, rows, cohort, old, kind)
    return float(values[0]) if single else values


def round_design(design: ArrayLike | OptimalDesign, n: int, eps: float = 1e-4,
                 seed: int | np.random.Generator = 0) -> NDArray[np.int64]:
    """Whole numbers of patients per dose summing to ``n``, by efficient rounding (R DoseFinding's ``rndDesign``).

    Pukelsheim (1993, chapter 12): doses with a share below ``eps`` get none; the others start at
    ``ceil((n - l / 2) w_i)`` (``l`` doses), then one patient at a time is added where ``n_i / w_i``
    is smallest, or taken away where ``(n_i - 1) / w_i`` is largest, until they sum to ``n``.
    A tie (equal values, exactly) goes to one of the tied doses drawn at random, as R's ``which.is.max``
    does (``seed`` makes the draw reproducible; R's own random stream cannot be reproduced).

    Examples
    --------
    >>> round_design([0.3249, 0.0632, 0.2836, 0.3283], 90).tolist()
    [29, 6, 26, 29]
    >>> sorted(round_design([0.25, 0.25, 0.25, 0.25], 10, seed=1).tolist())  # two of the four doses get 3
    [2, 2, 3, 3]
    """
    weights = design.weights if isinstance(design, OptimalDesign) else as_vector(design, "design")
    if np.any(weights < 0) or abs(weights.sum() - 1) > 1e-3:
        raise InputError(f"design: shares must be non-negative and sum to 1, got {weights.tolist()}")
    if isinstance(n, bool) or not float(n).is_integer() or n < 1:
        raise InputError(f"n: must be a positive whole number of patients, got {n!r}")
    total = int(n)
    used = weights >= eps
    if not used.any():
        raise InputError(f"eps: every share is below eps = {eps:g}")
    rng = as_generator(seed)
    w = weights[used] / weights[used].sum()
    counts = np.ceil((total - 0.5 * used.sum()) * w)

    def largest(values: FloatArray) -> int:
        tied = np.flatnonzero(values == values.max())
        return int(tied[0]) if tied.size == 1 else int(rng.choice(tied))

    while counts.sum() != total:
        if counts.sum() < total:
            counts[largest(-counts / w)] += 1
        else:
            counts[largest((counts - 1) / w)] -= 1
    out = np.zeros(weights.size, dtype=np.int64)
    out[used] = counts.astype(np.int64)
    return out


def _criterion(criterion: str | UserCriterion) -> tuple[DesignCriterion, UserCriterion | None]:
    if callable(criterion):
        return "D", criterion
    if criterion not in _CRITERIA:
        raise InputError(f"criterion: must be 'D', 'TD', 'D&TD' or a function, got {criterion!r}")
    return _CRITERIA[criterion], None


def _models(candidates: Candidates | Sequence[CandidateModel]) -> tuple[CandidateModel, ...]:
    models = candidates.models if isinstance(candidates, Candidates) else tuple(candidates)
    if not models or not all(isinstance(m, CandidateModel) for m in models):
        raise InputError("candidates: give a Candidates or a sequence of CandidateModel")
    linint = [m.label for m in models if m.shape == "linint"]
    if linint:
        raise InputError(f"candidates: the linint shape has no smooth gradient for a design criterion ({linint})")
    return models


def _design_doses(doses: ArrayLike | None) -> FloatArray:
    if doses is None:
        raise InputError("doses: give the doses of the design")
    d = as_vector(doses, "doses")
    return as_doses(d, placebo=bool(d.size and d[0] == 0))


def _cohort(n: float | None, n_old: ArrayLike | None, size: int) -> tuple[float, FloatArray]:
    old = np.zeros(size) if n_old is None else as_vector(n_old, "n_old", length=size)
    if np.any(old < 0):
        raise InputError(f"n_old: patients already treated must be non-negative, got {old.tolist()}")
    if n is None:
        if np.any(old > 0):
            raise InputError("n: with patients already treated (n_old), give the number of patients to come")
        return 1.0, old
    value = as_vector(n, "n", length=1)[0]
    if value <= 0:
        raise InputError(f"n: must be positive, got {value:g}")
    return float(value), old


def _bound(bound: float | ArrayLike, size: int, name: str) -> FloatArray:
    values = as_vector(bound, name)
    values = np.full(size, values[0]) if values.size == 1 else as_vector(values, name, length=size)
    if np.any((values < 0) | (values > 1)):
        raise InputError(f"{name}: shares must lie in [0, 1], got {values.tolist()}")
    return values


def _probabilities(probabilities: ArrayLike | None, count: int) -> FloatArray:
    if probabilities is None:
        return np.full(count, 1.0 / count)
    p = as_vector(probabilities, "probabilities", length=count)
    if np.any(p < 0):
        raise InputError(f"probabilities: must be non-negative, got {p.tolist()}")
    if abs(p.sum() - 1) > _SUM_TOLERANCE:
        raise InputError(f"probabilities: the model probabilities must sum to 1, got {p.tolist()} (sum {p.sum():.10g})")
    return p


def _information(
    models: Sequence[CandidateModel],
    probabilities: FloatArray,
    doses: FloatArray,
    criterion: DesignCriterion,
    delta: float | None,
    standardize: bool,
    response_weights: ArrayLike | None,
    candidates: Candidates | Sequence[CandidateModel],
) -> _Information:
    r = np.ones(doses.size) if response_weights is None else as_vector(response_weights, "response_weights",
                                                                      length=doses.size)
    if np.any(r <= 0):
        raise InputError(f"response_weights: must be positive, got {r.tolist()}")
    shapes = [get_shape(m.shape) for m in models]
    counts = [len(shape.parameter_names()) for shape in shapes]
    if criterion != "TD" and max(counts) > doses.size:
        raise InputError(f"doses: a D-optimal design needs at least as many doses as parameters ({max(counts)}), "
                         f"got {doses.size}")
    parameters = [np.array(list(m.parameters.values()), dtype=float) for m in models]
    wrong = [f"{m.label} ({p.size}, not {k})" for m, p, k in zip(models, parameters, counts, strict=True) if p.size != k]
    if wrong:
        raise InputError(f"candidates: wrong number of parameters for model(s) {', '.join(wrong)}")
    targets = np.full(len(models), np.nan)
    if criterion != "D":
        if delta is None:
            raise InputError(f"delta: the {criterion} criterion needs the target effect delta of the TD")
        direction = candidates.direction if isinstance(candidates, Candidates) else None
        check_delta(delta, direction)
        if doses[0] != 0:
            raise InputError(f"doses: the {criterion} criterion needs placebo (dose 0), got {doses.tolist()}")
        targets = np.array([continuous_target_dose(shape, p, delta, m.constant)[0]
                            for m, shape, p in zip(models, shapes, parameters, strict=True)])
        missing = [m.label for m, t in zip(models, targets, strict=True) if np.isnan(t) or t > doses[-1]]
        if missing:
            raise InputError(f"delta: the target dose for an effect of {delta:g} does not lie within the doses "
                             f"(up to {doses[-1]:g}) for model(s) {', '.join(missing)}")
    width = max(counts)
    gradients = np.zeros((len(models), doses.size, width))
    td = None if criterion == "D" else np.zeros((len(models), width))
    for i, (m, shape) in enumerate(zip(models, shapes, strict=True)):
        # One evaluation at the doses, and for the TD gradient at the TD and at placebo.
        at = doses if td is None else np.concatenate([doses, [targets[i], 0.0]])
        gradient = shape.gradient(at, parameters[i], m.constant)
        gradients[i, :, :counts[i]] = gradient[:doses.size]
        if td is not None:
            td[i, :counts[i]] = gradient_at_target_dose(shape, parameters[i], targets[i], m.constant, gradient[doses.size:])
    gradients *= np.sqrt(r)[None, :, None]
    if not np.all(np.isfinite(gradients)):
        bad = [m.label for m, g in zip(models, gradients, strict=True) if not np.all(np.isfinite(g))]
        raise InputError(f"doses: the gradient of model(s) {bad} is not finite at doses {doses.tolist()}")
    k = np.array(counts, dtype=float)
    padding = (np.arange(width)[None, :] >= k[:, None])[:, :, None] * np.eye(width)
    uninformed = k.astype(np.int64) - np.linalg.matrix_rank(gradients)
    transposed = np.ascontiguousarray(np.swapaxes(gradients, 1, 2))
    right = transposed if td is None else np.concatenate([transposed, td[:, :, None]], axis=2)
    return _Information(gradients, td, probabilities, k, k if standardize else np.ones_like(k), padding, transposed,
                        right, uninformed)


def _criterion_of_designs(
    info: _Information, shares: FloatArray, n: float, old: FloatArray, criterion: DesignCriterion
) -> FloatArray:
    """The criterion of each row of ``shares`` (of the ``n`` patients to come), in chunks; ``inf`` where the
    design uses fewer doses than a model has parameters."""
    allocations = (n * shares + old) / (n + old.sum())
    used = (shares > _USED) | (old > 0)
    return np.concatenate([info.values(allocations[i:i + _CHUNK], criterion, used[i:i + _CHUNK])
                           for i in range(0, shares.shape[0], _CHUNK)])


def _compositions(total: int, parts: int) -> NDArray[np.int64]:
    """All ways to put ``total`` items into ``parts`` ordered groups, in DoseFinding's order."""
    borders = np.fromiter(itertools.chain.from_iterable(itertools.combinations_with_replacement(range(total + 1),
                                                                                                parts - 1)),
                          dtype=np.int64).reshape(-1, parts - 1)
    edges = np.column_stack([np.zeros(borders.shape[0], dtype=np.int64), borders,
                             np.full(borders.shape[0], total, dtype=np.int64)])
    return np.diff(edges, axis=1)


def _exact_design(
    doses: FloatArray,
    allocation: Callable[[FloatArray], FloatArray],
    kind: DesignCriterion | None,
    info: _Information | None,
    user: UserCriterion | None,
    n: float,
    old: FloatArray,
    low: FloatArray,
    high: FloatArray,
    group_size: int,
    max_designs: int,
    labels: tuple[str, ...],
    probs: FloatArray,
) -> OptimalDesign:
    if not float(n).is_integer():
        raise InputError(f"n: an exact design needs a whole number of patients, got {n:g}")
    if isinstance(group_size, bool) or int(group_size) != group_size or group_size < 1 or int(n) % group_size:
        raise InputError(f"group_size: must be a whole number dividing n = {n:g}, got {group_size!r}")
    groups = int(n) // int(group_size)
    count = math.comb(groups + doses.size - 1, doses.size - 1)
    if count > max_designs:
        raise InputError(f"max_designs: {count} allocations of {groups} group(s) to {doses.size} doses exceed "
                         f"max_designs = {max_designs}; raise it, or use larger groups (group_size)")
    shares = _compositions(groups, doses.size) / groups
    inside = np.all((shares >= low - 1e-12) & (shares <= high + 1e-12), axis=1)
    if not inside.any():
        raise InputError("lower: no allocation of whole groups meets the bounds lower and upper")
    shares = shares[inside]
    if user is not None:
        values = np.array([float(user(row, doses)) for row in allocation(shares)])
    else:
        assert info is not None and kind is not None
        values = _criterion_of_designs(info, shares, n, old, kind)
    best = int(np.argmin(values))
    if not np.isfinite(values[best]):
        raise InputError("doses: no allocation within the bounds can estimate the models")
    return OptimalDesign(doses, shares[best], "user" if user is not None or kind is None else kind, float(values[best]),
                         float(n), old, True, True, f"best of {shares.shape[0]} allocations", labels, probs)
