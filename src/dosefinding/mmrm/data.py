"""From a long data frame and a formula to the arrays of an MMRM fit, checking the input.

Rows with a missing value in the response, a model variable, the subject or the visit are
not used (as SAS PROC MIXED). Aliased design columns (linearly dependent on the columns
before them) are dropped and reported, as R's ``lm``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from formulaic import Formula, ModelSpec, model_matrix
from formulaic.errors import FormulaicError
from numpy.typing import NDArray

from dosefinding.errors import InputError

__all__ = ["MMRMData", "prepare_data"]

FloatArray = NDArray[np.float64]
# Relative size of a QR diagonal below which a design column counts as aliased (R's lm uses 1e-7).
_ALIAS_TOL = 1e-7


@dataclass(frozen=True)
class MMRMData:
    """The used observations of an MMRM as arrays, with their labels.

    Attributes
    ----------
    x, y
        Design (aliased columns dropped) and response, one row per used observation.
    columns, aliased
        Names of the kept and of the dropped design columns.
    alias_map
        (aliased, kept): each dropped column as a combination of the kept ones.
    subject, visit
        Codes (0-based) of each used row's subject and visit.
    subjects, visits
        Labels of the codes; ``visits`` in the order of the covariance matrix.
    n_subjects_read
        Distinct subjects among all rows of the data, used or not (SAS's "Subjects").
    spec
        The formulaic model spec of the right-hand side, to build new design rows.
    frame
        The used rows of the model variables, the subject and the visit.
    all_columns
        Names of all design columns, aliased ones included (the columns of ``spec``).
    covariates
        The variables on the right-hand side of the formula.
    """

    x: FloatArray
    y: FloatArray
    columns: tuple[str, ...]
    aliased: tuple[str, ...]
    alias_map: FloatArray
    subject: NDArray[np.intp]
    visit: NDArray[np.intp]
    subjects: pd.Index
    visits: pd.Index
    n_subjects_read: int
    spec: ModelSpec
    frame: pd.DataFrame
    all_columns: tuple[str, ...]
    covariates: tuple[str, ...]


def _parse(formula: str, data: pd.DataFrame) -> tuple[Formula, str, list[str], tuple[str, ...]]:
    """The parsed formula, the response, every variable it needs and those on the right-hand side."""
    try:
        parsed = Formula(formula)
    except FormulaicError as exc:
        raise InputError(f"formula: cannot parse {formula!r} ({exc})") from None
    if not hasattr(parsed, "lhs") or len(parsed.lhs.required_variables) != 1:
        raise InputError(f"formula: needs one response column on the left of '~', got {formula!r}")
    response = next(iter(parsed.lhs.required_variables))
    variables = sorted(parsed.lhs.required_variables | parsed.rhs.required_variables)
    missing = [name for name in variables if name not in data.columns]
    if missing:
        raise InputError(f"formula: {', '.join(map(repr, missing))} is not a column of data")
    return parsed, str(response), [str(v) for v in variables], tuple(sorted(map(str, parsed.rhs.required_variables)))


def _levels(values: pd.Series, name: str) -> pd.Index:
    """The visit levels: the categories of a categorical column, else the sorted values."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return pd.Index(values.cat.categories, name=name)
    return pd.Index(np.sort(values.dropna().unique()), name=name)


def _check_duplicates(data: pd.DataFrame, subject: str, visit: str) -> None:
    subject_codes, visit_codes = pd.factorize(data[subject])[0], pd.factorize(data[visit])[0]
    key = subject_codes.astype(np.int64) * (int(visit_codes.max()) + 2) + visit_codes
    key = key[(subject_codes >= 0) & (visit_codes >= 0)]
    if np.unique(key).size < key.size:
        keys = data[[subject, visit]].dropna()
        first = keys[keys.duplicated(keep=False)].iloc[0]
        raise InputError(
            f"data: subject {first[subject]!r} ({subject}) has more than one row at visit "
            f"{first[visit]!r} ({visit}); need one row per subject and visit"
        )


def _kept_columns(x: FloatArray) -> NDArray[np.bool_]:
    """Columns not aliased with the columns before them (QR without pivoting, as R's lm)."""
    r = np.linalg.qr(x, mode="r")
    diag = np.abs(np.diag(r))
    return diag > _ALIAS_TOL * max(float(diag.max()), 1.0)


def prepare_data(formula: str, data: pd.DataFrame, *, subject: str, visit: str) -> MMRMData:
    """Check the input and build the arrays of the fit, or raise :class:`InputError` naming the fault.

    Examples
    --------
    >>> df = pd.DataFrame({"id": [1, 1, 2, 2], "v": ["a", "b", "a", "b"], "y": [1.0, 2.0, 1.5, None]})
    >>> d = prepare_data("y ~ v", df, subject="id", visit="v")
    >>> d.columns, d.y.tolist(), list(d.visits)
    (('Intercept', 'v[T.b]'), [1.0, 2.0, 1.5], ['a', 'b'])
    """
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data: must be a pandas DataFrame, got {type(data).__name__}")
    for argument, column in (("subject", subject), ("visit", visit)):
        if column not in data.columns:
            raise InputError(f"{argument}: {column!r} is not a column of data")
    parsed, response, variables, covariates = _parse(formula, data)
    if not pd.api.types.is_numeric_dtype(data[response]) or pd.api.types.is_bool_dtype(data[response]):
        raise InputError(f"response {response!r}: must be numeric, got dtype {data[response].dtype}")
    _check_duplicates(data, subject, visit)

    visits = _levels(data[visit], visit)
    needed = list(dict.fromkeys([*variables, subject, visit]))
    complete = np.logical_and.reduce([data[name].notna().to_numpy() for name in needed])
    used = data.loc[complete, needed]
    if used.empty:
        raise InputError(f"data: no row has all of {needed} non-missing")
    visit_codes = visits.get_indexer(used[visit])
    empty = [str(v) for v, count in zip(visits, np.bincount(visit_codes, minlength=len(visits)), strict=True)
             if count == 0]
    if empty:
        raise InputError(
            f"visit {visit!r}: level(s) {empty} have no non-missing observation of {response!r}"
        )

    # numpy output: half the time of formulaic's pandas output.
    matrix = model_matrix(parsed.rhs, used, na_action="raise", output="numpy")
    x_full = np.asarray(matrix, dtype=float)
    all_columns = tuple(str(c) for c in matrix.model_spec.column_names)
    y = used[response].to_numpy(dtype=float)
    if not np.all(np.isfinite(y)):
        raise InputError(f"response {response!r}: must be finite, got infinity")
    infinite = [c for c, ok in zip(all_columns, np.isfinite(x_full).all(axis=0), strict=True) if not ok]
    if infinite:
        raise InputError(f"formula: design column(s) {infinite} have infinite values")
    kept = _kept_columns(x_full)
    alias_map = np.linalg.lstsq(x_full[:, kept], x_full[:, ~kept], rcond=None)[0].T
    subjects = pd.Index(pd.unique(used[subject]), name=subject)
    return MMRMData(
        x=np.ascontiguousarray(x_full[:, kept]),
        y=y,
        columns=tuple(c for c, keep in zip(all_columns, kept, strict=True) if keep),
        aliased=tuple(c for c, keep in zip(all_columns, kept, strict=True) if not keep),
        alias_map=alias_map,
        subject=subjects.get_indexer(used[subject]),
        visit=visit_codes,
        subjects=subjects,
        visits=visits,
        n_subjects_read=int(data[subject].nunique()),
        spec=matrix.model_spec,
        frame=used,
        all_columns=all_columns,
        covariates=covariates,
    )
