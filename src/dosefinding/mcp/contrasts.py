"""Optimal contrasts for candidate dose-response shapes (R DoseFinding's ``optContr``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import nnls

from dosefinding.errors import InputError
from dosefinding.shapes.candidates import Candidates
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_covariance, as_doses, as_vector

__all__ = [
    "OptimalContrasts",
    "contrast_correlation",
    "contrast_input",
    "dunnett_contrasts",
    "optimal_contrasts",
    "unconstrained_contrasts",
]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class OptimalContrasts(SummaryDisplay):
    """Optimal contrasts of a set of candidate models.

    The numbers are kept as arrays; the labelled frames are built on first access.

    Attributes
    ----------
    contrasts
        One column per model, one row per dose; each column has unit length (and sums to
        zero unless the contrasts are placebo-adjusted).
    correlation
        Correlation of the contrast estimates under the covariance used.
    mean_responses
        The candidate mean responses the contrasts were built from.
    placebo_adjusted, constrained
        How the contrasts were computed.
    matrix, correlation_matrix, means, doses, labels
        The same numbers as arrays (dose x model, model x model, dose x model), the doses
        and the model labels.
    """

    matrix: FloatArray
    correlation_matrix: FloatArray
    means: FloatArray
    doses: FloatArray
    labels: tuple[str, ...]
    placebo_adjusted: bool
    constrained: bool

    @cached_property
    def _label_index(self) -> pd.Index:
        # One index object for every frame: building an index of string labels costs as much as the arithmetic.
        return pd.Index(self.labels)

    @cached_property
    def _dose_index(self) -> pd.Index:
        return pd.Index(self.doses, name="dose")

    @cached_property
    def contrasts(self) -> pd.DataFrame:
        """Contrast matrix, dose x model."""
        return pd.DataFrame(self.matrix, index=self._dose_index, columns=self._label_index, copy=True)

    @cached_property
    def correlation(self) -> pd.DataFrame:
        """Correlation of the contrast estimates, model x model."""
        return pd.DataFrame(self.correlation_matrix, index=self._label_index, columns=self._label_index, copy=True)

    @cached_property
    def mean_responses(self) -> pd.DataFrame:
        """Candidate mean responses, dose x model."""
        return pd.DataFrame(self.means, index=self._dose_index, columns=self._label_index, copy=True)

    def to_frame(self) -> pd.DataFrame:
        """The contrast matrix, dose x model."""
        return self.contrasts.copy()

    def __repr__(self) -> str:
        return short_repr(self, models=list(self.labels), doses=self.doses.tolist(),
                          constrained=self.constrained, placebo_adjusted=self.placebo_adjusted)

    def summary(self) -> Summary:
        """The contrasts and their correlation, printed as R's ``summary(optContr(...))``."""
        kind = "constrained" if self.constrained else "unconstrained"
        return Summary(
            [
                f"Optimal {kind} contrasts" + (" (placebo-adjusted)" if self.placebo_adjusted else ""),
                "",
                SummaryTable(self.contrasts.round(3)),
                "",
                "Contrast correlation:",
                SummaryTable(self.correlation.round(3)),
            ],
            frame=self.to_frame(),
        )


def optimal_contrasts(
    candidates: Candidates,
    weights: ArrayLike | None = None,
    cov: ArrayLike | None = None,
    placebo_adjusted: bool = False,
    constrained: bool = False,
    doses: ArrayLike | None = None,
) -> OptimalContrasts:
    """Optimal contrasts: for each model, the contrast with most power to detect it.

    The unconstrained contrast for mean vector ``mu`` and covariance ``S`` is
    proportional to ``S^-1 (mu - m 1)`` with ``m`` the ``S^-1``-weighted mean of ``mu``
    (Bretz, Pinheiro and Branson 2005). The constrained contrast restricts the active-dose
    coefficients to the sign of the expected effect (Bornkamp 2017); it is found exactly
    as a non-negative least-squares problem.

    Parameters
    ----------
    candidates
        The candidate models.
    weights
        Relative sample sizes per dose (``S = diag(1 / weights)``). Give ``weights`` or
        ``cov``, not both; neither means equal weights.
    cov
        Covariance of the dose-group estimates (e.g. from an MMRM or ANCOVA).
    placebo_adjusted
        Contrasts for placebo-adjusted estimates: ``doses`` then excludes 0 and ``cov``
        is the covariance of the placebo-adjusted estimates.
    constrained
        Sign-constrained contrasts.
    doses
        Doses at which the estimates are available; default the candidates' doses
        (without placebo when ``placebo_adjusted``).

    Examples
    --------
    >>> from dosefinding import Candidates
    >>> cands = Candidates([0, 10, 25, 50, 100, 150], {"linear": None, "emax": 25})
    >>> oc = optimal_contrasts(cands, weights=[20] * 6)
    >>> oc.contrasts.round(3)["linear"].tolist()
    [-0.428, -0.351, -0.236, -0.045, 0.339, 0.722]
    """
    if weights is not None and cov is not None:
        raise InputError("weights, cov: give one of them, not both")
    if doses is None:
        d = candidates.doses[1:] if placebo_adjusted else candidates.doses
    else:
        d = as_doses(doses, "doses", placebo=not placebo_adjusted)
    k = d.size
    if cov is not None:
        s = as_covariance(cov, "cov", k)
    elif weights is not None:
        w = as_vector(weights, "weights")
        if w.size == 1:
            w = np.full(k, w[0])
        if w.size != k or np.any(w <= 0):
            raise InputError(f"weights: need {k} positive values, got {w.tolist()}")
        s = np.diag(1.0 / w)
    else:
        s = np.eye(k)
    mu = candidates.mean_responses(d, placebo_adjusted=placebo_adjusted)
    flat = np.ptp(mu, axis=0) == 0 if not placebo_adjusted else np.all(mu == 0, axis=0)
    if np.any(flat):
        raise InputError(
            f"candidates: model(s) {[candidates.labels[i] for i in np.flatnonzero(flat)]} "
            f"have a constant response at doses {d.tolist()}; no contrast can detect them"
        )
    if not np.all(np.isfinite(mu)):
        raise InputError(f"candidates: mean responses at doses {d.tolist()} are not all finite")
    # The contrasts do not depend on the scale of each model or of the covariance: standardise both,
    # so that effects and variances near the ends of the floating-point range give the same contrasts.
    mu_std = mu / np.max(np.abs(mu), axis=0)
    s_std = s / np.max(np.diag(s))
    if constrained:
        sign = 1.0 if candidates.direction == "increasing" else -1.0
        c = _constrained(mu_std, s_std, placebo_adjusted, sign)
    else:
        c = unconstrained_contrasts(mu_std, s_std, placebo_adjusted)
    return OptimalContrasts(
        matrix=c,
        correlation_matrix=contrast_correlation(c, s_std),
        means=mu,
        doses=d,
        labels=candidates.labels,
        placebo_adjusted=placebo_adjusted,
        constrained=constrained,
    )


def contrast_correlation(contrasts: FloatArray, cov: FloatArray) -> FloatArray:
    """Correlation matrix of the contrast estimates ``C' est`` when ``est`` has covariance ``cov``.

    ``contrasts`` (k, M) and ``cov`` (k, k), or stacks of them (T, k, M) and (T, k, k): one
    correlation per trial.

    Examples
    --------
    >>> c = np.array([[-1.0, -1.0], [1.0, 0.0], [0.0, 1.0]])  # two doses against placebo
    >>> np.round(contrast_correlation(c, np.eye(3)), 12).tolist()
    [[1.0, 0.5], [0.5, 1.0]]
    """
    c_cov = np.swapaxes(contrasts, -1, -2) @ cov @ contrasts
    sd = np.sqrt(np.diagonal(c_cov, axis1=-2, axis2=-1))
    return c_cov / (sd[..., :, None] * sd[..., None, :])


def contrast_input(
    contrasts: OptimalContrasts | pd.DataFrame | ArrayLike, placebo_adjusted: bool | None
) -> tuple[FloatArray, FloatArray | None, bool, tuple[str, ...]]:
    """A contrast argument as numbers: the matrix (dose x contrast), its doses (if known),
    whether it is placebo-adjusted and the contrast labels.

    Examples
    --------
    >>> c, doses, adjusted, labels = contrast_input([[-1.0], [1.0]], None)
    >>> c.shape, doses, adjusted, labels
    ((2, 1), None, False, ('contrast1',))
    """
    if isinstance(contrasts, OptimalContrasts):
        if placebo_adjusted is not None and placebo_adjusted != contrasts.placebo_adjusted:
            raise InputError("placebo_adjusted: contradicts the optimal contrasts given")
        return contrasts.matrix, contrasts.doses, contrasts.placebo_adjusted, contrasts.labels
    if isinstance(contrasts, pd.DataFrame):
        c = contrasts.to_numpy(dtype=float)
        doses: FloatArray | None = contrasts.index.to_numpy(dtype=float)
        labels = tuple(str(col) for col in contrasts.columns)
    else:
        c = np.asarray(contrasts, dtype=float)
        doses = None
        labels = tuple(f"contrast{i + 1}" for i in range(c.shape[1] if c.ndim == 2 else 1))
    if c.ndim == 1:
        c = c[:, None]
    if c.ndim != 2 or not np.all(np.isfinite(c)):
        raise InputError("contrasts: must be a finite matrix with one row per dose")
    zero = np.flatnonzero(~np.any(c != 0, axis=0))
    if zero.size:
        raise InputError(f"contrasts: contrast {labels[int(zero[0])]!r} is zero at every dose")
    return c, doses, bool(placebo_adjusted), labels


def dunnett_contrasts(doses: ArrayLike) -> pd.DataFrame:
    """Contrasts of each active dose against placebo (many-to-one comparisons, Dunnett 1955).

    Examples
    --------
    >>> dunnett_contrasts([0, 5, 50]).to_numpy().tolist()
    [[-1.0, -1.0], [1.0, 0.0], [0.0, 1.0]]
    """
    d = as_doses(doses)
    c = np.vstack([-np.ones(d.size - 1), np.eye(d.size - 1)])
    return pd.DataFrame(c, index=pd.Index(d, name="dose"), columns=[f"{x:g}" for x in d[1:]])


def _unit_columns(c: FloatArray) -> FloatArray:
    return c / np.linalg.norm(c, axis=-2, keepdims=True)


def unconstrained_contrasts(mu: FloatArray, cov: FloatArray, placebo_adjusted: bool = False) -> FloatArray:
    """The unconstrained optimal contrasts (numbers only) of the models' means ``mu`` (k, M).

    Under one covariance ``cov`` (k, k) the result is (k, M); under a stack of them
    (T, k, k), as many trials each with its own covariance, it is (T, k, M). Each column
    is proportional to ``S^-1 (mu - m 1)`` (``S^-1 mu`` when placebo-adjusted), has unit
    length and, without placebo adjustment, sums to zero. :func:`optimal_contrasts` wraps
    it for a candidate set.

    Examples
    --------
    >>> mu = np.array([[0.0], [1.0], [2.0]])  # one linear model on three doses
    >>> np.round(unconstrained_contrasts(mu, np.eye(3))[:, 0], 6).tolist()
    [-0.707107, 0.0, 0.707107]
    >>> unconstrained_contrasts(mu, np.array([np.eye(3), 2 * np.eye(3)])).shape
    (2, 3, 1)
    """
    s_inv = np.linalg.inv(cov)
    if placebo_adjusted:
        return _unit_columns(s_inv @ mu)
    row_sums = s_inv.sum(axis=-1)  # (..., k)
    centre = (row_sums @ mu) / row_sums.sum(axis=-1)[..., None]  # (..., M)
    c = s_inv @ (mu - centre[..., None, :])
    return _unit_columns(c - c.sum(axis=-2, keepdims=True))


def _constrained(mu: FloatArray, s: FloatArray, placebo_adjusted: bool, sign: float) -> FloatArray:
    """Minimise c' S c subject to mu' c = 1 and sign * c >= 0 on the active doses.

    With ``S = R'R`` the solution is the non-negative least-squares fit of
    ``R^-T mu`` on ``R``, rescaled: both share the Karush-Kuhn-Tucker conditions.
    Without placebo adjustment the problem is posed on the differences to placebo.
    """
    if placebo_adjusted:
        s_pa, mu_pa = s, mu
    else:
        k = mu.shape[0]
        to_differences = np.hstack([-np.ones((k - 1, 1)), np.eye(k - 1)])
        s_pa = to_differences @ s @ to_differences.T
        mu_pa = to_differences @ mu
    upper = np.linalg.cholesky(s_pa).T
    columns = []
    for j in range(mu_pa.shape[1]):
        target = np.linalg.solve(upper.T, sign * mu_pa[:, j])
        solution, _ = nnls(upper, target)
        if not np.any(solution > 0):
            raise InputError(
                f"candidates: model {j + 1} has no effect in the stated direction; "
                "no sign-constrained contrast exists"
            )
        c = solution / (mu_pa[:, j] @ solution)
        c[np.abs(c) < 1e-10] = 0.0
        columns.append(c if placebo_adjusted else np.concatenate([[-c.sum()], c]))
    return _unit_columns(np.column_stack(columns))
