"""Reading study specs: every bad spec stops with one InputError naming the key path or column."""

from __future__ import annotations

import re

import numpy as np
import pytest

from dosefinding import Candidates
from dosefinding.errors import InputError
from dosefinding.study import VirtualTrial, load_spec, parse_spec, simulate_trial
from dosefinding.study.power import build_analysis, default_candidates

BASE = """
[trial]
name = "tiny"
seed = 3
visits = [4, 8, 12]

[[arms]]
name = "Placebo"
dose = 0
n = 20

[[arms]]
name = "Low"
dose = 10
n = 20

[[arms]]
name = "High"
dose = 100
n = 20

[stratification]
endpoint = "SCORE"
cut = 10

[endpoints.SCORE]
baseline = {distribution = "normal", mean = 12, sd = 4, lower = 0}
sd = 3
correlation = {structure = "ar1", rho = 0.5}
[endpoints.SCORE.change]
placebo = [-1, -2, -3]
effect = {shape = "emax", parameters = [0, -4, 20]}

[dropout]
rate = 0.05
endpoint = "SCORE"
slope = 0.1

[[adverse_events]]
soc = "SKIN"
pt = "RASH"
rates = [0.1, 0.2, 0.3]

[analysis]
endpoint = "SCORE"
visit = 12
"""


def _fails(text: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        parse_spec(text)


def test_base_spec_parses_and_evaluates_the_shape():
    spec = parse_spec(BASE)
    assert spec.arm_names == ("Placebo", "Low", "High")
    assert spec.sizes.tolist() == [20, 20, 20]
    # Emax effect relative to placebo at full onset: -4 * d / (20 + d).
    expected = np.array([-1.0, -2.0, -3.0])[None, :] + np.array([0.0, -4 * 10 / 30, -4 * 100 / 120])[:, None]
    np.testing.assert_allclose(spec.endpoint("SCORE").means, expected, rtol=1e-14)
    assert spec.studyid == "TINY-SYNTHETIC"
    assert spec.analysis["visit"] == 12


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        # a dose missing for an arm
        ('name = "High"\ndose = 100', 'name = "High"', "arms[2].dose: missing"),
        # unknown endpoints, wherever one is named
        ('endpoint = "SCORE"\ncut = 10', 'endpoint = "SCOR"\ncut = 10', "stratification.endpoint: unknown endpoint 'SCOR'"),
        ('endpoint = "SCORE"\nslope', 'endpoint = "ESSDAI"\nslope', "dropout.endpoint: unknown endpoint 'ESSDAI'"),
        ('[analysis]\nendpoint = "SCORE"', '[analysis]\nendpoint = "PHGA"', "analysis.endpoint: unknown endpoint 'PHGA'"),
        # visits that are not in the schedule (and so would not be in the data)
        ("visit = 12", "visit = 24", "analysis.visit: week 24 is not a visit of the schedule"),
        # the candidate shapes of the MCP step, checked at the arms' doses
        ("visit = 12\n", "visit = 12\ncandidates = {emx = 10}\n", "analysis.candidates.emx: shape 'emx' does not exist"),
        ("visit = 12\n", "visit = 12\ncandidates = {emax = [10, -5]}\n",
         "analysis.candidates.emax: guesstimates must be positive, got"),
        ("visit = 12\n", "visit = 12\ncandidates = {linear = false}\n",
         "analysis.candidates.linear: use true for a shape without guesstimates"),
        ("visit = 12\n", "visit = 12\ncandidates = {}\n", "analysis.candidates: needs at least one candidate shape"),
        ("visit = 12\n", "visit = 12\ncandidates = {linear = true}\nmax_effect = 0\n",
         "analysis.max_effect: must not be zero"),
        ("visit = 12\n", "visit = 12\nmax_effect = -2\n",
         "analysis.max_effect: unknown key (max_effect goes with candidates)"),
        ("sd = 3\n", "sd = 3\nvisits = [4, 6]\n", "endpoints.SCORE.visits[1]: week 6 is not a visit of the schedule"),
        ("placebo = [-1, -2, -3]", "placebo = [-1, -2]", "endpoints.SCORE.change.placebo: needs 3 values (one per visit)"),
        ("visits = [4, 8, 12]", "visits = [4, 12, 8]", "trial.visits: weeks must be strictly increasing"),
        # types, shapes, typos
        ("sd = 3\n", "sdd = 3\n", "endpoints.SCORE.sd: missing"),
        ("sd = 3\n", 'sd = 3\nlabl = "x"\n', "endpoints.SCORE.labl: unknown key"),
        ('shape = "emax"', 'shape = "emx"', "endpoints.SCORE.change.effect.shape: shape 'emx' does not exist"),
        ("parameters = [0, -4, 20]", "parameters = [0, -4]", "endpoints.SCORE.change.effect.parameters: needs 3 values"),
        ("n = 20\n\n[[arms]]\nname = \"Low\"", "n = 0\n\n[[arms]]\nname = \"Low\"", "arms[0].n: must be at least 1"),
        ('name = "Low"\ndose = 10\nn = 20', 'name = "Low"\ndose = 10', "arms[1].n: missing"),
        ("rates = [0.1, 0.2, 0.3]", "rates = [0.1, 0.2]", "adverse_events[0].rates: needs 3 values (one per arm)"),
        ("rho = 0.5", "rho = 1.5", "endpoints.SCORE.correlation.rho: must be at most 1"),
        ('distribution = "normal"', 'distribution = "beta"', "endpoints.SCORE.baseline.distribution: must be one of"),
        ("rate = 0.05", 'rate = "high"', "dropout.rate: must be a finite number, got 'high'"),
        ("seed = 3", "seed = 3\nsynthetic = false", "trial.synthetic: a virtual trial is synthetic data"),
        ('name = "tiny"', "", "trial.name: missing"),
    ],
)
def test_bad_specs_name_the_key(old, new, message):
    assert old in BASE, old
    _fails(BASE.replace(old, new, 1), message)


def test_analysis_candidates_are_the_default_of_simulate_power():
    """[analysis] candidates (with max_effect, else the true effect at the top dose) replace default_candidates;
    a candidates argument of simulate_power still wins."""
    text = BASE.replace("visit = 12\n", "visit = 12\ncandidates = {linear = true, emax = [5, 50]}\n")
    spec = parse_spec(text)
    assert dict(spec.analysis["candidates"]) == {"linear": None, "emax": [5, 50]}

    def used(spec, candidates=None):
        return build_analysis(spec, None, None, candidates, 0.05, None, "ancova", "us", True, None, "AIC",
                              "continuous").candidates

    truth = spec.endpoint("SCORE").true_mean_change()[:, 2]  # the true emax effect, -4 * 100 / 120 at 100 mg
    effect = float(truth[-1] - truth[0])
    expected = Candidates([0, 10, 100], {"linear": None, "emax": [5, 50]}, max_effect=effect)
    assert used(spec).models == expected.models
    given = parse_spec(text.replace("emax = [5, 50]}\n", "emax = [5, 50]}\nmax_effect = -2.5\n"))
    assert used(given).models == Candidates([0, 10, 100], {"linear": None, "emax": [5, 50]}, max_effect=-2.5).models
    assert used(spec, {"exponential": 50}).labels == ("exponential",)
    assert used(parse_spec(BASE)).labels == default_candidates([0, 10, 100], effect).labels


def test_singular_correlation_and_bad_probabilities():
    text = BASE.replace('correlation = {structure = "ar1", rho = 0.5}', 'correlation = {structure = "cs", rho = -0.6}')
    _fails(text, "endpoints.SCORE.correlation: must be positive definite")
    classes = BASE + '\n[endpoints.SCORE.classes]\nprobability = {values = [0.2, 0.5, 1.2]}\nshift = -3\n'
    _fails(classes, "endpoints.SCORE.classes.probability: probability for arm 'High' is 1.2, not in [0, 1]")


def test_means_for_an_unknown_arm_and_not_toml():
    text = BASE.replace(
        'placebo = [-1, -2, -3]\neffect = {shape = "emax", parameters = [0, -4, 20]}',
        'means = {Placebo = [0, 0, 0], Low = [0, 0, 0], Hihg = [0, 0, 0]}',
    )
    _fails(text, "endpoints.SCORE.change.means.Hihg: not an arm of the spec")
    _fails("[trial\nname = 1", "spec: not valid TOML")


def test_allocation_ratio_with_total():
    text = BASE.replace("n = 20\n", "ratio = 1\n").replace('visits = [4, 8, 12]', 'visits = [4, 8, 12]\ntotal = 61')
    assert parse_spec(text).sizes.tolist() == [21, 20, 20]


def test_unknown_preset_and_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"preset 'a9999': no such preset \(presets: a2201\)"):
        load_spec("a9999")
    with pytest.raises(InputError, match="spec: no such file"):
        load_spec(tmp_path / "nothing.toml")


def test_missing_columns_name_the_dataset_and_column():
    trial = simulate_trial(parse_spec(BASE))
    with pytest.raises(InputError, match=r"^adsl: missing column USUBJID$"):
        VirtualTrial(trial.spec, trial.seed, trial.adsl.drop(columns="USUBJID"), trial.adeff, trial.adae, trial.adbm)
    with pytest.raises(InputError, match=r"^adeff: missing columns AVAL, CHG$"):
        VirtualTrial(trial.spec, trial.seed, trial.adsl, trial.adeff.drop(columns=["CHG", "AVAL"]), trial.adae,
                     trial.adbm)


def test_bad_seed_and_format(tmp_path):
    spec = parse_spec(BASE)
    with pytest.raises(InputError, match="seed: must be a non-negative int or numpy Generator"):
        simulate_trial(spec, seed="x")  # type: ignore[arg-type]
    trial = simulate_trial(spec)
    with pytest.raises(InputError, match="format: must be 'csv' or 'parquet', got 'xlsx'"):
        trial.write(tmp_path, format="xlsx")


def test_means_table_shape_probabilities_and_linint():
    text = BASE.replace(
        'placebo = [-1, -2, -3]\neffect = {shape = "emax", parameters = [0, -4, 20]}',
        'means = {Placebo = [0, -1, -2], Low = [0, -2, -3], High = [-1, -3, -5]}',
    ) + (
        '\n[endpoints.SCORE.classes]\nprobability = {shape = "linear", parameters = [0.2, 0.005]}\n'
        'shift = [-1, -2, -4]\nsd = 2\n'
    )
    e = parse_spec(text).endpoint("SCORE")
    np.testing.assert_array_equal(e.means, [[0, -1, -2], [0, -2, -3], [-1, -3, -5]])
    assert e.classes.probability == pytest.approx((0.2, 0.25, 0.7), abs=1e-15)
    np.testing.assert_allclose(e.true_mean_change(), e.means + np.outer([0.2, 0.25, 0.7], [-1, -2, -4]), rtol=1e-15)
    np.testing.assert_allclose(np.diag(e.covariance_of_class()), [4.0, 4.0, 4.0])
    # linint interpolates between effects given at nodes (the doses as the constant).
    text = BASE.replace('effect = {shape = "emax", parameters = [0, -4, 20]}',
                        'effect = {shape = "linint", parameters = [0, -2, -3], constant = [0, 10, 100]}')
    np.testing.assert_allclose(parse_spec(text).endpoint("SCORE").means[:, -1], [-3.0, -5.0, -6.0])


def test_duplicates_and_wrong_types():
    _fails(BASE.replace('name = "Low"', 'name = "Placebo"'), "arms[1].name: duplicate arm name 'Placebo'")
    _fails(BASE.replace("dose = 10\n", "dose = 1000\n"), "arms: doses must be distinct and increasing in arm order")
    _fails(BASE.replace("sd = 3\n", 'sd = 3\nunit = 5\n'), "endpoints.SCORE.unit: must be a string, got 5")
    twice = BASE + '\n[[adverse_events]]\nsoc = "skin"\npt = "rash"\nrates = [0.1, 0.1, 0.1]\n'
    _fails(twice, "adverse_events[1].pt: 'RASH' is listed twice under 'SKIN'")
    _fails(BASE.replace("[endpoints.SCORE]", "[endpoints.TOOLONGCODE]").replace('"SCORE"', '"TOOLONGCODE"'),
           "endpoints.TOOLONGCODE: a PARAMCD is at most 8 letters")
