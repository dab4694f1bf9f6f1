"""The pipeline's sensitivity analyses of an estimand (study/sensitivity.py) on the A2201 virtual trial.

References: the pipeline's numbers equal direct dosefinding.imputation calls on the same
EstimandData (1e-10: the same computation, so any difference is a wiring bug); conditional mean
imputation under MAR equals the MMRM with the imputation model's design (Wolbers et al. 2022:
the ANCOVA of the conditional-mean-imputed data at a visit is the MMRM's GLS estimate there) up to
the convergence of the two REML fits (1e-6 absolute on ESSDAI points, SE about 1).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dosefinding.errors import InputError
from dosefinding.imputation import analyse, imputation_data, impute, mmrm_draws, pool, pooled_lsmeans, tipping_point
from dosefinding.mcp import mct_test
from dosefinding.mmrm import mmrm
from dosefinding.report.layout import load_layout, render_report
from dosefinding.study import simulate_trial
from dosefinding.study.analysis import analyze_study, fit_endpoint, primary_candidates
from dosefinding.study.analysis_data import load_data
from dosefinding.study.analysis_spec import AnalysisSpec, ImputationSpec, parse_analysis_spec
from dosefinding.study.pipeline import a2201_analysis_text
from dosefinding.study.sensitivity import PRIMARY_ANALYSIS, PRIMARY_IMPUTATION, run_sensitivity

MAR = '''[[estimands.ESSDAI-primary.sensitivity]]
name = "Missing at random"
method = "MAR"
'''
ANCHOR = "[estimands.ESSDAI-primary.imputation]"


@pytest.fixture(scope="module")
def trial() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        simulate_trial("a2201").write(Path(tmp) / "adam")
        yield Path(tmp)


def _spec(trial: Path, text: str | None = None) -> AnalysisSpec:
    text = a2201_analysis_text() if text is None else text
    return parse_analysis_spec(text.replace("model_average_draws = 200", "model_average_draws = 5"), base=trial)


@pytest.fixture(scope="module")
def spec(trial: Path) -> AnalysisSpec:
    return _spec(trial, a2201_analysis_text().replace(ANCHOR, MAR + ANCHOR))


@pytest.fixture(scope="module")
def data(spec: AnalysisSpec) -> dict[str, pd.DataFrame]:
    return dict(load_data(spec))


@pytest.fixture(scope="module")
def results(spec: AnalysisSpec) -> object:
    return analyze_study(spec)


def _direct(spec: AnalysisSpec, fit: object, name: str | None, method: str) -> tuple[pd.DataFrame, object]:
    """dosefinding.imputation called by hand on the fit's EstimandData."""
    estimand = fit.estimand  # type: ignore[attr-defined]
    e = fit.spec  # type: ignore[attr-defined]
    d = imputation_data(estimand.data, subject="USUBJID", visit="AVISIT", outcome="CHG", arm="TRT01P",
                        covariates=["BASE", "STRAT1R"], ice=estimand.ice(name), references=estimand.references(name),
                        visit_order=list(estimand.visits.values()), arm_order=list(spec.arms.names))
    deltas = estimand.deltas(name) if method == "delta" else None
    analysis = analyse(impute(mmrm_draws(d, method="condmean", resampling="jackknife"), deltas=deltas),
                       model="ancova", control="Placebo")
    table = pool(analysis).table
    label = fit.visits[e.primary_visit]  # type: ignore[attr-defined]
    return table[(table["visit"] == label) & table["parameter"].str.startswith("trt_")].set_index("arm"), analysis


def test_pipeline_equals_direct_imputation_calls(spec: AnalysisSpec, results: object) -> None:
    result = results.sensitivity["ESSDAI"]  # type: ignore[attr-defined]
    fit = results.endpoints["ESSDAI"]  # type: ignore[attr-defined]
    p = spec.primary
    assert p is not None
    candidates = primary_candidates(spec, sorted(spec.arms.doses.values()))
    analyses = [(PRIMARY_IMPUTATION, None, "events' own")] + [(s.name, s.name, s.method)
                                                             for s in spec.estimands["ESSDAI-primary"].sensitivity]
    assert list(dict.fromkeys(result.differences["analysis"])) == [PRIMARY_ANALYSIS] + [a[0] for a in analyses]
    for label, name, method in analyses:
        expected, analysis = _direct(spec, fit, name, method)
        got = result.differences[result.differences["analysis"] == label].set_index("arm")
        assert list(got.index) == ["VAY736 5 mg", "VAY736 50 mg", "VAY736 300 mg"]
        for column, theirs in [("estimate", "estimate"), ("se", "se"), ("lower", "lower"), ("upper", "upper"),
                               ("p_value", "p_value")]:
            np.testing.assert_allclose(got[column], expected.loc[got.index, theirs], rtol=1e-10, err_msg=label)
        est, cov, df = pooled_lsmeans(analysis, "Week 24")  # arms in dose order: placebo first
        test = mct_test(candidates, doses=np.array([0.0, 5.0, 50.0, 300.0]), estimates=est, cov=cov,
                        df=None if np.isinf(df) else df, alpha=p.alpha, critical_value=False)
        assert test.p_values is not None
        mcp = result.mcp.set_index("analysis").loc[label]
        np.testing.assert_allclose(mcp["p_value"], test.p_values.min(), rtol=1e-10, err_msg=label)
    primary = fit.lsmeans.differences.xs("Week 24", level=0)
    mmrm_rows = result.differences[result.differences["analysis"] == PRIMARY_ANALYSIS].set_index("arm")
    np.testing.assert_allclose(mmrm_rows["estimate"], primary.loc[mmrm_rows.index, "estimate"], rtol=1e-12)
    assert result.mcp.set_index("analysis").loc[PRIMARY_ANALYSIS, "p_value"] == \
        results.mcpmod.mct.p_values.min()  # type: ignore[attr-defined]


def test_tipping_point_equals_the_direct_call(spec: AnalysisSpec, results: object) -> None:
    result = results.sensitivity["ESSDAI"]  # type: ignore[attr-defined]
    fit = results.endpoints["ESSDAI"]  # type: ignore[attr-defined]
    estimand = fit.estimand
    d = imputation_data(estimand.data, subject="USUBJID", visit="AVISIT", outcome="CHG", arm="TRT01P",
                        covariates=["BASE", "STRAT1R"], ice=estimand.ice(), references=estimand.references(),
                        visit_order=list(estimand.visits.values()), arm_order=list(spec.arms.names))
    grid = spec.estimands["ESSDAI-primary"].tipping_point.deltas  # type: ignore[union-attr]
    direct = tipping_point(mmrm_draws(d), grid, visit="Week 24", arm="VAY736 300 mg", control="Placebo",
                           candidates=primary_candidates(spec, sorted(spec.arms.doses.values())),
                           doses=dict(spec.arms.doses), mcp_alpha=0.025)
    columns = ["delta", "estimate", "lower", "upper", "p_value", "mcp_p_value"]
    np.testing.assert_allclose(result.tipping.curve[columns].to_numpy(float), direct.curve[columns].to_numpy(float),
                               rtol=1e-10)
    frame = results.frames()["tipping_point"]  # type: ignore[attr-defined]
    assert len(frame) == len(grid) and set(frame["endpoint"]) == {"ESSDAI"}


def test_mar_sensitivity_equals_the_mmrm_with_the_imputation_models_design(results: object) -> None:
    """Conditional mean imputation under MAR reproduces the MMRM (Wolbers et al. 2022, section 3).

    The MMRM must be the imputation model (arm and each covariate by visit, unstructured); the
    spec's primary MMRM has the covariates without the visit interaction, so it differs slightly.
    """
    fit = results.endpoints["ESSDAI"]  # type: ignore[attr-defined]
    rows = fit.estimand.data[fit.estimand.data["CHG"].notna()]
    model = mmrm("CHG ~ TRT01P * AVISIT + BASE * AVISIT + STRAT1R * AVISIT", rows, subject="USUBJID", visit="AVISIT",
                 covariance="us")
    expected = model.lsmeans("TRT01P", by="AVISIT", reference="Placebo").differences.xs("Week 24", level=0)
    d = results.sensitivity["ESSDAI"].differences  # type: ignore[attr-defined]
    got = d[d["analysis"] == "Missing at random"].set_index("arm")
    np.testing.assert_allclose(got["estimate"], expected.loc[got.index, "estimate"], rtol=0, atol=1e-6)


def test_the_report_shows_the_sensitivity_table_and_the_tipping_figure(results: object) -> None:
    html = render_report(results, "a2201-paper").to_html()  # type: ignore[arg-type]
    assert 'id="table-s-sensitivity-essdai"' in html and 'id="figure-s-tipping-essdai"' in html
    for text in ("Jump to reference", "Copy increments in reference", "Delta 2 points", "MCP-Mod", PRIMARY_ANALYSIS):
        assert text in html
    csr = load_layout("csr")  # the CDISC pilot's shells: only its sensitivity items fit A2201's endpoints
    kept = [replace(s, items=tuple(i for i in s.items if i.get("for_each") in ("sensitivity", "tipping_point")))
            for s in csr.sections]
    html = render_report(results, replace(csr, sections=tuple(s for s in kept if s.items))).to_html()  # type: ignore
    assert 'id="table-14-3-sensitivity-essdai"' in html and 'id="figure-14-3-tipping-essdai"' in html


def test_a_layout_item_for_sensitivity_is_left_out_without_any(trial: Path) -> None:
    text = a2201_analysis_text()
    start = text.index("[[estimands.ESSDAI-primary.sensitivity]]")
    end = text.index("[estimands.PHGA-primary]")
    spec = _spec(trial, text[:start] + text[end:])
    results = analyze_study(spec)
    assert results.sensitivity == {}
    html = render_report(results, "a2201-paper").to_html()
    assert "table-s-sensitivity" not in html and "figure-s-tipping" not in html


def test_a_reference_arm_without_data_is_one_error(spec: AnalysisSpec, data: dict[str, pd.DataFrame]) -> None:
    fit = fit_endpoint(spec, data, spec.endpoints["ESSDAI"], "endpoints.ESSDAI")
    estimand = fit.estimand
    assert estimand is not None
    frame = estimand.data.copy()
    frame.loc[frame["TRT01P"] == "Placebo", "CHG"] = np.nan
    broken = replace(fit, estimand=replace(estimand, data=frame))
    with pytest.raises(InputError, match="reference arm 'Placebo' has no subject with CHG") as info:
        run_sensitivity(spec, broken)
    assert "Jump to reference" in str(info.value) or "estimands.ESSDAI-primary" in str(info.value)


def test_a_delta_for_a_visit_absent_from_the_data_is_one_error(trial: Path, data: dict[str, pd.DataFrame]) -> None:
    spec = _spec(trial, a2201_analysis_text().replace("deltas = {4 = 2.0,", "deltas = {30 = 1.0, 4 = 2.0,"))
    with pytest.raises(InputError, match=r"estimands.ESSDAI-primary.sensitivity\[3\].deltas: visit 30 does not exist"):
        fit_endpoint(spec, data, spec.endpoints["ESSDAI"], "endpoints.ESSDAI")


@pytest.mark.parametrize(("table", "message"), [
    ("deltas = [0, 2, 1]", "need at least two values in increasing order"),
    ('deltas = [0, 1]\narm = "Placebo"', "tipping_point.arm: 'Placebo' is not an active arm"),
    ("deltas = [0, 1]\nn_samples = 3", "n_samples"),
])
def test_a_bad_tipping_point_table_is_one_error(trial: Path, table: str, message: str) -> None:
    text = a2201_analysis_text().replace("deltas = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]", table)
    with pytest.raises(InputError, match=message):
        _spec(trial, text)


def test_approximate_bayes_with_the_mmrm_analysis_equals_direct_calls(spec: AnalysisSpec,
                                                                       data: dict[str, pd.DataFrame]) -> None:
    fit = fit_endpoint(spec, data, spec.endpoints["ESSDAI"], "endpoints.ESSDAI")
    estimand = fit.estimand
    assert estimand is not None
    chosen = replace(estimand.estimand, sensitivity=estimand.estimand.sensitivity[:1], tipping_point=None,
                     imputation=ImputationSpec(method="approx_bayes", n_samples=4, analysis="mmrm", seed=3))
    result = run_sensitivity(spec, replace(fit, estimand=replace(estimand, estimand=chosen)))
    d = imputation_data(estimand.data, subject="USUBJID", visit="AVISIT", outcome="CHG", arm="TRT01P",
                        covariates=["BASE", "STRAT1R"], ice=estimand.ice("Jump to reference"),
                        references=estimand.references("Jump to reference"),
                        visit_order=list(estimand.visits.values()), arm_order=list(spec.arms.names))
    analysis = analyse(impute(mmrm_draws(d, method="approx_bayes", n_samples=4, seed=3), seed=3), model="mmrm",
                       control="Placebo")
    table = pool(analysis).table
    expected = table[(table["visit"] == "Week 24") & table["parameter"].str.startswith("trt_")].set_index("arm")
    got = result.differences[result.differences["analysis"] == "Jump to reference"].set_index("arm")
    for column in ("estimate", "se", "lower", "upper", "df", "p_value"):
        np.testing.assert_allclose(got[column], expected.loc[got.index, column], rtol=1e-10)
    assert result.method.startswith("approximate Bayesian (4 bootstrap samples), Rubin's rules (MMRM)")
