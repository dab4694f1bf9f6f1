"""The analysis pipeline: ADaM data and an analysis spec in, the report (HTML, RTF, figures, results.json) out.

:func:`analyze` reads the datasets of an :class:`~dosefinding.study.analysis_spec.AnalysisSpec`
(:func:`~dosefinding.adam.read_adam`), applies its populations and runs, each in a small
function of its own and each with the package's one implementation of the method:

* ``baseline``: Table 1 (:func:`~dosefinding.report.baseline_table`) and the patient
  flow, Figure 1 (:func:`~dosefinding.report.patient_flow`);
* ``efficacy_mmrm``: an MMRM (:func:`~dosefinding.mmrm.mmrm`) per continuous endpoint,
  ``response ~ arm * visit + covariates``, with LS means and differences against placebo
  per visit (:meth:`~dosefinding.mmrm.MMRMResult.lsmeans`);
* ``mcpmod_primary``: MCP-Mod (:func:`~dosefinding.mod.mcpmod`) on the primary
  endpoint's LS means at the primary visit with their covariance
  (:func:`~dosefinding.mod.mmrm_estimates`), and bootstrap model averaging
  (:func:`~dosefinding.mod.model_average`);
* ``responders`` (:func:`~dosefinding.endpoints.responder_rates`,
  :func:`~dosefinding.endpoints.compare_responders`), ``categories``
  (:func:`~dosefinding.endpoints.category_table`), ``safety``
  (:func:`~dosefinding.endpoints.ae_overview`, :func:`~dosefinding.endpoints.ae_incidence`),
  ``biomarkers`` (means, or geometric means, by arm and visit) and, for a virtual trial,
  ``published_vs_virtual`` (:func:`~dosefinding.report.comparison_table`).

The report is laid out as the A2201 paper's: Table 1 (baseline), Table 2 (efficacy, with
the MCP step per shape), Table 3 (adverse events), Figure 1 (patient flow), Figure 2
(primary endpoint over time, dose-response, responders, categories, other endpoints over
time) and Figure 3 (biomarkers by arm over time).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from dosefinding.adam import read_adam
from dosefinding.endpoints import ae_incidence, ae_overview, category_table, compare_responders, responder_rates
from dosefinding.errors import DoseFindingError, InputError
from dosefinding.mmrm import LSMeans, MMRMResult, mmrm
from dosefinding.mod import MCPModResult, ModelAverage, mcpmod, mmrm_estimates, model_average
from dosefinding.report import (
    Report,
    ReportFiles,
    Table,
    baseline_table,
    comparison_table,
    counts_table,
    dose_response,
    dose_response_data,
    format_estimate_ci,
    format_n_percent,
    format_number,
    mcpmod_results,
    mcpmod_table,
    over_time,
    patient_flow,
    point_range,
    responder_bars,
    stacked_shares,
)
from dosefinding.shapes import Candidates
from dosefinding.study.analysis_spec import (
    AnalysisSpec,
    BiomarkerSpec,
    CategorySpec,
    EndpointSpec,
    PublishedFigure,
    ResponderSpec,
    load_analysis_spec,
)

__all__ = ["AnalysisResult", "EndpointFit", "a2201_analysis_text", "analyze", "endpoint_data", "load_data", "run_demo"]

_POPULATION_LABELS = {"randomised": "Randomised", "safety": "Safety set", "full_analysis": "Full analysis set",
                      "completed": "Completed"}


@dataclass(frozen=True)
class EndpointFit:
    """The MMRM of one endpoint: the rows analysed, the fit, LS means by visit and the visit labels."""

    spec: EndpointSpec
    data: pd.DataFrame = field(repr=False)
    fit: MMRMResult = field(repr=False)
    lsmeans: LSMeans = field(repr=False)
    visits: Mapping[float, str]


@dataclass(frozen=True)
class AnalysisResult:
    """What :func:`analyze` computed and wrote.

    Attributes
    ----------
    spec
        The analysis spec.
    report
        The report document.
    files
        What was written (``None`` without an output directory).
    endpoints
        The MMRM per endpoint.
    mcpmod
        MCP-Mod on the primary endpoint, or ``None``.
    model_average
        Bootstrap model averaging on the primary endpoint, or ``None``.
    """

    spec: AnalysisSpec
    report: Report = field(repr=False)
    files: ReportFiles | None
    endpoints: Mapping[str, EndpointFit] = field(repr=False)
    mcpmod: MCPModResult | None = field(repr=False)
    model_average: ModelAverage | None = field(repr=False)

    def summary(self) -> str:
        """Headline numbers: the primary endpoint's differences to placebo and the MCP-Mod result."""
        lines = [f"{self.spec.title}"]
        if self.files is not None:
            lines.append(f"Report: {self.files.html}")
        primary = self.spec.primary
        if primary is not None:
            fit = self.endpoints[primary.endpoint]
            label = fit.visits[primary.visit]
            diffs = fit.lsmeans.differences.xs(label, level=0)
            lines.append(f"{fit.spec.label}, {label}: LS-mean difference to placebo (95% CI)")
            for arm in self.spec.arms.names[1:]:
                if arm in diffs.index:
                    row = diffs.loc[arm]
                    lines.append(f"  {arm}: {format_estimate_ci(row['estimate'], row['lower'], row['upper'])}")
        if self.mcpmod is not None:
            p = self.mcpmod.mct.p_values
            assert p is not None
            lines.append("MCP step, adjusted p-values: " + ", ".join(f"{s} {v:.4f}" for s, v in p.items()))
            if self.mcpmod.selection is not None and self.mcpmod.selection.selected is not None:
                lines.append(f"Selected shape: {self.mcpmod.selection.selected}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- data


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "x"


def _need(frame: pd.DataFrame, columns: list[str], dataset: str, key: str) -> None:
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        raise InputError(f"{key}: column(s) {', '.join(missing)} not found in {dataset}")


def _flag(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].astype("string").str.strip().eq("Y").fillna(False).astype(bool)


def load_data(spec: AnalysisSpec) -> dict[str, pd.DataFrame]:
    """The datasets of ``spec`` (``read_adam``), ADSL checked for the subject, arm and population columns.

    Raises :class:`InputError` naming the spec key and column at fault: a missing column,
    an arm of the data without a dose in ``arms.doses``, an arm of ``arms.doses`` not in the data.
    """
    data = {}
    for name, path in spec.data.items():
        try:
            data[name] = read_adam(path)
        except InputError as exc:
            raise InputError(f"data.{name}: {exc}") from None
    adsl = data["adsl"]
    _need(adsl, [spec.subject], "adsl", "study.subject")
    _need(adsl, [spec.arms.variable], "adsl", "arms.variable")
    for population, column in spec.populations.items():
        _need(adsl, [column], "adsl", f"populations.{population}")
    randomised = adsl[_flag(adsl, spec.populations["randomised"])]
    if randomised.empty:
        raise InputError(f"populations.randomised: no subject of adsl has {spec.populations['randomised']} = 'Y'")
    present = list(pd.unique(randomised[spec.arms.variable].astype(str)))
    no_dose = [a for a in present if a not in spec.arms.doses]
    if no_dose:
        raise InputError(f"arms.doses: no dose for arm(s) {no_dose} of {spec.arms.variable} in adsl")
    absent = [a for a in spec.arms.names if a not in present]
    if absent:
        raise InputError(f"arms.doses: arm(s) {absent} not found in {spec.arms.variable} of adsl "
                         f"(randomised arms: {present})")
    data["adsl"] = adsl.assign(**{spec.arms.variable: adsl[spec.arms.variable].astype(str)})
    return data


def _arm_factor(values: pd.Series, spec: AnalysisSpec) -> pd.Categorical:
    return pd.Categorical(values.astype(str), categories=list(spec.arms.names))


def _subjects(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame], population: str,
              extra: Sequence[str] = ()) -> pd.DataFrame:
    adsl = data["adsl"]
    chosen = adsl[_flag(adsl, spec.populations[population]) & _flag(adsl, spec.populations["randomised"])]
    out = chosen[[spec.subject, spec.arms.variable, *extra]].copy()
    out[spec.arms.variable] = _arm_factor(out[spec.arms.variable], spec)
    return out


def _visit_labels(frame: pd.DataFrame, visit: str, label: str) -> dict[float, str]:
    pairs = frame[[visit, label]].dropna().drop_duplicates(visit).sort_values(visit)
    return {float(v): str(lab) for v, lab in zip(pairs[visit], pairs[label], strict=True)}


def _select_visits(available: list[float], wanted: tuple[float, ...] | None, key: str, column: str,
                   dataset: str) -> list[float]:
    if wanted is None:
        return [v for v in available if v != 0]
    missing = [v for v in wanted if v not in available]
    if missing:
        raise InputError(f"{key}: visit(s) {[f'{v:g}' for v in missing]} not found in {column} of {dataset} "
                         f"(visits: {[f'{v:g}' for v in available]})")
    return list(wanted)


def _parameter_rows(frame: pd.DataFrame, paramcd: str, dataset: str, key: str) -> pd.DataFrame:
    _need(frame, ["PARAMCD"], dataset, key)
    rows = frame[frame["PARAMCD"].astype(str) == paramcd]
    if rows.empty:
        known = sorted(frame["PARAMCD"].dropna().astype(str).unique())
        raise InputError(f"{key}: {paramcd!r} not found in PARAMCD of {dataset} (values: {', '.join(known)})")
    return rows


def _terms(covariates: tuple[str, ...]) -> list[str]:
    return [name for term in covariates for name in re.split(r"[:*]", term) if name]


def endpoint_data(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame], name: str) -> tuple[pd.DataFrame,
                                                                                              dict[float, str]]:
    """The rows of endpoint ``name`` analysed: its PARAMCD, filters, population and visits, with ADSL's arm.

    The arm is a categorical in the order of ``arms.doses``, the visit label
    (``visit_label``) a categorical in visit order. Returns the rows and the label of each
    analysed visit.
    """
    e = spec.endpoints[name]
    key = f"endpoints.{name}"
    bds = _parameter_rows(data[e.dataset], e.paramcd, e.dataset, f"{key}.paramcd")
    _need(bds, [spec.subject], e.dataset, "study.subject")
    _need(bds, [e.visit], e.dataset, f"{key}.visit")
    _need(bds, [e.visit_label], e.dataset, f"{key}.visit_label")
    _need(bds, [e.response], e.dataset, f"{key}.response")
    for kind, filters in (("where", e.where), ("exclude", e.exclude)):
        _need(bds, list(filters), e.dataset, f"{key}.{kind}")
    for column, values in e.where.items():
        bds = bds[bds[column].isin(values)]
    for column, values in e.exclude.items():
        bds = bds[~bds[column].isin(values)]
    adsl = data["adsl"]
    from_adsl = [c for c in _terms(e.covariates) if c not in bds.columns]
    missing = [c for c in from_adsl if c not in adsl.columns]
    if missing:
        raise InputError(f"{key}.covariates: column(s) {', '.join(missing)} not found in {e.dataset} or adsl")
    subjects = _subjects(spec, data, e.population, from_adsl)
    bds = bds.drop(columns=[spec.arms.variable], errors="ignore").merge(subjects, on=spec.subject, how="inner")
    bds[e.visit] = pd.to_numeric(bds[e.visit], errors="coerce").astype(float)
    labels = _visit_labels(bds, e.visit, e.visit_label)
    visits = _select_visits(list(labels), e.visits, f"{key}.visits", e.visit, e.dataset)
    if e.primary_visit not in labels:
        raise InputError(f"{key}.primary_visit: visit {e.primary_visit:g} not found in {e.visit} of {e.dataset} "
                         f"(visits: {[f'{v:g}' for v in labels]})")
    bds = bds[bds[e.visit].isin(visits)].copy()
    for column in e.factors:
        bds[column] = pd.Categorical(bds[column].astype(str))
    chosen = {v: labels[v] for v in visits}
    bds[e.visit_label] = pd.Categorical(bds[e.visit].map(chosen), categories=list(chosen.values()))
    return bds, chosen


# --------------------------------------------------------------------------- analyses


def baseline(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame]) -> Table | None:
    """Table 1: baseline characteristics by arm in the baseline population."""
    if spec.baseline is None:
        return None
    b = spec.baseline
    adsl = data["adsl"]
    _need(adsl, list(b.variables) + list(b.categorical), "adsl", "baseline.variables")
    subjects = _subjects(spec, data, b.population, [c for c in b.variables if c != spec.arms.variable])
    return baseline_table(subjects, arm=spec.arms.variable, variables=dict(b.variables), arms=list(spec.arms.names),
                          categorical=list(b.categorical), id="table-1",
                          title="Table 1. Demographic and baseline characteristics",
                          subtitle=_POPULATION_LABELS[b.population], stub_header="Characteristic")


def patient_flow_counts(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Subjects per arm at each stage (randomised, safety set, full analysis set, completed), each stage
    counting the subjects of the stage before who are also in it."""
    adsl = data["adsl"]
    keep = pd.Series(True, index=adsl.index)
    stages = {}
    arm = _arm_factor(adsl[spec.arms.variable], spec)
    for population in ("randomised", "safety", "full_analysis", "completed"):
        if population not in spec.populations:
            continue
        keep = keep & _flag(adsl, spec.populations[population])
        stages[_POPULATION_LABELS[population]] = pd.Series(arm[keep.to_numpy()]).value_counts().reindex(
            list(spec.arms.names), fill_value=0)
    return pd.DataFrame(stages)


def efficacy_mmrm(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame], name: str) -> EndpointFit:
    """The MMRM of endpoint ``name``: ``response ~ arm * visit + covariates``, LS means per visit against placebo."""
    e = spec.endpoints[name]
    rows, visits = endpoint_data(spec, data, name)
    arm = spec.arms.variable
    formula = " + ".join([f"{e.response} ~ {arm} * {e.visit_label}", *e.covariates])
    try:
        fit = mmrm(formula, rows, subject=spec.subject, visit=e.visit_label, covariance=e.covariance,
                   df_method=e.df_method)
    except DoseFindingError as exc:  # InputError or ConvergenceError: say which endpoint
        raise type(exc)(f"endpoints.{name}: {exc}") from None
    ls = fit.lsmeans(arm, by=e.visit_label, reference=spec.arms.placebo)
    return EndpointFit(spec=e, data=rows, fit=fit, lsmeans=ls, visits=visits)


def _ci_values(row: pd.Series) -> dict[str, float]:
    return {k: float(row[k]) for k in ("estimate", "se", "df", "lower", "upper", "p") if k in row.index}


def lsmeans_table(spec: AnalysisSpec, result: EndpointFit, number: int) -> Table:
    """LS means (SE) and differences to placebo (95% CI) by visit and arm for one endpoint."""
    est, diff = result.lsmeans.estimates, result.lsmeans.differences
    cells: dict[tuple[str, str], list[str]] = {}
    values: dict[tuple[str, str], list[Any]] = {}
    labels = list(result.visits.values())
    for arm in spec.arms.names:
        ls_key, diff_key = (arm, "LS mean (SE)"), (arm, "Difference (95% CI)")
        cells[ls_key], values[ls_key], cells[diff_key], values[diff_key] = [], [], [], []
        for label in labels:
            row = est.loc[(label, arm)]
            cells[ls_key].append(f"{format_number(row['estimate'], 2)} ({format_number(row['se'], 2)})")
            values[ls_key].append(_ci_values(row))
            if arm == spec.arms.placebo:
                cells[diff_key].append("")
                values[diff_key].append(None)
            else:
                d = diff.loc[(label, arm)]
                cells[diff_key].append(format_estimate_ci(d["estimate"], d["lower"], d["upper"]))
                values[diff_key].append(_ci_values(d))
    columns = pd.MultiIndex.from_tuples(list(cells))
    frame = pd.DataFrame(list(zip(*cells.values(), strict=True)), index=pd.Index(labels, name="Visit"),
                         columns=columns)
    numbers = pd.DataFrame(list(zip(*values.values(), strict=True)), index=frame.index, columns=columns)
    e = result.spec
    return Table.from_frame(
        frame, values=numbers, id=f"table-2-{number}-{_slug(e.name)}",
        title=f"Table 2.{number}. {e.label}: LS mean {e.response} by visit and difference to placebo",
        subtitle=_POPULATION_LABELS[e.population],
        footnotes=[(f"MMRM {result.fit.formula}; {e.covariance} covariance, REML, {e.df_method} df; "
                    f"{result.fit.n_subjects} subjects, {result.fit.n_obs} observations.")],
    )


def efficacy_table(spec: AnalysisSpec, fits: Mapping[str, EndpointFit]) -> Table:
    """Table 2: each endpoint's LS-mean difference to placebo (95% CI) at its primary visit, by active arm."""
    active = tuple(a for a in spec.arms.names if a != spec.arms.placebo)
    cells, values, index = [], [], []
    for result in fits.values():
        label = result.visits[result.spec.primary_visit]
        row_cells, row_values = [], []
        for arm in active:
            d = result.lsmeans.differences.loc[(label, arm)]
            row_cells.append(f"{format_estimate_ci(d['estimate'], d['lower'], d['upper'])}; p = "
                             f"{format_number(d['p'], 3)}")
            row_values.append(_ci_values(d))
        cells.append(row_cells)
        values.append(row_values)
        index.append(f"{result.spec.label}, {label}")
    frame = pd.DataFrame(cells, index=pd.Index(index, name="Endpoint"), columns=list(active))
    numbers = pd.DataFrame(values, index=frame.index, columns=list(active))
    return Table.from_frame(frame, values=numbers, id="table-2",
                            title="Table 2. Efficacy: LS-mean difference to placebo at the primary visit",
                            subtitle=_POPULATION_LABELS["full_analysis"],
                            footnotes=["Difference (95% CI); two-sided p-value of the MMRM contrast."])


def mcpmod_primary(spec: AnalysisSpec, fits: Mapping[str, EndpointFit]) -> tuple[MCPModResult, ModelAverage | None]:
    """MCP-Mod on the primary endpoint's LS means at the primary visit, and bootstrap model averaging."""
    p = spec.primary
    assert p is not None
    result = fits[p.endpoint]
    label = result.visits[p.visit]
    estimates = mmrm_estimates(result.fit, arm=spec.arms.variable, doses=dict(spec.arms.doses), visit=label,
                               df="min" if p.df == "min" else None)
    try:
        candidates = Candidates(estimates.doses, dict(p.candidates), direction=p.direction)
    except InputError as exc:
        raise InputError(f"primary.candidates: {exc}") from None
    fitted = mcpmod(candidates, **estimates, alpha=p.alpha, selection=p.selection, delta=p.delta, seed=p.seed)
    averaged = None
    if p.model_average_draws > 0:
        shapes = list(dict.fromkeys(m.shape for m in candidates.models))
        averaged = model_average(shapes, doses=estimates.doses, estimates=estimates.estimates.to_numpy(),
                                 cov=estimates.cov.to_numpy(), n_draws=p.model_average_draws, kind="effect",
                                 predict_doses=np.union1d(np.linspace(0.0, float(estimates.doses.max()), 61),
                                                          estimates.doses),
                                 delta=p.delta, seed=p.seed)
    return fitted, averaged


def mod_table(result: MCPModResult) -> Table | None:
    """The Mod step: the selection criterion and the target dose of each fitted (significant) shape."""
    if result.selection is None:
        return None
    criteria = result.selection.criteria
    td = result.target_doses
    shapes = list(criteria.index)
    has_td = "TD" in td.columns
    cells = pd.DataFrame({str(criteria.name): [format_number(criteria[s], 2) for s in shapes]},
                         index=pd.Index(shapes, name="Shape"))
    values = pd.DataFrame({str(criteria.name): [float(criteria[s]) for s in shapes]}, index=cells.index)
    if has_td:
        cells["Target dose (mg)"] = [format_number(td.loc[s, "TD"], 1) for s in shapes]
        values["Target dose (mg)"] = [None if pd.isna(td.loc[s, "TD"]) else float(td.loc[s, "TD"]) for s in shapes]
    chosen = result.selection.selected
    note = (f"Selected shape: {chosen} (smallest {criteria.name})." if chosen is not None
            else "Model averaging with AIC weights.")
    if result.delta is not None:
        note += f" Target dose: the smallest dose with an effect of {result.delta:g} over placebo."
    return Table.from_frame(cells, values=values, id="table-2-mod",
                            title="Table 2 (continued). MCP-Mod: fitted shapes and target doses", footnotes=[note])


def model_average_table(spec: AnalysisSpec, averaged: ModelAverage) -> Table:
    """How often each shape was selected over the bootstrap draws, and the target dose's quantiles."""
    rows = {f"Selected: {shape}": [f"{100 * float(f):.1f}%"] for shape, f in averaged.frequencies.items()}
    values = {f"Selected: {shape}": [float(f)] for shape, f in averaged.frequencies.items()}
    if averaged.target_dose_quantiles is not None:
        for prob, dose in averaged.target_dose_quantiles.items():
            rows[f"Target dose, {100 * float(prob):g}% quantile"] = [format_number(dose, 1)]
            values[f"Target dose, {100 * float(prob):g}% quantile"] = [None if pd.isna(dose) else float(dose)]
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["Value"])
    numbers = pd.DataFrame.from_dict(values, orient="index", columns=["Value"])
    assert spec.primary is not None
    return Table.from_frame(frame, values=numbers, id="table-2-ma",
                            title="Table 2 (continued). Bootstrap model averaging of the dose-response",
                            footnotes=[(f"{averaged.draws.shape[0]} draws of the estimates; per draw the shape "
                                        "with the smallest gAIC.")])


def _responder_frame(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame], fits: Mapping[str, EndpointFit],
                     r: ResponderSpec, index: int) -> pd.DataFrame:
    result = fits[r.endpoint]
    key = f"responders[{index}]"
    if r.visit not in result.visits:
        raise InputError(f"{key}.visit: {r.visit:g} is not an analysed visit of endpoints.{r.endpoint} "
                         f"({[f'{v:g}' for v in result.visits]})")
    rows = result.data[result.data[result.spec.visit] == r.visit]
    needed = [r.flag] if r.flag is not None else [r.criterion[0]]  # type: ignore[index]
    _need(rows, needed, result.spec.dataset, f"{key}.{'flag' if r.flag else 'criterion'}")
    rows = rows.assign(_RESPONSE=r.respond(rows))[[spec.subject, "_RESPONSE"]]
    subjects = _subjects(spec, data, result.spec.population)
    return subjects.merge(rows, on=spec.subject, how="left")


def responders(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame], fits: Mapping[str, EndpointFit]) -> tuple[
        Table | None, list[tuple[ResponderSpec, pd.DataFrame]]]:
    """Responder rates (Clopper-Pearson) and differences to placebo for each responder definition."""
    if not spec.responders:
        return None, []
    arm = spec.arms.variable
    cells, values, index, frames = [], [], [], []
    for i, r in enumerate(spec.responders):
        frame = _responder_frame(spec, data, fits, r, i)
        rates = responder_rates(frame, arm=arm, response="_RESPONSE", missing=r.missing, arms=list(spec.arms.names))
        comparison = compare_responders(frame, arm=arm, response="_RESPONSE", reference=spec.arms.placebo,
                                        missing=r.missing, arms=list(spec.arms.names))
        row_cells, row_values = [], []
        for a in spec.arms.names:
            t = rates.table.loc[a]
            row_cells.append(f"{int(t['responders'])}/{int(t['n'])} ({t['percent']:.1f}%)")
            row_values.append({k: float(t[k]) for k in ("responders", "n", "percent", "lower", "upper")})
            if a != spec.arms.placebo:
                d = comparison.table.loc[a]
                row_cells.append(format_estimate_ci(d["difference"], d["lower"], d["upper"], 1))
                row_values.append({k: float(d[k]) for k in ("difference", "lower", "upper", "p_value")})
        cells.append(row_cells)
        values.append(row_values)
        index.append(r.name)
        frames.append((r, rates.table.reset_index(names="arm")))
    columns = pd.MultiIndex.from_tuples([c for a in spec.arms.names for c in
                                         ([(a, "n/N (%)")] + ([(a, "Difference (95% CI)")]
                                                              if a != spec.arms.placebo else []))])
    frame = pd.DataFrame(cells, index=pd.Index(index, name="Responder definition"), columns=columns)
    numbers = pd.DataFrame(values, index=frame.index, columns=columns)
    table = Table.from_frame(frame, values=numbers, id="table-2-responders",
                             title="Table 2 (continued). Responders", subtitle=_POPULATION_LABELS["full_analysis"],
                             footnotes=[("Percentages with Clopper-Pearson 95% CIs; differences in percentage "
                                         "points against placebo (95% CI).")])
    return table, frames


def categories(spec: AnalysisSpec, fits: Mapping[str, EndpointFit]) -> list[tuple[CategorySpec, Table, pd.DataFrame]]:
    """Category shares by arm at a visit, for each category definition."""
    out = []
    for i, c in enumerate(spec.categories):
        result = fits[c.endpoint]
        key = f"categories[{i}]"
        if c.visit not in result.visits:
            raise InputError(f"{key}.visit: {c.visit:g} is not an analysed visit of endpoints.{c.endpoint}")
        _need(result.data, [c.value], result.spec.dataset, f"{key}.value")
        counted = category_table(result.data, arm=spec.arms.variable, visit=result.spec.visit, value=c.value,
                                 cut_points=list(c.cut_points), labels=list(c.labels), cut_belongs_to=c.cut_belongs_to,
                                 subject=spec.subject, arms=list(spec.arms.names), visits=[c.visit])
        t = counted.table.xs(c.visit, level="visit")
        shown = [k for k in counted.categories if k in c.labels or t.xs(k, level="category")["n"].sum() > 0]
        cells = pd.DataFrame({a: [format_n_percent(int(t.loc[(a, k), "n"]), int(t.loc[(a, k), "total"]))
                                  for k in shown] for a in spec.arms.names}, index=pd.Index(shown, name="Category"))
        numbers = pd.DataFrame({a: [{"n": int(t.loc[(a, k), "n"]), "percent": float(t.loc[(a, k), "percent"])}
                                    for k in shown] for a in spec.arms.names}, index=cells.index)
        table = Table.from_frame(cells, values=numbers, id=f"table-2-category-{i + 1}",
                                 title=f"Table 2 (continued). {c.name}, {result.visits[c.visit]}")
        shares = pd.DataFrame({k: [float(t.loc[(a, k), "percent"]) for a in spec.arms.names] for k in shown},
                              index=list(spec.arms.names))
        out.append((c, table, shares))
    return out


def safety(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame]) -> tuple[Table | None, Mapping[str, pd.DataFrame]]:
    """Table 3: overview of adverse events and subjects with events by system organ class and preferred term."""
    s = spec.safety
    if s is None:
        return None, {}
    adsl, adae = data["adsl"], data[s.dataset]
    _need(adsl, [s.arm], "adsl", "safety.arm")
    _need(adae, [spec.subject, "AEBODSYS", "AEDECOD"], s.dataset, "safety.dataset")
    if s.teae:
        _need(adae, [s.teae], s.dataset, "safety.teae")
    adsl = adsl.assign(**{s.arm: adsl[s.arm].astype(str)})
    arms = [a for a in spec.arms.names if a in set(adsl.loc[_flag(adsl, spec.populations["safety"]), s.arm])]
    kwargs = {"arm": s.arm, "population": spec.populations["safety"], "teae": s.teae, "arms": arms}
    overview = ae_overview(adae, adsl, **kwargs)
    incidence = ae_incidence(adae, adsl, **kwargs)
    percent = incidence.percent.drop(columns="Total", errors="ignore").max(axis=1)
    index = incidence.counts.index
    pt_kept = (index.get_level_values(1) != "") & (percent.to_numpy() >= s.min_percent)
    socs = set(index.get_level_values(0)[pt_kept])
    keep = pt_kept | ((index.get_level_values(1) == "") & (index.get_level_values(0).isin(socs) | (
        index.get_level_values(0) == "ANY EVENT")))
    denominators = overview.denominators
    label = "treatment-emergent " if s.teae else ""
    parts = [counts_table(overview.counts, denominators, id="table-3-overview", title=""),
             counts_table(incidence.counts[keep], denominators, id="table-3-terms", title="")]
    notes = list(dict.fromkeys(overview.notes + incidence.notes))
    if s.min_percent > 0:
        notes.append(f"Preferred terms reported by at least {s.min_percent:g}% of patients in any arm.")
    table = Table.concat(parts, id="table-3", title=f"Table 3. Patients with {label}adverse events, n (%)",
                         subtitle=_POPULATION_LABELS["safety"], stub_header="", footnotes=notes)
    return table, {"overview": overview.percent, "terms": incidence.percent}


def biomarker_summary(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame], b: BiomarkerSpec) -> pd.DataFrame:
    """Mean (geometric mean when ``log``) with a t-based 95% CI of ``value`` by arm and visit."""
    key = f"biomarkers.{b.name}"
    rows = _parameter_rows(data[b.dataset], b.paramcd, b.dataset, f"{key}.paramcd")
    _need(rows, [spec.subject, "AVISITN", b.value], b.dataset, f"{key}.value")
    subjects = _subjects(spec, data, b.population)
    rows = rows.drop(columns=[spec.arms.variable], errors="ignore").merge(subjects, on=spec.subject, how="inner")
    rows = rows.assign(AVISITN=pd.to_numeric(rows["AVISITN"], errors="coerce").astype(float))
    available = sorted(rows["AVISITN"].dropna().unique())
    visits = available if b.visits is None else _select_visits(available, b.visits, f"{key}.visits", "AVISITN",
                                                                b.dataset)
    rows = rows[rows["AVISITN"].isin(visits)]
    y = pd.to_numeric(rows[b.value], errors="coerce").to_numpy(dtype=float)
    if b.log:
        if np.any(y[np.isfinite(y)] <= 0):
            raise InputError(f"{key}.log: {b.value} has values <= 0; a geometric mean needs positive values")
        y = np.log(y)
    frame = pd.DataFrame({"visit": rows["AVISITN"].to_numpy(), "arm": np.asarray(rows[spec.arms.variable]), "y": y})
    frame = frame[np.isfinite(frame["y"])]
    grouped = frame.groupby(["arm", "visit"], observed=True, sort=False)["y"]
    summary = grouped.agg(["count", "mean", "std"]).reset_index()
    half = stats.t.ppf(0.975, np.maximum(summary["count"] - 1, 1)) * summary["std"] / np.sqrt(summary["count"])
    summary["lower"], summary["upper"] = summary["mean"] - half, summary["mean"] + half
    summary = summary.rename(columns={"count": "n", "mean": "estimate"})
    if b.log:
        for column in ("estimate", "lower", "upper"):
            summary[column] = np.exp(summary[column])
    summary["arm"] = pd.Categorical(summary["arm"], categories=list(spec.arms.names))
    summary = summary.sort_values(["arm", "visit"]).reset_index(drop=True)
    summary["arm"] = summary["arm"].astype(str)
    return summary[["arm", "visit", "n", "estimate", "lower", "upper"]]


def published_vs_virtual(spec: AnalysisSpec, fits: Mapping[str, EndpointFit], responder_frames: list[tuple[
        ResponderSpec, pd.DataFrame]], data: Mapping[str, pd.DataFrame], ae: Mapping[str, pd.DataFrame]) -> Table | None:
    """Published figures against the virtual trial's, with the difference."""
    if not spec.published:
        return None
    rows = {}
    for i, f in enumerate(spec.published):
        rows[f.label] = (f.value, _virtual_value(spec, fits, responder_frames, data, ae, f, i))
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["Published", "Virtual trial"])
    return comparison_table(frame, id="table-4", title="Table 4. Published versus virtual-trial figures",
                            digits=[f.digits for f in spec.published],
                            footnotes=["Published: the trial report; virtual trial: this analysis of simulated data."])


def _virtual_value(spec: AnalysisSpec, fits: Mapping[str, EndpointFit], responder_frames: list[tuple[
        ResponderSpec, pd.DataFrame]], data: Mapping[str, pd.DataFrame], ae: Mapping[str, pd.DataFrame],
        f: PublishedFigure, i: int) -> float:
    key = f"published[{i}]"
    if f.quantity == "difference":
        result = fits[f.endpoint]  # type: ignore[index]
        if f.visit not in result.visits:
            raise InputError(f"{key}.visit: {f.visit:g} is not an analysed visit of endpoints.{f.endpoint}")
        return float(result.lsmeans.differences.loc[(result.visits[f.visit], f.arm), "estimate"])
    if f.quantity == "responders":
        table = next(t for r, t in responder_frames if r.name == f.responder)
        return float(table.set_index("arm").loc[f.arm, "percent"])
    if f.quantity == "baseline_mean":
        subjects = _subjects(spec, data, "randomised", [])
        adsl = data["adsl"]
        _need(adsl, [f.variable], "adsl", f"{key}.variable")  # type: ignore[list-item]
        values = adsl.set_index(spec.subject).loc[subjects[spec.subject], f.variable]
        return float(pd.to_numeric(values, errors="coerce").mean())
    for frame in ae.values():
        labels = frame.index.get_level_values(-1) if isinstance(frame.index, pd.MultiIndex) else frame.index
        first = frame.index.get_level_values(0) if isinstance(frame.index, pd.MultiIndex) else frame.index
        hit = (labels == f.term) | ((labels == "") & (first == f.term))
        if hit.any():
            return float(frame.loc[hit, f.arm].iloc[0])
    raise InputError(f"{key}.term: {f.term!r} is not a row of the adverse-event tables")


# --------------------------------------------------------------------------- the report


def _populations(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame]) -> dict[str, dict[str, Any]]:
    adsl = data["adsl"]
    out = {}
    for name, flag in spec.populations.items():
        arms = _arm_factor(adsl.loc[_flag(adsl, flag) & _flag(adsl, spec.populations["randomised"]),
                                    spec.arms.variable], spec)
        counts = pd.Series(arms).value_counts().reindex(list(spec.arms.names), fill_value=0)
        out[_POPULATION_LABELS[name]] = {"description": f"{flag} = 'Y'",
                                         "n": {str(a): int(n) for a, n in counts.items()}}
    return out


def _over_time_frame(result: EndpointFit) -> pd.DataFrame:
    est = result.lsmeans.estimates.reset_index()
    number = {label: v for v, label in result.visits.items()}
    arm_column = est.columns[1]
    return pd.DataFrame({"visit": est.iloc[:, 0].map(number).astype(float), "arm": est[arm_column].astype(str),
                         "estimate": est["estimate"], "lower": est["lower"], "upper": est["upper"]})


def _draw_model_average(figure: Any, averaged: ModelAverage) -> pd.DataFrame:
    """The bootstrap model-averaged curve (median, 2.5% and 97.5% quantiles) over the dose-response figure."""
    quantiles = averaged.quantiles
    doses = quantiles.columns.to_numpy(dtype=float)
    axes = figure.axes[0]
    rows = {float(p): quantiles.loc[p].to_numpy(dtype=float) for p in quantiles.index}
    median = rows.get(0.5)
    if median is not None:
        axes.plot(doses, median, linestyle="--", color="0.25", label="Bootstrap model average (median)")
    if 0.025 in rows and 0.975 in rows:
        axes.plot(doses, rows[0.025], linestyle=":", color="0.25", label="Bootstrap 2.5% and 97.5% quantiles")
        axes.plot(doses, rows[0.975], linestyle=":", color="0.25")
    axes.legend(frameon=False)
    return quantiles.T.rename_axis("dose").rename(columns=lambda p: f"q{float(p):g}")


class _Letters:
    def __init__(self) -> None:
        self.n = 0

    def next(self) -> str:
        self.n += 1
        return "abcdefghijklmnopqrstuvwxyz"[self.n - 1] if self.n <= 26 else f"-{self.n}"


def analyze(spec: AnalysisSpec | str | PathLike[str], out_dir: str | PathLike[str] | None = None) -> AnalysisResult:
    """Run the analyses of ``spec`` on its ADaM data and build (and, given ``out_dir``, write) the report.

    Parameters
    ----------
    spec
        An :class:`AnalysisSpec` or the path of its TOML file.
    out_dir
        Directory for ``report.html``, ``results.json``, ``tables/*.rtf`` and
        ``figures/*.png|svg``; ``None``: build the report without writing it.

    Returns
    -------
    AnalysisResult

    Raises
    ------
    InputError
        Naming the spec key and the column at fault (an unknown endpoint, an arm
        without a dose, a visit not in the data, a column missing).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from dosefinding.study import simulate_trial
    >>> from dosefinding.study.analysis_spec import parse_analysis_spec
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = simulate_trial("a2201", seed=7).write(Path(tmp) / "adam")
    ...     spec = parse_analysis_spec(a2201_analysis_text(), base=tmp)
    ...     result = analyze(spec)
    >>> list(result.endpoints), result.mcpmod.mct.p_values.index[0]
    (['ESSDAI', 'PHGA', 'SFSTIM', 'ESSPRI'], 'linear')
    """
    spec = spec if isinstance(spec, AnalysisSpec) else load_analysis_spec(spec)
    data = load_data(spec)
    for name, e in spec.endpoints.items():
        if e.dataset not in data:
            raise InputError(f"endpoints.{name}.dataset: {e.dataset!r} is not a dataset of [data]")
    fits = {name: efficacy_mmrm(spec, data, name) for name in spec.endpoints}
    fitted, averaged = (mcpmod_primary(spec, fits) if spec.primary is not None else (None, None))
    report = Report(title=spec.title, study=spec.name, synthetic=spec.synthetic, subtitle=spec.subtitle,
                    populations=_populations(spec, data))

    report = report.section("Patients", id="patients")
    flow = patient_flow_counts(spec, data)
    report = report.figure(patient_flow(screened=None, excluded=None, arms=flow), id="figure-1",
                           caption="Figure 1. Patient flow (each stage counts the patients of the stage above "
                                   "who are also in it)", data=flow.rename_axis("arm"))
    table_1 = baseline(spec, data)
    if table_1 is not None:
        report = report.table(table_1)

    report = report.section("Efficacy", id="efficacy")
    if fits:
        report = report.table(efficacy_table(spec, fits))
    if fitted is not None:
        report = report.table(mcpmod_table(fitted, id="table-2-mcp",
                                           title="Table 2 (continued). MCP-Mod: multiple contrast test per "
                                                 "candidate shape")).with_mcpmod(mcpmod_results(fitted))
    if fitted is not None and (table_mod := mod_table(fitted)) is not None:
        report = report.table(table_mod)
    if averaged is not None:
        report = report.table(model_average_table(spec, averaged))
    letters = _Letters()
    primary = spec.primary.endpoint if spec.primary is not None else None
    order = ([primary] if primary else []) + [n for n in fits if n != primary]
    if primary is not None:
        result = fits[primary]
        frame = _over_time_frame(result)
        report = report.figure(over_time(frame, title=result.spec.label), id=f"figure-2{letters.next()}",
                               caption=f"Figure 2{chr(96 + letters.n)}. {result.spec.label}: LS mean change from "
                                       "baseline over time by arm", data=frame)
        assert fitted is not None and spec.primary is not None
        visit_label = result.visits[spec.primary.visit]
        letter = letters.next()
        if fitted.selection is not None:
            figure = dose_response(fitted, title=f"{result.spec.label}, {visit_label}")
            numbers: Any = dose_response_data(fitted)
            if averaged is not None:
                numbers["model_average"] = _draw_model_average(figure, averaged)
        else:
            numbers = fitted.effect_estimates().reset_index(names="dose")
            figure = point_range(numbers.assign(arm=numbers["dose"].map(lambda d: f"{d:g} mg")),
                                 title=f"{result.spec.label}, {visit_label} (no shape significant)")
        curve = ("with the fitted dose-response curve and its 95% band" if fitted.selection is not None
                 else "(no candidate shape significant: no dose-response curve)")
        report = report.figure(figure, id=f"figure-2{letter}", data=numbers,
                               caption=f"Figure 2{letter}. {result.spec.label}: difference to placebo at "
                                       f"{visit_label} by dose {curve}")
    responder_table, responder_frames = responders(spec, data, fits)
    for r, table in responder_frames:
        letter = letters.next()
        report = report.figure(responder_bars(table, title=r.name), id=f"figure-2{letter}",
                               caption=f"Figure 2{letter}. {r.name}", data=table)
    category_results = categories(spec, fits)
    for c, _, shares in category_results:
        letter = letters.next()
        report = report.figure(stacked_shares(shares, title=c.name), id=f"figure-2{letter}",
                               caption=f"Figure 2{letter}. {c.name}, {fits[c.endpoint].visits[c.visit]}",
                               data=shares.rename_axis("arm"))
    for name in order[1:]:
        result = fits[name]
        frame = _over_time_frame(result)
        letter = letters.next()
        report = report.figure(over_time(frame, title=result.spec.label), id=f"figure-2{letter}",
                               caption=f"Figure 2{letter}. {result.spec.label}: LS mean change from baseline "
                                       "over time by arm", data=frame)
    if responder_table is not None:
        report = report.table(responder_table)
    for _, table, _ in category_results:
        report = report.table(table)
    for number, name in enumerate(order, start=1):
        report = report.table(lsmeans_table(spec, fits[name], number))

    table_3, ae_percent = safety(spec, data)
    if table_3 is not None:
        report = report.section("Safety", id="safety").table(table_3)

    if spec.biomarkers:
        report = report.section("Biomarkers and drug levels", id="biomarkers")
        letters = _Letters()
        for b in spec.biomarkers.values():
            summary = biomarker_summary(spec, data, b)
            letter = letters.next()
            kind = "Geometric mean" if b.log else "Mean"
            figure = over_time(summary, title=b.label, log=b.log, reference=None, baseline_point=False,
                               ylabel=f"{kind} {b.value} (95% CI)")
            report = report.figure(figure, id=f"figure-3{letter}", data=summary,
                                   caption=f"Figure 3{letter}. {b.label} by dose over time ({kind.lower()})")

    table_4 = published_vs_virtual(spec, fits, responder_frames, data, ae_percent)
    if table_4 is not None:
        report = report.section("Published versus virtual trial", id="published").table(table_4)

    files = report.write(out_dir) if out_dir is not None else None
    return AnalysisResult(spec=spec, report=report, files=files, endpoints=fits, mcpmod=fitted,
                          model_average=averaged)


A2201_ANALYSIS = "analysis/a2201.toml"


def a2201_analysis_text() -> str:
    """The analysis spec of the A2201 virtual trial (``examples/a2201_analysis.toml``), packaged with the presets.

    Examples
    --------
    >>> a2201_analysis_text().count("[endpoints.")
    4
    """
    from dosefinding.study.spec import preset_path

    return (preset_path("a2201").parent / A2201_ANALYSIS).read_text(encoding="utf-8")


def run_demo(out_dir: str | PathLike[str], *, seed: int | None = None,
             model_average_draws: int | None = None) -> AnalysisResult:
    """Simulate the A2201 virtual trial, write its ADaM datasets and analyse them: the ``dosefinding demo``.

    Writes ``out_dir/adam/*.csv`` (synthetic), ``out_dir/analysis.toml`` (the spec used:
    rerun it with ``dosefinding analyze``) and the report into ``out_dir``.
    ``model_average_draws`` overrides the spec's number of bootstrap draws.
    """
    from dataclasses import replace

    from dosefinding.study.simulate import simulate_trial

    if model_average_draws is not None and (isinstance(model_average_draws, bool) or model_average_draws < 0):
        raise InputError(f"model_average_draws: must be a whole number >= 0, got {model_average_draws!r}")
    out = Path(out_dir)
    simulate_trial("a2201", seed=seed).write(out / "adam")
    spec_file = out / "analysis.toml"
    spec_file.write_text(a2201_analysis_text(), encoding="utf-8")
    spec = load_analysis_spec(spec_file)
    if model_average_draws is not None and spec.primary is not None:
        spec = replace(spec, primary=replace(spec.primary, model_average_draws=model_average_draws))
    return analyze(spec, out)
