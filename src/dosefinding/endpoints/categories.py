"""Category distributions per arm and visit, and shift tables (baseline category x visit category).

A score is put into ordered categories by cut points. Each cut point belongs to one of
the two categories it separates, stated per cut point with ``cut_belongs_to``:
``"upper"`` (the category above starts at the cut: ``x >= c``) or ``"lower"`` (the
category below ends at the cut: ``x <= c``). The ESSDAI categories of study A2201, low
(< 5), moderate (5-13) and high (> 13), are ``cut_points=[5, 13]``,
``cut_belongs_to=["upper", "lower"]``: 5 and 13 are both moderate.

A missing value is its own category (``missing_label``, last). Percentages are of all
patients of the arm at the visit, missing included. With ``subject`` given, every
subject of an arm is expected at every visit: an absent record counts as missing.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from dosefinding.endpoints.levels import column_levels
from dosefinding.errors import InputError
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr
from dosefinding.validation import as_vector

__all__ = ["CategoryTable", "ShiftTable", "categorize", "category_table", "shift_table"]

Side = Literal["upper", "lower"]


def categorize(
    values: ArrayLike,
    *,
    cut_points: ArrayLike,
    labels: Sequence[str],
    cut_belongs_to: Side | Sequence[Side] = "upper",
    missing_label: str = "Missing",
    name: str = "values",
) -> pd.Categorical:
    """Ordered categories of ``values`` by ``cut_points``; missing values get ``missing_label``.

    Examples
    --------
    >>> categorize([4, 5, 13, 14, None], cut_points=[5, 13], labels=["low", "moderate", "high"],
    ...            cut_belongs_to=["upper", "lower"]).tolist()
    ['low', 'moderate', 'moderate', 'high', 'Missing']
    """
    cuts = as_vector(cut_points, "cut_points")
    if np.any(np.diff(cuts) <= 0):
        raise InputError(f"cut_points: must be strictly increasing, got {cuts.tolist()}")
    labels = [str(label) for label in labels]
    if len(labels) != cuts.size + 1:
        raise InputError(f"labels: need {cuts.size + 1} labels for {cuts.size} cut points, got {len(labels)}")
    if len(set(labels)) != len(labels) or missing_label in labels:
        raise InputError(f"labels: must be distinct and differ from missing_label {missing_label!r}, got {labels}")
    sides = [cut_belongs_to] * cuts.size if isinstance(cut_belongs_to, str) else list(cut_belongs_to)
    if len(sides) != cuts.size or any(s not in ("upper", "lower") for s in sides):
        raise InputError(
            f"cut_belongs_to: 'upper', 'lower' or one of them per cut point ({cuts.size}), got {cut_belongs_to!r}"
        )
    series = pd.Series(values)
    if not (pd.api.types.is_numeric_dtype(series) or series.isna().all()) or pd.api.types.is_bool_dtype(series):
        raise InputError(f"{name}: must be numeric, got dtype {series.dtype}")
    v = series.to_numpy(dtype=float, na_value=np.nan)
    if np.any(np.isinf(v)):
        raise InputError(f"{name}: must be finite or missing, got infinity")
    missing = np.isnan(v)
    upper = np.array([s == "upper" for s in sides])
    with np.errstate(invalid="ignore"):
        above = np.where(upper, v[:, None] >= cuts, v[:, None] > cuts)
    codes = np.where(missing, cuts.size + 1, above.sum(axis=1))
    return pd.Categorical.from_codes(codes, categories=[*labels, missing_label], ordered=True)


@dataclass(frozen=True)
class _Prepared:
    frame: pd.DataFrame
    arms: list[object]
    visits: list[object]


def _prepare(
    data: pd.DataFrame,
    arm: str,
    visit: str,
    columns: list[str],
    subject: str | None,
    arms: list[object] | None,
    visits: list[object] | None,
) -> _Prepared:
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data: must be a pandas DataFrame, got {type(data).__name__}")
    used = [arm, visit, *columns] + ([subject] if subject else [])
    absent = [c for c in used if c not in data.columns]
    if absent:
        raise InputError(f"data: column(s) {absent} not found; columns are {list(data.columns)}")
    for key in [arm, visit] + ([subject] if subject else []):
        if data[key].isna().any():
            raise InputError(f"{key}: {int(data[key].isna().sum())} row(s) have no value")
    arm_levels = column_levels(data[arm], arms, arm)
    if visits is not None:
        present = list(pd.unique(data[visit]))
        unknown = [v for v in visits if v not in present]
        if unknown:
            raise InputError(f"{visit}: value(s) {unknown} not found; values are {present}")
        visit_levels = list(visits)
    elif isinstance(data[visit].dtype, pd.CategoricalDtype):
        visit_levels = [c for c in data[visit].cat.categories if c in set(data[visit])]
    else:
        visit_levels = list(pd.unique(data[visit]))
    frame = data.loc[data[arm].isin(arm_levels) & data[visit].isin(visit_levels), used]
    if subject:
        duplicated = frame.duplicated([subject, visit])
        if duplicated.any():
            first = frame.loc[duplicated, [subject, visit]].iloc[0].tolist()
            raise InputError(f"{subject}: more than one record per subject and visit, e.g. {first}")
        arm_of = frame.groupby(subject, sort=False)[arm].nunique()
        if (arm_of > 1).any():
            raise InputError(f"{subject}: subject(s) {arm_of.index[arm_of > 1].tolist()[:5]} appear in several arms")
        subjects = frame.drop_duplicates(subject)[[subject, arm]]
        full = pd.DataFrame(list(itertools.product(subjects[subject], visit_levels)), columns=[subject, visit])
        full[arm] = full[subject].map(dict(zip(subjects[subject], subjects[arm], strict=True)))
        frame = full.merge(frame.drop(columns=[arm]), on=[subject, visit], how="left")
    return _Prepared(frame=frame, arms=arm_levels, visits=visit_levels)


def _codes(frame: pd.DataFrame, column: str, levels: list[object]) -> np.ndarray:
    return pd.Categorical(frame[column], categories=levels).codes.astype(np.int64)


def _counts_repr(result: CategoryTable | ShiftTable) -> str:
    index = result.table.index
    return short_repr(result, visits=list(index.unique("visit")), arms=list(index.unique("arm")),
                      categories=result.categories)


@dataclass(frozen=True)
class CategoryTable(SummaryDisplay):
    """Counts and percentages of each category per arm and visit.

    Attributes
    ----------
    table
        Long form, one row per (visit, arm, category): ``n``, ``total`` (patients of the
        arm at the visit, missing included) and ``percent``.
    categories
        The category labels in order, the missing label last.
    """

    table: pd.DataFrame
    categories: list[str]

    def to_frame(self) -> pd.DataFrame:
        """One row per (visit, arm, category) (:attr:`table`)."""
        return self.table.copy()

    def __repr__(self) -> str:
        return _counts_repr(self)

    def summary(self) -> Summary:
        """Visits and categories down, arms across, cells ``n (%)``: a clinical summary table."""
        t = self.table
        cells = t["n"].astype(str) + " (" + t["percent"].map(lambda p: f"{p:.1f}") + "%)"
        visits, arms = t.index.unique("visit"), t.index.unique("arm")
        rows = pd.MultiIndex.from_product([visits, self.categories], names=["visit", "category"])
        wide = cells.unstack("arm").reindex(index=rows, columns=arms)
        totals = t.groupby(level=["visit", "arm"], sort=False)["total"].first().unstack("arm")
        totals = totals.reindex(index=visits, columns=arms)
        lines: list[str | SummaryTable] = ["Category by visit and arm: n (%)", SummaryTable(wide), "", "Patients per arm and visit (N)",
                 SummaryTable(totals)]
        return Summary(lines, frame=self.to_frame())


def category_table(
    data: pd.DataFrame,
    *,
    arm: str,
    visit: str,
    value: str,
    cut_points: ArrayLike,
    labels: Sequence[str],
    cut_belongs_to: Side | Sequence[Side] = "upper",
    subject: str | None = None,
    missing_label: str = "Missing",
    arms: list[object] | None = None,
    visits: list[object] | None = None,
) -> CategoryTable:
    """Distribution of a categorised score per arm and visit, missing as its own category.

    Parameters
    ----------
    data
        Long data, one row per subject and visit (ADaM BDS: ``TRT01P``, ``AVISIT``, ``AVAL``).
    arm, visit, value
        Column names.
    cut_points, labels, cut_belongs_to
        The categories (see :func:`categorize`).
    subject
        Subject column: completes the table so that an absent visit record counts as missing.
    missing_label
        Label of the missing category.
    arms, visits
        Order (and selection) of arms and visits; default arms sorted (or in categorical
        order) and visits in order of appearance (or categorical order).

    Examples
    --------
    >>> df = pd.DataFrame({"TRT01P": ["A"] * 4, "AVISIT": ["Week 24"] * 4, "AVAL": [2, 5, 14, None]})
    >>> res = category_table(df, arm="TRT01P", visit="AVISIT", value="AVAL", cut_points=[5, 13],
    ...                      labels=["low", "moderate", "high"], cut_belongs_to=["upper", "lower"])
    >>> res.table["n"].tolist()
    [1, 1, 1, 1]
    """
    prepared = _prepare(data, arm, visit, [value], subject, arms, visits)
    frame = prepared.frame
    category = categorize(frame[value], cut_points=cut_points, labels=labels, cut_belongs_to=cut_belongs_to,
                          missing_label=missing_label, name=value)
    levels = list(category.categories)
    a, v, c = _codes(frame, arm, prepared.arms), _codes(frame, visit, prepared.visits), category.codes
    shape = (len(prepared.visits), len(prepared.arms), len(levels))
    n = np.bincount((v * shape[1] + a) * shape[2] + c, minlength=int(np.prod(shape))).reshape(shape)
    total = n.sum(axis=2, keepdims=True)
    percent = np.divide(100.0 * n, total, out=np.zeros(shape), where=total > 0)
    index = pd.MultiIndex.from_product([prepared.visits, prepared.arms, levels], names=["visit", "arm", "category"])
    table = pd.DataFrame(
        {"n": n.ravel(), "total": np.broadcast_to(total, shape).ravel(), "percent": percent.ravel()}, index=index
    )
    return CategoryTable(table=table, categories=levels)


@dataclass(frozen=True)
class ShiftTable(SummaryDisplay):
    """Baseline category by visit category, per arm and visit.

    Attributes
    ----------
    table
        Long form, one row per (visit, arm, baseline, category): ``n``, ``total``
        (patients of the arm at the visit) and ``percent`` of that total.
    categories
        The category labels in order, the missing label last.
    """

    table: pd.DataFrame
    categories: list[str]

    def to_frame(self) -> pd.DataFrame:
        """One row per (visit, arm, baseline, category) (:attr:`table`)."""
        return self.table.copy()

    def __repr__(self) -> str:
        return _counts_repr(self)

    def summary(self) -> Summary:
        """One cross table per visit and arm: baseline categories down, visit categories across, with totals."""
        blocks: list[str | SummaryTable] = []
        for (visit, arm), block in self.table.groupby(level=["visit", "arm"], sort=False):
            counts = block["n"].droplevel(["visit", "arm"]).unstack("category")
            counts = counts.reindex(index=self.categories, columns=self.categories)
            counts["Total"] = counts.sum(axis=1)
            counts.loc["Total"] = counts.sum(axis=0)
            counts.index.name = "baseline"
            blocks += [*([""] if blocks else []), f"{arm}, {visit}", SummaryTable(counts)]
        header: list[str | SummaryTable] = ["Shift table: baseline category (rows) by visit category (columns)", ""]
        return Summary(header + (blocks or [""]), frame=self.to_frame())


def shift_table(
    data: pd.DataFrame,
    *,
    arm: str,
    visit: str,
    value: str,
    baseline: str,
    cut_points: ArrayLike,
    labels: Sequence[str],
    cut_belongs_to: Side | Sequence[Side] = "upper",
    subject: str | None = None,
    missing_label: str = "Missing",
    arms: list[object] | None = None,
    visits: list[object] | None = None,
) -> ShiftTable:
    """Shift from the baseline category (``baseline`` column, e.g. ADaM ``BASE``) to the category at each visit.

    Arguments as :func:`category_table`; with ``subject``, a subject's baseline is taken
    from its records (it must be the same on all of them) and an absent visit record is
    missing at that visit.

    Examples
    --------
    >>> df = pd.DataFrame({"TRT01P": ["A"] * 3, "AVISIT": ["Week 24"] * 3,
    ...                    "BASE": [14, 14, 8], "AVAL": [3, 14, None]})
    >>> res = shift_table(df, arm="TRT01P", visit="AVISIT", value="AVAL", baseline="BASE",
    ...                   cut_points=[5, 13], labels=["low", "moderate", "high"],
    ...                   cut_belongs_to=["upper", "lower"])
    >>> res.table.query("n > 0")["n"].droplevel(["visit", "arm"]).to_dict()
    {('moderate', 'Missing'): 1, ('high', 'low'): 1, ('high', 'high'): 1}
    """
    if subject:
        if baseline not in getattr(data, "columns", []):
            raise InputError(f"data: column {baseline!r} not found")
        varying = data.groupby(subject)[baseline].nunique(dropna=False)
        if (varying > 1).any():
            raise InputError(f"{baseline}: differs between records of subject(s) {varying.index[varying > 1].tolist()[:5]}")
        base_of = data.drop_duplicates(subject).set_index(subject)[baseline]
        prepared = _prepare(data.drop(columns=[baseline]), arm, visit, [value], subject, arms, visits)
        frame = prepared.frame.assign(**{baseline: prepared.frame[subject].map(base_of)})
    else:
        prepared = _prepare(data, arm, visit, [value, baseline], None, arms, visits)
        frame = prepared.frame
    kwargs: dict[str, Any] = {"cut_points": cut_points, "labels": labels, "cut_belongs_to": cut_belongs_to,
                              "missing_label": missing_label}
    post = categorize(frame[value], name=value, **kwargs)
    base = categorize(frame[baseline], name=baseline, **kwargs)
    levels = list(post.categories)
    k = len(levels)
    a, v = _codes(frame, arm, prepared.arms), _codes(frame, visit, prepared.visits)
    shape = (len(prepared.visits), len(prepared.arms), k, k)
    flat = ((v * shape[1] + a) * k + base.codes) * k + post.codes
    n = np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape)
    total = n.sum(axis=(2, 3), keepdims=True)
    percent = np.divide(100.0 * n, total, out=np.zeros(shape), where=total > 0)
    index = pd.MultiIndex.from_product([prepared.visits, prepared.arms, levels, levels],
                                       names=["visit", "arm", "baseline", "category"])
    table = pd.DataFrame(
        {"n": n.ravel(), "total": np.broadcast_to(total, shape).ravel(), "percent": percent.ravel()}, index=index
    )
    return ShiftTable(table=table, categories=levels)
