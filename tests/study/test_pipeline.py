"""The analysis pipeline (``dosefinding.study.pipeline``): the A2201 demo and the CDISC pilot spec, end to end.

Three kinds of checks (the report's layouts and their bad input: tests/study/test_pipeline_layout.py):

* the demo writes a report whose results.json validates against the schema in the repo;
* the numbers in the report are those of a direct call of the package's functions on the
  ADaM files, with the rows selected in the test (same code, so the tolerance is 1e-12:
  this checks the plumbing: populations, filters, visits, arm order, merging);
* on the CDISC pilot study the ADAS-Cog(11) MMRM LS means and differences match an
  independent R fit (nlme::gls + emmeans, tests/fixtures/r/cdiscpilot_mmrm_reference.R)
  to 1e-5 (our REML criterion is 1.5e-8 below R's: R stops slightly short of the optimum,
  which moves the LS means by up to 4e-6).

Bad specs stop with one InputError naming the spec key and the column.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dosefinding import Candidates
from dosefinding.datasets import cdisc_pilot_path
from dosefinding.errors import InputError
from dosefinding.mmrm import mmrm
from dosefinding.mod import mcpmod, mmrm_estimates, model_average
from dosefinding.report import validate_results
from dosefinding.study.analysis_spec import load_analysis_spec, parse_analysis_spec
from dosefinding.study.pipeline import AnalysisResult, a2201_analysis_text, analyze, run_demo
from dosefinding.summary import MAX_REPR, Summary

ROOT = Path(__file__).resolve().parents[2]
CDISC_SPEC = ROOT / "examples" / "cdiscpilot01_analysis.toml"
R_REFERENCE = ROOT / "tests" / "fixtures" / "r" / "cdiscpilot_mmrm_reference.json"
ARMS = ["Placebo", "VAY736 5 mg", "VAY736 50 mg", "VAY736 300 mg"]
SEED = 11


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> AnalysisResult:
    return run_demo(tmp_path_factory.mktemp("demo"), seed=SEED, model_average_draws=50)


@pytest.fixture(scope="module")
def results(demo: AnalysisResult) -> dict:
    assert demo.files is not None
    return json.loads(demo.files.results.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def adam(demo: AnalysisResult) -> dict[str, pd.DataFrame]:
    """The demo's ADaM files, read back with pandas in the test."""
    assert demo.files is not None
    folder = demo.files.html.parent / "adam"
    return {name: pd.read_csv(folder / f"{name}.csv") for name in ("adsl", "adeff", "adae", "adbm")}


def block_value(table: dict, heading: str, row: str, column: str) -> object:
    """The raw value of ``row`` under the heading row ``heading`` x ``column`` of a results.json table."""
    j = next(i for i, c in enumerate(table["columns"]) if c["label"] == column)
    rows = table["rows"]
    start = next(i for i, r in enumerate(rows) if r["label"] == heading)
    return next(r for r in rows[start + 1:] if r["label"] == row)["values"][j]


def cell(table: dict, row: str, column: str, spanner: str | None = None) -> object:
    """The raw value of ``row`` x ``column`` (under ``spanner``) of a results.json table."""
    j = next(i for i, c in enumerate(table["columns"]) if c["label"] == column and c["spanner"] == spanner)
    return next(r for r in table["rows"] if r["label"] == row)["values"][j]


# --------------------------------------------------------------------------- the demo's report


def test_demo_writes_report_results_rtf_and_figures(demo: AnalysisResult) -> None:
    files = demo.files
    assert files is not None
    assert files.html.name == "report.html" and files.html.stat().st_size > 100_000
    validate_results(files.results)  # against src/dosefinding/report/results.schema.json
    assert set(files.rtf) >= {"table-1", "table-2", "table-2-biomarkers", "table-2-mcp", "table-3", "table-4"}
    assert all(p.read_bytes().startswith(b"{\\rtf1") for p in files.rtf.values())
    for png, svg in files.figures.values():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"<svg" in svg.read_bytes()[:500]
    html = files.html.read_text(encoding="utf-8")
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html  # self-contained


# --------------------------------------------------------------------------- numbers against direct calls


def _essdai_rows(adam: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The rows of the primary estimand ESSDAI-primary, from the ADaM flags: every record (treatment policy for the
    discontinuation of treatment) but those from a rescue on (hypothetical) when the rescue came first."""
    adsl, adeff = adam["adsl"], adam["adeff"]
    rows = adeff[(adeff["PARAMCD"] == "ESSDAI") & (adeff["ANL01FL"] == "Y") & (adeff["AVISITN"] > 0)]
    first_off = rows[rows["ONTRTFL"] != "Y"].groupby("USUBJID")["AVISITN"].min()
    first_rescue = rows[rows["RESCFL"] == "Y"].groupby("USUBJID")["AVISITN"].min()
    rescue_rules = first_rescue[first_rescue < first_off.reindex(first_rescue.index).fillna(float("inf"))]
    rows = rows[~(rows["AVISITN"] >= rows["USUBJID"].map(rescue_rules))]
    fas = adsl.loc[(adsl["FASFL"] == "Y") & (adsl["RANDFL"] == "Y"), ["USUBJID", "TRT01P"]]
    rows = rows.drop(columns="TRTP").merge(fas, on="USUBJID")
    weeks = [4, 8, 12, 16, 20, 24]
    rows["AVISIT"] = pd.Categorical(rows["AVISIT"], categories=[f"Week {w}" for w in weeks])
    rows["TRT01P"] = pd.Categorical(rows["TRT01P"], categories=ARMS)
    return rows


def test_lsmeans_table_equals_a_direct_mmrm(adam: dict[str, pd.DataFrame], results: dict) -> None:
    rows = _essdai_rows(adam)
    fit = mmrm("CHG ~ TRT01P * AVISIT + BASE + STRAT1R", rows, subject="USUBJID", visit="AVISIT",
               covariance="us", df_method="kenward_roger")
    ls = fit.lsmeans("TRT01P", by="AVISIT", reference="Placebo")
    table = results["tables"]["table-s-essdai"]
    for week in (4, 12, 24):
        for arm in ARMS:
            got = cell(table, f"Week {week}", "LS mean (SE)", arm)
            want = ls.estimates.loc[(f"Week {week}", arm)]
            assert got["estimate"] == pytest.approx(want["estimate"], rel=1e-12, abs=1e-12)
            assert got["se"] == pytest.approx(want["se"], rel=1e-12)
        for arm in ARMS[1:]:
            got = cell(table, f"Week {week}", "Difference (95% CI)", arm)
            want = ls.differences.loc[(f"Week {week}", arm)]
            for key in ("estimate", "se", "df", "lower", "upper", "p"):
                assert got[key] == pytest.approx(want[key], rel=1e-12, abs=1e-12), (week, arm, key)
    summary = results["tables"]["table-2"]
    week24 = block_value(summary, "ESSDAI", "Difference to placebo (95% CI)", "VAY736 300 mg")
    assert week24["estimate"] == pytest.approx(ls.differences.loc[("Week 24", "VAY736 300 mg"), "estimate"], rel=1e-12)

    estimates = mmrm_estimates(fit, arm="TRT01P", visit="Week 24", df="min",
                               doses={"Placebo": 0, "VAY736 5 mg": 5, "VAY736 50 mg": 50, "VAY736 300 mg": 300})
    candidates = Candidates([0, 5, 50, 300], {"linear": None, "emax": [10, 100], "sigemax": [(50, 3)],
                                              "exponential": 150}, direction="decreasing")
    direct = mcpmod(candidates, **estimates, alpha=0.05, selection="AIC", delta=-1.0, seed=2201)
    mcp = results["tables"]["table-2-mcp"]
    assert direct.mct.p_values is not None
    described = {m.label: m.description for m in candidates.models}  # rows name each model with its guesstimates
    assert [r["label"] for r in mcp["rows"]] == ["linear", "emax (ed50 = 10)", "emax (ed50 = 100)",
                                                  "sigemax (ed50 = 50, h = 3)", "exponential (delta = 150)"]
    for shape, p in direct.mct.p_values.items():
        assert cell(mcp, described[shape], "Adjusted p-value") == pytest.approx(p, abs=1e-12)
        assert cell(mcp, described[shape], "t statistic") == pytest.approx(direct.mct.t_statistics[shape], rel=1e-12)
    assert results["mcpmod"]["selection"]["selected"] == direct.selection.selected
    mod = results["tables"]["table-2-mod"]
    for shape, td in direct.target_doses["TD"].items():
        assert cell(mod, shape, "Target dose (mg)") == pytest.approx(td, rel=1e-12)

    grid = np.union1d(np.linspace(0.0, 300.0, 61), [5.0, 50.0])
    averaged = model_average(["linear", "emax", "sigemax", "exponential"], doses=estimates.doses,
                             estimates=estimates.estimates.to_numpy(), cov=estimates.cov.to_numpy(), n_draws=50,
                             kind="effect", predict_doses=grid, delta=-1.0, seed=2201)
    figure = next(f for f in results["figures"] if f["id"] == "figure-2b")
    medians = [r["q0.5"] for r in figure["data"]["model_average"]]
    np.testing.assert_allclose(medians, averaged.quantiles.loc[0.5].to_numpy(), rtol=1e-12, atol=1e-12)
    selected = cell(results["tables"]["table-2-ma"], "Selected: linear", "Value")
    assert selected == pytest.approx(averaged.frequencies["linear"], abs=1e-15)


def test_responders_baseline_and_ae_counts_equal_direct_counts(adam: dict[str, pd.DataFrame], results: dict) -> None:
    adsl, adae = adam["adsl"], adam["adae"]
    fas = adsl[(adsl["FASFL"] == "Y") & (adsl["RANDFL"] == "Y")]
    rows = _essdai_rows(adam)  # the primary estimand's: a value after a rescue counts as missing
    week24 = rows[rows["AVISITN"] == 24]
    responders = set(week24.loc[week24["CHG"] <= -3, "USUBJID"])
    table = results["tables"]["table-2-responders"]
    name = "ESSDAI responders (decrease >= 3 points), week 24"
    for arm in ARMS:
        subjects = fas.loc[fas["TRT01P"] == arm, "USUBJID"]
        got = block_value(table, name, "Responders, n/N (%)", arm)
        assert got["n"] == len(subjects)  # missing at week 24: non-responder, in the denominator
        assert got["responders"] == subjects.isin(responders).sum()

    baseline = results["tables"]["table-1"]
    rows = baseline["rows"]
    mean_row = next(r for r in rows if r["label"] == "Age (years), mean (SD)")  # the paper's style: one row per variable
    randomised = adsl[adsl["RANDFL"] == "Y"]
    for j, arm in enumerate(ARMS):
        ages = randomised.loc[randomised["TRT01P"] == arm, "AGE"]
        assert mean_row["values"][j]["mean"] == pytest.approx(ages.mean(), rel=1e-12)

    ae = results["tables"]["table-3"]
    safety = adsl[(adsl["SAFFL"] == "Y") & (adsl["RANDFL"] == "Y")]
    teae = adae[adae["TRTEMFL"] == "Y"].merge(safety[["USUBJID", "TRT01A"]], on="USUBJID",
                                               suffixes=("_ae", ""))
    for j, arm in enumerate(ARMS):
        n = int((safety["TRT01A"] == arm).sum())
        any_ae = teae.loc[teae["TRT01A"] == arm, "USUBJID"].nunique()
        assert ae["rows"][0]["values"][j] == {"n": any_ae, "percent": pytest.approx(100 * any_ae / n, rel=1e-12)}
        assert ae["columns"][j]["label"] == f"{arm} (N={n})"


def test_responder_difference_is_the_papers_exact_interval_with_fisher(adam: dict[str, pd.DataFrame],
                                                                       results: dict) -> None:
    """The A2201 spec asks for the Santner-Snell interval and Fisher's test (the paper's 8.2 to 46.4, p = 0.002):
    the report's differences equal a direct compare_responders call (1e-12) and the footnote names both methods."""
    from dosefinding.endpoints.differences import compare_responders

    adsl = adam["adsl"]
    fas = adsl.loc[(adsl["FASFL"] == "Y") & (adsl["RANDFL"] == "Y"), ["USUBJID", "TRT01P"]]
    rows = _essdai_rows(adam)  # the primary estimand's: a value after a rescue counts as missing
    week24 = rows[rows["AVISITN"] == 24].drop(columns="TRT01P")
    frame = fas.merge(week24.assign(R=(week24["CHG"] <= -3).astype(float))[["USUBJID", "R"]], how="left")
    direct = compare_responders(frame, arm="TRT01P", response="R", reference="Placebo", arms=ARMS,
                                method="santner_snell", test="fisher").table
    table = results["tables"]["table-2-responders"]
    name = "ESSDAI responders (decrease >= 3 points), week 24"
    for arm in ARMS[1:]:
        got = block_value(table, name, "Difference to placebo, % (95% CI)", arm)
        assert got["lower"] == pytest.approx(direct.loc[arm, "lower"], rel=1e-12)
        assert got["upper"] == pytest.approx(direct.loc[arm, "upper"], rel=1e-12)
        assert block_value(table, name, "p-value", arm) == pytest.approx(direct.loc[arm, "p_value"], rel=1e-12)
    note = table["footnotes"][0]
    assert "Santner-Snell exact unconditional 95% confidence intervals" in note and "Fisher exact" in note, note
    assert "newcombe" not in note and "fisher" not in note, note


def test_biomarker_ancova_equals_ordinary_least_squares(adam: dict[str, pd.DataFrame], demo: AnalysisResult) -> None:
    """The week-24 biomarker ANCOVA (one visit: an MMRM is OLS) against statsmodels OLS: differences and SEs
    to 1e-8 relative (two implementations, both exact least squares)."""
    import statsmodels.formula.api as smf

    adsl, adbm = adam["adsl"], adam["adbm"]
    fas = adsl.loc[(adsl["FASFL"] == "Y") & (adsl["RANDFL"] == "Y"), ["USUBJID", "TRT01P"]]
    differences = demo.results.frames()["differences"]
    for name in ("CD19", "BAFF", "RF", "IGG"):
        rows = adbm[(adbm["PARAMCD"] == name) & (adbm["AVISITN"] == 24)].drop(columns="TRTP").merge(fas, on="USUBJID")
        rows = rows.dropna(subset=["CHG", "BASE"])
        ols = smf.ols("CHG ~ C(TRT01P, Treatment('Placebo')) + BASE", rows).fit()
        for arm in ARMS[1:]:
            term = f"C(TRT01P, Treatment('Placebo'))[T.{arm}]"
            got = differences[(differences["endpoint"] == name) & (differences["arm"] == arm)].iloc[0]
            assert got["visit"] == 24.0
            assert got["estimate"] == pytest.approx(ols.params[term], rel=1e-8), (name, arm)
            assert got["se"] == pytest.approx(ols.bse[term], rel=1e-8), (name, arm)
            assert got["p_value"] == pytest.approx(ols.pvalues[term], rel=1e-6), (name, arm)


def test_exposure_is_mean_and_sd_at_week_24_by_dose(adam: dict[str, pd.DataFrame], demo: AnalysisResult) -> None:
    adsl, adbm = adam["adsl"], adam["adbm"]
    safety = adsl.loc[(adsl["SAFFL"] == "Y") & (adsl["RANDFL"] == "Y"), ["USUBJID", "TRT01P"]]
    exposure = demo.results.frames()["exposure"]
    assert list(exposure.columns) == ["parameter", "arm", "dose", "visit", "n", "mean", "sd"]
    for name in ("DRUGTRGH", "CD19"):
        rows = adbm[(adbm["PARAMCD"] == name) & (adbm["AVISITN"] == 24)].drop(columns="TRTP").merge(safety)
        for arm, dose in zip(ARMS, (0.0, 5.0, 50.0, 300.0), strict=True):
            x = rows.loc[rows["TRT01P"] == arm, "AVAL"].dropna()
            got = exposure[(exposure["parameter"] == name) & (exposure["arm"] == arm)].iloc[0]
            assert (got["dose"], got["visit"], got["n"]) == (dose, 24.0, x.size)
            assert got["mean"] == pytest.approx(x.mean(), rel=1e-12)
            assert got["sd"] == pytest.approx(x.std(ddof=1), rel=1e-12, abs=1e-15)


def test_disposition_counts_equal_adsl(adam: dict[str, pd.DataFrame], demo: AnalysisResult) -> None:
    adsl = adam["adsl"]
    randomised = adsl[adsl["RANDFL"] == "Y"]
    frames = demo.results.frames()
    disposition = frames["disposition"].set_index(["stage", "arm"])["n"]
    ds = pd.read_csv(demo.files.html.parent / "adam" / "ds.csv")  # type: ignore[union-attr]
    assert disposition[("Screened", "All")] == ds["USUBJID"].nunique() == demo.results.disposition.screened
    not_randomised = ds.loc[~ds["USUBJID"].isin(randomised["USUBJID"]), "USUBJID"].nunique()
    assert disposition[("Excluded", "All")] == not_randomised
    for arm in ARMS:
        mine = randomised[randomised["TRT01P"] == arm]
        assert disposition[("Randomised", arm)] == len(mine)
        assert disposition[("Treated", arm)] == (mine["SAFFL"] == "Y").sum()
        # the demo's spec reads the treatment period (Figure 1 of the paper): EOTSTT and DCTREAS
        assert disposition[("Completed", arm)] == (mine["EOTSTT"] == "COMPLETED").sum()
        assert disposition[("Discontinued", arm)] == (mine["EOTSTT"] == "DISCONTINUED").sum()
    reasons = frames["discontinuation"]
    left = randomised[randomised["EOTSTT"] == "DISCONTINUED"]
    want = left.groupby(["DCTREAS", "TRT01P"]).size()
    got = reasons[reasons["n"] > 0].set_index(["reason", "arm"])["n"]
    assert got.sort_index().to_dict() == want.sort_index().to_dict()


def test_published_versus_virtual_takes_the_virtual_numbers_from_the_report(results: dict) -> None:
    """Table 4 is study.published's table of the packaged list (120 numbers of the paper), from the report's numbers."""
    table = results["tables"]["table-4"]
    assert sum(not r["heading"] for r in table["rows"]) == 120
    diff = block_value(results["tables"]["table-2"], "ESSDAI", "Difference to placebo (95% CI)",
                       "VAY736 300 mg")["estimate"]
    row = next(r for r in table["rows"] if r["label"] == "ESSDAI change, 300 mg minus placebo")
    assert row["cells"][0] == "-1.92 (-4.15, 0.32)"
    assert row["values"][1]["value"] == pytest.approx(diff, rel=1e-12)
    responders = block_value(results["tables"]["table-2-responders"],
                             "ESSDAI responders (decrease >= 3 points), week 24", "Responders, n/N (%)",
                             "VAY736 300 mg")["percent"]
    row = next(r for r in table["rows"] if r["label"] == "ESSDAI responders (%), 300 mg")
    assert row["values"][1]["value"] == pytest.approx(responders, rel=1e-12)


def test_example_spec_is_the_packaged_demo_spec() -> None:
    """examples/a2201_analysis.toml is the spec the demo runs (packaged under study/presets/analysis/)."""
    assert (ROOT / "examples" / "a2201_analysis.toml").read_text(encoding="utf-8") == a2201_analysis_text()


# --------------------------------------------------------------------------- the CDISC pilot study


@pytest.fixture(scope="module")
def cdisc(tmp_path_factory: pytest.TempPathFactory) -> AnalysisResult:
    return analyze(CDISC_SPEC, tmp_path_factory.mktemp("cdisc"))


def rtf_footers(result: AnalysisResult) -> set[str]:
    """The footer line (program, tab, run time) of every RTF table of a report."""
    assert result.files is not None
    return {re.search(r" (dosefinding [^\\]*)\\tab (\d{4}-\d\d-\d\d \d\d:\d\d UTC)", p.read_text()).groups()
            for p in result.files.rtf.values()}


def test_study_results_display_as_summaries(demo: AnalysisResult) -> None:
    """The notebook display of the pipeline's results: Summary text and HTML, one-line reprs."""
    for result in (demo, demo.results):
        summary = result.summary()
        assert isinstance(summary, Summary) and result._repr_html_() == summary._repr_html_()
        assert "\n" not in repr(result) and len(repr(result)) < MAX_REPR
    text = str(demo.summary()).splitlines()
    assert text[0] == str(demo.results.summary()).splitlines()[0] and text[1].startswith("Report: ")
    differences = demo.results.summary().to_frame()
    assert differences.index.tolist() == ["VAY736 5 mg", "VAY736 50 mg", "VAY736 300 mg"]


def test_rtf_footer_names_the_program_and_one_run_time(demo: AnalysisResult, cdisc: AnalysisResult) -> None:
    from dosefinding import __version__

    demo_footers, cdisc_footers = rtf_footers(demo), rtf_footers(cdisc)
    assert len(demo_footers) == 1 and next(iter(demo_footers))[0] == f"dosefinding {__version__} demo"
    assert len(cdisc_footers) == 1
    assert next(iter(cdisc_footers))[0] == f"dosefinding {__version__} analyze cdiscpilot01_analysis.toml"


def test_cdiscpilot_adascog_lsmeans_match_r(cdisc: AnalysisResult) -> None:
    reference = json.loads(R_REFERENCE.read_text(encoding="utf-8"))
    fit = cdisc.results.endpoints["ACTOT"]
    assert (fit.fit.n_subjects, fit.fit.n_obs) == (reference["n_subjects"], reference["n_obs"])
    assert fit.fit.m2_log_likelihood == pytest.approx(reference["m2_restricted_log_likelihood"], abs=1e-6)
    assert cdisc.files is not None
    table = json.loads(cdisc.files.results.read_text(encoding="utf-8"))["tables"]["table-14-3-14"]
    for row in reference["lsmeans"]:
        got = cell(table, row["visit"], "LS mean (SE)", row["arm"])
        assert got["estimate"] == pytest.approx(row["estimate"], abs=1e-5)
        assert got["se"] == pytest.approx(row["se"], abs=1e-5)
    for row in reference["differences"]:
        arm = row["contrast"].split(" - ")[0]
        got = cell(table, row["visit"], "Difference (95% CI)", arm)
        assert got["estimate"] == pytest.approx(row["estimate"], abs=1e-5)
        assert got["se"] == pytest.approx(row["se"], abs=1e-5)
    mcpmod_result = cdisc.results.mcpmod
    assert mcpmod_result is not None and mcpmod_result.mct.p_values is not None
    assert list(mcpmod_result.mct.estimates.index) == [0.0, 54.0, 81.0]
    np.testing.assert_allclose(mcpmod_result.mct.estimates.to_numpy(), reference["week24_lsmeans"], atol=1e-5)
    np.testing.assert_allclose(mcpmod_result.mct.cov.to_numpy(), reference["week24_cov"], rtol=1e-4)
    # MCP step against DoseFinding::MCTtest on R's LS means: t statistics to 1e-5 (the LS means
    # differ by up to 4e-6), p-values to 1e-4 (R's mvtnorm integration, abseps 1e-5)
    mcp = json.loads(cdisc.files.results.read_text(encoding="utf-8"))["tables"]["table-14-3-15"]
    primary = cdisc.results.spec.primary
    assert primary is not None  # the table names each model with its guesstimates: emax1 -> "emax (ed50 = ...)"
    described = {m.label: m.description for m in Candidates([0, 54, 81], dict(primary.candidates)).models}
    for shape, t, p in zip(*reference["mct"].values(), strict=True):
        assert cell(mcp, described[shape], "t statistic") == pytest.approx(t, rel=1e-5)
        assert cell(mcp, described[shape], "Adjusted p-value") == pytest.approx(p, abs=1e-4)
    validate_results(cdisc.files.results)
    assert not cdisc.report.synthetic


# --------------------------------------------------------------------------- bad specs


@pytest.fixture(scope="module")
def demo_text() -> str:
    return a2201_analysis_text()


BAD_SPECS = [
    ('endpoint = "ESSDAI"\nvisit = 24', 'endpoint = "ESSDAY"\nvisit = 24',
     (r"^primary\.endpoint: unknown endpoint 'ESSDAY' \(endpoints: ESSDAI, PHGA, ESSPRI, PAGA, SFSTIM, SFUNSTIM, "
      r"SCHIRMER, FACITF, SF36PCS, SF36MCS\)$")),
    ('"VAY736 50 mg" = 50, ', "",
     r"^arms\.doses: no dose for arm\(s\) \['VAY736 50 mg'\] of TRT01P in adsl$"),
    ('label = "ESSDAI"\nprimary_visit = 24', 'label = "ESSDAI"\nprimary_visit = 30',
     r"^endpoints\.ESSDAI\.primary_visit: visit 30 not found in AVISITN of adeff"),
    ('label = "ESSDAI"\nprimary_visit = 24', 'label = "ESSDAI"\nprimary_visit = 24\nvisits = [4, 26]',
     r"^endpoints\.ESSDAI\.primary_visit: 24 is not one of visits \[4\.0, 26\.0\]$"),
    ('label = "ESSDAI"\nprimary_visit = 24', 'label = "ESSDAI"\nprimary_visit = 24\nvisits = [4, 8, 12, 16, 20, 24, 26]',
     r"^endpoints\.ESSDAI\.visits: visit\(s\) \['26'\] not found in AVISITN of adeff"),
    ('covariates = ["BASE", "STRAT1R"]', 'covariates = ["BASE", "STRAT2R"]',
     r"^endpoints\.ESSDAI\.covariates: column\(s\) STRAT2R not found in adeff or adsl$"),
    ('variable = "TRT01P"', 'variable = "TRT02P"', r"^arms\.variable: column\(s\) TRT02P not found in adsl$"),
    ('completed = "COMPLFL"', 'completed = "COMPFL"', r"^populations\.completed: column\(s\) COMPFL not found in adsl$"),
    ('criterion = "CHG <= -3"', 'criterion = "CHANGE <= -3"',
     r"^responders\[0\]\.criterion: column\(s\) CHANGE not found in adeff$"),
    ('criterion = "CHG <= -3"', 'criterion = "CHG <- 3"', r"^responders\[0\]\.criterion: must read 'COLUMN OP NUMBER'"),
    ('[biomarkers.BAFF]\ndataset = "adbm"', '[biomarkers.BAFF]\ndataset = "adbm"\nparamcd = "BAFFX"',
     r"^biomarkers\.BAFF\.paramcd: 'BAFFX' not found in PARAMCD of adbm"),
    ('unit = "cells/uL"\nvisits = [24]', 'unit = "cells/uL"\nvisits = [26]',
     r"^exposure\.CD19\.visits: visit\(s\) \['26'\] not found in AVISITN of adbm"),
    ('model = "ancova"', 'model = "anova"', r"^biomarkers\.CD19\.model: must be one of"),
    ('[report]\nlayout = "a2201-paper"', '[report]\nlayout = "a2201_paper"', r"^layout: 'a2201_paper' is neither a built-in layout"),
    ('df_method = "kenward_roger"', 'df_method = "kenward-roger"', r"^endpoints\.ESSDAI\.df_method: must be one of"),
    ('covariance = "us"', 'covariance_structure = "us"', r"^endpoints\.ESSDAI\.covariance_structure: unknown key"),
    ('adsl = "adam/adsl.csv"', 'adsl = "adam/adsl2.csv"', r"^data\.adsl: path: no such file"),
    ("delta = -1.0", "delta = 1.0", r"^primary\.delta: 1 must have the sign of the direction \(decreasing\)$"),
    ('interval = "santner_snell"', 'interval = "santner-snell"',
     r"^responders\[0\]\.interval: must be one of wald, newcombe, mn, santner_snell; got 'santner-snell'$"),
    ('test = "fisher"', 'test = "cmh"', r"^responders\[0\]\.test: must be one of fisher, chisq; got 'cmh'$"),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD_SPECS, ids=[m[1:40] for _, _, m in BAD_SPECS])
def test_bad_spec_stops_with_one_message_naming_the_key(demo: AnalysisResult, demo_text: str, old: str, new: str,
                                                       message: str) -> None:
    assert demo.files is not None and old in demo_text
    base = demo.files.html.parent
    with pytest.raises(InputError, match=message) as error:
        analyze(parse_analysis_spec(demo_text.replace(old, new, 1), base=base), base / "rerun")
    assert "\n" not in str(error.value)


def test_spec_parser_checks_before_any_data_is_read(tmp_path: Path) -> None:
    text = CDISC_SPEC.read_text(encoding="utf-8")
    spec = load_analysis_spec(CDISC_SPEC)
    assert spec.data["adsl"] == (CDISC_SPEC.parent / "../src/dosefinding/datasets/data/cdiscpilot01/adsl.xpt")
    assert spec.data["adsl"].resolve() == cdisc_pilot_path() / "adsl.xpt"
    assert spec.endpoints["ACTOT"].exclude == {"DTYPE": ("LOCF",)}
    with pytest.raises(InputError, match=r"^responders\[0\]\.endpoint: unknown endpoint 'ADAS'"):
        parse_analysis_spec(text.replace('endpoint = "ACTOT"\nvisit = 24\ncriterion', 'endpoint = "ADAS"\nvisit = 24\n'
                                         'criterion'))
    with pytest.raises(InputError, match=r"^arms\.doses: exactly one arm must have dose 0"):
        parse_analysis_spec(text.replace('"Placebo" = 0', '"Placebo" = 10'))
    with pytest.raises(InputError, match=r"^endpoints\.ACTOT\.factors: \['SITE'\] not among the covariates"):
        parse_analysis_spec(text.replace('factors = ["SITEGR1"]', 'factors = ["SITE"]'))
    with pytest.raises(InputError, match=r"^spec: no such file"):
        load_analysis_spec(tmp_path / "missing.toml")


# --------------------------------------------------------------------------- the paper's style (a2201-paper layout)


def test_packaged_presets_cite_no_path_users_do_not_have() -> None:
    presets = ROOT / "src" / "dosefinding" / "study" / "presets"
    cited = [p.name for p in presets.rglob("*.toml") if "/work/" in p.read_text(encoding="utf-8")]
    assert cited == []


def test_table_1_in_the_papers_style_and_the_csr_keeps_the_full_rows(results: dict, cdisc: AnalysisResult) -> None:
    """a2201-paper: ``style = "paper"`` (mean (SD) on the variable's row, whole percentages, no total column);
    the csr layout keeps n, mean (SD), median [Q1, Q3], min, max."""
    table = results["tables"]["table-1"]
    labels = [r["label"] for r in table["rows"]]
    assert "Age (years), mean (SD)" in labels and "Median [Q1, Q3]" not in labels and "Mean (SD)" not in labels
    assert [c["label"] for c in table["columns"]] == [f"{a} (N={n})" for a, n in zip(ARMS, (49, 47, 47, 47),
                                                                                      strict=True)]
    female = next(r for r in table["rows"] if r["label"] == "Female")
    assert all(re.fullmatch(r"\d+ \(\d+%\)", c) for c in female["cells"]), female["cells"]
    age = next(r for r in table["rows"] if r["label"] == "Age (years), mean (SD)")
    assert all(re.fullmatch(r"\d+\.\d \(\d+\.\d\)", c) for c in age["cells"]), age["cells"]
    csr = next(t for t in cdisc.report.tables if t.stub_header == "Characteristic")
    assert {"Mean (SD)", "Median [Q1, Q3]", "Min, Max"} <= {r.label for r in csr.rows}


def test_table_2_prints_the_papers_decimals(results: dict) -> None:
    """ESSDAI -1.92 (2 decimals), PhGA -8.4 (1), stimulated salivary flow 0.22 (2), from the layout's decimals."""
    table = results["tables"]["table-2"]
    j = next(i for i, c in enumerate(table["columns"]) if c["label"] == "VAY736 300 mg")
    for heading, decimals in (("ESSDAI", 2), ("PhGA (mm)", 1), ("Stimulated salivary flow (mL/min)", 2)):
        rows = table["rows"]
        start = next(i for i, r in enumerate(rows) if r["label"] == heading)
        cell = next(r for r in rows[start + 1:] if r["label"] == "Difference to placebo (95% CI)")["cells"][j]
        number = rf"-?\d+\.\d{{{decimals}}}"
        assert re.fullmatch(rf"{number} \({number}, {number}\)", cell), (heading, cell)


def test_exposure_table_says_blq_and_prints_n_on_its_own_row(results: dict, adam: dict[str, pd.DataFrame]) -> None:
    table = results["tables"]["table-3-exposure"]
    assert not any("n =" in c for r in table["rows"] for c in r["cells"])
    rows = table["rows"]
    drug = next(i for i, r in enumerate(rows) if r["label"].startswith("Serum ianalumab trough concentration"))
    cd19 = next(i for i, r in enumerate(rows) if r["label"].startswith("CD19+ B cells"))
    adbm = adam["adbm"]
    placebo = adbm[(adbm["PARAMCD"] == "DRUGTRGH") & (adbm["AVISITN"] == 24) & (adbm["TRTP"] == "Placebo")]
    assert placebo["BLQFL"].eq("Y").all() and (placebo["AVAL"] == 0).all()
    mean_row = next(r for r in rows[drug + 1:] if r["label"] == "Mean (SD)")
    assert mean_row["cells"][0] == "all < LLOQ"
    assert next(r for r in rows[drug + 1:] if r["label"] == "n")["values"][0] == len(placebo)
    cd19_mean = next(r for r in rows[cd19 + 1:] if r["label"] == "Mean (SD)")
    value = cd19_mean["values"][0]
    assert value["mean"] >= 100 and cd19_mean["cells"][0] == f"{value['mean']:.0f} ({value['sd']:.0f})"


def test_category_columns_carry_their_period_and_n(results: dict) -> None:
    table = results["tables"]["table-2-categories"]
    spanners = [c["spanner"] for c in table["columns"]]
    assert spanners == ["Baseline"] * 4 + ["Week 24"] * 4
    totals = [sum(v["n"] for v in column) for column in zip(*(r["values"] for r in table["rows"]), strict=True)]
    assert [c["label"] for c in table["columns"]] == [f"{a} (N={n})" for a, n in zip(ARMS * 2, totals, strict=True)]


def test_model_average_lines_differ_from_the_fitted_curve(demo: AnalysisResult) -> None:
    """Figure 2b: the fitted curve dotted; the bootstrap median and quantiles in other line styles."""
    from dosefinding.report.layout_figures import draw_dose_response

    figure, _ = draw_dose_response(demo.results, title="", letter="b")
    styles = {line.get_label(): line.get_linestyle() for line in figure.axes[0].lines}
    curve = next(style for label, style in styles.items() if label.startswith("Fitted curve"))
    median = styles["Bootstrap model average (median)"]
    quantiles = styles["Bootstrap 2.5% and 97.5% quantiles"]
    assert len({curve, median, quantiles}) == 3, styles


@pytest.mark.parametrize("entry", [
    {"panel": "dose_summary", "parameter": "DRUGTRGH", "visit": 24, "letter": "a"},
    {"panel": "dose_estimates", "endpoint": "RF", "adjusted": True, "letter": "d"},
    {"panel": "dose_estimates", "endpoint": "BAFF", "adjusted": False, "letter": "c"},
], ids=["3a", "3d", "3c"])
def test_figure_3_axis_labels_fit_the_figure(demo: AnalysisResult, entry: dict) -> None:
    """Figure 3's y axis says the statistic and the unit (the title names the parameter) and fits the figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from dosefinding.report.layout_figures import panel

    figure, _, _ = panel(demo.results, {"id": "f", "caption": "c", **entry}, "f")
    canvas = FigureCanvasAgg(figure)
    canvas.draw()  # as saved: the layout engine places the labels
    label = figure.axes[0].yaxis.label
    box = label.get_window_extent(canvas.get_renderer())
    assert 0 <= box.x0 and 0 <= box.y0 and box.y1 <= figure.bbox.height, (label.get_text(), box)
    assert "±" in label.get_text() and "+-" not in label.get_text()


def test_table_3_reports_severity_as_the_paper_and_no_invented_ctc_grade(results: dict,
                                                                         adam: dict[str, pd.DataFrame]) -> None:
    """The virtual trial records severity (AESEV) only, as the paper: no CTC grade copied from the severity."""
    labels = [r["label"] for r in results["tables"]["table-3"]["rows"]]
    assert "Severe adverse events" in labels
    assert not any("CTC" in label for label in labels), labels
    assert "AETOXGR" not in adam["adae"].columns


def test_every_table_of_the_paper_layout_names_its_population(results: dict) -> None:
    """Each table but Table 4 (published versus virtual) says which patients it counts (its subtitle)."""
    populations = {"Randomised set", "Full analysis set", "Safety set"}
    unnamed = [k for k, t in results["tables"].items() if k != "table-4" and t["subtitle"] not in populations]
    assert unnamed == []
