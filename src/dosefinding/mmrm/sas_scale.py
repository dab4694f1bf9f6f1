"""Covariance structures in SAS PROC MIXED's own parameters, those of its "Covariance Parameter Estimates".

The fit's structures (:mod:`dosefinding.mmrm.covariance`) are parametrised so that every
parameter vector gives a positive definite matrix. SAS iterates, and takes the second
derivatives of Kenward-Roger's adjustment, in its own parameters ``phi``, in the order
SAS prints them:

- ``us``: the entries ``UN(i,j)``, ``i >= j``; ``cs``: ``CS`` and ``Residual``
  (``Sigma = CS J + Residual I``); ``toep``: the lag covariances ``TOEP(l + 1)``,
  ``TOEP(1)`` the variance. ``Sigma`` is linear in these.
- ``ar1``: ``AR(1) = rho`` and ``Residual``; ``sp_exp``: the range ``SP(EXP) = r`` and
  ``Residual`` (``Sigma = Residual exp(-d / r)``).
- ``csh``, ``ar1h``, ``toeph``, ``adh``: ``Var(i)`` and the correlations (``CSH``,
  ``ARH(1)``, ``TOEPH(l)``, ``Rho(l)``): ``Sigma = D R D``, ``D = diag(sqrt Var)``.

Homogeneous ante-dependence ``ad`` has no SAS type and no SAS parametrisation here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dosefinding.errors import InputError
from dosefinding.mmrm.covariance import (
    CovarianceModel,
    CovarianceStructure,
    Evaluated,
    MemberwiseStructure,
    SpatialExponential,
    ante_correlation,
    with_derivatives,
)

__all__ = ["LINEAR_IN_SAS_PARAMETERS", "SAS_PARAMETRISED", "SasCovariance", "sas_parameter_derivatives",
           "sas_scale"]

FloatArray = NDArray[np.float64]
# Structures whose Sigma is linear in SAS's parameters (no second derivatives).
LINEAR_IN_SAS_PARAMETERS = ("us", "cs", "toep")
_HETEROGENEOUS_BASES = {"csh": "cs", "ar1h": "ar1", "toeph": "toep", "adh": "ad"}
SAS_PARAMETRISED = (*LINEAR_IN_SAS_PARAMETERS, "ar1", "sp_exp", *_HETEROGENEOUS_BASES)


def _lags(k: int) -> NDArray[np.intp]:
    return np.abs(np.subtract.outer(np.arange(k), np.arange(k)))


def _correlation(base: str, params: FloatArray, k: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """A correlation matrix from SAS's correlation parameters, with first (m, k, k) and second (m, m, k, k)
    derivatives."""
    lag = _lags(k)
    if base == "ad":
        return with_derivatives(ante_correlation(np.asarray(params, dtype=float)))
    if base == "toep":
        r = np.concatenate([[1.0], params])
        first = (lag[None] == np.arange(1, k)[:, None, None]).astype(float)
        return r[lag], first, np.zeros((k - 1, k - 1, k, k))
    rho = np.float64(params[0])
    if base == "cs":
        off = (lag > 0).astype(float)
        return np.eye(k) + rho * off, off[None], np.zeros((1, 1, k, k))
    power1: FloatArray = np.where(lag >= 1, rho ** np.maximum(lag - 1, 0), 0.0)
    power2: FloatArray = np.where(lag >= 2, rho ** np.maximum(lag - 2, 0), 0.0)
    return rho**lag, (lag * power1)[None], (lag * (lag - 1) * power2)[None, None]


def _linear_basis(name: str, k: int) -> FloatArray:
    """``d Sigma / d phi`` (q, k, k) of the structures linear in SAS's parameters."""
    lag = _lags(k)
    if name == "cs":
        return np.stack([np.ones((k, k)), np.eye(k)])
    if name == "toep":
        return (lag[None] == np.arange(k)[:, None, None]).astype(float)
    rows, cols = np.tril_indices(k)
    order = np.lexsort((cols, rows))
    q = len(rows)
    out = np.zeros((q, k, k))
    out[np.arange(q), rows[order], cols[order]] = 1.0
    out[np.arange(q), cols[order], rows[order]] = 1.0
    return out


def _heterogeneous(base: str, variances: FloatArray, params: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``D R D`` and its derivatives in ``(Var(1..k), correlation parameters)``."""
    k = len(variances)
    corr, d_corr, d2_corr = _correlation(base, params, k)
    sd = np.sqrt(variances)
    outer = np.outer(sd, sd)
    sigma = outer * corr
    eye = np.eye(k)
    # d Sigma_ab / d Var(i) = (delta_ia + delta_ib) Sigma_ab / (2 Var(i))
    half = (eye[:, :, None] + eye[:, None, :]) / (2 * variances[:, None, None])
    m = d_corr.shape[0]
    first = np.concatenate([half * sigma, d_corr * outer])
    second = np.zeros((k + m, k + m, k, k))
    diagonal = eye[:, :, None, None] * (half / variances[:, None, None])[:, None]
    second[:k, :k] = (half[:, None] * half[None, :] - diagonal) * sigma
    cross = half[:, None] * (d_corr * outer)[None]
    second[:k, k:] = cross
    second[k:, :k] = cross.transpose(1, 0, 2, 3)
    second[k:, k:] = d2_corr * outer
    return sigma, first, second


def _scaled(residual: float, corr: FloatArray, d_corr: FloatArray,
            d2_corr: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``Residual C(shape)`` with derivatives in ``(shape, Residual)``; the arrays may carry a leading unit axis."""
    sigma = residual * corr
    first = np.stack([residual * d_corr, corr], axis=-3)
    second = np.stack([np.stack([residual * d2_corr, d_corr], axis=-3),
                       np.stack([d_corr, np.zeros_like(corr)], axis=-3)], axis=-4)
    return sigma, first, second


def _spatial_exponential(phi: FloatArray, distance: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``Residual exp(-d / r)`` and its derivatives in ``(r, Residual)``, at distances (..., k, k)."""
    shape = float(phi[0])
    corr = np.exp(-distance / shape)
    d_corr = corr * distance / shape**2
    d2_corr = corr * (distance**2 / shape**4 - 2 * distance / shape**3)
    return _scaled(float(phi[1]), corr, d_corr, d2_corr)


@dataclass(frozen=True)
class SasCovariance(MemberwiseStructure):
    """``structure`` in SAS's parameters ``phi`` (see the module docstring).

    ``Sigma(phi)`` need not be positive definite; the likelihood raises ``LinAlgError``
    where it is not.

    Examples
    --------
    >>> from dosefinding.mmrm.covariance import get_structure
    >>> sas = SasCovariance(3, get_structure("ar1", 3))
    >>> sas.matrix(np.array([0.5, 4.0]))[0].tolist(), list(sas.sas_parameters(np.array([0.5, 4.0])))
    ([4.0, 2.0, 1.0], ['AR(1)', 'Residual'])
    """

    structure: CovarianceStructure

    @property
    def name(self) -> str:  # type: ignore[override]  # a property: the wrapped structure's
        return self.structure.name

    @property
    def n_params(self) -> int:
        return self.structure.n_params

    @property
    def spatial(self) -> bool:  # type: ignore[override]  # a property: the wrapped structure's
        return self.structure.spatial

    def _distances(self, times: FloatArray | None = None) -> FloatArray:
        """The spatial structure's distances, at its own visit positions or at ``times`` (its convention)."""
        if not isinstance(self.structure, SpatialExponential):
            raise InputError(f"covariance: {self.name!r} is not spatial and has no distances")
        return self.structure.distances(times)

    def derivatives_of_one(self, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        phi, k = np.asarray(theta, dtype=float), self.k
        if self.name in LINEAR_IN_SAS_PARAMETERS:
            basis = _linear_basis(self.name, k)
            return np.tensordot(phi, basis, axes=1), basis, np.zeros((len(phi), *basis.shape))
        if self.name in _HETEROGENEOUS_BASES:
            return _heterogeneous(_HETEROGENEOUS_BASES[self.name], phi[:k], phi[k:])
        if self.name == "ar1":
            corr, d_corr, d2_corr = _correlation("ar1", phi[:1], k)
            return _scaled(float(phi[1]), corr, d_corr[0], d2_corr[0, 0])
        return _spatial_exponential(phi, self._distances())

    def evaluate_at(self, theta: ArrayLike, times: FloatArray, order: int = 2) -> Evaluated:
        """As :meth:`evaluate` at each of n sets of visit positions: (n, k, k), (n, q, k, k), (n, q, q, k, k).

        ``theta`` is (q,) and ``times`` (n, k), or (n, k, d) when the spatial structure has d
        coordinates; for a batch of ``theta`` (..., q), ``times`` is (..., n, k[, d]).
        """
        if not self.spatial:
            return self.evaluate(theta, order)
        theta = np.asarray(theta, dtype=float)
        if theta.ndim > 1:
            lead = theta.shape[:-1]
            members = [self.evaluate_at(one, at, order) for one, at in zip(
                theta.reshape(-1, theta.shape[-1]), np.reshape(times, (-1, *np.shape(times)[len(lead):])),
                strict=True)]
            return tuple(  # type: ignore[return-value]  # a tuple of three, as evaluate_at returns
                None if part[0] is None else np.stack(part).reshape(*lead, *part[0].shape)
                for part in zip(*members, strict=True))
        sigma, first, second = _spatial_exponential(theta, self._distances(times))
        return sigma, first if order >= 1 else None, second if order >= 2 else None

    def from_matrix(self, sigma: FloatArray) -> FloatArray:
        """SAS's parameters of a matrix of this structure (the inverse of :meth:`matrix`)."""
        sigma = np.asarray(sigma, dtype=float)
        k = self.k
        if self.name == "us":
            rows, cols = np.tril_indices(k)
            order = np.lexsort((cols, rows))
            return sigma[rows[order], cols[order]]
        if self.name == "cs":
            return np.array([sigma[0, 1], sigma[0, 0] - sigma[0, 1]])
        if self.name == "toep":
            return sigma[0].copy()
        variances = np.diag(sigma)
        corr = sigma / np.sqrt(np.outer(variances, variances))
        if self.name == "ar1":
            return np.array([corr[0, 1], variances[0]])
        if self.name == "sp_exp":
            distance = self._distances()[0, 1]
            return np.array([-distance / np.log(corr[0, 1]), variances[0]])
        correlations = {"csh": corr[0, 1:2], "ar1h": corr[0, 1:2], "toeph": corr[0, 1:],
                        "adh": np.diag(corr, 1)}[self.name]
        return np.concatenate([variances, correlations])

    def start(self, empirical: FloatArray) -> FloatArray:
        empirical = np.asarray(empirical, dtype=float)
        if empirical.ndim == 2:
            return self.from_matrix(empirical)
        starts = [self.from_matrix(one) for one in empirical.reshape(-1, self.k, self.k)]
        return np.stack(starts).reshape(*empirical.shape[:-2], self.n_params)

    def scale_theta(self, theta: FloatArray, factor: ArrayLike) -> FloatArray:
        """SAS's parameters of ``factor^2 Sigma``: its variances and covariances times ``factor^2``."""
        out = np.array(theta, dtype=float)
        square = np.asarray(factor, dtype=float)[..., None] ** 2
        if self.name in LINEAR_IN_SAS_PARAMETERS:
            return out * square
        variances = slice(0, self.k) if self.name in _HETEROGENEOUS_BASES else slice(1, 2)
        out[..., variances] *= square
        return out

    def sas_parameters(self, theta: FloatArray) -> dict[str, float]:
        names = self.structure.sas_parameters(np.zeros(self.n_params))
        return dict(zip(names, (float(v) for v in theta), strict=True))


def sas_scale(model: CovarianceModel) -> CovarianceModel:
    """``model`` with its structure in SAS's parameters (the same groups), or :class:`InputError`.

    Examples
    --------
    >>> from dosefinding.mmrm.covariance import get_structure
    >>> sas_scale(CovarianceModel(get_structure("csh", 3))).sas_parameters(np.array([1.0, 2.0, 3.0, 0.5]))
    {'Var(1)': 1.0, 'Var(2)': 2.0, 'Var(3)': 3.0, 'CSH': 0.5}
    """
    structure = model.structure
    if structure.name not in SAS_PARAMETRISED:
        raise InputError(f"covariance: {structure.name!r} has no SAS parametrisation (SAS has no such type); "
                         f"those with one are {SAS_PARAMETRISED}")
    return CovarianceModel(SasCovariance(structure.k, structure), groups=model.groups, column=model.column)


def sas_parameter_derivatives(structure: CovarianceStructure, sigma: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``d Sigma / d phi`` (q, k, k) and ``d2 Sigma / d phi d phi`` (q, q, k, k) at ``sigma``, in SAS's parameters.

    Examples
    --------
    >>> from dosefinding.mmrm.covariance import get_structure
    >>> sigma = 4.0 * 0.5 ** np.abs(np.subtract.outer(np.arange(3), np.arange(3)))
    >>> first, second = sas_parameter_derivatives(get_structure("ar1", 3), sigma)
    >>> first[0, 0].tolist(), second[0, 0, 0].tolist()
    ([0.0, 4.0, 4.0], [0.0, 0.0, 8.0])
    """
    if not isinstance(structure, SasCovariance):
        if structure.name not in SAS_PARAMETRISED:
            raise InputError(f"covariance: {structure.name!r} has no SAS parametrisation (SAS has no such type); "
                             f"those with one are {SAS_PARAMETRISED}")
        structure = SasCovariance(structure.k, structure)
    _, first, second = with_derivatives(structure.evaluate(structure.from_matrix(sigma)))
    return first, second
