"""Report layouts (``dosefinding.report.layout``) on the A2201 demo and the CDISC pilot, and their bad input.

* the demo's report (layout ``a2201-paper``) in headless Chromium: every table and figure
  panel of the paper found by its caption, every analysed endpoint by its label; no figure
  is blank (tests/report/figure_checks.py on each PNG);
* the CDISC pilot's report (layout ``csr``) shows the disposition of its ADSL (DCDECOD)
  and says that screening is not recorded instead of printing 0;
* a user's layout (a small TOML written here) renders on the CDISC pilot data;
* ``StudyResults.frames()`` has exactly the frames and columns of the shared interface;
* bad input stops with one line (or warns once): an endpoint named in a layout but not
  analysed, a panel without data, an unwritable ``--out`` (before any analysis), an empty
  data file, BDS subjects missing from ADSL.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from dosefinding.cli import main
from dosefinding.datasets import cdisc_pilot_path
from dosefinding.errors import DoseFindingWarning, InputError
from dosefinding.report.layout import load_layout, parse_layout, render_report
from dosefinding.study.analysis import StudyResults
from dosefinding.study.analysis_data import load_data
from dosefinding.study.analysis_spec import AnalysisSpec, load_analysis_spec, parse_analysis_spec
from dosefinding.study.pipeline import AnalysisResult, analyze, run_demo
from dosefinding.study.tidy_frames import FRAME_COLUMNS
from report import chromium  # tests/report/chromium.py
from report.figure_checks import assert_not_blank
from report.test_browser import Ids

ROOT = Path(__file__).resolve().parents[2]
CDISC_SPEC = ROOT / "examples" / "cdiscpilot01_analysis.toml"
CDISC = cdisc_pilot_path()
CDISC_IN_SPEC = "../src/dosefinding/datasets/data/cdiscpilot01"  # the example's [data] folder, relative to it

PAPER_CAPTIONS = [
    "Table 1. Demographic and baseline characteristics", "Table 2. Efficacy at week 24",
    "Table 2 (continued). Biomarkers at week 24", "Table 2 (continued). MCP-Mod: multiple contrast test",
    "Table 3. Patients with treatment-emergent adverse events", "Table 4. Published versus virtual-trial figures",
    "Figure 1. Patient participation and withdrawals", "Figure 2a. ESSDAI changes from baseline over time",
    "Figure 2b. Placebo-adjusted ESSDAI changes from baseline by dose at Week 24",
    "Figure 2c (left). Proportion of patients reaching a &gt;= 3 point reduction in ESSDAI",
    "Figure 2c (right). Proportion of patients with low (&lt;5), moderate (5-13) or high (&gt;13) ESSDAI",
    "Figure 2d. PhGA changes from baseline", "Figure 2e. Stimulated salivary flow changes from baseline",
    "Figure 2f. ESSPRI changes from baseline", "Figure 3a. Serum ianalumab concentration at week 24 by dose",
    "Figure 3b. CD19+ B cell counts at week 24 by dose", "Figure 3c. Change from baseline in serum BAFF levels",
    "Figure 3d. Placebo-adjusted change from baseline in serum RF",
    "Figure 3e. Placebo-adjusted change from baseline in serum IgG",
]


class Text(HTMLParser):
    """The visible text of a document (script and style left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.skip += tag in ("style", "script")

    def handle_endtag(self, tag: str) -> None:
        self.skip -= tag in ("style", "script")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> AnalysisResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DoseFindingWarning)  # SFUNSTIM, SCHIRMER: not simulated yet (required = false)
        return run_demo(tmp_path_factory.mktemp("demo"), seed=3, model_average_draws=20)


@pytest.fixture(scope="module")
def cdisc(tmp_path_factory: pytest.TempPathFactory) -> AnalysisResult:
    return analyze(CDISC_SPEC, tmp_path_factory.mktemp("cdisc"))


# --------------------------------------------------------------------------- the paper's layout


@pytest.mark.slow
def test_demo_report_in_chromium_has_every_table_figure_and_endpoint(demo: AnalysisResult, tmp_path: Path) -> None:
    assert demo.files is not None
    dom = chromium.dump_dom(demo.files.html.as_uri(), tmp_path / "profile")
    ids = Ids()
    ids.feed(dom)
    assert ids.tables == [t.id for t in demo.report.tables]
    assert ids.figures == [f.id for f in demo.report.figures]
    assert len(ids.images) == len(ids.figures) and all(s.startswith("data:image/") for s in ids.images)
    captions = re.findall(r"<(?:caption|figcaption)>(.*?)<", dom)
    for title in PAPER_CAPTIONS:
        assert sum(c.startswith(title) for c in captions) == 1, title
    text = Text()
    text.feed(dom)
    visible = " ".join(text.parts)
    analysed = {**demo.results.endpoints, **demo.results.biomarkers}
    assert set(analysed) >= {"ESSDAI", "PHGA", "ESSPRI", "PAGA", "SFSTIM", "FACITF", "SF36PCS", "SF36MCS",
                             "CD19", "BAFF", "RF", "IGG"}
    for fit in analysed.values():
        assert f"{fit.spec.label}" in visible, fit.spec.label
    for figure in demo.report.figures:
        assert_not_blank(figure.png)


def test_demo_uses_one_alpha_and_prints_df_rounded(demo: AnalysisResult) -> None:
    mcp = next(t for t in demo.report.tables if t.id == "table-2-mcp")
    note = mcp.footnotes[0]
    assert note.startswith("One-sided test at the study's alpha = 0.05, ")
    assert re.search(r", \d+(\.\d)? degrees of freedom;", note), note
    assert demo.results.mcpmod is not None and demo.results.mcpmod.mct.alpha == 0.05


def test_generated_spec_cites_no_path_users_do_not_have(demo: AnalysisResult) -> None:
    assert demo.files is not None
    text = (demo.files.html.parent / "analysis.toml").read_text(encoding="utf-8")
    assert "/work/" not in text and "shared/" not in text


# --------------------------------------------------------------------------- the CSR layout on the CDISC pilot


def test_cdisc_report_shows_the_disposition_of_adsl_and_no_invented_screening(cdisc: AnalysisResult) -> None:
    """End of study as the pilot's Table 14-1.02 counts it: week-24 completion (COMP24FL) and the reason for
    early termination (DCREASCD); tests/study/test_cdisc_csr.py checks every count against the pilot's table."""
    adsl = pd.read_sas(CDISC / "adsl.xpt", format="xport", encoding="utf-8")
    itt = adsl[adsl["ITTFL"] == "Y"]
    assert cdisc.files is not None
    table = json.loads(cdisc.files.results.read_text(encoding="utf-8"))["tables"]["table-14-1-02"]
    columns = [c["label"].split(" (N=")[0] for c in table["columns"]]
    rows = {r["label"].strip(): r["values"] for r in table["rows"]}
    for j, arm in enumerate(columns):
        mine = itt[itt["TRT01P"] == arm]
        assert rows["Randomised"][j]["n"] == len(mine)
        assert rows["Completed"][j]["n"] == (mine["COMP24FL"] == "Y").sum()
        for reason, n in mine.loc[mine["COMP24FL"] != "Y", "DCREASCD"].value_counts().items():
            assert rows[reason][j]["n"] == n, (arm, reason)
    assert (rows["Completed"][0]["n"], rows["Adverse Event"][1]["n"]) == (60, 44)  # the pilot's CSR Table 14-1.02
    html = cdisc.files.html.read_text(encoding="utf-8")
    assert "Screening: not recorded in the data." in html
    svg = cdisc.files.figures["figure-14-1-01"][1].read_text(encoding="utf-8")
    assert "Screening not recorded in the data" in svg  # the flow's top box
    assert "Excluded (n = 0)" not in html and "Assessed for eligibility" not in html
    assert cdisc.results.disposition.screened is None
    assert "Screened" not in cdisc.results.frames()["disposition"]["stage"].tolist()


USER_LAYOUT = """
[layout]
name = "my-study"
description = "One table of LS means and one figure over time"

[format]
decimals = 3

[[section]]
id = "primary"
title = "Primary endpoint"

[[section.item]]
table = "lsmeans"
endpoint = "ACTOT"
id = "ls-means"
caption = "ADAS-Cog(11): LS means by visit"

[[section.item]]
panel = "over_time"
endpoint = "ACTOT"
id = "over-time"
letter = "A"
caption = "{label} over time"
"""


def test_a_user_layout_renders_on_the_cdisc_pilot(cdisc: AnalysisResult, tmp_path: Path) -> None:
    file = tmp_path / "my_layout.toml"
    file.write_text(USER_LAYOUT, encoding="utf-8")
    report = render_report(cdisc.results, load_layout(file))
    assert [t.id for t in report.tables] == ["ls-means"] and [f.id for f in report.figures] == ["over-time"]
    table = report.tables[0]
    week24 = next(r for r in table.rows if r.label == "Week 24")
    placebo = cdisc.results.endpoints["ACTOT"].lsmeans.estimates.loc[("Week 24", "Placebo")]
    assert week24.cells[0] == f"{placebo['estimate']:.3f} ({placebo['se']:.3f})"
    assert report.figures[0].caption == "ADAS-Cog(11) over time"
    assert_not_blank(report.figures[0].png)
    files = report.write(tmp_path / "out")
    assert "ADAS-Cog(11): LS means by visit" in files.html.read_text(encoding="utf-8")
    # the command line takes the layout too
    assert main(["analyze", str(CDISC_SPEC), "--out", str(tmp_path / "cli"), "--layout", str(file)]) == 0
    assert sorted(p.name for p in (tmp_path / "cli" / "tables").iterdir()) == ["ls-means.rtf"]


def test_frames_are_the_shared_interface(cdisc: AnalysisResult, demo: AnalysisResult) -> None:
    for results in (cdisc.results, demo.results):
        frames = results.frames()
        assert list(frames) == list(FRAME_COLUMNS)
        for name, frame in frames.items():
            assert list(frame.columns) == FRAME_COLUMNS[name], name
    assert set(FRAME_COLUMNS) == {"disposition", "discontinuation", "baseline", "lsmeans", "differences", "mcp",
                                  "responders", "responder_tests", "categories", "ae", "exposure", "sensitivity",
                                  "sensitivity_mcp", "tipping_point"}
    frames = demo.results.frames()
    assert set(frames["categories"]["period"]) == {"Baseline", "Week 24"}
    assert {"", "ANY EVENT"} <= set(frames["ae"]["soc"]) | set(frames["ae"]["term"])
    overall = frames["ae"][(frames["ae"]["soc"] == "") & (frames["ae"]["term"] == "ANY EVENT")]
    assert len(overall) == 4  # once per arm: no duplicate "ANY EVENT"
    assert isinstance(demo.results, StudyResults)


# --------------------------------------------------------------------------- bad input


def _layout(item: str) -> str:
    return f'[layout]\nname = "bad"\n[[section]]\nid = "s"\ntitle = "S"\n[[section.item]]\n{item}\n'


@pytest.mark.parametrize(("item", "message"), [
    ('panel = "over_time"\nendpoint = "ESSDAI"\nid = "f"\ncaption = "c"',
     r"^layout bad: f\.endpoint: 'ESSDAI' is not analysed \(analysed: ACTOT, ACTOT_LOCF, ACTOT_RM\)$"),
    ('table = "efficacy"\nendpoints = ["ACTOT", "ESSPRI"]\nid = "t"\ncaption = "c"',
     r"^layout bad: t\.endpoints: 'ESSPRI' is not analysed \(analysed: ACTOT, ACTOT_LOCF, ACTOT_RM\)$"),
    ('panel = "dose_estimates"\nendpoint = "ACTOT"\nvisit = 99\nid = "f"\ncaption = "c"',
     r"^layout bad: f: no data for endpoint 'ACTOT' at visit 99: the panel would be empty$"),
    ('panel = "dose_summary"\nparameter = "DRUGTRGH"\nid = "f"\ncaption = "c"',
     r"^layout bad: f\.parameter: 'DRUGTRGH' is not in \[exposure\] of the spec \(none\)$"),
    ('panel = "violin"\nid = "f"\ncaption = "c"', r"^layout bad: f\.panel: 'violin' is not a panel kind"),
])
def test_bad_layout_entry_stops_with_one_line(cdisc: AnalysisResult, item: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as error:
        render_report(cdisc.results, parse_layout(_layout(item)))
    assert "\n" not in str(error.value)


def test_layout_file_is_checked_when_read() -> None:
    with pytest.raises(InputError, match=r"^layout bad: section\[0\]\.item\[0\]\.colour: unknown key"):
        parse_layout(_layout('table = "ae"\nid = "t"\ncaption = "c"\ncolour = "red"'))
    with pytest.raises(InputError, match=r"^layout bad: section\[0\]\.item\[0\]\.caption: missing"):
        parse_layout(_layout('table = "ae"\nid = "t"'))


@pytest.mark.parametrize("out", ["/proc/dosefinding-report", "FILE", "FILE/below"])
def test_unwritable_out_stops_before_any_analysis(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  out: str) -> None:
    (tmp_path / "FILE").write_text("x", encoding="utf-8")
    out = out.replace("FILE", str(tmp_path / "FILE"))
    broken = tmp_path / "spec.toml"  # data that do not exist: an analysis run would fail on them first
    broken.write_text(CDISC_SPEC.read_text(encoding="utf-8").replace(CDISC_IN_SPEC, "missing"),
                      encoding="utf-8")
    for command in (["analyze", str(broken), "--out", out], ["demo", "--out", out]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.startswith("dosefinding: error: --out: ") and err.count("\n") == 1, err


def _cdisc_copy(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    spec = CDISC_SPEC.read_text(encoding="utf-8").replace(f'"{CDISC_IN_SPEC}', f'"{CDISC.as_posix()}')
    spec = spec.replace(f'adqsadas = "{(CDISC / "adqsadas.csv").as_posix()}"', f'adqsadas = "{name}"')
    file = tmp_path / "spec.toml"
    file.write_text(spec, encoding="utf-8")
    return file


@pytest.mark.parametrize(("text", "message"), [("", "is empty"), ("USUBJID,PARAMCD,AVAL\n", "has no rows")])
def test_empty_data_file_stops_with_one_line(tmp_path: Path, text: str, message: str) -> None:
    spec = load_analysis_spec(_cdisc_copy(tmp_path, "adqsadas.csv", text))
    with pytest.raises(InputError, match=rf"^data\.adqsadas: .*adqsadas\.csv' {message}"):
        load_data(spec)


def test_bds_subjects_missing_from_adsl_warn_with_their_count(tmp_path: Path) -> None:
    bds = pd.read_csv(CDISC / "adqsadas.csv")
    ghosts = bds[bds["usubjid"].isin(bds["usubjid"].unique()[:3])].assign(
        usubjid=lambda f: "GHOST-" + f["usubjid"].astype(str))
    spec = load_analysis_spec(_cdisc_copy(tmp_path, "adqsadas.csv", pd.concat([bds, ghosts]).to_csv(index=False)))
    with pytest.warns(DoseFindingWarning) as caught:
        load_data(spec)
    messages = [str(w.message) for w in caught if issubclass(w.category, DoseFindingWarning)]
    assert messages == ["data.adqsadas: 3 subject(s) of USUBJID not in adsl; their rows are not analysed"]


def test_spec_layout_path_is_relative_to_the_spec(tmp_path: Path) -> None:
    text = CDISC_SPEC.read_text(encoding="utf-8").replace('layout = "csr"', 'layout = "layouts/mine.toml"')
    spec = parse_analysis_spec(text, base=tmp_path)
    assert spec.layout == tmp_path / "layouts" / "mine.toml"


def test_results_json_carries_the_tidy_frames(cdisc: AnalysisResult) -> None:
    assert cdisc.files is not None
    document = json.loads(cdisc.files.results.read_text(encoding="utf-8"))
    frames = cdisc.results.frames()
    assert list(document["frames"]) == list(frames)
    lsmeans = pd.DataFrame(document["frames"]["lsmeans"])
    pd.testing.assert_frame_equal(lsmeans, frames["lsmeans"], check_dtype=False, rtol=0, atol=0)


def test_screening_from_a_ds_dataset(tmp_path: Path) -> None:
    """With a DS-like dataset the flow counts the screened and the screen failures by reason (DSTERM)."""
    adsl = pd.read_sas(CDISC / "adsl.xpt", format="xport", encoding="utf-8")
    randomised = pd.DataFrame({"USUBJID": adsl["USUBJID"], "DSSCAT": "SCREENING", "DSDECOD": "RANDOMIZED",
                               "DSTERM": "RANDOMIZED"})
    failures = pd.DataFrame({"USUBJID": [f"SF-{i}" for i in range(8)], "DSSCAT": "SCREENING",
                             "DSDECOD": ["SCREEN FAILURE"] * 7 + ["WITHDRAWAL BY SUBJECT"],
                             "DSTERM": ["MMSE < 10"] * 5 + ["Age < 50"] * 2 + ["Withdrew consent"]})
    pd.concat([randomised, failures]).to_csv(tmp_path / "ds.csv", index=False)
    text = CDISC_SPEC.read_text(encoding="utf-8").replace(f'"{CDISC_IN_SPEC}', f'"{CDISC.as_posix()}')
    text = text.replace("[populations]", 'ds = "ds.csv"\n\n[populations]', 1).replace(
        'reason = "DCREASCD"\n\n[report]', 'reason = "DCREASCD"\nds = "ds"\n\n[report]')
    spec = parse_analysis_spec(text, base=tmp_path)
    results = analyze(_without_bootstrap(spec))
    assert results.disposition.screened == len(adsl) + 8
    # a screen failure by the rule it failed (DSTERM), another exclusion by its event (DSDECOD)
    assert results.disposition.excluded == {"MMSE < 10": 5, "Age < 50": 2, "WITHDRAWAL BY SUBJECT": 1}
    assert results.disposition.criteria == ("MMSE < 10", "Age < 50")  # the screen failures' rules, not the event
    frame = results.frames()["disposition"]
    assert frame[frame["arm"] == "All"].to_dict("records") == [{"stage": "Screened", "arm": "All", "n": 262},
                                                              {"stage": "Excluded", "arm": "All", "n": 8}]
    report = render_report(results, parse_layout(_layout('panel = "flow"\nid = "f"\ncaption = "Flow"')))
    assert b"Assessed for eligibility (n = 262)" in report.figures[0].svg
    assert b"Not meeting inclusion criteria (n = 7)" in report.figures[0].svg  # failed rules grouped (CONSORT)


def _without_bootstrap(spec: AnalysisSpec) -> AnalysisSpec:
    """The spec without bootstrap model averaging (not needed here, and the slowest step)."""
    assert spec.primary is not None
    return replace(spec, primary=replace(spec.primary, model_average_draws=0))


def test_a_layout_brings_its_own_document_template(cdisc: AnalysisResult, tmp_path: Path) -> None:
    (tmp_path / "sponsor.html.j2").write_text(
        '{% extends "report.html.j2" %}{% block footer %}<footer>Sponsor {{ study }}, confidential</footer>'
        "{% endblock %}", encoding="utf-8")
    layout = USER_LAYOUT.replace('description = "One table', 'template = "sponsor.html.j2"\ndescription = "One table')
    (tmp_path / "layout.toml").write_text(layout, encoding="utf-8")
    html = render_report(cdisc.results, load_layout(tmp_path / "layout.toml")).to_html()
    assert "<footer>Sponsor CDISCPILOT01, confidential</footer>" in html and 'id="ls-means"' in html
    with pytest.raises(InputError, match=r"^layout my-study: layout\.template: no such file"):
        parse_layout(layout.replace("sponsor.html.j2", "missing.j2"), base=tmp_path)
