"""The first stage of simulation-based power with any covariance structure and df method.

The first stage is the MMRM engine of ``mmrm()`` (fit_mmrm_batch) and the LS-means code of
``MMRMResult.lsmeans`` (lsmeans_batch), so each simulated trial must give what the per-trial analysis
``mmrm() -> mmrm_estimates()`` gives: the LS means at the analysis visit, their covariance and (``df="min"``)
the smallest df of the LS means by the df method. Tolerances: estimates and covariances 1e-9 relative (the
same engine; measured below 1e-12), df 1e-8 (measured below 1e-11); the t statistics of the whole analysis
1e-6 absolute as in test_power.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from dosefinding import mcpmod
from dosefinding.mmrm import mmrm
from dosefinding.mod.from_mmrm import mmrm_estimates
from dosefinding.study import load_spec
from dosefinding.study.power import build_analysis, chunk_trials, mmrm_first_stage, simulate_power

from .trial_frames import long_frame

ESTIMATES = 1e-9
DF = 1e-8


def _trials(n_trials: int, seed: int, **options: object):
    spec = load_spec("a2201")
    analysis = build_analysis(spec, None, None, None, 0.025, None, "mmrm", options.get("covariance", "us"), True,
                               options.get("df"), "AIC", "continuous", options.get("df_method", "satterthwaite"))
    matrix = chunk_trials(spec, analysis, np.random.SeedSequence(seed).spawn(1)[0], n_trials)
    return spec, analysis, matrix


def _reference(spec, matrix, i: int, covariance: str, df_method: str):
    arms = list(spec.arm_names)
    frame = long_frame(matrix.values[i], matrix.base[i], matrix.arm, arms, list(spec.visits))
    frame["WEEK"] = frame["AVISIT"].str.replace("Week ", "").astype(float)
    # The first stage's own parametrisation: the between-within df depend on it (R mmrm's rule, per coefficient).
    fit = mmrm("CHG ~ 0 + ARM:AVISIT + BASE:AVISIT", frame, subject="USUBJID", visit="AVISIT", covariance=covariance,
               df_method=df_method, time="WEEK" if covariance == "sp_exp" else None)
    return mmrm_estimates(fit, arm="ARM", visit="Week 24", doses=dict(zip(arms, spec.doses.tolist())), df="min")


@pytest.mark.parametrize(("covariance", "df_method"), [
    ("ar1h", "satterthwaite"), ("toep", "residual"), ("adh", "between_within"), ("sp_exp", "satterthwaite"),
    ("csh", "kenward_roger"), ("ad", "kenward_roger_linear"),
])
def test_each_trial_is_mmrm_estimates(covariance: str, df_method: str) -> None:
    spec, analysis, matrix = _trials(3, 5, covariance=covariance, df="min", df_method=df_method)
    estimates, cov, ok, df = mmrm_first_stage(matrix.values, matrix.base, matrix.arm, len(spec.doses),
                                             analysis.visit_index, analysis)
    assert ok.all()
    for i in range(3):
        reference = _reference(spec, matrix, i, covariance, df_method)
        np.testing.assert_allclose(estimates[i], reference.estimates.to_numpy(), rtol=ESTIMATES)
        np.testing.assert_allclose(cov[i], reference.cov.to_numpy(), rtol=ESTIMATES)
        assert df[i] == pytest.approx(reference.df, rel=DF)


def test_power_with_a_structured_covariance_and_min_df_is_the_per_trial_analysis() -> None:
    """toeph with df="min" (Satterthwaite): t statistics, significance and selection of mcpmod per trial."""
    spec = load_spec("a2201")
    result = simulate_power(spec, n_sims=6, seed=3, chunk_size=6, covariance="toeph", df="min")
    _, analysis, matrix = _trials(6, 3, covariance="toeph", df="min")
    for i in range(6):
        est = _reference(spec, matrix, i, "toeph", "satterthwaite")
        reference = mcpmod(analysis.candidates, **est, delta=analysis.delta, alpha=result.alpha)  # the spec's, 0.05
        row = result.trials.iloc[i]
        for label in analysis.candidates.labels:
            assert row[f"t_{label}"] == pytest.approx(reference.mct.t_statistics[label], abs=1e-6)
            assert row[f"significant_{label}"] == bool(reference.mct.significant[label])
        selected = "none" if reference.selection is None else reference.selection.selected
        assert row["selected"] == selected


@pytest.mark.parametrize("options", [{"reml": False}, {"vcov": "empirical", "df_method": "residual"},
                                     {"vcov": "empirical", "df_method": "between_within"},
                                     {"group": "ARM", "covariance": "ar1h"}])
def test_ml_and_the_sandwich_are_the_per_trial_analysis(options: dict) -> None:
    """reml=False, vcov="empirical" and group="ARM" (with df="min"): the LS means, covariance and df of
    mmrm(**options) -> mmrm_estimates per trial (1e-9, 1e-8 as above), and the power's t statistics and
    decisions those of mcpmod on them (1e-6)."""
    spec = load_spec("a2201")
    df_method = options.get("df_method", "satterthwaite")
    covariance = options.get("covariance", "us")
    analysis = build_analysis(spec, None, None, None, 0.025, None, "mmrm", covariance, True, "min", "AIC",
                               "continuous", df_method, "one-sided", options.get("reml", True),
                               options.get("vcov", "asymptotic"), group=options.get("group"))
    matrix = chunk_trials(spec, analysis, np.random.SeedSequence(6).spawn(1)[0], 3)
    estimates, cov, ok, df = mmrm_first_stage(matrix.values, matrix.base, matrix.arm, len(spec.doses),
                                             analysis.visit_index, analysis)
    result = simulate_power(spec, n_sims=3, seed=6, chunk_size=3, df="min", **options)
    assert ok.all()
    arms = list(spec.arm_names)
    for i in range(3):
        frame = long_frame(matrix.values[i], matrix.base[i], matrix.arm, arms, list(spec.visits))
        fit = mmrm("CHG ~ 0 + ARM:AVISIT + BASE:AVISIT", frame, subject="USUBJID", visit="AVISIT", **options)
        reference = mmrm_estimates(fit, arm="ARM", visit="Week 24", doses=dict(zip(arms, spec.doses.tolist())),
                                   df="min")
        np.testing.assert_allclose(estimates[i], reference.estimates.to_numpy(), rtol=ESTIMATES)
        np.testing.assert_allclose(cov[i], reference.cov.to_numpy(), rtol=ESTIMATES)
        assert df[i] == pytest.approx(reference.df, rel=DF)
        mcp = mcpmod(analysis.candidates, **reference, delta=analysis.delta, alpha=result.alpha)  # the spec's, 0.05
        row = result.trials.iloc[i]
        for label in analysis.candidates.labels:
            assert row[f"t_{label}"] == pytest.approx(mcp.mct.t_statistics[label], abs=1e-6)
            assert row[f"significant_{label}"] == bool(mcp.mct.significant[label])
    method = {"reml": "ML", "vcov": "REML, empirical covariance", "group": "REML"}[next(iter(options))]
    structure = covariance + (" by arm" if "group" in options else "")
    assert f"MMRM ({structure}, {method}, LS means at week 24)" in str(result.summary())


def test_first_stage_options_are_checked() -> None:
    from dosefinding.errors import InputError

    with pytest.raises(InputError, match="df_method: must be one of"):
        simulate_power("a2201", n_sims=4, df_method="kr")
    with pytest.raises(InputError, match="needs SAS's parametrisation of 'ad'"):
        simulate_power("a2201", n_sims=4, covariance="ad", df_method="kenward_roger")
    with pytest.raises(InputError, match="df: must be a positive number"):
        simulate_power("a2201", n_sims=4, df="max")
    with pytest.raises(InputError, match="'satterthwaite' is not available with vcov='empirical'"):
        simulate_power("a2201", n_sims=4, vcov="empirical")
    with pytest.raises(InputError, match="reml: must be True or False"):
        simulate_power("a2201", n_sims=4, reml="no")
    with pytest.raises(InputError, match="group: the covariance can differ by 'ARM' only"):
        simulate_power("a2201", n_sims=4, group="SEX")
    with pytest.raises(InputError, match="group: a covariance per arm is an option of the MMRM"):
        simulate_power("a2201", n_sims=4, group="ARM", first_stage="ancova")


def test_cli_power_takes_the_first_stage_options(capsys: pytest.CaptureFixture[str]) -> None:
    """``dosefinding power ... --covariance cs --df-method residual --df min`` is simulate_power with those options."""
    from dosefinding.cli import main

    argv = ["power", "a2201", "--n-sims", "8", "--seed", "4", "--chunk-size", "8", "--quiet", "--covariance", "cs",
            "--df-method", "residual", "--df", "min"]
    assert main(argv) == 0
    expected = simulate_power("a2201", n_sims=8, seed=4, chunk_size=8, covariance="cs", df_method="residual", df="min")
    assert f"Power of the MCP step: {expected.power:.4f}" in capsys.readouterr().out
    assert main([*argv[:-1], "many"]) == 2
    assert "--df: must be a number or 'min'" in capsys.readouterr().err
