"""Every public result class shows well in a notebook and a console: ``summary()`` is a Summary (text,
HTML, rows), ``_repr_html_`` is that summary's HTML, the ``repr`` is one short line, and ``to_frame()``
gives the rows where the result has rows."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dosefinding.summary import MAX_REPR, Summary

PACKAGES = ["dosefinding", "dosefinding.design", "dosefinding.mcp", "dosefinding.mod", "dosefinding.mmrm",
            "dosefinding.endpoints", "dosefinding.study", "dosefinding.report", "dosefinding.randomization",
            "dosefinding.bayes", "dosefinding.imputation"]


@cache
def sensitivity() -> Any:
    import tempfile
    from pathlib import Path

    from dosefinding.study import run_sensitivity
    from dosefinding.study.analysis import fit_endpoint
    from dosefinding.study.analysis_data import load_data
    from dosefinding.study.analysis_spec import parse_analysis_spec
    from dosefinding.study.pipeline import a2201_analysis_text

    with tempfile.TemporaryDirectory() as tmp:
        trial().write(Path(tmp) / "adam")
        spec = parse_analysis_spec(a2201_analysis_text(), base=tmp)
        return run_sensitivity(spec, fit_endpoint(spec, load_data(spec), spec.endpoints["ESSDAI"], "endpoints.ESSDAI"))


@cache
def trial() -> Any:
    from dosefinding import simulate_trial

    return simulate_trial("a2201", seed=3)


@cache
def estimand() -> Any:
    import tempfile
    from pathlib import Path

    from dosefinding.study import estimand_data
    from dosefinding.study.analysis_data import load_data
    from dosefinding.study.analysis_spec import parse_analysis_spec
    from dosefinding.study.pipeline import a2201_analysis_text

    with tempfile.TemporaryDirectory() as tmp:
        trial().write(Path(tmp) / "adam")
        spec = parse_analysis_spec(a2201_analysis_text(), base=tmp)
        return estimand_data(spec, load_data(spec), "ESSDAI-primary")


@cache
def mcpmod_result() -> Any:
    from dosefinding import Candidates, mcpmod

    cands = Candidates([0, 5, 50, 300], {"linear": None, "emax": 30}, max_effect=-3.5)
    return mcpmod(cands, doses=[0, 5, 50, 300], estimates=[-2.8, -3.3, -4.2, -5.6], cov=np.eye(4) * 0.5, df=180,
                  delta=-2)


@cache
def mmrm_fit() -> Any:
    from dosefinding import mmrm

    rng = np.random.default_rng(1)
    subjects = np.repeat(np.arange(60), 3)
    frame = pd.DataFrame({"USUBJID": subjects, "ARM": np.where(subjects % 3 == 0, "Placebo", np.where(
        subjects % 3 == 1, "Low", "High")), "AVISIT": np.tile(["Week 4", "Week 12", "Week 24"], 60)})
    frame["CHG"] = rng.normal(size=len(frame)) + (frame["ARM"] == "High") * 1.5
    return mmrm("CHG ~ ARM * AVISIT", frame, subject="USUBJID", visit="AVISIT")


@cache
def imputation_draws() -> Any:
    from dosefinding.datasets import antidepressant_data
    from dosefinding.imputation import imputation_data, mmrm_draws

    ice = pd.DataFrame({"subject": ["1513", "1804"], "visit": ["5", "7"], "strategy": "JR"})
    data = imputation_data(antidepressant_data(), subject="PATIENT", visit="VISIT", outcome="CHANGE", arm="THERAPY",
                           covariates=["BASVAL"], ice=ice, references={"DRUG": "PLACEBO"})
    return mmrm_draws(data, method="approx_bayes", n_samples=5, seed=1)


def _efficacy_at_week_24() -> pd.DataFrame:
    t = trial()
    rows = t.adeff[(t.adeff["PARAMCD"] == "ESSDAI") & (t.adeff["AVISIT"] == "Week 24")]
    return rows.assign(RESP=(rows["CHG"] <= -3).astype(int), DOSE=rows["TRTP"].map(
        {"Placebo": 0.0, "VAY736 5 mg": 5.0, "VAY736 50 mg": 50.0, "VAY736 300 mg": 300.0}))


def _category_data() -> dict[str, Any]:
    t = trial()
    rows = t.adeff[(t.adeff["PARAMCD"] == "ESSDAI") & t.adeff["AVISIT"].isin(["Week 12", "Week 24"])]
    return {"data": rows, "arm": "TRTP", "visit": "AVISIT", "value": "AVAL", "subject": "USUBJID",
            "cut_points": [5, 14], "labels": ["low", "moderate", "high"]}


def _builders() -> dict[str, Callable[[], Any]]:
    """One instance of every public result class, from small public calls."""
    from dosefinding import (
        Candidates,
        ae_overview,
        category_table,
        closed_mct_test,
        compare_responders,
        estimation_precision,
        exposure_adjusted_rates,
        fit_logistic,
        fit_mmrm_batch,
        mmrm_estimates,
        model_average,
        optimal_contrasts,
        optimal_design,
        plan_mod,
        power_mct_interim,
        precision_sample_size,
        responder_rates,
        sample_size,
        sample_size_mct,
        shift_table,
        target_n,
    )
    from dosefinding.bayes import (
        bayes_fit_dose_response,
        bayes_mct_test,
        bootstrap_fit_dose_response,
        lognormal_prior,
        mixture_posterior,
        normal_mixture,
        normal_prior,
    )
    from dosefinding.imputation import analyse, impute, pool, tipping_point
    from dosefinding.randomization import A2201_RULES, Minimisation, minimise, permuted_block_list, verify_chain
    from dosefinding.randomization.verification import TrailReport
    from dosefinding.report import Table

    cands = Candidates([0, 5, 50, 300], {"linear": None, "emax": 30}, max_effect=-3.5)
    vague = [normal_mixture([1.0], [-3.0], [20.0])] * 4
    a2201 = {"doses": [0, 5, 50, 300], "estimates": [-2.8, -3.3, -4.2, -5.6], "cov": np.eye(4) * 0.5}
    return {
        "BayesMCTResult": lambda: bayes_mct_test(cands, vague, **a2201),
        "PosteriorMixture": lambda: mixture_posterior(vague, **a2201),
        "DoseResponseDraws": lambda: bayes_fit_dose_response(
            "emax", priors=[normal_prior(-3, 10), normal_prior(0, 10), lognormal_prior(3, 1.5)], n_draws=200, seed=1,
            **a2201),
        "DoseResponseDraws bootstrap": lambda: bootstrap_fit_dose_response("emax", n_draws=20, seed=1, **a2201),
        "ParameterDraws": imputation_draws,
        "ImputedData": lambda: impute(imputation_draws()),
        "MIAnalysis": lambda: analyse(impute(imputation_draws())),
        "PooledResult": lambda: pool(analyse(impute(imputation_draws()))),
        "TippingPoint": lambda: tipping_point(imputation_draws(), [0.0, 2.0, 4.0], arm="DRUG", control="PLACEBO"),
        "MCTResult": lambda: mcpmod_result().mct,
        "OptimalContrasts": lambda: optimal_contrasts(cands),
        "ClosedMCTResult": lambda: closed_mct_test(cands, doses=[0, 5, 50, 300], estimates=[0.0, -1.0, -2.5, -3.5],
                                                   cov=np.eye(4) * 0.7),
        "InterimPower": lambda: power_mct_interim(optimal_contrasts(cands), [0.0, -1.0, -2.5, -3.5], np.eye(4) * 1.3,
                                                  final_cov=np.eye(4) * 0.7),
        "SampleSize": lambda: sample_size_mct(optimal_contrasts(cands), cands, sigma=5.6, power=0.8),
        "MCPModResult": mcpmod_result,
        "ModPlan": lambda: plan_mod("emax", cands, n=47, sigma=5.6, simulation=True, n_trials=50, delta=-2.0),
        "EstimationPrecision": lambda: estimation_precision("emax", cands, n=47, sigma=5.6, delta=-2.0, n_trials=20),
        "PrecisionSampleSize": lambda: precision_sample_size("linear", cands, sigma=5.6, measure="curve_half_width",
                                                             target=2.0, n_trials=20),
        "SampleSizeSearch": lambda: sample_size(lambda n: 1 - 1 / n[0], 0.9, [1, 1], upper_n=4),
        "TargetByN": lambda: target_n(lambda n: 1 - 1 / n[0], [1, 2], upper_n=30, lower_n=10, step=10),
        "DoseResponseFit": lambda: mcpmod_result().fits["emax"],
        "ModelSelection": lambda: mcpmod_result().selection,
        "DoseEstimate": lambda: mcpmod_result().fits["emax"].target_dose(-2.0),
        "ModelAverage": lambda: model_average(["emax", "linear"], doses=[0, 5, 50, 300],
                                              estimates=[-2.8, -3.3, -4.2, -5.6], cov=np.eye(4) * 0.5, n_draws=50,
                                              seed=1, delta=-1.0),
        "OptimalDesign": lambda: optimal_design(cands, criterion="D&TD", delta=-2.0),
        "MMRMEstimates": lambda: mmrm_estimates(mmrm_fit(), arm="ARM", visit="Week 24",
                                                doses={"Placebo": 0, "Low": 10, "High": 100}),
        "MMRMResult": mmrm_fit,
        "LSMeans": lambda: mmrm_fit().lsmeans("ARM", by="AVISIT", reference="Placebo"),
        "BatchMMRMResult": lambda: fit_mmrm_batch(np.random.default_rng(2).normal(size=(3, 40, 2)),
                                                  np.ones((40, 2, 1))),
        "ResponderTable": lambda: responder_rates(_efficacy_at_week_24(), arm="TRTP", response="RESP"),
        "ResponderComparison": lambda: compare_responders(_efficacy_at_week_24(), arm="TRTP", response="RESP",
                                                          reference="Placebo"),
        "LogisticEstimates": lambda: fit_logistic(_efficacy_at_week_24(), dose="DOSE", response="RESP"),
        "CategoryTable": lambda: category_table(**_category_data()),
        "ShiftTable": lambda: shift_table(**_category_data(), baseline="BASE"),
        "AETable": lambda: ae_overview(trial().adae, trial().adsl, arm="TRT01A"),
        "ExposureAdjustedRates": lambda: exposure_adjusted_rates(trial().adae, trial().adsl, arm="TRT01A"),
        "VirtualTrial": trial,
        "EstimandData": estimand,
        "SensitivityResult": sensitivity,
        "Table": lambda: Table.from_frame(pd.DataFrame({"n": [1, 2]}, index=["a", "b"]), id="t", title="T"),
        "ScreeningResult": lambda: A2201_RULES.screen({"AGE": 80, "ESSDAI7": 7, "ESSPRI": 6, "ANTIRO": True, "SALFLOW": 0.3}),
        "AllocationList": lambda: permuted_block_list(["A", "B"], n_per_stratum=4, seed=1),
        "MinimisationResult": lambda: minimise(pd.DataFrame({"SEX": ["F", "M", "F", "M"]}),
                                               Minimisation(arms=("A", "B"), factors={"SEX": ("F", "M")}, seed=1)),
        "TrailReport": lambda: TrailReport(2, "ab", ("users: 'mallory' not in the trail",)),
        "AuditVerification": lambda: verify_chain([]),
    }


def _result_classes() -> dict[str, type]:
    """The public classes with a ``summary`` method, by name."""
    found: dict[str, type] = {}
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isclass(value) and callable(getattr(value, "summary", None)):
                found[name] = value
    return found


def test_every_public_result_class_is_covered() -> None:
    classes = _result_classes()
    slow = {"PowerResult", "StudyResults", "AnalysisResult"}  # built in tests/study (test_summaries_of_study_results)
    assert set(classes) - slow <= set(_builders())


@pytest.mark.parametrize("name", sorted(_builders()))
def test_result_displays_as_a_summary(name: str) -> None:
    result = _builders()[name]()
    name = name.split()[0]
    assert type(result).__name__ == name
    summary = result.summary()
    assert isinstance(summary, Summary)
    text = str(summary)
    assert text and text == repr(summary)
    html = result._repr_html_()
    assert html == summary._repr_html_() and html.startswith('<div class="dosefinding-summary">')
    assert isinstance(summary.to_frame(), pd.DataFrame)
    if hasattr(result, "to_frame"):
        frame = result.to_frame()
        assert isinstance(frame, pd.DataFrame)
    shown = repr(result)
    assert "\n" not in shown and len(shown) < MAX_REPR and shown.startswith(f"{name}(")


@pytest.mark.parametrize("name", ["MCPModResult", "MMRMResult", "ResponderTable", "AETable", "LSMeans"])
def test_tables_show_as_html_tables(name: str) -> None:
    result = _builders()[name]()
    html = result._repr_html_()
    assert "<table" in html and "<pre" in html
    assert html.count("<table") == len(result.summary().tables)


def test_repr_of_mcpmod_is_short() -> None:
    shown = repr(mcpmod_result())
    assert shown == ("MCPModResult(candidates=['linear', 'emax'], significant=2, fitted=['linear', 'emax'], "
                     "selected='linear', dose_kind='continuous', alpha=0.025)")


def test_summary_frames_are_the_rows() -> None:
    res = mcpmod_result()
    assert res.mct.to_frame().columns.tolist() == ["t_statistic", "p_value", "significant"]
    rows = res.to_frame()
    assert rows.index.tolist() == ["linear", "emax"] and {"gAIC", "selected", "TD"} <= set(rows.columns)
    assert rows["selected"].sum() == 1
    pd.testing.assert_frame_equal(res.summary().to_frame(), rows)
    fit = mmrm_fit()
    pd.testing.assert_frame_equal(fit.summary().to_frame(), fit.table)


def test_short_reprs_of_results_without_summary() -> None:
    from dosefinding import simulate_endpoint_matrix
    from dosefinding.endpoints import safety_set

    t = trial()
    for result in (safety_set(t.adae, t.adsl, arm="TRT01A"), simulate_endpoint_matrix("a2201", "ESSDAI", n_trials=4, seed=1),
                   mmrm_fit().lsmeans("ARM", by="AVISIT", reference="Placebo")):
        shown = repr(result)
        assert "\n" not in shown and len(shown) < MAX_REPR


def test_summary_text_html_and_frame() -> None:
    from dosefinding.summary import SummaryTable

    table = SummaryTable(pd.DataFrame({"p": ["<0.0001"]}, index=["emax"]))
    inner = Summary(["Test", "", table])
    outer = Summary(["Outer <b>", inner, "", "note"])
    assert str(outer) == "Outer <b>\nTest\n\n" + table.frame.to_string() + "\n\nnote"
    html = outer._repr_html_()
    assert "Outer &lt;b&gt;\nTest</pre>" in html and "&lt;0.0001" in html and html.count("<table") == 1
    assert html.rstrip().endswith('<pre style="margin: 0.4em 0">note</pre>\n</div>')
    pd.testing.assert_frame_equal(outer.to_frame(), table.frame)
    assert Summary(["only text"]).to_frame().empty
    with pytest.raises(TypeError, match="a summary part is a str, SummaryTable or Summary, got int"):
        Summary([1])  # type: ignore[list-item]
