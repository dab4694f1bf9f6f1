"""The JSON Schemas of the specs: committed copies current, presets valid by an independent validator, messages."""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from dosefinding.cli import main
from dosefinding.errors import InputError
from dosefinding.study import load_spec, parse_spec
from dosefinding.study.analysis_spec import load_analysis_spec, parse_analysis_spec
from dosefinding.study.design_spec import load_design_spec
from dosefinding.study.published import load_not_compared, load_published
from dosefinding.study.schema import SPEC_KINDS, schema_path, schema_text, spec_json_schema

PRESETS = Path(__file__).resolve().parents[2] / "src" / "dosefinding" / "study" / "presets"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# presets/** holds trial specs (presets/*.toml), analysis specs (presets/analysis/*.toml), design specs
# (presets/design/*.toml) and two files that are none of them: the paper's published numbers (read by published.py)
# and the eligibility rules of randomisation presets. examples/design_*.toml are design specs, the others analysis specs.
NOT_SPECS = {PRESETS / "analysis" / "a2201_published.toml"} | set((PRESETS / "randomisation").glob("*.toml"))
TRIAL_SPECS = sorted(PRESETS.glob("*.toml"))
DESIGN_SPECS = sorted((PRESETS / "design").glob("*.toml")) + sorted(EXAMPLES.glob("design_*.toml"))
ANALYSIS_SPECS = sorted(set((PRESETS / "analysis").glob("*.toml")) - NOT_SPECS) + sorted(
    set(EXAMPLES.glob("*.toml")) - set(DESIGN_SPECS))


def _as_json(document: dict[str, Any]) -> Any:
    """A TOML document as JSON sees it (TOML dates as ISO strings)."""
    return json.loads(json.dumps(document, default=lambda v: v.isoformat() if isinstance(v, dt.date) else v))


def _validator(kind: str) -> jsonschema.Draft202012Validator:
    schema = json.loads(schema_path(kind).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


@pytest.mark.parametrize("kind", list(SPEC_KINDS))
def test_committed_schema_is_the_generated_one(kind: str) -> None:
    # after changing a model: python -m dosefinding.study.schema
    assert schema_path(kind).read_text(encoding="utf-8") == schema_text(kind)
    assert json.loads(schema_text(kind)) == spec_json_schema(kind)


@pytest.mark.parametrize("kind", list(SPEC_KINDS))
def test_every_property_is_described(kind: str) -> None:
    schema = spec_json_schema(kind)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    undescribed, count = [], 0

    def walk(node: Any, where: str) -> None:
        nonlocal count
        if isinstance(node, dict):
            for name, prop in node.get("properties", {}).items():
                count += 1
                if not prop.get("description", "").strip():
                    undescribed.append(f"{where}.{name}")
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for value in node:
                walk(value, where)

    walk(schema, kind)
    assert count > 40 and undescribed == []


def test_units_are_described() -> None:
    trial = spec_json_schema("trial")["$defs"]
    assert "(weeks)" in trial["TrialTable"]["properties"]["dosing_interval"]["description"]
    assert "(days)" in trial["PKTable"]["properties"]["half_life"]["description"]
    assert "(years)" in trial["DemographicsTable"]["properties"]["age"]["description"]
    assert "percent" in spec_json_schema("analysis")["$defs"]["SafetyTable"]["properties"]["min_percent"]["description"]


@pytest.mark.parametrize("path", TRIAL_SPECS, ids=lambda p: p.name)
def test_trial_presets_are_valid_by_jsonschema(path: Path) -> None:
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    assert [e.message for e in _validator("trial").iter_errors(_as_json(document))] == []
    load_spec(path)


@pytest.mark.parametrize("path", ANALYSIS_SPECS, ids=lambda p: p.name)
def test_analysis_specs_are_valid_by_jsonschema(path: Path) -> None:
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    assert [e.message for e in _validator("analysis").iter_errors(_as_json(document))] == []
    load_analysis_spec(path)


@pytest.mark.parametrize("path", DESIGN_SPECS, ids=lambda p: p.name)
def test_design_specs_are_valid_by_jsonschema(path: Path) -> None:
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    assert [e.message for e in _validator("design").iter_errors(_as_json(document))] == []
    load_design_spec(path)


def test_presets_cover_every_kind() -> None:
    assert TRIAL_SPECS and ANALYSIS_SPECS and DESIGN_SPECS
    assert set(PRESETS.rglob("*.toml")) == set(TRIAL_SPECS) | NOT_SPECS | {
        p for p in ANALYSIS_SPECS + DESIGN_SPECS if p.is_relative_to(PRESETS)}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("seed = 2201", "sed = 2201"),  # unknown key
        ('name = "A2201"', 'name = ""'),  # blank text
        ("dose = 0\n", "dose = -1\n"),  # below its bound
        ('labels = ["ESSDAI < 10", "ESSDAI >= 10"]', 'labels = ["ESSDAI < 10"]'),  # wrong length
    ],
)
def test_schema_and_loader_refuse_the_same_typos(old: str, new: str) -> None:
    text = (PRESETS / "a2201.toml").read_text(encoding="utf-8")
    assert old in text, old
    bad = text.replace(old, new, 1)
    assert list(_validator("trial").iter_errors(_as_json(tomllib.loads(bad))))
    with pytest.raises(InputError):
        parse_spec(bad)


@pytest.mark.parametrize("kind", list(SPEC_KINDS))
def test_cli_prints_the_schema(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", kind]) == 0
    assert json.loads(capsys.readouterr().out) == spec_json_schema(kind)


def test_unknown_kind() -> None:
    with pytest.raises(InputError, match=r"^kind: must be one of trial, analysis, design; got 'study'$"):
        spec_json_schema("study")


# --------------------------------------------------------------------------- messages without a test before

TRIAL = """
[trial]
name = "tiny"
visits = [4, 8]
[[arms]]
name = "Placebo"
dose = 0
n = 10
[[arms]]
name = "High"
dose = 100
n = 10
[endpoints.SCORE]
baseline = {distribution = "normal", mean = 20, sd = 4}
change = {placebo = [-1, -2], effect = {shape = "linear", parameters = [0, -0.03]}}
sd = 3
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('name = "tiny"', 'name = "tiny"\nsed = 1',
         ("trial.sed: unknown key (expected name, studyid, seed, synthetic, visits, visit_days, dosing_interval, "
         "total, description, source)")),
        ("[endpoints.SCORE]", "[endpoints.score]\n[endpoints.SCORE]", "endpoints.score.baseline: missing"),
        ("[endpoints.SCORE]", '[characteristics.diag]\nlabel = "x"\nprobability = 0.5\n[endpoints.SCORE]',
         "characteristics.diag: an ADSL name is at most 8 upper-case letters, digits or _"),
        ("[endpoints.SCORE]", '[characteristics.DIAG]\nlabel = "x"\n[endpoints.SCORE]',
         "characteristics.DIAG: give one of baseline, probability or biomarker (with cut), got []"),
        ("[endpoints.SCORE]", '[demographics]\nenrolment = [2020-02-01, 2020-01-01]\n[endpoints.SCORE]',
         "demographics.enrolment: last date is before the first"),
        ("[endpoints.SCORE]", '[demographics]\nenrolment = ["2020-02-01", "soon"]\n[endpoints.SCORE]',
         "demographics.enrolment[1]: must be a date (YYYY-MM-DD), got 'soon'"),
        ("[endpoints.SCORE]", "[demographics]\nage = {mean = 90, sd = 5}\n[endpoints.SCORE]",
         "demographics.age: need lower < mean < upper, got 18, 90, 75"),
        ("[endpoints.SCORE]", "[safety]\nseverity = {MILD = 0.5, SEVER = 0.5}\n[endpoints.SCORE]",
         "safety.severity.SEVER: unknown severity (expected MILD, MODERATE, SEVERE)"),
        ("sd = 3", "sd = 3\ncorrelation = 0.5\nlimits = [10, 0]", "endpoints.SCORE.limits: upper limit must exceed lower"),
        ("sd = 3", "sd = 3\ncorrelation = {structure = \"cs\"}", "endpoints.SCORE.correlation.rho: missing"),
        ("sd = 3", "sd = 3\ncorrelation = {matrix = [[1, 0], [0, 1], [0, 0]]}",
         "endpoints.SCORE.correlation.matrix: must be 2 rows (one per visit of trial.visits)"),
        ("sd = 3", "sd = [3, 0]", "endpoints.SCORE.sd[1]: must be greater than 0, got 0"),
        ("sd = 3", "sd = 3\nscale = \"log\"", "endpoints.SCORE.baseline.distribution: a log-scale endpoint needs"),
        ("sd = 3", "sd = 3\nbaseline_slope = true", "endpoints.SCORE.baseline_slope: must be a finite number, got True"),
        ("n = 10\n[[arms]]", "n = 10\nratio = 1\n[[arms]]", "arms[0].ratio: unknown key (every arm gives n)"),
        ("visits = [4, 8]", "visits = [4, 8.5]", "trial.visits[1]: must be a positive whole week, got 8.5"),
        ("[endpoints.SCORE]", "[pk]\nhalf_life = 20\n[endpoints.SCORE]", "pk.trough_per_mg: missing"),
        ("[endpoints.SCORE]", "[dropout]\nrate = [0.1]\n[endpoints.SCORE]",
         "dropout.rate: needs 2 values (one per arm), got 1"),
        ("[endpoints.SCORE]", "[dropout]\nrate = 0.1\nslope = 1\n[endpoints.SCORE]",
         "dropout.endpoint: missing (the slope needs the endpoint whose last value it uses)"),
        ('effect = {shape = "linear", parameters = [0, -0.03]}', 'effect = {values = [0, 1], shape = "linear"}',
         "endpoints.SCORE.change.effect.shape: unknown key (expected values, or shape with parameters)"),
        ("visits = [4, 8]", 'visits = [4, 8]\n[analysis]\nalpha = 1\nreference = "R"',
         "analysis.alpha: must be below 1, got 1.0"),
    ],
)
def test_trial_spec_messages(old: str, new: str, message: str) -> None:
    assert old in TRIAL, old
    with pytest.raises(InputError) as info:
        parse_spec(TRIAL.replace(old, new, 1))
    assert str(info.value).startswith(message) and "\n" not in str(info.value), str(info.value)


def test_analysis_keeps_keys_it_does_not_describe() -> None:
    spec = parse_spec(TRIAL + '[analysis]\nalpha = 0.05\nreference = "R"\n')
    assert dict(spec.analysis) == {"alpha": 0.05, "reference": "R"}


ANALYSIS = """
[study]
name = "tiny"
[data]
adsl = "adsl.csv"
adeff = "adeff.csv"
[populations]
randomised = "RANDFL"
full_analysis = "FASFL"
[arms]
doses = {Placebo = 0, High = 100}
[endpoints.SCORE]
dataset = "adeff"
primary_visit = 8
[primary]
endpoint = "SCORE"
candidates = {linear = true, emax = 20}
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('full_analysis = "FASFL"', 'full_analysis = "FASFL"\nitt = "ITTFL"',
         "populations.itt: unknown population (expected randomised, full_analysis, safety, completed)"),
        ('randomised = "RANDFL"\n', "", "populations.randomised: missing (the ADSL flag of randomised subjects"),
        ('full_analysis = "FASFL"\n', "",
         "endpoints.SCORE.population: 'full_analysis' is not defined in [populations] (randomised)"),
        ("[primary]", '[safety]\ndataset = "adeff"\n[primary]', "populations.safety: missing, needed by [safety]"),
        ("[primary]", '[safety]\n[primary]', "safety.dataset: 'adae' is not a dataset of [data] (adsl, adeff)"),
        ("[primary]", '[data2]\n[primary]', "data2: unknown key (expected study, data, populations, arms"),
        ("doses = {Placebo = 0, High = 100}", "doses = {Placebo = 0}", "arms.doses: needs at least two arms"),
        ("doses = {Placebo = 0, High = 100}", "doses = {Placebo = 0, Low = 5, High = 5}",
         "arms.doses: two arms have the same dose"),
        ('dataset = "adeff"', 'dataset = "adbm"', "endpoints.SCORE.dataset: 'adbm' is not a dataset of [data]"),
        ("primary_visit = 8", 'primary_visit = 8\npopulation = "safety"',
         "endpoints.SCORE.population: 'safety' is not defined in [populations] (randomised, full_analysis)"),
        ("primary_visit = 8", "primary_visit = 8\nvisits = [4, 12]",
         "endpoints.SCORE.primary_visit: 8 is not one of visits [4.0, 12.0]"),
        ("primary_visit = 8", 'primary_visit = 8\nwhere = {DTYPE = true}',
         "endpoints.SCORE.where.DTYPE: must be a value or a list of values, got True"),
        ("primary_visit = 8", 'primary_visit = 8\ncovariates = "BASE"',
         "endpoints.SCORE.covariates: must be a list of column names, got 'BASE'"),
        ('primary_visit = 8\n[primary]\nendpoint = "SCORE"',
         'primary_visit = 8\nvisits = [8]\n[primary]\nendpoint = "SCORE"\nvisit = 12',
         "primary.visit: 12 is not a visit of endpoints.SCORE.visits [8.0]"),
        ("emax = 20}", "emax = false}", "primary.candidates.emax: use true for a shape without guesstimates"),
        ("candidates = {linear = true, emax = 20}", "candidates = {}", "primary.candidates: needs at least one"),
        ("candidates = {linear = true, emax = 20}", "candidates = {linear = true}\nalpha = 0.6",
         "primary.alpha: must be at most 0.5, got 0.6"),
        ("[primary]", '[[responders]]\nname = "r"\nendpoint = "SCORE"\n[primary]',
         "responders[0]: give either criterion (e.g. 'CHG <= -3') or flag (e.g. 'CRIT1FL')"),
        ("[primary]", ('[[responders]]\nname = "r"\nendpoint = "SCORE"\nflag = "F"\n[[responders]]\nname = "r"\n'
                      'endpoint = "SCORE"\nflag = "G"\n[primary]'), "responders: names must differ, got ['r', 'r']"),
        ("[study]", "responders = 1\n[study]", "responders: must be an array of tables ([[responders]])"),
        ("[primary]", '[[categories]]\nname = "c"\nendpoint = "SCORE"\ncut_points = [1]\nlabels = ["a"]\n[primary]',
         "categories[0].labels: needs 2 labels for 1 cut points, got 1"),
        ("[primary]", '[exposure.PK]\ndataset = "adeff"\n[disposition]\nds = "ds"\n[primary]',
         "disposition.ds: 'ds' is not a dataset of [data] (adsl, adeff)"),
        ("[primary]", '[endpoints.X]\nprimary_visit = 1\n[primary]', "endpoints.X.dataset: missing"),
        ('name = "tiny"', 'name = "tiny"\nsynthetic = "yes"', "study.synthetic: must be true or false, got 'yes'"),
    ],
)
def test_analysis_spec_messages(old: str, new: str, message: str) -> None:
    assert old in ANALYSIS, old
    with pytest.raises(InputError) as info:
        parse_analysis_spec(ANALYSIS.replace(old, new, 1))
    assert str(info.value).startswith(message) and "\n" not in str(info.value), str(info.value)


def test_a_table_where_a_table_belongs() -> None:
    with pytest.raises(InputError, match=re.escape("arms: need at least two [[arms]] tables")):
        parse_spec("arms = 3\n" + TRIAL.split("[[arms]]")[0] + TRIAL[TRIAL.index("[endpoints.SCORE]"):])
    with pytest.raises(InputError, match=r"^arms: must be a table, got 3$"):
        parse_analysis_spec("arms = 3\n" + ANALYSIS.replace("[arms]\ndoses = {Placebo = 0, High = 100}", ""))
    with pytest.raises(InputError, match=re.escape("endpoints.SCORE.change.means: must be a table, got [1]")):
        parse_spec(TRIAL.replace("change = {placebo", "change = {means = [1], placebo"))


def test_published_items_share_the_validator(tmp_path: Path) -> None:
    file = tmp_path / "published.toml"
    item = 'label = "a"\nsection = "s"\nkind = "count"\nframe = "ae"\ncolumn = "n"\nvalue = 1\n'
    file.write_text("[[published]]\n" + item + 'where = ["x"]\n')
    with pytest.raises(InputError, match=re.escape("published[0].where: must be a table {column = value}, got ['x']")):
        load_published(file)
    file.write_text("[[published]]\n" + item + "lower = 1\n")
    with pytest.raises(InputError, match=re.escape("published[0]: give both lower and upper")):
        load_published(file)
    file.write_text('[[not_compared]]\nlines = [1.5]\nnumbers = [1]\ntext = "t"\nreason = "r"\n')
    with pytest.raises(InputError, match=re.escape("not_compared[0].lines: must be a list of line numbers")):
        load_not_compared(file)
