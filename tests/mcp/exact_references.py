"""Exact references shared by the tests of the max-T engine and of the defaults' accuracy.

Composite Gauss-Legendre rules on smooth one-dimensional integrals: exact to about 1e-12.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats


def composite_gauss(low: float, high: float, panels: int, order: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of composite Gauss-Legendre on [low, high] (exact to rounding on
    smooth integrands with enough panels)."""
    x, w = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(low, high, panels + 1)
    half = np.diff(edges)[:, None] / 2
    return ((edges[:-1, None] + half * (1 + x)).ravel(), (half * w).ravel())


# E[g(S)] for S = sqrt(chi2(df) / df): composite Gauss-Legendre on s in (0, 10), where the
# density s^(df-1) exp(-df s^2 / 2) is smooth (and below 1e-20 beyond).
S_NODES, S_WEIGHTS = composite_gauss(0.0, 10.0, 40)
# The common factor z of equicorrelated statistics, on (-12, 12): 200 panels resolve the
# steep integrand of rho = 0.999 (scale sqrt(1 - rho) = 0.03).
Z_NODES, Z_WEIGHTS = composite_gauss(-12.0, 12.0, 200)


def t_expectation(g, df: float) -> float:  # type: ignore[no-untyped-def]
    """E[g(S)] for S = sqrt(chi2(df) / df) (g vectorised), or g(1) for the normal."""
    if np.isinf(df):
        return float(g(np.array([1.0]))[0])
    density = stats.chi2.pdf(df * S_NODES**2, df) * 2 * df * S_NODES
    return float(np.sum(S_WEIGHTS * density * g(S_NODES)))


def equicorrelated_cdf(q: float, m: int, rho: float, df: float, two_sided: bool) -> float:
    """P(max T_i <= q) for m equicorrelated statistics: a normal mixture over the common factor."""

    def normal(x: np.ndarray) -> np.ndarray:
        centre = np.sqrt(rho) * Z_NODES[None, :]
        scale = math.sqrt(1 - rho)
        inside = special.ndtr((x[:, None] - centre) / scale)
        if two_sided:
            inside = np.where(x[:, None] > 0, inside - special.ndtr((-x[:, None] - centre) / scale), 0.0)
        return (inside**m * stats.norm.pdf(Z_NODES)) @ Z_WEIGHTS

    return t_expectation(lambda s: normal(q * s), df)
