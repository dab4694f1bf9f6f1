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

__all__ = ["ci_digits", "comparison_table", "counts_table", "efficacy_summary_table", "matching", "mcpmod_table",
           "responder_table", "safety_table", "select_row"]


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
                  ("Severe {}", "Severe adverse events"), ("{} of CTC grade >= 3", "Adverse events of CTC grade 3 or higher"),
                  (DEATHS, "Deaths"))


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
             (f"Preferred terms reported by at least {min_percent:g}% of the patients in any arm, under their "
             "system organ class (MedDRA).")]
    kwargs.setdefault("stub_header", "")
    return counts_table(table_counts[arms], overview.denominators, id=id, title=title, digits=digits,
                        percent_sign=percent_sign, footnotes=[*notes, *kwargs.pop("footnotes", ())], **kwargs)


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{name}: must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{name}: missing column(s) {missing}; has {list(frame.columns)}")


def matching(frame: pd.DataFrame, selector: Mapping[str, Any]) -> np.ndarray:
    """Rows of ``frame`` whose columns equal the values of ``selector`` (a list value: any of them).

    Numbers compare as floats (a visit ``24`` matches ``24.0``), everything else as text.
    A selector column missing from ``frame`` is an :class:`InputError`.

    Examples
    --------
    >>> frame = pd.DataFrame({"arm": ["Placebo", "5 mg", "50 mg"], "visit": [24.0, 24.0, 12.0]})
    >>> matching(frame, {"arm": ["5 mg", "50 mg"], "visit": 24}).tolist()
    [False, True, False]
    """
    mask = np.ones(len(frame), dtype=bool)
    for column, wanted in selector.items():
        if column not in frame.columns:
            raise InputError(f"selector: no column {column!r}; columns are {list(frame.columns)}")
        options = wanted if isinstance(wanted, (list, tuple)) else [wanted]
        values = frame[column]
        hit = np.zeros(len(frame), dtype=bool)
        for option in options:
            if isinstance(option, (int, float)) and not isinstance(option, bool):
                numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
                hit |= numbers == float(option)
            else:
                hit |= values.astype("string").fillna("").to_numpy(dtype=str) == str(option)
        mask &= hit
    return mask


def select_row(frame: pd.DataFrame, selector: Mapping[str, Any], what: str) -> pd.Series | None:
    """The row of ``frame`` matching ``selector`` (:func:`matching`), ``None`` if none; several: an error naming ``what``.

    Examples
    --------
    >>> frame = pd.DataFrame({"arm": ["Placebo", "5 mg"], "n": [49, 47]})
    >>> int(select_row(frame, {"arm": "5 mg"}, "disposition")["n"])
    47
    """
    mask = matching(frame, selector)
    if mask.sum() > 1:
        raise InputError(f"{what}: {int(mask.sum())} rows match {dict(selector)}; expected one")
    return frame.loc[mask].iloc[0] if mask.any() else None


class _RowBlocks:
    """Rows under headings (an endpoint, a responder definition), one cell and one raw value per column."""

    def __init__(self) -> None:
        self.cells: dict[tuple[str, str], list[str]] = {}
        self.values: dict[tuple[str, str], list[Any]] = {}

    def add(self, heading: str, row: str, cell: str, value: Any) -> None:
        self.cells.setdefault((heading, row), []).append(cell)
        self.values.setdefault((heading, row), []).append(value)

    def table(self, columns: Sequence[str], **kwargs: Any) -> Table:
        index = pd.MultiIndex.from_tuples(list(self.cells))
        return Table.from_frame(pd.DataFrame(list(self.cells.values()), index=index, columns=list(columns)),
                                values=pd.DataFrame(list(self.values.values()), index=index, columns=list(columns)),
                                **kwargs)


def ci_digits(se: float) -> int:
    """Decimals that show the half-width of a 95% CI (1.96 SE) with two significant digits.

    The default of :func:`efficacy_summary_table`: 1 for PhGA in mm (SE about 3.6), 2 for
    a salivary flow in mL/min (SE about 0.09); a paper may print more (the A2201 paper
    gives ESSDAI, SE about 1.1, with 2 where this gives 1): pass ``digits``.

    Examples
    --------
    >>> ci_digits(3.6), ci_digits(0.094), ci_digits(1.13), ci_digits(40.0)
    (1, 2, 1, 0)
    """
    if not math.isfinite(se) or se <= 0:
        return 2
    return max(0, 1 - math.floor(math.log10(1.96 * se)))


def efficacy_summary_table(
    lsmeans: pd.DataFrame,
    differences: pd.DataFrame,
    labels: Mapping[str, str],
    visit: float,
    *,
    arms: Sequence[str] | None = None,
    digits: Mapping[str, int] | int | None = None,
    p_digits: int = 3,
    id: str = "table-2",
    title: str = "Table 2. Change from baseline and difference to placebo",
    **kwargs: Any,
) -> Table:
    """The paper's Table 2 at one visit: per endpoint the LS-mean change per arm and the difference to placebo.

    Parameters
    ----------
    lsmeans
        Tidy frame ``endpoint, arm, visit, estimate, se, lower, upper, n`` (LS-mean change
        from baseline by arm).
    differences
        Tidy frame ``endpoint, arm, visit, estimate, se, lower, upper, p_value`` (arm
        minus placebo); the placebo arm is the arm of ``lsmeans`` without a difference.
    labels
        Endpoints (PARAMCD) to show, in order, with their row labels (``{"ESSDAI":
        "ESSDAI", "PHGA": "PhGA (mm)"}``).
    visit
        The visit (AVISITN), e.g. ``24.0``.
    arms
        Column order; default: the order of the arms in ``lsmeans``.
    digits
        Decimals of estimates and limits, one number or one per endpoint; default
        :func:`ci_digits` of the endpoint's median difference SE.
    p_digits
        Decimals of p-values (:func:`~dosefinding.report.table.format_p_value`).
    kwargs
        Passed to :class:`~dosefinding.report.table.Table` (``subtitle``, ``footnotes``, ``synthetic``).

    Per endpoint: a heading row, then ``n``, ``LS mean change (95% CI)``, ``Difference
    to placebo (95% CI)`` and ``p-value`` (two-sided, of the MMRM contrast), the
    placebo's cells empty in the last two.

    Examples
    --------
    >>> ls = pd.DataFrame({"endpoint": "PHGA", "arm": ["Placebo", "300 mg"], "visit": 24.0,
    ...                    "estimate": [-20.06, -28.45], "se": [2.6, 2.7], "lower": [-25.2, -33.8],
    ...                    "upper": [-14.9, -23.1], "n": [46, 45]})
    >>> diff = pd.DataFrame({"endpoint": ["PHGA"], "arm": ["300 mg"], "visit": [24.0], "estimate": [-8.39],
    ...                      "se": [3.64], "lower": [-15.5], "upper": [-1.24], "p_value": [0.0224]})
    >>> print(efficacy_summary_table(ls, diff, {"PHGA": "PhGA (mm)"}, 24).summary())
    Table 2. Change from baseline and difference to placebo
    <BLANKLINE>
                                      Placebo               300 mg
    PhGA (mm)
      n                               46                    45
      LS mean change (95% CI)         -20.1 (-25.2, -14.9)  -28.5 (-33.8, -23.1)
      Difference to placebo (95% CI)                        -8.4 (-15.5, -1.2)
      p-value                                               0.022
    LS mean change from baseline and difference to placebo (95% CI) from the MMRM; two-sided p-value of the difference.
    """
    _require_columns(lsmeans, ["endpoint", "arm", "visit", "estimate", "lower", "upper", "n"], "lsmeans")
    _require_columns(differences, ["endpoint", "arm", "visit", "estimate", "se", "lower", "upper", "p_value"],
                     "differences")
    if not labels:
        raise InputError("labels: name at least one endpoint")
    visit = float(visit)
    order = [str(a) for a in (pd.unique(lsmeans["arm"]) if arms is None else arms)]
    blocks = _RowBlocks()
    for endpoint, label in labels.items():
        ls = lsmeans[(lsmeans["endpoint"] == endpoint) & (lsmeans["visit"].astype(float) == visit)]
        diff = differences[(differences["endpoint"] == endpoint) & (differences["visit"].astype(float) == visit)]
        if ls.empty:
            raise InputError(f"labels: endpoint {endpoint!r} has no LS means at visit {visit:g} in lsmeans")
        placebo = [a for a in order if a in set(ls["arm"]) and a not in set(diff["arm"])]
        if len(placebo) != 1:
            raise InputError(f"differences: endpoint {endpoint!r} at visit {visit:g} needs a difference for every "
                             f"arm but one (the placebo); arms without one: {placebo}")
        if isinstance(digits, Mapping):
            d = int(digits[endpoint]) if endpoint in digits else ci_digits(float(diff["se"].median()))
        else:
            d = ci_digits(float(diff["se"].median())) if digits is None else int(digits)
        for arm in order:
            row = select_row(ls, {"arm": arm}, f"lsmeans ({endpoint})")
            if row is None:
                raise InputError(f"lsmeans: no row for endpoint {endpoint!r}, arm {arm!r}, visit {visit:g}")
            blocks.add(label, "n", str(int(row["n"])), int(row["n"]))
            blocks.add(label, "LS mean change (95% CI)", format_estimate_ci(row["estimate"], row["lower"],
                                                                            row["upper"], d),
                       {k: float(row[k]) for k in ("estimate", "se", "lower", "upper") if k in row.index})
            contrast = select_row(diff, {"arm": arm}, f"differences ({endpoint})")
            if contrast is None:
                blocks.add(label, "Difference to placebo (95% CI)", "", None)
                blocks.add(label, "p-value", "", None)
                continue
            blocks.add(label, "Difference to placebo (95% CI)",
                       format_estimate_ci(contrast["estimate"], contrast["lower"], contrast["upper"], d),
                       {k: float(contrast[k]) for k in ("estimate", "se", "lower", "upper")})
            blocks.add(label, "p-value", format_p_value(float(contrast["p_value"]), p_digits),
                       float(contrast["p_value"]))
    kwargs.setdefault("footnotes", [("LS mean change from baseline and difference to placebo (95% CI) from the MMRM; "
                                    "two-sided p-value of the difference.")])
    return blocks.table(order, id=id, title=title, **kwargs)


def responder_table(
    responders: pd.DataFrame,
    responder_tests: pd.DataFrame,
    *,
    difference_method: str | None = None,
    test: str | None = None,
    names: Mapping[str, str] | Sequence[str] | None = None,
    arms: Sequence[str] | None = None,
    digits: int = 1,
    p_digits: int = 3,
    id: str = "table-2-responders",
    title: str = "Table 2 (continued). Responders",
    **kwargs: Any,
) -> Table:
    """Responders per arm with Clopper-Pearson 95% CIs, and the difference to placebo with its CI and p-value.

    Parameters
    ----------
    responders
        Tidy frame ``name, arm, n, responders, percent, lower, upper`` (percentages and
        their exact Clopper-Pearson limits, in percent).
    responder_tests
        Tidy frame ``name, arm, difference, lower, upper, p_value`` (percentage points,
        arm minus placebo), optionally with ``method`` (the interval method) and ``test``.
    difference_method, test
        The interval method of the differences and the test of the p-values, named in
        the footnote; default: the frame's ``method`` / ``test`` column (one value).
        The method must be known: a footnote that names no method is refused.
    names
        Responder definitions to show, in order (a mapping gives their row labels);
        default: all, in the order of ``responders``.

    Examples
    --------
    >>> rates = pd.DataFrame({"name": "ESSDAI >= 3 points", "arm": ["Placebo", "300 mg"], "n": [49, 47],
    ...                       "responders": [30, 42], "percent": [61.22, 89.36], "lower": [46.2, 76.9],
    ...                       "upper": [74.8, 96.5]})
    >>> tests = pd.DataFrame({"name": ["ESSDAI >= 3 points"], "arm": ["300 mg"], "difference": [28.14],
    ...                       "lower": [8.2], "upper": [46.4], "p_value": [0.0021]})
    >>> table = responder_table(rates, tests, difference_method="Newcombe hybrid score", test="Fisher exact test")
    >>> print(table.summary())  # doctest: +NORMALIZE_WHITESPACE
    Table 2 (continued). Responders
    <BLANKLINE>
                                            Placebo           300 mg
    ESSDAI >= 3 points
      Responders, n/N (%)                   30/49 (61.2)      42/47 (89.4)
      95% CI                                46.2, 74.8        76.9, 96.5
      Difference to placebo, % (95% CI)                       28.1 (8.2, 46.4)
      p-value                                                 0.002
    Percentages with exact (Clopper-Pearson) 95% confidence intervals; differences to placebo in percentage points with Newcombe hybrid score 95% confidence intervals; p-values: Fisher exact test.
    """
    _require_columns(responders, ["name", "arm", "n", "responders", "percent", "lower", "upper"], "responders")
    _require_columns(responder_tests, ["name", "arm", "difference", "lower", "upper", "p_value"], "responder_tests")

    def named(given: str | None, column: str, argument: str) -> str | None:
        if given is not None:
            return given
        if column in responder_tests.columns:
            found = list(pd.unique(responder_tests[column].dropna()))
            if len(found) > 1:
                raise InputError(f"responder_tests: several {column}s {found}; give {argument}")
            return str(found[0]) if found else None
        return None

    method = named(difference_method, "method", "difference_method")
    if method is None:
        raise InputError("difference_method: name the interval method of the differences (e.g. 'Newcombe hybrid "
                         "score'): the footnote states it; or give a 'method' column in responder_tests")
    test_name = named(test, "test", "test")
    if names is None:
        shown = {str(n): str(n) for n in pd.unique(responders["name"])}
    elif isinstance(names, Mapping):
        shown = {str(k): str(v) for k, v in names.items()}
    else:
        shown = {str(n): str(n) for n in names}
    order = [str(a) for a in (pd.unique(responders["arm"]) if arms is None else arms)]
    keys = ("Responders, n/N (%)", "95% CI", "Difference to placebo, % (95% CI)", "p-value")
    blocks = _RowBlocks()
    for name, label in shown.items():
        if not (responders["name"] == name).any():
            raise InputError(f"names: responder definition {name!r} not in responders "
                             f"({list(pd.unique(responders['name']))})")
        for arm in order:
            rate = select_row(responders, {"name": name, "arm": arm}, "responders")
            if rate is None:
                raise InputError(f"responders: no row for {name!r}, arm {arm!r}")
            blocks.add(label, keys[0], f"{int(rate['responders'])}/{int(rate['n'])} "
                                       f"({format_number(rate['percent'], digits)})",
                       {k: float(rate[k]) for k in ("responders", "n", "percent")})
            blocks.add(label, keys[1], f"{format_number(rate['lower'], digits)}, {format_number(rate['upper'], digits)}",
                       {"lower": float(rate["lower"]), "upper": float(rate["upper"])})
            contrast = select_row(responder_tests, {"name": name, "arm": arm}, "responder_tests")
            if contrast is None:
                blocks.add(label, keys[2], "", None)
                blocks.add(label, keys[3], "", None)
                continue
            blocks.add(label, keys[2], format_estimate_ci(contrast["difference"], contrast["lower"],
                                                          contrast["upper"], digits),
                       {k: float(contrast[k]) for k in ("difference", "lower", "upper")})
            blocks.add(label, keys[3], format_p_value(float(contrast["p_value"]), p_digits),
                       float(contrast["p_value"]))
    note = ("Percentages with exact (Clopper-Pearson) 95% confidence intervals; differences to placebo in percentage "
            f"points with {method} 95% confidence intervals")
    note += f"; p-values: {test_name}." if test_name else "."
    return blocks.table(order, id=id, title=title, footnotes=[note, *kwargs.pop("footnotes", ())], **kwargs)
