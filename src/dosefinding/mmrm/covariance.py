"""Covariance structures of the repeated measures: the within-subject matrix and its derivatives.

Each structure maps an unconstrained parameter vector ``theta`` to a positive definite
``k x k`` matrix ``Sigma`` over the ``k`` visits, with the first and second derivatives of
``Sigma`` with respect to ``theta`` (the likelihood needs both for its analytic gradient
and Hessian), and reports its parameters on SAS PROC MIXED's scale.

- ``us`` (SAS TYPE=UN): ``Sigma = L L'`` with ``L`` lower triangular; ``theta`` holds the
  logarithms of the diagonal of ``L``, then its off-diagonal entries row by row
  (log-Cholesky). SAS reports the entries ``UN(i,j)`` of ``Sigma``, ``i >= j``.
- ``cs`` (TYPE=CS): ``Sigma = s ((1 - rho) I + rho J)``; ``theta = (log s, t)`` with
  ``rho = lo + (1 - lo) expit(t)``, ``lo = -1 / (k - 1)`` (the positive definite range).
  SAS reports ``CS = s rho`` and ``Residual = s (1 - rho)``.
- ``ar1`` (TYPE=AR(1)): ``Sigma[a, b] = s rho^|a - b|`` over the visit order;
  ``theta = (log s, atanh rho)``. SAS reports ``AR(1) = rho`` and ``Residual = s``.
- ``toep`` (TYPE=TOEP): ``Sigma[a, b] = s r_|a - b|`` with ``r_0 = 1``; ``theta`` holds
  ``log s`` and the ``atanh`` of the partial autocorrelations, mapped to ``r`` by the
  Durbin-Levinson recursion (positive definite for every ``theta``). SAS reports
  ``TOEP(l + 1) = s r_l``, ``TOEP(1)`` being the variance.
- ``csh``, ``ar1h``, ``toeph`` (TYPE=CSH, ARH(1), TOEPH): ``Sigma = D R D`` with a
  standard deviation per visit, ``D = diag(exp(theta[:k]))``, and the correlation ``R`` of
  ``cs``, ``ar1`` or ``toep`` (their parameters after the variance). SAS reports
  ``Var(i)`` and the correlations ``CSH``, ``ARH(1)`` or ``TOEPH(l)``.
- ``ad`` (first-order ante-dependence, homogeneous variance; R mmrm's ``ad``, no SAS
  type): ``Sigma[a, b] = s prod_{a <= l < b} rho_l``, a correlation ``rho_l`` between
  each pair of consecutive visits; ``theta = (log s, atanh rho_1, ..., atanh rho_(k-1))``.
  Reported as ``Var`` and ``Rho(l)``.
- ``adh`` (TYPE=ANTE(1)): ``D R D`` with a variance per visit and the correlation of
  ``ad``; SAS reports ``Var(i)`` and ``Rho(l)``.
- ``sp_exp`` (TYPE=SP(EXP)(time) or SP(EXP)(c1 c2 ...)): ``Sigma[a, b] = s exp(-d_ab / r)``
  with ``d_ab`` the distance between the positions of visits ``a`` and ``b``: ``|t_a - t_b|``
  for one time, the Euclidean distance for several coordinates; ``theta = (log s, log r)``.
  The positions can differ between subjects (:meth:`CovarianceStructure.evaluate_at`).
  SAS reports ``SP(EXP) = r`` and ``Residual = s``.

Positions of the visits (:func:`spatial_distances`, :attr:`SpatialExponential.times`,
``evaluate_at``) follow one convention: one time per visit is an array ``(..., k)`` (no
coordinate axis); several coordinates always have a trailing coordinate axis,
``(..., k, d)``. A :class:`SpatialExponential` knows which it has
(:attr:`SpatialExponential.has_coordinates`), so its callers never guess from shapes.

A :class:`CovarianceModel` holds one copy of a structure per level of a grouping column
(SAS's ``REPEATED / GROUP=``): ``theta`` is the concatenation of the groups' parameters.

Batches. Every structure is evaluated on a leading batch axis of ``theta``: ``theta`` of
shape ``(..., q)`` gives ``Sigma`` ``(..., k, k)`` and the derivatives ``(..., q, k, k)``,
``(..., q, q, k, k)``, one per member (a simulated trial, a group, a subject); the single
fit is the batch of one. :meth:`CovarianceStructure.start` takes a batch of empirical
matrices, and :meth:`CovarianceStructure.scale_theta` maps ``theta`` of ``Sigma`` to
``theta`` of ``c^2 Sigma`` (the fit works on the response divided by a scale ``c``; see
:mod:`dosefinding.mmrm.engine`). The likelihood needs the second derivatives only
contracted with a symmetric matrix (:meth:`CovarianceStructure.derivatives`), which the
unstructured matrix gives without forming them (``q^2`` instead of ``q^2 k^2``).
"""


from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, logit

from dosefinding.errors import InputError
from dosefinding.mmrm.jets import Jet

__all__ = [
    "COVARIANCE_STRUCTURES", "CovarianceModel", "CovarianceStructure", "Curvature", "MemberwiseStructure",
    "ante_correlation", "evaluate_each", "get_structure", "spatial_distances", "with_derivatives",
]

FloatArray = NDArray[np.float64]
# sum_ab d2 Sigma / d theta_j d theta_l [a, b] m[..., a, b] for a symmetric m (..., k, k): (..., q, q).
Curvature = Callable[[FloatArray], FloatArray]
Evaluated = tuple[FloatArray, FloatArray | None, FloatArray | None]
_RHO_START_LIMIT = 0.9


def _lags(k: int) -> NDArray[np.intp]:
    return np.abs(np.subtract.outer(np.arange(k), np.arange(k)))


def _contraction(second: FloatArray) -> Curvature:
    """``m -> sum_ab second[..., j, l, a, b] m[..., a, b]`` for second derivatives (..., q, q, k, k)."""
    q, k = second.shape[-3], second.shape[-1]
    lead = second.shape[:-4]

    def contract(m: FloatArray) -> FloatArray:
        batch = np.broadcast_shapes(lead, m.shape[:-2])
        flat = np.broadcast_to(second, (*batch, q, q, k, k)).reshape(*batch, q * q, k * k)
        return (flat @ np.broadcast_to(m, (*batch, k, k)).reshape(*batch, k * k, 1)).reshape(*batch, q, q)

    return contract


@dataclass(frozen=True)
class CovarianceStructure(ABC):
    """A parametrised covariance matrix over ``k`` ordered visits.

    Examples
    --------
    >>> structure = get_structure("ar1", 3)
    >>> sigma, first, second = structure.evaluate(np.array([np.log(4.0), np.arctanh(0.5)]))
    >>> sigma[0].round(12).tolist()
    [4.0, 2.0, 1.0]
    >>> structure.matrix(np.array([[0.0, 0.0], [np.log(2.0), 0.0]]))[:, 0, 0].tolist()
    [1.0, 2.0]
    """

    k: int

    name = ""
    spatial: ClassVar[bool] = False
    # Whether Sigma depends on the order of the visits (not only on which visits they are).
    ordered: ClassVar[bool] = False

    @property
    @abstractmethod
    def n_params(self) -> int:
        """Number of variance parameters."""

    @abstractmethod
    def evaluate(self, theta: ArrayLike, order: int = 2) -> Evaluated:
        """``Sigma`` (..., k, k), first (..., q, k, k) and second derivatives (..., q, q, k, k) at ``theta`` (..., q).

        Derivatives beyond ``order`` are ``None``.
        """

    @abstractmethod
    def start(self, empirical: FloatArray) -> FloatArray:
        """Starting ``theta`` (..., q) from positive definite empirical covariance matrices (..., k, k)."""

    @abstractmethod
    def sas_parameters(self, theta: FloatArray) -> dict[str, float]:
        """The covariance parameters (one ``theta``) as SAS's "Covariance Parameter Estimates" names them."""

    @abstractmethod
    def scale_theta(self, theta: FloatArray, factor: ArrayLike) -> FloatArray:
        """``theta`` (..., q) of ``factor^2 Sigma(theta)``, ``factor`` (...) positive."""

    def matrix(self, theta: ArrayLike) -> FloatArray:
        """``Sigma`` alone."""
        return self.evaluate(theta, 0)[0]

    def derivatives(self, theta: ArrayLike, order: int) -> tuple[FloatArray, FloatArray | None, Curvature | None]:
        """``Sigma``, its first derivatives and (``order`` 2) the contraction of the second with a symmetric matrix."""
        sigma, first, second = self.evaluate(theta, order)
        return sigma, first, None if second is None else _contraction(second)

    def evaluate_at(self, theta: ArrayLike, times: FloatArray, order: int = 2) -> Evaluated:
        """``Sigma`` (..., n, k, k) and derivatives (..., n, q, k, k), (..., n, q, q, k, k) at n sets of visit times.

        ``theta`` is (..., q) and ``times`` (..., n, k), or (..., n, k, d) for a spatial
        structure over d coordinates. Only spatial structures depend on the times; the
        others return :meth:`evaluate`.
        """
        return self.evaluate(theta, order)


def with_derivatives(evaluated: Evaluated) -> tuple[FloatArray, FloatArray, FloatArray]:
    """An evaluation at ``order=2`` (the default): ``Sigma`` and both its derivatives, all present.

    Examples
    --------
    >>> sigma, first, second = with_derivatives(get_structure("cs", 2).evaluate(np.zeros(2)))
    >>> first.shape, second.shape
    ((2, 2, 2), (2, 2, 2, 2))
    """
    sigma, first, second = evaluated
    assert first is not None and second is not None, "evaluated at order 2"
    return sigma, first, second


def _theta(theta: ArrayLike) -> FloatArray:
    return np.asarray(theta, dtype=float)


@dataclass(frozen=True)
class MemberwiseStructure(CovarianceStructure):
    """A structure written for one ``theta`` (q,), evaluated member by member on a batch (:func:`evaluate_each`).

    For the reparametrisations that only single fits use (SAS's parameters,
    :mod:`dosefinding.mmrm.sas_scale`); the structures of :data:`COVARIANCE_STRUCTURES` are
    vectorised over the batch.
    """

    @abstractmethod
    def derivatives_of_one(self, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``Sigma`` (k, k) and its first (q, k, k) and second (q, q, k, k) derivatives at one ``theta``."""

    def evaluate(self, theta: ArrayLike, order: int = 2) -> Evaluated:
        return evaluate_each(self._evaluate_one, theta, order)

    def _evaluate_one(self, theta: FloatArray, order: int) -> Evaluated:
        sigma, first, second = self.derivatives_of_one(theta)
        return sigma, first if order >= 1 else None, second if order >= 2 else None


def evaluate_each(one: Callable[[FloatArray, int], Evaluated], theta: ArrayLike, order: int) -> Evaluated:
    """A structure's evaluation at one ``theta`` (q,), ``one``, applied to each member of a batch (..., q).

    Examples
    --------
    >>> structure = get_structure("cs", 2)
    >>> evaluate_each(structure.evaluate, np.zeros((3, 2)), 1)[1].shape
    (3, 2, 2, 2)
    """
    theta = _theta(theta)
    if theta.ndim == 1:
        return one(theta, order)
    results = [one(member, order) for member in theta.reshape(-1, theta.shape[-1])]
    stacked: list[FloatArray | None] = []
    for part in zip(*results, strict=True):
        if part[0] is None:
            stacked.append(None)
        else:
            stacked.append(np.stack(part).reshape(*theta.shape[:-1], *part[0].shape))
    sigma, first, second = stacked
    assert sigma is not None  # every order evaluates the covariance itself
    return sigma, first, second


def _shift_first(theta: ArrayLike, count: int, shift: ArrayLike) -> FloatArray:
    """``theta`` with ``shift`` (...) added to its first ``count`` entries (log variances or log SDs)."""
    out = _theta(theta).copy()
    out[..., :count] += np.asarray(shift, dtype=float)[..., None]
    return out


@dataclass(frozen=True)
class Unstructured(CovarianceStructure):
    """Unstructured covariance, log-Cholesky parametrised (SAS TYPE=UN)."""

    name = "us"

    @property
    def n_params(self) -> int:
        return self.k * (self.k + 1) // 2

    def _positions(self) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        rows, cols = np.tril_indices(self.k, -1)
        diag = np.arange(self.k)
        return np.concatenate([diag, rows]), np.concatenate([diag, cols])

    def _factor(self, theta: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """The Cholesky factor ``L`` (..., k, k) and the entries ``v`` (..., q) of ``dL_j`` (exp on the diagonal, else 1)."""
        theta = _theta(theta)
        k = self.k
        rows, cols = self._positions()
        values = theta.copy()
        values[..., :k] = np.exp(theta[..., :k])
        chol = np.zeros((*theta.shape[:-1], k, k))
        chol[..., rows, cols] = values
        v = values.copy()
        v[..., k:] = 1.0
        return chol, v

    def _first(self, chol: FloatArray, v: FloatArray) -> FloatArray:
        # dL_j has the single entry v_j at (rows_j, cols_j): (dL_j L')[a, b] = v_j [a = rows_j] L[b, cols_j].
        rows, cols = self._positions()
        half = v[..., :, None, None] * np.eye(self.k)[rows][:, :, None] * np.swapaxes(chol[..., :, cols], -1, -2)[
            ..., :, None, :]
        return half + np.swapaxes(half, -1, -2)

    def _low_order(self, theta: ArrayLike, order: int) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray | None]:
        """``L``, ``v``, ``Sigma`` and (order >= 1) its first derivatives."""
        chol, v = self._factor(theta)
        sigma = chol @ np.swapaxes(chol, -1, -2)
        return chol, v, sigma, None if order == 0 else self._first(chol, v)

    def evaluate(self, theta: ArrayLike, order: int = 2) -> Evaluated:
        k, q = self.k, self.n_params
        chol, v, sigma, first = self._low_order(theta, order)
        if first is None or order == 1:
            return sigma, first, None
        # d2 Sigma / d theta_j d theta_l = dL_j dL_l' + dL_l dL_j' (+ dSigma / d theta_j when j = l < k).
        rows, cols = self._positions()
        same = (cols[:, None] == cols[None, :]).astype(float)
        outer = np.zeros((*chol.shape[:-2], q, q, k, k))
        j, m = np.meshgrid(np.arange(q), np.arange(q), indexing="ij")
        outer[..., j, m, rows[j], rows[m]] = v[..., :, None] * v[..., None, :] * same
        second = outer + np.swapaxes(outer, -3, -4)
        diag = np.arange(k)
        second[..., diag, diag, :, :] += first[..., :k, :, :]
        return sigma, first, second

    def derivatives(self, theta: ArrayLike, order: int) -> tuple[FloatArray, FloatArray | None, Curvature | None]:
        k = self.k
        _, v, sigma, first = self._low_order(theta, order)
        if first is None or order == 1:
            return sigma, first, None
        rows, cols = self._positions()
        vv = v[..., :, None] * v[..., None, :] * (cols[:, None] == cols[None, :])
        diag = np.arange(k)

        def curvature(m: FloatArray) -> FloatArray:
            # Against a symmetric m: 2 v_j v_l [cols_j = cols_l] m[rows_j, rows_l], plus tr(dSigma_j m) for j = l < k.
            out = 2.0 * vv * m[..., rows[:, None], rows[None, :]]
            out[..., diag, diag] += np.einsum("...jab,...ab->...j", first[..., :k, :, :], m)
            return out

        return sigma, first, curvature

    def start(self, empirical: FloatArray) -> FloatArray:
        chol = np.linalg.cholesky(empirical)
        rows, cols = np.tril_indices(self.k, -1)
        return np.concatenate([np.log(np.diagonal(chol, axis1=-2, axis2=-1)), chol[..., rows, cols]], axis=-1)

    def scale_theta(self, theta: FloatArray, factor: ArrayLike) -> FloatArray:
        factor = np.asarray(factor, dtype=float)
        out = _shift_first(theta, self.k, np.log(factor))
        out[..., self.k:] *= factor[..., None]
        return out

    def sas_parameters(self, theta: FloatArray) -> dict[str, float]:
        sigma = self.matrix(theta)
        return {f"UN({i + 1},{j + 1})": float(sigma[i, j]) for i in range(self.k) for j in range(i + 1)}


def _mean_correlation(empirical: FloatArray, lag: int) -> FloatArray:
    """The mean correlation (...) of the pairs of visits ``lag`` apart."""
    sd = np.sqrt(np.diagonal(empirical, axis1=-2, axis2=-1))
    corr = empirical / (sd[..., :, None] * sd[..., None, :])
    return np.diagonal(corr, lag, axis1=-2, axis2=-1).mean(axis=-1)


@dataclass(frozen=True)
class CompoundSymmetry(CovarianceStructure):
    """Compound symmetry, homogeneous variance (SAS TYPE=CS)."""

    name = "cs"

    @property
    def n_params(self) -> int:
        return 2

    @property
    def _lower(self) -> float:
        return -1.0 / (self.k - 1)

    def _rho(self, t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """rho and its first two derivatives in t."""
        e = expit(t)
        span = 1.0 - self._lower
        return self._lower + span * e, span * e * (1 - e), span * e * (1 - e) * (1 - 2 * e)

    def evaluate(self, theta: ArrayLike, order: int = 2) -> Evaluated:
        theta = _theta(theta)
        s = np.exp(theta[..., 0])[..., None, None]
        rho, d_rho, d2_rho = (part[..., None, None] for part in self._rho(theta[..., 1]))
        eye = np.eye(self.k)
        off = 1.0 - eye
        sigma = s * (eye + rho * off)
        if order == 0:
            return sigma, None, None
        d_t = s * d_rho * off
        first = np.stack([sigma, d_t], axis=-3)
        if order == 1:
            return sigma, first, None
        second = np.stack([first, np.stack([d_t, s * d2_rho * off], axis=-3)], axis=-4)
        return sigma, first, second

    def start(self, empirical: FloatArray) -> FloatArray:
        s = np.diagonal(empirical, axis1=-2, axis2=-1).mean(axis=-1)
        sd = np.sqrt(np.diagonal(empirical, axis1=-2, axis2=-1))
        corr = empirical / (sd[..., :, None] * sd[..., None, :])
        upper = np.triu_indices(self.k, 1)
        rho = corr[..., upper[0], upper[1]].mean(axis=-1)
        lower = self._lower
        fraction = np.clip((rho - lower) / (1 - lower), 0.05, 0.95)
        return np.stack([np.log(s), logit(fraction)], axis=-1)

    def scale_theta(self, theta: FloatArray, factor: ArrayLike) -> FloatArray:
        return _shift_first(theta, 1, 2.0 * np.log(factor))

    def sas_parameters(self, theta: FloatArray) -> dict[str, float]:
        s = float(np.exp(theta[0]))
        rho = float(self._rho(np.asarray(theta[1]))[0])
        return {"CS": s * rho, "Residual": s * (1 - rho)}


@dataclass(frozen=True)
class AutoRegressive(CovarianceStructure):
    """First-order autoregressive over the visit order, homogeneous variance (SAS TYPE=AR(1))."""

    name = "ar1"
    ordered = True

    @property
    def n_params(self) -> int:
        return 2

    def evaluate(self, theta: ArrayLike, order: int = 2) -> Evaluated:
        theta = _theta(theta)
        s: FloatArray = np.exp(theta[..., 0])[..., None, None]
        rho: FloatArray = np.tanh(theta[..., 1])[..., None, None]
        lag = _lags(self.k)
        sigma = s * rho**lag
        if order == 0:
            return sigma, None, None
        d_rho = 1 - rho**2
        # rho^(lag - 1) and rho^(lag - 2) where the factor in front is non-zero.
        power1 = np.where(lag >= 1, rho ** np.maximum(lag - 1, 0), 0.0)
        d_t = s * lag * power1 * d_rho
        first = np.stack([sigma, d_t], axis=-3)
        if order == 1:
            return sigma, first, None
        power2 = np.where(lag >= 2, rho ** np.maximum(lag - 2, 0), 0.0)
        d2_t = s * (lag * (lag - 1) * power2 * d_rho**2 + lag * power1 * (-2 * rho * d_rho))
        second = np.stack([first, np.stack([d_t, d2_t], axis=-3)], axis=-4)
        return sigma, first, second

    def start(self, empirical: FloatArray) -> FloatArray:
        s = np.diagonal(empirical, axis1=-2, axis2=-1).mean(axis=-1)
        rho = np.clip(_mean_correlation(empirical, 1), -_RHO_START_LIMIT, _RHO_START_LIMIT)
        return np.stack([np.log(s), np.arctanh(rho)], axis=-1)

    def scale_theta(self, theta: FloatArray, factor: ArrayLike) -> FloatArray:
        return _shift_first(theta, 1, 2.0 * np.log(factor))

    def sas_parameters(self, theta: FloatArray) -> dict[str, float]:
        return {"AR(1)": float(np.tanh(theta[1])), "Residual": float(np.exp(theta[0]))}


def _tanh(t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    value = np.tanh(t)
    return value, 1 - value**2, -2 * value * (1 - value**2)


def _exp(t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    value = np.exp(t)
    return value, value, value


@dataclass(frozen=True)
class Toeplitz(CovarianceStructure):
    """Toeplitz over the visit order, homogeneous variance (SAS TYPE=TOEP)."""

    name = "toep"
    ordered = True

    @property
    def n_params(self) -> int:
        return self.k

    def _covariances(self, theta: FloatArray) -> list[Jet]:
        """``s r_l`` for lags 0..k-1 as jets in ``theta`` (..., q)."""
        q = self.k
        one = Jet.constant(np.ones(theta.shape[:-1]), q)
        pacf = [Jet.transformed(theta[..., lag], lag, q, _tanh) for lag in range(1, self.k)]
        rho, innovation = [one], one
        coefficients: list[Jet] = []
        for phi in pacf:
            # Durbin-Levinson: r_m = sum_j a_j r_(m-j) + phi_m v_(m-1), a_m = phi_m, a_j -= phi_m a_(m-j).
            new_rho = phi * innovation
            for j, a in enumerate(coefficients):
                new_rho = new_rho + a * rho[len(coefficients) - j]
            rho.append(new_rho)
            coefficients = [a - phi * coefficients[-1 - j] for j, a in enumerate(coefficients)] + [phi]
            innovation = innovation * (one - phi * phi)
        scale = Jet.transformed(theta[..., 0], 0, q, _exp)
        return [scale * r for r in rho]

    def evaluate(self, theta: ArrayLike, order: int = 2) -> Evaluated:
        covariances = self._covariances(_theta(theta))
        lag = _lags(self.k)
        values = np.stack([c.value for c in covariances], axis=-1)
        sigma = values[..., lag]
        if order == 0:
            return sigma, None, None
        gradients = np.stack([c.gradient for c in covariances], axis=-2)  # (..., lags, q)
        first = np.moveaxis(gradients[..., lag, :], -1, -3)
        if order == 1:
            return sigma, first, None
        hessians = np.stack([c.hessian for c in covariances], axis=-3)  # (..., lags, q, q)
        return sigma, first, np.moveaxis(hessians[..., lag, :, :], (-2, -1), (-4, -3))

    def start(self, empirical: FloatArray) -> FloatArray:
        s = np.diagonal(empirical, axis1=-2, axis2=-1).mean(axis=-1)
        rho = np.stack([np.ones(s.shape)] + [_mean_correlation(empirical, lag) for lag in range(1, self.k)], axis=-1)
        toeplitz = rho[..., _lags(self.k)]
        # An AR(1) start where the averages are not positive definite.
        bad = np.linalg.eigvalsh(toeplitz)[..., 0] <= 0
        rho = np.where(bad[..., None], _RHO_START_LIMIT ** np.arange(self.k), rho)
        pacf = np.clip(_pacf(rho), -_RHO_START_LIMIT, _RHO_START_LIMIT)
        return np.concatenate([np.log(s)[..., None], np.arctanh(pacf)], axis=-1)

    def scale_theta(self, theta: FloatArray, factor: ArrayLike) -> FloatArray:
        return _shift_first(theta, 1, 2.0 * np.log(factor))

    def sas_parameters(self, theta: FloatArray) -> dict[str, float]:
        return {f"TOEP({lag + 1})": float(c.value) for lag, c in enumerate(self._covariances(_theta(theta)))}


@dataclass(frozen=True)
class AnteDependence(CovarianceStructure):
    """First-order ante-dependence, homogeneous variance (R mmrm's ``ad``).

    Examples
    --------
    >>> sigma = AnteDependence(3).matrix(np.array([0.0, np.arctanh(0.5), np.arctanh(0.4)]))
    >>> sigma[0].round(12).tolist()
    [1.0, 0.5, 0.2]
    """

    name = "ad"
    ordered = True

    @property
    def n_params(self) -> int:
        return self.k

    @staticmethod
    def _correlation(t: FloatArray, order: int) -> Evaluated:
        """The correlation (..., k, k) and its derivatives in ``t = atanh rho``: (..., k-1, k, k), (..., k-1, k-1, k, k)."""
        rho = np.tanh(t)
        d_rho = 1 - rho**2
        corr, first, second = ante_correlation(rho, order)
        if first is None:
            return corr, None, None
        if second is not None:
            second = second * (d_rho[..., :, None] * d_rho[..., None, :])[..., None, None]
            links = np.arange(rho.shape[-1])
            second[..., links, links, :, :] = (-2 * rho * d_rho)[..., None, None] * first
        return corr, d_rho[..., None, None] * first, second

    def evaluate(self, theta: ArrayLike, order: int = 2) -> Evaluated:
        theta = _theta(theta)
        k, q = self.k, self.n_params
        s = np.exp(theta[..., 0])[..., None, None]
        corr, d_corr, d2_corr = self._correlation(theta[..., 1:], order)
        sigma = s * corr
        if d_corr is None:
            return sigma, None, None
        first = np.concatenate([sigma[..., None, :, :], s[..., None, :, :] * d_corr], axis=-3)
        if d2_corr is None:
            return sigma, first, None
        second = np.empty((*theta.shape[:-1], q, q, k, k))
        second[..., 0, 0, :, :] = sigma
        second[..., 0, 1:, :, :] = second[..., 1:, 0, :, :] = s[..., None, :, :] * d_corr
        second[..., 1:, 1:, :, :] = s[..., None, None, :, :] * d2_corr
        return sigma, first, second

    def start(self, empirical: FloatArray) -> FloatArray:
        sd = np.sqrt(np.diagonal(empirical, axis1=-2, axis2=-1))
        neighbours = np.diagonal(empirical, 1, axis1=-2, axis2=-1) / (sd[..., :-1] * sd[..., 1:])
        rho = np.clip(neighbours, -_RHO_START_LIMIT, _RHO_START_LIMIT)
        return np.concatenate([np.log(np.mean(sd**2, axis=-1))[..., None], np.arctanh(rho)], axis=-1)

    def scale_theta(self, theta: FloatArray, factor: ArrayLike) -> FloatArray:
        return _shift_first(theta, 1, 2.0 * np.log(factor))

    def sas_parameters(self, theta: FloatArray) -> dict[str, float]:
        rho = np.tanh(theta[1:])
        return {"Var": float(np.exp(theta[0]))} | {f"Rho({lag + 1})": float(r) for lag, r in enumerate(rho)}


def ante_correlation(rho: ArrayLike, order: int = 2) -> Evaluated:
    """``R[a, b] = prod_{a <= l < b} rho_l`` (..., k, k) and its derivatives in ``rho`` (..., k-1):
    (..., k-1, k, k), (..., k-1, k-1, k, k).

    With ``P[a, b]`` the product over ``a <= l < b`` (no division by ``rho``, which can be
    0), ``dR[a, b] / drho_l = P[a, l] P[l + 1, b]`` and
    ``d2R[a, b] / drho_l drho_n = P[a, l] P[l + 1, n] P[n + 1, b]`` for ``a <= l < n < b``.

    Examples
    --------
    >>> corr, first, second = ante_correlation(np.array([0.5, 0.4]))
    >>> corr[0].tolist(), first[0, 0].tolist(), float(second[0, 1, 0, 2])
    ([1.0, 0.5, 0.2], [0.0, 1.0, 0.4], 1.0)
    """
    rho = np.asarray(rho, dtype=float)
    m = rho.shape[-1]
    k = m + 1
    products = np.ones((*rho.shape[:-1], k, k))
    for b in range(1, k):
        products[..., :b, b] = products[..., :b, b - 1] * rho[..., b - 1, None]
    upper = np.triu(np.ones((k, k), dtype=bool))
    corr = np.where(upper, products, np.swapaxes(products, -1, -2))
    if order == 0:
        return corr, None, None
    visits, links = np.arange(k), np.arange(m)
    left = products[..., :, :m] * (visits[:, None] <= links[None, :])  # [a, l]: P[a, l], a <= l
    right = products[..., 1:, :] * (links[:, None] < visits[None, :])  # [l, b]: P[l + 1, b], l < b
    half = np.einsum("...al,...lb->...lab", left, right)
    first = half + np.swapaxes(half, -1, -2)
    if order == 1:
        return corr, first, None
    middle = products[..., 1:, :m] * (links[:, None] < links[None, :])  # [l, n]: P[l + 1, n], l < n
    part = np.einsum("...al,...ln,...nb->...lnab", left, middle, right)
    both = part + np.swapaxes(part, -3, -4)
    return corr, first, both + np.swapaxes(both, -1, -2)


def spatial_distances(times: FloatArray, *, coordinates: bool = False) -> FloatArray:
    """Distances between the visits, ``(..., k, k)``.

    Parameters
    ----------
    times
        The visits' positions: ``(..., k)``, one time per visit, when ``coordinates`` is
        false; ``(..., k, d)``, ``d`` coordinates per visit (the last axis), when it is
        true. The shape alone cannot tell the two apart (``(n, k)`` is n subjects' times
        or k visits' positions in n coordinates), so the caller says which.
    coordinates
        Whether ``times`` has a trailing coordinate axis.

    Returns
    -------
    numpy.ndarray
        ``|t_a - t_b|`` for times; the Euclidean distance ``||t_a - t_b||`` between the
        coordinate vectors for coordinates.

    Examples
    --------
    >>> spatial_distances(np.array([0.0, 1.0, 3.0]))[0].tolist()
    [0.0, 1.0, 3.0]
    >>> spatial_distances(np.array([[0.0, 0.0], [3.0, 4.0]]), coordinates=True).tolist()
    [[0.0, 5.0], [5.0, 0.0]]
    """
    times = np.asarray(times, dtype=float)
    if not coordinates:
        return np.abs(times[..., :, None] - times[..., None, :])
    if times.ndim < 2:
        raise InputError(f"times: coordinates need a shape (..., k, d), got {times.shape}")
    difference = times[..., :, None, :] - times[..., None, :, :]
    return np.sqrt(np.einsum("...d,...d->...", difference, difference))


def _visit_positions(times: object, k: int) -> tuple[float, ...] | tuple[tuple[float, ...], ...]:
    """``times`` as :attr:`SpatialExponential.times`: k floats, or k tuples of d floats; InputError otherwise."""
    array = np.asarray(times, dtype=float)
    if array.ndim not in (1, 2) or array.shape[0] != k or (array.ndim == 2 and array.shape[1] < 1):
        raise InputError(f"times: need one time per visit ({k},) or coordinates ({k}, d), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise InputError("times: must be finite")
    if array.ndim == 1:
        return tuple(float(t) for t in array)
    return tuple(tuple(float(c) for c in row) for row in array)


@dataclass(frozen=True)
class SpatialExponential(CovarianceStructure):
    """Spatial exponential, homogeneous variance (SAS TYPE=SP(EXP)(time) or SP(EXP)(c1 c2 ...)).

    ``times`` are the visits' positions used by :meth:`evaluate`: a tuple of k floats
    (one time per visit; the visit order 0, 1, ... when not given) or a tuple of k tuples
    of d floats (coordinates, Euclidean distances). :meth:`evaluate_at` takes each
    subject's own positions, ``(..., n, k)`` for times and ``(..., n, k, d)`` for coordinates.

    Examples
    --------
    >>> structure = SpatialExponential(3, times=(0.0, 1.0, 3.0))
    >>> structure.matrix(np.array([0.0, np.log(2.0)]))[0].round(6).tolist()
    [1.0, 0.606531, 0.22313]
    >>> planar = SpatialExponential(2, times=((0.0, 0.0), (3.0, 4.0)))
    >>> planar.has_coordinates, planar.distances()[0, 1]
    (True, np.float64(5.0))
    """

    times: tuple[float, ...] | tuple[tuple[float, ...], ...] | None = None

    name = "sp_exp"
    spatial: ClassVar[bool] = True

    @property
    def n_params(self) -> int:
        return 2

    @property
    def has_coordinates(self) -> bool:
        """Whether the positions are coordinate vectors (a trailing coordinate axis) rather than times."""
        return self.times is not None and len(self.times) > 0 and isinstance(self.times[0], tuple)

    def _times(self) -> FloatArray:
        return np.arange(self.k, dtype=float) if self.times is None else np.asarray(self.times, dtype=float)

    def distances(self, times: FloatArray | None = None) -> FloatArray:
        """Distances between the visits at ``times`` (..., k) or (..., k, d), or at the structure's own ``times``.

        ``times`` must follow the structure's convention (:attr:`has_coordinates`).

        Examples
        --------
        >>> SpatialExponential(3, times=(1.0, 2.0, 4.0)).distances()[0].tolist()
        [0.0, 1.0, 3.0]
        """
        positions = self._times() if times is None else np.asarray(times, dtype=float)
        return spatial_distances(positions, coordinates=self.has_coordinates)

    @staticmethod
    def _from_distances(theta: FloatArray, distance: FloatArray, order: int) -> Evaluated:
        """At ``theta`` (..., 2) and distances with the same leading axes (..., k, k)."""
        s = np.exp(theta[..., 0])[..., None, None]
        scaled = distance * np.exp(-theta[..., 1])[..., None, None]
        sigma = s * np.exp(-scaled)
        if order == 0:
            return sigma, None, None
        d_range = sigma * scaled
        first = np.stack([sigma, d_range], axis=-3)
        if order == 1:
            return sigma, first, None
        second = np.stack([first, np.stack([d_range, sigma * (scaled**2 - scaled)], axis=-3)], axis=-4)
        return sigma, first, second

    def evaluate(self, theta: ArrayLike, order: int = 2) -> Evaluated:
        return self._from_distances(_theta(theta), self.distances(), order)

    def evaluate_at(self, theta: ArrayLike, times: FloatArray, order: int = 2) -> Evaluated:
        """``Sigma`` and derivatives at each subject's positions: ``times`` (..., n, k), or (..., n, k, d) with coordinates."""
        return self._from_distances(_theta(theta)[..., None, :], self.distances(times), order)

    def start(self, empirical: FloatArray, positions: FloatArray | None = None) -> FloatArray:
        """The start from the empirical covariance, the range from the mean distance between consecutive visits.

        ``positions`` (..., k) or (..., k, d): each member's own visit positions (default the structure's).
        """
        variance = np.diagonal(empirical, axis1=-2, axis2=-1).mean(axis=-1)
        rho = np.clip(_mean_correlation(empirical, 1), 0.05, _RHO_START_LIMIT)
        step = np.diagonal(self.distances(positions), 1, axis1=-2, axis2=-1).mean(axis=-1)
        step = np.where(step > 0, step, 1.0)
        return np.stack([np.log(variance), np.log(-step / np.log(rho))], axis=-1)

    def scale_theta(self, theta: FloatArray, factor: ArrayLike) -> FloatArray:
        return _shift_first(theta, 1, 2.0 * np.log(factor))

    def sas_parameters(self, theta: FloatArray) -> dict[str, float]:
        return {"SP(EXP)": float(np.exp(theta[1])), "Residual": float(np.exp(theta[0]))}


@dataclass(frozen=True)
class _Heterogeneous(CovarianceStructure):
    """``D R D``: a variance per visit and the correlation of a homogeneous structure."""

    base: ClassVar[type[CovarianceStructure]]

    @property
    def _correlation(self) -> CovarianceStructure:
        return self.base(self.k)

    @property
    def n_params(self) -> int:
        return self.k + self._correlation.n_params - 1

    def evaluate(self, theta: ArrayLike, order: int = 2) -> Evaluated:
        theta = _theta(theta)
        k, q = self.k, self.n_params
        inner = np.concatenate([np.zeros((*theta.shape[:-1], 1)), theta[..., k:]], axis=-1)
        corr, d_corr, d2_corr = self._correlation.evaluate(inner, order)
        sd = np.exp(theta[..., :k])
        outer = sd[..., :, None] * sd[..., None, :]
        sigma = outer * corr
        if d_corr is None:
            return sigma, None, None
        # d Sigma_ij / d log sd_a = (delta_ia + delta_ja) Sigma_ij
        eye = np.eye(k)
        indicator = eye[:, :, None] + eye[:, None, :]
        scaled = d_corr[..., 1:, :, :] * outer[..., None, :, :]
        first = np.concatenate([indicator * sigma[..., None, :, :], scaled], axis=-3)
        if d2_corr is None:
            return sigma, first, None
        second = np.zeros((*theta.shape[:-1], q, q, k, k))
        second[..., :k, :k, :, :] = indicator[:, None] * indicator[None, :] * sigma[..., None, None, :, :]
        cross = indicator[:, None] * scaled[..., None, :, :, :]
        second[..., :k, k:, :, :] = cross
        second[..., k:, :k, :, :] = np.swapaxes(cross, -3, -4)
        second[..., k:, k:, :, :] = d2_corr[..., 1:, 1:, :, :] * outer[..., None, None, :, :]
        return sigma, first, second

    def start(self, empirical: FloatArray) -> FloatArray:
        sd = np.sqrt(np.diagonal(empirical, axis1=-2, axis2=-1))
        corr = empirical / (sd[..., :, None] * sd[..., None, :])
        return np.concatenate([np.log(sd), self._correlation.start(corr)[..., 1:]], axis=-1)

    def scale_theta(self, theta: FloatArray, factor: ArrayLike) -> FloatArray:
        return _shift_first(theta, self.k, np.log(factor))

    def sas_parameters(self, theta: FloatArray) -> dict[str, float]:
        sigma = self.matrix(theta)
        variances = {f"Var({i + 1})": float(sigma[i, i]) for i in range(self.k)}
        corr = sigma / np.sqrt(np.outer(np.diag(sigma), np.diag(sigma)))
        return variances | self._sas_correlations(corr)

    @abstractmethod
    def _sas_correlations(self, corr: FloatArray) -> dict[str, float]:
        """SAS's names and values of the correlation parameters."""


@dataclass(frozen=True)
class HeterogeneousCompoundSymmetry(_Heterogeneous):
    """Compound symmetry with a variance per visit (SAS TYPE=CSH)."""

    name = "csh"
    base = CompoundSymmetry

    def _sas_correlations(self, corr: FloatArray) -> dict[str, float]:
        return {"CSH": float(corr[0, 1])}


@dataclass(frozen=True)
class HeterogeneousAutoRegressive(_Heterogeneous):
    """AR(1) with a variance per visit (SAS TYPE=ARH(1))."""

    name = "ar1h"
    ordered = True
    base = AutoRegressive

    def _sas_correlations(self, corr: FloatArray) -> dict[str, float]:
        return {"ARH(1)": float(corr[0, 1])}


@dataclass(frozen=True)
class HeterogeneousToeplitz(_Heterogeneous):
    """Toeplitz correlation with a variance per visit (SAS TYPE=TOEPH)."""

    name = "toeph"
    ordered = True
    base = Toeplitz

    def _sas_correlations(self, corr: FloatArray) -> dict[str, float]:
        return {f"TOEPH({lag})": float(corr[0, lag]) for lag in range(1, self.k)}


@dataclass(frozen=True)
class HeterogeneousAnteDependence(_Heterogeneous):
    """First-order ante-dependence with a variance per visit (SAS TYPE=ANTE(1))."""

    name = "adh"
    ordered = True
    base = AnteDependence

    def _sas_correlations(self, corr: FloatArray) -> dict[str, float]:
        return {f"Rho({lag})": float(corr[lag - 1, lag]) for lag in range(1, self.k)}


def _pacf(rho: FloatArray) -> FloatArray:
    """Partial autocorrelations (..., k-1) of lags 1..k-1 from autocorrelations ``rho`` (..., k), ``rho[0] = 1``
    (Durbin-Levinson)."""
    coefficients = np.zeros((*rho.shape[:-1], 0))
    innovation = np.ones(rho.shape[:-1])
    out = []
    for m in range(1, rho.shape[-1]):
        phi = (rho[..., m] - np.sum(coefficients * rho[..., m - 1:0:-1], axis=-1)) / innovation
        coefficients = np.concatenate([coefficients - phi[..., None] * coefficients[..., ::-1], phi[..., None]],
                                      axis=-1)
        innovation = innovation * (1 - phi**2)
        out.append(phi)
    return np.stack(out, axis=-1) if out else np.zeros((*rho.shape[:-1], 0))


COVARIANCE_STRUCTURES: dict[str, type[CovarianceStructure]] = {
    "us": Unstructured,
    "cs": CompoundSymmetry,
    "ar1": AutoRegressive,
    "toep": Toeplitz,
    "csh": HeterogeneousCompoundSymmetry,
    "ar1h": HeterogeneousAutoRegressive,
    "toeph": HeterogeneousToeplitz,
    "ad": AnteDependence,
    "adh": HeterogeneousAnteDependence,
    "sp_exp": SpatialExponential,
}


def get_structure(
    name: str, k: int, *, times: tuple[float, ...] | tuple[tuple[float, ...], ...] | None = None
) -> CovarianceStructure:
    """The covariance structure ``name`` over ``k`` visits, or :class:`InputError`.

    ``times`` (spatial structures only) are the visits' positions of the reported matrix
    and the starting values: k times, or k coordinate vectors of equal length d
    (Euclidean distances; see :class:`SpatialExponential`). Any sequence is accepted and
    stored as tuples.

    Examples
    --------
    >>> get_structure("us", 4).n_params
    10
    >>> get_structure("sp_exp", 3, times=(1.0, 2.0, 4.0)).matrix(np.array([0.0, 0.0]))[0, 1].round(6)
    np.float64(0.367879)
    >>> get_structure("sp_exp", 2, times=((0.0, 0.0), (0.6, 0.8))).matrix(np.array([0.0, 0.0]))[0, 1].round(6)
    np.float64(0.367879)
    """
    try:
        cls = COVARIANCE_STRUCTURES[name]
    except KeyError:
        raise InputError(
            f"covariance: unknown structure {name!r}; choose one of {sorted(COVARIANCE_STRUCTURES)}"
        ) from None
    if k < 2 and name != "us":
        raise InputError(f"covariance: {name!r} needs at least two visits, got {k}; use 'us'")
    if cls.spatial:
        # ignore[call-arg] below: a spatial structure takes times (the mapping is typed by the base class)
        return cls(k, times=None if times is None else _visit_positions(times, k))  # type: ignore[call-arg]
    if times is not None:
        raise InputError(f"covariance: {name!r} is not spatial and takes no times")
    return cls(k)


@dataclass(frozen=True)
class CovarianceModel:
    """One copy of ``structure`` per group (SAS's ``REPEATED / GROUP=``); a single group without grouping.

    ``theta`` concatenates the groups' parameter vectors in the order of ``groups``; it may
    carry leading batch axes, (..., n_params).

    Examples
    --------
    >>> model = CovarianceModel(get_structure("ar1", 3), groups=("PBO", "TRT"), column="ARMCD")
    >>> model.n_params, list(model.sas_parameters(np.zeros(4)))
    (4, ['AR(1) ARMCD=PBO', 'Variance ARMCD=PBO', 'AR(1) ARMCD=TRT', 'Variance ARMCD=TRT'])
    """

    structure: CovarianceStructure
    groups: tuple[str, ...] = ("",)
    column: str | None = None

    @property
    def n_groups(self) -> int:
        """Number of groups (1 without grouping)."""
        return len(self.groups)

    @property
    def n_params(self) -> int:
        """Number of variance parameters over all groups."""
        return self.n_groups * self.structure.n_params

    def split(self, theta: ArrayLike) -> FloatArray:
        """Each group's parameter vector: (..., n_groups, structure's n_params)."""
        theta = _theta(theta)
        return theta.reshape(*theta.shape[:-1], self.n_groups, self.structure.n_params)

    def start(self, empirical: FloatArray, positions: FloatArray | None = None) -> FloatArray:
        """The structure's start (..., n_params) for every group, from empirical matrices (..., k, k).

        ``positions``: each member's visit positions, for a spatial structure (see :class:`SpatialExponential`).
        """
        if positions is not None and isinstance(self.structure, SpatialExponential):
            one = self.structure.start(empirical, positions)
        else:
            one = self.structure.start(empirical)
        return np.concatenate([one] * self.n_groups, axis=-1)

    def scale_theta(self, theta: FloatArray, factor: ArrayLike) -> FloatArray:
        """``theta`` of every group's matrix times ``factor^2`` (...)."""
        parts = self.structure.scale_theta(self.split(theta), np.asarray(factor, dtype=float)[..., None])
        return parts.reshape(*parts.shape[:-2], self.n_params)

    def matrices(self, theta: FloatArray) -> list[FloatArray]:
        """``Sigma`` of each group (at the structure's visit times for spatial structures)."""
        return list(self.structure.matrix(self.split(theta)))

    def sas_parameters(self, theta: FloatArray) -> dict[str, float]:
        """SAS's names of the parameters, each followed by ``column=level`` when grouped.

        Grouped, SAS calls the common variance ``Variance`` rather than ``Residual``.
        """
        if self.column is None:
            return self.structure.sas_parameters(_theta(theta))
        out: dict[str, float] = {}
        for level, part in zip(self.groups, self.split(theta), strict=True):
            for name, value in self.structure.sas_parameters(part).items():
                out[f"{'Variance' if name == 'Residual' else name} {self.column}={level}"] = value
        return out
