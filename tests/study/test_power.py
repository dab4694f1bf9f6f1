"""Simulation-based power (dosefinding.study.power).

References:
- Per trial, the batched analysis must be the real one: each simulated trial is analysed
  again with the public per-trial functions (``mmrm`` -> ``mmrm_estimates`` -> ``mcpmod``)
  and the t statistics, significance, selected shape and target dose compared.
- Against the analytic power of the multiple contrast test (``power_mct``, itself checked
  against R's ``powMCT`` in tests/mcp): complete data at one visit, where the statistics
  of the cell-means ANCOVA are exactly the multivariate t of ``power_mct``; and complete
  data over six visits through the MMRM (normal reference, ``df = inf``), where the week-24
  LS means of a saturated mean model have covariance ``sigma^2 / n`` per arm. Tolerance:
  3 Monte Carlo standard errors ``sqrt(p (1 - p) / n_sims)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dosefinding import Candidates, mcpmod, mct_test, optimal_contrasts, power_mct
from dosefinding.errors import InputError
from dosefinding.mcp.contrasts import unconstrained_contrasts
from dosefinding.mmrm import mmrm
from dosefinding.mod.from_mmrm import mmrm_estimates
from dosefinding.study import load_spec, parse_spec
from dosefinding.study.power import (
    build_analysis,
    chunk_trials,
    default_candidates,
    simulate_power,
)
from dosefinding.summary import MAX_REPR, Summary

from .trial_frames import long_frame

ONE_VISIT = """
[trial]
name = "one-visit"
seed = 7
visits = [12]
[[arms]]
name = "Placebo"
dose = 0
n = 30
[[arms]]
name = "Low"
dose = 5
n = 30
[[arms]]
name = "Mid"
dose = 50
n = 30
[[arms]]
name = "High"
dose = 300
n = 30
[endpoints.Y]
baseline = {distribution = "normal", mean = 20, sd = 4}
change = {placebo = 0.0, effect = {shape = "emax", parameters = [0, -3.3, 25]}}
sd = 5.6
"""

# The A2201 design assumptions (Bowman et al. 2022): 45 per arm, SD 5.6 at week 24, effect
# -3.5 at 300 mg; complete data; emax in dose (ED50 25 mg) as the true curve (assumed).
DESIGN = """
[trial]
name = "A2201-design"
seed = 2201
visits = [4, 8, 12, 16, 20, 24]
[[arms]]
name = "Placebo"
dose = 0
n = 45
[[arms]]
name = "5 mg"
dose = 5
n = 45
[[arms]]
name = "50 mg"
dose = 50
n = 45
[[arms]]
name = "300 mg"
dose = 300
n = 45
[endpoints.ESSDAI]
baseline = {distribution = "normal", mean = 13.5, sd = 4.5, lower = 6}
sd = [4.5, 4.8, 5.0, 5.2, 5.4, 5.6]
correlation = {structure = "ar1", rho = 0.6}
[endpoints.ESSDAI.change]
placebo = [-1, -2, -3, -3.5, -4, -4]
onset = [0.3, 0.5, 0.7, 0.85, 0.95, 1.0]
effect = {shape = "emax", parameters = [0, -3.7917, 25]}
[analysis]
endpoint = "ESSDAI"
visit = 24
"""


@pytest.mark.parametrize(("covariance", "n_trials"), [("us", 12), ("cs", 6)])
def test_each_trial_is_the_per_trial_analysis(covariance: str, n_trials: int) -> None:
    """MMRM (REML) -> LS means at week 24 -> mcpmod, trial by trial, on simulated A2201 trials.

    Tolerances: t statistics 1e-6 absolute (both MMRM fits stop at a Newton decrement of
    1e-12 relative); target doses 1e-5 relative; significance and the selected shape exact.
    """
    spec = load_spec("a2201")
    result = simulate_power(spec, n_sims=n_trials, seed=11, chunk_size=n_trials, covariance=covariance)
    analysis = build_analysis(spec, None, None, None, 0.025, None, "mmrm", covariance, True, None, "AIC",
                               "continuous")
    matrix = chunk_trials(spec, analysis, np.random.SeedSequence(11).spawn(1)[0], n_trials)
    cands = analysis.candidates
    arms = list(spec.arm_names)
    doses = dict(zip(arms, spec.doses.tolist()))
    n_compared = 0
    for i in range(n_trials):
        frame = long_frame(matrix.values[i], matrix.base[i], matrix.arm, arms, list(spec.visits))
        fit = mmrm("CHG ~ ARM * AVISIT + BASE * AVISIT", frame, subject="USUBJID", visit="AVISIT",
                   covariance=covariance)
        estimates = mmrm_estimates(fit, arm="ARM", visit="Week 24", doses=doses)
        reference = mcpmod(cands, **estimates, delta=analysis.delta, alpha=result.alpha)  # the spec's alpha, 0.05
        row = result.trials.iloc[i]
        for label in cands.labels:
            assert row[f"t_{label}"] == pytest.approx(reference.mct.t_statistics[label], abs=1e-6)
            assert row[f"significant_{label}"] == bool(reference.mct.significant[label])
        if reference.selection is None:
            assert row["selected"] == "none"
            assert np.isnan(row["target_dose"])
            continue
        n_compared += 1
        assert row["selected"] == reference.selection.selected
        expected = float(reference.target_doses.loc[reference.selection.selected, "TD"])
        assert row["target_dose"] == pytest.approx(expected, rel=1e-5, nan_ok=True)
    assert n_compared >= n_trials // 2


NARROW = {"emax": [5.0, 150.0], "sigEmax": [[30.0, 120.0], [1.0, 4.0]]}


@pytest.mark.parametrize(("selection", "alternative", "bounds"), [
    ("aveAIC", "one-sided", None), ("AIC", "two-sided", None), ("maxT", "two-sided", None),
    ("aveAIC", "one-sided", NARROW)])
def test_mod_step_options_are_the_per_trial_mcpmod(selection: str, alternative: str, bounds: dict | None) -> None:
    """selection="aveAIC", alternative="two-sided", bounds and the ED (p=0.5): every simulated trial as
    mcpmod(selection=..., alternative=..., bounds=..., p=0.5) on the trial's MMRM LS means (10 A2201 trials,
    df="min"). Tolerances: t statistics 1e-6 absolute as above; AIC weights 1e-6 relative; each shape's TD and
    ED and the averaged ones 1e-5 relative; the significance, the fitted shapes and the selected shape exact."""
    spec = load_spec("a2201")
    n_trials = 10
    result = simulate_power(spec, n_sims=n_trials, seed=12, chunk_size=n_trials, selection=selection,
                            alternative=alternative, df="min", bounds=bounds, p=0.5)
    analysis = build_analysis(spec, None, None, None, 0.025, None, "mmrm", "us", True, "min", selection,
                               "continuous", "satterthwaite", alternative)
    matrix = chunk_trials(spec, analysis, np.random.SeedSequence(12).spawn(1)[0], n_trials)
    cands = analysis.candidates
    arms = list(spec.arm_names)
    shapes = list(dict.fromkeys(m.shape for m in cands.models))
    n_compared = 0
    for i in range(n_trials):
        frame = long_frame(matrix.values[i], matrix.base[i], matrix.arm, arms, list(spec.visits))
        fit = mmrm("CHG ~ 0 + ARM:AVISIT + BASE:AVISIT", frame, subject="USUBJID", visit="AVISIT")
        estimates = mmrm_estimates(fit, arm="ARM", visit="Week 24", doses=dict(zip(arms, spec.doses.tolist())),
                                   df="min")
        reference = mcpmod(cands, **estimates, delta=analysis.delta, selection=selection, alternative=alternative,
                           bounds=bounds, p=0.5, alpha=result.alpha)  # the spec's alpha, 0.05
        row = result.trials.iloc[i]
        for label in cands.labels:
            assert row[f"t_{label}"] == pytest.approx(reference.mct.t_statistics[label], abs=1e-6)
            assert row[f"significant_{label}"] == bool(reference.mct.significant[label])
        if reference.selection is None:
            assert row["selected"] == "none" and np.isnan(row["target_dose"]) and np.isnan(row["effective_dose"])
            if selection == "aveAIC":
                assert all(np.isnan(row[f"weight_{shape}"]) for shape in shapes)
            continue
        n_compared += 1
        tds, eds = reference.target_doses["TD"], reference.target_doses["ED"]
        if selection != "aveAIC":
            assert row["selected"] == reference.selection.selected
            assert row["target_dose"] == pytest.approx(float(tds[reference.selection.selected]), rel=1e-5)
            assert row["effective_dose"] == pytest.approx(float(eds[reference.selection.selected]), rel=1e-5)
            continue
        assert row["selected"] == "aveAIC"
        weights = reference.selection.weights
        for shape in shapes:
            fitted = shape in weights.index
            assert row[f"weight_{shape}"] == pytest.approx(float(weights[shape]) if fitted else 0.0, rel=1e-6)
            assert row[f"target_dose_{shape}"] == pytest.approx(float(tds[shape]) if fitted else np.nan, rel=1e-5,
                                                                 nan_ok=True)
            assert row[f"effective_dose_{shape}"] == pytest.approx(float(eds[shape]) if fitted else np.nan,
                                                                    rel=1e-5, nan_ok=True)
        assert row["target_dose"] == pytest.approx(float(weights @ tds[weights.index]), rel=1e-5)
        assert row["effective_dose"] == pytest.approx(float(weights @ eds[weights.index]), rel=1e-5)
    assert n_compared >= 4


def test_two_sided_tests_the_absolute_statistics() -> None:
    """A true curve against the candidates' direction: one-sided never rejects, two-sided does (1e-12 on t)."""
    spec = load_spec("a2201")
    wrong_way = Candidates(spec.doses, {"linear": None, "emax": 30.0}, max_effect=3.0)
    one = simulate_power(spec, n_sims=30, seed=4, chunk_size=30, candidates=wrong_way, delta=1.0)
    two = simulate_power(spec, n_sims=30, seed=4, chunk_size=30, candidates=wrong_way, delta=1.0,
                         alternative="two-sided")
    t_columns = [f"t_{label}" for label in wrong_way.labels]
    np.testing.assert_allclose(two.trials[t_columns], one.trials[t_columns].abs(), rtol=1e-12)
    assert one.power == 0.0 < two.power
    assert "two-sided alpha 0.05 (the spec's [analysis] alpha)" in str(two.summary())


def test_aveaic_summary_reports_mean_weights() -> None:
    res = simulate_power("a2201", n_sims=20, seed=2, chunk_size=20, selection="aveAIC")
    weights = res.trials.filter(like="weight_")
    assert res.selected["none"] == pytest.approx(1 - res.power)
    np.testing.assert_allclose(res.selected.drop("none"), weights.fillna(0.0).mean().to_numpy(), rtol=1e-12)
    assert res.selected.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(weights[res.trials["significant"]].sum(axis=1), 1.0, rtol=1e-12)
    assert "Mean AIC weight of the shape" in str(res.summary())
    assert isinstance(res.summary(), Summary) and "<table" in res._repr_html_()
    pd.testing.assert_frame_equal(res.summary().to_frame(), res.trials)
    assert "\n" not in repr(res) and len(repr(res)) < MAX_REPR and repr(res).startswith("PowerResult(spec='A2201'")
    with_ed = simulate_power("a2201", n_sims=20, seed=2, chunk_size=20, selection="aveAIC", p=0.5)
    assert "Effective dose (ED, AIC-weighted mean of the shapes' EDs, p = 0.5)" in str(with_ed.summary())
    estimated = with_ed.trials["effective_dose"].notna()
    assert int(estimated.sum()) + int(with_ed.effective_dose_missing.sum()) == 20
    assert with_ed.effective_dose.index.tolist() == [0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975]
    assert res.effective_dose.empty and "effective_dose" not in res.trials


ANCOVA = ONE_VISIT.replace("visits = [12]", "visits = [4, 12]").replace(
    "sd = 5.6", "sd = 5.6\nbaseline_slope = -0.4\ncorrelation = {structure = \"ar1\", rho = 0.5}"
) + """
[dropout]
rate = 0.15
"""


def test_ancova_path_is_the_per_trial_analysis() -> None:
    """first_stage="ancova" with baseline and dropout, selection by maxT, 16 trials: the raw-data MCP step of
    mct_test (CHG ~ dose groups + BASE, complete cases at week 12, residual df), then mcpmod on the ANCOVA's
    LS means (type "general" with that df). t statistics 1e-9 absolute, TD 1e-5 relative, the rest exact."""
    spec = parse_spec(ANCOVA)
    result = simulate_power(spec, n_sims=16, seed=21, chunk_size=16, first_stage="ancova", selection="maxT")
    analysis = build_analysis(spec, None, 12, None, 0.025, None, "ancova", "us", True, None, "maxT", "continuous")
    matrix = chunk_trials(spec, analysis, np.random.SeedSequence(21).spawn(1)[0], 16)
    cands = analysis.candidates
    n_selected = 0
    for i in range(16):
        frame = pd.DataFrame({"DOSE": spec.doses[matrix.arm], "BASE": matrix.base[i],
                              "CHG": matrix.values[i, :, 1] - matrix.base[i]}).dropna()
        assert len(frame) < matrix.arm.size  # dropout happened
        mct = mct_test(cands, data=frame, dose="DOSE", response="CHG", covariates="BASE")
        reference = mcpmod(cands, doses=spec.doses, estimates=mct.estimates, cov=mct.cov, df=mct.df,
                           selection="maxT", delta=analysis.delta)
        row = result.trials.iloc[i]
        for label in cands.labels:
            assert row[f"t_{label}"] == pytest.approx(mct.t_statistics[label], abs=1e-9)
            assert row[f"significant_{label}"] == bool(mct.significant[label])
        if reference.selection is None:
            assert row["selected"] == "none"
            continue
        n_selected += 1
        assert row["selected"] == reference.selection.selected
        expected = float(reference.target_doses.loc[reference.selection.selected, "TD"])
        assert row["target_dose"] == pytest.approx(expected, rel=1e-5, nan_ok=True)
    assert n_selected >= 4


def test_batched_contrasts_equal_optimal_contrasts() -> None:
    """The per-trial contrasts are those of optimal_contrasts under each trial's covariance (1e-12)."""
    rng = np.random.default_rng(3)
    cands = default_candidates([0, 5, 50, 300], -3.0)
    a = rng.normal(size=(5, 4, 4))
    cov = a @ a.transpose(0, 2, 1) + np.eye(4)
    batched = unconstrained_contrasts(cands.response_matrix().to_numpy(), cov)
    for s, c in zip(cov, batched, strict=True):
        np.testing.assert_allclose(c, optimal_contrasts(cands, cov=s).contrasts.to_numpy(), atol=1e-12)


def test_one_visit_power_agrees_with_power_mct() -> None:
    """Complete data, one visit, cell means without covariates: 4,000 trials vs power_mct within 3 MC SE."""
    spec = parse_spec(ONE_VISIT)
    cands = default_candidates(spec.doses, -3.3)
    truth = Candidates(spec.doses, {"emax": 25.0}, max_effect=-3.3 * 300 / 325)
    analytic = float(power_mct(optimal_contrasts(cands, weights=30), truth, n=30, sigma=5.6, abseps=1e-5).iloc[0])
    result = simulate_power(spec, n_sims=4000, seed=5, candidates=cands, first_stage="ancova", baseline=False,
                            chunk_size=500)
    assert 0.5 < analytic < 0.9  # a power where the comparison has teeth
    assert abs(result.power - analytic) < 3 * np.sqrt(analytic * (1 - analytic) / 4000)
    assert result.undecided == 0 and result.first_stage_failures == 0


def test_mmrm_power_at_the_a2201_design_agrees_with_power_mct() -> None:
    """A2201's design (45 per arm, SD 5.6, -3.5 at 300 mg, complete data, six visits): MMRM power vs
    power_mct with the normal reference (the MMRM test's), 1,500 trials within 3 MC SE."""
    spec = parse_spec(DESIGN)
    effect = -3.7917 * 300 / 325
    cands = default_candidates(spec.doses, effect)
    truth = Candidates(spec.doses, {"emax": 25.0}, max_effect=effect)
    s = 5.6**2 / 45 * np.eye(4)
    analytic = float(power_mct(optimal_contrasts(cands, cov=s), truth, cov=s, df=np.inf, abseps=1e-5).iloc[0])
    result = simulate_power(spec, n_sims=1500, seed=8, baseline=False, chunk_size=250)
    assert 0.85 < analytic < 0.95  # the trial's "about 90%"
    assert abs(result.power - analytic) < 3 * np.sqrt(analytic * (1 - analytic) / 1500)


def test_same_seed_same_answer_whatever_the_workers() -> None:
    """jobs=1 and jobs=2 give bitwise the same trials (chunks have fixed size and their own seeds)."""
    one = simulate_power("a2201", n_sims=60, seed=3, chunk_size=20, jobs=1)
    two = simulate_power("a2201", n_sims=60, seed=3, chunk_size=20, jobs=2)
    pd.testing.assert_frame_equal(one.trials, two.trials, check_exact=True)
    assert one.power == two.power
    other = simulate_power("a2201", n_sims=60, seed=4, chunk_size=20)
    assert not one.trials.equals(other.trials)


def test_dask_local_cluster_gives_the_same_answer() -> None:
    """A real dask.distributed LocalCluster on 127.0.0.1 (two worker processes): the jobs=1 answer, bitwise."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                                  processes=True) as cluster:
        on_cluster = simulate_power("a2201", n_sims=40, seed=9, chunk_size=20, scheduler=cluster.scheduler_address)
    local = simulate_power("a2201", n_sims=40, seed=9, chunk_size=20)
    pd.testing.assert_frame_equal(on_cluster.trials, local.trials, check_exact=True)
    assert on_cluster.scheduler == cluster.scheduler_address


def test_summary_and_fields() -> None:
    res = simulate_power("a2201", n_sims=40, seed=2, chunk_size=20)
    text = str(res.summary())
    assert "Power of the MCP step" in text and "Monte Carlo SE" in text
    assert res.power == pytest.approx(res.trials["significant"].mean())
    assert res.selected.sum() == pytest.approx(1.0)
    missing = int(res.target_dose_missing.sum())
    assert missing == int(res.trials["target_dose"].isna().sum())
    assert res.power_se == pytest.approx(np.sqrt(res.power * (1 - res.power) / 40))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_sims": 0}, "n_sims"),
        ({"chunk_size": -1}, "chunk_size"),
        ({"jobs": 0}, "jobs"),
        ({"seed": -2}, "seed"),
        ({"visit": 5}, "visit"),
        ({"endpoint": "NOPE"}, "NOPE"),
        ({"first_stage": "gee"}, "first_stage"),
        ({"covariance": "banded"}, "covariance"),
        ({"selection": "BIC"}, "selection"),
        ({"alternative": "one.sided"}, "alternative"),
        ({"alpha": 1.5}, "alpha"),
        ({"delta": 2.0}, "delta"),
        ({"scheduler": ""}, "scheduler"),
        ({"bounds": {"emax": [50, 300]}}, "exclude the candidate emax1"),
        ({"bounds": {"emax": [1, 2, 3]}}, "bounds"),
        ({"bounds": {"hill": [1, 2]}}, "bounds: shape 'hill'"),
        ({"p": 1.5}, "p"),
    ],
)
def test_bad_input_names_the_argument(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        simulate_power("a2201", **{"n_sims": 10, **kwargs})


def test_cli_power(capsys: pytest.CaptureFixture[str]) -> None:
    """``dosefinding power SPEC --n-sims N --seed S --chunk-size C --quiet`` prints the summary of simulate_power."""
    from dosefinding.cli import main

    assert main(["power", "a2201", "--n-sims", "20", "--seed", "4", "--chunk-size", "10", "--quiet"]) == 0
    out = capsys.readouterr()
    expected = simulate_power("a2201", n_sims=20, seed=4, chunk_size=10)
    assert f"Power of the MCP step: {expected.power:.4f}" in out.out
    assert out.err == ""
    assert main(["power", "a2201", "--n-sims", "0", "--quiet"]) == 2
    assert "n_sims" in capsys.readouterr().err
    assert main(["power", "a2201", "--n-sims", "20", "--seed", "4", "--chunk-size", "10"]) == 0
    bar = capsys.readouterr().err
    assert "1/2 chunks" in bar and "2/2 chunks" in bar and bar.endswith("\n")


def test_cli_power_takes_the_mod_step_options(capsys: pytest.CaptureFixture[str]) -> None:
    """``--selection aveAIC --alternative two-sided`` is simulate_power with those options; bad values exit 2."""
    from dosefinding.cli import main

    argv = ["power", "a2201", "--n-sims", "8", "--seed", "4", "--chunk-size", "8", "--quiet", "--selection", "aveAIC",
            "--alternative", "two-sided"]
    assert main(argv) == 0
    expected = simulate_power("a2201", n_sims=8, seed=4, chunk_size=8, selection="aveAIC", alternative="two-sided")
    out = capsys.readouterr().out
    assert f"Power of the MCP step: {expected.power:.4f}" in out and "two-sided" in out and "aveAIC" in out
    assert main([*argv[:-1], "both"]) == 2
    assert "alternative: must be" in capsys.readouterr().err


def test_alpha_defaults_to_the_spec_and_an_explicit_one_wins() -> None:
    """One alpha per study: the a2201 spec's [analysis] (one-sided 0.05, as published) unless given; a spec
    without one keeps one-sided 0.025. The same trials decide against the level used."""
    spec = load_spec("a2201")
    assert (spec.analysis["alpha"], spec.analysis["alternative"]) == (0.05, "one-sided")
    default = simulate_power(spec, n_sims=12, seed=6, chunk_size=12)
    given = simulate_power(spec, n_sims=12, seed=6, chunk_size=12, alpha=0.05)
    strict = simulate_power(spec, n_sims=12, seed=6, chunk_size=12, alpha=0.001)
    assert (default.alpha, default.alternative, given.alpha) == (0.05, "one-sided", 0.05)
    pd.testing.assert_frame_equal(default.trials, given.trials)
    assert strict.alpha == 0.001 and strict.power < default.power
    assert "one-sided alpha 0.05 (the spec's [analysis] alpha)" in str(default.summary())
    assert "one-sided alpha 0.001 (given)" in str(strict.summary())
    plain = simulate_power(parse_spec(DESIGN), n_sims=4, seed=1, chunk_size=4)
    assert plain.alpha == 0.025 and "alpha 0.025 (the default; the spec's [analysis] gives none)" in str(plain.summary())


def test_cli_power_alpha_defaults_to_the_spec(capsys: pytest.CaptureFixture[str]) -> None:
    from dosefinding.cli import main

    argv = ["power", "a2201", "--n-sims", "8", "--seed", "4", "--chunk-size", "8", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "one-sided alpha 0.05 (the spec's [analysis] alpha)" in out
    expected = simulate_power("a2201", n_sims=8, seed=4, chunk_size=8, alpha=0.05)
    assert f"Power of the MCP step: {expected.power:.4f}" in out
    assert main([*argv, "--alpha", "0.01"]) == 0
    assert "one-sided alpha 0.01 (given)" in capsys.readouterr().out
    assert main([*argv, "--alpha", "1.5"]) == 2
    assert "alpha" in capsys.readouterr().err
