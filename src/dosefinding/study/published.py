"""Published versus virtual: every number of a paper's abstract and results beside the virtual trial's.

A published number is a :class:`PublishedItem`: what it is (``kind``), where its
counterpart is in the tidy frames of the results (``frame``, a row selector ``where`` and
a ``column``; see ``StudyResults.frames()``: ``disposition``, ``baseline``, ``lsmeans``,
``differences``, ``mcp``, ``responders``, ``responder_tests``, ``categories``, ``ae``,
...), the published value (or the range or bound the paper gives instead) and, where one
can be derived, the published standard error:

* from a 95% confidence interval: ``(upper - lower) / (2 * 1.96)``;
* from a percentage of ``n`` patients: ``100 * sqrt(p (1 - p) / n)``;
* from a count of ``n`` patients: ``sqrt(k (1 - k / n))``;
* or given as ``se``.

:func:`published_frame` looks every item up and gives the virtual value and the distance
``(virtual - published) / SE``; :func:`published_table` lays it out (Table 4). Where no
SE can be derived (a p-value, a mean without its SD, a range) the distance is ``n/a``
with the reason. The A2201 paper's numbers are in
``presets/analysis/a2201_published.toml`` (:func:`a2201_published_path`), with the
numbers of its text that are not compared and why (``[[not_compared]]``).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Annotated, Any, Self

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from dosefinding.errors import InputError
from dosefinding.report.clinical import matching
from dosefinding.report.table import Table, format_number, format_p_value
from dosefinding.study.validation import Check, Filters, Integer, Note, Number, Numbers, SpecModel, Text, fail, validate

__all__ = ["KINDS", "NotCompared", "PublishedItem", "a2201_published_path", "load_not_compared", "load_published",
           "published_frame", "published_table"]

Z_975 = 1.959963984540054
"""The 97.5% normal quantile: a published 95% CI spans 2 * 1.96 standard errors."""

KINDS = ("count", "percent", "mean", "difference", "percent_difference", "p_value")
"""What a published number is; it decides how its SE is derived."""

_NO_SE = {
    "p_value": "a p-value has no standard error",
    "mean": "the text gives no SD for this mean",
    "count": "no denominator given",
    "difference": "the text gives no confidence interval",
    "percent_difference": "the text gives no confidence interval",
    "percent": "no denominator given",
}


@dataclass(frozen=True)
class PublishedItem:
    """One published number and where the virtual trial's counterpart is.

    Attributes
    ----------
    label
        What a reader sees, e.g. ``"ESSDAI responders, 300 mg (%)"``.
    section
        Row group of the table (``"Baseline"``, ``"Safety"``).
    kind
        One of :data:`KINDS`.
    frame, where, column
        The tidy frame, the row selector ({column: value or list of values}) and the
        column holding the virtual value.
    value
        The published value; ``None`` when the paper gives only ``bounds``.
    bounds
        The range the paper gives instead of a value (``(0, 0.025)`` for "p < 0.025",
        ``(15, 17)`` for "15-17% in all groups").
    lower, upper
        The published 95% CI.
    n
        Patients behind a published percentage or count (for its SE).
    se
        A published SE, when the paper gives one.
    aggregate
        ``"sum"``: the virtual value is the sum of ``column`` over the matching rows
        (e.g. the ianalumab arms together).
    rank
        The ``rank``-th smallest ``column`` among the matching rows (``1`` = smallest):
        the paper reports, e.g., "four models at p < 0.025, one at p = 0.060" without
        naming them.
    digits
        Decimals of the table's cells.
    lines
        The paper's own line numbers the number is printed on.
    note
        Why no SE can be derived, when the generic reason of its kind says too little
        (e.g. "fixed by the design").
    derived
        How the number follows from the text when it is not printed as such (e.g. the
        discontinuations per arm from the events the text names).
    absent
        The virtual value when no row matches: ``0`` for an adverse event no patient of
        the virtual trial had (the data list only the terms someone had); ``None``: no
        matching row is an error.
    """

    label: str
    section: str
    kind: str
    frame: str
    where: Mapping[str, Any]
    column: str
    value: float | None = None
    bounds: tuple[float, float] | None = None
    lower: float | None = None
    upper: float | None = None
    n: int | None = None
    se: float | None = None
    aggregate: str | None = None
    rank: int | None = None
    digits: int = 1
    lines: tuple[int, ...] = field(default=())
    note: str = ""
    derived: str = ""
    absent: float | None = None

    @property
    def numbers(self) -> tuple[float, ...]:
        """The numbers of the paper this item stands for (value, CI limits, bounds)."""
        found = [self.value, self.lower, self.upper, *(self.bounds or ())]
        return tuple(float(x) for x in found if x is not None)

    def published_se(self) -> tuple[float | None, str]:
        """The published SE and how it was derived, or ``None`` and the reason there is none."""
        if self.bounds is not None:
            low, high = self.bounds
            shown = f"< {high:g}" if low == 0 and self.kind == "p_value" else f"{low:g} to {high:g}"
            return None, f"published as a range ({shown})"
        if self.se is not None:
            return self.se, "published SE"
        if self.lower is not None and self.upper is not None:
            return (self.upper - self.lower) / (2 * Z_975), "SE from the 95% CI"
        if self.n is not None and self.value is not None and self.kind in ("percent", "count"):
            p = self.value / 100.0 if self.kind == "percent" else self.value / self.n
            if p in (0.0, 1.0):
                return None, f"published {self.value:g} of n = {self.n}: the SE derived from it is 0"
            if self.kind == "percent":
                return 100.0 * math.sqrt(p * (1 - p) / self.n), f"SE of a percentage of n = {self.n}"
            return math.sqrt(self.n * p * (1 - p)), f"binomial SE of a count of n = {self.n}"
        return None, self.note or _NO_SE[self.kind]


@dataclass(frozen=True)
class NotCompared:
    """Numbers of the paper's text that have no virtual counterpart, and why."""

    lines: tuple[int, ...]
    numbers: tuple[float, ...]
    text: str
    reason: str


class _Lines(Check):
    """The paper's line numbers: a list of whole numbers."""

    def check(self, value: Any) -> tuple[int, ...]:
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            fail(f"must be a list of line numbers, got {value!r}")
        return tuple(value)

    def json(self) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "integer"}}


_LINES = Field((), description="The paper's line numbers the number is printed on.")


class PublishedTable(SpecModel):
    """``[[published]]``: one published number and where the virtual counterpart is (see :class:`PublishedItem`)."""

    label: Annotated[str, Text()] = Field(description="What a reader sees.")
    section: Annotated[str, Text()] = Field(description="Row group of the table.")
    kind: Annotated[str, Text(KINDS)] = Field(description="What the number is; it decides how its SE is derived.")
    frame: Annotated[str, Text()] = Field(description="The tidy frame of the results.")
    where: Annotated[Mapping[str, Any], Filters("must be a string, a number or a list of them",
                                                "must be a table {column = value}", as_given=True)] = Field(
        default_factory=dict, description="Row selector: column to a value or a list of values.")
    column: Annotated[str, Text()] = Field(description="The column holding the virtual value.")
    value: Annotated[float | None, Number()] = Field(None, description="The published value.")
    bounds: Annotated[tuple[float, ...] | None, Numbers(length=2)] = Field(
        None, description="The range the paper gives instead of a value.")
    lower: Annotated[float | None, Number()] = Field(None, description="Lower limit of the published 95% CI.")
    upper: Annotated[float | None, Number()] = Field(None, description="Upper limit of the published 95% CI.")
    n: Annotated[int | None, Integer(lower=1)] = Field(None, description="Patients behind a percentage or count.")
    se: Annotated[float | None, Number(lower=0.0, strict=True)] = Field(None, description="A published SE.")
    aggregate: Annotated[str | None, Text(("sum",))] = Field(None, description="sum: over the matching rows.")
    rank: Annotated[int | None, Integer(lower=1)] = Field(None, description="The rank-th smallest matching row.")
    digits: Annotated[int, Integer(lower=0)] = Field(1, description="Decimals of the table's cells.")
    lines: Annotated[tuple[int, ...], _Lines()] = _LINES
    note: Annotated[str, Note()] = Field("", description="Why no SE can be derived.")
    derived: Annotated[str, Note()] = Field("", description="How the number follows from the text.")
    absent: Annotated[float | None, Number()] = Field(None, description="The virtual value when no row matches.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.value is None) == (self.bounds is None):
            fail("give either value or bounds")
        if (self.lower is None) != (self.upper is None):
            fail("give both lower and upper (the published 95% CI) or neither")
        if self.aggregate is not None and self.rank is not None:
            fail("aggregate and rank exclude each other")
        return self


class NotComparedTable(SpecModel):
    """``[[not_compared]]``: numbers of the text without a virtual counterpart, and why."""

    lines: Annotated[tuple[int, ...], _Lines()] = _LINES
    numbers: Annotated[tuple[float, ...], Numbers()] = Field(description="The numbers.")
    text: Annotated[str, Text()] = Field(description="The text they are in.")
    reason: Annotated[str, Text()] = Field(description="Why they are not compared.")


def _read(path: str | PathLike[str]) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise InputError(f"path: no such file {str(file)!r}")
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{file.name}: not valid TOML: {exc}") from None


def parse_item(data: Mapping[str, Any], key: str) -> PublishedItem:
    """One ``[[published]]`` table as a :class:`PublishedItem` (errors name ``key`` and the field)."""
    t = validate(PublishedTable, data, key)
    return PublishedItem(
        label=t.label, section=t.section, kind=t.kind, frame=t.frame, where=t.where, column=t.column, value=t.value,
        bounds=None if t.bounds is None else (t.bounds[0], t.bounds[1]), lower=t.lower, upper=t.upper, n=t.n,
        se=t.se, aggregate=t.aggregate, rank=t.rank, digits=t.digits, lines=t.lines, note=t.note,
        derived=t.derived, absent=t.absent)


def load_published(path: str | PathLike[str]) -> tuple[PublishedItem, ...]:
    """The ``[[published]]`` items of a TOML file, in order.

    Examples
    --------
    >>> items = load_published(a2201_published_path())
    >>> items[0].label, items[0].value
    ('Patients screened', 293.0)
    """
    raw = _read(path).get("published", [])
    if not isinstance(raw, list) or not raw:
        raise InputError(f"{Path(path).name}: needs [[published]] items")
    items = tuple(parse_item(item, f"published[{i}]") for i, item in enumerate(raw))
    labels = [i.label for i in items]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise InputError(f"published: label(s) {repeated} used more than once")
    return items


def load_not_compared(path: str | PathLike[str]) -> tuple[NotCompared, ...]:
    """The ``[[not_compared]]`` entries: numbers of the text without a virtual counterpart, with the reason."""
    out = []
    for i, item in enumerate(_read(path).get("not_compared", [])):
        t = validate(NotComparedTable, item, f"not_compared[{i}]")
        out.append(NotCompared(lines=t.lines, numbers=t.numbers, text=t.text, reason=t.reason))
    return tuple(out)


def a2201_published_path() -> Path:
    """The packaged list of the A2201 paper's numbers (``presets/analysis/a2201_published.toml``).

    Examples
    --------
    >>> a2201_published_path().name
    'a2201_published.toml'
    """
    return Path(__file__).resolve().parent / "presets" / "analysis" / "a2201_published.toml"


def virtual_value(item: PublishedItem, frames: Mapping[str, pd.DataFrame]) -> tuple[float, pd.Series | None]:
    """The virtual trial's counterpart of ``item`` and, when it is one row, that row.

    Raises :class:`InputError` naming the item's label and selector when the frame is
    missing, no row matches (unless the item gives its ``absent`` value), or several rows
    match an item that is neither an ``aggregate`` nor a ``rank``.
    """
    what = f"published item {item.label!r} ({item.frame} where {dict(item.where)})"
    if item.frame not in frames:
        raise InputError(f"{what}: no frame {item.frame!r} in the results (frames: {sorted(frames)})")
    frame = frames[item.frame]
    if item.column not in frame.columns:
        raise InputError(f"{what}: no column {item.column!r} (columns: {list(frame.columns)})")
    try:
        mask = matching(frame, item.where)
    except InputError as exc:
        raise InputError(f"{what}: {exc}") from None
    rows = frame.loc[mask]
    if rows.empty and item.absent is not None:
        return float(item.absent), None
    if rows.empty:
        raise InputError(f"{what}: no row matches")
    values = pd.to_numeric(rows[item.column], errors="coerce")
    if item.aggregate == "sum":
        return float(values.sum()), None
    if item.rank is not None:
        if len(rows) < item.rank:
            raise InputError(f"{what}: rank {item.rank} of {len(rows)} matching rows")
        position = np.argsort(values.to_numpy(dtype=float), kind="stable")[item.rank - 1]
        return float(values.iloc[position]), rows.iloc[position]
    if len(rows) > 1:
        raise InputError(f"{what}: {len(rows)} rows match; expected one")
    return float(values.iloc[0]), rows.iloc[0]


def published_frame(items: Sequence[PublishedItem], frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every item with its virtual value, the published SE and the distance in published SEs.

    Columns: ``section, label, kind, published, lower, upper, bound_low, bound_high,
    virtual, virtual_lower, virtual_upper, se, distance, within, note`` (``within``:
    whether the virtual value lies in a published range; ``note``: how the SE was
    derived or why there is none).

    Examples
    --------
    >>> item = PublishedItem(label="Responders, 300 mg (%)", section="Efficacy", kind="percent",
    ...                      frame="responders", where={"arm": "300 mg"}, column="percent", value=89, n=47)
    >>> frames = {"responders": pd.DataFrame({"arm": ["Placebo", "300 mg"], "percent": [61.2, 85.1]})}
    >>> row = published_frame([item], frames).iloc[0]
    >>> round(float(row["se"]), 3), round(float(row["distance"]), 3), row["note"]
    (4.564, -0.855, 'SE of a percentage of n = 47')
    """
    records = []
    for item in items:
        virtual, row = virtual_value(item, frames)
        se, note = item.published_se()
        bounds = item.bounds
        low, high = bounds if bounds is not None else (None, None)
        ci = row if row is not None and item.lower is not None and {"lower", "upper"} <= set(row.index) else None
        records.append({
            "section": item.section, "label": item.label, "kind": item.kind, "published": item.value,
            "lower": item.lower, "upper": item.upper, "bound_low": low, "bound_high": high, "virtual": virtual,
            "virtual_lower": float(ci["lower"]) if ci is not None else None,
            "virtual_upper": float(ci["upper"]) if ci is not None else None, "se": se,
            "distance": (virtual - item.value) / se if se is not None and item.value is not None and se > 0 else None,
            "within": (bounds[0] <= virtual <= bounds[1]) if bounds is not None else None, "note": note,
            "digits": item.digits})
    return pd.DataFrame.from_records(records)


def _with_ci(value: float | None, lower: float | None, upper: float | None, digits: int) -> str:
    text = format_number(value, digits)
    if lower is not None and upper is not None and not (pd.isna(lower) or pd.isna(upper)):
        text += f" ({format_number(lower, digits)}, {format_number(upper, digits)})"
    return text


def published_table(
    items: Sequence[PublishedItem],
    frames: Mapping[str, pd.DataFrame],
    *,
    id: str = "table-4",
    title: str = "Table 4. Published versus virtual trial",
    not_compared: Sequence[NotCompared] = (),
    **kwargs: Any,
) -> Table:
    """Table 4: per published number the virtual trial's, the published SE and the distance in published SEs.

    Rows grouped by ``section``; a published range shows as ``15 to 17`` (a bound as
    ``< 0.025``) with ``within``/``outside`` for the distance. ``not_compared`` adds a
    footnote counting the numbers of the text left out (their reasons are in the TOML).

    Examples
    --------
    >>> item = PublishedItem(label="ESSDAI, 300 mg vs placebo", section="Efficacy", kind="difference",
    ...                      frame="differences", where={"arm": "300 mg"}, column="estimate", value=-1.92,
    ...                      lower=-4.15, upper=0.32, digits=2)
    >>> frames = {"differences": pd.DataFrame({"arm": ["300 mg"], "estimate": [-1.71], "lower": [-3.9],
    ...                                        "upper": [0.48]})}
    >>> print(published_table([item], frames).summary())  # doctest: +NORMALIZE_WHITESPACE
    Table 4. Published versus virtual trial
    <BLANKLINE>
                                 Published            Virtual trial        Published SE  Distance (SEs)  Note
    Efficacy
      ESSDAI, 300 mg vs placebo  -1.92 (-4.15, 0.32)  -1.71 (-3.90, 0.48)  1.14          0.18            SE from the 95% CI
    Distance: (virtual - published) / published SE; n/a where the paper gives no SE and none can be derived.
    """
    frame = published_frame(items, frames)
    cells, values, index = [], [], []
    for r in frame.itertuples(index=False):
        d = int(r.digits)
        if r.bound_low is not None and not pd.isna(r.bound_low):
            published = (f"< {format_number(r.bound_high, d)}" if r.kind == "p_value" and r.bound_low == 0
                         else f"{format_number(r.bound_low, d)} to {format_number(r.bound_high, d)}")
            distance = "within" if r.within else "outside"
        else:
            published = _with_ci(r.published, r.lower, r.upper, d)
            distance = "n/a" if r.distance is None or pd.isna(r.distance) else format_number(r.distance, 2)
        se = "n/a" if r.se is None or pd.isna(r.se) else format_number(r.se, max(d, 2))
        shown = (format_p_value(r.virtual, d) if r.kind == "p_value"
                 else _with_ci(r.virtual, r.virtual_lower, r.virtual_upper, d))
        cells.append([published, shown, se, distance, r.note])
        values.append([{"value": r.published, "lower": r.lower, "upper": r.upper, "bounds": None
                         if r.bound_low is None or pd.isna(r.bound_low) else [r.bound_low, r.bound_high]},
                       {"value": r.virtual, "lower": r.virtual_lower, "upper": r.virtual_upper}, r.se,
                       r.distance if r.within is None or pd.isna(r.within) else bool(r.within), r.note])
        index.append((r.section, r.label))
    columns = ["Published", "Virtual trial", "Published SE", "Distance (SEs)", "Note"]
    rows = pd.MultiIndex.from_tuples(index)
    notes = [("Distance: (virtual - published) / published SE; n/a where the paper gives no SE and none can be "
             "derived.")]
    if not_compared:
        count = sum(len(n.numbers) for n in not_compared)
        notes.append(f"{count} further numbers of the paper's text are not compared (design constants, event "
                     "counts, grades and reasons the results do not hold); the list and the reasons are in the "
                     "published-numbers file.")
    return Table.from_frame(pd.DataFrame(cells, index=rows, columns=columns),
                            values=pd.DataFrame(values, index=rows, columns=columns), id=id, title=title,
                            footnotes=[*notes, *kwargs.pop("footnotes", ())], **kwargs)
