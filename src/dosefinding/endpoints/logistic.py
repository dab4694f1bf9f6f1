"""Logistic regression of a responder endpoint: per-dose estimates on the logit scale for the MCP step.

Fits ``response ~ 0 + factor(dose) + covariates`` by iteratively reweighted least
squares (R ``glm(..., family = binomial)``), as R DoseFinding's binary first stage. The
dose coefficients and their covariance go to
``mct_test(doses=..., estimates=..., cov=...)`` (infinite degrees of freedom). The
per-dose "LS means" on the logit scale (``lsmeans``) average the covariate part of the
linear predictor over a reference grid as emmeans does: numeric covariates at their
mean, every combination of the levels of categorical covariates with equal weight. The
two sets differ by the same shift for every dose, so contrasts (which sum to zero)
give the same test from either.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from dosefinding.endpoints.responders import MissingRule, as_responder
from dosefinding.errors import ConvergenceError, InputError
from dosefinding.mcp.first_stage import PatientData, check_full_rank, patient_data
from dosefinding.mmrm.grid import is_factor
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr

__all__ = ["LogisticEstimates", "fit_logistic"]

FloatArray = NDArray[np.float64]
_EPSILON = 1e-12
_MAX_ITERATIONS = 100


@dataclass(frozen=True)
class LogisticEstimates(SummaryDisplay):
    """Per-dose logit-scale estimates of a logistic regression, with their covariance.

    Attributes
    ----------
    doses
        The dose levels (sorted).
    estimates, cov
        Dose coefficients of ``response ~ 0 + factor(dose) + covariates`` and their
        covariance: the input of ``mct_test(doses=, estimates=, cov=)``.
    lsmeans, lsmeans_cov
        Per-dose linear predictor at the emmeans reference grid of the covariates, and
        its covariance (equal to ``estimates``, ``cov`` without covariates).
    coefficients, vcov
        All coefficients (dose columns first, named ``dose[<d>]``, then the covariate
        columns as formulaic names them) and their covariance.
    deviance, iterations
        Residual deviance and IRLS iterations used.
    n_per_dose, n_dropped
        Patients analysed per dose; rows dropped (missing covariates, or missing
        outcomes with ``missing="exclude"``).
    """

    doses: FloatArray
    estimates: FloatArray
    cov: FloatArray
    lsmeans: FloatArray
    lsmeans_cov: FloatArray
    coefficients: pd.Series
    vcov: pd.DataFrame
    deviance: float
    iterations: int
    n_per_dose: NDArray[np.int64]
    n_dropped: int
    df: float = np.inf

    def to_frame(self) -> pd.DataFrame:
        """One row per coefficient: ``estimate``, ``se``, ``z`` and ``p``."""
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        z = self.coefficients.to_numpy() / se
        return pd.DataFrame({"estimate": self.coefficients, "se": se, "z": z, "p": 2 * stats.norm.sf(np.abs(z))},
                            index=self.coefficients.index)

    def __repr__(self) -> str:
        return short_repr(self, doses=self.doses.tolist(), n_per_dose=self.n_per_dose.tolist(),
                          coefficients=len(self.coefficients), deviance=self.deviance, iterations=self.iterations)

    def summary(self) -> Summary:
        """Coefficient table as R's ``summary(glm(...))`` prints it, then the per-dose LS means."""
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        z = self.coefficients.to_numpy() / se
        table = pd.DataFrame(
            {"Estimate": self.coefficients, "Std. Error": se, "z value": z, "Pr(>|z|)": 2 * stats.norm.sf(np.abs(z))},
            index=self.coefficients.index,
        )
        ls = pd.DataFrame(
            {"n": self.n_per_dose, "lsmean (logit)": self.lsmeans, "SE": np.sqrt(np.diag(self.lsmeans_cov)),
             "probability": 1 / (1 + np.exp(-self.lsmeans))},
            index=pd.Index(self.doses, name="dose"),
        )
        return Summary([
            "Logistic regression (binomial, logit link)",
            SummaryTable(table.round(4)),
            f"Residual deviance: {self.deviance:.4f}, IRLS iterations: {self.iterations}",
            "",
            "LS means by dose (logit scale, covariates at the emmeans reference grid)",
            SummaryTable(ls.round(4)),
        ], frame=self.to_frame())


def fit_logistic(
    data: pd.DataFrame,
    *,
    dose: str,
    response: str,
    covariates: str | Sequence[str] | None = None,
    missing: MissingRule = "non_responder",
    drop_missing: bool = False,
) -> LogisticEstimates:
    """Fit ``response ~ 0 + factor(dose) + covariates`` by maximum likelihood (logit link).

    Parameters
    ----------
    data
        One row per patient.
    dose
        Numeric dose column (one group per distinct dose).
    response
        Responder outcome: True/False, 1/0 or ``"Y"``/``"N"``.
    covariates
        Column names or the right-hand side of a formula (``"age + sex"``); categorical
        covariates get treatment coding as in R.
    missing
        A missing outcome counts as a non-responder (default) or the row is dropped.
    drop_missing
        Drop rows with missing covariates (and count them); otherwise an error.

    Examples
    --------
    >>> df = pd.DataFrame({"dose": [0] * 4 + [300] * 4, "resp": [1, 0, 0, 1, 1, 1, 0, 1]})
    >>> fit = fit_logistic(df, dose="dose", response="resp")
    >>> fit.estimates.round(4).tolist()
    [0.0, 1.0986]
    """
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data: must be a pandas DataFrame, got {type(data).__name__}")
    if missing not in ("non_responder", "exclude"):
        raise InputError(f"missing: must be 'non_responder' or 'exclude', got {missing!r}")
    if response not in data.columns:
        raise InputError(f"data: column {response!r} not found; columns are {list(data.columns)}")
    y = as_responder(data[response], response)
    frame = data.copy()
    frame[response] = np.where(np.isnan(y), 0.0, y) if missing == "non_responder" else y
    excluded = int(np.isnan(y).sum()) if missing == "exclude" else 0
    if excluded:
        frame = frame.loc[~np.isnan(y)]
    patients = patient_data(frame, dose, response, covariates, drop_missing)
    return _fit(patients, dose, excluded)


def _fit(patients: PatientData, dose_name: str, excluded: int) -> LogisticEstimates:
    doses, group = np.unique(patients.dose, return_inverse=True)
    if doses.size < 2:
        raise InputError(f"{dose_name}: need at least two dose groups, got {doses.tolist()}")
    y = patients.response
    n_per_dose = np.bincount(group, minlength=doses.size)
    rate = np.bincount(group, weights=y, minlength=doses.size) / n_per_dose
    flat = doses[(rate == 0) | (rate == 1)]
    if flat.size:
        raise InputError(
            f"{dose_name}: dose(s) {flat.tolist()} have no responder or only responders; "
            "their logit estimate is infinite (complete separation)"
        )
    x = np.hstack([np.eye(doses.size)[group], patients.covariate_matrix])
    covariate_names = [] if patients.design is None else list(patients.design.columns[1:])
    names = [f"{dose_name}[{d:g}]" for d in doses] + covariate_names
    check_full_rank(x, patients, doses)
    beta, info_inverse, deviance, iterations = _irls(x, y)
    k = doses.size
    grid_row = _grid_covariate_row(patients)
    lmat = np.hstack([np.eye(k), np.tile(grid_row, (k, 1))])
    index = pd.Index(names, name="term")
    return LogisticEstimates(
        doses=doses,
        estimates=beta[:k],
        cov=info_inverse[:k, :k],
        lsmeans=lmat @ beta,
        lsmeans_cov=lmat @ info_inverse @ lmat.T,
        coefficients=pd.Series(beta, index=index, name="estimate"),
        vcov=pd.DataFrame(info_inverse, index=index, columns=index),
        deviance=deviance,
        iterations=iterations,
        n_per_dose=n_per_dose,
        n_dropped=patients.n_dropped + excluded,
    )


def _irls(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray, float, int]:
    """Fisher scoring for the logit link from R's starting values; converged when the deviance settles.

    The iterations run on the columns scaled to unit length (the same fit, as well
    conditioned whatever the units of a covariate); the coefficients and their covariance
    are returned on the columns' own scale.
    """
    norms = np.linalg.norm(x, axis=0)
    x = x / norms
    mu = (y + 0.5) / 2.0
    eta = np.log(mu / (1.0 - mu))
    deviance_old = _deviance(y, mu)
    for iteration in range(1, _MAX_ITERATIONS + 1):
        w = mu * (1.0 - mu)
        working = eta + (y - mu) / w
        sw = np.sqrt(w)
        beta = np.linalg.lstsq(x * sw[:, None], working * sw, rcond=None)[0]
        eta = x @ beta
        mu = 1.0 / (1.0 + np.exp(-eta))
        deviance = _deviance(y, mu)
        if abs(deviance - deviance_old) / (abs(deviance) + 0.1) < _EPSILON:
            break
        deviance_old = deviance
    else:
        raise ConvergenceError(
            f"logistic regression: IRLS did not converge in {_MAX_ITERATIONS} iterations "
            f"(relative deviance change {abs(deviance - deviance_old) / (abs(deviance) + 0.1):.3g}); "
            "check for separation by a covariate"
        )
    w = mu * (1.0 - mu)
    info_inverse = np.linalg.inv(x.T @ (x * w[:, None])) / np.outer(norms, norms)
    return beta / norms, 0.5 * (info_inverse + info_inverse.T), float(deviance), iteration


def _deviance(y: FloatArray, mu: FloatArray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(y == 1, -np.log(mu), -np.log1p(-mu))
    return float(2.0 * np.sum(terms))


def _grid_covariate_row(patients: PatientData) -> FloatArray:
    """The covariate design columns averaged over the emmeans reference grid."""
    if patients.design is None:
        return np.empty(0)
    frame = patients.frame
    variables = list(frame.columns[2:])
    values: dict[str, list[object]] = {}
    for name in variables:
        column = frame[name]
        if is_factor(frame, name):
            if isinstance(column.dtype, pd.CategoricalDtype):
                values[name] = list(column.cat.categories)
            else:
                values[name] = list(np.sort(column.unique()))
        else:
            values[name] = [float(column.mean())]
    grid = pd.DataFrame(list(itertools.product(*values.values())), columns=variables)
    for name in variables:
        if isinstance(frame[name].dtype, pd.CategoricalDtype):
            grid[name] = pd.Categorical(grid[name], categories=frame[name].cat.categories)
    rows = np.asarray(patients.design.model_spec.get_model_matrix(grid), dtype=float)
    return rows[:, 1:].mean(axis=0)
