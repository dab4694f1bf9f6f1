"""Tables of a dose-finding report built from analysis results: counts, the MCP step, safety (Table 3),
efficacy (Table 2) and responders, published vs virtual.

Each function returns a :class:`~dosefinding.report.table.Table` whose cells are
formatted with the helpers of :mod:`dosefinding.report.table` and whose values are the
unrounded numbers, for ``results.json``. :func:`efficacy_summary_table` and
:func:`responder_table` take the tidy frames of the results (``lsmeans``,
``differences``, ``responders``, ``responder_tests``): one row per arm and visit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dosefinding.endpoints.adverse_events import ANY_EVENT, DEATHS
from dosefinding.errors import InputError
from dosefinding.report.table import (
    Table,
    display_value,
    format_estimate_ci,
    format_n_percent,
    format_number,
    format_p_value,
)

if TYPE_CHECKING:
    from dosefinding.endpoints.adverse_events import AETable
    from dosefinding.mod.mcpmod import MCPModResult

__all__ = ["comparison_table", "counts_table", "efficacy_summary_table", "mcpmod_table", "responder_table",
           "safety_table"]


def counts_table(
    counts: pd.DataFrame,
    denominators: Mapping[str, int] | pd.Series,
    *,
    id: str,
    title: str,
    digits: int = 1,
    percent_sign: bool = False,
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
    cells = pd.DataFrame({header[c]: [format_n_percent(int(k), int(totals[c]), digits, percent_sign=percent_sign)
                                      for k in counts[c]]
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


_OVERVIEW_ROWS = (("Any {}", "Any adverse event"), ("Serious {}", "Serious adverse events"),
                  ("{} leading to discontinuation", "Adverse events leading to discontinuation"),
                  ("Severe {}", "Severe adverse events"), (DEATHS, "Deaths"))


def safety_table(
    overview: AETable,
    incidence: AETable,
    *,
    min_percent: float = 5.0,
    total: bool = False,
    digits: int = 0,
    percent_sign: bool = True,
    id: str = "table-3",
    title: str = "Table 3. Adverse events",
    **kwargs: Any,
) -> Table:
    """The paper's Table 3: any, serious, discontinuation-causing and severe adverse events, then SOC and PT rows.

    Parameters
    ----------
    overview, incidence
        :func:`~dosefinding.endpoints.ae_overview` and
        :func:`~dosefinding.endpoints.ae_incidence` of the same safety set. The
        overview gives the first rows (and ``Deaths`` when the data record deaths); the
        incidence's own "any event" row is not repeated.
    min_percent
        A preferred term is shown when at least this percentage of the patients of some
        arm had it; a system organ class when one of its terms is shown.
    total
        Add the all-arms column.
    digits, percent_sign
        Percentages as the journal prints them (``41 (84%)``); ``digits=1,
        percent_sign=False`` for a clinical study report (``41 (83.7)``).
    kwargs
        Passed to :class:`~dosefinding.report.table.Table` (``subtitle``, ``synthetic``).

    The footnotes are the notes of both tables (sentences for the reader) and the rule of
    the SOC/PT rows. Terms are shown in MedDRA's sentence case.

    Examples
    --------
    >>> from dosefinding.endpoints import ae_incidence, ae_overview
    >>> adsl = pd.DataFrame({"USUBJID": list("abcd"), "TRT01A": ["P", "P", "D", "D"], "SAFFL": ["Y"] * 4,
    ...                      "DTHFL": [""] * 4})
    >>> adae = pd.DataFrame({"USUBJID": ["a", "c", "d"], "TRTEMFL": ["Y"] * 3, "AESER": ["N", "Y", "N"],
    ...                      "AESEV": ["MILD", "SEVERE", "MILD"], "AEREL": ["NONE"] * 3,
    ...                      "AEACN": ["DOSE NOT CHANGED"] * 3, "AEOUT": ["RECOVERED/RESOLVED"] * 3,
    ...                      "AEBODSYS": ["SKIN AND SUBCUTANEOUS TISSUE DISORDERS"] * 3,
    ...                      "AEDECOD": ["RASH", "RASH", "PRURITUS"]})
    >>> kw = {"arms": ["P", "D"]}
    >>> print(safety_table(ae_overview(adae, adsl, **kw), ae_incidence(adae, adsl, **kw)).summary())
    Table 3. Adverse events
    <BLANKLINE>
                                               P (N=2)  D (N=2)
    Any adverse event                          1 (50%)  2 (100%)
    Serious adverse events                     0        1 (50%)
    Adverse events leading to discontinuation  0        0
    Severe adverse events                      0        1 (50%)
    Deaths                                     0        0
    Skin and subcutaneous tissue disorders     1 (50%)  2 (100%)
      Rash                                     1 (50%)  1 (50%)
      Pruritus                                 0        1 (50%)
    Patients with more than one event are counted once in each row.
    Preferred terms reported by at least 5% of the patients in any arm, under their system organ class (MedDRA).
    """
    counts, inc = overview.counts, incidence.counts
    if not isinstance(inc.index, pd.MultiIndex) or inc.index.nlevels != 2:
        raise InputError("incidence: must be the SOC/PT table of ae_incidence (two-level index)")
    if list(overview.counts.columns) != list(inc.columns):
        raise InputError(f"overview, incidence: different arms {list(counts.columns)} and {list(inc.columns)}")
    kind = "TEAE" if any(str(k).startswith("Any TEAE") for k in counts.index) else "AE"
    rows: list[tuple[str, str]] = []
    frame_rows = []
    for pattern, text in _OVERVIEW_ROWS:
        key = pattern.format(kind)
        if key in counts.index:
            rows.append((text, ""))
            frame_rows.append(counts.loc[key])
    arms = [c for c in inc.columns if total or c != "Total"]
    percent = incidence.percent[[a for a in arms if a != "Total"]]
    socs, terms = inc.index.get_level_values(0), inc.index.get_level_values(1)
    shown = (terms != "") & (percent.max(axis=1).to_numpy() >= min_percent)
    kept_socs = set(socs[shown])
    for i, (soc, term) in enumerate(inc.index):
        if soc == ANY_EVENT:
            continue
        if (term == "" and soc in kept_socs) or shown[i]:
            label = display_value(soc if term == "" else term, style="sentence")
            rows.append((display_value(soc, style="sentence"), "" if term == "" else label))
            frame_rows.append(inc.iloc[i])
    table_counts = pd.DataFrame(frame_rows, columns=list(inc.columns)).astype(int)
    table_counts.index = pd.MultiIndex.from_tuples(rows)
    notes = list(dict.fromkeys([*overview.notes, *incidence.notes]))
    notes = ["Patients with more than one event are counted once in each row.", *notes,
             f"Preferred terms reported by at least {min_percent:g}% of the patients in any arm, under their "
             "system organ class (MedDRA)."]
    kwargs.setdefault("stub_header", "")
    return counts_table(table_counts[arms], overview.denominators, id=id, title=title, digits=digits,
                        percent_sign=percent_sign, footnotes=[*notes, *kwargs.pop("footnotes", ())], **kwargs)
