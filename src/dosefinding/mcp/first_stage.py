"""Dose-group estimates and their covariance from raw data: the cell-means ANCOVA.

This is the first stage of MCP-Mod for a normal response (R DoseFinding's type
``"normal"``): ``response ~ 0 + factor(dose) + covariates``, fitted by least squares.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from formulaic import Formula, ModelMatrix, model_matrix
from numpy.typing import NDArray

from dosefinding.design_matrix import kept_columns
from dosefinding.errors import InputError

__all__ = ["DoseGroupEstimates", "PatientData", "cell_means", "check_full_rank", "fit_cell_means", "patient_data"]

# Residual SD below this fraction of max|response| is rounding error, not variation.
_ROUNDING_SD = 1e-10


@dataclass(frozen=True)
class PatientData:
    """Complete cases of one analysis: dose, response and the covariate design.

    ``columns`` names the columns used (dose, response, covariate variables) and
    ``frame`` holds them (complete cases); ``design`` is the formulaic model matrix
    ``1 + covariates`` (treatment coding for categorical covariates, as R), or ``None``
    without covariates; ``n_dropped`` counts the incomplete rows removed.
    """

    dose: NDArray[np.float64]
    response: NDArray[np.float64]
    design: ModelMatrix | None
    n_dropped: int
    columns: tuple[str, ...]
    source: pd.DataFrame = field(repr=False)
    complete: NDArray[np.bool_] | None = field(repr=False)

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The columns used, complete cases only (built on first use: most analyses need arrays only)."""
        frame = self.source[list(self.columns)]
        return frame if self.complete is None else frame.loc[self.complete]

    @property
    def covariate_matrix(self) -> NDArray[np.float64]:
        """The covariate columns of the design without the intercept, shape ``(n, q)``."""
        if self.design is None:
            return np.empty((self.dose.size, 0))
        return np.asarray(self.design, dtype=float)[:, 1:]


def patient_data(
    data: pd.DataFrame,
    dose: str,
    response: str,
    covariates: str | Sequence[str] | None = None,
    drop_missing: bool = False,
) -> PatientData:
    """Check and extract the columns of an analysis of one row per patient.

    Raises :class:`InputError` naming a missing or non-numeric column, a negative dose,
    or missing values (unless ``drop_missing``, which drops and counts those rows).

    Examples
    --------
    >>> df = pd.DataFrame({"dose": [0, 5], "y": [1.0, None], "sex": ["F", "M"]})
    >>> patient_data(df, "dose", "y", "sex", drop_missing=True).n_dropped
    1
    """
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data: must be a pandas DataFrame, got {type(data).__name__}")
    terms = _covariate_formula(covariates)
    used = [dose, response, *_formula_columns(terms, data)]
    missing_columns = [c for c in used if c not in data.columns]
    if missing_columns:
        raise InputError(f"data: column(s) {missing_columns} not found; columns are {list(data.columns)}")
    # Column by column (each column fetched once): a frame of the used columns costs more
    # than the rest of a small fit.
    series = {c: data[c] for c in dict.fromkeys(used)}
    for column in (dose, response):
        dtype = series[column].dtype
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            raise InputError(f"{column}: column must be numeric, got dtype {dtype}")
    # The numeric columns once as floats (missing as NaN); the others through pandas.
    numbers = {c: series[c].to_numpy(dtype=float, na_value=np.nan) for c in (dose, response)}
    missing = {c: np.isnan(numbers[c]) if c in numbers else column.isna().to_numpy() for c, column in series.items()}
    incomplete = np.logical_or.reduce(list(missing.values()))
    complete = None
    if incomplete.any():
        if not drop_missing:
            columns = [c for c in used if missing[c].any()]
            raise InputError(
                f"data: {int(incomplete.sum())} row(s) have missing values in {columns}; "
                "remove them or pass drop_missing=True"
            )
        complete = ~incomplete
    dose_values, response_values = numbers[dose], numbers[response]
    if complete is not None:
        dose_values, response_values = dose_values[complete], response_values[complete]
    if np.any(dose_values < 0):
        raise InputError(f"{dose}: doses must be non-negative")
    design = None
    if terms:
        frame = data[used] if complete is None else data[used].loc[complete]
        design = model_matrix("1 + " + terms, frame, na_action="raise")
    return PatientData(
        dose=dose_values,
        response=response_values,
        design=design,
        n_dropped=int(incomplete.sum()),
        columns=tuple(used),
        source=data,
        complete=complete,
    )


@dataclass(frozen=True)
class DoseGroupEstimates:
    """Estimates per dose with their covariance and residual degrees of freedom.

    ``estimates`` are the dose-group coefficients of the ANCOVA (the group means when
    there are no covariates); ``n_dropped`` counts rows removed for missing values.
    """

    doses: NDArray[np.float64]
    estimates: NDArray[np.float64]
    cov: NDArray[np.float64]
    df: float
    n_per_dose: NDArray[np.int64]
    n_dropped: int


def fit_cell_means(
    data: pd.DataFrame,
    dose: str,
    response: str,
    covariates: str | Sequence[str] | None = None,
    drop_missing: bool = False,
) -> DoseGroupEstimates:
    """Fit ``response ~ 0 + factor(dose) + covariates`` by least squares.

    Parameters
    ----------
    data
        One row per patient.
    dose, response
        Column names of the dose and the (numeric) response.
    covariates
        Column names, or the right-hand side of a formula (``"gender + age"``);
        categorical covariates get treatment coding as in R.
    drop_missing
        Drop rows with a missing value in any column used, and count them; otherwise a
        missing value is an error.

    Examples
    --------
    >>> df = pd.DataFrame({"dose": [0, 0, 1, 1], "y": [1.0, 3.0, 4.0, 6.0]})
    >>> fit = fit_cell_means(df, "dose", "y")
    >>> fit.estimates.round(12).tolist(), fit.df
    ([2.0, 5.0], 2.0)
    """
    return cell_means(patient_data(data, dose, response, covariates, drop_missing))


def cell_means(patients: PatientData) -> DoseGroupEstimates:
    """The cell-means ANCOVA of :func:`fit_cell_means` on checked patient data."""
    doses, group = np.unique(patients.dose, return_inverse=True)
    if doses.size < 2:
        raise InputError(f"{patients.columns[0]}: need at least two dose groups, got {doses.tolist()}")
    if patients.design is None:
        return _group_means(patients, doses, group)
    indicators = np.eye(doses.size)[group]
    x = np.hstack([indicators, patients.covariate_matrix])
    y = patients.response
    n, p = x.shape
    check_full_rank(x, patients, doses)
    q, r = np.linalg.qr(x)
    if n <= p:
        raise InputError(f"data: {n} complete rows leave no residual degrees of freedom for {p} coefficients")
    beta = np.linalg.solve(r, q.T @ y)
    residual = y - x @ beta
    df = n - p
    sigma2 = residual @ residual / df
    _check_residual_variation(float(np.sqrt(sigma2)), y, patients.columns[1])
    r_inv = np.linalg.inv(r)
    cov = sigma2 * (r_inv @ r_inv.T)
    k = doses.size
    return DoseGroupEstimates(
        doses=doses,
        estimates=beta[:k],
        cov=cov[:k, :k],
        df=float(df),
        n_per_dose=np.bincount(group),
        n_dropped=patients.n_dropped,
    )


def _group_means(patients: PatientData, doses: NDArray[np.float64], group: NDArray[np.intp]) -> DoseGroupEstimates:
    """The cell-means model without covariates: group means, pooled variance over the group sizes."""
    y = patients.response
    n, k = y.size, doses.size
    if n <= k:
        raise InputError(f"data: {n} complete rows leave no residual degrees of freedom for {k} coefficients")
    counts = np.bincount(group, minlength=k)
    means = np.bincount(group, y, minlength=k) / counts
    residual = y - means[group]
    df = n - k
    sigma2 = residual @ residual / df
    _check_residual_variation(float(np.sqrt(sigma2)), y, patients.columns[1])
    return DoseGroupEstimates(
        doses=doses,
        estimates=means,
        cov=np.diag(sigma2 / counts),
        df=float(df),
        n_per_dose=counts,
        n_dropped=patients.n_dropped,
    )


def check_full_rank(x: NDArray[np.float64], patients: PatientData, doses: NDArray[np.float64]) -> None:
    """InputError naming the covariate columns that are linear combinations of the dose groups and the columns
    before them in the cell-means design ``x`` (dose indicators, then covariates); decided whatever the units
    of each column (:func:`dosefinding.design_matrix.kept_columns`).

    Examples
    --------
    >>> df = pd.DataFrame({"dose": [0, 0, 5, 5], "y": [1.0, 2.0, 3.0, 5.0], "on": [0.0, 0.0, 1.0, 1.0]})
    >>> patients = patient_data(df, "dose", "y", "on")
    >>> x = np.column_stack([np.eye(2)[[0, 0, 1, 1]], patients.covariate_matrix])
    >>> check_full_rank(x, patients, np.array([0.0, 5.0]))
    Traceback (most recent call last):
    ...
    dosefinding.errors.InputError: covariates: the design is rank deficient (['on'] collinear with the dose groups: ['on'] are linear combinations of the columns before them)
    """
    kept = kept_columns(x)
    if kept.all():
        return
    covariates = [] if patients.design is None else [str(c) for c in patients.design.columns[1:]]
    names = [f"{patients.columns[0]}[{d:g}]" for d in doses] + covariates
    aliased = [name for name, keep in zip(names, kept, strict=True) if not keep]
    raise InputError(f"covariates: the design is rank deficient ({covariates} collinear with the dose groups: "
                     f"{aliased} are linear combinations of the columns before them)")


def _check_residual_variation(sd: float, response: NDArray[np.float64], name: str) -> None:
    """Refuse a residual SD at the level of rounding error relative to the response's own size.

    Least squares leaves residuals of order ``eps * cond(X) * max|y|`` even when the
    response has no variation at all; t statistics divided by such an SD are noise.
    """
    scale = float(np.max(np.abs(response)))
    if not sd > _ROUNDING_SD * scale:
        raise InputError(
            f"{name}: no residual variation (residual SD {sd:.3g} against a response of size {scale:.3g}): "
            "the response is constant within the dose groups (and covariates), so the test statistics "
            "are undefined"
        )


def _covariate_formula(covariates: str | Sequence[str] | None) -> str:
    if covariates is None:
        return ""
    if isinstance(covariates, str):
        return covariates.strip().lstrip("~").strip()
    return " + ".join(str(c) for c in covariates)


def _formula_columns(terms: str, data: pd.DataFrame) -> list[str]:
    """Data columns that a covariate formula refers to."""
    if not terms:
        return []
    variables = Formula(terms).required_variables
    unknown = [v for v in variables if v not in data.columns]
    if unknown:
        raise InputError(f"covariates: column(s) {sorted(unknown)} not found in data")
    return sorted(variables)
