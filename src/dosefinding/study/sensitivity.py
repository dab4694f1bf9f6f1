"""The sensitivity analyses of an estimand, run by multiple imputation beside its primary MMRM.

For an endpoint whose estimand (``[estimands.<NAME>]``) lists sensitivity analyses or a
tipping point, :func:`run_sensitivity` lays out its analysis data
(:class:`~dosefinding.study.estimands.EstimandData`) for :mod:`dosefinding.imputation` and runs,
at the endpoint's primary visit:

- the estimand's own imputation (each event imputed by its ``imputation``; MAR when none), and
  each sensitivity analysis: MAR, J2R, CR or CIR for every event, or ``delta`` (the estimand's
  own imputation, then the analysis' deltas added to the values imputed after the event);
  draws by ``[estimands.<NAME>.imputation]`` (default conditional mean imputation with
  jackknife: deterministic), each imputed data set analysed by ANCOVA at the visit (or the
  MMRM) and pooled: the difference of each active arm to placebo with its CI and p-value;
- with ``[primary]`` on the endpoint, the MCP-Mod multiple contrast test of the pooled LS means
  of all arms (:func:`~dosefinding.imputation.pooled_lsmeans`, the candidates of ``[primary]``);
- with ``[estimands.<NAME>.tipping_point]``, :func:`~dosefinding.imputation.tipping_point` on
  the estimand's own imputation over the grid of deltas added to the active arms' imputed values.

The analyses whose imputation model is fitted to the same outcomes (MAR for every event; or
J2R, CR and CIR, which all leave out the outcomes after an event) share one set of parameter
draws: only the strategies and the reference arms differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dosefinding.errors import InputError
from dosefinding.imputation import (
    ImputationData,
    MIAnalysis,
    ParameterDraws,
    TippingPoint,
    analyse,
    imputation_data,
    impute,
    mmrm_draws,
    pool,
    pooled_lsmeans,
    tipping_point,
)
from dosefinding.mcp import MCTResult, mct_test
from dosefinding.shapes import Candidates
from dosefinding.summary import Summary, SummaryDisplay, short_repr

if TYPE_CHECKING:
    from dosefinding.study.analysis import EndpointFit
    from dosefinding.study.analysis_spec import AnalysisSpec
    from dosefinding.study.estimands import EstimandData

__all__ = ["PRIMARY_ANALYSIS", "PRIMARY_IMPUTATION", "SensitivityResult", "run_sensitivity", "sensitivity_data"]

PRIMARY_ANALYSIS = "Primary analysis (MMRM)"
"""The label of the primary MMRM's rows."""
PRIMARY_IMPUTATION = "Estimand's imputation"
"""The label of the rows of the estimand's own imputation."""


@dataclass(frozen=True)
class SensitivityResult(SummaryDisplay):
    """The primary MMRM and the sensitivity analyses of one endpoint's estimand at its primary visit.

    Attributes
    ----------
    endpoint, estimand, visit
        The endpoint, its estimand and the label of the primary visit.
    differences
        One row per analysis and active arm: ``analysis`` (:data:`PRIMARY_ANALYSIS`,
        :data:`PRIMARY_IMPUTATION` or the sensitivity analysis' name), ``method`` (``MMRM``,
        ``MAR``, ``J2R``, ``CR``, ``CIR``, ``delta``, or the events' own for the estimand's
        imputation), ``arm``, ``dose``, ``estimate``, ``se``, ``lower``, ``upper``, ``df``,
        ``p_value`` (arm minus placebo; two-sided p).
    mcp
        One row per analysis: ``analysis``, ``p_value`` (the smallest multiplicity-adjusted
        p-value of the multiple contrast test), ``shape`` (the candidate giving it); None
        without ``[primary]`` on the endpoint.
    tipping
        The tipping-point analysis, or None.
    method
        How the imputations were drawn and pooled, e.g. ``"conditional mean imputation, jackknife standard
        errors (ANCOVA at the visit)"``.
    confidence_level
        Of the intervals.
    """

    endpoint: str
    estimand: str
    visit: str
    differences: pd.DataFrame = field(repr=False)
    mcp: pd.DataFrame | None = field(repr=False)
    tipping: TippingPoint | None = field(repr=False)
    method: str = ""
    confidence_level: float = 0.95

    def to_frame(self) -> pd.DataFrame:
        """The differences to placebo (:attr:`differences`)."""
        return self.differences.copy()

    def __repr__(self) -> str:
        return short_repr(self, endpoint=self.endpoint, estimand=self.estimand, visit=self.visit,
                          analyses=int(self.differences["analysis"].nunique()), tipping=self.tipping is not None)

    def summary(self) -> Summary:
        """The analyses' differences to placebo, the MCP-Mod p-values and the tipping deltas."""
        lines = [f"Sensitivity analyses of estimand {self.estimand} ({self.endpoint}, {self.visit}): {self.method}"]
        if self.mcp is not None:
            lines.append("MCP-Mod on the pooled LS means, smallest adjusted p: "
                         + ", ".join(f"{a} {p:.4f}" for a, p in zip(self.mcp["analysis"], self.mcp["p_value"],
                                                                       strict=True)))
        if self.tipping is not None:
            t = self.tipping
            shown = ["not on the grid" if np.isnan(v) else f"{v:.4g}" for v in (t.tipping_delta, t.mcp_tipping_delta)]
            lines.append(f"Tipping point ({t.parameter}): delta {shown[0]}; MCP-Mod: delta {shown[1]}")
        return Summary(lines, frame=self.differences)


def _estimand(fit: EndpointFit) -> EstimandData:
    if fit.estimand is None:
        raise InputError(f"endpoints.{fit.spec.name}: sensitivity analyses need an estimand (estimand = NAME)")
    return fit.estimand


def sensitivity_data(fit: EndpointFit, spec: AnalysisSpec, sensitivity: str | None = None) -> ImputationData:
    """The estimand data of ``fit`` laid out for :mod:`dosefinding.imputation`: the ``ice`` frame and the
    reference arms of the sensitivity analysis ``sensitivity`` (None: the estimand's own imputation).

    Raises :class:`InputError` when a reference arm has no subject in the analysis data.
    """
    estimand = _estimand(fit)
    e = fit.spec
    frame = estimand.data
    references: dict[object, object] = {arm: ref for arm, ref in estimand.references(sensitivity).items()}
    present = set(frame.loc[frame[e.response].notna(), spec.arms.variable].astype(str))
    # the reference arm must have outcomes: its means are what J2R, CR and CIR impute
    where = f"estimands.{estimand.estimand.name}" + (f" sensitivity {sensitivity!r}" if sensitivity else "")
    for arm, reference in references.items():
        if reference not in present and reference != arm:
            raise InputError(f"{where}: reference arm {reference!r} has no subject with {e.response} in the data of "
                             f"endpoint {e.name} (arms with data: {sorted(present)})")
    return imputation_data(frame, subject=estimand.subject, visit=e.visit_label, outcome=e.response,
                           arm=spec.arms.variable, covariates=list(e.covariates), ice=estimand.ice(sensitivity),
                           references=references, visit_order=list(estimand.visits.values()),
                           arm_order=[a for a in spec.arms.names if a in set(frame[spec.arms.variable].astype(str))])


def _mct(candidates: Candidates, analysis: MIAnalysis, visit: str, doses: Mapping[object, float], alpha: float
         ) -> tuple[float, str]:
    arms = analysis.imputed.data.arms
    est, cov, df = pooled_lsmeans(analysis, visit)
    dose = np.array([doses[a] for a in arms], dtype=float)
    order = np.argsort(dose)
    test = mct_test(candidates, doses=dose[order], estimates=est[order], cov=cov[np.ix_(order, order)],
                    df=None if np.isinf(df) else df, alpha=alpha, critical_value=False)
    p = test.p_values
    assert p is not None
    return float(p.min()), str(p.idxmin())


def run_sensitivity(spec: AnalysisSpec, fit: EndpointFit, *, candidates: Candidates | None = None,
                    primary_mct: MCTResult | None = None, confidence_level: float = 0.95) -> SensitivityResult:
    """Run the sensitivity analyses (and tipping point) of ``fit``'s estimand at its primary visit.

    Parameters
    ----------
    spec
        The analysis spec.
    fit
        The endpoint's primary MMRM on its estimand's analysis data
        (:func:`~dosefinding.study.analysis.fit_endpoint`).
    candidates
        Candidate models of the MCP-Mod test on the pooled LS means (None: no test).
    primary_mct
        The primary MMRM's multiple contrast test, shown beside the imputations' (None: not shown).
    confidence_level
        Of the intervals of the differences to placebo.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from dosefinding.study import simulate_trial
    >>> from dosefinding.study.analysis import fit_endpoint
    >>> from dosefinding.study.analysis_data import load_data
    >>> from dosefinding.study.analysis_spec import parse_analysis_spec
    >>> from dosefinding.study.pipeline import a2201_analysis_text
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = simulate_trial("a2201").write(Path(tmp) / "adam")
    ...     spec = parse_analysis_spec(a2201_analysis_text(), base=tmp)
    ...     fit = fit_endpoint(spec, load_data(spec), spec.endpoints["ESSDAI"], "endpoints.ESSDAI")
    >>> result = run_sensitivity(spec, fit)
    >>> result.differences["analysis"].unique().tolist()[:3]
    ['Primary analysis (MMRM)', "Estimand's imputation", 'Jump to reference']
    >>> result.differences.query("analysis == 'Copy reference' and dose == 300")["estimate"].round(2).tolist()
    [-2.97]
    """
    estimand = _estimand(fit)
    e, es = fit.spec, estimand.estimand
    settings = es.imputation
    visit = fit.visits[e.primary_visit]
    placebo = spec.arms.placebo
    doses: dict[object, float] = {arm: float(dose) for arm, dose in spec.arms.doses.items()}
    rows = []
    diffs = fit.lsmeans.differences.xs(visit, level=0)
    for arm, row in diffs.iterrows():
        rows.append({"analysis": PRIMARY_ANALYSIS, "method": "MMRM", "arm": str(arm), "dose": doses[str(arm)],
                     "estimate": row["estimate"], "se": row["se"], "lower": row["lower"], "upper": row["upper"],
                     "df": row["df"], "p_value": row["p"]})
    draws_by_fit: dict[bytes, ParameterDraws] = {}

    def draws_for(data: ImputationData) -> ParameterDraws:
        key = np.isnan(data.y_fit).tobytes()
        if key not in draws_by_fit:
            draws_by_fit[key] = mmrm_draws(data, method=settings.method, resampling=settings.resampling,
                                           n_samples=settings.n_samples, seed=settings.seed)
        return replace(draws_by_fit[key], data=data)

    analyses: list[tuple[str, str, str | None]] = [(PRIMARY_IMPUTATION, "events' own", None)]
    analyses += [(s.name, s.method, s.name) for s in es.sensitivity]
    mcp_rows = []
    if candidates is not None and primary_mct is not None and primary_mct.p_values is not None:
        mcp_rows.append({"analysis": PRIMARY_ANALYSIS, "p_value": float(primary_mct.p_values.min()),
                         "shape": str(primary_mct.p_values.idxmin())})
    primary_draws = None
    for label, method, name in analyses:
        data = sensitivity_data(fit, spec, name)
        draws = draws_for(data)
        if name is None:
            primary_draws = draws
        deltas = estimand.deltas(name) if method == "delta" and name is not None else None
        analysis = analyse(impute(draws, deltas=deltas, seed=settings.seed), model=settings.analysis,
                           control=placebo)
        table = pool(analysis, confidence_level=confidence_level).table
        at = table[(table["visit"] == visit) & table["parameter"].str.startswith("trt_")]
        for _, row in at.iterrows():
            rows.append({"analysis": label, "method": method, "arm": row["arm"], "dose": doses[row["arm"]],
                         "estimate": row["estimate"], "se": row["se"], "lower": row["lower"], "upper": row["upper"],
                         "df": row["df"], "p_value": row["p_value"]})
        if candidates is not None:
            p, shape = _mct(candidates, analysis, visit, doses, spec.primary.alpha if spec.primary else 0.025)
            mcp_rows.append({"analysis": label, "p_value": p, "shape": shape})
    tipping = None
    if es.tipping_point is not None:
        assert primary_draws is not None
        t = es.tipping_point
        arm = t.arm or max((a for a in spec.arms.names if a != placebo), key=lambda a: doses[a])
        tipping = tipping_point(primary_draws, t.deltas, visit=visit, arm=arm, control=placebo,
                                model=settings.analysis, alpha=t.alpha, candidates=candidates,
                                doses=doses if candidates is not None else None,
                                mcp_alpha=spec.primary.alpha if spec.primary else 0.025, seed=settings.seed)
    resamples = "" if settings.resampling == "jackknife" else f" of {settings.n_samples} samples"
    method = {"condmean": f"conditional mean imputation, {settings.resampling}{resamples} standard errors",
              "approx_bayes": f"approximate Bayesian ({settings.n_samples} bootstrap samples), Rubin's rules",
              "bayes": f"Bayesian ({settings.n_samples} posterior draws), Rubin's rules"}[settings.method]
    method += " (ANCOVA at the visit)" if settings.analysis == "ancova" else " (MMRM)"
    return SensitivityResult(endpoint=e.name, estimand=es.name, visit=visit, differences=pd.DataFrame(rows),
                             mcp=pd.DataFrame(mcp_rows) if candidates is not None else None, tipping=tipping,
                             method=method, confidence_level=confidence_level)
