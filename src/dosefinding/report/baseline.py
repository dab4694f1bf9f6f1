"""Table 1: demographic and baseline characteristics by arm.

Continuous variables get ``n``, ``Mean (SD)``, ``Median [Q1, Q3]`` and ``Min, Max``;
categorical ones ``n (%)`` per level of all patients of the arm, with a ``Missing`` row
when any value is missing. Quartiles follow SAS PROC MEANS / UNIVARIATE by default
(``QNTLDEF=5``, R's ``quantile(type = 2)``, numpy's ``"averaged_inverted_cdf"``): the
usual definition of clinical summary tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dosefinding.errors import InputError
from dosefinding.report.table import (
    Column,
    Row,
    Table,
    format_mean_sd,
    format_median_iqr,
    format_n_percent,
    format_number,
)

__all__ = ["MISSING", "baseline_table", "describe"]

MISSING = "Missing"
"""Row label of the patients without a value of a categorical variable."""

_QUANTILE_METHOD = "averaged_inverted_cdf"  # SAS QNTLDEF=5, R type 2


def describe(values: Any) -> dict[str, float | int | None]:
    """``n``, mean, SD, median, quartiles, minimum and maximum of the non-missing ``values``.

    The SD is ``None`` for fewer than two values, and everything but ``n`` for none.

    Examples
    --------
    >>> {k: round(v, 4) for k, v in describe([1.5, 2.5, 2.5, 4, 10, None]).items()}
    {'n': 5, 'mean': 4.1, 'sd': 3.4169, 'median': 2.5, 'q1': 2.5, 'q3': 4.0, 'min': 1.5, 'max': 10.0}
    """
    x = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"n": 0, "mean": None, "sd": None, "median": None, "q1": None, "q3": None, "min": None, "max": None}
    q1, median, q3 = np.quantile(x, [0.25, 0.5, 0.75], method=_QUANTILE_METHOD)
    return {"n": int(x.size), "mean": float(x.mean()), "sd": float(x.std(ddof=1)) if x.size > 1 else None,
            "median": float(median), "q1": float(q1), "q3": float(q3), "min": float(x.min()), "max": float(x.max())}


def _continuous_rows(groups: list[pd.Series], label: str, digits: int) -> list[Row]:
    stats = [describe(g) for g in groups]
    nan = float("nan")

    def get(s: Mapping[str, Any], key: str) -> float:
        return nan if s[key] is None else s[key]

    width = len(groups)
    rows = [Row(label=label, cells=("",) * width, values=(None,) * width, heading=True)]
    lines = [
        ("n", [str(s["n"]) for s in stats], [s["n"] for s in stats]),
        ("Mean (SD)", [format_mean_sd(get(s, "mean"), get(s, "sd"), digits) for s in stats],
         [{"mean": s["mean"], "sd": s["sd"]} for s in stats]),
        ("Median [Q1, Q3]", [format_median_iqr(get(s, "median"), get(s, "q1"), get(s, "q3"), digits) for s in stats],
         [{"median": s["median"], "q1": s["q1"], "q3": s["q3"]} for s in stats]),
        ("Min, Max", [f"{format_number(get(s, 'min'), digits)}, {format_number(get(s, 'max'), digits)}"
                      for s in stats], [{"min": s["min"], "max": s["max"]} for s in stats]),
    ]
    rows += [Row(label=name, cells=tuple(cells), values=tuple(values), level=1, group=label)
             for name, cells, values in lines]
    return rows


def _categorical_rows(groups: list[pd.Series], label: str, levels: list[Any], digits: int) -> list[Row]:
    totals = [len(g) for g in groups]
    missing = [int(g.isna().sum()) for g in groups]
    counts = [[int((g == level).sum()) for g in groups] for level in levels]
    width = len(groups)
    rows = [Row(label=label, cells=("",) * width, values=(None,) * width, heading=True)]
    entries = list(zip([str(v) for v in levels], counts, strict=True))
    if any(missing):
        entries.append((MISSING, missing))
    for name, ks in entries:
        rows.append(Row(label=name, level=1, group=label,
                        cells=tuple(format_n_percent(k, n, digits) for k, n in zip(ks, totals, strict=True)),
                        values=tuple({"n": k, "percent": 100.0 * k / n if n else None}
                                     for k, n in zip(ks, totals, strict=True))))
    return rows


def baseline_table(
    data: pd.DataFrame,
    *,
    arm: str,
    variables: Mapping[str, str] | Sequence[str],
    arms: Sequence[Any] | None = None,
    categorical: Sequence[str] = (),
    digits: int | Mapping[str, int] = 1,
    percent_digits: int = 1,
    total: bool = True,
    id: str = "table-1",
    title: str = "Table 1. Demographic and baseline characteristics",
    **kwargs: Any,
) -> Table:
    """The baseline table: one block per variable, one column per arm (``arm (N=..)``) and a total.

    Parameters
    ----------
    data
        One row per patient.
    arm
        Column of the arm (e.g. ``TRT01P``).
    variables
        Columns to summarise, in order: a mapping column -> label (``{"AGE": "Age
        (years)"}``) or a list of columns (labelled by their names).
    arms
        Arms in column order; default: the order of first appearance.
    categorical
        Columns summarised by level even though numeric; non-numeric and boolean
        columns always are. Levels in the order of a pandas Categorical, else sorted.
    digits
        Decimals of mean, median, quartiles, minimum and maximum (the SD gets one more):
        one number or one per column (default 1).
    percent_digits
        Decimals of the percentages.
    total
        Add a ``Total`` column over all arms.
    kwargs
        Passed to :class:`~dosefinding.report.table.Table` (``subtitle``, ``footnotes``,
        ``synthetic``, ``stub_header``).

    Examples
    --------
    >>> data = pd.DataFrame({"TRT01P": ["Placebo"] * 3 + ["300 mg"] * 2, "AGE": [40, 50, 61, 45, 55],
    ...                      "SEX": ["F", "F", "M", "F", None]})
    >>> table = baseline_table(data, arm="TRT01P", variables={"AGE": "Age (years)", "SEX": "Sex, n (%)"})
    >>> print(table.summary())
    Table 1. Demographic and baseline characteristics
    <BLANKLINE>
    Characteristic     Placebo (N=3)      300 mg (N=2)       Total (N=5)
    Age (years)
      n                3                  2                  5
      Mean (SD)        50.3 (10.50)       50.0 (7.07)        50.2 (8.23)
      Median [Q1, Q3]  50.0 [40.0, 61.0]  50.0 [45.0, 55.0]  50.0 [45.0, 55.0]
      Min, Max         40.0, 61.0         45.0, 55.0         40.0, 61.0
    Sex, n (%)
      F                2 (66.7)           1 (50.0)           3 (60.0)
      M                1 (33.3)           0                  1 (20.0)
      Missing          0                  1 (50.0)           1 (20.0)
    """
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data: must be a pandas DataFrame, got {type(data).__name__}")
    labels = dict(variables) if isinstance(variables, Mapping) else {str(v): str(v) for v in variables}
    if not labels:
        raise InputError("variables: name at least one column to summarise")
    missing_columns = [c for c in [arm, *labels, *categorical] if c not in data.columns]
    if missing_columns:
        raise InputError(f"data: missing column(s) {missing_columns}")
    if data[arm].isna().any():
        raise InputError(f"{arm}: {int(data[arm].isna().sum())} patient(s) without an arm")
    order = list(pd.unique(data[arm])) if arms is None else list(arms)
    unknown = sorted(set(map(str, pd.unique(data[arm]))) - set(map(str, order)))
    if unknown:
        raise InputError(f"arms: the data have arm(s) {unknown} not in {order}")
    if isinstance(digits, Mapping):
        per_column = {c: int(digits.get(c, 1)) for c in labels}
    else:
        per_column = dict.fromkeys(labels, int(digits))
    parts = [data[data[arm] == a] for a in order] + ([data] if total else [])
    names = [str(a) for a in order] + (["Total"] if total else [])
    columns = tuple(Column(label=f"{name} (N={len(part)})") for name, part in zip(names, parts, strict=True))
    rows: list[Row] = []
    for column, label in labels.items():
        values = data[column]
        groups = [part[column] for part in parts]
        is_categorical = (column in categorical or not pd.api.types.is_numeric_dtype(values)
                          or pd.api.types.is_bool_dtype(values))
        if is_categorical:
            if isinstance(values.dtype, pd.CategoricalDtype):
                levels = list(values.cat.categories)
            else:
                levels = sorted(pd.unique(values.dropna()), key=lambda v: (str(type(v)), v))
            rows += _categorical_rows(groups, label, levels, percent_digits)
        else:
            rows += _continuous_rows(groups, label, per_column[column])
    kwargs.setdefault("stub_header", "Characteristic")
    return Table(id=id, title=title, columns=columns, rows=tuple(rows), **kwargs)
