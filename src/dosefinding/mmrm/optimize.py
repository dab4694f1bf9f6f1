"""Minimising the MMRM objective over the unconstrained variance parameters.

The chain: Newton's method in a trust region with the analytic Hessian (scipy
``trust-exact``) from the starting values; if that does not converge, L-BFGS-B with the
analytic gradient followed by the trust-region Newton polish; then the same chain from a
diagonal starting matrix. A point counts as converged when the Hessian is positive
definite and the Newton decrement ``g' H^-1 g`` is at most ``1e-12 |f|`` (SAS's
relative Hessian criterion, ``CONVH``, with 1e-8; SAS can stop visibly short of the
optimum on a flat likelihood, see tests/mmrm/test_sas_reference.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import optimize

from dosefinding.errors import ConvergenceError
from dosefinding.mmrm.likelihood import Evaluation

__all__ = ["Optimum", "minimise"]

FloatArray = NDArray[np.float64]
Objective = Callable[[FloatArray, int], Evaluation]

CONVERGED = 1e-12
SAS_CONVERGED = 1e-8
_MAX_ITER = 200


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


def minimise(objective: Objective, starts: Sequence[tuple[str, FloatArray]]) -> Optimum:
    """Run the chain from each named start until a point converges.

    Returns the converged point; a point that meets only SAS's criterion comes back with
    ``converged=False``. Raises :class:`ConvergenceError` listing every attempt otherwise.

    Examples
    --------
    >>> def quadratic(theta, order):
    ...     return Evaluation(value=float(theta @ theta) + 1, beta=np.zeros(0), beta_cov=np.zeros((0, 0)),
    ...                       gradient=2 * theta, hessian=2 * np.eye(theta.size))
    >>> bool(np.allclose(minimise(quadratic, [("start", np.array([3.0, -1.0]))]).theta, 0.0))
    True
    """
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
            attempts.append(f"{label}: -2LL {evaluation.value:.10g}, relative g'H^-1g {decrement:.3g}")
            optimum = Optimum(theta, evaluation, decrement <= CONVERGED, tuple(attempts))
            if optimum.converged:
                return optimum
            if decrement <= SAS_CONVERGED and (best is None or evaluation.value < best[0]):
                best = (evaluation.value, optimum)
    if best is not None:
        return Optimum(best[1].theta, best[1].evaluation, False, (*attempts, f"kept: {best[1].attempts[-1]}"))
    raise ConvergenceError("MMRM fit did not converge; tried: " + "; ".join(attempts))
