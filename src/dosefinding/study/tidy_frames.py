"""The numbers of a :class:`~dosefinding.study.analysis.StudyResults` as tidy pandas frames.

:func:`study_frames` returns one frame per kind of result, long format, one number per
column; endpoints and biomarkers are keyed by their spec name (the PARAMCD by default),
visits by number (``AVISITN``, e.g. 24.0):

``disposition``: stage, arm, n (stage Screened / Excluded with arm ``"All"``, only when
the data record screening; Randomised, Treated, Completed, Discontinued by arm);
``discontinuation``: reason, arm, n; ``baseline``: variable, label, level (``None`` for
a continuous variable), arm, n, mean, sd, count, percent; ``lsmeans``: endpoint, arm,
visit, estimate, se, lower, upper, n (change from baseline by arm); ``differences``:
endpoint, arm, visit, estimate, se, lower, upper, p_value (arm minus placebo); ``mcp``:
shape, t, p_value; ``responders``: name, arm, n, responders, percent, lower, upper;
``responder_tests``: name, arm, difference, lower, upper, p_value (percentage points);
``categories``: name, period, arm, category, n, percent; ``ae``: soc, term, arm, n,
percent (soc ``""`` and term ``"ANY EVENT"``: any event; soc ``""`` and the overview's row
label: the overview's other rows; term ``""``: a system organ class; else a preferred term);
``exposure``: parameter, arm, dose, visit, n, mean, sd; ``sensitivity``: endpoint, analysis, method,
arm, dose, visit, estimate, se, lower, upper, df, p_value (the primary MMRM and each sensitivity
analysis of the endpoint's estimand, arm minus placebo at the primary visit; df ``None`` for a normal
interval); ``sensitivity_mcp``: endpoint, analysis, shape, p_value (the smallest adjusted p-value of
MCP-Mod on the pooled LS means); ``tipping_point``: endpoint, parameter, delta, estimate, lower, upper,
p_value, mcp_p_value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dosefinding.endpoints.adverse_events import ANY_EVENT
from dosefinding.report.baseline import describe

if TYPE_CHECKING:
    from dosefinding.study.analysis import StudyResults

__all__ = ["FRAME_COLUMNS", "study_frames"]

FRAME_COLUMNS = {
    "disposition": ["stage", "arm", "n"],
    "discontinuation": ["reason", "arm", "n"],
    "baseline": ["variable", "label", "level", "arm", "n", "mean", "sd", "count", "percent"],
    "lsmeans": ["endpoint", "arm", "visit", "estimate", "se", "lower", "upper", "n"],
    "differences": ["endpoint", "arm", "visit", "estimate", "se", "lower", "upper", "p_value"],
    "mcp": ["shape", "t", "p_value"],
    "responders": ["name", "arm", "n", "responders", "percent", "lower", "upper"],
    "responder_tests": ["name", "arm", "difference", "lower", "upper", "p_value"],
    "categories": ["name", "period", "arm", "category", "n", "percent"],
    "ae": ["soc", "term", "arm", "n", "percent"],
    "exposure": ["parameter", "arm", "dose", "visit", "n", "mean", "sd"],
    "sensitivity": ["endpoint", "analysis", "method", "arm", "dose", "visit", "estimate", "se", "lower", "upper",
                    "df", "p_value"],
    "sensitivity_mcp": ["endpoint", "analysis", "shape", "p_value"],
    "tipping_point": ["endpoint", "parameter", "delta", "estimate", "lower", "upper", "p_value", "mcp_p_value"],
}


def _frame(name: str, records: list[dict]) -> pd.DataFrame:
    return pd.DataFrame.from_records(records, columns=FRAME_COLUMNS[name])


def _disposition(results: StudyResults) -> pd.DataFrame:
    d = results.disposition
    records = []
    if d.screened is not None:
        records.append({"stage": "Screened", "arm": "All", "n": d.screened})
        records.append({"stage": "Excluded", "arm": "All", "n": int(sum((d.excluded or {}).values()))})
    for stage in d.stages.columns:
        records += [{"stage": stage, "arm": arm, "n": int(n)} for arm, n in d.stages[stage].items()]
    return _frame("disposition", records)


def _discontinuation(results: StudyResults) -> pd.DataFrame:
    table = results.disposition.discontinued
    return _frame("discontinuation", [{"reason": reason, "arm": arm, "n": int(table.loc[reason, arm])}
                                      for reason in table.index for arm in table.columns])


def _baseline(results: StudyResults) -> pd.DataFrame:
    subjects, spec = results.baseline, results.spec
    if subjects is None or spec.baseline is None:
        return _frame("baseline", [])
    arm = spec.arms.variable
    records = []
    for variable, label in spec.baseline.variables.items():
        values = subjects[variable]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        categorical = variable in spec.baseline.categorical or not numeric
        for a in spec.arms.names:
            group = values[np.asarray(subjects[arm] == a)]
            if not categorical:
                d = describe(group)
                records.append({"variable": variable, "label": label, "level": None, "arm": a, "n": d["n"],
                                "mean": d["mean"], "sd": d["sd"], "count": None, "percent": None})
                continue
            present = group.dropna().astype(str)
            for level in sorted(values.dropna().astype(str).unique()):
                count = int((present == level).sum())
                records.append({"variable": variable, "label": label, "level": level, "arm": a, "n": len(present),
                                "mean": None, "sd": None, "count": count,
                                "percent": 100.0 * count / len(present) if len(present) else None})
    return _frame("baseline", records)


def _lsmeans(results: StudyResults) -> tuple[pd.DataFrame, pd.DataFrame]:
    arm = results.spec.arms.variable
    estimates, differences = [], []
    for name, fit in {**results.endpoints, **results.biomarkers}.items():
        number = {label: v for v, label in fit.visits.items()}
        n = fit.n_by_visit(arm)
        for (label, a), row in fit.lsmeans.estimates.iterrows():
            estimates.append({"endpoint": name, "arm": str(a), "visit": number[label], "estimate": row["estimate"],
                              "se": row["se"], "lower": row["lower"], "upper": row["upper"],
                              "n": int(n.get((label, a), 0))})
        for (label, a), row in fit.lsmeans.differences.iterrows():
            differences.append({"endpoint": name, "arm": str(a), "visit": number[label], "estimate": row["estimate"],
                                "se": row["se"], "lower": row["lower"], "upper": row["upper"], "p_value": row["p"]})
    return _frame("lsmeans", estimates), _frame("differences", differences)


def _mcp(results: StudyResults) -> pd.DataFrame:
    if results.mcpmod is None:
        return _frame("mcp", [])
    mct = results.mcpmod.mct
    p = mct.p_values
    return _frame("mcp", [{"shape": str(s), "t": float(t), "p_value": None if p is None else float(p[s])}
                          for s, t in mct.t_statistics.items()])


def _sensitivity(results: StudyResults) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    differences, mcp, tipping = [], [], []
    for name, r in results.sensitivity.items():
        visit = results.endpoints[name].spec.primary_visit
        differences += [{"endpoint": name, "visit": visit, **row} for row in r.differences.to_dict("records")]
        if r.mcp is not None:
            mcp += [{"endpoint": name, **row} for row in r.mcp.to_dict("records")]
        if r.tipping is not None:
            curve = r.tipping.curve.assign(endpoint=name, parameter=r.tipping.parameter)
            tipping += curve.reindex(columns=FRAME_COLUMNS["tipping_point"]).to_dict("records")
    return _frame("sensitivity", differences), _frame("sensitivity_mcp", mcp), _frame("tipping_point", tipping)


def _responders(results: StudyResults) -> tuple[pd.DataFrame, pd.DataFrame]:
    rates, tests = [], []
    for r in results.responders:
        for a, row in r.rates.iterrows():
            rates.append({"name": r.spec.name, "arm": str(a), "n": int(row["n"]), "responders": int(row["responders"]),
                          "percent": row["percent"], "lower": row["lower"], "upper": row["upper"]})
        for a, row in r.comparison.iterrows():
            tests.append({"name": r.spec.name, "arm": str(a), "difference": row["difference"], "lower": row["lower"],
                          "upper": row["upper"], "p_value": row["p_value"]})
    return _frame("responders", rates), _frame("responder_tests", tests)


def _categories(results: StudyResults) -> pd.DataFrame:
    parts = [c.shares.assign(name=c.spec.name) for c in results.categories]
    if not parts:
        return _frame("categories", [])
    frame = pd.concat(parts, ignore_index=True)
    frame["arm"] = frame["arm"].astype(str)
    return frame[FRAME_COLUMNS["categories"]]


def _ae(results: StudyResults) -> pd.DataFrame:
    if results.safety is None:
        return _frame("ae", [])
    records = []
    incidence = results.safety.incidence
    percent = incidence.percent
    for key, row in incidence.counts.iterrows():
        soc, term = key
        if soc == ANY_EVENT:
            soc, term = "", ANY_EVENT
        records += [{"soc": str(soc), "term": str(term), "arm": str(a), "n": int(row[a]),
                     "percent": float(percent.loc[key, a])} for a in row.index if a != "Total"]
    overview = results.safety.overview
    for label, row in overview.counts.iterrows():
        label = label[-1] if isinstance(label, tuple) else label
        if str(label).upper() == ANY_EVENT:
            continue
        for a in row.index:
            if a != "Total":
                records.append({"soc": "", "term": str(label), "arm": str(a), "n": int(row[a]),
                                "percent": float(overview.percent.loc[label, a])})
    return _frame("ae", records)


def study_frames(results: StudyResults) -> dict[str, pd.DataFrame]:
    """Every number of ``results`` as the tidy frames named in the module docstring."""
    lsmeans, differences = _lsmeans(results)
    rates, tests = _responders(results)
    sensitivity, sensitivity_mcp, tipping = _sensitivity(results)
    return {
        "disposition": _disposition(results),
        "discontinuation": _discontinuation(results),
        "baseline": _baseline(results),
        "lsmeans": lsmeans,
        "differences": differences,
        "mcp": _mcp(results),
        "responders": rates,
        "responder_tests": tests,
        "categories": _categories(results),
        "ae": _ae(results),
        "exposure": results.exposure[FRAME_COLUMNS["exposure"]].reset_index(drop=True),
        "sensitivity": sensitivity,
        "sensitivity_mcp": sensitivity_mcp,
        "tipping_point": tipping,
    }
