"""``dosefinding design`` on the A2201 design spec: each command's numbers are the library call's, and
A2201's against R DoseFinding (fixtures tests/fixtures/r/mcp_reference.R and plan_mod_reference.R).

Each command on ``examples/design_a2201.toml`` gives exactly the numbers of the library function
called directly with the spec's values (same seed: equal to 1e-12). Against R: the power of the
multiple contrast test at 45 patients per arm (one-sided alpha 0.025; R's powMCT at high precision)
within 1e-3 (the error bound of ``power_mct``'s default ``abseps``), about 90% under every candidate;
the smallest arm for which the asymptotic Pow(maxDose) of an Emax fit reaches 0.9 under every candidate
is R's sampSize(planMod) exactly (43). A bad spec, a missing file and an output file in a folder that
does not exist each stop with one line naming the key or the option; every key of the example with a
value of the wrong type, a wrong value or an unknown key beside it is refused by the loader naming the
key, and (wrong type, unknown key) by the committed JSON Schema too.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest

from dosefinding import (
    Candidates,
    bayes_mct_test,
    closed_mct_test,
    design_criterion,
    estimation_precision,
    normal_mixture,
    optimal_contrasts,
    optimal_design,
    plan_mod,
    power_mct,
    power_mct_interim,
    power_n,
    precision_sample_size,
    round_design,
    sample_size,
    sample_size_mct,
    target_n,
)
from dosefinding.cli import main
from dosefinding.errors import InputError
from dosefinding.study.design_commands import DESIGN_COMMANDS, run_design
from dosefinding.study.design_spec import DesignDocument, load_design_spec, parse_design_spec
from dosefinding.study.schema import spec_json_schema
from dosefinding.study.validation import validate

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "design_a2201.toml"
FIXTURES = ROOT / "tests" / "fixtures" / "r"
DOSES = [0.0, 5.0, 50.0, 300.0]
SIGMA = 5.6
SEED = 2201
TIGHT = 1e-12


@cache
def _example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


@cache
def _run(command: str) -> dict[str, pd.DataFrame]:
    return run_design(command, EXAMPLE)[1]


def _candidates() -> Candidates:
    return Candidates(DOSES, {"linear": None, "emax": [10, 100], "sigemax": [[50, 3]], "exponential": 150},
                      max_effect=-3.5)


def test_the_example_is_the_packaged_preset() -> None:
    """examples/design_a2201.toml is the preset a2201 (packaged under study/presets/design/), as a2201_analysis.toml."""
    preset = ROOT / "src" / "dosefinding" / "study" / "presets" / "design" / "a2201.toml"
    assert EXAMPLE.read_text(encoding="utf-8") == preset.read_text(encoding="utf-8")
    assert load_design_spec("a2201") == load_design_spec(EXAMPLE)


def test_power_is_the_library_call_and_r_powmct() -> None:
    frames = _run("power")
    cands = _candidates()
    n = [45.0] * 4
    direct = power_mct(optimal_contrasts(cands, weights=n), cands, n=n, sigma=SIGMA, alpha=0.025, seed=SEED)
    np.testing.assert_allclose(frames["power"]["power"], direct, rtol=0, atol=TIGHT)
    r = next(c for c in json.loads((FIXTURES / "mcp_reference.json").read_text())["power"]
             if c["name"] == "a2201_power_alpha0.025")
    np.testing.assert_allclose(frames["power"]["power"], r["power"], rtol=0, atol=1e-3)
    assert frames["power"]["power"].between(0.88, 0.92).all()  # the design claim: about 90% at 45 per arm
    size = sample_size_mct(optimal_contrasts(cands, weights=None), cands, sigma=SIGMA, power=0.8, seed=SEED)
    np.testing.assert_allclose(frames["sample_size"]["power"], size.power_by_model, rtol=0, atol=TIGHT)
    assert size.n.tolist() == [34] * 4


def test_optimal_is_the_library_call() -> None:
    frames = _run("optimal")
    cands = _candidates()
    best = optimal_design(cands, criterion="D&TD", delta=-2.0, n=180)
    np.testing.assert_allclose(frames["optimal"]["weight"], best.weights, rtol=0, atol=TIGHT)
    equal = design_criterion([0.25] * 4, cands, criterion="D&TD", delta=-2.0)
    np.testing.assert_allclose(frames["efficiency"]["efficiency"], np.exp(best.value - equal), rtol=TIGHT)
    assert frames["rounded"]["patients"].tolist() == round_design(best, 180).tolist() == [52, 38, 46, 44]


def test_plan_mod_is_the_library_call() -> None:
    frames = _run("plan-mod")
    plan = plan_mod(["emax"], _candidates(), n=[45.0] * 4, sigma=SIGMA, simulation=True, n_trials=1000, seed=SEED,
                    alpha=0.025, delta=-2.0)
    assert plan.simulation is not None and plan.asymptotic is not None
    pd.testing.assert_frame_equal(frames["plan_mod"], plan.simulation, rtol=TIGHT)
    pd.testing.assert_frame_equal(frames["asymptotic"], plan.asymptotic, rtol=TIGHT)


def test_sample_size_is_the_library_call_and_r_sampsize() -> None:
    frames = _run("sample-size")
    cands = _candidates()

    def power_max_dose(n: Any) -> pd.Series:
        return plan_mod(["emax"], cands, n=n, sigma=SIGMA, alpha=0.025, delta=-2.0).asymptotic["power_max_dose"]

    found = sample_size(lambda n: float(power_max_dose(n).min()), 0.9, [1, 1, 1, 1], upper_n=40)
    pd.testing.assert_frame_equal(frames["sample_size"], found.evaluations)
    r = json.loads((FIXTURES / "plan_mod_reference.json").read_text())["sample_size"]["plan_mod"]
    assert found.n.tolist() == r["samp.size"] == [43] * 4
    grid = target_n(power_max_dose, [1, 1, 1, 1], upper_n=60, lower_n=20, step=10)
    pd.testing.assert_frame_equal(frames["grid"], grid.values, rtol=TIGHT)


def test_sample_size_of_the_mcp_power(tmp_path: Path) -> None:
    spec = tmp_path / "power.toml"
    spec.write_text(EXAMPLE.read_text().replace('target = "plan_mod"', 'target = "mcp_power"'))
    frames = run_design("sample-size", spec)[1]
    cands = _candidates()
    contrasts = optimal_contrasts(cands, weights=[1.0] * 4)

    def mean_power(n: Any) -> float:
        return float(power_mct(contrasts, cands, n=n, sigma=SIGMA, alpha=0.025, seed=SEED).min())

    found = sample_size(mean_power, 0.9, [1, 1, 1, 1], upper_n=40)
    pd.testing.assert_frame_equal(frames["sample_size"], found.evaluations)
    grid = power_n(contrasts, cands, upper_n=60, lower_n=20, step=10, allocation=[1.0] * 4, sigma=SIGMA,
                   alpha=0.025, seed=SEED)
    pd.testing.assert_frame_equal(frames["grid"], grid.values, rtol=TIGHT)


def test_precision_is_the_library_call() -> None:
    """design precision: estimation_precision at design.n and precision_sample_size for [precision] target, each
    called here with the example's numbers (same seed: equal to 1e-12); the N found is the smallest meeting the
    target (the worst curve's half-width at N - 1 is above 2.5)."""
    frames = _run("precision")
    cands = _candidates()
    settings: dict[str, Any] = {"n_trials": 1000, "seed": SEED, "delta": -2.0}
    direct = estimation_precision(["emax"], cands, n=[45.0] * 4, sigma=SIGMA, **settings)
    pd.testing.assert_frame_equal(frames["precision"], direct.values, rtol=TIGHT)
    found = precision_sample_size(["emax"], cands, sigma=SIGMA, measure="curve_half_width", target=2.5, **settings)
    pd.testing.assert_frame_equal(frames["sample_size"], found.search.evaluations, rtol=TIGHT)
    pd.testing.assert_frame_equal(frames["sample_size_precision"], found.precision.values, rtol=TIGHT)
    assert found.n.tolist() == [37] * 4 and found.value <= 2.5 < found.value_below
    assert frames["sample_size_precision"]["curve_half_width"].max() == pytest.approx(found.value, abs=TIGHT)


def test_precision_options_reach_the_library(tmp_path: Path) -> None:
    """Every key of [precision] is passed on: a share measure with a probability, grid, allocation, candidates'
    shapes by default; and without design.n only the sample size is computed."""
    spec = tmp_path / "precision.toml"
    spec.write_text(BASE.replace("n = 45\n", "allocation = [2, 1, 1, 1]\n") + (
        '[precision]\nmeasure = "erp"\ntarget = 0.5\nprobability = 0.8\nconfidence_level = 0.9\nat = "grid"\n'
        "p = 0.5\np_lower = 0.25\np_upper = 0.75\ncurve_points = 11\nn_trials = 200\nupper_n = 10\nmax_n = 500\n"
        "interval = [0.1, 0.9]\ntd_window = [0.8, 1.25]\n"))
    frames = run_design("precision", spec)[1]
    assert list(frames) == ["sample_size", "sample_size_precision"]
    cands = Candidates(DOSES, {"linear": None, "emax": [10, 100]}, max_effect=-3.5)
    found = precision_sample_size(
        ["linear", "emax"], cands, sigma=SIGMA, measure="erp", target=0.5, allocation=[2, 1, 1, 1], probability=0.8,
        confidence_level=0.9, at="grid", p=0.5, p_lower=0.25, p_upper=0.75, curve_points=11, n_trials=200,
        upper_n=10, max_n=500, interval=(0.1, 0.9), td_window=(0.8, 1.25), seed=0)
    pd.testing.assert_frame_equal(frames["sample_size"], found.search.evaluations, rtol=TIGHT)
    pd.testing.assert_frame_equal(frames["sample_size_precision"], found.precision.values, rtol=TIGHT)
    assert found.n[0] == 2 * found.n[1]


def test_interim_is_the_library_call() -> None:
    frames = _run("interim")
    cands = _candidates()
    direct = power_mct_interim(optimal_contrasts(cands, weights=[45.0] * 4), [-4.1, -4.4, -5.0, -6.3],
                               np.diag(np.full(4, SIGMA**2 / 24)), final_cov=np.diag(np.full(4, SIGMA**2 / 45)),
                               alpha=0.025, seed=SEED)
    pd.testing.assert_frame_equal(frames["interim"], direct.to_frame(), rtol=TIGHT)


def test_closed_is_the_library_call() -> None:
    frames = _run("closed")
    direct = closed_mct_test(_candidates(), doses=DOSES, estimates=[-4.1, -4.6, -5.4, -7.0],
                             cov=np.diag(np.full(4, SIGMA**2 / 45)), df=180 - 4, alpha=0.025, seed=SEED)
    pd.testing.assert_frame_equal(frames["closed"], direct.to_frame(), rtol=TIGHT)


def test_bayes_is_the_library_call() -> None:
    frames = _run("bayes")
    vague = normal_mixture([1.0], [0.0], [100.0])
    priors = [normal_mixture([0.8, 0.2], [-4.0, -4.0], [0.8, 5.6]), vague, vague, vague]
    direct = bayes_mct_test(_candidates(), priors, doses=DOSES, estimates=[-4.1, -4.6, -5.4, -7.0],
                            cov=np.diag(np.full(4, SIGMA**2 / 45)), alpha=0.025, seed=SEED)
    pd.testing.assert_frame_equal(frames["bayes"], direct.to_frame(), rtol=TIGHT)


def test_cli_prints_the_summary_and_writes_json_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json, out_csv = tmp_path / "power.json", tmp_path / "power.csv"
    assert main(["design", "power", str(EXAMPLE), "--json", str(out_json), "--csv", str(out_csv)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Design A2201: power of the multiple contrast test\n")
    assert "Sample size: 34, 34, 34, 34 patients per dose, 136 in total" in captured.out
    assert "reading the design spec" in captured.err
    frames = _run("power")
    written = json.loads(out_json.read_text())
    assert written["command"] == "design power" and list(written["results"]) == ["power", "sample_size"]
    assert [row["shape"] for row in written["results"]["power"]] == frames["power"].index.tolist()
    np.testing.assert_allclose([row["power"] for row in written["results"]["power"]], frames["power"]["power"],
                               rtol=1e-14)
    csv = pd.read_csv(out_csv)
    assert csv.columns[0] == "result" and csv["result"].tolist() == ["power"] * 5 + ["sample_size"] * 5
    np.testing.assert_allclose(csv.loc[csv["result"] == "power", "power"], frames["power"]["power"], rtol=1e-14)


def test_quiet_says_nothing_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["design", "closed", "a2201", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_every_command_has_a_runner_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["design", "--help"])
    help_text = capsys.readouterr().out
    assert all(name in help_text for name in DESIGN_COMMANDS)
    assert list(DESIGN_COMMANDS) == ["power", "optimal", "plan-mod", "sample-size", "precision", "interim", "closed",
                                     "bayes"]


# --------------------------------------------------------------------------- bad input: one line naming the key


def _one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and err[-1].startswith("dosefinding: error: ")
    return err[-1].removeprefix("dosefinding: error: ")


@pytest.mark.parametrize(("argv", "message"), [
    (["design", "power", "{tmp}/no-such.toml"], "spec: no such file '{tmp}/no-such.toml'"),
    (["design", "power", "{tmp}"], "spec: '{tmp}' is a directory, not a file"),
    (["design", "power", "nothing"], "preset 'nothing': no such preset (presets: a2201)"),
    (["design", "power", "a2201", "--json", "{tmp}/missing/out.json"],
     "--json: no directory '{tmp}/missing' to write 'out.json' in"),
    (["design", "power", "a2201", "--csv", "{tmp}/missing/out.csv"],
     "--csv: no directory '{tmp}/missing' to write 'out.csv' in"),
    (["design", "power", "a2201", "--csv", "{tmp}"], "--csv: '{tmp}' is a directory, not a file"),
    (["design", "power", "{tmp}/bad.toml"], "spec: not valid TOML"),
])
def test_files_are_checked_first(argv: list[str], message: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.toml").write_text("[design\n")
    line = _one_line([a.replace("{tmp}", str(tmp_path)) for a in argv], capsys)
    assert line.startswith(message.replace("{tmp}", str(tmp_path))), line


def test_a_trial_spec_is_not_a_design_spec(capsys: pytest.CaptureFixture[str]) -> None:
    trial = ROOT / "src" / "dosefinding" / "study" / "presets" / "a2201.toml"
    assert _one_line(["design", "power", str(trial)], capsys).startswith(
        "design: missing (a design spec has a [design] table; this one has trial, arms, stratification, ")


def test_output_is_not_written_when_the_spec_is_bad(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text(EXAMPLE.read_text().replace("sigma = 5.6", "sigma = -5.6"))
    assert _one_line(["design", "power", str(spec), "--json", str(tmp_path / "o.json")], capsys) == \
        "design.sigma: must be greater than 0, got -5.6"
    assert not (tmp_path / "o.json").exists()


BASE = """
[design]
doses = [0, 5, 50, 300]
sigma = 5.6
n = 45
[candidates]
shapes = {linear = true, emax = [10, 100]}
max_effect = -3.5
"""


@pytest.mark.parametrize(("add", "message"), [
    # the cases of issue 17
    ("[optimal]\nprobabilities = [0.5, 0.3, 0.3]", "optimal.probabilities: must sum to 1, got 1.1"),
    ('[optimal]\ncriterion = "TD"', "optimal.delta: missing (criterion 'TD' needs the target effect of the TD)"),
    ('[optimal]\ncriterion = "D&TD"', "optimal.delta: missing (criterion 'D&TD' needs the target effect of the TD)"),
    ("[bayes]\nestimates = [1, 2, 3, 4]\n[[bayes.priors]]\nweights = [1.2, -0.2]\nmeans = [0, 0]\nsds = [1, 9]",
     "bayes.priors[0].weights[1]: must be at least 0, got -0.2"),
    ("[interim]\nn = [24, 24, 50, 24]\nestimates = [1, 2, 3, 4]",
     ("interim.n: must be below design.n at every dose (the final analysis has more information), got 50 >= 45 "
     "at dose 50")),
    ("[interim]\nn = 45\nestimates = [1, 2, 3, 4]", "interim.n: must be below design.n at every dose"),
    ("[typo]\nx = 1", ("typo: unknown key (expected design, candidates, power, optimal, plan_mod, sample_size, "
                       "precision, interim, closed, bayes)")),
    ('[power]\ntarget = 0.9\nsumary = "min"', "power.sumary: unknown key (expected target, summary, n_type, upper_n)"),
    ('[power]\ntarget = "high"', "power.target: must be a finite number, got 'high'"),
    # across tables
    ("[optimal]\nprobabilities = [0.5, 0.5]",
     "optimal.probabilities: needs 3 values (one per candidate model: linear, emax1, emax2), got 2"),
    ("[optimal]\nlower = [0.1, 0.1]", "optimal.lower: needs 4 values (one per dose of design.doses), got 2"),
    ("[optimal]\ndoses = [0, 10, 100]\nupper = [1, 1, 1, 1]",
     "optimal.upper: needs 3 values (one per dose of optimal.doses), got 4"),
    ("[optimal]\nexact = true", "optimal.n: missing (an exact design needs the number of patients)"),
    ("[closed]\nestimates = [1, 2, 3]", "closed.estimates: needs 4 values (one per dose of design.doses), got 3"),
    ("[closed]\nestimates = [1, 2, 3, 4]\nse = [1, 1, 1, 1, 1]", "closed.se: needs 4 values"),
    ("[bayes]\nestimates = [1, 2, 3, 4]\n[[bayes.priors]]\nweights = [1]\nmeans = [0]\nsds = [1]",
     "bayes.priors: needs 4 [[bayes.priors]] tables (one per dose of design.doses), got 1"),
    ("[bayes]\nestimates = [1, 2, 3, 4]\n[[bayes.priors]]\nweights = [0.5, 0.4]\nmeans = [0, 0]\nsds = [1, 1]",
     "bayes.priors[0].weights: must sum to 1, got 0.9"),
    ("[bayes]\nestimates = [1, 2, 3, 4]\n[[bayes.priors]]\nweights = [0.5, 0.5]\nmeans = [0]\nsds = [1, 1]",
     "bayes.priors[0].means: needs 2 values (one per weight), got 1"),
    ("[bayes]\nestimates = [1, 2, 3, 4]\n[[bayes.priors]]\nweights = [1]\nmeans = [0]\nsds = [0]",
     "bayes.priors[0].sds[0]: must be greater than 0, got 0"),
    ("[bayes]\nestimates = [1, 2, 3, 4]\npriors = 1", "bayes.priors: must be an array of [[bayes.priors]] tables"),
    ('[interim]\nn = 20\nestimates = [1, 2, 3, 4]\nassumed_means = [1, 2, 3, 4]',
     'interim.assumed_means: unknown key (assumed_means goes with kind = "conditional")'),
    ('[plan_mod]\nshapes = ["emax", "emx"]', "plan_mod.shapes[1]: shape 'emx' does not exist"),
    ('[sample_size]\ntarget = "plan_mod"\nmeasure = "p_td_window"\nvalue = 0.8',
     "plan_mod.delta: missing (sample_size.measure 'p_td_window' needs the target effect of the TD)"),
    ('[sample_size]\ntarget = "plan_mod"\nmeasure = "rmse_doses"\nvalue = 0.8',
     "sample_size.measure: must be one of power_max_dose, p_ed, p_td_window; got 'rmse_doses'"),
    ("[sample_size]\nvalue = 0.8\ngrid = {lower_n = 40, upper_n = 20, step = 5}",
     "sample_size.grid.upper_n: must be at least lower_n 40, got 20"),
    ('[precision]\nmeasure = "td_half_width"',
     "precision.delta: missing (measure 'td_half_width' needs the target effect of the TD)"),
    ('[precision]\nmeasure = "p_td_window"\ntarget = 0.5', "precision.delta: missing (measure 'p_td_window'"),
    ('[precision]\nmeasure = "erp"\ntarget = 1.5', "precision.target: must be below 1 for the share 'erp', got 1.5"),
    ('[precision]\nmeasure = "half_width"', ("precision.measure: must be one of curve_half_width, ed_half_width, "
                                            "td_half_width, erp, p_td_window, rmse, ed_length, td_length; got "
                                            "'half_width'")),
    ("[precision]\ntarget = 0", "precision.target: must be greater than 0, got 0"),
    ("[precision]\nprobability = 1", "precision.probability: must be below 1, got 1"),
    ('[precision]\nshapes = ["emax", "emx"]', "precision.shapes[1]: shape 'emx' does not exist"),
    ("[precision]\nn_trials = 1", "precision.n_trials: must be at least 2, got 1"),
    ("[precision]\ntarget = 2\nmax_n = 0", "precision.max_n: must be at least 1, got 0"),
    ("[precision]\ntarget = 2\ntrials = 100", "precision.trials: unknown key (expected shapes, measure, target, "),
])
def test_bad_spec_messages(add: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_design_spec(BASE + add)
    assert str(info.value).startswith(message) and "\n" not in str(info.value), str(info.value)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("doses = [0, 5, 50, 300]", "doses = [0, 50, 5, 300]",
     "design.doses: must be sorted in increasing order, got [0.0, 50.0, 5.0, 300.0]"),
    ("doses = [0, 5, 50, 300]", "doses = [5, 50, 300]", "design.doses: must include placebo (dose 0) as the first"),
    ("n = 45", "n = [45, 45]", "design.n: needs 4 values (one per dose of design.doses), got 2"),
    ("n = 45", "n = 45\nallocation = [1, 0, 1, 1]", "design.allocation: ratios must be positive, got"),
    ("max_effect = -3.5", "max_effect = 0", "candidates.max_effect: must not be zero"),
    ("emax = [10, 100]", "emax = [10, -100]", "candidates.shapes.emax: guesstimates must be positive, got"),
    ("emax = [10, 100]", "emx = [10, 100]", "candidates.shapes.emx: shape 'emx' does not exist"),
    ("emax = [10, 100]", "emax = false", "candidates.shapes.emax: use true for a shape without guesstimates"),
])
def test_design_and_candidates_messages(old: str, new: str, message: str) -> None:
    assert old in BASE, old
    with pytest.raises(InputError) as info:
        parse_design_spec(BASE.replace(old, new, 1))
    assert str(info.value).startswith(message) and "\n" not in str(info.value), str(info.value)


@pytest.mark.parametrize(("command", "message"), [
    ("interim", "interim: missing (dosefinding design interim needs a [interim] table)"),
    ("closed", "closed: missing (dosefinding design closed needs a [closed] table)"),
    ("bayes", "bayes: missing (dosefinding design bayes needs a [bayes] table)"),
    ("sample-size", "sample_size: missing (dosefinding design sample-size needs a [sample_size] table)"),
    ("power", None),
])
def test_a_command_without_its_table(command: str, message: str | None, tmp_path: Path) -> None:
    spec = tmp_path / "base.toml"
    spec.write_text(BASE)
    if message is None:
        assert run_design(command, spec)[1]["power"].shape == (3, 1)
        return
    with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
        run_design(command, spec)


def test_commands_that_need_design_n(tmp_path: Path) -> None:
    spec = tmp_path / "no_n.toml"
    spec.write_text(BASE.replace("n = 45\n", "") + "[closed]\nestimates = [1, 2, 3, 4]\n")
    for command, who in (("power", "design power"), ("plan-mod", "design plan-mod"),
                         ("precision", "design precision without \\[precision\\] target"),
                         ("closed", "closed.estimates without closed.se")):
        with pytest.raises(InputError, match=f"^design.n: missing \\({who} needs the patients per dose\\)$"):
            run_design(command, spec)
    spec.write_text(BASE.replace("n = 45\n", "") + "[interim]\nn = 20\nestimates = [1, 2, 3, 4]\n")
    with pytest.raises(InputError, match=r"^design.n: missing \(the interim needs the patients per dose"):
        load_design_spec(spec)


def test_library_problems_name_the_table(tmp_path: Path) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(BASE + '[plan_mod]\nshapes = ["emax", "linear"]\n')
    with pytest.raises(InputError, match=r"^plan_mod.asymptotic, plan_mod.simulation: ask for at least one of them$"):
        run_design("plan-mod", spec)
    spec.write_text(BASE + '[plan_mod]\nshapes = ["emax", "linear"]\nasymptotic = true\n')
    with pytest.raises(InputError, match=r"^plan_mod.asymptotic: needs one fitted shape"):
        run_design("plan-mod", spec)
    spec.write_text(BASE.replace("[design]", '[design]\nalternative = "two-sided"') +
                    "[bayes]\nestimates = [1, 2, 3, 4]\n"
                    + "[[bayes.priors]]\nweights = [1]\nmeans = [0]\nsds = [9]\n" * 4)
    with pytest.raises(InputError, match=r"^design.alternative: the Bayesian multiple contrast test is one-sided"):
        run_design("bayes", spec)


@pytest.mark.parametrize(("command", "old", "new", "message"), [
    ("power", "target = 0.8", "target = 1", "power.target: must be below 1, got 1"),
    ("sample-size", "value = 0.9 ", "value = 0.001 ",
     "sample_size.value: already reached at N = 1, cannot find a lower limit on N below 0.001"),
    ("optimal", "n = 180", "n = 180\nlower = 0.5", "optimal.lower: the lower bounds sum to 2 > 1"),
    ("optimal", "n = 180", "n = 180\nexact = true\ngroup_size = 7",
     "optimal.group_size: must be a whole number dividing n = 180, got 7"),
    ("optimal", "n = 180", "n = 180\ndoses = [0, 10, 20]",
     "optimal.doses: a D-optimal design needs at least as many doses as parameters (4), got 3"),
    ("optimal", "delta = -2.0 ", "delta = 2.0 ",
     "optimal.delta: the target effect over placebo of a decreasing curve must be negative, got 2"),
    ("plan-mod", "n_trials = 1000", "n_trials = 1000\np_lower = 0.8\np_upper = 0.2",
     "plan_mod.p_lower, plan_mod.p_upper: need p_lower < p_upper, got 0.8, 0.2"),
    ("plan-mod", "n_trials = 1000", "n_trials = 1000\ntd_window = [2, 0.5]", "plan_mod.td_window: need two increasing"),
    ("plan-mod", "n_trials = 1000", "n_trials = 1", "plan_mod.n_trials: need at least 2 trials, got 1"),
    ("interim", "n = 24\n", "n = 24\nse = [1, 0, 1, 1]\n", "interim.se[1]: must be greater than 0, got 0"),
    ("power", "max_effect = -3.5", "max_effect = -3.5\nscal = 100",
     "candidates.scal: must be at least the largest dose 300, got 100"),
    ("precision", "target = 2.5 ", "target = 0.01 ",
     "precision.target: curve_half_width <= 0.01 is not met under every true curve with 10000 patients"),
    ("precision", "target = 2.5 ", "target = 2.5\np_lower = 0.8\np_upper = 0.2",
     "precision.p_lower, precision.p_upper: need p_lower < p_upper"),
])
def test_problems_found_by_the_library_name_the_key(command: str, old: str, new: str, message: str,
                                                     tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert old in text, old
    spec = tmp_path / "spec.toml"
    spec.write_text(text.replace(old, new, 1))
    with pytest.raises(InputError) as info:
        run_design(command, spec)
    assert str(info.value).startswith(message) and "\n" not in str(info.value), str(info.value)


# --------------------------------------------------------------------------- every key of the example, mutated


def _leaves(node: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every value of the document that is not a table, with its location (lists as one value and item by item)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list) and node and all(isinstance(v, dict) for v in node):
        for i, value in enumerate(node):
            yield from _leaves(value, (*path, i))
    else:
        yield path, node
        if isinstance(node, list):
            for i, value in enumerate(node):
                if not isinstance(value, list):
                    yield (*path, i), value


@cache
def _schema() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(spec_json_schema("design"))


def _key(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _set(document: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    node: Any = changed
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return changed


def _wrong_type(value: Any) -> Any:
    """A value of another TOML type: a word for numbers, lists and flags, a number for words."""
    return 7 if isinstance(value, str) else "seven"


LEAVES = list(_leaves(_example()))
def _tables() -> list[tuple[str | int, ...]]:
    seen: list[tuple[str | int, ...]] = [()]
    for path, _ in LEAVES:
        for i in range(1, len(path)):
            head = path[:i]
            node: Any = _example()
            for part in head:
                node = node[part]
            if isinstance(node, dict) and head not in seen:
                seen.append(head)
    return seen


def test_the_mutation_covers_every_key() -> None:
    keys = {_key(p) for p, _ in LEAVES}
    assert len(LEAVES) > 60 and {"design.sigma", "candidates.shapes.emax", "bayes.priors[3].sds[0]",
                                 "sample_size.grid.step", "plan_mod.simulation", "interim.estimates[2]"} <= keys


@pytest.mark.parametrize("path", [p for p, _ in LEAVES], ids=_key)
def test_every_key_of_the_example_with_a_wrong_type_names_the_key(path: tuple[str | int, ...]) -> None:
    bad_value = _wrong_type(dict(LEAVES)[path])
    bad = _set(_example(), path, bad_value)
    with pytest.raises(InputError) as info:
        validate(DesignDocument, bad)
    message = str(info.value)
    # an item of a list may be named by the list, with the item's value
    named = message.startswith(_key(path) + ": ") or (
        isinstance(path[-1], int) and message.startswith(_key(path[:-1]) + ": ") and repr(bad_value) in message)
    assert named and "\n" not in message, message
    if path[:2] != ("candidates", "shapes"):  # the schema says only "a number or an array" of a guesstimate
        assert list(_schema().iter_errors(bad)), "the JSON Schema accepts what the loader refuses"


@pytest.mark.parametrize("path", _tables(), ids=lambda p: _key(p) or "document")
def test_every_table_of_the_example_refuses_an_unknown_key(path: tuple[str | int, ...]) -> None:
    bad = _set(_example(), (*path, "typo"), 1)
    expected = f"{_key((*path, 'typo'))}: unknown key (expected "
    if path == ("candidates", "shapes"):  # its keys are shape names
        expected = "candidates.shapes.typo: shape 'typo' does not exist"
    with pytest.raises(InputError) as info:
        validate(DesignDocument, bad)
    assert str(info.value).startswith(expected) and "\n" not in str(info.value), str(info.value)
    if path != ("candidates", "shapes"):
        assert list(_schema().iter_errors(bad)), "the JSON Schema accepts what the loader refuses"


# keys of the example that take any finite number (a response, an effect, a mean)
UNBOUNDED = {"candidates.max_effect", "plan_mod.delta", "precision.delta", "optimal.delta", "interim.estimates", "closed.estimates",
             "bayes.estimates", "bayes.priors.means"}
FREE_TEXT = {"design.name", "design.description"}


def _unindexed(path: tuple[str | int, ...]) -> str:
    return ".".join(p for p in path if isinstance(p, str))


@pytest.mark.parametrize("path", [p for p, v in LEAVES if isinstance(v, (int, float, str)) and not isinstance(v, bool)
                                  and _unindexed(p) not in FREE_TEXT], ids=_key)
def test_every_key_of_the_example_with_a_wrong_value_names_the_key(path: tuple[str | int, ...]) -> None:
    value = dict(LEAVES)[path]
    bad_value: Any = "nonsense" if isinstance(value, str) else -10**9 if isinstance(value, int) else -1e9
    bad = _set(_example(), path, bad_value)
    if _unindexed(path) in UNBOUNDED:
        validate(DesignDocument, bad)
        return
    with pytest.raises(InputError) as info:
        validate(DesignDocument, bad)
    message = str(info.value)
    assert "\n" not in message and (message.startswith(_key(path) + ": ") or (
        isinstance(path[-1], int) and message.startswith(_key(path[:-1])))), message
