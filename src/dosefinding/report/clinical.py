"""Tables of a dose-finding report built from analysis results: counts, the MCP step, published vs virtual.

Each function returns a :class:`~dosefinding.report.table.Table` whose cells are
formatted with the helpers of :mod:`dosefinding.report.table` and whose values are the
unrounded numbers, for ``results.json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dosefinding.errors import InputError
from dosefinding.report.table import Table, format_n_percent, format_number, format_p_value

if TYPE_CHECKING:
    from dosefinding.mod.mcpmod import MCPModResult

__all__ = ["comparison_table", "counts_table", "mcpmod_table"]


def counts_table(
    counts: pd.DataFrame,
    denominators: Mapping[str, int] | pd.Series,
    *,
    id: str,
    title: str,
    digits: int = 1,
    **kwargs: Any,
) -> Table:
    """``n (%)`` of patients per row and arm, columns headed ``arm (N=..)``, values ``{"n", "percent"}``.

    ``counts`` has one column per arm (e.g. :attr:`dosefinding.endpoints.AETable.counts`,
    with its ``(SOC, PT)`` index: system organ classes with their preferred terms
    indented); ``denominators`` gives N per arm. Other keyword arguments go to
    :meth:`Table.from_frame` (``subtitle``, ``footnotes``, ``stub_header``, ...).

    Examples
    --------
    >>> counts = pd.DataFrame({"Placebo": [41, 2], "300 mg": [44, 25]}, index=["Any AE", "Injection-site reaction"])
    >>> table = counts_table(counts, {"Placebo": 49, "300 mg": 47}, id="table-3", title="AEs")
    >>> [c.label for c in table.columns], table.rows[1].cells, table.rows[1].values[1]
    (['Placebo (N=49)', '300 mg (N=47)'], ('2 (4.1)', '25 (53.2)'), {'n': 25, 'percent': 53.191489361702125})
    """
    if not isinstance(counts, pd.DataFrame) or counts.empty:
        raise InputError("counts: must be a non-empty DataFrame with one column per arm")
    totals = pd.Series(denominators, dtype=object)
    missing = [c for c in counts.columns if c not in totals.index]
    if missing:
        raise InputError(f"denominators: no N for arm(s) {missing}")
    n = counts.to_numpy()
    if not np.issubdtype(n.dtype, np.number) or np.any(n < 0) or np.any(n != np.round(n)):
        raise InputError("counts: must be non-negative whole numbers")
    big = [str(c) for c in counts.columns if (counts[c] > totals[c]).any()]
    if big:
        raise InputError(f"counts: larger than the denominator in arm(s) {big}")
    header = {c: f"{c} (N={int(totals[c])})" for c in counts.columns}
    cells = pd.DataFrame({header[c]: [format_n_percent(int(k), int(totals[c]), digits) for k in counts[c]]
                          for c in counts.columns}, index=counts.index)
    values = pd.DataFrame({header[c]: [{"n": int(k), "percent": 100.0 * int(k) / int(totals[c])} for k in counts[c]]
                           for c in counts.columns}, index=counts.index)
    return Table.from_frame(cells, values=values, id=id, title=title, **kwargs)


def mcpmod_table(result: MCPModResult, *, id: str, title: str, digits: int = 3, **kwargs: Any) -> Table:
    """The MCP step per candidate shape: t statistic, multiplicity-adjusted p-value, significance.

    Rows in the order of the candidates; a footnote gives the critical value, alpha, the
    direction and the degrees of freedom, and the selected shape (or the averaging).

    Examples
    --------
    >>> from dosefinding import Candidates
    >>> from dosefinding.mod import mcpmod
    >>> cands = Candidates([0, 5, 50, 300], {"linear": None, "emax": 30}, max_effect=-3.5)
    >>> res = mcpmod(cands, doses=[0, 5, 50, 300], estimates=[-2.8, -3.3, -4.2, -5.6], cov=np.eye(4) * 0.5,
    ...              df=180)
    >>> print(mcpmod_table(res, id="table-2b", title="MCP step").summary())  # doctest: +NORMALIZE_WHITESPACE
    MCP step
    <BLANKLINE>
    Shape   t statistic  Adjusted p-value  Significant
    linear  2.836        0.004             Yes
    emax    2.943        0.003             Yes
    One-sided test at alpha = 0.025, 180 degrees of freedom; critical value 2.143. Selected shape: linear (AIC).
    """
    mct = result.mct
    if mct.p_values is None:
        raise InputError("result: the MCP step has no p-values (mct_test was run without them)")
    t, p, significant = mct.t_statistics, mct.p_values, mct.significant
    names = list(t.index)
    cells = pd.DataFrame({"t statistic": [format_number(t[s], digits) for s in names],
                          "Adjusted p-value": [format_p_value(p[s], digits) for s in names],
                          "Significant": ["Yes" if significant[s] else "No" for s in names]}, index=names)
    values = pd.DataFrame({"t statistic": [float(t[s]) for s in names], "Adjusted p-value": [float(p[s]) for s in names],
                           "Significant": [bool(significant[s]) for s in names]}, index=names)
    df = "normal distribution" if math.isinf(mct.df) else f"{mct.df:g} degrees of freedom"
    note = f"{mct.alternative.capitalize()} test at alpha = {mct.alpha:g}, {df}"
    if mct.critical_value is not None:
        note += f"; critical value {format_number(mct.critical_value, digits)}"
    note += "."
    if result.selection is not None:
        chosen = result.selection.selected
        note += (f" Selected shape: {chosen} ({result.selection.method})." if chosen is not None
                 else " Model averaging with AIC weights.")
    kwargs.setdefault("stub_header", "Shape")
    footnotes = [note, *kwargs.pop("footnotes", ())]
    return Table.from_frame(cells, values=values, id=id, title=title, footnotes=footnotes, **kwargs)


def comparison_table(
    frame: pd.DataFrame,
    *,
    id: str,
    title: str,
    published: str = "Published",
    virtual: str = "Virtual trial",
    digits: int | Mapping[str, int] | Sequence[int] = 2,
    **kwargs: Any,
) -> Table:
    """Published versus virtual-trial figures, one row per quantity, with the difference virtual minus published.

    ``digits`` is one number of decimals for all rows, or one per row (a sequence in row
    order, or a mapping by row label), since the rows mix units (points, percentages).
    A published figure the paper does not give may be NaN: shown as ``NE``, ``null`` in
    ``results.json``.

    Examples
    --------
    >>> frame = pd.DataFrame({"Published": [-1.92, 89.0], "Virtual trial": [-1.714, 87.23]},
    ...                      index=["ESSDAI difference, 300 mg", "Responders, 300 mg (%)"])
    >>> print(comparison_table(frame, id="table-4", title="Published vs virtual", digits=[2, 1]).summary())
    Published vs virtual
    <BLANKLINE>
                               Published  Virtual trial  Difference
    ESSDAI difference, 300 mg  -1.92      -1.71          0.21
    Responders, 300 mg (%)     89.0       87.2           -1.8
    """
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"frame: must be a pandas DataFrame, got {type(frame).__name__}")
    for name in (published, virtual):
        if name not in frame.columns:
            raise InputError(f"frame: missing column {name!r}; has {list(frame.columns)}")
        if not pd.api.types.is_numeric_dtype(frame[name]):
            raise InputError(f"frame: column {name!r} must be numeric")
    labels = [str(i) for i in frame.index]
    if isinstance(digits, Mapping):
        missing = [label for label in labels if label not in digits]
        if missing:
            raise InputError(f"digits: no number of decimals for row(s) {missing}")
        per_row = [int(digits[label]) for label in labels]
    elif isinstance(digits, Sequence):
        if len(digits) != len(labels):
            raise InputError(f"digits: need {len(labels)} numbers of decimals (one per row), got {len(digits)}")
        per_row = [int(d) for d in digits]
    else:
        per_row = [int(digits)] * len(labels)
    numbers = pd.DataFrame({published: frame[published].astype(float), virtual: frame[virtual].astype(float)})
    numbers["Difference"] = numbers[virtual] - numbers[published]
    cells = pd.DataFrame([[format_number(x, d) for x in row] for row, d in zip(numbers.to_numpy(), per_row,
                                                                                  strict=True)],
                         index=frame.index, columns=numbers.columns)
    return Table.from_frame(cells, values=numbers, id=id, title=title, **kwargs)
