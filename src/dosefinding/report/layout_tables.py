"""The tables of a report layout: one function per table kind, numbers from a StudyResults.

Each function takes the results, the table's layout entry (``id``, ``caption``,
``subtitle``, ``footnotes``, ``decimals`` and its own keys) and the layout's number
formats, and returns a :class:`~dosefinding.report.table.Table` whose values are the
unrounded numbers (for ``results.json``). Kinds: ``populations``, ``disposition``,
``baseline``, ``efficacy``, ``lsmeans``, ``mcp``, ``mod``, ``model_average``,
``responders``, ``categories``, ``ae``, ``exposure``, ``published``, ``sensitivity`` (the primary
MMRM and the estimand's sensitivity analyses of ``endpoint``, default the primary: difference to
placebo with CI and p per arm, and the MCP-Mod p-value).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from dosefinding.errors import InputError
from dosefinding.report.baseline import PAPER_STYLE, baseline_table
from dosefinding.report.clinical import (
    counts_table,
    efficacy_summary_table,
    mcpmod_table,
    responder_table,
    safety_table,
)
from dosefinding.report.table import (
    Table,
    format_estimate_ci,
    format_n_percent,
    format_number,
    format_p_value,
    magnitude_decimals,
)
from dosefinding.shapes import Candidates

if TYPE_CHECKING:
    from dosefinding.study.analysis import EndpointFit, StudyResults

__all__ = ["TABLES", "degrees_of_freedom", "lsmeans_table", "need_sensitivity", "p_text", "table"]

BASELINE_STYLES: dict[str, dict[str, Any]] = {"full": {}, "paper": PAPER_STYLE}
"""The ``style`` of a baseline table: ``full`` (n, mean (SD), median [Q1, Q3], min, max; n (%) with one
decimal) or ``paper`` (:data:`~dosefinding.report.baseline.PAPER_STYLE`: mean (SD), whole percent)."""

POPULATION_LABELS = {"randomised": "Randomised", "safety": "Safety set", "full_analysis": "Full analysis set",
                     "completed": "Completed"}


def degrees_of_freedom(df: float) -> str:
    """Degrees of freedom as a reader wants them: whole when whole, else one decimal.

    Examples
    --------
    >>> degrees_of_freedom(186.644), degrees_of_freedom(180.0), degrees_of_freedom(math.inf)
    ('186.6 degrees of freedom', '180 degrees of freedom', 'normal distribution')
    """
    if math.isinf(df):
        return "normal distribution"
    return f"{df:.0f} degrees of freedom" if float(df).is_integer() else f"{df:.1f} degrees of freedom"


def p_text(p: float, digits: int) -> str:
    """``p = 0.012`` or ``p < 0.001``.

    Examples
    --------
    >>> p_text(0.0123, 3), p_text(1e-6, 3)
    ('p = 0.012', 'p < 0.001')
    """
    text = format_p_value(p, digits)
    return f"p < {text[1:]}" if text.startswith("<") else f"p = {text}"


def _decimals(entry: Mapping[str, Any], formats: Mapping[str, int], name: str = "decimals") -> int:
    return int(entry.get(name, formats.get(name, 2)))


def _kwargs(entry: Mapping[str, Any], notes: list[str] | None = None) -> dict[str, Any]:
    return {"id": entry["id"], "title": entry["caption"], "subtitle": str(entry.get("subtitle", "")),
            "footnotes": [*(notes or []), *entry.get("footnotes", [])]}


def _fit_names(results: StudyResults, entry: Mapping[str, Any], where: str) -> list[str]:
    names = entry.get("endpoints", "all")
    if names == "all":
        return list(results.endpoints)
    names = [names] if isinstance(names, str) else list(names)
    primary = results.spec.primary.endpoint if results.spec.primary is not None else None
    names = [primary if n == "primary" and primary else n for n in names]
    analysed = [*results.endpoints, *results.biomarkers]
    for n in names:
        if n not in analysed:
            raise InputError(f"{where}.endpoints: {n!r} is not analysed (analysed: {', '.join(analysed)})")
    return names


def _named_decimals(entry: Mapping[str, Any], names: list[str], where: str) -> dict[str, int] | int | None:
    """An item's ``decimals``: one number, or a table by endpoint or parameter (``{ESSDAI = 2, PHGA = 1}``)."""
    given = entry.get("decimals")
    if given is None:
        return None
    items = given.items() if isinstance(given, Mapping) else [("", given)]
    for name, d in items:
        key = f"{where}.decimals" + (f".{name}" if name else "")
        if name and name not in names:
            raise InputError(f"{key}: {name!r} is not shown here ({', '.join(names)})")
        if isinstance(d, bool) or not isinstance(d, int) or d < 0:
            raise InputError(f"{key}: must be a whole number >= 0, got {d!r}")
    return {str(k): int(v) for k, v in given.items()} if isinstance(given, Mapping) else int(given)


def _ci_values(row: pd.Series) -> dict[str, float]:
    return {k: float(row[k]) for k in ("estimate", "se", "df", "lower", "upper", "p") if k in row.index}


def _populations(results: StudyResults, entry: Mapping[str, Any], formats: Mapping[str, int], where: str) -> Table:
    arms = list(results.spec.arms.names)
    rows = {name: [int(p["n"][a]) for a in arms] for name, p in results.populations.items()}
    total = {a: results.populations["Randomised"]["n"][a] for a in arms}
    cells = pd.DataFrame({a: [format_n_percent(rows[r][j], total[a], _decimals(entry, formats, "percent_decimals"))
                              for r in rows] for j, a in enumerate(arms)}, index=pd.Index(list(rows), name="Population"))
    values = pd.DataFrame({a: [rows[r][j] for r in rows] for j, a in enumerate(arms)}, index=cells.index)
    notes = [f"{name}: {p['description']}." for name, p in results.populations.items()]
    return Table.from_frame(cells, values=values, **_kwargs(entry, notes))


def _disposition(results: StudyResults, entry: Mapping[str, Any], formats: Mapping[str, int], where: str) -> Table:
    d = results.disposition
    arms = list(results.spec.arms.names)
    counts = d.stages.T[arms]
    reasons = d.discontinued[arms].rename(index=lambda r: f"  {r}")
    frame = pd.concat([counts, reasons])
    denominators = counts.loc["Randomised"]
    notes = [("Screening: not recorded in the data." if d.screened is None else
              f"Screened: {d.screened}; excluded before randomisation: {sum((d.excluded or {}).values())}"
              + "".join(f"; {k}: {v}" for k, v in (d.excluded or {}).items()) + "."),
             f"Source: {d.source}."]
    table = counts_table(frame.astype(int), denominators, digits=_decimals(entry, formats, "percent_decimals"),
                         **_kwargs(entry, notes), stub_header="Status")
    return table


def _baseline(results: StudyResults, entry: Mapping[str, Any], formats: Mapping[str, int], where: str) -> Table:
    b = results.spec.baseline
    if b is None or results.baseline is None:
        raise InputError(f"{where}: a baseline table needs [baseline] in the spec")
    style = entry.get("style", "full")
    if style not in BASELINE_STYLES:
        raise InputError(f"{where}.style: must be one of {', '.join(BASELINE_STYLES)}, got {style!r}")
    numbers = BASELINE_STYLES[style] or {"digits": _decimals(entry, formats, "decimals") - 1 if "decimals" in entry
                                         else 1}
    return baseline_table(results.baseline, arm=results.spec.arms.variable, variables=dict(b.variables),
                          arms=list(results.spec.arms.names), categorical=list(b.categorical),
                          stub_header="Characteristic", **numbers, **_kwargs(entry))


def _efficacy(results: StudyResults, entry: Mapping[str, Any], formats: Mapping[str, int], where: str) -> Table:
    names = _fit_names(results, entry, where)
    labels = {}
    for name in names:
        e = results.fit(name).spec
        labels[name] = f"{e.label} ({e.unit})" if e.unit and e.unit not in e.label else e.label
    visit = float(entry.get("visit", results.fit(names[0]).spec.primary_visit))
    for name in names:
        if visit not in results.fit(name).visits:
            raise InputError(f"{where}.visit: {visit:g} is not an analysed visit of {name}")
    frames = results.frames()
    digits = _named_decimals(entry, names, where)
    return efficacy_summary_table(frames["lsmeans"], frames["differences"], labels, visit,
                                  arms=list(results.spec.arms.names), digits=digits,
                                  p_digits=_decimals(entry, formats, "p_decimals"), stub_header="Endpoint",
                                  **_kwargs(entry))


def lsmeans_table(results: StudyResults, fit: EndpointFit, entry: Mapping[str, Any], digits: int) -> Table:
    """LS means (SE) and differences to placebo (95% CI) by visit and arm for one endpoint."""
    spec = results.spec
    est, diff = fit.lsmeans.estimates, fit.lsmeans.differences
    cells: dict[tuple[str, str], list[str]] = {}
    values: dict[tuple[str, str], list[Any]] = {}
    labels = list(fit.visits.values())
    for arm in spec.arms.names:
        ls_key, diff_key = (arm, "LS mean (SE)"), (arm, "Difference (95% CI)")
        cells[ls_key], values[ls_key], cells[diff_key], values[diff_key] = [], [], [], []
        for label in labels:
            row = est.loc[(label, arm)]
            cells[ls_key].append(f"{format_number(row['estimate'], digits)} ({format_number(row['se'], digits)})")
            values[ls_key].append(_ci_values(row))
            if arm == spec.arms.placebo:
                cells[diff_key].append("")
                values[diff_key].append(None)
            else:
                d = diff.loc[(label, arm)]
                cells[diff_key].append(format_estimate_ci(d["estimate"], d["lower"], d["upper"], digits))
                values[diff_key].append(_ci_values(d))
    columns = pd.MultiIndex.from_tuples(list(cells))
    frame = pd.DataFrame(list(zip(*cells.values(), strict=True)), index=pd.Index(labels, name="Visit"),
                         columns=columns)
    numbers = pd.DataFrame(list(zip(*values.values(), strict=True)), index=frame.index, columns=columns)
    e = fit.spec
    model = "ANCOVA" if e.model == "ancova" else "MMRM"
    note = (f"{model} {fit.fit.formula}; {e.covariance} covariance, REML, {e.df_method.replace('_', '-')} df; "
            f"{fit.fit.n_subjects} subjects, {fit.fit.n_obs} observations.")
    kwargs = _kwargs(entry, [note])
    kwargs["subtitle"] = kwargs["subtitle"] or POPULATION_LABELS[e.population]
    return Table.from_frame(frame, values=numbers, **kwargs)


def _lsmeans(results: StudyResults, entry: Mapping[str, Any], formats: Mapping[str, int], where: str) -> Table:
    names = _fit_names(results, {"endpoints": entry.get("endpoint", "primary")}, where)
    return lsmeans_table(results, results.fit(names[0]), entry, _decimals(entry, formats))


def need_sensitivity(results: StudyResults, entry: Mapping[str, Any], where: str) -> tuple[str, Any]:
    """The endpoint named by ``entry`` (default the primary) and its sensitivity analyses (an InputError if none)."""
    names = _fit_names(results, {"endpoints": entry.get("endpoint", "primary")}, where)
    if names[0] not in results.sensitivity:
        raise InputError(f"{where}.endpoint: {names[0]!r} has no sensitivity analyses (its estimand lists none; "
                         f"endpoints with some: {', '.join(results.sensitivity) or 'none'})")
    return names[0], results.sensitivity[names[0]]


def _sensitivity(results: StudyResults, entry: Mapping[str, Any], formats: Mapping[str, int], where: str) -> Table:
    _, result = need_sensitivity(results, entry, where)
    digits, p_digits = _decimals(entry, formats), _decimals(entry, formats, "p_decimals")
    d = result.differences
    analyses = list(dict.fromkeys(d["analysis"]))
    arms = [a for a in results.spec.arms.names if a in set(d["arm"])]
    level = f"{100 * result.confidence_level:g}%"
    cells: dict[tuple[str, str], list[str]] = {("", "Method"): [str(m) for m in d.drop_duplicates("analysis")["method"]]}
    values: dict[tuple[str, str], list[Any]] = {("", "Method"): [None] * len(analyses)}
    for arm in arms:
        ci_key, p_key = (arm, f"Difference ({level} CI)"), (arm, "p")
        rows = d[d["arm"] == arm].set_index("analysis").reindex(analyses)
        cells[ci_key] = [format_estimate_ci(r["estimate"], r["lower"], r["upper"], digits) for _, r in rows.iterrows()]
        values[ci_key] = [_ci_values(r.rename({"p_value": "p"})) for _, r in rows.iterrows()]
        cells[p_key] = [format_p_value(p, p_digits) for p in rows["p_value"]]
        values[p_key] = [float(p) for p in rows["p_value"]]
    notes = [(f"Estimand {result.estimand}. Multiple imputation: {result.method}. Arm minus placebo at "
              f"{result.visit}; two-sided p.")]
    if result.mcp is not None:
        mcp = result.mcp.set_index("analysis").reindex(analyses)
        cells[("MCP-Mod", "p")] = ["" if pd.isna(p) else format_p_value(p, p_digits) for p in mcp["p_value"]]
        values[("MCP-Mod", "p")] = [None if pd.isna(p) else float(p) for p in mcp["p_value"]]
        notes.append("MCP-Mod: smallest multiplicity-adjusted p-value of the multiple contrast test on the "
                     "(pooled) LS means of all arms.")
    columns = pd.MultiIndex.from_tuples(list(cells))
    index = pd.Index(analyses, name="Analysis")
    frame = pd.DataFrame(list(zip(*cells.values(), strict=True)), index=index, columns=columns)
    numbers = pd.DataFrame(list(zip(*values.values(), strict=True)), index=index, columns=columns)
    kwargs = _kwargs(entry, notes)
    kwargs["subtitle"] = kwargs["subtitle"] or POPULATION_LABELS[results.spec.estimands[result.estimand].population]
    return Table.from_frame(frame, values=numbers, **kwargs)


def _need_mcpmod(results: StudyResults, where: str) -> Any:
    if results.mcpmod is None:
        raise InputError(f"{where}: the spec has no [primary] (MCP-Mod) to show")
    return results.mcpmod


def _mcp(results: StudyResults, entry: Mapping[str, Any], formats: Mapping[str, int], where: str) -> Table:
    fitted = _need_mcpmod(results, where)
    mct = fitted.mct
    table = mcpmod_table(fitted, id=entry["id"], title=entry["caption"], digits=_decimals(entry, formats, "p_decimals"))
    note = (f"{mct.alternative.capitalize()} test at the study's alpha = {mct.alpha:g}, {degrees_of_freedom(mct.df)}; "
            f"critical value {format_number(mct.critical_value, 3)}.")
    p = results.spec.primary
    assert p is not None
    described = {m.label: m.description for m in Candidates(sorted(set(results.spec.arms.doses.values())),
                                                             dict(p.candidates), direction=p.direction).models}
    rows = tuple(replace(r, label=described.get(r.label, r.label)) for r in table.rows)
    return replace(table, rows=rows, subtitle=str(entry.get("subtitle", "")),
                   footnotes=(note, "Candidate shapes named with their guesstimates.", *table.footnotes[1:],
                              *entry.get("footnotes", [])))


def _mod(results: StudyResults, entry: Mapping[str, Any], formats: Mapping[str, int], where: str) -> Table:
    result = _need_mcpmod(results, where)
    if result.selection is None:
        frame = pd.DataFrame({"Value": ["No candidate shape significant: no model fitted"]},
                             index=pd.Index(["Mod step"], name="Shape"))
        return Table.from_frame(frame, **_kwargs(entry))
    criteria, td = result.selection.criteria, result.target_doses
    shapes = list(criteria.index)
    cells = pd.DataFrame({str(criteria.name): [format_number(criteria[s], 2) for s in shapes]},
                         index=pd.Index(shapes, name="Shape"))
    values = pd.DataFrame({str(criteria.name): [float(criteria[s]) for s in shapes]}, index=cells.index)
    if "TD" in td.columns:
        cells["Target dose (mg)"] = [format_number(td.loc[s, "TD"], 1) for s in shapes]
        values["Target dose (mg)"] = [None if pd.isna(td.loc[s, "TD"]) else float(td.loc[s, "TD"]) for s in shapes]
    chosen = result.selection.selected
    note = (f"Selected shape: {chosen} (smallest {criteria.name})." if chosen is not None
            else "Model averaging with AIC weights.")
    if result.delta is not None:
        note += f" Target dose: the smallest dose with an effect of {result.delta:g} over placebo."
    return Table.from_frame(cells, values=values, **_kwargs(entry, [note]))


def _model_average(results: StudyResults, entry: Mapping[str, Any], formats: Mapping[str, int], where: str) -> Table:
    averaged = results.model_average
    if averaged is None:
        raise InputError(f"{where}: no model averaging (primary.model_average_draws = 0)")
    rows = {f"Selected: {shape}": [f"{100 * float(f):.1f}%"] for shape, f in averaged.frequencies.items()}
    values: dict[str, list[float | None]] = {f"Selected: {shape}": [float(f)] for shape, f in averaged.frequencies.items()}
    if averaged.target_dose_quantiles is not None:
        for prob, dose in averaged.target_dose_quantiles.items():
            rows[f"Target dose, {100 * float(prob):g}% quantile"] = [format_number(dose, 1)]
            values[f"Target dose, {100 * float(prob):g}% quantile"] = [None if pd.isna(dose) else float(dose)]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["Value"])
    numbers = pd.DataFrame.from_dict(values, orient="index", columns=["Value"])
    note = f"{averaged.draws.shape[0]} draws of the estimates; per draw the shape with the smallest gAIC."
    return Table.from_frame(frame, values=numbers, **_kwargs(entry, [note]))


def _responders(results: StudyResults, entry: Mapping[str, Any], formats: Mapping[str, int], where: str) -> Table:
    if not results.responders:
        raise InputError(f"{where}: the spec has no [[responders]]")
    frames = results.frames()
    first = results.responders[0]
    return responder_table(frames["responders"], frames["responder_tests"], difference_method=first.interval,
                           test=first.test, arms=list(results.spec.arms.names),
                           digits=_decimals(entry, formats, "percent_decimals"),
                           p_digits=_decimals(entry, formats, "p_decimals"), **_kwargs(entry))


def _categories(results: StudyResults, entry: Mapping[str, Any], formats: Mapping[str, int], where: str) -> Table:
    names = [c.spec.name for c in results.categories]
    name = str(entry.get("category", names[0] if names else ""))
    if name not in names:
        raise InputError(f"{where}.category: {name!r} is not a category definition ({', '.join(names) or 'none'})")
    shares = next(c.shares for c in results.categories if c.spec.name == name)
    digits = _decimals(entry, formats, "percent_decimals")
    columns = [(str(p), str(a)) for p in dict.fromkeys(shares["period"]) for a in results.spec.arms.names]
    categories = list(dict.fromkeys(shares["category"]))
    lookup = shares.set_index(["period", "arm", "category"])
    cells = pd.DataFrame({c: [format_n_percent(int(lookup.loc[(*c, k), "n"]), int(lookup.loc[(*c, k), "total"]),
                                               digits) for k in categories] for c in columns},
                         index=pd.Index(categories, name="Category"))
    numbers = pd.DataFrame({c: [{"n": int(lookup.loc[(*c, k), "n"]), "percent": float(lookup.loc[(*c, k), "percent"])}
                                for k in categories] for c in columns}, index=cells.index)
    first = shares.groupby(["period", "arm"], sort=False)["total"].first()
    totals = {c: int(first.loc[c]) for c in columns}
    cells.columns = numbers.columns = pd.MultiIndex.from_tuples([(p, f"{a} (N={totals[(p, a)]})") for p, a in columns])
    note = "n (%) of the patients with a value in the period; N: patients with a value."
    return Table.from_frame(cells, values=numbers, stub_header="Category", **_kwargs(entry, [note]))


def _ae(results: StudyResults, entry: Mapping[str, Any], formats: Mapping[str, int], where: str) -> Table:
    s = results.safety
    if s is None:
        raise InputError(f"{where}: the spec has no [safety]")
    return safety_table(s.overview, s.incidence, min_percent=s.min_percent,
                        digits=_decimals(entry, formats, "percent_decimals"),
                        percent_sign=bool(entry.get("percent_sign", True)), **_kwargs(entry))


def _exposure(results: StudyResults, entry: Mapping[str, Any], formats: Mapping[str, int], where: str) -> Table:
    frame = results.exposure
    if frame.empty:
        raise InputError(f"{where}: the spec has no [exposure]")
    digits = _named_decimals(entry, list(dict.fromkeys(frame["parameter"])), where)
    arms = list(results.spec.arms.names)
    cells: dict[tuple[str, str], list[str]] = {}
    values: dict[tuple[str, str], list[Any]] = {}
    any_blq = False
    for (name, visit), group in frame.groupby(["parameter", "visit"], sort=False):
        x = results.spec.exposure[name]
        unit = f" ({x.unit})" if x.unit else ""
        label = f"{x.label}{unit}, week {visit:g}"
        by_arm = group.set_index("arm")
        fixed = digits.get(name) if isinstance(digits, dict) else digits
        blq = by_arm["n_blq"] > 0
        any_blq |= bool(blq.any())
        rows = ("n", "Mean (SD)", *(("Below LLOQ, n",) if blq.any() else ()))
        for row in rows:
            cells[(label, row)], values[(label, row)] = [], []
        for a in arms:
            if a not in by_arm.index:
                for row in rows:
                    cells[(label, row)].append("")
                    values[(label, row)].append(None)
                continue
            r = by_arm.loc[a]
            n, n_blq = int(r["n"]), int(r["n_blq"])
            cells[(label, "n")].append(str(n))
            values[(label, "n")].append(n)
            d = magnitude_decimals(abs(r["mean"])) if fixed is None else fixed
            cells[(label, "Mean (SD)")].append("all < LLOQ" if n_blq == n > 0 else
                                               f"{format_number(r['mean'], d)} ({format_number(r['sd'], d)})")
            values[(label, "Mean (SD)")].append({"mean": float(r["mean"]), "sd": float(r["sd"])})
            if blq.any():
                cells[(label, "Below LLOQ, n")].append(str(n_blq))
                values[(label, "Below LLOQ, n")].append(n_blq)
    index = pd.MultiIndex.from_tuples(list(cells))
    table = pd.DataFrame(list(cells.values()), index=index, columns=arms)
    notes = ["Mean (SD) of the patients with a value at the visit" + ("." if digits is not None else
                                                                       ", three significant digits of the mean.")]
    if any_blq:
        notes.append("LLOQ: lower limit of quantification; values below it (BLQFL = \"Y\") are recorded as 0 and "
                     "counted as 0 in the mean.")
    return Table.from_frame(table, values=pd.DataFrame(list(values.values()), index=index, columns=arms),
                            stub_header="Parameter", **_kwargs(entry, notes))


def _published(results: StudyResults, entry: Mapping[str, Any], formats: Mapping[str, int], where: str) -> Table:
    """Table 4 from a list of published numbers (``items = "a2201"``: the packaged list of the A2201 paper)."""
    from dosefinding.study.published import a2201_published_path, load_not_compared, load_published, published_table

    if entry.get("items") != "a2201":
        raise InputError(f"{where}.items: the published numbers to compare: 'a2201' (the packaged list of the "
                         f"A2201 paper), got {entry.get('items')!r}")
    path = a2201_published_path()
    return published_table(load_published(path), results.frames(), not_compared=load_not_compared(path),
                           **_kwargs(entry))


TABLES = {"populations": _populations, "disposition": _disposition, "baseline": _baseline, "efficacy": _efficacy,
          "lsmeans": _lsmeans, "mcp": _mcp, "mod": _mod, "model_average": _model_average, "responders": _responders,
          "categories": _categories, "ae": _ae, "exposure": _exposure, "published": _published,
          "sensitivity": _sensitivity}


def table(results: StudyResults, entry: Mapping[str, Any], formats: Mapping[str, int], where: str) -> Table:
    """The table of one layout entry."""
    kind = str(entry.get("table", ""))
    if kind not in TABLES:
        raise InputError(f"{where}.table: {kind!r} is not a table kind ({', '.join(TABLES)})")
    return TABLES[kind](results, entry, formats, where)
