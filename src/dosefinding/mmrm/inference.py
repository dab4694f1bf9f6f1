"""Degrees of freedom and F tests of linear combinations of the MMRM coefficients (SAS's DDFM=).

``ResidualDF`` gives every contrast ``n - p`` (SAS ddfm=residual). ``Satterthwaite``
(SAS ddfm=satterthwaite): for a contrast ``c``, ``v(theta) = c' A(theta) c`` with ``A = (X'V^-1 X)^-1``; its gradient
is ``g_j = (A c)' Q_j (A c)`` with ``Q_j = X'V^-1 V_j V^-1 X`` (analytic, from the
likelihood), and ``df = 2 v^2 / (g' C g)`` with ``C = 2 H^-1`` the asymptotic covariance
of the variance parameters (``H`` the Hessian of -2 log likelihood). The result does not
depend on how the variance parameters are parametrised, so the log-Cholesky ``theta`` of
the fit gives SAS's numbers.

For a hypothesis ``L beta = 0`` of rank ``r`` (SAS's F tests), ``L A L' = P D P'`` splits
the F statistic into ``r`` independent squared t statistics of the contrasts ``P' L``, with
1-d degrees of freedom ``nu_m``; the denominator df is ``2 E / (E - r)`` with
``E = sum nu_m / (nu_m - 2)`` (Fai and Cornelius 1996, SAS's ddfm=satterthwaite).

``BetweenWithin`` (SAS ddfm=betwithin): a coefficient whose design column is constant within
every subject (the intercept among them) gets the between-subject df ``s - r_b``, with ``s``
the subjects used and ``r_b`` the rank of those columns; one that changes within a subject
gets the within-subject df ``n - r - (s - r_b)``, ``r`` the rank of the whole design. A
contrast gets the smallest df of the coefficients it involves (R mmrm's rule; SAS leaves
general contrasts undefined).

``KenwardRoger`` (SAS ddfm=kr, Kenward and Roger 1997): the covariance of the coefficients
is the adjusted ``Phi_A`` (see :mod:`dosefinding.mmrm.kenward_roger`); for ``L beta = 0``
of rank ``l``, with ``Phi`` the unadjusted covariance, ``M = L'(L Phi L')^-1 L``,
``P_h = X' dV^-1/dtheta_h X`` (minus Satterthwaite's ``Q_h``) and ``W`` as there,

    A_1 = sum_hj W_hj tr(M Phi P_h Phi) tr(M Phi P_j Phi),  A_2 = sum_hj W_hj tr(M Phi P_h Phi M Phi P_j Phi),

and Kenward and Roger's matching of the first two moments of ``lambda F`` gives the df ``m`` and the
scale ``lambda``: ``lambda F`` with ``F = (L beta)'(L Phi_A L')^-1 (L beta) / l`` is
referred to ``F(l, m)``. For one contrast ``lambda = 1`` and ``m = 2 / A_2``, which is
Satterthwaite's df of the unadjusted variance.

Batches. ``ResidualDF`` and ``Satterthwaite`` also hold the inference of many fits at once
(:func:`~dosefinding.mmrm.fit_mmrm_batch`): their arrays then carry a leading axis over the
fits and :meth:`~CoefficientInference.df` returns (T, m). :meth:`CoefficientInference.scaled`
gives the inference of the response multiplied by ``c`` (the fit runs on a scaled response,
see :mod:`dosefinding.mmrm.engine`): the covariances scale by ``c^2``, the df do not change.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

__all__ = ["BetweenWithin", "CoefficientInference", "FTest", "KenwardRoger", "ResidualDF", "Satterthwaite"]

FloatArray = NDArray[np.float64]
# Eigenvalues of L A L' below this fraction of the largest count as zero (rank of L).
_RANK_TOL = 1e-10
# 1-d df this close (relatively) to each other are taken as equal: 2 E / (E - r) -> nu.
_EQUAL_DF = 1e-8
# A design column whose range within every subject is below this fraction of its size is a between-subject column.
_CONSTANT_TOL = 1e-12
# Contrast entries below this fraction of the row's largest do not involve their coefficient (between-within df).
_INVOLVED_TOL = 1e-10


@dataclass(frozen=True)
class FTest:
    """An F test of ``L beta = 0``: numerator and denominator df, F statistic and p-value.

    ``scale`` is Kenward and Roger's ``lambda``, already applied to ``f`` (1 otherwise).
    """

    num_df: int
    den_df: float
    f: float
    p: float
    scale: float = 1.0


@dataclass(frozen=True)
class CoefficientInference(ABC):
    """The covariance of the coefficients and a rule for the degrees of freedom of their contrasts."""

    beta_cov: FloatArray

    @abstractmethod
    def df(self, contrasts: ArrayLike) -> FloatArray:
        """Degrees of freedom of each row ``c`` of ``contrasts`` (shape (m, p))."""

    def scaled(self, factor: ArrayLike) -> CoefficientInference:
        """The inference of the response multiplied by ``factor`` (one per fit in a batch): covariances times
        ``factor^2``, the same df.

        Examples
        --------
        >>> ResidualDF(beta_cov=np.eye(1), residual_df=30).scaled(3.0).beta_cov.tolist()
        [[9.0]]
        """
        return replace(self, beta_cov=self.beta_cov * _square(factor)[..., None, None])

    def f_test(self, beta: FloatArray, hypothesis: ArrayLike) -> FTest:
        """The F test of ``hypothesis @ beta = 0``; denominator df from :meth:`df` as below.

        ``L A L' = P D P'`` splits F into independent squared t statistics of ``P' L``
        with df ``nu_m``; all equal, the denominator df is that value, else Fai and
        Cornelius' ``2 E / (E - r)``, ``E = sum nu_m / (nu_m - 2)`` (2 if a ``nu_m <= 2``).

        Examples
        --------
        >>> test = ResidualDF(beta_cov=np.eye(2), residual_df=30).f_test(np.array([1.0, 2.0]), np.eye(2))
        >>> test.num_df, test.den_df, round(test.f, 6)
        (2, 30.0, 2.5)
        """
        rows = np.atleast_2d(np.asarray(hypothesis, dtype=float))
        values, vectors = np.linalg.eigh(rows @ self.beta_cov @ rows.T)
        keep = values > _RANK_TOL * values.max()
        contrasts = vectors[:, keep].T @ rows
        rank = int(keep.sum())
        f = float(np.sum((contrasts @ beta) ** 2 / values[keep])) / rank
        nu = self.df(contrasts)
        if np.ptp(nu) <= _EQUAL_DF * nu.max():
            den_df = float(nu.mean())
        elif nu.min() <= 2:
            den_df = 2.0
        else:
            e = float(np.sum(nu / (nu - 2)))
            den_df = 2 * e / (e - rank)
        return FTest(num_df=rank, den_df=den_df, f=f, p=float(stats.f.sf(f, rank, den_df)))


def _square(factor: ArrayLike) -> FloatArray:
    return np.asarray(factor, dtype=float) ** 2


@dataclass(frozen=True)
class ResidualDF(CoefficientInference):
    """``n - p`` degrees of freedom for every contrast (SAS ddfm=residual).

    Examples
    --------
    >>> ResidualDF(beta_cov=np.eye(2), residual_df=30).df(np.eye(2)).tolist()
    [30.0, 30.0]
    """

    residual_df: int | NDArray[np.int64]

    def df(self, contrasts: ArrayLike) -> FloatArray:
        m = np.atleast_2d(np.asarray(contrasts)).shape[-2]
        residual = np.asarray(self.residual_df, dtype=float)
        return np.broadcast_to(residual[..., None], (*residual.shape, m)).copy()


@dataclass(frozen=True)
class BetweenWithin(CoefficientInference):
    """Between-subject or within-subject df per coefficient (SAS ddfm=betwithin, see the module docstring).

    Examples
    --------
    >>> bw = BetweenWithin(beta_cov=np.eye(2), coefficient_df=np.array([38.0, 76.0]))
    >>> bw.df([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]).tolist()
    [38.0, 76.0, 38.0]
    """

    coefficient_df: FloatArray

    @classmethod
    def from_design(cls, beta_cov: FloatArray, x: FloatArray, subject: NDArray[np.intp]) -> BetweenWithin:
        """The df of each column of the design ``x`` (rows: observations of the subjects ``subject``)."""
        order = np.argsort(subject, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(subject[order]) != 0])
        sorted_x = x[order]
        spread = np.maximum.reduceat(sorted_x, starts, axis=0) - np.minimum.reduceat(sorted_x, starts, axis=0)
        scale = np.maximum(np.abs(x).max(axis=0), np.finfo(float).tiny)
        between = np.all(spread <= _CONSTANT_TOL * scale, axis=0)
        between_rank = np.linalg.matrix_rank(x[:, between]) if between.any() else 0
        between_df = starts.size - between_rank
        within_df = x.shape[0] - np.linalg.matrix_rank(x) - between_df
        return cls(beta_cov=beta_cov, coefficient_df=np.where(between, float(between_df), float(within_df)))

    def df(self, contrasts: ArrayLike) -> FloatArray:
        c = np.abs(np.atleast_2d(np.asarray(contrasts, dtype=float)))
        involved = c > _INVOLVED_TOL * c.max(axis=-1, keepdims=True)
        return np.where(involved, self.coefficient_df[..., None, :], np.inf).min(axis=-1)


@dataclass(frozen=True)
class Satterthwaite(CoefficientInference):
    """What Satterthwaite's approximation needs from a fit.

    Examples
    --------
    >>> s = Satterthwaite(beta_cov=np.eye(1), q=np.ones((1, 1, 1)), theta_cov=np.full((1, 1), 0.5))
    >>> s.df([[1.0]]).tolist()
    [4.0]
    """

    q: FloatArray
    theta_cov: FloatArray

    def df(self, contrasts: ArrayLike) -> FloatArray:
        """Degrees of freedom of each row ``c`` of ``contrasts`` ((m, p), or (T, m, p) per fit of a batch)."""
        c = np.atleast_2d(np.asarray(contrasts, dtype=float))
        a_c = c @ self.beta_cov
        variance = (a_c * c).sum(axis=-1)
        # gradient[m, j] = (A c_m)' Q_j (A c_m), as matrix products over the parameters j.
        gradient = np.swapaxes(((a_c[..., None, :, :] @ self.q) * a_c[..., None, :, :]).sum(axis=-1), -1, -2)
        spread = ((gradient @ self.theta_cov) * gradient).sum(axis=-1)
        return 2.0 * variance**2 / spread

    def scaled(self, factor: ArrayLike) -> Satterthwaite:
        square = _square(factor)
        return replace(self, beta_cov=self.beta_cov * square[..., None, None], q=self.q / square[..., None, None, None])


@dataclass(frozen=True)
class KenwardRoger(CoefficientInference):
    """Kenward-Roger inference: ``beta_cov`` is the adjusted ``Phi_A``, ``phi`` the unadjusted covariance.

    ``p`` holds ``P_h = X' dV^-1/dtheta_h X`` (q, p, p) and ``theta_cov`` the covariance
    ``W`` of the variance parameters in the same parametrisation.

    Examples
    --------
    >>> kr = KenwardRoger(beta_cov=np.eye(1), phi=np.eye(1), p=-np.ones((1, 1, 1)), theta_cov=np.full((1, 1), 0.5))
    >>> kr.df([[1.0]]).tolist()
    [4.0]
    """

    phi: FloatArray
    p: FloatArray
    theta_cov: FloatArray

    def scaled(self, factor: ArrayLike) -> KenwardRoger:
        square = _square(factor)[..., None, None]
        return replace(self, beta_cov=self.beta_cov * square, phi=self.phi * square, p=self.p / square[..., None])

    def df(self, contrasts: ArrayLike) -> FloatArray:
        """``2 / (a' W a)`` with ``a_h = c' Phi P_h Phi c / c' Phi c`` for each row ``c`` of ``contrasts``."""
        c = np.atleast_2d(np.asarray(contrasts, dtype=float))
        phi_c = c @ self.phi
        a = np.einsum("...mp,...hpq,...mq->...mh", phi_c, self.p, phi_c) / np.einsum(
            "...mp,...mp->...m", phi_c, c)[..., None]
        return 2.0 / np.einsum("...mh,...hj,...mj->...m", a, self.theta_cov, a)

    def f_test(self, beta: FloatArray, hypothesis: ArrayLike) -> FTest:
        """The scaled F test of ``hypothesis @ beta = 0`` with Kenward-Roger's ``lambda`` and df ``m``.

        Examples
        --------
        >>> kr = KenwardRoger(beta_cov=np.eye(2), phi=np.eye(2), p=-np.eye(2)[:, None] * np.eye(2),
        ...                   theta_cov=np.diag([0.1, 0.1]))
        >>> test = kr.f_test(np.array([1.0, 2.0]), np.eye(2))
        >>> test.num_df, round(test.den_df, 4), round(test.scale, 4)
        (2, 25.9681, 0.9751)
        """
        rows = np.atleast_2d(np.asarray(hypothesis, dtype=float))
        values, vectors = np.linalg.eigh(rows @ self.phi @ rows.T)
        keep = values > _RANK_TOL * values.max()
        # Orthonormalised full-rank rows: L Phi L' = I, so M = L'L and Z = L Phi below.
        contrasts = (vectors[:, keep] / np.sqrt(values[keep])).T @ rows
        rank = int(keep.sum())
        estimate = contrasts @ beta
        f = float(estimate @ np.linalg.solve(contrasts @ self.beta_cov @ contrasts.T, estimate)) / rank
        z = contrasts @ self.phi
        blocks = z @ self.p @ z.T
        traces = np.trace(blocks, axis1=1, axis2=2)
        a1 = float(traces @ self.theta_cov @ traces)
        flat = blocks.reshape(len(blocks), -1)
        a2 = float(np.sum((self.theta_cov @ flat) * flat))
        if rank == 1:
            m, scale = 2.0 / a2, 1.0
        else:
            m, scale = _kenward_roger_moments(a1, a2, rank)
        f *= scale
        return FTest(num_df=rank, den_df=m, f=f, p=float(stats.f.sf(f, rank, m)), scale=scale)


def _kenward_roger_moments(a1: float, a2: float, rank: int) -> tuple[float, float]:
    """Kenward and Roger's (1997) df ``m`` and scale ``lambda`` from ``A_1``, ``A_2`` and the rank ``l``."""
    b = (a1 + 6.0 * a2) / (2.0 * rank)
    g = ((rank + 1) * a1 - (rank + 4) * a2) / ((rank + 2) * a2)
    denominator = 3 * rank + 2 * (1 - g)
    c1, c2, c3 = g / denominator, (rank - g) / denominator, (rank + 2 - g) / denominator
    expectation = 1.0 / (1.0 - a2 / rank)
    variance = 2.0 / rank * (1 + c1 * b) / ((1 - c2 * b) ** 2 * (1 - c3 * b))
    rho = variance / (2.0 * expectation**2)
    m = 4.0 + (rank + 2) / (rank * rho - 1)
    return m, m / (expectation * (m - 2))
