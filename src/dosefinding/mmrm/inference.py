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
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

__all__ = ["CoefficientInference", "FTest", "ResidualDF", "Satterthwaite"]

FloatArray = NDArray[np.float64]
# Eigenvalues of L A L' below this fraction of the largest count as zero (rank of L).
_RANK_TOL = 1e-10
# 1-d df this close (relatively) to each other are taken as equal: 2 E / (E - r) -> nu.
_EQUAL_DF = 1e-8


@dataclass(frozen=True)
class FTest:
    """An F test of ``L beta = 0``: numerator and denominator df, F statistic and p-value."""

    num_df: int
    den_df: float
    f: float
    p: float


@dataclass(frozen=True)
class CoefficientInference(ABC):
    """The covariance of the coefficients and a rule for the degrees of freedom of their contrasts."""

    beta_cov: FloatArray

    @abstractmethod
    def df(self, contrasts: ArrayLike) -> FloatArray:
        """Degrees of freedom of each row ``c`` of ``contrasts`` (shape (m, p))."""

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


@dataclass(frozen=True)
class ResidualDF(CoefficientInference):
    """``n - p`` degrees of freedom for every contrast (SAS ddfm=residual).

    Examples
    --------
    >>> ResidualDF(beta_cov=np.eye(2), residual_df=30).df(np.eye(2)).tolist()
    [30.0, 30.0]
    """

    residual_df: int

    def df(self, contrasts: ArrayLike) -> FloatArray:
        return np.full(np.atleast_2d(np.asarray(contrasts)).shape[0], float(self.residual_df))


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
        """Degrees of freedom of each row ``c`` of ``contrasts`` (shape (m, p))."""
        c = np.atleast_2d(np.asarray(contrasts, dtype=float))
        a_c = c @ self.beta_cov
        variance = np.einsum("mp,mp->m", a_c, c)
        gradient = np.einsum("mp,jpq,mq->mj", a_c, self.q, a_c)
        spread = np.einsum("mj,jk,mk->m", gradient, self.theta_cov, gradient)
        return 2.0 * variance**2 / spread
