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
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, logit

from dosefinding.errors import InputError
from dosefinding.mmrm.jets import Jet

__all__ = [
    "COVARIANCE_STRUCTURES", "CovarianceModel", "CovarianceStructure", "ante_correlation", "get_structure",
    "spatial_distances",
]

FloatArray = NDArray[np.float64]
_RHO_START_LIMIT = 0.9


@dataclass(frozen=True)
class CovarianceStructure(ABC):
    """A parametrised covariance matrix over ``k`` ordered visits.

    Examples
    --------
    >>> structure = get_structure("ar1", 3)
    >>> sigma, first, second = structure.evaluate(np.array([np.log(4.0), np.arctanh(0.5)]))
    >>> sigma[0].round(12).tolist()
    [4.0, 2.0, 1.0]
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
    def evaluate(self, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``Sigma`` (k, k), its first derivatives (q, k, k) and second derivatives (q, q, k, k)."""

    @abstractmethod
    def start(self, empirical: FloatArray) -> FloatArray:
        """Starting ``theta`` from a positive definite empirical covariance matrix."""

    @abstractmethod
    def sas_parameters(self, theta: FloatArray) -> dict[str, float]:
        """The covariance parameters as SAS's "Covariance Parameter Estimates" names them."""

    def matrix(self, theta: FloatArray) -> FloatArray:
        """``Sigma`` alone."""
        return self.evaluate(theta)[0]

    def evaluate_at(self, theta: FloatArray, times: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``Sigma`` (n, k, k) and derivatives (n, q, k, k), (n, q, q, k, k) at each of n sets of visit times.

        ``times`` is (n, k), or (n, k, d) for a spatial structure over d coordinates.
        Only spatial structures depend on the times; the others return :meth:`evaluate`.
        """
        return self.evaluate(theta)


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

    def evaluate(self, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        k, q = self.k, self.n_params
        rows, cols = self._positions()
        values = np.array(theta, dtype=float)
        values[:k] = np.exp(values[:k])
        chol = np.zeros((k, k))
        chol[rows, cols] = values
        d_chol = np.zeros((q, k, k))
        d_chol[np.arange(q), rows, cols] = np.concatenate([values[:k], np.ones(q - k)])
        d_chol_lt = d_chol @ chol.T
        first = d_chol_lt + d_chol_lt.transpose(0, 2, 1)
        outer = np.tensordot(d_chol, d_chol, axes=([2], [2])).transpose(0, 2, 1, 3)  # dL_j dL_k'
        second = outer + outer.transpose(1, 0, 2, 3)
        diag = np.arange(k)
        second[diag, diag] += first[:k]
        return chol @ chol.T, first, second

    def start(self, empirical: FloatArray) -> FloatArray:
        chol = np.linalg.cholesky(empirical)
        rows, cols = np.tril_indices(self.k, -1)
        return np.concatenate([np.log(np.diag(chol)), chol[rows, cols]])

    def sas_parameters(self, theta: FloatArray) -> dict[str, float]:
        sigma = self.matrix(theta)
        return {f"UN({i + 1},{j + 1})": float(sigma[i, j]) for i in range(self.k) for j in range(i + 1)}


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

    def _rho(self, t: float) -> tuple[float, float, float]:
        """rho and its first two derivatives in t."""
        e = float(expit(t))
        span = 1.0 - self._lower
        return self._lower + span * e, span * e * (1 - e), span * e * (1 - e) * (1 - 2 * e)

    def evaluate(self, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        s = float(np.exp(theta[0]))
        rho, d_rho, d2_rho = self._rho(theta[1])
        eye, off = np.eye(self.k), np.ones((self.k, self.k)) - np.eye(self.k)
        sigma = s * (eye + rho * off)
        d_t = s * d_rho * off
        first = np.stack([sigma, d_t])
        second = np.stack([np.stack([sigma, d_t]), np.stack([d_t, s * d2_rho * off])])
        return sigma, first, second

    def start(self, empirical: FloatArray) -> FloatArray:
        s = float(np.mean(np.diag(empirical)))
        corr = empirical / np.sqrt(np.outer(np.diag(empirical), np.diag(empirical)))
        rho = float(np.mean(corr[np.triu_indices(self.k, 1)]))
        lower = self._lower
        fraction = np.clip((rho - lower) / (1 - lower), 0.05, 0.95)
        return np.array([np.log(s), float(logit(fraction))])

    def sas_parameters(self, theta: FloatArray) -> dict[str, float]:
        s = float(np.exp(theta[0]))
        rho = self._rho(theta[1])[0]
        return {"CS": s * rho, "Residual": s * (1 - rho)}


@dataclass(frozen=True)
class AutoRegressive(CovarianceStructure):
    """First-order autoregressive over the visit order, homogeneous variance (SAS TYPE=AR(1))."""

    name = "ar1"
    ordered = True

    @property
    def n_params(self) -> int:
        return 2

    def evaluate(self, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        s = float(np.exp(theta[0]))
        rho = float(np.tanh(theta[1]))
        d_rho = 1 - rho**2
        d2_rho = -2 * rho * d_rho
        lag = np.abs(np.subtract.outer(np.arange(self.k), np.arange(self.k)))
        power = rho**lag
        # rho^(lag - 1) and rho^(lag - 2) where the factor in front is non-zero.
        power1 = np.where(lag >= 1, rho ** np.maximum(lag - 1, 0), 0.0)
        power2 = np.where(lag >= 2, rho ** np.maximum(lag - 2, 0), 0.0)
        sigma = s * power
        d_t = s * lag * power1 * d_rho
        d2_t = s * (lag * (lag - 1) * power2 * d_rho**2 + lag * power1 * d2_rho)
        first = np.stack([sigma, d_t])
        second = np.stack([np.stack([sigma, d_t]), np.stack([d_t, d2_t])])
        return sigma, first, second

    def start(self, empirical: FloatArray) -> FloatArray:
        s = float(np.mean(np.diag(empirical)))
        sd = np.sqrt(np.diag(empirical))
        rho = float(np.mean(np.diag(empirical, 1) / (sd[:-1] * sd[1:])))
        rho = float(np.clip(rho, -_RHO_START_LIMIT, _RHO_START_LIMIT))
        return np.array([np.log(s), np.arctanh(rho)])

    def sas_parameters(self, theta: FloatArray) -> dict[str, float]:
        return {"AR(1)": float(np.tanh(theta[1])), "Residual": float(np.exp(theta[0]))}


@dataclass(frozen=True)
class Toeplitz(CovarianceStructure):
    """Toeplitz over the visit order, homogeneous variance (SAS TYPE=TOEP)."""

    name = "toep"
    ordered = True

    @property
    def n_params(self) -> int:
        return self.k

    def _covariances(self, theta: FloatArray) -> list[Jet]:
        """``s r_l`` for lags 0..k-1 as jets in ``theta``."""
        q = self.k

        def tanh(t: float) -> tuple[float, float, float]:
            value = float(np.tanh(t))
            return value, 1 - value**2, -2 * value * (1 - value**2)

        def exp(t: float) -> tuple[float, float, float]:
            value = float(np.exp(t))
            return value, value, value

        one = Jet.constant(1.0, q)
        pacf = [Jet.transformed(theta[lag], lag, q, tanh) for lag in range(1, self.k)]
        rho, coefficients, innovation = [one], [], one
        for phi in pacf:
            # Durbin-Levinson: r_m = sum_j a_j r_(m-j) + phi_m v_(m-1), a_m = phi_m, a_j -= phi_m a_(m-j).
            new_rho = phi * innovation
            for j, a in enumerate(coefficients):
                new_rho = new_rho + a * rho[len(coefficients) - j]
            rho.append(new_rho)
            coefficients = [a - phi * coefficients[-1 - j] for j, a in enumerate(coefficients)] + [phi]
            innovation = innovation * (one - phi * phi)
        scale = Jet.transformed(theta[0], 0, q, exp)
        return [scale * r for r in rho]

    def evaluate(self, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        covariances = self._covariances(theta)
        lag = np.abs(np.subtract.outer(np.arange(self.k), np.arange(self.k)))
        values = np.array([c.value for c in covariances])
        gradients = np.stack([c.gradient for c in covariances])
        hessians = np.stack([c.hessian for c in covariances])
        return values[lag], np.moveaxis(gradients[lag], -1, 0), np.moveaxis(hessians[lag], (-2, -1), (0, 1))

    def start(self, empirical: FloatArray) -> FloatArray:
        s = float(np.mean(np.diag(empirical)))
        sd = np.sqrt(np.diag(empirical))
        corr = empirical / np.outer(sd, sd)
        rho = np.array([1.0] + [float(np.mean(np.diag(corr, lag))) for lag in range(1, self.k)])
        toeplitz = rho[np.abs(np.subtract.outer(np.arange(self.k), np.arange(self.k)))]
        if np.linalg.eigvalsh(toeplitz)[0] <= 0:
            rho = _RHO_START_LIMIT ** np.arange(self.k)  # an AR(1) start when the averages are not PD
        return np.concatenate([[np.log(s)], np.arctanh(np.clip(_pacf(rho), -_RHO_START_LIMIT, _RHO_START_LIMIT))])

    def sas_parameters(self, theta: FloatArray) -> dict[str, float]:
        return {f"TOEP({lag + 1})": c.value for lag, c in enumerate(self._covariances(theta))}


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

    def _correlation(self, t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The correlation (k, k) and its derivatives in ``t = atanh rho``: (k-1, k, k), (k-1, k-1, k, k)."""
        rho = np.tanh(t)
        d_rho = 1 - rho**2
        corr, first, second = ante_correlation(rho)
        second = second * np.multiply.outer(d_rho, d_rho)[:, :, None, None]
        links = np.arange(len(rho))
        second[links, links] = (-2 * rho * d_rho)[:, None, None] * first
        return corr, d_rho[:, None, None] * first, second

    def evaluate(self, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        k, q = self.k, self.n_params
        s = float(np.exp(theta[0]))
        corr, d_corr, d2_corr = self._correlation(np.asarray(theta[1:], dtype=float))
        sigma = s * corr
        first = np.concatenate([sigma[None], s * d_corr])
        second = np.empty((q, q, k, k))
        second[0, 0] = sigma
        second[0, 1:] = second[1:, 0] = s * d_corr
        second[1:, 1:] = s * d2_corr
        return sigma, first, second

    def start(self, empirical: FloatArray) -> FloatArray:
        sd = np.sqrt(np.diag(empirical))
        rho = np.clip(np.diag(empirical, 1) / (sd[:-1] * sd[1:]), -_RHO_START_LIMIT, _RHO_START_LIMIT)
        return np.concatenate([[np.log(np.mean(sd**2))], np.arctanh(rho)])

    def sas_parameters(self, theta: FloatArray) -> dict[str, float]:
        rho = np.tanh(theta[1:])
        return {"Var": float(np.exp(theta[0]))} | {f"Rho({lag + 1})": float(r) for lag, r in enumerate(rho)}


def ante_correlation(rho: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``R[a, b] = prod_{a <= l < b} rho_l`` (k, k) and its derivatives in ``rho``: (k-1, k, k), (k-1, k-1, k, k).

    Examples
    --------
    >>> corr, first, second = ante_correlation(np.array([0.5, 0.4]))
    >>> corr[0].tolist(), first[0, 0].tolist(), second[0, 1, 0, 2]
    ([1.0, 0.5, 0.2], [0.0, 1.0, 0.4], np.float64(1.0))
    """
    m = len(rho)
    k = m + 1
    visits, links = np.arange(k), np.arange(m)
    low = np.minimum.outer(visits, visits)[:, :, None]
    high = np.maximum.outer(visits, visits)[:, :, None]
    between = (low <= links) & (links < high)  # [a, b, l]: link l lies between visits a and b
    factor = np.where(between, rho, 1.0)
    eye = np.eye(m, dtype=bool)
    # Products with link l (and n) left out: no division by rho, which can be 0.
    without_one = np.prod(np.where(eye, 1.0, factor[:, :, None, :]), axis=-1)  # [a, b, l]
    left_out = eye[:, None, :] | eye[None, :, :]  # [l, n, j]: j is l or n
    without_two = np.prod(np.where(left_out, 1.0, factor[:, :, None, None, :]), axis=-1)  # [a, b, l, n]
    first = np.where(between, without_one, 0.0)
    both = between[:, :, :, None] & between[:, :, None, :] & ~eye
    second = np.where(both, without_two, 0.0)
    return np.prod(factor, axis=-1), np.moveaxis(first, -1, 0), np.moveaxis(second, (-2, -1), (0, 1))


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
    subject's own positions, ``(n, k)`` for times and ``(n, k, d)`` for coordinates.

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
        """Distances between the visits at ``times`` (n, k) or (n, k, d), or at the structure's own ``times``.

        ``times`` must follow the structure's convention (:attr:`has_coordinates`).

        Examples
        --------
        >>> SpatialExponential(3, times=(1.0, 2.0, 4.0)).distances()[0].tolist()
        [0.0, 1.0, 3.0]
        """
        positions = self._times() if times is None else np.asarray(times, dtype=float)
        return spatial_distances(positions, coordinates=self.has_coordinates)

    @staticmethod
    def _from_distances(theta: FloatArray, distance: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        s, scaled = float(np.exp(theta[0])), distance * float(np.exp(-theta[1]))
        sigma = s * np.exp(-scaled)
        d_range = sigma * scaled
        first = np.stack([sigma, d_range], axis=-3)
        second = np.stack([np.stack([sigma, d_range], axis=-3),
                           np.stack([d_range, sigma * (scaled**2 - scaled)], axis=-3)], axis=-4)
        return sigma, first, second

    def evaluate(self, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        return self._from_distances(theta, self.distances())

    def evaluate_at(self, theta: FloatArray, times: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``Sigma`` and derivatives at each subject's positions: ``times`` (n, k), or (n, k, d) with coordinates."""
        return self._from_distances(theta, self.distances(times))

    def start(self, empirical: FloatArray) -> FloatArray:
        sd = np.sqrt(np.diag(empirical))
        rho = float(np.clip(np.mean(np.diag(empirical, 1) / (sd[:-1] * sd[1:])), 0.05, _RHO_START_LIMIT))
        step = float(np.mean(np.diag(self.distances(), 1))) or 1.0
        return np.array([np.log(np.mean(sd**2)), np.log(-step / np.log(rho))])

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

    def evaluate(self, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        k, q = self.k, self.n_params
        corr, d_corr, d2_corr = self._correlation.evaluate(np.concatenate([[0.0], theta[k:]]))
        sd = np.exp(theta[:k])
        outer = np.outer(sd, sd)
        sigma = outer * corr
        # d Sigma_ij / d log sd_a = (delta_ia + delta_ja) Sigma_ij
        eye = np.eye(k)
        indicator = eye[:, :, None] + eye[:, None, :]
        first = np.concatenate([indicator * sigma, d_corr[1:] * outer])
        second = np.zeros((q, q, k, k))
        second[:k, :k] = indicator[:, None] * indicator[None, :] * sigma
        cross = indicator[:, None] * (d_corr[1:] * outer)[None, :]
        second[:k, k:] = cross
        second[k:, :k] = cross.transpose(1, 0, 2, 3)
        second[k:, k:] = d2_corr[1:, 1:] * outer
        return sigma, first, second

    def start(self, empirical: FloatArray) -> FloatArray:
        sd = np.sqrt(np.diag(empirical))
        return np.concatenate([np.log(sd), self._correlation.start(empirical / np.outer(sd, sd))[1:]])

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
    """Partial autocorrelations of lags 1..k-1 from autocorrelations ``rho`` (``rho[0] = 1``), Durbin-Levinson."""
    coefficients = np.zeros(0)
    innovation = 1.0
    out = []
    for m in range(1, len(rho)):
        phi = (rho[m] - coefficients @ rho[m - 1:0:-1]) / innovation
        coefficients = np.append(coefficients - phi * coefficients[::-1], phi)
        innovation *= 1 - phi**2
        out.append(phi)
    return np.array(out)


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
        return cls(k, times=None if times is None else _visit_positions(times, k))  # type: ignore[call-arg]
    if times is not None:
        raise InputError(f"covariance: {name!r} is not spatial and takes no times")
    return cls(k)


@dataclass(frozen=True)
class CovarianceModel:
    """One copy of ``structure`` per group (SAS's ``REPEATED / GROUP=``); a single group without grouping.

    ``theta`` concatenates the groups' parameter vectors in the order of ``groups``.

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

    def split(self, theta: FloatArray) -> list[FloatArray]:
        """Each group's parameter vector."""
        return list(np.reshape(np.asarray(theta, dtype=float), (self.n_groups, self.structure.n_params)))

    def start(self, empirical: FloatArray) -> FloatArray:
        """The structure's start for every group."""
        return np.tile(self.structure.start(empirical), self.n_groups)

    def matrices(self, theta: FloatArray) -> list[FloatArray]:
        """``Sigma`` of each group (at the structure's visit times for spatial structures)."""
        return [self.structure.matrix(part) for part in self.split(theta)]

    def sas_parameters(self, theta: FloatArray) -> dict[str, float]:
        """SAS's names of the parameters, each followed by ``column=level`` when grouped.

        Grouped, SAS calls the common variance ``Variance`` rather than ``Residual``.
        """
        if self.column is None:
            return self.structure.sas_parameters(np.asarray(theta, dtype=float))
        out: dict[str, float] = {}
        for level, part in zip(self.groups, self.split(theta), strict=True):
            for name, value in self.structure.sas_parameters(part).items():
                out[f"{'Variance' if name == 'Residual' else name} {self.column}={level}"] = value
        return out
