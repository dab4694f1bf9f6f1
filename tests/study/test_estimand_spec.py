"""Estimands in the analysis spec: tables, defaults and one clear error per bad entry (issue 18)."""

import pytest

from dosefinding.errors import InputError
from dosefinding.study.analysis_spec import parse_analysis_spec

SPEC = '''
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
estimand = "TP"
[estimands.TP]
endpoint = "SCORE"
[[estimands.TP.events]]
name = "Discontinuation of treatment"
strategy = "treatment_policy"
date = "TRTEDT"
where = {EOTSTT = "DISCONTINUED"}
[[estimands.TP.events]]
name = "Rescue"
strategy = "hypothetical"
flag = "RESCFL"
[[estimands.TP.sensitivity]]
name = "Jump to reference"
method = "J2R"
[[estimands.TP.sensitivity]]
name = "Tipping point"
method = "delta"
deltas = {8 = 1.0, 4 = 0.5}
'''


def test_estimand_tables_and_defaults() -> None:
    spec = parse_analysis_spec(SPEC)
    estimand = spec.estimands["TP"]
    assert spec.endpoints["SCORE"].estimand == "TP"
    assert estimand.population == "full_analysis"
    assert estimand.variable == "CHG of SCORE at visit 8"
    discontinuation, rescue = estimand.events
    assert (discontinuation.strategy, discontinuation.imputation) == ("treatment_policy", "J2R")
    assert dict(discontinuation.where) == {"EOTSTT": ("DISCONTINUED",)}
    assert (rescue.strategy, rescue.imputation, rescue.flag) == ("hypothetical", "MAR", "RESCFL")
    j2r, tipping = estimand.sensitivity
    assert j2r.reference == "Placebo"  # the default reference is placebo
    assert dict(tipping.deltas) == {8.0: 1.0, 4.0: 0.5}


def test_no_estimand_is_the_default() -> None:
    spec = parse_analysis_spec(SPEC.split("estimand = \"TP\"")[0] + SPEC.split("estimand = \"TP\"")[1].split(
        "[estimands.TP]")[0])
    assert dict(spec.estimands) == {} and spec.endpoints["SCORE"].estimand is None


@pytest.mark.parametrize("old, new, message", [
    ('method = "J2R"', 'method = "J2R"\nreference = "Placbo"',
     "estimands.TP.sensitivity[0].reference: arm 'Placbo' does not exist (arms: Placebo, High)"),
    ("primary_visit = 8", "primary_visit = 8\nvisits = [2, 8]",
     "estimands.TP.sensitivity[1].deltas: visit 4 does not exist (visits of endpoints.SCORE: ['2', '8'])"),
    ("deltas = {8 = 1.0, 4 = 0.5}", "deltas = {week8 = 1}", "estimands.TP.sensitivity[1].deltas.week8: must be a visit"),
    ("deltas = {8 = 1.0, 4 = 0.5}", "", "estimands.TP.sensitivity[1].deltas: missing (method delta needs"),
    ('method = "J2R"', 'method = "MAR"\nreference = "High"', "estimands.TP.sensitivity[0].reference: only with J2R"),
    ('method = "J2R"', 'method = "JR"', "estimands.TP.sensitivity[0].method: must be one of MAR, J2R, CR, CIR, delta"),
    ('estimand = "TP"', 'estimand = "HY"', "endpoints.SCORE.estimand: unknown estimand 'HY' (estimands: TP)"),
    ('endpoint = "SCORE"\n[[', 'endpoint = "SCOR"\n[[', "estimands.TP.endpoint: unknown endpoint 'SCOR'"),
    ('flag = "RESCFL"', 'flag = "RESCFL"\ndate = "RESCDT"', "estimands.TP.events[1]: give either date"),
    ('flag = "RESCFL"', 'flag = "RESCFL"\nwhere = {A = "Y"}', "estimands.TP.events[1].where: only with date"),
    ('strategy = "hypothetical"', 'strategy = "hypothetic"', "estimands.TP.events[1].strategy: must be one of"),
    ('strategy = "hypothetical"', 'strategy = "composite"', "estimands.TP.events[1].value: missing"),
    ('strategy = "hypothetical"', 'strategy = "composite"\nvalue = "worst"', "estimands.TP.better: missing"),
    ('strategy = "hypothetical"', 'strategy = "composite"\nvalue = "bad"', "estimands.TP.events[1].value: must be"),
    ('strategy = "hypothetical"', 'strategy = "hypothetical"\nvalue = 0',
     "estimands.TP.events[1].value: only with strategy composite, not hypothetical"),
    ('name = "Rescue"', 'name = "Discontinuation of treatment"', "estimands.TP.events: names must differ"),
    ('flag = "RESCFL"', 'flag = "RESCFL"\ndataset = "adrs"',
     "estimands.TP.events[1].dataset: 'adrs' is not a dataset of [data]"),
    ("[estimands.TP]\n", "[estimands.TP]\npopulation = \"safety\"\n",
     "estimands.TP.population: 'safety' is not defined in [populations]"),
])
def test_bad_estimand_one_clear_error(old: str, new: str, message: str) -> None:
    assert old in SPEC
    with pytest.raises(InputError) as error:
        parse_analysis_spec(SPEC.replace(old, new, 1))
    assert str(error.value).startswith(message), str(error.value)


def test_estimand_of_another_endpoint() -> None:
    text = SPEC.replace("[estimands.TP]", "[endpoints.OTHER]\ndataset = \"adeff\"\nprimary_visit = 8\n"
                                          "estimand = \"TP\"\n[estimands.TP]")
    with pytest.raises(InputError, match=r"endpoints.OTHER.estimand: estimand 'TP' is one of endpoint 'SCORE'"):
        parse_analysis_spec(text)
