"""Table 1: demographic and baseline characteristics by arm.

Continuous variables get ``n``, ``Mean (SD)``, ``Median [Q1, Q3]`` and ``Min, Max`` (or
the statistics asked for: a journal's Table 1 shows the mean (SD) alone); categorical ones
``n (%)`` per level of all patients of the arm, with a ``Missing`` row when any value is
missing; a Y/N flag (``ANAFL``) one row, the patients with ``Y``. Quartiles follow SAS
PROC MEANS / UNIVARIATE by default (``QNTLDEF=5``, R's ``quantile(type = 2)``, numpy's
``"averaged_inverted_cdf"``): the usual definition of clinical summary tables.

Rows are labelled by the labels given (a report's own wording, e.g. ``"Age (years)"``), else
by the data's own variable labels (``frame.attrs["labels"]``, which
:func:`~dosefinding.adam.read_adam` fills from the XPT labels or the CSV's sidecar), else
by the column name; values are shown as a reader expects them
(:func:`~dosefinding.report.table.display_value`: ``F`` -> ``Female``, ``WHITE`` ->
``White``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from dosefinding.errors import InputError
from dosefinding.report.table import (
    Column,
    JSONValue,
    Row,
    Table,
    display_value,
    format_mean_sd,
    format_median_iqr,
    format_n_percent,
    format_number,
)

__all__ = ["DISEASE_CHARACTERISTICS", "MISSING", "PAPER_STYLE", "STATISTICS", "baseline_table", "describe", "is_flag"]

MISSING = "Missing"
"""Row label of the patients without a value of a categorical variable."""

_QUANTILE_METHOD: Final = "averaged_inverted_cdf"  # SAS QNTLDEF=5, R type 2

STATISTICS = ("n", "mean_sd", "median_iqr", "min_max")
"""The statistics of a continuous variable, in the order of their rows."""

DISEASE_CHARACTERISTICS = {
    "DIAGDUR": "Time since diagnosis (years)",
    "ANAFL": "ANA positive",
    "RFFL": "RF positive",
    "SSAFL": "Anti-Ro/SSA positive",
    "HYPERGFL": "Hypergammaglobulinaemia",
}
"""The disease characteristics of the A2201 paper's Table 1 (ADSL columns and fallback labels)."""

PAPER_STYLE: dict[str, Any] = {"statistics": ("mean_sd",), "digits": 1, "sd_digits": 1, "percent_digits": 0,
                               "percent_sign": True, "total": False}
"""The A2201 paper's (The Lancet's) Table 1: mean (SD) with one decimal, whole percentages ``47 (96%)``, no
total column: ``baseline_table(data, arm=..., variables=..., **PAPER_STYLE)``."""

_FLAG_VALUES = frozenset({"Y", "N"})
_INLINE = {"n": "n", "mean_sd": "mean (SD)", "median_iqr": "median [Q1, Q3]", "min_max": "min, max"}


def is_flag(values: pd.Series) -> bool:
    """Whether ``values`` are a CDISC Y/N flag: every non-blank value ``"Y"`` or ``"N"``, and some not blank.

    Examples
    --------
    >>> is_flag(pd.Series(["Y", "N", None])), is_flag(pd.Series(["Y", ""])), is_flag(pd.Series(["F", "M"]))
    (True, True, False)
    """
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    text = values.dropna().astype(str).str.strip().str.upper()
    text = text[text != ""]
    return not text.empty and set(text) <= _FLAG_VALUES


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


def _continuous_rows(groups: list[pd.Series], label: str, digits: int, sd_digits: int | None,
                     statistics: Sequence[str]) -> list[Row]:
    stats = [describe(g) for g in groups]
    nan = float("nan")

    def get(s: Mapping[str, Any], key: str) -> float:
        return nan if s[key] is None else s[key]

    lines: dict[str, tuple[str, list[str], list[JSONValue]]] = {
        "n": ("n", [str(s["n"]) for s in stats], [s["n"] for s in stats]),
        "mean_sd": ("Mean (SD)", [format_mean_sd(get(s, "mean"), get(s, "sd"), digits, sd_digits) for s in stats],
                    [{"mean": s["mean"], "sd": s["sd"]} for s in stats]),
        "median_iqr": ("Median [Q1, Q3]",
                       [format_median_iqr(get(s, "median"), get(s, "q1"), get(s, "q3"), digits) for s in stats],
                       [{"median": s["median"], "q1": s["q1"], "q3": s["q3"]} for s in stats]),
        "min_max": ("Min, Max", [f"{format_number(get(s, 'min'), digits)}, {format_number(get(s, 'max'), digits)}"
                                 for s in stats], [{"min": s["min"], "max": s["max"]} for s in stats]),
    }
    if len(statistics) == 1:
        _, cells, values = lines[statistics[0]]
        return [Row(label=f"{label}, {_INLINE[statistics[0]]}", cells=tuple(cells), values=tuple(values), group=label)]
    width = len(groups)
    rows = [Row(label=label, cells=("",) * width, values=(None,) * width, heading=True)]
    rows += [Row(label=name, cells=tuple(cells), values=tuple(values), level=1, group=label)
             for name, cells, values in (lines[s] for s in statistics)]
    return rows


def _count_cells(counts: list[int], totals: list[int], digits: int, sign: bool) -> tuple[tuple[str, ...],
                                                                                         tuple[Any, ...]]:
    return (tuple(format_n_percent(k, n, digits, percent_sign=sign) for k, n in zip(counts, totals, strict=True)),
            tuple({"n": k, "percent": 100.0 * k / n if n else None} for k, n in zip(counts, totals, strict=True)))


def _categorical_rows(groups: list[pd.Series], label: str, levels: list[Any], names: list[str], digits: int,
                      sign: bool) -> list[Row]:
    totals = [len(g) for g in groups]
    missing = [int(g.isna().sum()) for g in groups]
    counts = [[int((g == level).sum()) for g in groups] for level in levels]
    width = len(groups)
    rows = [Row(label=label, cells=("",) * width, values=(None,) * width, heading=True)]
    entries = list(zip(names, counts, strict=True))
    if any(missing):
        entries.append((MISSING, missing))
    for name, ks in entries:
        cells, values = _count_cells(ks, totals, digits, sign)
        rows.append(Row(label=name, level=1, group=label, cells=cells, values=values))
    return rows


def _flag_rows(groups: list[pd.Series], label: str, digits: int, sign: bool) -> list[Row]:
    """One row: the patients flagged ``Y``; blanks are missing when the flag also has ``N``, else ``N``."""
    text = [g.astype("string").str.strip().str.upper().replace("", pd.NA) for g in groups]
    has_no = any(t.eq("N").any() for t in text)
    totals = [len(t) for t in text]
    cells, values = _count_cells([int(t.eq("Y").sum()) for t in text], totals, digits, sign)
    rows = [Row(label=label, cells=cells, values=values, group=label)]
    missing = [int(t.isna().sum()) for t in text]
    if has_no and any(missing):
        cells, values = _count_cells(missing, totals, digits, sign)
        rows.append(Row(label=MISSING, cells=cells, values=values, level=1, group=label))
    return rows


def _per_column(value: int | Mapping[str, int] | None, columns: Sequence[str], default: int | None,
                name: str) -> dict[str, int | None]:
    if isinstance(value, Mapping):
        unknown = [c for c in value if c not in columns]
        if unknown:
            raise InputError(f"{name}: column(s) {unknown} are not among the variables")
        return {c: (int(value[c]) if c in value else default) for c in columns}
    return dict.fromkeys(columns, default if value is None else int(value))


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
    sd_digits: int | Mapping[str, int] | None = None,
    statistics: Sequence[str] = STATISTICS,
    decode: bool = True,
    percent_sign: bool = False,
    optional: Mapping[str, str] | Sequence[str] = (),
    **kwargs: Any,
) -> Table:
    """The baseline table: one block per variable, one column per arm (``arm (N=..)``) and a total.

    Parameters
    ----------
    data
        One row per patient; ``data.attrs["labels"]`` ({column: label}), when present,
        labels the rows.
    arm
        Column of the arm (e.g. ``TRT01P``).
    variables
        Columns to summarise, in order: a mapping column -> label (``{"AGE": "Age
        (years)"}``) or a list of columns. A row's label is the label given here (when
        it is not the column name), else the data's label of the column, else the column name.
    arms
        Arms in column order; default: the order of first appearance.
    categorical
        Columns summarised by level even though numeric; non-numeric and boolean
        columns always are. Levels in the order of a pandas Categorical, else sorted.
    digits
        Decimals of mean, median, quartiles, minimum and maximum: one number or one per
        column (default 1).
    percent_digits
        Decimals of the percentages (a journal: 0).
    sd_digits
        Decimals of the SD: one number or one per column; default one more than ``digits``
        (a journal: as many as the mean).
    statistics
        Rows of a continuous variable, from :data:`STATISTICS`; a single one gives one row
        (``"Age (years), mean (SD)"``).
    decode
        Show values as a reader expects them (:func:`~dosefinding.report.table.display_value`)
        and a Y/N flag (:func:`is_flag`) as one row, the patients with ``Y``; ``False``:
        every level of every categorical variable as it is in the data.
    percent_sign
        Write ``47 (96%)`` instead of ``47 (95.9)``.
    optional
        Columns summarised after ``variables`` when the data have them (labelled as
        ``variables``), skipped otherwise: e.g. :data:`DISEASE_CHARACTERISTICS`.
    total
        Add a ``Total`` column over all arms.
    kwargs
        Passed to :class:`~dosefinding.report.table.Table` (``subtitle``, ``footnotes``,
        ``synthetic``, ``stub_header``).

    Examples
    --------
    >>> data = pd.DataFrame({"TRT01P": ["Placebo"] * 3 + ["300 mg"] * 2, "AGE": [40, 50, 61, 45, 55],
    ...                      "SEX": ["F", "F", "M", "F", None], "ANAFL": ["Y", "Y", "N", "Y", "N"]})
    >>> data.attrs["labels"] = {"ANAFL": "ANA positive"}
    >>> table = baseline_table(data, arm="TRT01P", variables={"AGE": "Age (years)", "SEX": "Sex", "ANAFL": ""})
    >>> print(table.summary())
    Table 1. Demographic and baseline characteristics
    <BLANKLINE>
    Characteristic     Placebo (N=3)      300 mg (N=2)       Total (N=5)
    Age (years)
      n                3                  2                  5
      Mean (SD)        50.3 (10.50)       50.0 (7.07)        50.2 (8.23)
      Median [Q1, Q3]  50.0 [40.0, 61.0]  50.0 [45.0, 55.0]  50.0 [45.0, 55.0]
      Min, Max         40.0, 61.0         45.0, 55.0         40.0, 61.0
    Sex
      Female           2 (66.7)           1 (50.0)           3 (60.0)
      Male             1 (33.3)           0                  1 (20.0)
      Missing          0                  1 (50.0)           1 (20.0)
    ANA positive       2 (66.7)           1 (50.0)           3 (60.0)
    >>> journal = baseline_table(data, arm="TRT01P", variables={"AGE": "Age (years)"}, statistics=["mean_sd"],
    ...                          sd_digits=1, total=False)
    >>> journal.rows[0].label, journal.rows[0].cells
    ('Age (years), mean (SD)', ('50.3 (10.5)', '50.0 (7.1)'))
    """
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data: must be a pandas DataFrame, got {type(data).__name__}")
    given = dict(variables) if isinstance(variables, Mapping) else {str(v): "" for v in variables}
    extra = dict(optional) if isinstance(optional, Mapping) else {str(v): "" for v in optional}
    given.update({c: label for c, label in extra.items() if c in data.columns and c not in given})
    if not given:
        raise InputError("variables: name at least one column to summarise")
    missing_columns = [c for c in [arm, *given, *categorical] if c not in data.columns]
    if missing_columns:
        raise InputError(f"data: missing column(s) {missing_columns}")
    unknown_statistics = [s for s in statistics if s not in STATISTICS]
    if not statistics or unknown_statistics:
        raise InputError(f"statistics: must be some of {list(STATISTICS)}, got {list(statistics)}")
    data_labels = data.attrs.get("labels") or {}
    labels = {c: str(given[c] if given[c] and given[c] != c else data_labels.get(c) or c) for c in given}
    if data[arm].isna().any():
        raise InputError(f"{arm}: {int(data[arm].isna().sum())} patient(s) without an arm")
    order = list(pd.unique(data[arm])) if arms is None else list(arms)
    unknown = sorted(set(map(str, pd.unique(data[arm]))) - set(map(str, order)))
    if unknown:
        raise InputError(f"arms: the data have arm(s) {unknown} not in {order}")
    per_column = _per_column(digits, list(given), 1, "digits")
    sd_per_column = _per_column(sd_digits, list(given), None, "sd_digits")
    parts = [data[data[arm] == a] for a in order] + ([data] if total else [])
    names = [str(a) for a in order] + (["Total"] if total else [])
    columns = tuple(Column(label=f"{name} (N={len(part)})") for name, part in zip(names, parts, strict=True))
    rows: list[Row] = []
    for column, label in labels.items():
        values = data[column]
        groups = [part[column] for part in parts]
        is_categorical = (column in categorical or not pd.api.types.is_numeric_dtype(values)
                          or pd.api.types.is_bool_dtype(values))
        if decode and column not in categorical and is_flag(values):
            rows += _flag_rows(groups, label, percent_digits, percent_sign)
        elif is_categorical:
            if isinstance(values.dtype, pd.CategoricalDtype):
                levels = list(values.cat.categories)
            else:
                levels = sorted(pd.unique(values.dropna()), key=lambda v: (str(type(v)), v))
            shown = [display_value(v, column) if decode else str(v) for v in levels]
            rows += _categorical_rows(groups, label, levels, shown, percent_digits, percent_sign)
        else:
            rows += _continuous_rows(groups, label, int(per_column[column] or 0), sd_per_column[column], statistics)
    kwargs.setdefault("stub_header", "Characteristic")
    return Table(id=id, title=title, columns=columns, rows=tuple(rows), **kwargs)
