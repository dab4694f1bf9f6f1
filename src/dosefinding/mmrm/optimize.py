"""Minimising the MMRM objective over the unconstrained variance parameters, for one data set or a batch.

One strategy, the same for a single fit (a batch of one) and for 10,000 simulated trials
(:func:`optimise`):

1. Newton's method with a backtracking line search (Armijo) on every data set at once
   (:func:`dosefinding.mmrm.likelihood.evaluate_batch`), from the first starting values,
   with a modified Hessian where it is not positive definite and steps of at most 3 in
   any parameter. The iterations use the Hessian without REML's ``-tr(A Q_j A Q_l)``
   (``exact=False``), which costs more than the rest together.
2. Where that Newton decrement has fallen below 1e-14 (a hundredth of the criterion: the
   iterations go on to it, being cheaper than an exact evaluation), its (tiny) step is
   taken and the point checked with the exact Hessian; exact Newton steps follow while the
   decrement is between 1e-14 and 1e-6, at most two (usually none). From the checked
   point one more exact Newton step polishes the estimates to rounding (quadratic
   convergence); the exact Hessian and the ``Q_j`` matrices the inference uses are those
   of the checked point, which differ from the optimum's by about the square root of its
   decrement (below 1e-9 relative in practice).
3. A data set that has not converged then, one at a time, goes through the fallback
   chain of :func:`minimise`: Newton's method in a trust region with the exact Hessian
   (scipy ``trust-exact``) from each start; if that does not converge, L-BFGS-B with the
   analytic gradient followed by the trust-region Newton polish.

A point counts as converged when the exact Hessian is positive definite and the Newton
decrement ``g' H^-1 g`` is at most ``1e-12 max(|f|, 1)`` (SAS's relative Hessian
criterion, ``CONVH``, with 1e-8; SAS can stop visibly short of the optimum on a flat
likelihood, see tests/mmrm/test_sas_reference.py). A point that meets only SAS's
criterion is kept with ``converged=False``. A data set whose starting values are not
defined (no positive definite OLS fit) or where every run fails comes back with
``converged=False`` and NaN estimates; the others are not affected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import optimize

from dosefinding.errors import ConvergenceError
from dosefinding.mmrm.covariance import CovarianceModel
from dosefinding.mmrm.likelihood import (
    BatchEvaluation,
    Evaluation,
    PatternStats,
    evaluate,
    evaluate_batch,
    take_optional,
)

__all__ = ["BatchOptimum", "Optimum", "minimise", "optimise"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
Objective = Callable[[FloatArray, int], Evaluation]

CONVERGED = 1e-12
SAS_CONVERGED = 1e-8
_MAX_ITER = 200
_ARMIJO = 1e-4
_MAX_HALVINGS = 40
# Largest change of one variance parameter in one Newton step.
_MAX_STEP = 3.0
_EXACT_ROUNDS = 3
# Relative Newton decrement under which an exact Newton step is taken without a line search.
_NEAR = 1e-6
# Relative Newton decrement to which the batched iterations go, and under which a checked point is final (its
# exact Hessian and Q matrices are then those of the optimum to about 1e-9); above it an exact step follows.
_POLISHED = 1e-14
# An increase of the objective up to this fraction of it counts as rounding.
_ROUNDING = 1e-13


@dataclass(frozen=True)
class Optimum:
    """The point reached, its evaluation with Hessian, and every run tried (the last gave the point)."""

    theta: FloatArray
    evaluation: Evaluation
    converged: bool
    attempts: tuple[str, ...]


def _relative_decrement(evaluation: Evaluation) -> float:
    """``g' H^-1 g / max(|f|, 1)``, or inf when the Hessian is not positive definite."""
    assert evaluation.gradient is not None and evaluation.hessian is not None
    try:
        chol = np.linalg.cholesky(evaluation.hessian)
    except np.linalg.LinAlgError:
        return float("inf")
    z = np.linalg.solve(chol, evaluation.gradient)
    return float(z @ z) / max(abs(evaluation.value), 1.0)


class _Cached:
    """Objective, gradient and Hessian for scipy, evaluating once per point; inf where undefined.

    ``order`` is what each new point is evaluated to: 2 for Newton's method, which asks for
    the Hessian at every point it accepts, so that value, gradient and Hessian come from
    one evaluation.
    """

    def __init__(self, objective: Objective) -> None:
        self._objective = objective
        self._key: bytes | None = None
        self._last: Evaluation | None = None
        self.order = 1

    def __call__(self, theta: FloatArray, order: int) -> Evaluation | None:
        key = theta.tobytes()
        if key != self._key or (order == 2 and self._last is not None and self._last.hessian is None):
            self._key = key
            try:
                self._last = self._objective(theta, max(order, self.order))
            except np.linalg.LinAlgError:
                self._last = None
        return self._last

    def fun(self, theta: FloatArray) -> tuple[float, FloatArray]:
        e = self(theta, 1)
        if e is None or not np.isfinite(e.value):
            return float("inf"), np.zeros_like(theta)
        assert e.gradient is not None
        return e.value, e.gradient

    def hess(self, theta: FloatArray) -> FloatArray:
        e = self(theta, 2)
        if e is None or e.hessian is None:
            return np.eye(theta.size)
        return e.hessian


def _run(cached: _Cached, method: str, start: FloatArray) -> FloatArray:
    cached.order = 2 if method == "trust-exact" else 1
    if method == "trust-exact":
        result = optimize.minimize(
            cached.fun, start, jac=True, hess=cached.hess, method="trust-exact",
            options={"gtol": 1e-10, "maxiter": _MAX_ITER},
        )
    else:
        result = optimize.minimize(
            cached.fun, start, jac=True, method="L-BFGS-B",
            options={"maxiter": 10 * _MAX_ITER, "ftol": 1e-14, "gtol": 1e-10},
        )
    return np.asarray(result.x, dtype=float)


def _chain(objective: Objective, starts: Sequence[tuple[str, FloatArray]],
           offset: float) -> tuple[Optimum | None, tuple[str, ...]]:
    """The fallback chain from each start: the converged (or SAS-converged) optimum, or None, and every attempt."""
    cached = _Cached(objective)
    attempts: list[str] = []
    best: tuple[float, Optimum] | None = None
    chains = (("trust-exact",), ("l-bfgs-b", "trust-exact"))
    for start_name, start in starts:
        for chain in chains:
            theta = np.asarray(start, dtype=float)
            label = f"{' + '.join(chain)} from {start_name}"
            try:
                for method in chain:
                    theta = _run(cached, method, theta)
                evaluation = cached(theta, 2)
            except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
                attempts.append(f"{label}: failed ({exc})")
                continue
            if evaluation is None or not np.isfinite(evaluation.value):
                attempts.append(f"{label}: objective undefined at the end point")
                continue
            decrement = _relative_decrement(evaluation)
            attempts.append(f"{label}: -2LL {evaluation.value + offset:.10g}, relative g'H^-1g {decrement:.3g}")
            optimum = Optimum(theta, evaluation, decrement <= CONVERGED, tuple(attempts))
            if optimum.converged:
                return optimum, optimum.attempts
            if decrement <= SAS_CONVERGED and (best is None or evaluation.value < best[0]):
                best = (evaluation.value, optimum)
    if best is not None:
        kept = (*attempts, f"kept: {best[1].attempts[-1]}")
        return Optimum(best[1].theta, best[1].evaluation, False, kept), kept
    return None, tuple(attempts)


def minimise(objective: Objective, starts: Sequence[tuple[str, FloatArray]], *, offset: float = 0.0) -> Optimum:
    """The fallback chain for one data set: run it from each named start until a point converges.

    Returns the converged point; a point that meets only SAS's criterion comes back with
    ``converged=False``. Raises :class:`ConvergenceError` listing every attempt otherwise.
    ``offset`` is added to the objective in the listed attempts (the -2 log likelihood of
    the unscaled response, see :mod:`dosefinding.mmrm.engine`).

    Examples
    --------
    >>> def quadratic(theta, order):
    ...     return Evaluation(value=float(theta @ theta) + 1, beta=np.zeros(0), beta_cov=np.zeros((0, 0)),
    ...                       gradient=2 * theta, hessian=2 * np.eye(theta.size))
    >>> bool(np.allclose(minimise(quadratic, [("start", np.array([3.0, -1.0]))]).theta, 0.0))
    True
    """
    optimum, attempts = _chain(objective, starts, offset)
    if optimum is None:
        raise ConvergenceError("MMRM fit did not converge; tried: " + "; ".join(attempts))
    return optimum


def _cholesky_ok(a: FloatArray) -> tuple[FloatArray, BoolArray]:
    """Cholesky factors (identity where not positive definite) and where ``a`` (n, q, q) is positive definite."""
    out = np.broadcast_to(np.eye(a.shape[-1]), a.shape).copy()
    ok = np.all(np.isfinite(a), axis=(1, 2))
    try:
        out[ok] = np.linalg.cholesky(a[ok])
        return out, ok
    except np.linalg.LinAlgError:
        pass
    for i in np.flatnonzero(ok):
        try:
            out[i] = np.linalg.cholesky(a[i])
        except np.linalg.LinAlgError:
            ok[i] = False
    return out, ok


def _newton_direction(gradient: FloatArray, hessian: FloatArray,
                      value: FloatArray) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Newton step (modified where ``H`` is not positive definite), relative decrement, and where ``H`` is PD."""
    chol, pd = _cholesky_ok(hessian)
    step = np.zeros_like(gradient)
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
        g = np.where(np.isfinite(gradient[~pd]), gradient[~pd], 0.0)
        step[~pd] = -np.einsum("tij,tj->ti", eigvec, np.einsum("tji,tj->ti", eigvec, g) / eigval)
    largest = np.abs(step).max(axis=1, keepdims=True) if step.shape[1] else np.zeros((len(step), 1))
    step = step * np.minimum(1.0, _MAX_STEP / np.maximum(largest, np.finfo(float).tiny))
    return step, decrement, pd


@dataclass
class _Newton:
    """The state of the batched Newton iterations: each data set's point and objective."""

    stats: PatternStats
    model: CovarianceModel
    reml: bool
    theta: FloatArray
    value: FloatArray

    def evaluate(self, index: NDArray[np.intp], theta: FloatArray, order: int, exact: bool = False) -> BatchEvaluation:
        return evaluate_batch(self.stats.take(index), self.model, theta, reml=self.reml, order=order, exact=exact)

    def line_search(self, active: NDArray[np.intp], step: FloatArray,
                    slope: FloatArray) -> tuple[NDArray[np.intp], FloatArray, FloatArray]:
        """Backtracking (Armijo) along ``step`` from ``theta[active]``, in place; the data sets that moved, their g, H.

        The full step is evaluated with the derivatives (it is nearly always taken); the
        shorter ones without, and the point finally taken again with them.
        """
        f0 = self.value[active]
        allowance = _ROUNDING * np.abs(f0)  # lets the full Newton step through at the optimum
        trial = self.theta[active] + step
        e = self.evaluate(active, trial, 2)
        assert e.gradient is not None and e.hessian is not None
        good = e.ok & (e.value <= f0 + _ARMIJO * slope + allowance)
        self.theta[active[good]] = trial[good]
        self.value[active[good]] = e.value[good]
        moved, gradient, hessian = [active[good]], [e.gradient[good]], [e.hessian[good]]
        pending = np.flatnonzero(~good)
        scale = np.full(active.size, 0.5)
        accepted = np.zeros(active.size, dtype=bool)
        for _ in range(_MAX_HALVINGS):
            if pending.size == 0:
                break
            trial = self.theta[active[pending]] + scale[pending, None] * step[pending]
            e0 = self.evaluate(active[pending], trial, 0)
            good = e0.ok & (e0.value <= f0[pending] + _ARMIJO * scale[pending] * slope[pending] + allowance[pending])
            self.theta[active[pending[good]]] = trial[good]
            accepted[pending[good]] = True
            pending = pending[~good]
            scale[pending] *= 0.5
        index = active[np.flatnonzero(accepted)]
        if index.size:
            e = self.evaluate(index, self.theta[index], 2)
            assert e.gradient is not None and e.hessian is not None
            self.value[index] = e.value
            moved.append(index)
            gradient.append(e.gradient)
            hessian.append(e.hessian)
        return np.concatenate(moved), np.concatenate(gradient), np.concatenate(hessian)


@dataclass(frozen=True)
class BatchOptimum:
    """The optimum of each of ``T`` data sets.

    ``theta`` (T, q); ``evaluation`` the exact order-2 evaluation there (``ok`` False
    where none is defined); ``converged`` (T,) whether the criterion was met;
    ``iterations`` (T,) the batched Newton iterations; ``attempts`` per data set, every
    run with the -2 log likelihood and Newton decrement it reached; ``hessian_theta``
    (T, q) the point of the evaluation's Hessian and ``Q`` matrices (the point before the
    polishing Newton step, see :func:`optimise`; NaN where there is none).
    """

    theta: FloatArray
    evaluation: BatchEvaluation
    converged: BoolArray
    iterations: NDArray[np.int64]
    attempts: tuple[tuple[str, ...], ...]
    hessian_theta: FloatArray


def _assemble(parts: list[tuple[NDArray[np.intp], BatchEvaluation]], t_count: int, p: int, q: int) -> BatchEvaluation:
    """One batch evaluation from evaluations of disjoint subsets of the data sets (NaN, not ok, elsewhere)."""
    filled = np.zeros(t_count, dtype=bool)
    arrays = {"value": (), "beta": (p,), "beta_cov": (p, p), "gradient": (q,), "hessian": (q, q), "q": (q, p, p)}
    out = {name: np.empty((t_count, *shape)) for name, shape in arrays.items()}
    ok = np.zeros(t_count, dtype=bool)
    for index, e in parts:
        for name, target in out.items():
            target[index] = getattr(e, name)
        ok[index] = e.ok
        filled[index] = True
    for target in out.values():
        target[~filled] = np.nan
    return BatchEvaluation(ok=ok, **out)


def _stack(evaluations: list[Evaluation]) -> BatchEvaluation:
    assert all(e.gradient is not None and e.hessian is not None and e.q is not None for e in evaluations)
    return BatchEvaluation(
        value=np.array([e.value for e in evaluations]), beta=np.stack([e.beta for e in evaluations]),
        ok=np.ones(len(evaluations), dtype=bool), beta_cov=np.stack([e.beta_cov for e in evaluations]),
        # ignore[misc] below: the assert above holds, but mypy does not carry it into the comprehensions
        gradient=np.stack([e.gradient for e in evaluations]),  # type: ignore[misc]
        hessian=np.stack([e.hessian for e in evaluations]),  # type: ignore[misc]
        q=np.stack([e.q for e in evaluations]),  # type: ignore[misc]
    )


def optimise(
    stats: PatternStats,
    model: CovarianceModel,
    *,
    reml: bool,
    starts: Sequence[tuple[str, FloatArray]],
    valid: BoolArray,
    max_iter: int = 50,
    offset: FloatArray | None = None,
) -> BatchOptimum:
    """The strategy of the module docstring for the ``T`` data sets of ``stats``.

    ``starts`` are named starting points (T, q), tried in order; ``valid`` (T,) marks the
    data sets whose starts are defined (the others are not fitted). ``offset`` (T,) is added
    to the objective in the listed attempts.

    Examples
    --------
    >>> from dosefinding.mmrm.covariance import get_structure
    >>> from dosefinding.mmrm.start import ols_covariance, starting_points
    >>> x = np.ones((8, 1)); y = np.array([1.0, 2.0, 3.0, 5.0, 2.0, 2.0, 4.0, 3.0])
    >>> stats = PatternStats.from_rows(x, y, subject=np.repeat(np.arange(4), 2), visit=np.tile([0, 1], 4), k=2)
    >>> model = CovarianceModel(get_structure("cs", 2))
    >>> empirical, ok = ols_covariance(stats)
    >>> result = optimise(stats, model, reml=True, starts=starting_points(empirical, model), valid=ok)
    >>> result.converged.tolist(), len(result.attempts[0])
    ([True], 1)
    """
    t_count, q, p = stats.n_sets, model.n_params, stats.p
    offset = np.zeros(t_count) if offset is None else offset
    start_name, start = starts[0]
    theta = np.array(start, dtype=float)
    valid = valid & np.all(np.isfinite(theta), axis=1)
    iterations = np.zeros(t_count, dtype=np.int64)
    state = _Newton(stats, model, reml, theta, np.full(t_count, np.inf))
    active = np.flatnonzero(valid)
    candidate = np.zeros(t_count, dtype=bool)
    if active.size:
        current = state.evaluate(active, theta[active], 2)
        assert current.gradient is not None and current.hessian is not None
        state.value[active] = current.value
        keep = current.ok
        active, gradient, hessian = active[keep], current.gradient[keep], current.hessian[keep]
        for iteration in range(max_iter + 1):
            step, decrement, pd = _newton_direction(gradient, hessian, state.value[active])
            done = pd & (decrement <= _POLISHED)
            # The last (tiny) step is taken unchecked: the exact evaluation below checks where it lands.
            theta[active[done]] += step[done]
            candidate[active[done]] = True
            active, step, gradient = active[~done], step[~done], gradient[~done]
            if active.size == 0 or iteration == max_iter:
                break
            iterations[active] += 1
            active, gradient, hessian = state.line_search(active, step, (gradient * step).sum(axis=1))
            if active.size == 0:
                break
    # The iterations use the Hessian without REML's trace term: each point is checked with the exact one, and
    # exact Newton steps are taken while the decrement is above rounding level (quadratic convergence: usually
    # none). From a converged point one more exact step polishes it to rounding; the result is that point, with
    # the exact Hessian and Q matrices of the point before it (they differ by far less than any tolerance).
    converged = np.zeros(t_count, dtype=bool)
    decrements = np.full(t_count, np.inf)
    hessian_theta = np.full(theta.shape, np.nan)
    parts: list[tuple[NDArray[np.intp], BatchEvaluation]] = []
    index = np.flatnonzero(candidate)
    for round_ in range(_EXACT_ROUNDS):
        if index.size == 0:
            break
        e = state.evaluate(index, theta[index], 2, exact=True)
        assert e.gradient is not None and e.hessian is not None
        step, decrement, pd = _newton_direction(e.gradient, e.hessian, e.value)
        good = e.ok & pd
        decrements[index] = decrement
        met = good & (decrement <= CONVERGED)
        final = met & ((decrement <= _POLISHED) | (round_ == _EXACT_ROUNDS - 1))
        moving = final | (good & (decrement <= _NEAR))
        trial = theta[index[moving]] + step[moving]
        better = np.zeros(index.size, dtype=bool)
        polished = _take(e, np.flatnonzero(moving))
        if moving.any():
            after = state.evaluate(index[moving], trial, 1)
            assert after.gradient is not None and polished.gradient is not None  # orders 1 and 2
            better[moving] = after.ok & (after.value <= e.value[moving] + _ROUNDING * np.abs(e.value[moving]))
            keep = better[moving]
            polished = BatchEvaluation(
                value=np.where(keep, after.value, polished.value),
                beta=np.where(keep[:, None], after.beta, polished.beta), ok=polished.ok,
                beta_cov=np.where(keep[:, None, None], after.beta_cov, polished.beta_cov),
                gradient=np.where(keep[:, None], after.gradient, polished.gradient),
                hessian=polished.hessian, q=polished.q)
        done = final | (met & moving & ~better)
        hessian_theta[index[done]] = theta[index[done]]
        theta[index[better]] = trial[better[moving]]
        converged[index[done]] = True
        parts.append((index[done], _take(polished, np.flatnonzero(done[moving]))))
        index = index[moving & better & ~done]
    newton_value = np.full(t_count, np.nan)
    for index, e in parts:
        newton_value[index] = e.value
    attempts: list[tuple[str, ...]] = []
    fallback: dict[int, Evaluation] = {}
    for t in range(t_count):
        label = f"newton + line search from {start_name}"
        if not valid[t]:
            attempts.append((f"{label}: not started (no least-squares fit to start from)",))
            continue
        if converged[t]:
            reached = f"-2LL {newton_value[t] + offset[t]:.10g}, relative g'H^-1g {decrements[t]:.3g}"
            attempts.append((f"{label}: {reached}",))
            continue
        note = f"{label}: not converged after {iterations[t]} iterations"
        member = stats.take(np.array([t]))

        def objective(point: FloatArray, order: int, member: PatternStats = member) -> Evaluation:
            return evaluate(member, model, point, reml=reml, order=order)

        optimum, tried = _chain(objective, [(name, values[t]) for name, values in starts], float(offset[t]))
        if optimum is None:
            attempts.append((note, *tried))
            continue
        theta[t] = hessian_theta[t] = optimum.theta
        converged[t] = optimum.converged
        fallback[t] = optimum.evaluation
        attempts.append((note, *optimum.attempts))
    if fallback:
        parts.append((np.array(sorted(fallback)), _stack([fallback[t] for t in sorted(fallback)])))
    return BatchOptimum(theta=theta, evaluation=_assemble(parts, t_count, p, q), converged=converged,
                        iterations=iterations, attempts=tuple(attempts), hessian_theta=hessian_theta)


def _take(e: BatchEvaluation, index: NDArray[np.intp]) -> BatchEvaluation:
    return BatchEvaluation(value=e.value[index], beta=e.beta[index], ok=e.ok[index], beta_cov=e.beta_cov[index],
                           gradient=take_optional(e.gradient, index), hessian=take_optional(e.hessian, index),
                           q=take_optional(e.q, index))

