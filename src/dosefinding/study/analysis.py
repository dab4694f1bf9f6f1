"""The analyses of an analysis spec, as frozen numbers: :func:`analyze_study` returns a :class:`StudyResults`.

Nothing here knows a table number, a caption or a figure: a report layout
(:mod:`dosefinding.report.layout`) places these numbers. Each analysis uses the
package's one implementation of its method:

* disposition: ADSL flags, the end-of-study status and reason (``[disposition]``) and,
  when the spec names a DS-like dataset, its screening records (screened, excluded with
  the reasons); without screening records ``screened`` is ``None``, not 0;
* baseline: the baseline population's ADSL columns (summarised by the layout);
* one MMRM (:func:`~dosefinding.mmrm.mmrm`) per endpoint and per biomarker,
  ``response ~ arm * visit + covariates`` (``ancova``: one visit, ``response ~ arm +
  covariates``), LS means and differences against placebo;
* MCP-Mod (:func:`~dosefinding.mod.mcpmod`) and bootstrap model averaging
  (:func:`~dosefinding.mod.model_average`) of the primary endpoint at the primary visit,
  at the spec's ``primary.alpha`` (one-sided: the MCP step tests one direction);
* responders (:func:`~dosefinding.endpoints.responder_rates`,
  :func:`~dosefinding.endpoints.compare_responders`), categories at baseline and at the
  category visit (:func:`~dosefinding.endpoints.category_table`), adverse events
  (:func:`~dosefinding.endpoints.ae_overview`, :func:`~dosefinding.endpoints.ae_incidence`),
  exposure (mean and SD by dose and visit);
* the sensitivity analyses of each estimand that lists any, by multiple imputation
  (:mod:`dosefinding.study.sensitivity`).

:meth:`StudyResults.frames` gives every number as tidy pandas frames.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from dosefinding.endpoints import (
    AETable,
    ae_incidence,
    ae_overview,
    category_table,
    compare_responders,
    responder_rates,
)
from dosefinding.errors import DoseFindingError, DoseFindingWarning, InputError
from dosefinding.mmrm import LSMeans, MMRMResult, mmrm
from dosefinding.mod import MCPModResult, ModelAverage, mcpmod, mmrm_estimates, model_average
from dosefinding.progress import step
from dosefinding.shapes import Candidates
from dosefinding.study.analysis_data import (
    arm_factor,
    endpoint_data,
    flag,
    load_data,
    need_columns,
    parameter_rows,
    select_visits,
    subjects,
)
from dosefinding.study.analysis_spec import AnalysisSpec, CategorySpec, EndpointSpec, ResponderSpec
from dosefinding.study.estimands import EstimandData, estimand_data
from dosefinding.study.sensitivity import SensitivityResult, run_sensitivity
from dosefinding.study.tidy_frames import study_frames
from dosefinding.summary import Summary, SummaryDisplay, short_repr

__all__ = ["CategoryResult", "Disposition", "EndpointFit", "ResponderResult", "SafetyResult", "StudyResults",
           "analyze_study", "exposure_summary"]

POPULATION_LABELS = {"randomised": "Randomised", "safety": "Safety set", "full_analysis": "Full analysis set",
                     "completed": "Completed"}


@dataclass(frozen=True)
class EndpointFit:
    """The MMRM of one endpoint or biomarker: the rows analysed, the fit, LS means by visit and the visit labels."""

    spec: EndpointSpec
    data: pd.DataFrame = field(repr=False)
    fit: MMRMResult = field(repr=False)
    lsmeans: LSMeans = field(repr=False)
    visits: Mapping[float, str]
    estimand: EstimandData | None = field(default=None, repr=False)

    def n_by_visit(self, arm: str) -> pd.Series:
        """Subjects with a response, per (visit label, arm)."""
        rows = self.data[self.data[self.spec.response].notna()]
        return rows.groupby([self.spec.visit_label, arm], observed=False)[self.spec.visit].size()


@dataclass(frozen=True)
class Disposition:
    """Patients at each stage by arm, screening when recorded, and the reasons for discontinuation.

    Attributes
    ----------
    screened
        Patients screened (``None``: the data have no screening records).
    excluded
        Screened but not randomised, by reason (``None`` when not recorded).
    stages
        Index arm; columns ``Randomised``, ``Treated``, ``Completed``, ``Discontinued``.
    discontinued
        Index reason, one column per arm.
    source
        Where the counts come from (columns and datasets).
    criteria
        The reasons of ``excluded`` that are failed eligibility criteria (screen failures).
    """

    screened: int | None
    excluded: Mapping[str, int] | None
    stages: pd.DataFrame = field(repr=False)
    discontinued: pd.DataFrame = field(repr=False)
    source: str = ""
    criteria: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResponderResult:
    """Responder rates (Clopper-Pearson 95% CI) by arm and differences to placebo of one definition."""

    spec: ResponderSpec
    rates: pd.DataFrame = field(repr=False)
    comparison: pd.DataFrame = field(repr=False)
    interval: str = ""
    test: str = ""


@dataclass(frozen=True)
class CategoryResult:
    """Category shares by period (baseline and the category visit) and arm: columns period, arm, category, n,
    total, percent."""

    spec: CategorySpec
    shares: pd.DataFrame = field(repr=False)


@dataclass(frozen=True)
class SafetyResult:
    """Adverse events: the overview and the incidence by system organ class and preferred term."""

    overview: AETable = field(repr=False)
    incidence: AETable = field(repr=False)
    teae: bool = True
    min_percent: float = 0.0


@dataclass(frozen=True)
class StudyResults(SummaryDisplay):
    """Every analysis of a spec, as numbers (no captions, no table or figure numbers).

    Attributes
    ----------
    spec
        The analysis spec.
    populations
        Population name to ``{"description": ..., "n": {arm: count}}``.
    disposition
        Patient flow and discontinuations.
    baseline
        The baseline population's subjects with the ADSL columns of ``[baseline]`` (or ``None``).
    endpoints, biomarkers
        The MMRM (or ANCOVA) per endpoint and per biomarker.
    mcpmod, model_average
        MCP-Mod and bootstrap model averaging of the primary endpoint.
    responders, categories, safety
        As named; ``safety`` is ``None`` without ``[safety]``.
    exposure
        Mean and SD by parameter, arm, dose and visit.
    skipped
        Endpoints with ``required = false`` whose PARAMCD is not in the data.
    labels
        ADaM variable labels of ADSL (``frame.attrs["labels"]``), for display.
    sensitivity
        By endpoint, the sensitivity analyses of its estimand (multiple imputation beside the MMRM).
    """

    spec: AnalysisSpec
    populations: Mapping[str, Mapping[str, Any]]
    disposition: Disposition
    baseline: pd.DataFrame | None = field(repr=False)
    endpoints: Mapping[str, EndpointFit] = field(repr=False)
    biomarkers: Mapping[str, EndpointFit] = field(repr=False)
    mcpmod: MCPModResult | None = field(repr=False)
    model_average: ModelAverage | None = field(repr=False)
    responders: tuple[ResponderResult, ...] = field(repr=False)
    categories: tuple[CategoryResult, ...] = field(repr=False)
    safety: SafetyResult | None = field(repr=False)
    exposure: pd.DataFrame = field(repr=False)
    skipped: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict, repr=False)
    sensitivity: Mapping[str, SensitivityResult] = field(default_factory=dict, repr=False)

    def frames(self) -> dict[str, pd.DataFrame]:
        """Every number as tidy frames (see :mod:`dosefinding.study.tidy_frames`); copies, computed once."""
        return {name: frame.copy() for name, frame in self._frames.items()}

    @cached_property
    def _frames(self) -> dict[str, pd.DataFrame]:
        return study_frames(self)

    def fit(self, name: str) -> EndpointFit:
        """The fit of endpoint or biomarker ``name``."""
        if name in self.endpoints:
            return self.endpoints[name]
        if name in self.biomarkers:
            return self.biomarkers[name]
        raise InputError(f"endpoint: {name!r} is not analysed (endpoints: {', '.join(self.endpoints)}; "
                         f"biomarkers: {', '.join(self.biomarkers) or 'none'})")

    def __repr__(self) -> str:
        return short_repr(self, study=self.spec.title, arms=list(self.spec.arms.names), endpoints=list(self.endpoints),
                          biomarkers=len(self.biomarkers), mcpmod=self.mcpmod is not None)

    def summary(self) -> Summary:
        """Headline numbers: the primary endpoint's differences to placebo and the MCP-Mod result.

        Its frame is the primary endpoint's LS-mean differences to placebo at the primary visit.
        """
        from dosefinding.report.table import format_estimate_ci

        lines = [f"{self.spec.title}"]
        frame = None
        primary = self.spec.primary
        if primary is not None:
            fit = self.endpoints[primary.endpoint]
            label = fit.visits[primary.visit]
            diffs = fit.lsmeans.differences.xs(label, level=0)
            frame = diffs
            lines.append(f"{fit.spec.label}, {label}: LS-mean difference to placebo (95% CI)")
            for arm in self.spec.arms.names[1:]:
                if arm in diffs.index:
                    row = diffs.loc[arm]
                    lines.append(f"  {arm}: {format_estimate_ci(row['estimate'], row['lower'], row['upper'])}")
        if self.mcpmod is not None:
            p = self.mcpmod.mct.p_values
            assert p is not None
            lines.append(f"MCP step (one-sided alpha {self.mcpmod.mct.alpha:g}), adjusted p-values: "
                         + ", ".join(f"{s} {v:.4f}" for s, v in p.items()))
            if self.mcpmod.selection is not None and self.mcpmod.selection.selected is not None:
                lines.append(f"Selected shape: {self.mcpmod.selection.selected}")
        return Summary(lines, frame=frame)


# --------------------------------------------------------------------------- analyses


def fit_endpoint(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame], e: EndpointSpec, key: str) -> EndpointFit:
    """The MMRM of ``e`` (``response ~ arm * visit + covariates``; ANCOVA at one visit), LS means against placebo.

    With a primary estimand (``estimand``), the rows are its analysis data
    (:func:`~dosefinding.study.estimands.estimand_data`: the strategies applied to the values after
    the intercurrent events), the records of the dataset and the visits a composite strategy fills.
    """
    estimand = None
    if e.estimand is None:
        rows, visits = endpoint_data(spec, data, e, key)
    else:
        estimand = estimand_data(spec, data, e.estimand)
        full, visits = estimand.data, dict(estimand.visits)
        rows = full[full["RECORD"] | full[e.response].notna()]
    arm = spec.arms.variable
    design = f"{arm} * {e.visit_label}" if e.model == "mmrm" else arm
    formula = " + ".join([f"{e.response} ~ {design}", *e.covariates])
    try:
        fit = mmrm(formula, rows, subject=spec.subject, visit=e.visit_label, covariance=e.covariance,
                   df_method=e.df_method)
        if e.model == "mmrm":
            ls = fit.lsmeans(arm, by=e.visit_label, reference=spec.arms.placebo)
        else:
            one = fit.lsmeans(arm, reference=spec.arms.placebo)
            label = visits[e.primary_visit]
            ls = replace(one, by=e.visit_label, estimates=pd.concat({label: one.estimates}, names=[e.visit_label]),
                         differences=pd.concat({label: one.differences}, names=[e.visit_label]))
    except DoseFindingError as exc:  # InputError or ConvergenceError: say which endpoint
        raise type(exc)(f"{key}: {exc}") from None
    return EndpointFit(spec=e, data=rows, fit=fit, lsmeans=ls, visits=visits, estimand=estimand)


def _fits(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame], group: Mapping[str, EndpointSpec],
          kind: str) -> tuple[dict[str, EndpointFit], list[str]]:
    fits, skipped = {}, []
    for name, e in group.items():
        frame = data[e.dataset]
        if not e.required and ("PARAMCD" not in frame.columns or
                               not frame["PARAMCD"].astype(str).eq(e.paramcd).any()):
            warnings.warn(f"{kind}.{name}: {e.paramcd!r} not in PARAMCD of {e.dataset}; not analysed "
                          "(required = false)", DoseFindingWarning, stacklevel=3)
            skipped.append(name)
            continue
        step(f"fitting {kind}.{name}: {e.model.upper()} of {e.paramcd}")
        fits[name] = fit_endpoint(spec, data, e, f"{kind}.{name}")
    return fits, skipped


def disposition(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame]) -> Disposition:
    """Randomised, treated (safety flag), completed and discontinued by arm, the reasons, and screening from DS."""
    d = spec.disposition
    adsl = data["adsl"]
    randomised = adsl[flag(adsl, spec.populations["randomised"])]
    arms = arm_factor(randomised[spec.arms.variable], spec)
    sources = [f"randomised: {spec.populations['randomised']}"]
    if d.status in adsl.columns:
        completed = randomised[d.status].astype("string").str.strip().str.upper().eq(d.completed.upper())
        sources.append(f"completed: {d.status} = {d.completed!r}")
    elif d.reason in adsl.columns:
        completed = randomised[d.reason].astype("string").str.strip().str.upper().eq(d.completed.upper())
        sources.append(f"completed: {d.reason} = {d.completed!r}")
    elif "completed" in spec.populations:
        completed = flag(randomised, spec.populations["completed"])
        sources.append(f"completed: {spec.populations['completed']}")
    else:
        raise InputError(f"disposition.status: neither {d.status} nor {d.reason} in adsl, and no "
                         "populations.completed flag: completion cannot be read")
    completed = completed.fillna(False).astype(bool).to_numpy()

    def count(mask: np.ndarray) -> pd.Series:
        return pd.Series(arms[mask]).value_counts().reindex(list(spec.arms.names), fill_value=0)

    everyone = np.ones(len(randomised), dtype=bool)
    stages = {"Randomised": count(everyone)}
    if "safety" in spec.populations:
        stages["Treated"] = count(flag(randomised, spec.populations["safety"]).to_numpy())
        sources.append(f"treated: {spec.populations['safety']}")
    stages["Completed"] = count(completed)
    stages["Discontinued"] = count(~completed)
    if d.reason in adsl.columns:
        reasons = randomised[d.reason].astype("string").str.strip().replace("", pd.NA).fillna("Not recorded")
        sources.append(f"reasons: {d.reason}")
    else:
        reasons = pd.Series("Not recorded", index=randomised.index)
    left = pd.DataFrame({"reason": reasons.to_numpy()[~completed], "arm": arms[~completed]})
    discontinued = pd.crosstab(left["reason"], left["arm"], dropna=False).reindex(columns=list(spec.arms.names),
                                                                                  fill_value=0)
    discontinued = discontinued.loc[discontinued.sum(axis=1).sort_values(ascending=False, kind="stable").index]
    screened, excluded, criteria = _screening(spec, data)
    if screened is not None:
        sources.append(f"screening: {d.ds}")
    return Disposition(screened=screened, excluded=excluded, criteria=criteria, stages=pd.DataFrame(stages).rename_axis("arm"),
                       discontinued=discontinued.rename_axis("reason").rename_axis(None, axis=1),
                       source="; ".join(sources))


def _screening(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame]) -> tuple[
        int | None, dict[str, int] | None, tuple[str, ...]]:
    """Subjects screened (in the DS dataset), those not randomised by reason: the failed rule (``DSTERM``) of
    a screen failure, else the event (``DSDECOD``, e.g. withdrawal before randomisation), and which reasons are
    failed rules."""
    name = spec.disposition.ds
    if name is None:
        return None, None, ()
    ds = data[name]
    need_columns(ds, [spec.subject, "DSDECOD"], name, "disposition.ds")
    if ds.empty:
        return None, None, ()
    adsl = data["adsl"]
    randomised = set(adsl.loc[flag(adsl, spec.populations["randomised"]), spec.subject].astype(str))
    subjects_ds = ds[spec.subject].astype(str)
    left = ds[~subjects_ds.isin(randomised)]
    if "DSSCAT" in left.columns:
        left = left[left["DSSCAT"].astype("string").str.upper().eq("SCREENING").fillna(False)]
    decode = left["DSDECOD"].astype("string").str.strip()
    term = left["DSTERM"].astype("string").str.strip() if "DSTERM" in left.columns else decode
    failure = decode.str.upper().eq("SCREEN FAILURE").fillna(False)
    reason = term.where(failure, decode).fillna("Not recorded")
    reasons = pd.Series(reason.to_numpy(), index=left[spec.subject].astype(str).to_numpy())
    reasons = reasons[~reasons.index.duplicated()]
    counts = {str(k): int(v) for k, v in reasons.value_counts().items()}
    criteria = tuple(dict.fromkeys(str(r) for r in reason[failure]))
    return int(subjects_ds.nunique()), counts, tuple(c for c in criteria if c in counts)


def primary_candidates(spec: AnalysisSpec, doses: Any) -> Candidates:
    """The candidate models of ``[primary]`` at ``doses``."""
    p = spec.primary
    assert p is not None
    try:
        return Candidates(doses, dict(p.candidates), direction=p.direction)
    except InputError as exc:
        raise InputError(f"primary.candidates: {exc}") from None


def sensitivity_analyses(spec: AnalysisSpec, fits: Mapping[str, EndpointFit], primary: MCPModResult | None
                         ) -> dict[str, SensitivityResult]:
    """The sensitivity analyses (and tipping points) of the endpoints whose estimand lists any
    (:func:`~dosefinding.study.sensitivity.run_sensitivity`); on the primary endpoint with the MCP-Mod test of
    the pooled LS means."""
    out = {}
    for name, fit in fits.items():
        estimand = fit.estimand
        if estimand is None or not (estimand.estimand.sensitivity or estimand.estimand.tipping_point):
            continue
        on_primary = spec.primary is not None and spec.primary.endpoint == name
        step(f"sensitivity analyses of estimand {estimand.estimand.name} ({estimand.estimand.imputation.method})")
        candidates = primary_candidates(spec, sorted(spec.arms.doses.values())) if on_primary else None
        out[name] = run_sensitivity(spec, fit, candidates=candidates,
                                    primary_mct=primary.mct if on_primary and primary is not None else None)
    return out


def mcpmod_primary(spec: AnalysisSpec, fits: Mapping[str, EndpointFit]) -> tuple[MCPModResult, ModelAverage | None]:
    """MCP-Mod on the primary endpoint's LS means at the primary visit (``primary.alpha``), and model averaging."""
    p = spec.primary
    assert p is not None
    result = fits[p.endpoint]
    label = result.visits[p.visit]
    estimates = mmrm_estimates(result.fit, arm=spec.arms.variable, doses=dict(spec.arms.doses), visit=label,
                               df="min" if p.df == "min" else None)
    candidates = primary_candidates(spec, estimates.doses)
    step(f"MCP-Mod on primary.endpoint {p.endpoint} at {label}")
    fitted = mcpmod(candidates, **estimates, alpha=p.alpha, selection=p.selection, delta=p.delta, seed=p.seed)
    averaged = None
    if p.model_average_draws > 0:
        step(f"model averaging: {p.model_average_draws} bootstrap draws")
        shapes = list(dict.fromkeys(m.shape for m in candidates.models))
        averaged = model_average(shapes, doses=estimates.doses, estimates=estimates.estimates.to_numpy(),
                                 cov=estimates.cov.to_numpy(), n_draws=p.model_average_draws, kind="effect",
                                 predict_doses=np.union1d(np.linspace(0.0, float(estimates.doses.max()), 61),
                                                          estimates.doses),
                                 delta=p.delta, seed=p.seed)
    return fitted, averaged


def responders(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame],
               fits: Mapping[str, EndpointFit]) -> tuple[ResponderResult, ...]:
    """Responder rates and differences to placebo (with the test's p-value) for each responder definition."""
    arm = spec.arms.variable
    out = []
    for i, r in enumerate(spec.responders):
        result = fits[r.endpoint]
        key = f"responders[{i}]"
        if r.visit not in result.visits:
            raise InputError(f"{key}.visit: {r.visit:g} is not an analysed visit of endpoints.{r.endpoint} "
                             f"({[f'{v:g}' for v in result.visits]})")
        rows = result.data[result.data[result.spec.visit] == r.visit]
        # ignore[index] below: a responder definition without a flag has a criterion (the spec requires one)
        need_columns(rows, [r.flag] if r.flag is not None else [r.criterion[0]],  # type: ignore[index]
                     result.spec.dataset, f"{key}.{'flag' if r.flag else 'criterion'}")
        rows = rows.assign(_RESPONSE=r.respond(rows))[[spec.subject, "_RESPONSE"]]
        frame = subjects(spec, data, result.spec.population).merge(rows, on=spec.subject, how="left")
        rates = responder_rates(frame, arm=arm, response="_RESPONSE", missing=r.missing, arms=list(spec.arms.names))
        comparison = compare_responders(frame, arm=arm, response="_RESPONSE", reference=spec.arms.placebo,
                                        missing=r.missing, arms=list(spec.arms.names),
                                        method=r.interval, test=r.test)  # type: ignore[arg-type]  # spec-checked
        out.append(ResponderResult(spec=r, rates=rates.table.rename_axis("arm"),
                                   comparison=comparison.table.rename_axis("arm"),
                                   interval=comparison.method_name, test=comparison.test_name))
    return tuple(out)


def categories(spec: AnalysisSpec, fits: Mapping[str, EndpointFit]) -> tuple[CategoryResult, ...]:
    """Category shares by arm at baseline (``BASE``) and at the category visit, for each definition."""
    out = []
    for i, c in enumerate(spec.categories):
        result = fits[c.endpoint]
        key = f"categories[{i}]"
        if c.visit not in result.visits:
            raise InputError(f"{key}.visit: {c.visit:g} is not an analysed visit of endpoints.{c.endpoint}")
        rows = result.data
        need_columns(rows, [c.value], result.spec.dataset, f"{key}.value")
        label = result.visits[c.visit]
        parts = [rows.loc[rows[result.spec.visit] == c.visit, [spec.subject, spec.arms.variable, c.value]]
                 .assign(_PERIOD=label)]
        if "BASE" in rows.columns:
            base = rows.drop_duplicates(spec.subject)[[spec.subject, spec.arms.variable, "BASE"]]
            parts.insert(0, base.rename(columns={"BASE": c.value}).assign(_PERIOD="Baseline"))
        long = pd.concat(parts, ignore_index=True)
        periods: list[object] = [p for p in ("Baseline", label) if p in set(long["_PERIOD"])]
        counted = category_table(long, arm=spec.arms.variable, visit="_PERIOD", value=c.value,
                                 cut_points=list(c.cut_points), labels=list(c.labels), cut_belongs_to=c.cut_belongs_to,
                                 arms=list(spec.arms.names), visits=periods)
        shares = counted.table.reset_index().rename(columns={"visit": "period"})
        shares = shares[shares["category"].isin(c.labels) | shares.groupby("category")["n"].transform("sum").gt(0)]
        out.append(CategoryResult(spec=c, shares=shares.reset_index(drop=True)))
    return tuple(out)


def safety(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame]) -> SafetyResult | None:
    """Overview of adverse events and patients with events by system organ class and preferred term."""
    s = spec.safety
    if s is None:
        return None
    adsl, adae = data["adsl"], data[s.dataset]
    need_columns(adsl, [s.arm], "adsl", "safety.arm")
    need_columns(adae, [spec.subject, "AEBODSYS", "AEDECOD"], s.dataset, "safety.dataset")
    if s.teae:
        need_columns(adae, [s.teae], s.dataset, "safety.teae")
    adsl = adsl.assign(**{s.arm: adsl[s.arm].astype(str)})
    arms = [a for a in spec.arms.names if a in set(adsl.loc[flag(adsl, spec.populations["safety"]), s.arm])]
    kwargs: dict[str, Any] = {"arm": s.arm, "population": spec.populations["safety"], "teae": s.teae, "arms": arms}
    return SafetyResult(overview=ae_overview(adae, adsl, **kwargs), incidence=ae_incidence(adae, adsl, **kwargs),
                        teae=bool(s.teae), min_percent=s.min_percent)


def exposure_summary(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Mean and SD of each ``[exposure]`` parameter by arm (with its dose) and visit.

    Columns ``parameter, arm, dose, visit, n, mean, sd`` (visits by number, e.g. 24.0) and
    ``n_blq``: the values below the lower limit of quantification (ADaM ``BLQFL = "Y"``,
    recorded as 0 and counted in the mean; 0 where the data have no ``BLQFL``).
    """
    parts = []
    for name, x in spec.exposure.items():
        key = f"exposure.{name}"
        rows = parameter_rows(data[x.dataset], x.paramcd, x.dataset, f"{key}.paramcd")
        need_columns(rows, [spec.subject, "AVISITN", x.value], x.dataset, f"{key}.value")
        rows = rows.drop(columns=[spec.arms.variable], errors="ignore").merge(
            subjects(spec, data, x.population), on=spec.subject, how="inner")
        rows = rows.assign(visit=pd.to_numeric(rows["AVISITN"], errors="coerce").astype(float),
                           y=pd.to_numeric(rows[x.value], errors="coerce"),
                           blq=rows["BLQFL"].eq("Y") if "BLQFL" in rows.columns else False)
        available = sorted(rows["visit"].dropna().unique())
        visits = available if x.visits is None else select_visits(available, x.visits, f"{key}.visits", "AVISITN",
                                                                  x.dataset)
        rows = rows[rows["visit"].isin(visits) & rows["y"].notna()]
        groups = rows.groupby([spec.arms.variable, "visit"], observed=True)
        summary = groups["y"].agg(["count", "mean", "std"]).assign(n_blq=groups["blq"].sum().astype(int))
        summary = summary.reset_index().rename(columns={spec.arms.variable: "arm", "count": "n", "std": "sd"})
        summary.insert(0, "parameter", name)
        summary["arm"] = summary["arm"].astype(str)
        summary.insert(2, "dose", summary["arm"].map(dict(spec.arms.doses)).astype(float))
        parts.append(summary[["parameter", "arm", "dose", "visit", "n", "mean", "sd", "n_blq"]])
    columns = ["parameter", "arm", "dose", "visit", "n", "mean", "sd", "n_blq"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def populations(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame]) -> dict[str, dict[str, Any]]:
    """Each population's flag and its count per arm (randomised subjects)."""
    adsl = data["adsl"]
    out = {}
    for name, column in spec.populations.items():
        arms = arm_factor(adsl.loc[flag(adsl, column) & flag(adsl, spec.populations["randomised"]),
                                   spec.arms.variable], spec)
        counts = pd.Series(arms).value_counts().reindex(list(spec.arms.names), fill_value=0)
        out[POPULATION_LABELS[name]] = {"description": f"{column} = 'Y'",
                                        "n": {str(a): int(n) for a, n in counts.items()}}
    return out


def _baseline(spec: AnalysisSpec, data: Mapping[str, pd.DataFrame]) -> pd.DataFrame | None:
    if spec.baseline is None:
        return None
    b = spec.baseline
    need_columns(data["adsl"], list(b.variables) + list(b.categorical), "adsl", "baseline.variables")
    return subjects(spec, data, b.population, [c for c in b.variables if c != spec.arms.variable])


def analyze_study(spec: AnalysisSpec) -> StudyResults:
    """Run every analysis of ``spec`` on its ADaM data; numbers only (a layout renders them).

    Raises
    ------
    InputError
        Naming the spec key and the column at fault.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from dosefinding.study import simulate_trial
    >>> from dosefinding.study.pipeline import a2201_analysis_text
    >>> from dosefinding.study.analysis_spec import parse_analysis_spec
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = simulate_trial("a2201", seed=7).write(Path(tmp) / "adam")
    ...     spec = parse_analysis_spec(a2201_analysis_text().replace("model_average_draws = 200",
    ...                                "model_average_draws = 0"), base=tmp)
    ...     results = analyze_study(spec)
    >>> list(results.frames()["mcp"]["shape"])[:2], int(results.disposition.stages.loc["Placebo", "Randomised"])
    (['linear', 'emax1'], 49)
    """
    data = load_data(spec)
    fits, skipped = _fits(spec, data, spec.endpoints, "endpoints")
    if spec.primary is not None and spec.primary.endpoint in skipped:
        raise InputError(f"primary.endpoint: {spec.primary.endpoint!r} is not in the data")
    biomarkers, skipped_bm = _fits(spec, data, spec.biomarkers, "biomarkers")
    fitted, averaged = mcpmod_primary(spec, fits) if spec.primary is not None else (None, None)
    sensitivity = sensitivity_analyses(spec, fits, fitted)
    labels = data["adsl"].attrs.get("labels", {})
    step("disposition, baseline, responders, categories, safety and exposure")
    return StudyResults(
        spec=spec, populations=populations(spec, data), disposition=disposition(spec, data),
        baseline=_baseline(spec, data), endpoints=fits, biomarkers=biomarkers, mcpmod=fitted, model_average=averaged,
        responders=responders(spec, data, fits), categories=categories(spec, fits), safety=safety(spec, data),
        exposure=exposure_summary(spec, data), skipped=tuple(skipped + skipped_bm), labels=dict(labels),
        sensitivity=sensitivity,
    )
