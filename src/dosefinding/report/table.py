"""One immutable clinical table: title, header, rows of formatted cells with their raw numbers.

A :class:`Table` holds what a reader sees (cells as already-formatted strings) next to
what a machine reads (the raw numbers behind each cell, for ``results.json``). The HTML
and RTF writers render the same object, so the two never disagree. The formatting
helpers below follow the conventions of clinical study reports: ``n (%)``,
``mean (SD)``, ``median [Q1, Q3]``, ``estimate (95% CI)``, and p-values below 0.001
shown as ``<0.001``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pandas as pd

from dosefinding.errors import InputError
from dosefinding.summary import Summary, SummaryDisplay, SummaryTable, short_repr

__all__ = [
    "SYNTHETIC_LABEL",
    "Column",
    "Row",
    "Table",
    "check_id",
    "display_value",
    "format_estimate_ci",
    "format_mean_sd",
    "format_median_iqr",
    "format_n_percent",
    "format_number",
    "format_p_value",
    "json_value",
    "magnitude_decimals",
]

SYNTHETIC_LABEL = "SYNTHETIC DATA: simulated virtual trial, not results of a real study"
"""The label every renderer puts on a table or report made from simulated data."""

NOT_ESTIMABLE = "NE"
"""Cell text of a number that could not be estimated (NaN)."""

JSONValue = bool | int | float | str | Mapping[str, Any] | Sequence[Any] | None

_ID = re.compile(r"^[a-z][a-z0-9-]*$")

CODED_VALUES: Mapping[str, Mapping[str, str]] = {
    "SEX": {"F": "Female", "M": "Male", "U": "Unknown", "UNDIFFERENTIATED": "Undifferentiated"},
    "AESEV": {"MILD": "Mild", "MODERATE": "Moderate", "SEVERE": "Severe"},
    "AESER": {"Y": "Serious", "N": "Not serious"},
}
"""Decodes of CDISC controlled terms that are codes rather than words (by variable)."""

_SMALL_WORDS = frozenset({"a", "and", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with"})
_ACRONYMS = frozenset({"ANA", "BAFF", "CD19", "CTC", "ECG", "ESSDAI", "ESSPRI", "FACIT", "HIV", "IGG", "IGM", "PAGA",
                       "PHGA", "QT", "RF", "SF", "SSA", "US", "USA"})


def display_value(value: Any, variable: str | None = None, *, style: str = "title") -> str:
    """A data value as a reader sees it: CDISC codes decoded, upper-case terms in title or sentence case.

    Codes of :data:`CODED_VALUES` are decoded by ``variable`` (``SEX``: ``F`` -> ``Female``);
    a value written all in upper case (CDISC controlled terminology, MedDRA terms) is set in
    ``"title"`` case, small words in lower case (``"Black or African American"``), or in
    ``"sentence"`` case (MedDRA's own style: ``"Infections and infestations"``); known
    acronyms stay upper case. Anything else (mixed case, numbers, ``"<65"``) is shown as it is.

    Examples
    --------
    >>> display_value("F", "SEX"), display_value("BLACK OR AFRICAN AMERICAN"), display_value("Placebo")
    ('Female', 'Black or African American', 'Placebo')
    >>> display_value("INJURY, POISONING AND PROCEDURAL COMPLICATIONS", style="sentence")
    'Injury, poisoning and procedural complications'
    >>> display_value("ELECTROCARDIOGRAM T WAVE INVERTED", style="sentence"), display_value("ANA POSITIVE")
    ('Electrocardiogram T wave inverted', 'ANA Positive')
    """
    if style not in ("title", "sentence"):
        raise InputError(f"style: must be 'title' or 'sentence', got {style!r}")
    text = str(value).strip()
    if variable is not None and text.upper() in CODED_VALUES.get(variable.upper(), {}):
        return CODED_VALUES[variable.upper()][text.upper()]
    if not any(c.isalpha() for c in text) or text != text.upper():
        return text
    words = re.split(r"(\s+|/|-)", text)
    out = []
    first = True
    for word in words:
        core = word.strip(",;:()")
        if not core or not any(c.isalpha() for c in core):
            out.append(word)
            continue
        if core in _ACRONYMS or (len(core) == 1 and core != "A"):
            out.append(word)
        elif first or (style == "title" and core.lower() not in _SMALL_WORDS):
            out.append(word[:1] + word[1:].lower() if word[:1].isalpha() else word.lower().capitalize())
        else:
            out.append(word.lower())
        first = False
    return "".join(out)


def check_id(value: str, name: str) -> str:
    """``value`` if it is a valid table or figure id (HTML id and file name), else :class:`InputError`.

    Examples
    --------
    >>> check_id("figure-2a", "id")
    'figure-2a'
    """
    if not isinstance(value, str) or not _ID.match(value):
        raise InputError(f"{name}: must be lower-case letters, digits and '-', starting with a letter "
                         f"(used as HTML id and file name), got {value!r}")
    return value


def _finite(x: Any) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x)) and not pd.isna(x)


def format_number(x: float | None, digits: int = 1) -> str:
    """``x`` with exactly ``digits`` decimals, rounded half away from zero.

    Rounds the shortest decimal representation of ``x`` (so 2.675 gives 2.68, as SAS
    ``ROUND`` does, where binary rounding gives 2.67), never prints ``-0.0``, and gives
    ``NE`` (not estimable) for NaN or ``None``.

    Examples
    --------
    >>> format_number(2.675, 2), format_number(0.125, 2), format_number(-0.04, 1), format_number(float("nan"))
    ('2.68', '0.13', '0.0', 'NE')
    """
    if not isinstance(digits, (int, np.integer)) or digits < 0:
        raise InputError(f"digits: must be a non-negative integer, got {digits!r}")
    if not _finite(x):
        return NOT_ESTIMABLE
    try:
        value = float(x)  # type: ignore[arg-type]  # anything; float() says if not a number
    except (TypeError, ValueError):
        raise InputError(f"x: must be a number, got {x!r}") from None
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    rounded = Decimal(repr(value)).quantize(Decimal(1).scaleb(-int(digits)), rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = abs(rounded)
    return f"{rounded:f}"


def magnitude_decimals(value: float, significant: int = 3) -> int:
    """Decimals that show ``value`` (e.g. a mean, its SD printed alike) with ``significant`` digits.

    A mean count of 202 cells/uL gets 0 decimals, a level of 8.5 ug/mL 2; 2 for 0 or NaN.

    Examples
    --------
    >>> magnitude_decimals(202.02), magnitude_decimals(8.52), magnitude_decimals(0.82), magnitude_decimals(0.0)
    (0, 2, 3, 2)
    """
    if not _finite(value) or value == 0:
        return 2
    return max(0, significant - 1 - math.floor(math.log10(abs(float(value)))))


def format_n_percent(n: int, total: int, digits: int = 1, *, zero: str = "0", percent_sign: bool = False) -> str:
    """``n (%)`` of ``total``; a zero count shows as ``zero`` (``"0"``), 100% without decimals.

    ``percent_sign`` writes the journal style ``12 (24%)``.

    Examples
    --------
    >>> format_n_percent(12, 49), format_n_percent(0, 49), format_n_percent(47, 47)
    ('12 (24.5)', '0', '47 (100)')
    >>> format_n_percent(47, 49, 0, percent_sign=True)
    '47 (96%)'
    """
    if not _finite(n) or not _finite(total):
        raise InputError(f"n, total: must be counts, got n={n!r}, total={total!r}")
    if int(n) != n or int(total) != total or n < 0 or total < 0:
        raise InputError(f"n, total: must be non-negative whole numbers, got n={n!r}, total={total!r}")
    if n > total:
        raise InputError(f"n: {n} is larger than the total {total}")
    if n == 0:
        return zero
    sign = "%" if percent_sign else ""
    if n == total:
        return f"{int(n)} (100{sign})"
    return f"{int(n)} ({format_number(100.0 * n / total, digits)}{sign})"


def format_mean_sd(mean: float, sd: float, digits: int = 1, sd_digits: int | None = None) -> str:
    """``mean (SD)``; the SD gets one decimal more than the mean unless ``sd_digits`` says otherwise.

    Examples
    --------
    >>> format_mean_sd(48.27, 12.134)
    '48.3 (12.13)'
    """
    return f"{format_number(mean, digits)} ({format_number(sd, digits + 1 if sd_digits is None else sd_digits)})"


def format_median_iqr(median: float, q1: float, q3: float, digits: int = 1) -> str:
    """``median [Q1, Q3]``.

    Examples
    --------
    >>> format_median_iqr(13, 10.5, 16.25)
    '13.0 [10.5, 16.3]'
    """
    return f"{format_number(median, digits)} [{format_number(q1, digits)}, {format_number(q3, digits)}]"


def format_estimate_ci(estimate: float, lower: float, upper: float, digits: int = 2) -> str:
    """``estimate (lower, upper)``, the layout of an estimate with its confidence interval.

    Examples
    --------
    >>> format_estimate_ci(-1.9215, -4.1532, 0.3166)
    '-1.92 (-4.15, 0.32)'
    """
    return f"{format_number(estimate, digits)} ({format_number(lower, digits)}, {format_number(upper, digits)})"


def format_p_value(p: float | None, digits: int = 3) -> str:
    """A p-value with ``digits`` decimals: ``<0.001`` below the smallest shown value, ``>0.999`` above.

    Examples
    --------
    >>> format_p_value(0.0917), format_p_value(0.00042), format_p_value(0.99971), format_p_value(None)
    ('0.092', '<0.001', '>0.999', '')
    """
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return ""
    if not isinstance(digits, (int, np.integer)) or digits < 1:
        raise InputError(f"digits: must be a positive integer, got {digits!r}")
    if not 0.0 <= float(p) <= 1.0:
        raise InputError(f"p: must be a probability in [0, 1], got {p!r}")
    smallest = 10.0 ** -int(digits)
    if p < smallest:
        return f"<{format_number(smallest, digits)}"
    text = format_number(p, digits)
    if float(text) > 1.0 - smallest:
        return f">{format_number(1.0 - smallest, digits)}"
    return text


def json_value(value: Any) -> JSONValue:
    """A value fit for JSON: numpy scalars to Python, NaN and infinity to ``None``, mappings recursively.

    Examples
    --------
    >>> json_value({"n": np.int64(3), "pct": float("nan"), "ci": (np.float64(0.5), 1.0)})
    {'n': 3, 'pct': None, 'ci': [0.5, 1.0]}
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        return [json_value(v) for v in list(value)]
    if pd.isna(value):
        return None
    raise InputError(f"values: {value!r} of type {type(value).__name__} cannot be written to results.json")


@dataclass(frozen=True)
class Column:
    """A column of a table: its ``label`` and, for a two-level header, the ``spanner`` above it (e.g. the arm)."""

    label: str
    spanner: str | None = None

    @property
    def key(self) -> str:
        """``"spanner: label"`` or ``label``: the column's name in ``results.json``."""
        return self.label if self.spanner is None else f"{self.spanner}: {self.label}"


@dataclass(frozen=True)
class Row:
    """A body row: the stub ``label``, the formatted ``cells`` and the raw ``values`` behind them.

    ``level`` is the indentation (0 for a row-group label such as a system organ class, 1
    for the rows under it); ``heading`` marks a row that only labels the group below it
    (its cells are empty).
    """

    label: str
    cells: tuple[str, ...]
    values: tuple[JSONValue, ...]
    level: int = 0
    heading: bool = False
    group: str | None = None


@dataclass(frozen=True)
class Table(SummaryDisplay):
    """An immutable clinical table, rendered by :func:`~dosefinding.report.html.table_html` and
    :func:`~dosefinding.report.rtf.write_rtf`.

    Attributes
    ----------
    id
        Stable identifier (``"table-1"``): HTML id, RTF file name and key in ``results.json``.
    title
        Caption, e.g. ``"Table 1. Demographic and baseline characteristics"``.
    columns
        The columns after the stub, each with an optional spanner (two-level header).
    rows
        Body rows, in order.
    stub_header
        Header of the stub column (row labels).
    subtitle
        Second caption line, typically the analysis population.
    footnotes
        Notes printed under the table.
    synthetic
        Data are simulated: every rendering carries :data:`SYNTHETIC_LABEL`.

    Examples
    --------
    >>> frame = pd.DataFrame({"Placebo": ["49"], "300 mg": ["47"]}, index=["Randomised"])
    >>> table = Table.from_frame(frame, id="table-0", title="Patients")
    >>> print(table.summary())
    Patients
    <BLANKLINE>
                Placebo  300 mg
    Randomised  49       47
    """

    id: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    stub_header: str = ""
    subtitle: str = ""
    footnotes: tuple[str, ...] = field(default=())
    synthetic: bool = False

    def __post_init__(self) -> None:
        check_id(self.id, "id")
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "rows", tuple(self.rows))
        object.__setattr__(self, "footnotes", tuple(str(f) for f in self.footnotes))
        if not self.columns:
            raise InputError(f"columns: table {self.id!r} needs at least one column")
        width = len(self.columns)
        for i, row in enumerate(self.rows):
            if len(row.cells) != width or len(row.values) != width:
                raise InputError(f"rows[{i}] ({row.label!r}) of table {self.id!r}: has {len(row.cells)} cells and "
                                 f"{len(row.values)} values, the table has {width} columns")
            if not all(isinstance(c, str) for c in row.cells):
                raise InputError(f"rows[{i}] ({row.label!r}) of table {self.id!r}: cells must be formatted strings")

    @property
    def spanners(self) -> bool:
        """Whether the header has two levels."""
        return any(c.spanner is not None for c in self.columns)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        id: str,
        title: str,
        values: pd.DataFrame | None = None,
        digits: int = 1,
        group: str | None = None,
        stub_header: str | None = None,
        subtitle: str = "",
        footnotes: Sequence[str] = (),
        synthetic: bool = False,
    ) -> Table:
        """A table from a DataFrame: the index is the stub, the columns the header.

        Parameters
        ----------
        frame
            Cells, formatted strings or numbers (numbers are formatted with ``digits``
            decimals by :func:`format_number`). Two-level columns give a two-level
            header (spanner, label; an empty spanner: the label spans both header rows). A two-level index ``(group, label)`` gives row groups:
            a row whose label is ``""`` is the group's own row (e.g. a system organ class
            with its count), otherwise a heading row is added; the rows of the group are
            indented.
        values
            The raw numbers behind the cells, same shape and labels as ``frame`` (each
            entry a number, ``None`` or a mapping such as ``{"n": 12, "percent": 24.5}``).
            Default: ``frame`` itself if it is numeric, else no values.
        group
            Put all rows under one heading row with this label (e.g. ``"Age (years)"``).
        stub_header
            Header of the stub; default: the name of the index.

        Examples
        --------
        >>> index = pd.MultiIndex.from_tuples([("Infections", ""), ("Infections", "Nasopharyngitis")])
        >>> frame = pd.DataFrame({"Placebo": ["28 (57.1)", "9 (18.4)"]}, index=index)
        >>> [(r.label, r.level) for r in Table.from_frame(frame, id="table-3", title="AEs").rows]
        [('Infections', 0), ('Nasopharyngitis', 1)]
        """
        if not isinstance(frame, pd.DataFrame):
            raise InputError(f"frame: must be a pandas DataFrame, got {type(frame).__name__}")
        if values is not None:
            if not isinstance(values, pd.DataFrame) or values.shape != frame.shape:
                raise InputError(f"values: must be a DataFrame of the shape of frame {frame.shape}")
            if not (values.index.equals(frame.index) and values.columns.equals(frame.columns)):
                raise InputError("values: must have the index and columns of frame")
        if isinstance(frame.columns, pd.MultiIndex):
            if frame.columns.nlevels != 2:
                raise InputError(f"frame: columns may have one or two levels, got {frame.columns.nlevels}")
            columns = tuple(Column(label=str(b), spanner=str(a) or None) for a, b in frame.columns)
        else:
            columns = tuple(Column(label=str(c)) for c in frame.columns)
        numeric = all(pd.api.types.is_numeric_dtype(t) for t in frame.dtypes)
        cells = frame.map(lambda x: format_number(x, digits) if not isinstance(x, str) else x)
        raw = values if values is not None else (frame if numeric else None)
        width = len(columns)
        rows: list[Row] = []
        multi = isinstance(frame.index, pd.MultiIndex)
        if multi and frame.index.nlevels != 2:
            raise InputError(f"frame: the index may have one or two levels, got {frame.index.nlevels}")
        if group is not None and multi:
            raise InputError("group: not available with a two-level index (the index gives the groups)")
        if group is not None:
            rows.append(Row(label=group, cells=("",) * width, values=(None,) * width, heading=True))
        current: object = object()
        for i, key in enumerate(frame.index):
            text = tuple(str(c) for c in cells.iloc[i])
            numbers = tuple(json_value(v) for v in raw.iloc[i]) if raw is not None else (None,) * width
            if multi:
                head, label = str(key[0]), str(key[1])
                if label == "":
                    rows.append(Row(label=head, cells=text, values=numbers, level=0, group=head))
                    current = head
                    continue
                if head != current:
                    rows.append(Row(label=head, cells=("",) * width, values=(None,) * width, heading=True))
                    current = head
                rows.append(Row(label=label, cells=text, values=numbers, level=1, group=head))
            else:
                rows.append(Row(label=str(key), cells=text, values=numbers, level=1 if group else 0, group=group))
        stub = stub_header if stub_header is not None else ("" if frame.index.name is None or multi
                                                              else str(frame.index.name))
        return cls(id=id, title=title, columns=columns, rows=tuple(rows), stub_header=stub, subtitle=subtitle,
                   footnotes=tuple(footnotes), synthetic=synthetic)

    @classmethod
    def concat(cls, tables: Sequence[Table], *, id: str, title: str, **kwargs: Any) -> Table:
        """The rows of ``tables`` one after the other, under the columns they share.

        Builds a table of blocks, e.g. Table 1 from one block per baseline variable.
        Footnotes of the blocks are kept (each once) after those given in ``kwargs``.

        Examples
        --------
        >>> age = Table.from_frame(pd.DataFrame({"Placebo": ["48.0 (12.30)"]}, index=["Mean (SD)"]), id="a",
        ...                        title="", group="Age (years)")
        >>> sex = Table.from_frame(pd.DataFrame({"Placebo": ["47 (95.9)"]}, index=["Female"]), id="b", title="")
        >>> [r.label for r in Table.concat([age, sex], id="table-1", title="Baseline").rows]
        ['Age (years)', 'Mean (SD)', 'Female']
        """
        if not tables:
            raise InputError("tables: need at least one table to concatenate")
        columns = tables[0].columns
        for t in tables[1:]:
            if t.columns != columns:
                raise InputError(f"tables: {t.id!r} has columns {[c.key for c in t.columns]}, "
                                 f"the first has {[c.key for c in columns]}")
        notes = list(kwargs.pop("footnotes", ()))
        for t in tables:
            notes += [n for n in t.footnotes if n not in notes]
        kwargs.setdefault("stub_header", tables[0].stub_header)
        kwargs.setdefault("synthetic", any(t.synthetic for t in tables))
        rows = tuple(r for t in tables for r in t.rows)
        return cls(id=id, title=title, columns=columns, rows=rows, footnotes=tuple(notes), **kwargs)

    def with_footnotes(self, *notes: str) -> Table:
        """A copy with ``notes`` added under the table."""
        return replace(self, footnotes=self.footnotes + tuple(notes))

    def to_frame(self) -> pd.DataFrame:
        """The cells as printed, the stub (indented by two spaces per level) as the index."""
        columns: pd.Index = (pd.MultiIndex.from_tuples([(c.spanner or "", c.label) for c in self.columns])
                             if self.spanners else pd.Index([c.label for c in self.columns]))
        index = pd.Index(["  " * r.level + r.label for r in self.rows], name=self.stub_header or None)
        return pd.DataFrame([list(r.cells) for r in self.rows], index=index, columns=columns)

    def __repr__(self) -> str:
        return short_repr(self, id=self.id, title=self.title, rows=len(self.rows), columns=len(self.columns),
                          synthetic=self.synthetic)

    def summary(self) -> Summary:
        """The table as plain text, laid out as a listing in a clinical study report."""
        header = [self.title] + ([self.subtitle] if self.subtitle else [])
        if self.synthetic:
            header.append(SYNTHETIC_LABEL)
        stub = ["  " * r.level + r.label for r in self.rows]
        levels = [[c.spanner or "" for c in self.columns]] if self.spanners else []
        levels.append([c.label for c in self.columns])
        widths = [max([len(h[j]) for h in levels] + [len(r.cells[j]) for r in self.rows]) for j in
                  range(len(self.columns))]
        stub_width = max([len(s) for s in stub] + [len(self.stub_header)])
        lines = []
        for k, h in enumerate(levels):
            first = self.stub_header if k == len(levels) - 1 else ""
            lines.append("  ".join([first.ljust(stub_width)] + [h[j].ljust(widths[j]) for j in range(len(h))]))
        for s, r in zip(stub, self.rows, strict=True):
            lines.append("  ".join([s.ljust(stub_width)] + [r.cells[j].ljust(widths[j]) for j in
                                                             range(len(r.cells))]))
        body = SummaryTable(self.to_frame(), text="\n".join(line.rstrip() for line in lines))
        return Summary([*header, "", body, *self.footnotes], frame=self.to_frame())

    def to_dict(self) -> dict[str, Any]:
        """The table for ``results.json``: title, columns, rows with cells and raw values, footnotes."""
        return {
            "title": self.title,
            "subtitle": self.subtitle,
            "synthetic": self.synthetic,
            "stub_header": self.stub_header,
            "columns": [{"label": c.label, "spanner": c.spanner} for c in self.columns],
            "rows": [{"label": r.label, "group": r.group, "level": r.level, "heading": r.heading,
                      "cells": list(r.cells), "values": [json_value(v) for v in r.values]} for r in self.rows],
            "footnotes": list(self.footnotes),
        }
