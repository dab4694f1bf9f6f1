"""From a long data frame and a formula to the arrays of an MMRM fit, checking the input.

Rows with a missing value in the response, a model variable, the subject, the visit, the
time, the covariance group or the weight are not used (as SAS PROC MIXED). Aliased
design columns (linearly dependent on the columns before them) are dropped and
reported, as R's ``lm``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from formulaic import Formula, ModelSpec, model_matrix
from formulaic.errors import FormulaicError
from numpy.typing import NDArray

from dosefinding.design_matrix import kept_columns
from dosefinding.errors import DoseFindingWarning, InputError
from dosefinding.mmrm.checks import check_one_row_per_visit
from dosefinding.mmrm.covariance import CovarianceModel, get_structure
from dosefinding.mmrm.likelihood import PatternStats

__all__ = ["MMRMData", "covariance_model", "pattern_stats", "prepare_data", "visit_levels"]

FloatArray = NDArray[np.float64]
# Residuals below this fraction of the response's size count as an exact fit.
_EXACT_FIT = 1e-10
# A visit label made of a text, one number and a text: the number orders labels that share the texts.
_NUMBERED = re.compile(r"^(\D*?)(\d+(?:\.\d+)?)(\D*)$")


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
    time
        Each used row's position for spatial covariance structures: (n,) for one time
        column, (n, d) for d coordinate columns; or ``None``.
    time_columns
        The column(s) of ``time``, or ``None``.
    group, groups
        Each subject's covariance group code and the groups' labels, or ``None``.
    weights
        Each used row's weight (SAS's WEIGHT statement), or ``None``.
    visits_ordered
        Whether the order of ``visits`` is known (see :func:`visit_levels`) rather than
        the alphabetical order of text labels.
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
    time: FloatArray | None = None
    group: NDArray[np.intp] | None = None
    groups: pd.Index | None = None
    weights: FloatArray | None = None
    time_columns: tuple[str, ...] | None = None
    visits_ordered: bool = True

    @property
    def has_coordinates(self) -> bool:
        """Whether ``time`` has a trailing coordinate axis (several coordinate columns)."""
        return self.time is not None and self.time.ndim == 2


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
    """The levels of a column: the categories of a categorical column, else the sorted values."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return pd.Index(values.cat.categories, name=name)
    return pd.Index(np.sort(values.dropna().unique()), name=name)


def _numbered_order(labels: list[str]) -> NDArray[np.intp] | None:
    """The order of labels that differ only by one number (``"Week 2"``, ``"Week 12"``), or None."""
    matches = [_NUMBERED.match(label) for label in labels]
    if not all(matches) or len({(m[1], m[3]) for m in matches if m}) != 1:
        return None
    numbers = np.array([float(m[2]) for m in matches if m])
    if np.unique(numbers).size < numbers.size:
        return None
    return np.argsort(numbers)


def _ordered_by_column(data: pd.DataFrame, visit: str, column: str) -> pd.Index:
    """The visit levels ordered by a numeric column holding one distinct value per level (e.g. AVISITN)."""
    if column not in data.columns:
        raise InputError(f"visit_order: {column!r} is not a column of data")
    _numeric_column(data, "visit_order", column)
    pairs = data[[visit, column]].dropna().drop_duplicates()
    per_level = pairs.groupby(visit, sort=False, observed=True)[column].nunique()
    if (per_level > 1).any():
        bad = per_level.index[per_level > 1][0]
        values = sorted(pairs.loc[pairs[visit] == bad, column].tolist())
        raise InputError(f"visit_order: column {column!r} has several values {values} at visit {bad!r} ({visit})")
    numbers = pairs.set_index(visit)[column]
    if numbers.duplicated().any():
        tied = numbers[numbers.duplicated(keep=False)]
        raise InputError(f"visit_order: visits {sorted(map(str, tied.index))} ({visit}) share the value "
                         f"{float(tied.iloc[0])!r} of {column!r}")
    present = pd.unique(data[visit].dropna())
    unnumbered = [str(v) for v in present if v not in numbers.index]
    if unnumbered:
        raise InputError(f"visit_order: visit(s) {unnumbered} ({visit}) have no value of {column!r}")
    return pd.Index(numbers.sort_values().index, name=visit)


def _ordered_by_list(data: pd.DataFrame, visit: str, order: Sequence[object]) -> pd.Index:
    levels = list(order)
    if len(set(levels)) < len(levels):
        raise InputError(f"visit_order: repeats a visit: {levels}")
    present = pd.unique(data[visit].dropna())
    unlisted = [str(v) for v in present if v not in levels]
    if unlisted:
        raise InputError(f"visit_order: visit(s) {unlisted} of {visit!r} are not in the list {levels}")
    return pd.Index(levels, name=visit)


def visit_levels(
    data: pd.DataFrame, visit: str, visit_order: str | Sequence[object] | None = None
) -> tuple[pd.Index, bool]:
    """The visits in the order of the covariance matrix, and whether that order is known rather than alphabetical.

    The order is, first that applies: ``visit_order`` (a numeric column with one value per
    visit, such as ADaM's AVISITN, or the list of visits in order); the categories of a
    categorical column; the sorted values of a numeric column; for text labels that
    differ only by one number (``"Week 2"``, ``"Week 12"``, ``"VIS10"``), that number.
    Other text labels (``"Baseline"``, ``"Week 12"``, ``"End of study"``) are sorted
    alphabetically and the order is not known: structures that depend on the order then
    refuse them (:func:`covariance_model`).

    Examples
    --------
    >>> df = pd.DataFrame({"AVISIT": ["Week 12", "Week 2", "Week 4"], "AVISITN": [12, 2, 4]})
    >>> levels, known = visit_levels(df, "AVISIT")
    >>> levels.tolist(), known
    (['Week 2', 'Week 4', 'Week 12'], True)
    >>> visit_levels(df.assign(AVISIT=["End", "Baseline", "Week 4"]), "AVISIT", "AVISITN")[0].tolist()
    ['Baseline', 'Week 4', 'End']
    """
    values = data[visit]
    if visit_order is not None:
        if isinstance(visit_order, str):
            return _ordered_by_column(data, visit, visit_order), True
        if not isinstance(visit_order, Sequence):
            raise InputError(f"visit_order: must be a column name or a list of visits, got {visit_order!r}")
        return _ordered_by_list(data, visit, visit_order), True
    if isinstance(values.dtype, pd.CategoricalDtype) or pd.api.types.is_numeric_dtype(values):
        return _levels(values, visit), True
    unique = pd.unique(values.dropna())
    order = _numbered_order([str(v) for v in unique])
    if order is not None:
        return pd.Index(unique[order], name=visit), True
    return _levels(values, visit), False


def _alias_map(x: FloatArray, kept: NDArray[np.bool_]) -> FloatArray:
    """Each aliased column as a combination of the kept ones (rows: aliased columns), solved on unit-length columns."""
    norms = np.linalg.norm(x[:, kept], axis=0)
    coefficients = np.linalg.lstsq(x[:, kept] / norms, x[:, ~kept], rcond=None)[0]
    return (coefficients / norms[:, None]).T


def _check_residual_variation(x: FloatArray, y: FloatArray, visit: NDArray[np.intp], visits: pd.Index,
                              response: str) -> None:
    """InputError when the fixed effects fit the response exactly at a visit that has data to spare.

    A visit whose observations outnumber the design's rank there, yet leave no residual,
    has no variation to estimate a variance from, whatever the covariance structure: the
    usual cause is the baseline visit of a change from baseline (0 for everyone), or a
    constant response. Exact means residuals below ``1e-10`` of the response's size. (A
    visit with no observation to spare is fitted exactly by its own means; whether its
    variance is identified is the structure's question, see
    :mod:`dosefinding.mmrm.identifiability`.)
    """
    norms = np.linalg.norm(x, axis=0)
    norms[norms == 0] = 1.0
    residual = y - (x / norms) @ np.linalg.lstsq(x / norms, y, rcond=None)[0]
    size = float(np.sqrt(np.mean(y * y)))
    exact = []
    for code, label in enumerate(visits):
        rows = visit == code
        spare = int(rows.sum()) > int(kept_columns(x[rows]).sum())
        if spare and np.sqrt(np.mean(residual[rows] ** 2)) <= _EXACT_FIT * size:
            exact.append(str(label))
    if not exact:
        return
    if len(exact) == len(visits):
        values = np.unique(y)
        what = f"constant ({float(values[0])!r} in every used row)" if values.size == 1 else "fitted exactly by the fixed effects"
        raise InputError(f"response {response!r}: {what}; there is no variance to estimate")
    raise InputError(
        f"response {response!r}: no variation left at visit(s) {exact} after the fixed effects (e.g. the change "
        "from baseline at the baseline visit is 0 for everyone); leave those visits out of the model"
    )


def _numeric_column(data: pd.DataFrame, argument: str, column: str) -> None:
    values = data[column]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise InputError(f"{argument}: column {column!r} must be numeric, got dtype {values.dtype}")


def _check_weights(data: pd.DataFrame, column: str) -> None:
    """Weights present must be positive and finite (SAS silently drops non-positive ones; we refuse them)."""
    _numeric_column(data, "weights", column)
    values = data[column].to_numpy(dtype=float)
    bad = ~np.isnan(values) & ~((values > 0) & np.isfinite(values))
    if bad.any():
        raise InputError(
            f"weights: column {column!r} must be positive and finite, got {float(values[bad][0])!r} "
            f"in {int(bad.sum())} row(s), the first at index {data.index[np.flatnonzero(bad)[0]]!r}"
        )


def _time_columns(time: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """The time column(s) as a tuple: one name, or the coordinate columns; InputError for anything else."""
    if time is None:
        return None
    if isinstance(time, str):
        return (time,)
    if not isinstance(time, Sequence) or not all(isinstance(c, str) for c in time):
        raise InputError(f"time: must be a column name or a list of column names, got {time!r}")
    if len(time) == 0:
        raise InputError("time: the list of coordinate columns is empty")
    if len(set(time)) < len(time):
        raise InputError(f"time: coordinate columns {list(time)} repeat a column")
    return tuple(time)


def _time_label(columns: tuple[str, ...]) -> str:
    return repr(columns[0]) if len(columns) == 1 else repr(list(columns))


def _check_time(used: pd.DataFrame, columns: tuple[str, ...], subject: str) -> None:
    """Finite positions, distinct within each subject (a distance 0 makes the spatial matrix singular).

    With several coordinates two rows are tied when all their coordinates are equal.
    """
    for column in columns:
        values = used[column].to_numpy(dtype=float)
        if not np.all(np.isfinite(values)):
            raise InputError(f"time: column {column!r} must be finite, got infinity")
    tied = used.duplicated(subset=[subject, *columns], keep=False)
    if tied.any():
        first = used.loc[tied].iloc[0]
        if len(columns) == 1:
            raise InputError(
                f"time: subject {first[subject]!r} ({subject}) has more than one used row at time "
                f"{first[columns[0]]!r} ({columns[0]}); spatial covariance needs distinct times within a subject"
            )
        position = ", ".join(f"{column}={float(first[column])!r}" for column in columns)
        raise InputError(
            f"time: subject {first[subject]!r} ({subject}) has more than one used row at position ({position}) of "
            f"the coordinates {list(columns)}; spatial covariance needs distinct positions within a subject"
        )


def _subject_groups(data: pd.DataFrame, used: pd.DataFrame, column: str, subject: str,
                    subjects: pd.Index) -> tuple[NDArray[np.intp], pd.Index]:
    """Each subject's group code and the labels of the groups with used rows, or InputError if not constant."""
    known = data[[subject, column]].dropna()
    counts = known.groupby(subject, sort=False)[column].nunique()
    if (counts > 1).any():
        bad = counts.index[counts > 1][0]
        levels = sorted(map(str, known.loc[known[subject] == bad, column].unique()))
        raise InputError(
            f"group: column {column!r} must be constant within each subject; subject {bad!r} ({subject}) "
            f"has {levels}"
        )
    levels = _levels(used[column], column)
    present = pd.Index(pd.unique(used[column]))
    groups = pd.Index([level for level in levels if level in present], name=column)
    first = used.groupby(subject, sort=False)[column].first()
    return groups.get_indexer(first.loc[subjects]), groups


def prepare_data(
    formula: str,
    data: pd.DataFrame,
    *,
    subject: str,
    visit: str,
    time: str | Sequence[str] | None = None,
    group: str | None = None,
    weights: str | None = None,
    visit_order: str | Sequence[object] | None = None,
) -> MMRMData:
    """Check the input and build the arrays of the fit, or raise :class:`InputError` naming the fault.

    ``time`` (numeric, finite, distinct positions within subject), ``group`` (constant
    within subject) and ``weights`` (positive, finite) are optional columns;
    ``visit_order`` orders the visits (see :func:`visit_levels`). ``time`` is
    one column name (stored as ``MMRMData.time`` of shape (n,)) or a list of coordinate
    columns (shape (n, d); a list of one column is the same as its name).

    Examples
    --------
    >>> df = pd.DataFrame({"id": [1, 1, 2, 2], "v": ["a", "b", "a", "b"], "y": [1.0, 2.0, 1.5, None]})
    >>> d = prepare_data("y ~ v", df, subject="id", visit="v")
    >>> d.columns, d.y.tolist(), list(d.visits)
    (('Intercept', 'v[T.b]'), [1.0, 2.0, 1.5], ['a', 'b'])
    >>> df["t1"], df["t2"] = [1.0, 2.0, 1.0, 2.0], [0.0, 0.5, 0.1, 0.4]
    >>> prepare_data("y ~ 1", df, subject="id", visit="v", time=["t1", "t2"]).time.shape
    (3, 2)
    """
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data: must be a pandas DataFrame, got {type(data).__name__}")
    time_columns = _time_columns(time)
    optional = {"group": group, "weights": weights}
    named = [("subject", subject), ("visit", visit), *(("time", c) for c in time_columns or ()), *optional.items()]
    for argument, column in named:
        if column is not None and column not in data.columns:
            raise InputError(f"{argument}: {column!r} is not a column of data")
    for column in time_columns or ():
        _numeric_column(data, "time", column)
    if weights is not None:
        _check_weights(data, weights)
    parsed, response, variables, covariates = _parse(formula, data)
    if not pd.api.types.is_numeric_dtype(data[response]) or pd.api.types.is_bool_dtype(data[response]):
        raise InputError(f"response {response!r}: must be numeric, got dtype {data[response].dtype}")
    check_one_row_per_visit(data, subject, visit)

    visits, visits_ordered = visit_levels(data, visit, visit_order)
    extra = [*(time_columns or ()), *(column for column in optional.values() if column is not None)]
    needed = list(dict.fromkeys([*variables, subject, visit, *extra]))
    complete = np.logical_and.reduce([data[name].notna().to_numpy() for name in needed])
    used = data.loc[complete, needed]
    # formulaic takes pandas' "string" dtype for numeric; as object it is a factor, as in R.
    used = used.astype({name: object for name in needed if isinstance(used[name].dtype, pd.StringDtype)})
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
    kept = kept_columns(x_full)
    alias_map = _alias_map(x_full, kept)
    aliased = tuple(c for c, keep in zip(all_columns, kept, strict=True) if not keep)
    if aliased:
        warnings.warn(
            f"formula: design column(s) {list(aliased)} are linear combinations of the columns before them and "
            "were dropped (as R's lm); estimates that involve them are not estimable",
            DoseFindingWarning, stacklevel=3,
        )
    _check_residual_variation(x_full[:, kept], y, visit_codes, visits, response)
    subjects = pd.Index(pd.unique(used[subject]), name=subject)
    positions = None
    if time_columns is not None:
        _check_time(used, time_columns, subject)
        positions = used[list(time_columns)].to_numpy(dtype=float)
        positions = positions[:, 0] if len(time_columns) == 1 else positions
    group_codes, groups = (None, None) if group is None else _subject_groups(data, used, group, subject, subjects)
    return MMRMData(
        x=np.ascontiguousarray(x_full[:, kept]),
        y=y,
        columns=tuple(c for c, keep in zip(all_columns, kept, strict=True) if keep),
        aliased=aliased,
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
        time=positions,
        group=group_codes,
        groups=groups,
        weights=None if weights is None else used[weights].to_numpy(dtype=float),
        time_columns=time_columns,
        visits_ordered=visits_ordered,
    )


def _visit_times(data: MMRMData) -> tuple[tuple[float, ...] | tuple[tuple[float, ...], ...], bool]:
    """Each visit's position (the mean, per coordinate, when its rows differ), and whether all rows of a visit share it.

    The positions are k floats for one time column and k tuples of d floats for d coordinates.
    """
    assert data.time is not None
    k = len(data.visits)
    time = data.time
    first = np.empty((k, *time.shape[1:]))
    first[data.visit[::-1]] = time[::-1]  # the first row of each visit is written last
    shared = bool(np.array_equal(time, first[data.visit]))
    if not shared:
        counts = np.bincount(data.visit, minlength=k)
        columns = time[:, None] if time.ndim == 1 else time
        means = np.stack([np.bincount(data.visit, weights=c, minlength=k) / counts for c in columns.T], axis=-1)
        first = means[:, 0] if time.ndim == 1 else means
    if time.ndim == 1:
        return tuple(float(t) for t in first), shared
    return tuple(tuple(float(c) for c in row) for row in first), shared


def covariance_model(name: str, data: MMRMData) -> CovarianceModel:
    """The covariance structure ``name`` over the visits of ``data``, one copy per group, or InputError.

    A spatial structure needs ``time`` (its reported matrix is at each visit's mean
    time, or mean position per coordinate); every group needs an observation at every visit (what else the
    covariance parameters need is checked by :mod:`dosefinding.mmrm.identifiability`).

    Examples
    --------
    >>> df = pd.DataFrame({"id": [1, 1, 2, 2, 3, 3], "v": ["a", "b"] * 3, "y": [1.0, 2.0, 1.5, 2.5, 0.5, 1.0]})
    >>> covariance_model("cs", prepare_data("y ~ 1", df, subject="id", visit="v")).n_params
    2
    """
    k = len(data.visits)
    structure_class = type(get_structure(name, max(k, 2)))  # InputError for an unknown name
    if structure_class.spatial and data.time is None:
        raise InputError(f"covariance: {name!r} is spatial and needs time= (a numeric column of visit times, or "
                         "a list of numeric coordinate columns)")
    if data.time is not None and not structure_class.spatial:
        columns = "" if data.time_columns is None else f" (time={_time_label(data.time_columns)})"
        raise InputError(f"time: only spatial covariance structures use times{columns}, not {name!r}")
    structure = get_structure(name, k, times=None if data.time is None else _visit_times(data)[0])
    if structure.ordered and not data.visits_ordered:
        visit = data.visits.name
        raise InputError(
            f"visit {visit!r}: covariance {name!r} depends on the order of the visits, and the order of the text "
            f"labels {[str(v) for v in data.visits]} is not known (alphabetical is not chronological); give "
            f"visit_order= (a numeric column such as AVISITN, or the list of visits in order), or make {visit!r} "
            "an ordered categorical"
        )
    if data.group is None or data.groups is None:
        model = CovarianceModel(structure)
        group_codes = np.zeros(len(data.subjects), dtype=np.intp)
    else:
        model = CovarianceModel(structure, groups=tuple(str(g) for g in data.groups), column=str(data.groups.name))
        group_codes = data.group
    for h, label in enumerate(model.groups):
        where = f" in group {label!r} ({model.column})" if model.column else ""
        if model.column:
            seen = np.bincount(data.visit[group_codes[data.subject] == h], minlength=k)
            empty = [str(v) for v, count in zip(data.visits, seen, strict=True) if count == 0]
            if empty:
                raise InputError(f"group: visit(s) {empty} have no observation{where}")
    return model


def pattern_stats(data: MMRMData, model: CovarianceModel) -> PatternStats:
    """The per-pattern sums of ``data`` for ``model`` (patterns split by group), with each subject's times if they vary.

    The times are passed per row, (n,) or (n, d) with coordinates, when the rows of a
    visit do not all share one position.

    Examples
    --------
    >>> df = pd.DataFrame({"id": [1, 1, 2, 3, 3, 4, 4], "v": ["a", "b", "a", "a", "b", "a", "b"],
    ...                    "y": [1.0, 2.0, 1.5, 0.5, 1.0, 2.0, 2.5]})
    >>> d = prepare_data("y ~ 1", df, subject="id", visit="v")
    >>> pattern_stats(d, covariance_model("us", d)).n.tolist()
    [[1.0, 3.0]]
    """
    times = None
    if data.time is not None and not _visit_times(data)[1]:
        times = data.time
    return PatternStats.from_rows(
        data.x, data.y, subject=data.subject, visit=data.visit, k=len(data.visits),
        group=data.group if model.n_groups > 1 else None, times=times, weights=data.weights,
    )
